//! The codec between [`DomainEvent`] and the store's opaque envelopes.
//!
//! An envelope is `(event_type, schema_version, payload)`: the type name of the event
//! (`"OrderPlaced"`, never renamed), the version of its shape, and its fields, in
//! JSON or in a binary encoding (see *Payload encodings* below).
//!
//! **Schema evolution.** When an event's shape changes, its version goes up and
//! [`decode`] keeps reading every older version by *upcasting* it to the current
//! shape, so old logs stay readable forever and `evolve` only knows the newest shape.
//! Upcasts so far:
//!
//! - `OrderPlaced` v1 → v2: v1 had no `expires_at`. Orders of that era all used
//!   WeChat's default two-hour payment window (the life of a prepay id), so the
//!   upcast sets `expires_at = at + 2h` ([`ORDER_PLACED_V1_PAYMENT_WINDOW`]).
//! - `OrderClosed` v1 → v2: v1 had no `reason`. Before v2 the only way to close an
//!   order was its payment window passing, so the upcast sets `reason = Expired`.
//! - `StockAdjusted` v1 → v2: v1 had no `reason`. Nobody knows why those adjustments
//!   were made, and inventing one (a delivery, a stock-take) would put a false fact in
//!   an audit, so the upcast sets a fixed marker that says exactly that
//!   ([`STOCK_ADJUSTED_V1_REASON`]); an operator can tell it from any real reason.
//!
//! Events added later start at v1 and change nothing about older events: a log
//! written before them decodes to exactly the events it always did.
//!
//! **Payload encodings.** A payload's first byte says how it is encoded
//! ([`PayloadEncoding::of`]):
//!
//! - `{` — JSON of the event's fields: every payload written before the binary
//!   encoding existed, and what [`encode_json`] gives. Readable for ever.
//! - [`BINARY_PAYLOAD_TAG`] (`0x01`), then postcard of the same Rust type the JSON
//!   is of: what [`encode`] writes (new events). Instants are `(seconds,
//!   nanoseconds)` ([`crate::compact_time`]), ids their 16 bytes, integers varints,
//!   enums their variant's index. postcard is not self-describing: fields are read by
//!   position, so the bytes of each `(event_type, schema_version)` are pinned by the
//!   golden test (`codec/golden_binary.txt`); a change of an event's shape is a new
//!   schema version, whose upcast reads the old bytes with the old shape's type,
//!   exactly as for JSON. Binary payloads are about a fifth of the size of JSON and
//!   decode several times faster, which is what bounds a projection rebuild.
//!
//! People never see the binary form: [`payload_json`] renders any payload as JSON
//! (`paylog events`, `export`, the console, audits).

use std::borrow::Cow;

use chrono::{DateTime, Duration, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::claim::ClaimEvent;
use crate::event::DomainEvent;
use crate::ids::{OrderId, OutTradeNo, ProductId, UserId};
use crate::money::Fen;
use crate::order::{CloseReason, OrderClosed, OrderEvent, OrderLine, OrderPlaced};
use crate::product::{ProductEvent, StockAdjusted};
use crate::user::UserEvent;

/// Why an envelope did not become a domain event, or an event an envelope: a
/// corrupt or foreign log, never the caller's input, so kept apart from
/// [`crate::DomainError`] (the domain's refusals).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("unknown event type {0:?}")]
    UnknownEventType(String),
    #[error("event {event_type} has unsupported schema version {schema_version}")]
    UnsupportedSchemaVersion {
        event_type: String,
        schema_version: u16,
    },
    #[error("event {event_type} v{schema_version} is malformed: {reason}")]
    MalformedEvent {
        event_type: String,
        schema_version: u16,
        reason: String,
    },
    #[error("event {event_type} could not be encoded: {reason}")]
    EncodeFailed {
        event_type: &'static str,
        reason: String,
    },
    #[error("event {event_type} does not belong to a {aggregate} stream")]
    UnexpectedEvent {
        event_type: &'static str,
        aggregate: &'static str,
    },
}

/// An event ready for the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedEvent {
    pub event_type: &'static str,
    pub schema_version: u16,
    /// The event's fields, in the encoding its first byte names (see the module docs).
    pub payload: Vec<u8>,
}

/// First byte of a binary payload. A JSON payload is an object, so it starts with `{`.
pub const BINARY_PAYLOAD_TAG: u8 = 0x01;

/// How a payload is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadEncoding {
    /// JSON of the event's fields (every payload of the logs written before binary).
    Json,
    /// [`BINARY_PAYLOAD_TAG`], then postcard of the event's fields.
    Binary,
}

impl PayloadEncoding {
    /// The encoding of a stored payload, from its first byte.
    pub fn of(payload: &[u8]) -> Self {
        if payload.first() == Some(&BINARY_PAYLOAD_TAG) {
            Self::Binary
        } else {
            Self::Json
        }
    }
}

/// The payment window assumed for `OrderPlaced` v1 events (see the module docs).
pub const ORDER_PLACED_V1_PAYMENT_WINDOW: Duration = Duration::hours(2);

/// The reason `StockAdjusted` v1 events are read with (see the module docs). Never
/// changed: it is what audits of old logs show.
pub const STOCK_ADJUSTED_V1_REASON: &str = "(before reasons were recorded)";

macro_rules! codec_table {
    ($($outer:ident :: $enum_:ident :: $variant:ident = v $version:literal),* $(,)?) => {
        /// Every event type and its current schema version.
        pub const EVENT_TYPES: &[(&str, u16)] = &[$((stringify!($variant), $version)),*];

        pub(crate) fn event_type(event: &DomainEvent) -> &'static str {
            match event {
                $(DomainEvent::$outer($enum_::$variant(_)) => stringify!($variant),)*
            }
        }

        /// Encodes an event at its current schema version, in `encoding`.
        pub fn encode_as(
            event: &DomainEvent,
            encoding: PayloadEncoding,
        ) -> Result<EncodedEvent, CodecError> {
            let (event_type, schema_version, payload) = match event {
                $(DomainEvent::$outer($enum_::$variant(body)) => {
                    (stringify!($variant), $version, write(body, encoding))
                })*
            };
            let payload = payload.map_err(|reason| CodecError::EncodeFailed {
                event_type,
                reason,
            })?;
            Ok(EncodedEvent { event_type, schema_version, payload })
        }

        /// Decodes an envelope, upcasting older schema versions to the current shape.
        pub fn decode(
            event_type: &str,
            schema_version: u16,
            payload: &[u8],
        ) -> Result<DomainEvent, CodecError> {
            if let Some(event) = upcast(event_type, schema_version, payload)? {
                return Ok(event);
            }
            match (event_type, schema_version) {
                $((stringify!($variant), $version) => {
                    let body = parse(event_type, schema_version, payload)?;
                    Ok(DomainEvent::$outer($enum_::$variant(body)))
                })*
                _ if EVENT_TYPES.iter().any(|(name, _)| *name == event_type) => {
                    Err(CodecError::UnsupportedSchemaVersion {
                        event_type: event_type.to_owned(),
                        schema_version,
                    })
                }
                _ => Err(CodecError::UnknownEventType(event_type.to_owned())),
            }
        }
    };
}

codec_table!(
    User::UserEvent::UserRegistered = v 1,
    Claim::ClaimEvent::UsernameClaimed = v 1,
    Claim::ClaimEvent::OpenIdClaimed = v 1,
    Product::ProductEvent::ProductCreated = v 1,
    Product::ProductEvent::StockAdjusted = v 2,
    Product::ProductEvent::StockReserved = v 1,
    Product::ProductEvent::StockReleased = v 1,
    Order::OrderEvent::OrderPlaced = v 2,
    Order::OrderEvent::PaymentRequested = v 1,
    Order::OrderEvent::PaymentConfirmed = v 1,
    Order::OrderEvent::PaymentAmountMismatch = v 1,
    Order::OrderEvent::LatePaymentReceived = v 1,
    Order::OrderEvent::OrderCancelled = v 1,
    Order::OrderEvent::OrderClosed = v 2,
    Order::OrderEvent::RefundRequested = v 1,
    Order::OrderEvent::RefundConfirmed = v 1,
    Order::OrderEvent::RefundFailed = v 1,
    Order::OrderEvent::DuplicatePaymentReceived = v 1,
    Order::OrderEvent::AnomalousPaymentRefundRequested = v 1,
    Order::OrderEvent::RefundConfirmedAfterFailure = v 1,
    Order::OrderEvent::RefundNeedsAttention = v 1,
    Order::OrderEvent::RefundAttentionResolved = v 1,
    Order::OrderEvent::OrderShipped = v 1,
    Order::OrderEvent::ShippingInfoUploaded = v 1,
    Order::OrderEvent::ShippingUploadFailed = v 1,
    Order::OrderEvent::ReceiptConfirmed = v 1,
    Order::OrderEvent::OrderSettled = v 1,
);

/// Encodes an event for the log: binary, at its current schema version.
pub fn encode(event: &DomainEvent) -> Result<EncodedEvent, CodecError> {
    encode_as(event, PayloadEncoding::Binary)
}

/// Encodes an event as JSON, at its current schema version (for people, and for the
/// tests of the JSON payloads older logs hold).
pub fn encode_json(event: &DomainEvent) -> Result<EncodedEvent, CodecError> {
    encode_as(event, PayloadEncoding::Json)
}

/// A stored payload as JSON, with the schema version that JSON is of: a JSON payload
/// as it is stored; a binary one decoded (upcast to the current shape, so the version
/// may be newer than the stored one) and written as JSON.
pub fn payload_json<'a>(
    event_type: &str,
    schema_version: u16,
    payload: &'a [u8],
) -> Result<(u16, Cow<'a, [u8]>), CodecError> {
    match PayloadEncoding::of(payload) {
        PayloadEncoding::Json => Ok((schema_version, Cow::Borrowed(payload))),
        PayloadEncoding::Binary => {
            let encoded = encode_json(&decode(event_type, schema_version, payload)?)?;
            Ok((encoded.schema_version, Cow::Owned(encoded.payload)))
        }
    }
}

fn write<T: Serialize>(body: &T, encoding: PayloadEncoding) -> Result<Vec<u8>, String> {
    match encoding {
        PayloadEncoding::Json => serde_json::to_vec(body).map_err(|e| e.to_string()),
        PayloadEncoding::Binary => {
            postcard::to_extend(body, vec![BINARY_PAYLOAD_TAG]).map_err(|e| e.to_string())
        }
    }
}

/// Reads a payload as `T`, in the encoding its first byte names. Every upcast reads
/// its old shape through here, so old versions read in either encoding.
fn parse<T: DeserializeOwned>(
    event_type: &str,
    schema_version: u16,
    payload: &[u8],
) -> Result<T, CodecError> {
    let parsed = match payload.split_first() {
        Some((&BINARY_PAYLOAD_TAG, body)) => match postcard::take_from_bytes(body) {
            Ok((value, [])) => Ok(value),
            Ok((_, rest)) => Err(format!("{} bytes after the fields", rest.len())),
            Err(e) => Err(e.to_string()),
        },
        _ => serde_json::from_slice(payload).map_err(|e| e.to_string()),
    };
    parsed.map_err(|reason| CodecError::MalformedEvent {
        event_type: event_type.to_owned(),
        schema_version,
        reason,
    })
}

/// Older shapes, upcast to the current one; `None` if the envelope is not an old shape.
fn upcast(
    event_type: &str,
    schema_version: u16,
    payload: &[u8],
) -> Result<Option<DomainEvent>, CodecError> {
    match (event_type, schema_version) {
        ("OrderPlaced", 1) => {
            let v1: OrderPlacedV1 = parse(event_type, schema_version, payload)?;
            Ok(Some(DomainEvent::Order(OrderEvent::OrderPlaced(
                v1.upcast(),
            ))))
        }
        ("OrderClosed", 1) => {
            let v1: OrderClosedV1 = parse(event_type, schema_version, payload)?;
            Ok(Some(DomainEvent::Order(OrderEvent::OrderClosed(
                OrderClosed {
                    order_id: v1.order_id,
                    reason: CloseReason::Expired,
                    at: v1.at,
                },
            ))))
        }
        ("StockAdjusted", 1) => {
            let v1: StockAdjustedV1 = parse(event_type, schema_version, payload)?;
            Ok(Some(DomainEvent::Product(ProductEvent::StockAdjusted(
                StockAdjusted {
                    product_id: v1.product_id,
                    delta: v1.delta,
                    stock_after: v1.stock_after,
                    reason: STOCK_ADJUSTED_V1_REASON.to_owned(),
                    at: v1.at,
                },
            ))))
        }
        _ => Ok(None),
    }
}

/// `StockAdjusted` as written by schema v1.
#[derive(Debug, Deserialize)]
struct StockAdjustedV1 {
    product_id: ProductId,
    delta: i64,
    stock_after: u64,
    #[serde(with = "crate::compact_time")]
    at: DateTime<Utc>,
}

/// `OrderClosed` as written by schema v1.
#[derive(Debug, Deserialize)]
struct OrderClosedV1 {
    order_id: OrderId,
    at: DateTime<Utc>,
}

/// `OrderPlaced` as written by schema v1.
#[derive(Debug, Deserialize)]
struct OrderPlacedV1 {
    order_id: OrderId,
    user_id: UserId,
    out_trade_no: OutTradeNo,
    lines: Vec<OrderLine>,
    total: Fen,
    at: DateTime<Utc>,
}

impl OrderPlacedV1 {
    fn upcast(self) -> OrderPlaced {
        OrderPlaced {
            order_id: self.order_id,
            user_id: self.user_id,
            out_trade_no: self.out_trade_no,
            lines: self.lines,
            total: self.total,
            // Saturates rather than panicking on a (nonsensical) instant near the end of time.
            expires_at: self
                .at
                .checked_add_signed(ORDER_PLACED_V1_PAYMENT_WINDOW)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
            at: self.at,
        }
    }
}

#[cfg(test)]
mod tests;
