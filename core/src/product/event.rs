//! Events of a product. Each stock event carries `stock_after`, so projections
//! never recompute stock and an auditor can check every step.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{OrderId, ProductId};
use crate::money::Fen;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductCreated {
    pub product_id: ProductId,
    pub name: String,
    pub price: Fen,
    pub stock: u64,
    #[serde(with = "crate::compact_time")]
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockAdjusted {
    pub product_id: ProductId,
    pub delta: i64,
    pub stock_after: u64,
    /// The operator's reason, trimmed (schema v2; v1 events are upcast with
    /// [`crate::codec::STOCK_ADJUSTED_V1_REASON`]).
    pub reason: String,
    #[serde(with = "crate::compact_time")]
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockReserved {
    pub product_id: ProductId,
    pub order_id: OrderId,
    pub quantity: u32,
    pub stock_after: u64,
    #[serde(with = "crate::compact_time")]
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockReleased {
    pub product_id: ProductId,
    pub order_id: OrderId,
    pub quantity: u32,
    pub stock_after: u64,
    #[serde(with = "crate::compact_time")]
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ProductEvent {
    ProductCreated(ProductCreated),
    StockAdjusted(StockAdjusted),
    StockReserved(StockReserved),
    StockReleased(StockReleased),
}
