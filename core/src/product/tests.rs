//! given(events) / when(command) / then(events or error) for the product aggregate.

use super::*;
use crate::money::Fen;
use crate::testkit::{order_id, product_id, t0};

fn created(stock: u64) -> ProductEvent {
    ProductEvent::ProductCreated(ProductCreated {
        product_id: product_id(1),
        name: "Oolong tea".into(),
        price: Fen::new(1999),
        stock,
        at: t0(),
    })
}

fn given(events: &[ProductEvent]) -> Option<ProductState> {
    Product::fold(events)
}

fn create_cmd(name: &str, price: u64) -> ProductCommand {
    ProductCommand::CreateProduct(CreateProduct {
        product_id: product_id(1),
        name: name.into(),
        price: Fen::new(price),
        stock: 10,
        at: t0(),
    })
}

fn adjust(delta: i64, reason: &str) -> ProductCommand {
    ProductCommand::AdjustStock {
        delta,
        reason: reason.into(),
        at: t0(),
    }
}

fn reserve(quantity: u32) -> ProductCommand {
    ProductCommand::ReserveStock {
        order_id: order_id(1),
        quantity,
        at: t0(),
    }
}

#[test]
fn when_create_then_product_created_with_trimmed_name() {
    assert_eq!(
        Product::decide(&given(&[]), create_cmd("  Oolong tea ", 1999)),
        Ok(vec![created(10)])
    );
    let state = given(&[created(10)]).expect("created");
    assert_eq!((state.price, state.stock), (Fen::new(1999), 10));
}

#[test]
fn create_validates_name_and_price_and_existence() {
    let none = given(&[]);
    assert_eq!(
        Product::decide(&none, create_cmd("   ", 1)),
        Err(DomainError::InvalidProductName)
    );
    let long = "茶".repeat(MAX_NAME_CHARS + 1);
    assert_eq!(
        Product::decide(&none, create_cmd(&long, 1)),
        Err(DomainError::InvalidProductName)
    );
    assert!(Product::decide(&none, create_cmd(&"茶".repeat(MAX_NAME_CHARS), 1)).is_ok());
    assert_eq!(
        Product::decide(&none, create_cmd("Tea", 0)),
        Err(DomainError::InvalidPrice)
    );
    assert_eq!(
        Product::decide(&given(&[created(1)]), create_cmd("Tea", 1)),
        Err(DomainError::AlreadyExists {
            aggregate: "product"
        })
    );
    assert_eq!(
        Product::decide(&none, reserve(1)),
        Err(DomainError::NotFound {
            aggregate: "product"
        })
    );
}

#[test]
fn adjust_stock_up_and_down_but_never_below_zero() {
    let state = given(&[created(5)]);
    let adjust = |delta| adjust(delta, "stock-take");
    assert_eq!(
        Product::decide(&state, adjust(-5)),
        Ok(vec![ProductEvent::StockAdjusted(StockAdjusted {
            product_id: product_id(1),
            delta: -5,
            stock_after: 0,
            reason: "stock-take".into(),
            at: t0(),
        })])
    );
    assert_eq!(
        Product::decide(&state, adjust(-6)),
        Err(DomainError::StockWouldGoNegative {
            product_id: product_id(1),
            delta: -6,
            stock: 5,
        })
    );
    assert!(matches!(
        Product::decide(&state, adjust(i64::MIN)),
        Err(DomainError::StockWouldGoNegative { .. })
    ));
    assert_eq!(
        Product::decide(&state, adjust(0)),
        Err(DomainError::ZeroStockAdjustment)
    );
    let events = Product::decide(&state, adjust(7)).expect("decides");
    let after = Product::fold(std::iter::once(&created(5)).chain(&events));
    assert_eq!(after.map(|p| p.stock), Some(12));
    let full = given(&[created(u64::MAX)]);
    assert_eq!(
        Product::decide(&full, adjust(1)),
        Err(DomainError::StockOverflow {
            product_id: product_id(1)
        })
    );
}

#[test]
fn when_adjust_with_a_reason_then_the_event_keeps_it_trimmed() {
    let state = given(&[created(5)]);
    let events =
        Product::decide(&state, adjust(3, "  delivery 茶 <b>#12</b>\n ")).expect("decides");
    assert_eq!(
        events,
        vec![ProductEvent::StockAdjusted(StockAdjusted {
            product_id: product_id(1),
            delta: 3,
            stock_after: 8,
            reason: "delivery 茶 <b>#12</b>".into(),
            at: t0(),
        })]
    );
    // Exactly the limit, counted in characters rather than bytes, is accepted.
    let longest = "茶".repeat(MAX_ADJUSTMENT_REASON_CHARS);
    assert!(Product::decide(&state, adjust(1, &longest)).is_ok());
}

#[test]
fn adjust_without_a_usable_reason_is_refused_before_anything_else() {
    let state = given(&[created(5)]);
    let too_long = "x".repeat(MAX_ADJUSTMENT_REASON_CHARS + 1);
    for reason in ["", "   ", "\n\t", too_long.as_str()] {
        // Even a change that would also be refused for its delta: the reason is
        // checked first, so the refusal names what the operator must fix first.
        for delta in [1, 0, -6] {
            assert_eq!(
                Product::decide(&state, adjust(delta, reason)),
                Err(DomainError::InvalidStockAdjustmentReason),
                "{reason:?} {delta}"
            );
        }
    }
    // Padding does not count towards the limit: it is trimmed away.
    let padded = format!("  {}  ", "x".repeat(MAX_ADJUSTMENT_REASON_CHARS));
    assert!(Product::decide(&state, adjust(1, &padded)).is_ok());
}

#[test]
fn reserve_takes_stock_and_refuses_more_than_available() {
    let state = given(&[created(3)]);
    assert_eq!(
        Product::decide(&state, reserve(3)),
        Ok(vec![ProductEvent::StockReserved(StockReserved {
            product_id: product_id(1),
            order_id: order_id(1),
            quantity: 3,
            stock_after: 0,
            at: t0(),
        })])
    );
    assert_eq!(
        Product::decide(&state, reserve(4)),
        Err(DomainError::InsufficientStock {
            product_id: product_id(1),
            requested: 4,
            available: 3,
        })
    );
    assert_eq!(
        Product::decide(&state, reserve(0)),
        Err(DomainError::InvalidQuantity {
            product_id: product_id(1)
        })
    );
}

#[test]
fn release_gives_stock_back() {
    let reserved = ProductEvent::StockReserved(StockReserved {
        product_id: product_id(1),
        order_id: order_id(1),
        quantity: 2,
        stock_after: 1,
        at: t0(),
    });
    let state = given(&[created(3), reserved]);
    assert_eq!(state.as_ref().map(|p| p.stock), Some(1));
    let release = ProductCommand::ReleaseStock {
        order_id: order_id(1),
        quantity: 2,
        at: t0(),
    };
    assert_eq!(
        Product::decide(&state, release),
        Ok(vec![ProductEvent::StockReleased(StockReleased {
            product_id: product_id(1),
            order_id: order_id(1),
            quantity: 2,
            stock_after: 3,
            at: t0(),
        })])
    );
}

proptest::proptest! {
    /// Whatever sequence of commands is thrown at a product, the decided events
    /// keep stock equal to the arithmetic of their deltas, and never below zero.
    #[test]
    fn stock_never_goes_below_zero(
        initial in 0u64..50,
        ops in proptest::collection::vec((0u8..3, -60i64..60), 0..40),
    ) {
        let mut events = vec![created(initial)];
        let mut expected = i128::from(initial);
        for (kind, n) in ops {
            let state = Product::fold(&events);
            let quantity = u32::try_from(n.unsigned_abs()).unwrap_or(u32::MAX);
            let command = match kind {
                0 => adjust(n, "count"),
                1 => reserve(quantity),
                _ => ProductCommand::ReleaseStock { order_id: order_id(1), quantity, at: t0() },
            };
            if let Ok(new) = Product::decide(&state, command) {
                for e in &new {
                    expected += match e {
                        ProductEvent::StockAdjusted(e) => i128::from(e.delta),
                        ProductEvent::StockReserved(e) => -i128::from(e.quantity),
                        ProductEvent::StockReleased(e) => i128::from(e.quantity),
                        ProductEvent::ProductCreated(_) => 0,
                    };
                }
                events.extend(new);
            }
            let stock = Product::fold(&events).map(|p| p.stock);
            proptest::prop_assert!(expected >= 0);
            proptest::prop_assert_eq!(stock.map(i128::from), Some(expected));
        }
    }
}
