//! [`DomainEvent`]: every event of every aggregate, as the log and auditors see them.
//!
//! Each event is a struct named in the past tense; its name is its stable
//! `event_type` in the log (see [`crate::codec`]). Serialising a `DomainEvent` gives
//! `{"type": "OrderPlaced", ...fields}`, the form audit output prints.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::claim::ClaimEvent;
use crate::codec::CodecError;
use crate::order::OrderEvent;
use crate::product::ProductEvent;
use crate::user::UserEvent;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum DomainEvent {
    User(UserEvent),
    Claim(ClaimEvent),
    Product(ProductEvent),
    Order(OrderEvent),
}

impl DomainEvent {
    /// The event's type name, e.g. `"OrderPlaced"`.
    pub fn event_type(&self) -> &'static str {
        crate::codec::event_type(self)
    }

    /// When the event was decided (the `at` of its command).
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Self::User(UserEvent::UserRegistered(e)) => e.at,
            Self::Claim(ClaimEvent::UsernameClaimed(e)) => e.at,
            Self::Claim(ClaimEvent::OpenIdClaimed(e)) => e.at,
            Self::Product(e) => match e {
                ProductEvent::ProductCreated(e) => e.at,
                ProductEvent::StockAdjusted(e) => e.at,
                ProductEvent::StockReserved(e) => e.at,
                ProductEvent::StockReleased(e) => e.at,
            },
            Self::Order(e) => match e {
                OrderEvent::OrderPlaced(e) => e.at,
                OrderEvent::PaymentRequested(e) => e.at,
                OrderEvent::PaymentConfirmed(e) => e.at,
                OrderEvent::PaymentAmountMismatch(e) => e.at,
                OrderEvent::LatePaymentReceived(e) => e.at,
                OrderEvent::OrderCancelled(e) => e.at,
                OrderEvent::OrderClosed(e) => e.at,
                OrderEvent::RefundRequested(e) => e.at,
                OrderEvent::RefundConfirmed(e) => e.at,
                OrderEvent::RefundFailed(e) => e.at,
                OrderEvent::DuplicatePaymentReceived(e) => e.at,
                OrderEvent::AnomalousPaymentRefundRequested(e) => e.at,
                OrderEvent::RefundConfirmedAfterFailure(e) => e.at,
                OrderEvent::RefundNeedsAttention(e) => e.at,
                OrderEvent::RefundAttentionResolved(e) => e.at,
                OrderEvent::OrderShipped(e) => e.at,
                OrderEvent::ShippingInfoUploaded(e) => e.at,
                OrderEvent::ShippingUploadFailed(e) => e.at,
                OrderEvent::ReceiptConfirmed(e) => e.at,
                OrderEvent::OrderSettled(e) => e.at,
            },
        }
    }
}

macro_rules! wrap {
    ($($variant:ident($inner:ident) = $name:literal),* $(,)?) => {$(
        impl From<$inner> for DomainEvent {
            fn from(event: $inner) -> Self {
                Self::$variant(event)
            }
        }

        /// Loading an aggregate: an event of another aggregate in its stream is an error.
        impl TryFrom<DomainEvent> for $inner {
            type Error = CodecError;

            fn try_from(event: DomainEvent) -> Result<Self, Self::Error> {
                match event {
                    DomainEvent::$variant(event) => Ok(event),
                    other => Err(CodecError::UnexpectedEvent {
                        event_type: other.event_type(),
                        aggregate: $name,
                    }),
                }
            }
        }
    )*};
}

wrap!(
    User(UserEvent) = "user",
    Claim(ClaimEvent) = "claim",
    Product(ProductEvent) = "product",
    Order(OrderEvent) = "order",
);
