//! WeChat's mini-program server API for order shipping (`/wxa/sec/order/*`) and its
//! server access token (`/cgi-bin/stable_token`): the JSON bodies, answers and
//! errcodes, pure. The client (`paylog-wechat`) and the simulator share these, so
//! neither can drift from the other without the other's tests noticing.

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::order::{DeliveryMode, LogisticsType, Shipment};

pub mod push;

/// `access_token` is invalid (e.g. replaced by a newer one): refresh once, retry.
pub const ERR_INVALID_TOKEN: i64 = 40001;
/// `access_token` expired: refresh once, retry.
pub const ERR_TOKEN_EXPIRED: i64 = 42001;
// The shipping service's errcodes, as WeChat documents them for
// `upload_shipping_info` and `get_order` (section 错误码 of
// https://developers.weixin.qq.com/miniprogram/dev/server/API/order_shipping/api_uploadshippinginfo.html
// and …/api_getorder.html). Names follow the documented meaning.

/// -1 system error: WeChat is busy, try later.
pub const ERR_BUSY: i64 = -1;
/// 47001 data format error: the body is not what the API expects (a field of the
/// wrong type or shape, a required one missing).
pub const ERR_DATA_FORMAT: i64 = 47001;
/// 10060001 支付单不存在: WeChat does not know the payment (yet: it may lag a payment
/// by seconds), or the order key is wrong.
pub const ERR_PAYMENT_NOT_FOUND: i64 = 10060001;
/// 10060002 支付单已完成发货，无法继续发货: the payment is already fully shipped.
pub const ERR_ALREADY_SHIPPED: i64 = 10060002;
/// 10060003 支付单已使用重新发货机会: the payment's one re-shipment was spent.
pub const ERR_REUPLOAD_USED: i64 = 10060003;
/// 10060004 支付单处于不可发货的状态 (refunded, settled, …).
pub const ERR_NOT_SHIPPABLE: i64 = 10060004;
/// 10060005 物流类型有误.
pub const ERR_BAD_LOGISTICS_TYPE: i64 = 10060005;
/// 10060006 非快递发货时不允许分拆发货.
pub const ERR_SPLIT_NEEDS_EXPRESS: i64 = 10060006;
/// 10060007 分拆发货模式下必须填写 is_all_delivered.
pub const ERR_IS_ALL_DELIVERED_MISSING: i64 = 10060007;
/// 10060008 商品描述 item_desc 字段不能为空.
pub const ERR_ITEM_DESC_EMPTY: i64 = 10060008;
/// 10060009 商品描述 item_desc 字段太长.
pub const ERR_ITEM_DESC_TOO_LONG: i64 = 10060009;
/// 10060012 系统错误: busy, try later.
pub const ERR_SYSTEM: i64 = 10060012;
/// 10060014 参数错误 (the errmsg says which).
pub const ERR_PARAM: i64 = 10060014;
/// 10060019 系统错误: busy, try later.
pub const ERR_SYSTEM_2: i64 = 10060019;
/// 10060020 该笔支付单在没有任何商品描述的情况下不允许完成发货.
pub const ERR_NO_ITEM_DESC: i64 = 10060020;
/// 10060023 发货信息未更新: WeChat already has exactly this shipping information.
pub const ERR_NOT_UPDATED: i64 = 10060023;
/// 10060024 物流信息列表太长 (more than 15 parcels).
pub const ERR_TOO_MANY_PARCELS: i64 = 10060024;
/// 10060025 物流公司编码太长.
pub const ERR_EXPRESS_COMPANY_TOO_LONG: i64 = 10060025;
/// 10060026 物流单号太长.
pub const ERR_TRACKING_NO_TOO_LONG: i64 = 10060026;
/// 10060031 该笔支付单不属于 openid 所指定的用户: the payer is not who paid.
pub const ERR_NOT_THE_PAYER: i64 = 10060031;
/// 268485194 订单单号类型非法.
pub const ERR_BAD_ORDER_NUMBER_TYPE: i64 = 268485194;
/// 268485195 transaction_id 不能为空 (order_number_type 2).
pub const ERR_TRANSACTION_ID_MISSING: i64 = 268485195;
/// 268485196 mchid 不能为空 (order_number_type 1).
pub const ERR_MCHID_MISSING: i64 = 268485196;
/// 268485197 out_trade_no 不能为空 (order_number_type 1).
pub const ERR_OUT_TRADE_NO_MISSING: i64 = 268485197;
/// 268485216 上传时间非法: `upload_time` is not RFC 3339.
pub const ERR_BAD_UPLOAD_TIME: i64 = 268485216;
/// 268485224 发货模式非法.
pub const ERR_BAD_DELIVERY_MODE: i64 = 268485224;
/// 268485226 物流单号不能为空 (express).
pub const ERR_TRACKING_NO_MISSING: i64 = 268485226;
/// 268485227 物流公司编码不能为空 (express).
pub const ERR_EXPRESS_COMPANY_MISSING: i64 = 268485227;
/// 268485228 统一发货模式下，物流信息列表长度必须为 1.
pub const ERR_UNIFIED_NEEDS_ONE_PARCEL: i64 = 268485228;

/// 40002 invalid grant_type (stable_token, token).
pub const ERR_INVALID_GRANT_TYPE: i64 = 40002;
/// 40013 invalid appid.
pub const ERR_INVALID_APPID: i64 = 40013;
/// 40125 invalid appsecret.
pub const ERR_INVALID_APPSECRET: i64 = 40125;
/// 40164 the caller's IP is not in the mini-program's IP whitelist.
pub const ERR_IP_NOT_WHITELISTED: i64 = 40164;

/// Whether a token request was refused for its credentials (or the caller's
/// address): asking the other token API with the same ones cannot help.
pub fn is_credential_error(errcode: i64) -> bool {
    matches!(
        errcode,
        ERR_INVALID_GRANT_TYPE | ERR_INVALID_APPID | ERR_INVALID_APPSECRET | ERR_IP_NOT_WHITELISTED
    )
}

/// Whether an errcode means "the access token is not good any more".
pub fn is_token_error(errcode: i64) -> bool {
    matches!(errcode, ERR_INVALID_TOKEN | ERR_TOKEN_EXPIRED)
}

/// Whether retrying the same upload later may succeed (WeChat busy, payment not yet
/// known to the shipping service). Anything else needs a changed request.
pub fn is_transient(errcode: i64) -> bool {
    matches!(
        errcode,
        ERR_BUSY | ERR_SYSTEM | ERR_SYSTEM_2 | ERR_PAYMENT_NOT_FOUND
    ) || is_token_error(errcode)
}

/// Whether WeChat refused an upload for a reason the same upload can never get past
/// (the payment's state, the body itself): retrying it unchanged is pointless, only a
/// changed shipment (a new `ShipOrder`) can be accepted. Any other refusal (busy, the
/// payment not yet known, an errcode paylog does not know) may pass later.
pub fn is_final_refusal(errcode: i64) -> bool {
    matches!(
        errcode,
        ERR_ALREADY_SHIPPED
            | ERR_REUPLOAD_USED
            | ERR_NOT_SHIPPABLE
            | ERR_BAD_LOGISTICS_TYPE
            | ERR_SPLIT_NEEDS_EXPRESS
            | ERR_IS_ALL_DELIVERED_MISSING
            | ERR_ITEM_DESC_EMPTY
            | ERR_ITEM_DESC_TOO_LONG
            | ERR_PARAM
            | ERR_DATA_FORMAT
            | ERR_NO_ITEM_DESC
            | ERR_TOO_MANY_PARCELS
            | ERR_EXPRESS_COMPANY_TOO_LONG
            | ERR_TRACKING_NO_TOO_LONG
            | ERR_NOT_THE_PAYER
            | ERR_BAD_ORDER_NUMBER_TYPE
            | ERR_TRANSACTION_ID_MISSING
            | ERR_MCHID_MISSING
            | ERR_OUT_TRADE_NO_MISSING
            | ERR_BAD_UPLOAD_TIME
            | ERR_BAD_DELIVERY_MODE
            | ERR_TRACKING_NO_MISSING
            | ERR_EXPRESS_COMPANY_MISSING
            | ERR_UNIFIED_NEEDS_ONE_PARCEL
    )
}

/// `upload_time` and other times: RFC 3339 in China time, with milliseconds
/// (`2022-12-15T13:29:35.120+08:00`).
pub fn china_rfc3339(t: DateTime<Utc>) -> String {
    // China has kept UTC+8 without daylight saving since 1991.
    match FixedOffset::east_opt(8 * 3600) {
        Some(cst) => t
            .with_timezone(&cst)
            .to_rfc3339_opts(SecondsFormat::Millis, false),
        None => t.to_rfc3339_opts(SecondsFormat::Millis, true),
    }
}

/// Every answer's status: `errcode` 0 (or absent) is success.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WxaStatus {
    #[serde(default)]
    pub errcode: i64,
    #[serde(default)]
    pub errmsg: String,
}

/// Which payment a call is about: `order_number_type` 1 (mchid + out_trade_no) or
/// 2 (transaction_id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderKey {
    pub order_number_type: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mchid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_trade_no: Option<String>,
}

impl OrderKey {
    pub fn by_transaction(transaction_id: &str) -> Self {
        Self {
            order_number_type: 2,
            transaction_id: Some(transaction_id.into()),
            mchid: None,
            out_trade_no: None,
        }
    }

    pub fn by_out_trade_no(mchid: &str, out_trade_no: &str) -> Self {
        Self {
            order_number_type: 1,
            transaction_id: None,
            mchid: Some(mchid.into()),
            out_trade_no: Some(out_trade_no.into()),
        }
    }
}

/// One `shipping_list` entry on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippingItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_no: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub express_company: Option<String>,
    #[serde(default)]
    pub item_desc: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payer {
    pub openid: String,
}

/// The body of `POST /wxa/sec/order/upload_shipping_info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadShippingInfo {
    pub order_key: OrderKey,
    pub logistics_type: u8,
    pub delivery_mode: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_all_delivered: Option<bool>,
    pub shipping_list: Vec<ShippingItem>,
    pub upload_time: String,
    pub payer: Payer,
}

impl UploadShippingInfo {
    /// The upload of `shipment` for the payment `order_key` of `payer_openid`.
    pub fn new(
        order_key: OrderKey,
        shipment: &Shipment,
        payer_openid: &str,
        upload_time: DateTime<Utc>,
    ) -> Self {
        Self {
            order_key,
            logistics_type: shipment.logistics_type.code(),
            delivery_mode: shipment.delivery_mode.code(),
            // Required (only) for split deliveries.
            is_all_delivered: (shipment.delivery_mode == DeliveryMode::Split)
                .then_some(shipment.is_all_delivered),
            shipping_list: shipment
                .parcels
                .iter()
                .map(|p| ShippingItem {
                    tracking_no: p.tracking_no.clone(),
                    express_company: p.express_company.clone(),
                    item_desc: p.item_desc.clone(),
                })
                .collect(),
            upload_time: china_rfc3339(upload_time),
            payer: Payer {
                openid: payer_openid.into(),
            },
        }
    }

    /// The logistics type named, if WeChat knows it.
    pub fn logistics(&self) -> Option<LogisticsType> {
        LogisticsType::from_code(self.logistics_type)
    }

    pub fn mode(&self) -> Option<DeliveryMode> {
        DeliveryMode::from_code(self.delivery_mode)
    }
}

/// The body of `POST /wxa/sec/order/get_order`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetOrderRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_trade_no: Option<String>,
}

/// `order_state` of `get_order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WxaOrderState {
    /// 1 待发货: paid, waiting for the shipping information.
    AwaitingShipment,
    /// 2 已发货.
    Shipped,
    /// 3 确认收货.
    ReceiptConfirmed,
    /// 4 交易完成: settled.
    Completed,
    /// 5 已退款.
    Refunded,
    /// 6 资金待结算: receipt confirmed, the money not yet settled.
    AwaitingSettlement,
}

impl WxaOrderState {
    pub fn code(self) -> u8 {
        match self {
            Self::AwaitingShipment => 1,
            Self::Shipped => 2,
            Self::ReceiptConfirmed => 3,
            Self::Completed => 4,
            Self::Refunded => 5,
            Self::AwaitingSettlement => 6,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::AwaitingShipment),
            2 => Some(Self::Shipped),
            3 => Some(Self::ReceiptConfirmed),
            4 => Some(Self::Completed),
            5 => Some(Self::Refunded),
            6 => Some(Self::AwaitingSettlement),
            _ => None,
        }
    }
}

/// The `order` of a `get_order` answer (the fields paylog reads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WxaOrder {
    #[serde(default)]
    pub transaction_id: String,
    #[serde(default)]
    pub merchant_id: String,
    #[serde(default)]
    pub merchant_trade_no: String,
    pub order_state: u8,
    #[serde(default)]
    pub in_complaint: bool,
}

/// A `get_order` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetOrderAnswer {
    #[serde(flatten)]
    pub status: WxaStatus,
    pub order: Option<WxaOrder>,
}

/// The body of `POST /wxa/sec/order/is_trade_managed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsTradeManagedRequest {
    pub appid: String,
}

/// Its answer: whether WeChat's order-shipping service manages the mini-program's
/// payments (their money is frozen until the shipping information is uploaded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsTradeManagedAnswer {
    #[serde(flatten)]
    pub status: WxaStatus,
    #[serde(default)]
    pub is_trade_managed: bool,
}

/// One express company of `get_delivery_list` (运力 id 列表): `delivery_id` is the
/// code an upload's `express_company` names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryCompany {
    pub delivery_id: String,
    #[serde(default)]
    pub delivery_name: String,
}

/// The answer of `POST /cgi-bin/express/delivery/open_msg/get_delivery_list` (body
/// `{}`), the express company codes WeChat knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryListAnswer {
    #[serde(flatten)]
    pub status: WxaStatus,
    #[serde(default)]
    pub delivery_list: Vec<DeliveryCompany>,
    #[serde(default)]
    pub count: usize,
}

/// 43101 user refuse to accept the msg: the shopper did not subscribe to the template
/// (or used up the subscription). Normal: the message is not sent, nor retried.
pub const ERR_NOT_SUBSCRIBED: i64 = 43101;

/// A value of a subscribe message's `data`: `{"value": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateValue {
    pub value: String,
}

/// The body of `POST /cgi-bin/message/subscribe/send`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscribeMessage {
    pub touser: String,
    pub template_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    pub data: std::collections::BTreeMap<String, TemplateValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub miniprogram_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
}

/// The most characters of a subscribe message's `thing` value (WeChat's limit: 20).
pub const MAX_THING_CHARS: usize = 20;
/// The most characters of a `character_string` value (WeChat's limit: 32).
pub const MAX_CHARACTER_STRING_CHARS: usize = 32;

impl SubscribeMessage {
    /// The message telling the payer their order shipped. The template must have
    /// these keywords: `character_string1` the order number (`out_trade_no`),
    /// `thing2` what shipped (the first parcel's description), `character_string3`
    /// the first tracking number (`-` without one), `time4` when (Beijing time).
    /// Values are cut to WeChat's limits, which it would otherwise refuse.
    pub fn order_shipped(
        openid: &str,
        template_id: &str,
        out_trade_no: &str,
        shipment: &Shipment,
        at: DateTime<Utc>,
    ) -> Self {
        let cut = |s: &str, max: usize| s.chars().take(max).collect::<String>();
        let first = shipment.parcels.first();
        let value = |v: String| TemplateValue { value: v };
        let data = [
            (
                "character_string1",
                cut(out_trade_no, MAX_CHARACTER_STRING_CHARS),
            ),
            (
                "thing2",
                cut(first.map_or("", |p| p.item_desc.as_str()), MAX_THING_CHARS),
            ),
            (
                "character_string3",
                cut(
                    first.and_then(|p| p.tracking_no.as_deref()).unwrap_or("-"),
                    MAX_CHARACTER_STRING_CHARS,
                ),
            ),
            ("time4", {
                // China has kept UTC+8 without daylight saving since 1991.
                let china = FixedOffset::east_opt(8 * 3600)
                    .map_or(at.fixed_offset(), |cst| at.with_timezone(&cst));
                china.format("%Y-%m-%d %H:%M").to_string()
            }),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), value(v)))
        .collect();
        Self {
            touser: openid.to_owned(),
            template_id: template_id.to_owned(),
            page: None,
            data,
            miniprogram_state: None,
            lang: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::order::Parcel;

    #[test]
    fn upload_time_is_rfc3339_in_china_time_with_milliseconds() {
        let t = Utc
            .with_ymd_and_hms(2022, 12, 15, 5, 29, 35)
            .single()
            .expect("valid")
            + chrono::Duration::milliseconds(120);
        assert_eq!(china_rfc3339(t), "2022-12-15T13:29:35.120+08:00");
    }

    #[test]
    fn an_upload_has_wechats_field_names_and_codes() {
        let shipment = Shipment {
            logistics_type: LogisticsType::Express,
            delivery_mode: DeliveryMode::Unified,
            parcels: vec![Parcel {
                tracking_no: Some("YT6728388910274".into()),
                express_company: Some("YTO".into()),
                item_desc: "微信红包抱枕*1个".into(),
            }],
            is_all_delivered: true,
        };
        let at = Utc
            .with_ymd_and_hms(2023, 6, 10, 15, 6, 0)
            .single()
            .expect("valid");
        let body = UploadShippingInfo::new(
            OrderKey::by_transaction("4200001817202306108557954584"),
            &shipment,
            "ovQJn9SY",
            at,
        );
        let json = serde_json::to_value(&body).expect("serialises");
        assert_eq!(
            json,
            serde_json::json!({
                "order_key": {"order_number_type": 2, "transaction_id": "4200001817202306108557954584"},
                "logistics_type": 1,
                "delivery_mode": 1,
                "shipping_list": [{"tracking_no": "YT6728388910274", "express_company": "YTO", "item_desc": "微信红包抱枕*1个"}],
                "upload_time": "2023-06-10T23:06:00.000+08:00",
                "payer": {"openid": "ovQJn9SY"}
            })
        );
        let split = Shipment {
            delivery_mode: DeliveryMode::Split,
            is_all_delivered: false,
            ..shipment
        };
        let body = UploadShippingInfo::new(
            OrderKey::by_out_trade_no("1900000109", "abc"),
            &split,
            "o",
            at,
        );
        let json = serde_json::to_value(&body).expect("serialises");
        assert_eq!(json["is_all_delivered"], false);
        assert_eq!(json["order_key"]["order_number_type"], 1);
        assert_eq!(json["order_key"]["mchid"], "1900000109");
    }

    #[test]
    fn the_shipped_message_fills_its_keywords_within_wechats_limits() {
        let shipment = Shipment {
            logistics_type: LogisticsType::Express,
            delivery_mode: DeliveryMode::Unified,
            parcels: vec![Parcel {
                tracking_no: Some("SF1234567890".into()),
                express_company: Some("SF".into()),
                item_desc: "一二三四五六七八九十一二三四五六七八九十多出来的".into(),
            }],
            is_all_delivered: true,
        };
        let at = Utc
            .with_ymd_and_hms(2023, 6, 10, 15, 6, 0)
            .single()
            .expect("valid");
        let m = SubscribeMessage::order_shipped("oOpenid", "TPL_1", "abc123", &shipment, at);
        let json = serde_json::to_value(&m).expect("serialises");
        assert_eq!(json["touser"], "oOpenid");
        assert_eq!(json["template_id"], "TPL_1");
        assert_eq!(json["data"]["character_string1"]["value"], "abc123");
        assert_eq!(json["data"]["character_string3"]["value"], "SF1234567890");
        assert_eq!(json["data"]["time4"]["value"], "2023-06-10 23:06");
        let thing = json["data"]["thing2"]["value"].as_str().expect("thing2");
        assert_eq!(thing.chars().count(), MAX_THING_CHARS);
        assert!(json.get("page").is_none());
    }

    #[test]
    fn token_errors_are_40001_and_42001() {
        assert!(is_token_error(40001) && is_token_error(42001));
        assert!(!is_token_error(ERR_PARAM));
        assert!(is_transient(ERR_PAYMENT_NOT_FOUND) && !is_transient(ERR_REUPLOAD_USED));
    }

    #[test]
    fn a_refusal_is_final_only_when_the_same_upload_can_never_pass() {
        for code in [
            ERR_REUPLOAD_USED,
            ERR_NOT_SHIPPABLE,
            ERR_PARAM,
            ERR_DATA_FORMAT,
        ] {
            assert!(is_final_refusal(code), "{code}");
        }
        for code in [
            ERR_BUSY,
            ERR_SYSTEM,
            ERR_SYSTEM_2,
            ERR_PAYMENT_NOT_FOUND,
            ERR_INVALID_TOKEN,
            12345,
        ] {
            assert!(!is_final_refusal(code), "{code}");
        }
    }
}
