//! `DomainError`: every reason the domain refuses a command or an input.
//!
//! Messages are written for the API's clients and for auditors: they name the thing
//! refused and why, and never include secrets (password hashes never appear).

use chrono::{DateTime, Utc};

use crate::identity::{OpenId, Username};
use crate::ids::ProductId;
use crate::money::Fen;
use crate::order::OrderStatus;
use crate::payment_refs::{OutRefundNo, TransactionId};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    // --- malformed input -------------------------------------------------------
    #[error("invalid {kind}: {value:?}")]
    InvalidId { kind: &'static str, value: String },
    #[error("invalid out_trade_no {0:?}: 1 to 32 characters of [A-Za-z0-9_-]")]
    InvalidOutTradeNo(String),
    #[error("invalid username {0:?}: 3 to 32 characters of letters, digits, '_', '-' or '.'")]
    InvalidUsername(String),
    #[error("invalid openid {0:?}")]
    InvalidOpenId(String),
    #[error("password hash is not an argon2id PHC string")]
    InvalidPasswordHash,
    #[error("invalid {kind}: {value:?}")]
    InvalidReference { kind: &'static str, value: String },

    // --- existence -------------------------------------------------------------
    #[error("{aggregate} not found")]
    NotFound { aggregate: &'static str },
    #[error("{aggregate} already exists")]
    AlreadyExists { aggregate: &'static str },
    #[error("product {0} not found")]
    ProductNotFound(ProductId),

    // --- users -----------------------------------------------------------------
    #[error("username {0} is already taken")]
    UsernameTaken(Username),
    #[error("this WeChat account is already registered")]
    OpenIdTaken(OpenId),

    // --- products and stock ----------------------------------------------------
    #[error("product name must be 1 to 100 characters")]
    InvalidProductName,
    #[error("price must be more than 0 fen")]
    InvalidPrice,
    #[error("a stock adjustment of 0 changes nothing")]
    ZeroStockAdjustment,
    #[error(
        "a stock adjustment needs a reason of 1 to {} characters",
        crate::product::MAX_ADJUSTMENT_REASON_CHARS
    )]
    InvalidStockAdjustmentReason,
    #[error("product {product_id}: adjusting stock {stock} by {delta} would leave it below zero")]
    StockWouldGoNegative {
        product_id: ProductId,
        delta: i64,
        stock: u64,
    },
    #[error("product {product_id}: stock would overflow")]
    StockOverflow { product_id: ProductId },
    #[error("product {product_id}: {requested} requested, only {available} available")]
    InsufficientStock {
        product_id: ProductId,
        requested: u32,
        available: u64,
    },
    #[error("quantity must be at least 1 (product {product_id})")]
    InvalidQuantity { product_id: ProductId },

    // --- orders ----------------------------------------------------------------
    #[error("an order needs at least one line")]
    EmptyOrder,
    #[error("an order has at most {max} lines, got {count}")]
    TooManyLines { count: usize, max: usize },
    #[error("product {0} appears twice in the order")]
    DuplicateLine(ProductId),
    #[error("amount overflows")]
    AmountOverflow,
    #[error("the order must expire after it is placed")]
    InvalidExpiry,
    #[error("{command} is not allowed on an order that is {from}")]
    InvalidTransition {
        from: OrderStatus,
        command: &'static str,
    },
    #[error("the order expired at {expires_at}")]
    OrderExpired { expires_at: DateTime<Utc> },
    /// A cancel decided on a state without a prepay id, while the order now has one:
    /// the order may be open at WeChat, so it must be closed there first.
    #[error("the order has a prepay id: close it at WeChat before cancelling it")]
    OpenAtWechat,
    #[error("the order cannot be closed before it expires at {expires_at}")]
    NotYetExpired { expires_at: DateTime<Utc> },
    #[error("the prepay id must be valid after it is requested")]
    InvalidPrepayValidity,
    #[error("the order was already paid by transaction {transaction_id}")]
    AlreadyPaid { transaction_id: TransactionId },

    // --- refunds ---------------------------------------------------------------
    #[error("a refund must be more than 0 fen")]
    InvalidRefundAmount,
    #[error("refund of {requested} fen exceeds the {refundable} fen still refundable")]
    RefundExceedsPaid { requested: Fen, refundable: Fen },
    #[error("refund reason must be at most 80 characters")]
    InvalidRefundReason,
    #[error("refund {0} was already requested with a different amount")]
    DuplicateRefundNo(OutRefundNo),
    #[error("refund {0} is unknown for this order")]
    UnknownRefund(OutRefundNo),
    #[error("refund {out_refund_no}: expected {expected} fen, WeChat reports {received} fen")]
    RefundAmountMismatch {
        out_refund_no: OutRefundNo,
        expected: Fen,
        received: Fen,
    },
    #[error("refund {0} has already failed")]
    RefundAlreadyFailed(OutRefundNo),
    #[error("refund {0} has already been confirmed")]
    RefundAlreadyConfirmed(OutRefundNo),
    /// A retry of a refund number WeChat definitively refused: never sent again (the
    /// API answers 409); a new refund needs a new number.
    #[error("refund {0} was refused by WeChat; request a new refund with a new number")]
    RefundNoAlreadyFailed(OutRefundNo),
    #[error("refund {0} does not need attention")]
    RefundNotNeedingAttention(OutRefundNo),

    // --- anomalous payments ------------------------------------------------------
    #[error("no anomalous payment with transaction {0} on this order")]
    UnknownAnomaly(TransactionId),
    #[error("anomalous payment {transaction_id} is already refunded by {out_refund_no}")]
    AnomalyAlreadyRefunded {
        transaction_id: TransactionId,
        out_refund_no: OutRefundNo,
    },

    // --- shipping ----------------------------------------------------------------
    #[error(transparent)]
    Shipping(#[from] crate::order::ShippingError),

    // --- audits ----------------------------------------------------------------
    #[error("invariant violated: {0}")]
    InvariantViolated(String),
}
