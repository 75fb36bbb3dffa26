//! Decisions spanning an order and its products, decided together and appended
//! atomically: placing an order reserves its stock; cancelling or closing it
//! releases that stock.
//!
//! The pipeline loads the order and every product involved (remembering each
//! stream's version), calls one of these functions, and appends the returned
//! [`Decision`] in one batch with those expected versions. If a product changed
//! meanwhile (another order reserved it), the append fails and the pipeline retries
//! with fresh state, so stock is never oversold.

use chrono::{DateTime, Utc};

use crate::aggregate::{Aggregate, Decision};
use crate::error::DomainError;
use crate::ids::{OrderId, ProductId, UserId};
use crate::order::{LineDraft, MAX_LINES, Order, OrderCommand, OrderState, PlaceOrder};
use crate::product::{Product, ProductCommand, ProductState};
use crate::streams::{order_stream, product_stream};

/// One line of a cart as the user sent it: no price (prices come from the catalog).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CartItem {
    pub product_id: ProductId,
    pub quantity: u32,
}

/// A user's request to order a cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    pub order_id: OrderId,
    pub user_id: UserId,
    /// 1 to 50 items; the same product twice is merged into one line.
    pub items: Vec<CartItem>,
    pub expires_at: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

impl Checkout {
    /// The distinct products of the cart, in first-seen order: the streams to load.
    pub fn product_ids(&self) -> Vec<ProductId> {
        let mut ids: Vec<ProductId> = Vec::new();
        for item in &self.items {
            if !ids.contains(&item.product_id) {
                ids.push(item.product_id);
            }
        }
        ids
    }
}

fn find<'a>(
    products: &[(ProductId, &'a ProductState)],
    product_id: ProductId,
) -> Result<&'a ProductState, DomainError> {
    products
        .iter()
        .find(|(id, _)| *id == product_id)
        .map(|(_, state)| *state)
        .ok_or(DomainError::ProductNotFound(product_id))
}

/// Places an order priced from `products` and reserves its stock.
///
/// Returns the order's `OrderPlaced` and one `StockReserved` per product, or the
/// first domain error (e.g. `InsufficientStock`, `ProductNotFound`).
pub fn place_order(
    command: Checkout,
    products: &[(ProductId, &ProductState)],
) -> Result<Decision, DomainError> {
    if command.items.len() > MAX_LINES {
        return Err(DomainError::TooManyLines {
            count: command.items.len(),
            max: MAX_LINES,
        });
    }
    // Merge duplicate products, keeping the cart's order for the lines.
    let mut merged: Vec<CartItem> = Vec::new();
    for item in &command.items {
        if item.quantity == 0 {
            return Err(DomainError::InvalidQuantity {
                product_id: item.product_id,
            });
        }
        match merged.iter_mut().find(|m| m.product_id == item.product_id) {
            Some(line) => {
                line.quantity = line
                    .quantity
                    .checked_add(item.quantity)
                    .ok_or(DomainError::AmountOverflow)?;
            }
            None => merged.push(*item),
        }
    }
    let mut lines = Vec::with_capacity(merged.len());
    for item in &merged {
        let product = find(products, item.product_id)?;
        lines.push(LineDraft {
            product_id: item.product_id,
            product_name: product.name.clone(),
            unit_price: product.price,
            quantity: item.quantity,
        });
    }
    let order_events = Order::decide(
        &None,
        OrderCommand::PlaceOrder(PlaceOrder {
            order_id: command.order_id,
            user_id: command.user_id,
            lines,
            expires_at: command.expires_at,
            at: command.at,
        }),
    )?;
    let mut decision = Decision::single(order_stream(command.order_id), order_events);
    for item in merged {
        let product = find(products, item.product_id)?;
        let reserve = ProductCommand::ReserveStock {
            order_id: command.order_id,
            quantity: item.quantity,
            at: command.at,
        };
        let events = Product::decide(&Some(product.clone()), reserve)?;
        decision.push(product_stream(item.product_id), events);
    }
    Ok(decision)
}

/// Whether an order being cancelled was closed at WeChat first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosedAtWechat {
    /// closeorder succeeded (or WeChat never knew the order): nobody can pay it.
    Yes,
    /// Not asked: the caller saw no prepay id. Refused with
    /// [`DomainError::OpenAtWechat`] if the order has one by the time this decides
    /// (a `/pay` recorded it meanwhile), so closeorder is decided from the state the
    /// cancel itself sees.
    No,
}

/// The user cancels an unpaid order: `OrderCancelled` plus a `StockReleased` per line.
pub fn cancel_order(
    order: &Option<OrderState>,
    products: &[(ProductId, &ProductState)],
    at: DateTime<Utc>,
    closed_at_wechat: ClosedAtWechat,
) -> Result<Decision, DomainError> {
    if let Some(state) = order
        && closed_at_wechat == ClosedAtWechat::No
        && state.status.is_awaiting_payment()
        && state.prepay.is_some()
    {
        return Err(DomainError::OpenAtWechat);
    }
    release_with(order, products, OrderCommand::CancelOrder { at }, at)
}

/// The payment window passed: `OrderClosed` plus a `StockReleased` per line.
pub fn close_order(
    order: &Option<OrderState>,
    products: &[(ProductId, &ProductState)],
    at: DateTime<Utc>,
) -> Result<Decision, DomainError> {
    release_with(order, products, OrderCommand::CloseOrder { at }, at)
}

fn release_with(
    order: &Option<OrderState>,
    products: &[(ProductId, &ProductState)],
    command: OrderCommand,
    at: DateTime<Utc>,
) -> Result<Decision, DomainError> {
    let order_events = Order::decide(order, command)?;
    let Some(state) = order else {
        return Err(DomainError::NotFound { aggregate: "order" });
    };
    let mut decision = Decision::single(order_stream(state.order_id), order_events);
    // Lines are one per product (PlaceOrder refuses duplicates), so each product
    // gets exactly one release of exactly what was reserved.
    for line in &state.lines {
        let product = find(products, line.product_id)?;
        let release = ProductCommand::ReleaseStock {
            order_id: state.order_id,
            quantity: line.quantity,
            at,
        };
        let events = Product::decide(&Some(product.clone()), release)?;
        decision.push(product_stream(line.product_id), events);
    }
    Ok(decision)
}

#[cfg(test)]
mod tests;
