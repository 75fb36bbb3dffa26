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
/// WeChat is busy: try later.
pub const ERR_BUSY: i64 = -1;
/// The body is not what the API expects (a field of the wrong type or shape).
pub const ERR_DATA_FORMAT: i64 = 47001;
/// 支付单不存在: WeChat does not know the payment (yet: it may lag a payment by seconds).
pub const ERR_PAYMENT_NOT_FOUND: i64 = 10060001;
/// 支付单已完成发货，无法继续发货.
pub const ERR_ALREADY_SHIPPED: i64 = 10060002;
/// 支付单已使用重新发货机会: the one change was spent.
pub const ERR_REUPLOAD_USED: i64 = 10060003;
/// 支付单处于不可发货的状态 (refunded, settled, …).
pub const ERR_NOT_SHIPPABLE: i64 = 10060004;
/// 物流类型有误.
pub const ERR_BAD_LOGISTICS_TYPE: i64 = 10060005;
/// 非快递发货时不允许分拆发货.
pub const ERR_SPLIT_NEEDS_EXPRESS: i64 = 10060006;
/// 分拆发货模式下必须填写 is_all_delivered.
pub const ERR_IS_ALL_DELIVERED_MISSING: i64 = 10060007;
/// 商品描述 item_desc 不能为空.
pub const ERR_ITEM_DESC_EMPTY: i64 = 10060008;
/// 商品描述 item_desc 太长.
pub const ERR_ITEM_DESC_TOO_LONG: i64 = 10060009;
/// 参数错误.
pub const ERR_PARAM: i64 = 10060014;

/// Whether an errcode means "the access token is not good any more".
pub fn is_token_error(errcode: i64) -> bool {
    matches!(errcode, ERR_INVALID_TOKEN | ERR_TOKEN_EXPIRED)
}

/// Whether retrying the same upload later may succeed (WeChat busy, payment not yet
/// known to the shipping service). Anything else needs a changed request.
pub fn is_transient(errcode: i64) -> bool {
    matches!(errcode, ERR_BUSY | ERR_PAYMENT_NOT_FOUND) || is_token_error(errcode)
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
}

impl WxaOrderState {
    pub fn code(self) -> u8 {
        match self {
            Self::AwaitingShipment => 1,
            Self::Shipped => 2,
            Self::ReceiptConfirmed => 3,
            Self::Completed => 4,
            Self::Refunded => 5,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::AwaitingShipment),
            2 => Some(Self::Shipped),
            3 => Some(Self::ReceiptConfirmed),
            4 => Some(Self::Completed),
            5 => Some(Self::Refunded),
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
    fn token_errors_are_40001_and_42001() {
        assert!(is_token_error(40001) && is_token_error(42001));
        assert!(!is_token_error(ERR_PARAM));
        assert!(is_transient(ERR_PAYMENT_NOT_FOUND) && !is_transient(ERR_REUPLOAD_USED));
    }
}
