//! The catalog projection: `products` by id, with price and current stock.

use paylog_core::Aggregate;
use paylog_core::product::{Product, ProductEvent, ProductState};

use super::Tx;
use crate::error::Result;
use crate::layout::View;
use crate::model::ProductView;

pub(super) fn apply(tx: &mut Tx<'_>, event: &ProductEvent) -> Result<()> {
    let id = match event {
        ProductEvent::ProductCreated(e) => e.product_id,
        ProductEvent::StockAdjusted(e) => e.product_id,
        ProductEvent::StockReserved(e) => e.product_id,
        ProductEvent::StockReleased(e) => e.product_id,
    };
    let key = id.as_uuid().as_bytes().to_vec();
    let before: Option<ProductState> = tx.get::<ProductView>(View::Products, &key)?;
    // Core's own fold: events carry `stock_after`, so this copies rather than recomputes.
    if let Some(after) = Product::evolve(before, event) {
        tx.put(View::Products, key, after)?;
    }
    Ok(())
}
