//! Fixtures shared by the unit tests: fixed ids and instants (core has no clock).

use chrono::{DateTime, Duration, TimeZone, Utc};
use uuid::Uuid;

use crate::aggregate::Aggregate;
use crate::ids::{OrderId, ProductId, UserId};
use crate::money::Fen;
use crate::order::{AttentionResolution, LineDraft, Order, OrderCommand, OrderEvent, PlaceOrder};
use crate::payment_refs::{OutRefundNo, PrepayId, RefundId, TransactionId};

/// 2024-05-01 12:00:00 UTC, the "now" of every test.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

/// `t0` plus some minutes.
pub fn t(minutes: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(minutes)
}

pub fn user_id(n: u128) -> UserId {
    UserId::from_uuid(Uuid::from_u128(0x0100 << 64 | n))
}

pub fn product_id(n: u128) -> ProductId {
    ProductId::from_uuid(Uuid::from_u128(0x0200 << 64 | n))
}

pub fn order_id(n: u128) -> OrderId {
    OrderId::from_uuid(Uuid::from_u128(0x0300 << 64 | n))
}

// --- order fixtures -------------------------------------------------------

/// The total of [`place_cmd`]: 2 × 1000 + 1 × 500 fen.
pub const TOTAL: u64 = 2 * 1000 + 500;

pub fn place_cmd() -> OrderCommand {
    OrderCommand::PlaceOrder(PlaceOrder {
        order_id: order_id(1),
        user_id: user_id(1),
        lines: vec![
            LineDraft {
                product_id: product_id(1),
                product_name: "Oolong".into(),
                unit_price: Fen::new(1000),
                quantity: 2,
            },
            LineDraft {
                product_id: product_id(2),
                product_name: "Cup".into(),
                unit_price: Fen::new(500),
                quantity: 1,
            },
        ],
        expires_at: t(30),
        at: t0(),
    })
}

pub fn txn(n: u32) -> TransactionId {
    TransactionId::parse(&format!("42000000{n:020}")).expect("valid")
}

pub fn refund_no(n: u32) -> OutRefundNo {
    OutRefundNo::parse(&format!("R{n}")).expect("valid")
}

pub fn request_payment() -> OrderCommand {
    OrderCommand::RequestPayment {
        prepay_id: PrepayId::parse("wx201410272009395522657a690389285100").expect("valid"),
        valid_until: t(120),
        api: Default::default(),
        at: t(1),
    }
}

pub fn confirm(n: u32, amount: u64) -> OrderCommand {
    OrderCommand::ConfirmPayment {
        transaction_id: txn(n),
        amount: Fen::new(amount),
        paid_at: t(2),
        at: t(2),
    }
}

pub fn request_refund(n: u32, amount: u64) -> OrderCommand {
    OrderCommand::RequestRefund {
        out_refund_no: refund_no(n),
        amount: Fen::new(amount),
        reason: "damaged".into(),
        at: t(60),
    }
}

pub fn confirm_refund(n: u32, amount: u64) -> OrderCommand {
    OrderCommand::ConfirmRefund {
        out_refund_no: refund_no(n),
        refund_id: RefundId::parse(&format!("5000{n:010}")).expect("valid"),
        amount: Fen::new(amount),
        at: t(61),
    }
}

pub fn fail_refund(n: u32) -> OrderCommand {
    OrderCommand::FailRefund {
        out_refund_no: refund_no(n),
        reason: "REFUNDCLOSE".into(),
        at: t(61),
    }
}

/// WeChat's `refund_status=CHANGE` for refund `n`.
pub fn needs_attention(n: u32) -> OrderCommand {
    OrderCommand::MarkRefundNeedsAttention {
        out_refund_no: refund_no(n),
        reason: "CHANGE".into(),
        at: t(62),
    }
}

/// An operator resolves refund `n`.
pub fn resolve(n: u32, resolution: AttentionResolution) -> OrderCommand {
    OrderCommand::ResolveRefundAttention {
        out_refund_no: refund_no(n),
        resolution,
        note: "refunded at the merchant platform".into(),
        at: t(90),
    }
}

/// An admin refunds the anomalous transaction `txn(transaction)` as refund `n`.
pub fn refund_anomaly(transaction: u32, n: u32) -> OrderCommand {
    OrderCommand::RefundAnomalousPayment {
        transaction_id: txn(transaction),
        out_refund_no: refund_no(n),
        reason: "paid twice".into(),
        at: t(60),
    }
}

/// Runs commands through `decide` from an empty stream, failing the test on any
/// refusal: fixtures are real histories, not hand-written events.
pub fn history(commands: Vec<OrderCommand>) -> Vec<OrderEvent> {
    let mut events = Vec::new();
    for command in commands {
        let name = command.name();
        let state = Order::fold(&events);
        match Order::decide(&state, command) {
            Ok(new) => events.extend(new),
            Err(e) => panic!("fixture command {name} refused: {e}"),
        }
    }
    events
}

// --- product fixtures -----------------------------------------------------

/// A product created through `decide`, with the given price and stock.
pub fn product(n: u128, price: u64, stock: u64) -> crate::product::ProductState {
    use crate::product::{CreateProduct, Product, ProductCommand};
    let create = ProductCommand::CreateProduct(CreateProduct {
        product_id: product_id(n),
        name: format!("Product {n}"),
        price: Fen::new(price),
        stock,
        at: t0(),
    });
    let events = Product::decide(&None, create).unwrap_or_default();
    match Product::fold(&events) {
        Some(state) => state,
        None => panic!("fixture product {n} refused"),
    }
}

/// An express shipment of one parcel with tracking number `n`.
pub fn shipment(n: u32) -> crate::order::Shipment {
    use crate::order::{DeliveryMode, LogisticsType, Parcel, Shipment};
    Shipment {
        logistics_type: LogisticsType::Express,
        delivery_mode: DeliveryMode::Unified,
        parcels: vec![Parcel {
            tracking_no: Some(format!("SF{n:010}")),
            express_company: Some("SF".into()),
            item_desc: "Green tea ×2".into(),
        }],
        is_all_delivered: true,
    }
}

pub fn ship(n: u32) -> OrderCommand {
    OrderCommand::ShipOrder {
        shipment: shipment(n),
        at: t(70),
    }
}

pub fn shipping_uploaded(revision: u32) -> OrderCommand {
    OrderCommand::RecordShippingUpload {
        revision,
        at: t(71),
    }
}

pub fn shipping_failed(revision: u32) -> OrderCommand {
    OrderCommand::FailShippingUpload {
        revision,
        errcode: 10060014,
        errmsg: "param error".into(),
        at: t(71),
    }
}

pub fn confirm_receipt() -> OrderCommand {
    OrderCommand::ConfirmReceipt {
        confirmed_at: t(2000),
        at: t(2001),
    }
}

pub fn settle() -> OrderCommand {
    OrderCommand::SettleOrder {
        settled_at: t(3000),
        at: t(3001),
    }
}
