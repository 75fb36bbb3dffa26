//! [`CommandKey`]: every command id (and order id, refund number) derived from a
//! fact that may arrive more than once.
//!
//! A WeChat notify, a reconciler run and a client retry can all report the same
//! fact; each derives the command id from the fact's own reference, so the log's
//! command-id check appends it once. Two places that must agree on an id (a refund
//! refused synchronously and the same refund failed by its notify) name the same
//! variant here instead of spelling the same `format!` string in two files.
//!
//! The spelled-out names are part of the log: ids already recorded were derived
//! from them, so they never change (the unit tests pin them).

use std::fmt;

use paylog_core::payment_refs::{OutRefundNo, PrepayId, TransactionId};
use paylog_core::{OrderId, ProductId, UserId};
use uuid::Uuid;

/// The namespace of every derived id (uuid v5).
const NAMESPACE: Uuid = Uuid::from_u128(0x6f1b_3c55_9d0e_4b7a_a1f2_5e8c_0d3b_7a49);

/// A fact that names a command (or an id) deterministically.
#[derive(Debug, Clone, Copy)]
pub enum CommandKey<'a> {
    /// The product an admin's `Idempotency-Key` names: a retried create names it again.
    ProductFor { idempotency_key: &'a str },
    /// The CreateProduct command of that product.
    CreateProduct { idempotency_key: &'a str },
    /// An admin's stock adjustment of a product under an `Idempotency-Key`.
    AdjustStock {
        product: ProductId,
        idempotency_key: &'a str,
    },
    /// The order a user's `Idempotency-Key` names: a retried POST names the same order.
    OrderFor {
        user: UserId,
        idempotency_key: &'a str,
    },
    /// The PlaceOrder command of that order.
    PlaceOrder {
        user: UserId,
        idempotency_key: &'a str,
    },
    /// The refund number an admin's `Idempotency-Key` names for an order.
    RefundNumberFor {
        order: OrderId,
        idempotency_key: &'a str,
    },
    /// RequestPayment for a prepay id WeChat handed out.
    RequestPayment {
        order: OrderId,
        prepay_id: &'a PrepayId,
    },
    /// ConfirmPayment for WeChat's transaction id.
    ConfirmPayment {
        order: OrderId,
        transaction_id: &'a TransactionId,
    },
    /// RequestRefund for a refund number.
    RequestRefund {
        order: OrderId,
        out_refund_no: &'a OutRefundNo,
    },
    /// ConfirmRefund for a refund number.
    ConfirmRefund {
        order: OrderId,
        out_refund_no: &'a OutRefundNo,
    },
    /// FailRefund for a refund number (refused synchronously or by its notify).
    FailRefund {
        order: OrderId,
        out_refund_no: &'a OutRefundNo,
    },
    /// The refund number an admin's `Idempotency-Key` names for one anomalous payment.
    AnomalyRefundNumberFor {
        order: OrderId,
        transaction_id: &'a TransactionId,
        idempotency_key: &'a str,
    },
    /// RefundAnomalousPayment for a refund number.
    RefundAnomalousPayment {
        order: OrderId,
        out_refund_no: &'a OutRefundNo,
    },
    /// An admin's ShipOrder under an `Idempotency-Key`: a retried POST ships once.
    ShipOrder {
        order: OrderId,
        idempotency_key: &'a str,
    },
}

impl CommandKey<'_> {
    /// The derived id: uuid v5 of the key's spelled-out name.
    pub fn id(&self) -> Uuid {
        Uuid::new_v5(&NAMESPACE, self.to_string().as_bytes())
    }
}

impl fmt::Display for CommandKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ProductFor { idempotency_key } => write!(f, "product:{idempotency_key}"),
            Self::CreateProduct { idempotency_key } => {
                write!(f, "create-product:{idempotency_key}")
            }
            Self::AdjustStock {
                product,
                idempotency_key,
            } => write!(f, "adjust-stock:{product}:{idempotency_key}"),
            Self::OrderFor {
                user,
                idempotency_key,
            } => write!(f, "order:{user}:{idempotency_key}"),
            Self::PlaceOrder {
                user,
                idempotency_key,
            } => write!(f, "place-order:{user}:{idempotency_key}"),
            Self::RefundNumberFor {
                order,
                idempotency_key,
            } => write!(f, "refund:{order}:{idempotency_key}"),
            Self::RequestPayment { order, prepay_id } => {
                write!(f, "request-payment:{order}:{prepay_id}")
            }
            Self::ConfirmPayment {
                order,
                transaction_id,
            } => write!(f, "confirm-payment:{order}:{transaction_id}"),
            Self::RequestRefund {
                order,
                out_refund_no,
            } => write!(f, "request-refund:{order}:{out_refund_no}"),
            Self::ConfirmRefund {
                order,
                out_refund_no,
            } => write!(f, "ConfirmRefund:{order}:{out_refund_no}"),
            Self::FailRefund {
                order,
                out_refund_no,
            } => write!(f, "FailRefund:{order}:{out_refund_no}"),
            Self::AnomalyRefundNumberFor {
                order,
                transaction_id,
                idempotency_key,
            } => write!(
                f,
                "anomaly-refund:{order}:{transaction_id}:{idempotency_key}"
            ),
            Self::RefundAnomalousPayment {
                order,
                out_refund_no,
            } => write!(f, "refund-anomaly:{order}:{out_refund_no}"),
            Self::ShipOrder {
                order,
                idempotency_key,
            } => write!(f, "ship-order:{order}:{idempotency_key}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names are part of recorded logs: pin them.
    #[test]
    fn names_are_stable() {
        let order = OrderId::from_uuid(Uuid::nil());
        let user = UserId::from_uuid(Uuid::nil());
        let Ok(no) = OutRefundNo::parse("R1") else {
            panic!("a valid refund number");
        };
        let nil = Uuid::nil();
        assert_eq!(
            CommandKey::FailRefund {
                order,
                out_refund_no: &no
            }
            .to_string(),
            format!("FailRefund:{nil}:R1")
        );
        assert_eq!(
            CommandKey::RefundAnomalousPayment {
                order,
                out_refund_no: &no
            }
            .to_string(),
            format!("refund-anomaly:{nil}:R1")
        );
        assert_eq!(
            CommandKey::PlaceOrder {
                user,
                idempotency_key: "k"
            }
            .to_string(),
            format!("place-order:{nil}:k")
        );
        assert_eq!(
            CommandKey::ShipOrder {
                order,
                idempotency_key: "k"
            }
            .to_string(),
            format!("ship-order:{nil}:k")
        );
        assert_eq!(
            CommandKey::AdjustStock {
                product: ProductId::from_uuid(nil),
                idempotency_key: "k"
            }
            .to_string(),
            format!("adjust-stock:{nil}:k")
        );
        assert_eq!(
            CommandKey::CreateProduct {
                idempotency_key: "k"
            }
            .to_string(),
            "create-product:k"
        );
        assert_eq!(
            CommandKey::ProductFor {
                idempotency_key: "k"
            }
            .to_string(),
            "product:k"
        );
        assert_eq!(
            CommandKey::OrderFor {
                user,
                idempotency_key: "k"
            }
            .id(),
            Uuid::new_v5(&NAMESPACE, format!("order:{nil}:k").as_bytes())
        );
    }
}
