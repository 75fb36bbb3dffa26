//! Typed `return_code`, `result_code`, `err_code`, `trade_state` and `refund_status`.
//!
//! WeChat sends these as upper-case strings. Each enum names the values paylog
//! reacts to and keeps anything else in `Other`, so a new code never fails parsing.

use std::fmt;

macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant,)+
            /// A value this version of paylog does not know.
            Other(String),
        }

        impl $name {
            /// Parses the wire value; unknown values land in `Other`.
            pub fn parse(s: &str) -> Self {
                match s {
                    $($wire => Self::$variant,)+
                    other => Self::Other(other.to_owned()),
                }
            }

            /// The wire value.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)+
                    Self::Other(s) => s,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum!(
    /// `return_code` / `result_code`: did the call (or the business operation) succeed.
    Code { Success => "SUCCESS", Fail => "FAIL" }
);

wire_enum!(
    /// `err_code` of a `result_code=FAIL` response.
    ErrCode {
        OrderPaid => "ORDERPAID",
        OrderClosed => "ORDERCLOSED",
        OrderNotExist => "ORDERNOTEXIST",
        OutTradeNoUsed => "OUT_TRADE_NO_USED",
        NotEnough => "NOTENOUGH",
        SignError => "SIGNERROR",
        ParamError => "PARAM_ERROR",
        SystemError => "SYSTEMERROR",
        NoAuth => "NOAUTH",
        AppidNotExist => "APPID_NOT_EXIST",
        MchidNotExist => "MCHID_NOT_EXIST",
        AppidMchidNotMatch => "APPID_MCHID_NOT_MATCH",
        LackParams => "LACK_PARAMS",
        XmlFormatError => "XML_FORMAT_ERROR",
        RefundNotExist => "REFUNDNOTEXIST",
        TradeOverdue => "TRADE_OVERDUE",
        UserPaying => "USERPAYING",
        BizErrNeedRetry => "BIZERR_NEED_RETRY",
        FrequencyLimited => "FREQUENCY_LIMITED",
        Error => "ERROR",
    }
);

impl ErrCode {
    /// Whether the same request may succeed if sent again later (WeChat's
    /// guidance: retry on SYSTEMERROR, BIZERR_NEED_RETRY and frequency limits).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::SystemError | Self::BizErrNeedRetry | Self::FrequencyLimited | Self::UserPaying
        )
    }
}

wire_enum!(
    /// `trade_state` of `pay/orderquery`.
    TradeState {
        Success => "SUCCESS",
        Refund => "REFUND",
        NotPay => "NOTPAY",
        Closed => "CLOSED",
        Revoked => "REVOKED",
        UserPaying => "USERPAYING",
        PayError => "PAYERROR",
    }
);

wire_enum!(
    /// `refund_status` of a refund notify or `pay/refundquery`.
    RefundStatus {
        Success => "SUCCESS",
        Processing => "PROCESSING",
        RefundClose => "REFUNDCLOSE",
        Change => "CHANGE",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes_round_trip_and_unknown_ones_are_kept() {
        for s in ["ORDERPAID", "OUT_TRADE_NO_USED", "NOTENOUGH", "SIGNERROR"] {
            assert_eq!(ErrCode::parse(s).as_str(), s);
            assert!(!matches!(ErrCode::parse(s), ErrCode::Other(_)));
        }
        assert_eq!(
            ErrCode::parse("NEW_CODE"),
            ErrCode::Other("NEW_CODE".into())
        );
        assert_eq!(TradeState::parse("NOTPAY"), TradeState::NotPay);
        assert!(ErrCode::SystemError.is_retryable());
        assert!(!ErrCode::OrderPaid.is_retryable());
    }
}
