//! The state of a product, as the API and audits see it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::ProductId;
use crate::money::Fen;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductState {
    pub product_id: ProductId,
    pub name: String,
    /// The current unit price; an order copies it into its lines when placed.
    pub price: Fen,
    /// Units available to new orders (reserved units are already subtracted).
    pub stock: u64,
    #[serde(with = "crate::compact_time")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::compact_time")]
    pub updated_at: DateTime<Utc>,
}
