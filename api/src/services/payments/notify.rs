//! The payment and refund notifies: verify, find the order, record the fact once.
//!
//! The answer to WeChat is `SUCCESS` only once the fact is durable in the log (or was
//! already there); anything we could not verify or record is answered `FAIL`, which
//! makes WeChat deliver it again later, and appends nothing.

use paylog_core::order::OrderState;
use paylog_core::payment_refs::OutRefundNo;
use paylog_core::wxpay::{RefundNotify, WxPayError};
use paylog_core::{DomainError, OutTradeNo};

use super::{Confirmation, Payments, RefundSettlement};
use crate::error::Error;

/// What became of one notify; [`NotifyOutcome::acknowledged`] is the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyOutcome {
    /// A payment was recorded.
    Paid,
    /// Already recorded; nothing appended.
    Duplicate,
    /// Recorded as `PaymentAmountMismatch`, alerted.
    AmountMismatch,
    /// Recorded as `LatePaymentReceived`, alerted.
    LatePayment,
    /// Recorded as `DuplicatePaymentReceived`, alerted.
    DuplicatePayment,
    /// A signed notify of a failed payment: nothing to record.
    PaymentFailed,
    /// `RefundConfirmed` appended.
    RefundConfirmed,
    /// `RefundFailed` appended.
    RefundFailed,
    /// `RefundNeedsAttention` appended (WeChat's `CHANGE`), alerted.
    RefundNeedsAttention,
    /// A refund still processing: nothing to record yet.
    RefundPending,
    /// Sign (or refund decryption) did not verify.
    BadSignature,
    /// Addressed to another appid or mch_id.
    WrongMerchant,
    /// Not a notify we can read.
    Malformed,
    /// No such order (or refund) here.
    UnknownOrder,
    /// The domain refused the fact (e.g. a second, different payment); alerted.
    Refused,
    /// We could not record it (store failure): WeChat will retry.
    Failed,
}

impl NotifyOutcome {
    /// Whether WeChat gets `SUCCESS` (stop delivering).
    pub fn acknowledged(self) -> bool {
        matches!(
            self,
            Self::Paid
                | Self::Duplicate
                | Self::AmountMismatch
                | Self::LatePayment
                | Self::DuplicatePayment
                | Self::PaymentFailed
                | Self::RefundConfirmed
                | Self::RefundFailed
                | Self::RefundNeedsAttention
                | Self::RefundPending
        )
    }

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Paid => "paid",
            Self::Duplicate => "duplicate",
            Self::AmountMismatch => "amount_mismatch",
            Self::LatePayment => "late_payment",
            Self::DuplicatePayment => "duplicate_payment",
            Self::PaymentFailed => "payment_failed",
            Self::RefundConfirmed => "refund_confirmed",
            Self::RefundFailed => "refund_failed",
            Self::RefundNeedsAttention => "refund_needs_attention",
            Self::RefundPending => "refund_pending",
            Self::BadSignature => "bad_signature",
            Self::WrongMerchant => "wrong_merchant",
            Self::Malformed => "malformed",
            Self::UnknownOrder => "unknown_order",
            Self::Refused => "refused",
            Self::Failed => "failed",
        }
    }
}

impl From<RefundSettlement> for NotifyOutcome {
    fn from(s: RefundSettlement) -> Self {
        match s {
            RefundSettlement::Confirmed => Self::RefundConfirmed,
            RefundSettlement::Failed => Self::RefundFailed,
            RefundSettlement::NeedsAttention => Self::RefundNeedsAttention,
            RefundSettlement::StillPending => Self::RefundPending,
            RefundSettlement::Duplicate => Self::Duplicate,
            RefundSettlement::Malformed => Self::Malformed,
        }
    }
}

impl From<Confirmation> for NotifyOutcome {
    fn from(c: Confirmation) -> Self {
        match c {
            Confirmation::Paid => Self::Paid,
            Confirmation::Duplicate => Self::Duplicate,
            Confirmation::AmountMismatch => Self::AmountMismatch,
            Confirmation::LatePayment => Self::LatePayment,
            Confirmation::DuplicatePayment => Self::DuplicatePayment,
        }
    }
}

fn protocol_outcome(e: &WxPayError) -> NotifyOutcome {
    match e {
        WxPayError::MissingSign
        | WxPayError::SignMismatch
        | WxPayError::UnsupportedSignType(_)
        | WxPayError::Decrypt(_) => NotifyOutcome::BadSignature,
        WxPayError::WrongMerchant { .. } => NotifyOutcome::WrongMerchant,
        // Signed and verified, but the payment itself failed.
        WxPayError::Business { .. } => NotifyOutcome::PaymentFailed,
        _ => NotifyOutcome::Malformed,
    }
}

pub(super) fn recording_failed(kind: &str, e: &Error) -> NotifyOutcome {
    match e {
        Error::Domain(DomainError::UnknownRefund(_)) => NotifyOutcome::UnknownOrder,
        Error::Domain(d) => {
            tracing::error!(alert = "notify_refused", kind, error = %d, "a verified WeChat notify contradicts the log");
            NotifyOutcome::Refused
        }
        other => {
            tracing::error!(kind, error = %other, "could not record a WeChat notify");
            NotifyOutcome::Failed
        }
    }
}

impl Payments {
    pub(super) async fn order_for(&self, out_trade_no: &str) -> Result<Option<OrderState>, Error> {
        let Some(order_id) = OutTradeNo::parse(out_trade_no)
            .ok()
            .and_then(|no| no.order_id())
        else {
            return Ok(None);
        };
        Ok(self.engine.order(order_id).await?)
    }

    /// Handles one payment notify body.
    pub async fn pay_notify(&self, body: &str) -> NotifyOutcome {
        let outcome = self.pay_notify_inner(body).await;
        self.metrics.notify("pay", outcome.label());
        outcome
    }

    async fn pay_notify_inner(&self, body: &str) -> NotifyOutcome {
        let notify = match self.wechat.parse_pay_notify(body) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "payment notify refused");
                return protocol_outcome(&e);
            }
        };
        let order = match self.order_for(&notify.out_trade_no).await {
            Ok(Some(order)) => order,
            Ok(None) => {
                tracing::warn!(out_trade_no = %notify.out_trade_no, "payment notify for an unknown order");
                return NotifyOutcome::UnknownOrder;
            }
            Err(e) => return recording_failed("pay", &e),
        };
        match self
            .confirm(
                &order,
                &notify.transaction_id,
                notify.total_fee,
                notify.time_end,
            )
            .await
        {
            Ok(confirmation) => confirmation.into(),
            Err(e) => recording_failed("pay", &e),
        }
    }

    /// Handles one refund notify body.
    pub async fn refund_notify(&self, body: &str) -> NotifyOutcome {
        let outcome = self.refund_notify_inner(body).await;
        self.metrics.notify("refund", outcome.label());
        outcome
    }

    async fn refund_notify_inner(&self, body: &str) -> NotifyOutcome {
        let notify = match RefundNotify::parse(body, self.wechat.merchant()) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "refund notify refused");
                return protocol_outcome(&e);
            }
        };
        let order = match self.order_for(&notify.out_trade_no).await {
            Ok(Some(order)) => order,
            Ok(None) => return NotifyOutcome::UnknownOrder,
            Err(e) => return recording_failed("refund", &e),
        };
        let Ok(out_refund_no) = OutRefundNo::parse(&notify.out_refund_no) else {
            return NotifyOutcome::Malformed;
        };
        match self
            .settle_refund(
                order.order_id,
                &out_refund_no,
                &notify.refund_status,
                &notify.refund_id,
                notify.refund_fee,
            )
            .await
        {
            Ok(settled) => settled.into(),
            Err(e) => recording_failed("refund", &e),
        }
    }
}
