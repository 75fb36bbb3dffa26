//! The product aggregate (stream `product-<uuid>`): catalog entry and stock.
//!
//! Stock is the number of units still available to new orders. Placing an order
//! reserves (subtracts) its quantity; cancelling or closing it unpaid releases (adds
//! back) the same quantity; a payment leaves the reservation as the sale. Stock is
//! a `u64` and every decrement is checked in `decide`, so it can never go below zero.
//! Refunds do not restock: returned goods are counted back with `AdjustStock`.

mod command;
mod event;
mod state;
#[cfg(test)]
mod tests;

pub use command::{CreateProduct, ProductCommand};
pub use event::{ProductCreated, ProductEvent, StockAdjusted, StockReleased, StockReserved};
pub use state::ProductState;

use crate::aggregate::Aggregate;
use crate::error::DomainError;

/// Longest product name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// Longest reason of a stock adjustment, in characters (not bytes), once trimmed:
/// room for "delivery 2024-05-01, note no. 8812, 3 cartons damaged" and more, short
/// enough for a table cell and a log line.
pub const MAX_ADJUSTMENT_REASON_CHARS: usize = 200;

/// The product aggregate.
#[derive(Debug, Clone, Copy)]
pub struct Product;

impl Aggregate for Product {
    const NAME: &'static str = "product";
    type State = Option<ProductState>;
    type Command = ProductCommand;
    type Event = ProductEvent;

    fn decide(
        state: &Self::State,
        command: ProductCommand,
    ) -> Result<Vec<ProductEvent>, DomainError> {
        let Some(state) = state else {
            return match command {
                ProductCommand::CreateProduct(cmd) => create(cmd),
                _ => Err(DomainError::NotFound {
                    aggregate: Self::NAME,
                }),
            };
        };
        let product_id = state.product_id;
        let event = match command {
            ProductCommand::CreateProduct(_) => {
                return Err(DomainError::AlreadyExists {
                    aggregate: Self::NAME,
                });
            }
            ProductCommand::AdjustStock { delta, reason, at } => {
                let reason = reason.trim();
                if reason.is_empty() || reason.chars().count() > MAX_ADJUSTMENT_REASON_CHARS {
                    return Err(DomainError::InvalidStockAdjustmentReason);
                }
                if delta == 0 {
                    return Err(DomainError::ZeroStockAdjustment);
                }
                let stock_after = state.stock.checked_add_signed(delta).ok_or(if delta < 0 {
                    DomainError::StockWouldGoNegative {
                        product_id,
                        delta,
                        stock: state.stock,
                    }
                } else {
                    DomainError::StockOverflow { product_id }
                })?;
                ProductEvent::StockAdjusted(StockAdjusted {
                    product_id,
                    delta,
                    stock_after,
                    reason: reason.to_owned(),
                    at,
                })
            }
            ProductCommand::ReserveStock {
                order_id,
                quantity,
                at,
            } => {
                if quantity == 0 {
                    return Err(DomainError::InvalidQuantity { product_id });
                }
                let stock_after = state.stock.checked_sub(u64::from(quantity)).ok_or(
                    DomainError::InsufficientStock {
                        product_id,
                        requested: quantity,
                        available: state.stock,
                    },
                )?;
                ProductEvent::StockReserved(StockReserved {
                    product_id,
                    order_id,
                    quantity,
                    stock_after,
                    at,
                })
            }
            ProductCommand::ReleaseStock {
                order_id,
                quantity,
                at,
            } => {
                if quantity == 0 {
                    return Err(DomainError::InvalidQuantity { product_id });
                }
                let stock_after = state
                    .stock
                    .checked_add(u64::from(quantity))
                    .ok_or(DomainError::StockOverflow { product_id })?;
                ProductEvent::StockReleased(StockReleased {
                    product_id,
                    order_id,
                    quantity,
                    stock_after,
                    at,
                })
            }
        };
        Ok(vec![event])
    }

    fn evolve(state: Self::State, event: &ProductEvent) -> Self::State {
        match (state, event) {
            (None, ProductEvent::ProductCreated(e)) => Some(ProductState {
                product_id: e.product_id,
                name: e.name.clone(),
                price: e.price,
                stock: e.stock,
                created_at: e.at,
                updated_at: e.at,
            }),
            // Stock events carry the resulting stock: evolve copies it rather than
            // re-doing arithmetic, so replay cannot disagree with what was decided.
            (
                Some(mut p),
                ProductEvent::StockAdjusted(StockAdjusted {
                    stock_after, at, ..
                }),
            )
            | (
                Some(mut p),
                ProductEvent::StockReserved(StockReserved {
                    stock_after, at, ..
                }),
            )
            | (
                Some(mut p),
                ProductEvent::StockReleased(StockReleased {
                    stock_after, at, ..
                }),
            ) => {
                p.stock = *stock_after;
                p.updated_at = *at;
                Some(p)
            }
            // A second creation, or stock moves before creation, cannot be decided;
            // a log holding one is left as it was (audits flag it, evolve never fails).
            (state, _) => state,
        }
    }
}

fn create(cmd: CreateProduct) -> Result<Vec<ProductEvent>, DomainError> {
    let name = cmd.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(DomainError::InvalidProductName);
    }
    if cmd.price.is_zero() {
        return Err(DomainError::InvalidPrice);
    }
    Ok(vec![ProductEvent::ProductCreated(ProductCreated {
        product_id: cmd.product_id,
        name: name.to_owned(),
        price: cmd.price,
        stock: cmd.stock,
        at: cmd.at,
    })])
}
