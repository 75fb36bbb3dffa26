//! The payment-gateway seam: the same few WeChat Pay operations on API v2 or v3.
//!
//! The services decide on one vocabulary, v2's (`OrderQueryResponse`,
//! `RefundQueryResponse`, `ErrCode`); a v3 answer is translated into it here, so
//! the reconciler, refunds and cancellation do not care which API an order is on.
//! Which one that is was recorded with its prepay ([`PayApi`] in
//! `PaymentRequested`): an order prepaid on v2 is queried, closed and refunded on
//! v2 after the shop switched new payments to v3. Both clients are built at the
//! composition root (`app.rs`).

use chrono::SubsecRound as _;
use paylog_core::Fen;
use paylog_core::order::OrderState;
use paylog_core::payment_refs::PayApi;
use paylog_core::wxpay::{
    OrderQueryResponse, RefundItem, RefundQueryResponse, RefundStatus, RequestPayment, TradeState,
};
use paylog_core::wxpay_v3::MiniProgramPayParams;
use paylog_core::wxpay_v3::api::{
    self as v3, JsapiPrepayRequest, Payer, PrepayAmount, RefundOf, Transaction,
};
use paylog_wechat::{
    RefundRequest, UnifiedOrderRequest, WechatClient, WechatError, WechatV3Client,
};

use super::Payments;
use crate::error::Error;

/// The `wx.requestPayment` parameters, signed the way the order's API signs them
/// (MD5/HMAC-SHA256 on v2, `RSA` on v3). Same field names either way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentParams {
    V2(RequestPayment),
    V3(MiniProgramPayParams),
}

/// One API's client.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Gateway<'a> {
    V2(&'a WechatClient),
    V3(&'a WechatV3Client),
}

impl Payments {
    /// The client of `api`; v3 must be configured to use it.
    pub(crate) fn gateway(&self, api: PayApi) -> Result<Gateway<'_>, Error> {
        match api {
            PayApi::V2 => Ok(Gateway::V2(&self.wechat)),
            PayApi::V3 => self.v3.as_ref().map(Gateway::V3).ok_or(Error::Refused {
                code: "wechat_v3_not_configured",
                message: "this order was prepaid on WeChat Pay API v3, which is not configured \
                          (PAYLOG_WECHAT_MCH_PRIVATE_KEY, PAYLOG_WECHAT_APIV3_KEY …)"
                    .into(),
            }),
        }
    }

    /// The API an order talks to WeChat on: the one its prepay was opened on, or
    /// the one new prepays use.
    pub(crate) fn api_of(&self, order: &OrderState) -> PayApi {
        order.prepay.as_ref().map_or(self.new_prepays_on, |p| p.api)
    }

    /// The gateway of an order ([`Self::api_of`]).
    pub(crate) fn gateway_of(&self, order: &OrderState) -> Result<Gateway<'_>, Error> {
        self.gateway(self.api_of(order))
    }

    /// The API new prepays are opened on (`PAYLOG_WECHAT_PAY_VERSION`).
    pub fn new_prepays_on(&self) -> PayApi {
        self.new_prepays_on
    }
}

impl Gateway<'_> {
    pub(crate) fn api(&self) -> PayApi {
        match self {
            Self::V2(_) => PayApi::V2,
            Self::V3(_) => PayApi::V3,
        }
    }

    /// unifiedorder / JSAPI prepay; the prepay id.
    pub(crate) async fn prepay(&self, req: &UnifiedOrderRequest) -> Result<String, WechatError> {
        match self {
            Self::V2(c) => Ok(c.unified_order(req).await?.prepay_id),
            Self::V3(c) => {
                let offset = chrono::FixedOffset::east_opt(8 * 3600);
                let body = JsapiPrepayRequest {
                    // Filled in by the client from its configuration.
                    appid: String::new(),
                    mchid: String::new(),
                    notify_url: String::new(),
                    description: req.body.clone(),
                    out_trade_no: req.out_trade_no.clone(),
                    // WeChat's format has whole seconds (`2026-11-30T10:34:56+08:00`).
                    time_expire: offset.map(|o| req.time_expire.trunc_subsecs(0).with_timezone(&o)),
                    attach: req.attach.clone(),
                    goods_tag: None,
                    amount: PrepayAmount {
                        total: Fen::new(req.total_fee),
                        currency: Some(v3::CURRENCY_CNY.to_owned()),
                    },
                    payer: Payer {
                        openid: req.openid.clone(),
                    },
                };
                Ok(c.jsapi_prepay(body).await?.prepay_id)
            }
        }
    }

    /// The signed `wx.requestPayment` parameters for a prepay id.
    pub(crate) fn pay_params(
        &self,
        prepay_id: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<PaymentParams, WechatError> {
        match self {
            Self::V2(c) => Ok(PaymentParams::V2(c.request_payment(prepay_id, now))),
            Self::V3(c) => Ok(PaymentParams::V3(c.pay_params(prepay_id)?)),
        }
    }

    /// orderquery / query by out_trade_no, as v2 says it.
    pub(crate) async fn order_query(
        &self,
        out_trade_no: &str,
    ) -> Result<OrderQueryResponse, WechatError> {
        match self {
            Self::V2(c) => c.order_query(out_trade_no).await,
            Self::V3(c) => Ok(v2_order_query(c.query_by_out_trade_no(out_trade_no).await?)),
        }
    }

    /// closeorder / close (204).
    pub(crate) async fn close_order(&self, out_trade_no: &str) -> Result<(), WechatError> {
        match self {
            Self::V2(c) => c.close_order(out_trade_no).await,
            Self::V3(c) => c.close(out_trade_no).await,
        }
    }

    /// The refund call; its answer only says it was accepted (the outcome comes
    /// by notify or refund query).
    pub(crate) async fn refund(&self, req: &RefundRequest) -> Result<(), WechatError> {
        match self {
            Self::V2(c) => c.refund(req).await.map(|_| ()),
            Self::V3(c) => {
                let of = match &req.transaction_id {
                    Some(tx) => RefundOf::TransactionId(tx.clone()),
                    None => RefundOf::OutTradeNo(req.out_trade_no.clone()),
                };
                let body = v3::RefundRequest::new(
                    of,
                    &req.out_refund_no,
                    Fen::new(req.refund_fee),
                    Fen::new(req.total_fee),
                    req.refund_desc.as_deref(),
                    None,
                );
                c.refund(body).await.map(|_| ())
            }
        }
    }

    /// refundquery / refund query of one refund, as v2 says it.
    pub(crate) async fn refund_query_by_refund_no(
        &self,
        out_refund_no: &str,
    ) -> Result<RefundQueryResponse, WechatError> {
        match self {
            Self::V2(c) => c.refund_query_by_refund_no(out_refund_no).await,
            Self::V3(c) => {
                let r = c.refund_query(out_refund_no).await?;
                Ok(RefundQueryResponse {
                    out_trade_no: r.out_trade_no.clone(),
                    transaction_id: r.transaction_id.clone(),
                    total_fee: r.amount.total.get(),
                    refunds: vec![RefundItem {
                        out_refund_no: r.out_refund_no.clone(),
                        refund_id: r.refund_id.clone(),
                        refund_fee: r.amount.refund.get(),
                        refund_status: v2_refund_status(r.status),
                        success_time: r.success_time.map(|t| t.with_timezone(&chrono::Utc)),
                    }],
                })
            }
        }
    }
}

/// A v3 transaction as orderquery reports it.
pub(crate) fn v2_order_query(tx: Transaction) -> OrderQueryResponse {
    let trade_state = match tx.trade_state {
        v3::TradeState::Success => TradeState::Success,
        v3::TradeState::Refund => TradeState::Refund,
        v3::TradeState::Notpay => TradeState::NotPay,
        v3::TradeState::Closed => TradeState::Closed,
        v3::TradeState::Revoked => TradeState::Revoked,
        v3::TradeState::Userpaying => TradeState::UserPaying,
        v3::TradeState::Payerror => TradeState::PayError,
    };
    OrderQueryResponse {
        out_trade_no: tx.out_trade_no,
        trade_state,
        trade_state_desc: Some(tx.trade_state_desc),
        total_fee: tx.amount.map(|a| a.total.get()),
        transaction_id: tx.transaction_id,
        openid: tx.payer.map(|p| p.openid),
        time_end: tx.success_time.map(|t| t.with_timezone(&chrono::Utc)),
    }
}

/// v3 `status`/`refund_status` in v2 words (ABNORMAL is v2's CHANGE).
pub(crate) fn v2_refund_status(s: v3::RefundStatus) -> RefundStatus {
    match s {
        v3::RefundStatus::Success => RefundStatus::Success,
        v3::RefundStatus::Processing => RefundStatus::Processing,
        v3::RefundStatus::Closed => RefundStatus::RefundClose,
        v3::RefundStatus::Abnormal => RefundStatus::Change,
    }
}
