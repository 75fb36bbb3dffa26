//! [`Command`]: a [`Step`] made concrete — real ids, amounts and instants — and the
//! deterministic ids the indices stand for.
//!
//! A step is made concrete against the model's state at the time it is sent (a
//! genuine notify pays the order's total as the model knows it; a refund of `Rest`
//! asks for what the model says is still refundable). The concrete command is what is
//! both executed and predicted, and what `Resend` sends again.

use chrono::{DateTime, Duration, Utc};
use paylog_core::checkout::{CartItem, Checkout};
use paylog_core::identity::{PasswordHash, Username};
use paylog_core::order::{
    AttentionResolution, DeliveryMode, LogisticsType, OrderCommand, Parcel, Shipment,
};
use paylog_core::payment_refs::{OutRefundNo, PrepayId, RefundId, TransactionId};
use paylog_core::product::CreateProduct;
use paylog_core::user::{Credentials, RegisterUser};
use paylog_core::{Fen, OrderId, ProductId, UserId};
use uuid::Uuid;

use super::notify::{self, Notify};
use super::push::{self, Push};
use super::reference::Model;
use super::step::{NotifyKind, O, P, R, RefundAmount, Step, Txn, U};

/// How long an order may wait for payment.
pub const PAYMENT_WINDOW: Duration = Duration::minutes(30);

/// A concrete command, ready to be executed by the engine and predicted by the model.
#[derive(Debug, Clone)]
pub enum Command {
    Register(RegisterUser),
    CreateProduct(CreateProduct),
    AdjustStock {
        product_id: ProductId,
        delta: i64,
        /// As the operator typed it: blank, padded, too long and hostile ones included.
        reason: String,
        at: DateTime<Utc>,
    },
    PlaceOrder(Checkout),
    Cancel {
        order_id: OrderId,
        /// Whether the canceller closed the order at WeChat first; without, a cancel
        /// of an order that has a prepay id is refused (`OpenAtWechat`).
        closed_at_wechat: bool,
        at: DateTime<Utc>,
    },
    Close {
        order_id: OrderId,
        at: DateTime<Utc>,
    },
    /// `RequestPayment` and the refund commands.
    OnOrder {
        order_id: OrderId,
        command: OrderCommand,
    },
    /// A notify body as it arrives over HTTP, and what it truly says.
    Notify(Notify),
    /// A message push as it arrives over HTTP, and what it truly says.
    Push(Push),
}

impl Command {
    /// The instant the command is issued at (its `CommandMeta::at`).
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Self::Register(c) => c.at,
            Self::CreateProduct(c) => c.at,
            Self::PlaceOrder(c) => c.at,
            Self::AdjustStock { at, .. } | Self::Cancel { at, .. } | Self::Close { at, .. } => *at,
            Self::OnOrder { command, .. } => match command {
                OrderCommand::PlaceOrder(c) => c.at,
                OrderCommand::RequestPayment { at, .. }
                | OrderCommand::ConfirmPayment { at, .. }
                | OrderCommand::CancelOrder { at }
                | OrderCommand::CloseOrder { at }
                | OrderCommand::RequestRefund { at, .. }
                | OrderCommand::ConfirmRefund { at, .. }
                | OrderCommand::FailRefund { at, .. }
                | OrderCommand::RefundAnomalousPayment { at, .. }
                | OrderCommand::MarkRefundNeedsAttention { at, .. }
                | OrderCommand::ResolveRefundAttention { at, .. }
                | OrderCommand::ShipOrder { at, .. }
                | OrderCommand::RecordShippingUpload { at, .. }
                | OrderCommand::FailShippingUpload { at, .. }
                | OrderCommand::ConfirmReceipt { at, .. }
                | OrderCommand::SettleOrder { at, .. } => *at,
            },
            Self::Notify(n) => n.at,
            Self::Push(p) => p.at,
        }
    }
}

fn id(kind: u128, index: u8) -> Uuid {
    // Version 7 and variant bits set, so the ids look like the ones the API mints.
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | (kind << 64) | u128::from(index))
}

pub fn user_id(u: U) -> UserId {
    UserId::from_uuid(id(0x1, u.0))
}

pub fn product_id(p: P) -> ProductId {
    ProductId::from_uuid(id(0x2, p.0))
}

pub fn order_id(o: O) -> OrderId {
    OrderId::from_uuid(id(0x3, o.0))
}

/// An order id no step ever places.
pub fn unknown_order_id() -> OrderId {
    OrderId::from_uuid(id(0x3, 200))
}

pub fn transaction_id(o: O, t: Txn) -> TransactionId {
    TransactionId::parse(&format!("4200000{:03}2024{:03}", o.0, t.0))
        .unwrap_or_else(|e| unreachable!("digits are a valid transaction id: {e}"))
}

pub fn out_refund_no(o: O, r: R) -> OutRefundNo {
    OutRefundNo::parse(&format!("RF{:03}x{:03}", o.0, r.0))
        .unwrap_or_else(|e| unreachable!("letters and digits are a valid refund no: {e}"))
}

fn refund_id(o: O, r: R) -> RefundId {
    RefundId::parse(&format!("5030000{:03}2024{:03}", o.0, r.0))
        .unwrap_or_else(|e| unreachable!("digits are a valid refund id: {e}"))
}

/// An express parcel whose tracking number is the order's and `tracking`'s.
fn shipment(o: O, tracking: u8) -> Shipment {
    Shipment {
        logistics_type: LogisticsType::Express,
        delivery_mode: DeliveryMode::Unified,
        parcels: vec![Parcel {
            tracking_no: Some(format!("SF{:03}{:03}", o.0, tracking)),
            express_company: Some("SF".into()),
            item_desc: "乌龙茶".into(),
        }],
        is_all_delivered: true,
    }
}

fn username(name: u8) -> Username {
    Username::parse(&format!("shopper{name}"))
        .unwrap_or_else(|e| unreachable!("a valid username: {e}"))
}

fn password_hash() -> PasswordHash {
    PasswordHash::parse("$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$R2V0IHlvdXIgb3duIGhhc2g")
        .unwrap_or_else(|e| unreachable!("a PHC string: {e}"))
}

/// Makes `step` concrete at instant `now`, against what `model` knows. `Resend` and
/// `Concurrently` are not single commands and are handled by the world.
pub fn concretize(step: &Step, model: &Model, now: DateTime<Utc>) -> Option<Command> {
    let command = match *step {
        Step::Register { user, name } => Command::Register(RegisterUser {
            user_id: user_id(user),
            credentials: Credentials::Password {
                username: username(name),
                password_hash: password_hash(),
            },
            at: now,
        }),
        Step::CreateProduct {
            product,
            price,
            stock,
        } => Command::CreateProduct(CreateProduct {
            product_id: product_id(product),
            name: format!("乌龙茶 {}号", product.0),
            price: Fen::new(price),
            stock,
            at: now,
        }),
        Step::AdjustStock {
            product,
            delta,
            ref reason,
        } => Command::AdjustStock {
            product_id: product_id(product),
            delta,
            reason: reason.clone(),
            at: now,
        },
        Step::PlaceOrder {
            order,
            user,
            ref cart,
        } => Command::PlaceOrder(Checkout {
            order_id: order_id(order),
            user_id: user_id(user),
            items: cart
                .iter()
                .map(|line| CartItem {
                    product_id: product_id(line.1),
                    quantity: line.0,
                })
                .collect(),
            expires_at: now + PAYMENT_WINDOW,
            at: now,
        }),
        Step::RequestPayment { order, v3 } => Command::OnOrder {
            order_id: order_id(order),
            command: OrderCommand::RequestPayment {
                prepay_id: PrepayId::parse(&format!("wx{:03}prepay{}", order.0, now.timestamp()))
                    .unwrap_or_else(|e| unreachable!("a valid prepay id: {e}")),
                valid_until: now + Duration::hours(2),
                api: if v3 {
                    paylog_core::payment_refs::PayApi::V3
                } else {
                    paylog_core::payment_refs::PayApi::V2
                },
                at: now,
            },
        },
        Step::Notify {
            order,
            txn,
            kind,
            v3,
        } => {
            let total = model.orders.get(&order_id(order)).map_or(100, |o| o.total);
            let (target, amount) = match kind {
                NotifyKind::Genuine | NotifyKind::ForgedSign | NotifyKind::TamperedAmount => {
                    (order_id(order), total)
                }
                NotifyKind::Overpaid => (order_id(order), total + 1),
                NotifyKind::Underpaid => (order_id(order), total.saturating_sub(1).max(1)),
                NotifyKind::UnknownOrder => (unknown_order_id(), total),
            };
            Command::Notify(notify::build(
                target,
                transaction_id(order, txn),
                amount,
                kind,
                v3,
                now,
            ))
        }
        Step::Cancel {
            order,
            closed_at_wechat,
        } => Command::Cancel {
            order_id: order_id(order),
            closed_at_wechat,
            at: now,
        },
        Step::Close { order, late } => {
            let expires_at = model.orders.get(&order_id(order)).map(|o| o.expires_at);
            Command::Close {
                order_id: order_id(order),
                at: match expires_at {
                    Some(expires_at) if late => expires_at.max(now),
                    _ => now,
                },
            }
        }
        Step::RequestRefund {
            order,
            refund,
            amount,
            ..
        } => {
            let refundable = model
                .orders
                .get(&order_id(order))
                .map_or(0, |o| o.refundable());
            let amount = match amount {
                RefundAmount::Quarter => (refundable / 4).max(1),
                RefundAmount::Rest => refundable,
                RefundAmount::OneFenTooMuch => refundable + 1,
            };
            Command::OnOrder {
                order_id: order_id(order),
                command: OrderCommand::RequestRefund {
                    out_refund_no: out_refund_no(order, refund),
                    amount: Fen::new(amount),
                    reason: "顾客退货".into(),
                    at: now,
                },
            }
        }
        Step::ConfirmRefund {
            order,
            refund,
            wrong_amount,
        } => {
            let requested = model
                .orders
                .get(&order_id(order))
                .and_then(|o| o.refund(&out_refund_no(order, refund)))
                .map_or(1, |r| r.amount);
            Command::OnOrder {
                order_id: order_id(order),
                command: OrderCommand::ConfirmRefund {
                    out_refund_no: out_refund_no(order, refund),
                    refund_id: refund_id(order, refund),
                    amount: Fen::new(if wrong_amount {
                        requested + 1
                    } else {
                        requested
                    }),
                    at: now,
                },
            }
        }
        Step::FailRefund { order, refund } => Command::OnOrder {
            order_id: order_id(order),
            command: OrderCommand::FailRefund {
                out_refund_no: out_refund_no(order, refund),
                reason: "REFUNDCLOSE".into(),
                at: now,
            },
        },
        Step::MarkAttention { order, refund } => Command::OnOrder {
            order_id: order_id(order),
            command: OrderCommand::MarkRefundNeedsAttention {
                out_refund_no: out_refund_no(order, refund),
                reason: "CHANGE".into(),
                at: now,
            },
        },
        Step::Resolve {
            order,
            refund,
            otherwise,
        } => Command::OnOrder {
            order_id: order_id(order),
            command: OrderCommand::ResolveRefundAttention {
                out_refund_no: out_refund_no(order, refund),
                resolution: if otherwise {
                    AttentionResolution::RefundedOtherwise
                } else {
                    AttentionResolution::Retried
                },
                note: "处理完毕".into(),
                at: now,
            },
        },
        Step::RefundAnomaly { order, txn, refund } => Command::OnOrder {
            order_id: order_id(order),
            command: OrderCommand::RefundAnomalousPayment {
                transaction_id: transaction_id(order, txn),
                out_refund_no: out_refund_no(order, refund),
                reason: "退回异常支付".into(),
                at: now,
            },
        },
        Step::Ship { order, tracking } => Command::OnOrder {
            order_id: order_id(order),
            command: OrderCommand::ShipOrder {
                shipment: shipment(order, tracking),
                at: now,
            },
        },
        Step::UploadOutcome {
            order,
            accepted,
            stale,
        } => {
            let current = model
                .orders
                .get(&order_id(order))
                .and_then(|o| o.shipping.as_ref())
                .map_or(1, |s| s.revision);
            let revision = if stale {
                current.saturating_sub(1)
            } else {
                current
            };
            Command::OnOrder {
                order_id: order_id(order),
                command: if accepted {
                    OrderCommand::RecordShippingUpload { revision, at: now }
                } else {
                    OrderCommand::FailShippingUpload {
                        revision,
                        errcode: 10060014,
                        errmsg: "参数错误".into(),
                        at: now,
                    }
                },
            }
        }
        Step::ConfirmReceipt { order } => Command::OnOrder {
            order_id: order_id(order),
            command: OrderCommand::ConfirmReceipt {
                confirmed_at: now,
                at: now,
            },
        },
        Step::SettleShipping { order } => Command::OnOrder {
            order_id: order_id(order),
            command: OrderCommand::SettleOrder {
                settled_at: now,
                at: now,
            },
        },
        Step::SettlementPush { order, kind } => {
            // WeChat pushes about the transaction that paid the order.
            let txn = model
                .orders
                .get(&order_id(order))
                .and_then(|o| o.payment.as_ref())
                .map_or_else(|| transaction_id(order, Txn(0)), |(t, _)| t.clone());
            Command::Push(push::build(order_id(order), txn, kind, now))
        }
        Step::Resend { .. } | Step::Concurrently(..) => return None,
    };
    Some(command)
}
