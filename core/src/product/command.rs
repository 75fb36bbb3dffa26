//! Commands on a product.

use chrono::{DateTime, Utc};

use crate::ids::{OrderId, ProductId};
use crate::money::Fen;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateProduct {
    pub product_id: ProductId,
    /// 1 to 100 characters (not bytes), trimmed.
    pub name: String,
    /// More than 0 fen.
    pub price: Fen,
    pub stock: u64,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProductCommand {
    CreateProduct(CreateProduct),
    /// A stock-take or delivery: `delta` may be negative, but stock never goes below 0.
    AdjustStock {
        delta: i64,
        /// Why (a delivery, breakage, a count): 1 to
        /// [`MAX_ADJUSTMENT_REASON_CHARS`](super::MAX_ADJUSTMENT_REASON_CHARS)
        /// characters once trimmed.
        reason: String,
        at: DateTime<Utc>,
    },
    /// Holds stock for an order being placed.
    ReserveStock {
        order_id: OrderId,
        quantity: u32,
        at: DateTime<Utc>,
    },
    /// Gives back an order's stock when it is cancelled or closed unpaid.
    ReleaseStock {
        order_id: OrderId,
        quantity: u32,
        at: DateTime<Utc>,
    },
}

impl ProductCommand {
    pub fn name(&self) -> &'static str {
        match self {
            Self::CreateProduct(_) => "CreateProduct",
            Self::AdjustStock { .. } => "AdjustStock",
            Self::ReserveStock { .. } => "ReserveStock",
            Self::ReleaseStock { .. } => "ReleaseStock",
        }
    }
}
