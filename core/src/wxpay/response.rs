//! Responses of the pay API: verified first, then checked, then typed.

use chrono::{DateTime, Utc};

use super::codes::{Code, ErrCode, RefundStatus, TradeState};
use super::fields::{fen, optional, optional_fen, owned, required};
use super::xml::parse_xml;
use super::{Fields, Merchant, WxPayError, time};

/// Parses a response body and verifies its sign before anything else.
///
/// `return_code=FAIL` without a sign is a communication failure (bad request,
/// wrong endpoint): reported as [`WxPayError::ReturnFail`] with its message, and
/// nothing else in it is used. Any body carrying a sign must verify, FAIL or not.
pub fn verify_response(body: &str, merchant: &Merchant) -> Result<Fields, WxPayError> {
    let f = parse_xml(body)?;
    let unsigned = f.get("sign").is_none_or(|s| s.is_empty());
    if unsigned && f.get("return_code").map(String::as_str) == Some("FAIL") {
        return Err(WxPayError::ReturnFail(
            optional(&f, "return_msg").unwrap_or_default(),
        ));
    }
    merchant.verify(&f)?;
    check_codes(&f)?;
    Ok(f)
}

/// `return_code` then `result_code` (when present) must be SUCCESS.
pub fn check_codes(f: &Fields) -> Result<(), WxPayError> {
    if Code::parse(required(f, "return_code")?) != Code::Success {
        return Err(WxPayError::ReturnFail(
            optional(f, "return_msg").unwrap_or_default(),
        ));
    }
    match f.get("result_code").map(|c| Code::parse(c)) {
        None | Some(Code::Success) => Ok(()),
        Some(_) => Err(WxPayError::Business {
            code: ErrCode::parse(&optional(f, "err_code").unwrap_or_default()),
            description: optional(f, "err_code_des").unwrap_or_default(),
        }),
    }
}

/// `pay/unifiedorder`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnifiedOrderResponse {
    pub prepay_id: String,
    pub trade_type: String,
}

impl UnifiedOrderResponse {
    pub fn from_fields(f: &Fields) -> Result<Self, WxPayError> {
        Ok(Self {
            prepay_id: owned(f, "prepay_id")?,
            trade_type: owned(f, "trade_type")?,
        })
    }
}

/// `pay/orderquery`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderQueryResponse {
    pub out_trade_no: String,
    pub trade_state: TradeState,
    pub trade_state_desc: Option<String>,
    pub total_fee: Option<u64>,
    pub transaction_id: Option<String>,
    pub openid: Option<String>,
    pub time_end: Option<DateTime<Utc>>,
}

impl OrderQueryResponse {
    pub fn from_fields(f: &Fields) -> Result<Self, WxPayError> {
        Ok(Self {
            out_trade_no: owned(f, "out_trade_no")?,
            trade_state: TradeState::parse(required(f, "trade_state")?),
            trade_state_desc: optional(f, "trade_state_desc"),
            total_fee: optional_fen(f, "total_fee")?,
            transaction_id: optional(f, "transaction_id"),
            openid: optional(f, "openid"),
            time_end: optional(f, "time_end")
                .map(|t| time::parse_compact(&t, "time_end"))
                .transpose()?,
        })
    }
}

/// `secapi/pay/refund`: the refund was accepted (its outcome comes by notify or query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundResponse {
    pub transaction_id: String,
    pub out_trade_no: String,
    pub out_refund_no: String,
    pub refund_id: String,
    pub refund_fee: u64,
    pub total_fee: u64,
}

impl RefundResponse {
    pub fn from_fields(f: &Fields) -> Result<Self, WxPayError> {
        Ok(Self {
            transaction_id: owned(f, "transaction_id")?,
            out_trade_no: owned(f, "out_trade_no")?,
            out_refund_no: owned(f, "out_refund_no")?,
            refund_id: owned(f, "refund_id")?,
            refund_fee: fen(f, "refund_fee")?,
            total_fee: fen(f, "total_fee")?,
        })
    }
}

/// One refund of an order, from the indexed `*_$n` fields of `pay/refundquery`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundItem {
    pub out_refund_no: String,
    pub refund_id: String,
    pub refund_fee: u64,
    pub refund_status: RefundStatus,
    pub success_time: Option<DateTime<Utc>>,
}

/// `pay/refundquery`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundQueryResponse {
    pub out_trade_no: String,
    pub transaction_id: String,
    pub total_fee: u64,
    pub refunds: Vec<RefundItem>,
}

/// Refund queries list at most this many refunds per page.
const MAX_REFUNDS: u64 = 50;

impl RefundQueryResponse {
    pub fn from_fields(f: &Fields) -> Result<Self, WxPayError> {
        let count = fen(f, "refund_count")?;
        if count > MAX_REFUNDS {
            return Err(WxPayError::InvalidField {
                field: "refund_count",
                value: count.to_string(),
            });
        }
        let mut refunds = Vec::new();
        for n in 0..count {
            let get = |name: &'static str| {
                f.get(&format!("{name}_{n}"))
                    .filter(|v| !v.is_empty())
                    .cloned()
                    .ok_or(WxPayError::MissingField(name))
            };
            let fee = get("refund_fee")?;
            refunds.push(RefundItem {
                out_refund_no: get("out_refund_no")?,
                refund_id: get("refund_id")?,
                refund_fee: fee.parse().map_err(|_| WxPayError::InvalidField {
                    field: "refund_fee",
                    value: fee.clone(),
                })?,
                refund_status: RefundStatus::parse(&get("refund_status")?),
                success_time: get("refund_success_time")
                    .ok()
                    .map(|t| time::parse_spaced(&t, "refund_success_time"))
                    .transpose()?,
            });
        }
        Ok(Self {
            out_trade_no: owned(f, "out_trade_no")?,
            transaction_id: owned(f, "transaction_id")?,
            total_fee: fen(f, "total_fee")?,
            refunds,
        })
    }
}
