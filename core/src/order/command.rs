//! Commands on an order. Every command carries `at`, the instant it was decided
//! (core has no clock), which its events record.

use chrono::{DateTime, Utc};

use super::event::AttentionResolution;
use super::shipping::Shipment;
use crate::ids::{OrderId, ProductId, UserId};
use crate::money::Fen;
use crate::payment_refs::{OutRefundNo, PayApi, PrepayId, RefundId, TransactionId};

/// One line of an order as priced at placement (by
/// [`checkout::place_order`](crate::checkout::place_order), from the product's state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineDraft {
    pub product_id: ProductId,
    pub product_name: String,
    pub unit_price: Fen,
    pub quantity: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceOrder {
    pub order_id: OrderId,
    pub user_id: UserId,
    /// 1 to [`MAX_LINES`](super::MAX_LINES) lines, one per product.
    pub lines: Vec<LineDraft>,
    /// When an unpaid order may be closed (and WeChat's `time_expire`).
    pub expires_at: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderCommand {
    PlaceOrder(PlaceOrder),
    /// unifiedorder returned a prepay id; the mini-program may now pay.
    RequestPayment {
        prepay_id: PrepayId,
        valid_until: DateTime<Utc>,
        /// The API the prepay was opened on.
        api: PayApi,
        at: DateTime<Utc>,
    },
    /// A verified payment notify (or an orderquery saying SUCCESS).
    ConfirmPayment {
        transaction_id: TransactionId,
        amount: Fen,
        paid_at: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    /// The user gives up an unpaid order.
    CancelOrder {
        at: DateTime<Utc>,
    },
    /// The order ends unpaid: the payment window passed, or WeChat took a payment
    /// of the wrong amount (then at any time; the reason is decided from the state).
    CloseOrder {
        at: DateTime<Utc>,
    },
    /// A refund is about to be submitted to WeChat.
    RequestRefund {
        out_refund_no: OutRefundNo,
        amount: Fen,
        /// WeChat's `refund_desc`: at most [`MAX_REFUND_REASON_CHARS`](super::MAX_REFUND_REASON_CHARS).
        reason: String,
        at: DateTime<Utc>,
    },
    /// An admin returns an anomalous payment recorded on this order: the refund is
    /// that transaction's whole amount, at most once.
    RefundAnomalousPayment {
        transaction_id: TransactionId,
        out_refund_no: OutRefundNo,
        /// At most [`MAX_REFUND_REASON_CHARS`](super::MAX_REFUND_REASON_CHARS).
        reason: String,
        at: DateTime<Utc>,
    },
    /// A verified refund notify (or refundquery) saying SUCCESS.
    ConfirmRefund {
        out_refund_no: OutRefundNo,
        refund_id: RefundId,
        amount: Fen,
        at: DateTime<Utc>,
    },
    /// WeChat definitively refused this request, or closed the refund
    /// (`REFUNDCLOSE`); its amount becomes refundable again. Never for an unknown
    /// outcome (a transport error, `SYSTEMERROR`): that refund stays pending.
    FailRefund {
        out_refund_no: OutRefundNo,
        reason: String,
        at: DateTime<Utc>,
    },
    /// WeChat says `refund_status=CHANGE`: the refund needs an operator.
    MarkRefundNeedsAttention {
        out_refund_no: OutRefundNo,
        reason: String,
        at: DateTime<Utc>,
    },
    /// An operator resolved a refund that needed attention.
    ResolveRefundAttention {
        out_refund_no: OutRefundNo,
        resolution: AttentionResolution,
        /// At most [`MAX_REFUND_REASON_CHARS`](super::MAX_REFUND_REASON_CHARS).
        note: String,
        at: DateTime<Utc>,
    },
    /// The merchant shipped a paid order (or changes its shipment): see
    /// [the shipping table](super::shipping).
    ShipOrder {
        shipment: Shipment,
        at: DateTime<Utc>,
    },
    /// WeChat accepted the upload of shipment `revision`.
    RecordShippingUpload {
        revision: u32,
        at: DateTime<Utc>,
    },
    /// WeChat refused the upload of shipment `revision` (its JSON `errcode`).
    FailShippingUpload {
        revision: u32,
        errcode: i64,
        errmsg: String,
        at: DateTime<Utc>,
    },
    /// WeChat says the shopper (or its automatic confirmation) confirmed receipt.
    ConfirmReceipt {
        confirmed_at: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    /// WeChat says the order's money was settled to the merchant.
    SettleOrder {
        settled_at: DateTime<Utc>,
        at: DateTime<Utc>,
    },
}

impl OrderCommand {
    /// Every command name, in the order of the transition table.
    pub const NAMES: [&'static str; 16] = [
        "PlaceOrder",
        "RequestPayment",
        "ConfirmPayment",
        "CancelOrder",
        "CloseOrder",
        "RequestRefund",
        "RefundAnomalousPayment",
        "ConfirmRefund",
        "FailRefund",
        "MarkRefundNeedsAttention",
        "ResolveRefundAttention",
        "ShipOrder",
        "RecordShippingUpload",
        "FailShippingUpload",
        "ConfirmReceipt",
        "SettleOrder",
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Self::PlaceOrder(_) => "PlaceOrder",
            Self::RequestPayment { .. } => "RequestPayment",
            Self::ConfirmPayment { .. } => "ConfirmPayment",
            Self::CancelOrder { .. } => "CancelOrder",
            Self::CloseOrder { .. } => "CloseOrder",
            Self::RequestRefund { .. } => "RequestRefund",
            Self::ConfirmRefund { .. } => "ConfirmRefund",
            Self::FailRefund { .. } => "FailRefund",
            Self::RefundAnomalousPayment { .. } => "RefundAnomalousPayment",
            Self::MarkRefundNeedsAttention { .. } => "MarkRefundNeedsAttention",
            Self::ResolveRefundAttention { .. } => "ResolveRefundAttention",
            Self::ShipOrder { .. } => "ShipOrder",
            Self::RecordShippingUpload { .. } => "RecordShippingUpload",
            Self::FailShippingUpload { .. } => "FailShippingUpload",
            Self::ConfirmReceipt { .. } => "ConfirmReceipt",
            Self::SettleOrder { .. } => "SettleOrder",
        }
    }
}
