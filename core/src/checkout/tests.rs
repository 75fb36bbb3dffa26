//! given(products, order) / when(checkout, cancel, close) / then(streams).

use super::*;
use crate::event::DomainEvent;
use crate::money::Fen;
use crate::order::OrderEvent;
use crate::product::{ProductEvent, StockReleased, StockReserved};
use crate::streams::{order_stream, product_stream};
use crate::testkit::*;

fn checkout(items: &[(u128, u32)]) -> Checkout {
    Checkout {
        order_id: order_id(1),
        user_id: user_id(1),
        items: items
            .iter()
            .map(|&(p, quantity)| CartItem {
                product_id: product_id(p),
                quantity,
            })
            .collect(),
        expires_at: t(30),
        at: t0(),
    }
}

fn placed_order(decision: &Decision) -> Option<OrderState> {
    let events: Vec<OrderEvent> = decision
        .events_for(&order_stream(order_id(1)))
        .iter()
        .filter_map(|e| OrderEvent::try_from(e.clone()).ok())
        .collect();
    Order::fold(&events)
}

#[test]
fn place_order_prices_lines_from_the_catalog_and_reserves_stock() {
    let tea = product(1, 1999, 10);
    let cup = product(2, 500, 1);
    let decision = place_order(
        checkout(&[(1, 2), (2, 1), (1, 3)]),
        &[(product_id(1), &tea), (product_id(2), &cup)],
    )
    .expect("places");
    let streams: Vec<String> = decision.streams.iter().map(|(s, _)| s.clone()).collect();
    assert_eq!(
        streams,
        vec![
            order_stream(order_id(1)),
            product_stream(product_id(1)),
            product_stream(product_id(2)),
        ]
    );
    let order = placed_order(&decision).expect("placed");
    assert_eq!(order.lines.len(), 2, "duplicate product lines merged");
    assert_eq!(
        (order.lines[0].quantity, order.lines[0].unit_price),
        (5, Fen::new(1999))
    );
    assert_eq!(order.lines[0].product_name, "Product 1");
    assert_eq!(order.total, Fen::new(5 * 1999 + 500));
    assert_eq!(
        decision.events_for(&product_stream(product_id(1))),
        [DomainEvent::Product(ProductEvent::StockReserved(
            StockReserved {
                product_id: product_id(1),
                order_id: order_id(1),
                quantity: 5,
                stock_after: 5,
                at: t0(),
            }
        ))]
    );
    assert!(matches!(
        decision.events_for(&product_stream(product_id(2))),
        [DomainEvent::Product(ProductEvent::StockReserved(r))] if r.stock_after == 0
    ));
}

#[test]
fn place_order_refuses_what_stock_cannot_cover_after_merging() {
    let tea = product(1, 1999, 4);
    assert_eq!(
        place_order(checkout(&[(1, 2), (1, 3)]), &[(product_id(1), &tea)]),
        Err(DomainError::InsufficientStock {
            product_id: product_id(1),
            requested: 5,
            available: 4,
        })
    );
}

#[test]
fn place_order_refuses_bad_carts() {
    let tea = product(1, 1999, 4);
    let products = [(product_id(1), &tea)];
    assert_eq!(
        place_order(checkout(&[]), &products),
        Err(DomainError::EmptyOrder)
    );
    assert_eq!(
        place_order(checkout(&[(2, 1)]), &products),
        Err(DomainError::ProductNotFound(product_id(2)))
    );
    assert_eq!(
        place_order(checkout(&[(1, 0)]), &products),
        Err(DomainError::InvalidQuantity {
            product_id: product_id(1)
        })
    );
    let many: Vec<(u128, u32)> = (0..51).map(|_| (1, 1)).collect();
    assert_eq!(
        place_order(checkout(&many), &products),
        Err(DomainError::TooManyLines { count: 51, max: 50 })
    );
    assert_eq!(
        place_order(checkout(&[(1, u32::MAX), (1, 1)]), &products),
        Err(DomainError::AmountOverflow)
    );
}

#[test]
fn product_ids_lists_each_product_once() {
    let ids = checkout(&[(2, 1), (1, 1), (2, 4)]).product_ids();
    assert_eq!(ids, vec![product_id(2), product_id(1)]);
}

/// Places an order for 3 of product 1 and 1 of product 2, returning the order and
/// the products as they are after the reservation.
fn given_placed() -> (Option<OrderState>, ProductState, ProductState) {
    let tea = product(1, 1000, 10);
    let cup = product(2, 500, 2);
    let decision = place_order(
        checkout(&[(1, 3), (2, 1)]),
        &[(product_id(1), &tea), (product_id(2), &cup)],
    )
    .expect("places");
    let fold_product = |p: u128, initial: &ProductState| {
        let events: Vec<ProductEvent> = decision
            .events_for(&product_stream(product_id(p)))
            .iter()
            .filter_map(|e| ProductEvent::try_from(e.clone()).ok())
            .collect();
        events
            .iter()
            .fold(Some(initial.clone()), Product::evolve)
            .expect("exists")
    };
    (
        placed_order(&decision),
        fold_product(1, &tea),
        fold_product(2, &cup),
    )
}

#[test]
fn cancel_order_releases_every_line() {
    let (order, tea, cup) = given_placed();
    assert_eq!((tea.stock, cup.stock), (7, 1));
    let products = [(product_id(1), &tea), (product_id(2), &cup)];
    let decision = cancel_order(&order, &products, t(5), ClosedAtWechat::Yes).expect("cancels");
    assert!(matches!(
        decision.events_for(&order_stream(order_id(1))),
        [DomainEvent::Order(OrderEvent::OrderCancelled(_))]
    ));
    assert_eq!(
        decision.events_for(&product_stream(product_id(1))),
        [DomainEvent::Product(ProductEvent::StockReleased(
            StockReleased {
                product_id: product_id(1),
                order_id: order_id(1),
                quantity: 3,
                stock_after: 10,
                at: t(5),
            }
        ))]
    );
    assert!(matches!(
        decision.events_for(&product_stream(product_id(2))),
        [DomainEvent::Product(ProductEvent::StockReleased(r))] if r.stock_after == 2
    ));
}

#[test]
fn close_order_releases_stock_only_after_expiry() {
    let (order, tea, cup) = given_placed();
    let products = [(product_id(1), &tea), (product_id(2), &cup)];
    assert_eq!(
        close_order(&order, &products, t(29)),
        Err(DomainError::NotYetExpired { expires_at: t(30) })
    );
    let decision = close_order(&order, &products, t(30)).expect("closes");
    assert_eq!(decision.streams.len(), 3);
    assert!(matches!(
        decision.events_for(&order_stream(order_id(1))),
        [DomainEvent::Order(OrderEvent::OrderClosed(_))]
    ));
}

#[test]
fn a_cancelled_order_cannot_release_its_stock_twice() {
    let (order, tea, cup) = given_placed();
    let products = [(product_id(1), &tea), (product_id(2), &cup)];
    let cancelled = cancel_order(&order, &products, t(5), ClosedAtWechat::Yes).expect("cancels");
    let events: Vec<OrderEvent> = cancelled
        .events_for(&order_stream(order_id(1)))
        .iter()
        .filter_map(|e| OrderEvent::try_from(e.clone()).ok())
        .collect();
    let order = events.iter().fold(order, Order::evolve);
    assert!(matches!(
        cancel_order(&order, &products, t(6), ClosedAtWechat::Yes),
        Err(DomainError::InvalidTransition {
            command: "CancelOrder",
            ..
        })
    ));
    assert!(matches!(
        close_order(&order, &products, t(40)),
        Err(DomainError::InvalidTransition {
            command: "CloseOrder",
            ..
        })
    ));
    assert_eq!(
        cancel_order(&None, &products, t(5), ClosedAtWechat::Yes),
        Err(DomainError::NotFound { aggregate: "order" })
    );
    let (order, tea, _) = given_placed();
    assert_eq!(
        cancel_order(&order, &[(product_id(1), &tea)], t(5), ClosedAtWechat::Yes),
        Err(DomainError::ProductNotFound(product_id(2)))
    );
}

#[test]
fn a_wrong_amount_order_closes_at_once_and_releases_its_stock() {
    // given: an order for 3 × 1000 + 1 × 500 fen, for which WeChat took 1 fen
    let (order, tea, cup) = given_placed();
    let mismatch = Order::decide(
        &order,
        OrderCommand::ConfirmPayment {
            transaction_id: txn(7),
            amount: Fen::new(1),
            paid_at: t(3),
            at: t(3),
        },
    )
    .expect("recorded");
    let order = mismatch.iter().fold(order, Order::evolve);
    // when: the reconciler closes it well before its payment window ends
    let products = [(product_id(1), &tea), (product_id(2), &cup)];
    let decision = close_order(&order, &products, t(4)).expect("closes");
    // then: closed for the mismatch, and every line's stock goes back
    assert!(matches!(
        decision.events_for(&order_stream(order_id(1))),
        [DomainEvent::Order(OrderEvent::OrderClosed(c))]
            if c.reason == crate::order::CloseReason::AmountMismatch
    ));
    assert!(matches!(
        decision.events_for(&product_stream(product_id(1))),
        [DomainEvent::Product(ProductEvent::StockReleased(r))] if r.quantity == 3 && r.stock_after == 10
    ));
    assert!(matches!(
        decision.events_for(&product_stream(product_id(2))),
        [DomainEvent::Product(ProductEvent::StockReleased(r))] if r.quantity == 1 && r.stock_after == 2
    ));
}

#[test]
fn a_cancel_decided_without_closing_at_wechat_is_refused_once_the_order_has_a_prepay_id() {
    // given: a placed order, which WeChat does not know yet
    let (order, tea, cup) = given_placed();
    let products = [(product_id(1), &tea), (product_id(2), &cup)];
    assert!(cancel_order(&order, &products, t(5), ClosedAtWechat::No).is_ok());
    // when: a /pay records a prepay id before the cancel decides
    let requested = Order::decide(&order, request_payment()).expect("requested");
    let order = requested.iter().fold(order, Order::evolve);
    // then: a cancel that did not close it at WeChat is refused, one that did is not
    assert_eq!(
        cancel_order(&order, &products, t(5), ClosedAtWechat::No),
        Err(DomainError::OpenAtWechat)
    );
    assert!(cancel_order(&order, &products, t(5), ClosedAtWechat::Yes).is_ok());
}
