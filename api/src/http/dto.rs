//! The JSON shapes of products and orders, documented in the OpenAPI schema.
//!
//! Amounts are integer fen (`*_fen`); times are RFC 3339 UTC. They are built from
//! the views, which are core's states (so also from the engine's strong reads).
//!
//! Statuses on the wire are enums of their own, mapped from core's by exhaustive
//! matches: renaming a domain variant fails to compile here instead of silently
//! changing the public API.

use chrono::{DateTime, Utc};
use paylog_core::order;
use paylog_projections::{OrderSummary, OrderView, Page, ProductView};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// `?cursor=…&limit=…` of every list.
#[derive(Debug, Deserialize, IntoParams)]
pub struct PageQuery {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 200 (default 20).
    pub limit: Option<usize>,
}

impl PageQuery {
    pub fn page(self) -> Page {
        Page {
            cursor: self.cursor,
            limit: self.limit.unwrap_or(Page::DEFAULT_LIMIT),
        }
    }
}

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub enum OrderStatus {
    Placed,
    PaymentRequested,
    Paid,
    Refunding,
    PartiallyRefunded,
    Refunded,
    Cancelled,
    Closed,
}

impl From<order::OrderStatus> for OrderStatus {
    fn from(s: order::OrderStatus) -> Self {
        use order::OrderStatus as S;
        match s {
            S::Placed => Self::Placed,
            S::PaymentRequested => Self::PaymentRequested,
            S::Paid => Self::Paid,
            S::Refunding => Self::Refunding,
            S::PartiallyRefunded => Self::PartiallyRefunded,
            S::Refunded => Self::Refunded,
            S::Cancelled => Self::Cancelled,
            S::Closed => Self::Closed,
        }
    }
}

/// Where a refund is: asked of WeChat, settled either way, or waiting for an operator
/// (WeChat's `CHANGE`: the money left the shop but did not reach the shopper).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub enum RefundStatus {
    Pending,
    Confirmed,
    Failed,
    NeedsAttention,
}

impl From<order::RefundStatus> for RefundStatus {
    fn from(s: order::RefundStatus) -> Self {
        use order::RefundStatus as S;
        match s {
            S::Pending => Self::Pending,
            S::Confirmed => Self::Confirmed,
            S::Failed => Self::Failed,
            S::NeedsAttention => Self::NeedsAttention,
        }
    }
}

/// A payment WeChat reported that did not pay the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub enum AnomalyKind {
    /// The amount was not the order total.
    AmountMismatch,
    /// The order was already cancelled or closed.
    LatePayment,
    /// The order was already paid by another transaction.
    DuplicatePayment,
}

impl From<order::AnomalyKind> for AnomalyKind {
    fn from(k: order::AnomalyKind) -> Self {
        use order::AnomalyKind as K;
        match k {
            K::AmountMismatch => Self::AmountMismatch,
            K::LatePayment => Self::LatePayment,
            K::DuplicatePayment => Self::DuplicatePayment,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Product {
    pub product_id: Uuid,
    pub name: String,
    pub price_fen: u64,
    /// Units available to new orders now.
    pub stock: u64,
}

impl From<ProductView> for Product {
    fn from(p: ProductView) -> Self {
        Self {
            product_id: p.product_id.as_uuid(),
            name: p.name,
            price_fen: p.price.get(),
            stock: p.stock,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductPage {
    pub items: Vec<Product>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderLine {
    pub product_id: Uuid,
    pub product_name: String,
    pub unit_price_fen: u64,
    pub quantity: u32,
    pub line_total_fen: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Payment {
    pub transaction_id: String,
    pub amount_fen: u64,
    pub paid_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Refund {
    pub out_refund_no: String,
    pub amount_fen: u64,
    pub reason: String,
    pub status: RefundStatus,
    pub refund_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Anomaly {
    pub kind: AnomalyKind,
    pub transaction_id: String,
    pub amount_fen: u64,
}

/// An order in full.
#[derive(Debug, Serialize, ToSchema)]
pub struct Order {
    pub order_id: Uuid,
    pub out_trade_no: String,
    pub status: OrderStatus,
    pub lines: Vec<OrderLine>,
    pub total_fen: u64,
    pub paid_fen: u64,
    pub refunded_fen: u64,
    pub pending_refunds_fen: u64,
    pub payment: Option<Payment>,
    pub refunds: Vec<Refund>,
    pub anomalies: Vec<Anomaly>,
    /// The shipment and its upload to WeChat, receipt and settlement (paid orders).
    pub shipping: Option<super::shipping::ShippingInfo>,
    pub placed_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<OrderView> for Order {
    fn from(o: OrderView) -> Self {
        Self {
            order_id: o.order_id.as_uuid(),
            out_trade_no: o.out_trade_no.to_string(),
            status: o.status.into(),
            lines: o
                .lines
                .into_iter()
                .map(|l| OrderLine {
                    product_id: l.product_id.as_uuid(),
                    product_name: l.product_name,
                    unit_price_fen: l.unit_price.get(),
                    quantity: l.quantity,
                    line_total_fen: l.line_total.get(),
                })
                .collect(),
            total_fen: o.total.get(),
            paid_fen: o.paid.get(),
            refunded_fen: o.refunded.get(),
            pending_refunds_fen: o.pending_refunds.get(),
            payment: o.payment.map(|p| Payment {
                transaction_id: p.transaction_id.to_string(),
                amount_fen: p.amount.get(),
                paid_at: p.paid_at,
            }),
            refunds: o
                .refunds
                .into_iter()
                .map(|r| Refund {
                    out_refund_no: r.out_refund_no.to_string(),
                    amount_fen: r.amount.get(),
                    reason: r.reason,
                    status: r.status.into(),
                    refund_id: r.refund_id.map(|id| id.to_string()),
                })
                .collect(),
            anomalies: o
                .anomalies
                .into_iter()
                .map(|a| Anomaly {
                    kind: a.kind.into(),
                    transaction_id: a.transaction_id.to_string(),
                    amount_fen: a.amount.get(),
                })
                .collect(),
            shipping: o.shipping.map(Into::into),
            placed_at: o.placed_at,
            expires_at: o.expires_at,
            updated_at: o.updated_at,
        }
    }
}

/// One order of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderListItem {
    pub order_id: Uuid,
    pub status: OrderStatus,
    pub total_fen: u64,
    pub paid_fen: u64,
    pub refunded_fen: u64,
    pub items: u64,
    pub placed_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl From<OrderSummary> for OrderListItem {
    fn from(o: OrderSummary) -> Self {
        Self {
            order_id: o.order_id.as_uuid(),
            status: o.status.into(),
            total_fen: o.total.get(),
            paid_fen: o.paid.get(),
            refunded_fen: o.refunded.get(),
            items: o.items,
            placed_at: o.placed_at,
            expires_at: o.expires_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderPage {
    pub items: Vec<OrderListItem>,
    pub next_cursor: Option<String>,
}
