//! WeChat's order-shipping service (发货信息管理): `upload_shipping_info`,
//! `get_order`, `is_trade_managed`, the express companies (`get_delivery_list`) and the
//! subscribe message sent when an order ships, over the cached access token.
//!
//! Every call sends the token in the query string, so no URL of these calls is ever
//! logged (transport errors are stripped of it, like every error of this client). An
//! answer with errcode 40001/42001 makes the client refresh the token once and send
//! the call once more; any other errcode is returned as [`WechatError::Wxa`] for the
//! caller to record (an upload refused is a fact of the order, not a crash).

use paylog_core::wxa::{
    DeliveryCompany, DeliveryListAnswer, GetOrderAnswer, GetOrderRequest, IsTradeManagedAnswer,
    IsTradeManagedRequest, SubscribeMessage, UploadShippingInfo, WxaOrder, WxaStatus,
    is_token_error,
};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{WechatClient, WechatError, answer_text};

impl WechatClient {
    /// Uploads a shipment. `Ok` means WeChat accepted it.
    pub async fn upload_shipping_info(&self, body: &UploadShippingInfo) -> Result<(), WechatError> {
        let status: WxaStatus = self
            .wxa_post("/wxa/sec/order/upload_shipping_info", body)
            .await?;
        check(status)
    }

    /// WeChat's view of a payment: its shipping `order_state` (1 to 5).
    pub async fn get_shipping_order(
        &self,
        request: &GetOrderRequest,
    ) -> Result<WxaOrder, WechatError> {
        let answer: GetOrderAnswer = self.wxa_post("/wxa/sec/order/get_order", request).await?;
        check(answer.status)?;
        answer
            .order
            .ok_or_else(|| WechatError::BadAnswer("get_order without order".into()))
    }

    /// Whether WeChat's order-shipping service manages this mini-program's payments
    /// (`POST /wxa/sec/order/is_trade_managed`).
    pub async fn is_trade_managed(&self) -> Result<bool, WechatError> {
        let body = IsTradeManagedRequest {
            appid: self.config.appid.clone(),
        };
        let answer: IsTradeManagedAnswer = self
            .wxa_post("/wxa/sec/order/is_trade_managed", &body)
            .await?;
        check(answer.status)?;
        Ok(answer.is_trade_managed)
    }

    /// The express companies WeChat knows (运力 id 列表), whose `delivery_id` an
    /// upload's `express_company` names.
    pub async fn delivery_list(&self) -> Result<Vec<DeliveryCompany>, WechatError> {
        let answer: DeliveryListAnswer = self
            .wxa_post(
                "/cgi-bin/express/delivery/open_msg/get_delivery_list",
                &serde_json::json!({}),
            )
            .await?;
        check(answer.status)?;
        Ok(answer.delivery_list)
    }

    /// Sends a subscribe message (`POST /cgi-bin/message/subscribe/send`). 43101
    /// (the user did not subscribe) comes back as [`WechatError::Wxa`] like any refusal.
    pub async fn send_subscribe_message(&self, body: &SubscribeMessage) -> Result<(), WechatError> {
        let status: WxaStatus = self
            .wxa_post("/cgi-bin/message/subscribe/send", body)
            .await?;
        check(status)
    }

    /// POSTs `body` as JSON with the access token; refreshes the token and retries
    /// once when WeChat says it is invalid or expired.
    async fn wxa_post<B: Serialize, A: DeserializeOwned + HasStatus>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<A, WechatError> {
        let mut refused = None;
        loop {
            let token = self.access_token(refused).await?;
            let url = format!("{}{path}", self.config.api_url);
            let text = answer_text(
                self.http
                    .post(url)
                    .query(&[("access_token", token.secret.expose_secret())])
                    .json(body),
            )
            .await?;
            let answer: A = serde_json::from_str(&text)
                .map_err(|e| WechatError::BadAnswer(format!("{path}: {e}")))?;
            let errcode = answer.errcode();
            if is_token_error(errcode) && refused.is_none() {
                tracing::info!(path, errcode, "access token refused; refreshing once");
                refused = Some(token.generation);
                continue;
            }
            return Ok(answer);
        }
    }
}

fn check(status: WxaStatus) -> Result<(), WechatError> {
    if status.errcode == 0 {
        Ok(())
    } else {
        Err(WechatError::Wxa {
            errcode: status.errcode,
            errmsg: status.errmsg,
        })
    }
}

/// An answer whose `errcode` the retry looks at.
trait HasStatus {
    fn errcode(&self) -> i64;
}

impl HasStatus for WxaStatus {
    fn errcode(&self) -> i64 {
        self.errcode
    }
}

impl HasStatus for GetOrderAnswer {
    fn errcode(&self) -> i64 {
        self.status.errcode
    }
}

impl HasStatus for IsTradeManagedAnswer {
    fn errcode(&self) -> i64 {
        self.status.errcode
    }
}

impl HasStatus for DeliveryListAnswer {
    fn errcode(&self) -> i64 {
        self.status.errcode
    }
}
