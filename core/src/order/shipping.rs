//! After the sale: an order's shipment, its upload to WeChat's order-shipping service
//! (发货信息管理), the shopper's confirmation of receipt and WeChat's settlement.
//!
//! WeChat freezes the money of a paid order until its shipping information is
//! uploaded, and settles it after the shopper (or WeChat, automatically) confirms
//! receipt. This module holds the shapes WeChat expects (logistics type, delivery mode,
//! parcels), its limits as named constants, the events, the shipping part of an
//! order's state and the decisions of the five shipping commands. The order's
//! [`OrderStatus`] does not change with shipping: shipping is a second, independent
//! dimension of a paid order ([`OrderState::shipping`]).
//!
//! # A shipment's life
//!
//! Columns are the [`ShippingStage`] of a shipped order, rows the commands. `—` is a
//! repeat that appends nothing; ✗ names the [`ShippingError`].
//!
//! | command ↓ / stage → | Pending | UploadFailed | Uploaded | Received | Settled |
//! |---|---|---|---|---|---|
//! | `ShipOrder` same shipment | — | — | — | — | — |
//! | `ShipOrder` other shipment | Pending (`OrderShipped`, revision + 1) | Pending (`OrderShipped`, revision + 1) | Pending (`OrderShipped`, a re-upload¹) / ✗ `ReuploadLimit` | ✗ `AlreadyReceived` | ✗ `AlreadyReceived` |
//! | `RecordShippingUpload` current revision | Uploaded (`ShippingInfoUploaded`) | Uploaded (`ShippingInfoUploaded`) | — | — | — |
//! | `FailShippingUpload` current revision | UploadFailed (`ShippingUploadFailed`) | UploadFailed (`ShippingUploadFailed`) | — | — | — |
//! | `ConfirmReceipt` | Received (`ReceiptConfirmed`) | Received (`ReceiptConfirmed`) | Received (`ReceiptConfirmed`) | — | — |
//! | `SettleOrder` | ✗ `ReceiptNotConfirmed` | ✗ `ReceiptNotConfirmed` | ✗ `ReceiptNotConfirmed` | Settled (`OrderSettled`) | — |
//!
//! 1. WeChat lets a payment's shipping information be changed once after it accepted
//!    it ([`MAX_SHIPPING_REUPLOADS`]). A split delivery not yet all delivered may add
//!    parcels without spending that chance. A shipment WeChat never accepted
//!    (Pending, UploadFailed) may be replaced freely.
//!
//! An upload or failure naming an older revision appends nothing (a newer shipment
//! superseded it); one naming a revision never recorded is ✗ `UnknownRevision`. On an
//! order without a shipment every row but `ShipOrder` is ✗ `NotShipped`.
//! `ShipOrder` itself needs a paid order: ✗ `OrderNotPaid` before payment and once
//! cancelled or closed, ✗ `OrderFullyRefunded` once everything was refunded.
//!
//! # Refunds after shipment
//!
//! WeChat lets a shipped order be refunded (after-sales) at any stage, in part or in
//! full; a partial refund changes nothing here. A *full* refund ends the payment at
//! WeChat (`get_order` answers order_state 5 已退款, an upload is refused with
//! 10060004 支付单处于不可发货的状态) and, in the order's shipping:
//! - `ShipOrder` (a first shipment or a change) is ✗ `OrderFullyRefunded`: there is
//!   nothing left to ship or to tell WeChat about;
//! - `SettleOrder` is ✗ `OrderFullyRefunded` (unless already settled, a repeat): the
//!   money went back to the shopper, WeChat settles nothing;
//! - a pending or refused upload is no longer needed: it leaves the `to_upload` view
//!   and the background uploader stops asking WeChat;
//! - what WeChat already said (an upload's outcome, a receipt) is still recorded.
//!
//! A refund after settlement is a refund like any other (WeChat takes it from the
//! merchant's balance); the shipping record stays as it was.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::event::OrderEvent;
use super::state::{OrderState, OrderStatus};
use crate::error::DomainError;
use crate::ids::OrderId;
use crate::payment_refs::TransactionId;

/// WeChat's `shipping_list` holds 1 to 15 parcels.
pub const MAX_PARCELS: usize = 15;
/// WeChat's `item_desc` limit: 120 characters.
pub const MAX_ITEM_DESC_CHARS: usize = 120;
/// WeChat's `tracking_no` limit: 128 bytes.
pub const MAX_TRACKING_NO_BYTES: usize = 128;
/// WeChat's `express_company` limit (a code from `get_delivery_list`): 128 bytes.
pub const MAX_EXPRESS_COMPANY_BYTES: usize = 128;
/// "一个支付单只能更新一次发货信息": one change after WeChat accepted the shipment.
pub const MAX_SHIPPING_REUPLOADS: u32 = 1;
/// WeChat's `errmsg` is kept up to this many characters (it carries a request id).
pub const MAX_UPLOAD_ERROR_CHARS: usize = 200;

/// WeChat's `logistics_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LogisticsType {
    /// 1: an express company carries the parcels (tracking number and company needed).
    Express,
    /// 2: same-city delivery.
    SameCity,
    /// 3: virtual goods (top-ups, cards): nothing is carried.
    Virtual,
    /// 4: the shopper picks the goods up.
    SelfPickup,
}

impl LogisticsType {
    /// WeChat's number for it.
    pub fn code(self) -> u8 {
        match self {
            Self::Express => 1,
            Self::SameCity => 2,
            Self::Virtual => 3,
            Self::SelfPickup => 4,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::Express),
            2 => Some(Self::SameCity),
            3 => Some(Self::Virtual),
            4 => Some(Self::SelfPickup),
            _ => None,
        }
    }
}

/// WeChat's `delivery_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DeliveryMode {
    /// 1 `UNIFIED_DELIVERY`: the whole order in one parcel.
    Unified,
    /// 2 `SPLIT_DELIVERY`: several parcels, possibly over several uploads (express only).
    Split,
}

impl DeliveryMode {
    pub fn code(self) -> u8 {
        match self {
            Self::Unified => 1,
            Self::Split => 2,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::Unified),
            2 => Some(Self::Split),
            _ => None,
        }
    }
}

/// One entry of WeChat's `shipping_list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parcel {
    /// `tracking_no`: required for [`LogisticsType::Express`].
    pub tracking_no: Option<String>,
    /// `express_company` (a code of `get_delivery_list`): required for express.
    pub express_company: Option<String>,
    /// `item_desc`: what is in the parcel, 1 to [`MAX_ITEM_DESC_CHARS`] characters.
    pub item_desc: String,
}

/// What the merchant shipped, as WeChat is told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipment {
    pub logistics_type: LogisticsType,
    pub delivery_mode: DeliveryMode,
    /// 1 to [`MAX_PARCELS`]; exactly one for a unified delivery.
    pub parcels: Vec<Parcel>,
    /// Split deliveries: whether this upload completes the order (WeChat then tells
    /// the shopper). Always true for a unified delivery.
    pub is_all_delivered: bool,
}

/// Why a shipping command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShippingError {
    #[error("the order is {status}: only a paid order can be shipped")]
    OrderNotPaid { status: OrderStatus },
    #[error("the order was fully refunded: nothing is left to ship")]
    OrderFullyRefunded,
    #[error("a shipment has 1 to {max} parcels, got {count}")]
    InvalidParcelCount { count: usize, max: usize },
    #[error("a unified delivery has exactly one parcel, got {count}")]
    UnifiedNeedsOneParcel { count: usize },
    #[error("only express deliveries may be split")]
    SplitNeedsExpress,
    #[error("a unified delivery is always all delivered")]
    UnifiedIsAllDelivered,
    #[error("parcel {index}: item description must be 1 to {max} characters")]
    InvalidItemDescription { index: usize, max: usize },
    #[error(
        "parcel {index}: an express parcel needs a tracking number (1 to {max_tracking} bytes) \
         and an express company code (1 to {max_company} bytes)"
    )]
    InvalidTracking {
        index: usize,
        max_tracking: usize,
        max_company: usize,
    },
    #[error("WeChat allows {max} change(s) of shipping information it accepted; none is left")]
    ReuploadLimit { max: u32 },
    #[error("the shopper already confirmed receipt: the shipment can no longer change")]
    AlreadyReceived,
    #[error("the order has not been shipped")]
    NotShipped,
    #[error("shipment revision {revision} was never recorded")]
    UnknownRevision { revision: u32 },
    #[error("the order cannot settle before its receipt is confirmed")]
    ReceiptNotConfirmed,
}

/// Where WeChat stands on the current revision of a shipment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UploadStatus {
    /// Recorded here, not yet accepted by WeChat.
    Pending,
    /// WeChat refused the last attempt (see [`Shipping::last_error`]); retried.
    Failed,
    /// WeChat accepted it.
    Uploaded,
}

/// WeChat's refusal of an upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadError {
    pub errcode: i64,
    pub errmsg: String,
}

/// The shipping part of an order's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipping {
    pub shipment: Shipment,
    /// 1 for the first shipment, one more for every replacement.
    pub revision: u32,
    pub upload: UploadStatus,
    /// Refused attempts of the current revision.
    pub failed_attempts: u32,
    pub last_error: Option<UploadError>,
    /// Changes of a shipment WeChat had accepted (at most [`MAX_SHIPPING_REUPLOADS`]).
    pub reuploads: u32,
    #[serde(with = "crate::compact_time")]
    pub first_shipped_at: DateTime<Utc>,
    #[serde(with = "crate::compact_time")]
    pub shipped_at: DateTime<Utc>,
    #[serde(default, with = "crate::compact_time::option")]
    pub uploaded_at: Option<DateTime<Utc>>,
    /// When the shopper (or WeChat automatically) confirmed receipt.
    #[serde(default, with = "crate::compact_time::option")]
    pub receipt_confirmed_at: Option<DateTime<Utc>>,
    /// When WeChat settled the money to the merchant.
    #[serde(default, with = "crate::compact_time::option")]
    pub settled_at: Option<DateTime<Utc>>,
}

/// A shipped order's column in [the table](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ShippingStage {
    Pending,
    UploadFailed,
    Uploaded,
    Received,
    Settled,
}

impl ShippingStage {
    pub const ALL: [ShippingStage; 5] = [
        Self::Pending,
        Self::UploadFailed,
        Self::Uploaded,
        Self::Received,
        Self::Settled,
    ];
}

impl Shipping {
    pub fn stage(&self) -> ShippingStage {
        if self.settled_at.is_some() {
            ShippingStage::Settled
        } else if self.receipt_confirmed_at.is_some() {
            ShippingStage::Received
        } else {
            match self.upload {
                UploadStatus::Pending => ShippingStage::Pending,
                UploadStatus::Failed => ShippingStage::UploadFailed,
                UploadStatus::Uploaded => ShippingStage::Uploaded,
            }
        }
    }

    /// Whether a new shipment would change one WeChat accepted (spending the one
    /// change WeChat allows). A split delivery not yet complete may add parcels.
    fn replacing_accepted(&self) -> bool {
        self.upload == UploadStatus::Uploaded
            && (self.shipment.delivery_mode != DeliveryMode::Split
                || self.shipment.is_all_delivered)
    }
}

// --- events --------------------------------------------------------------------

/// The merchant shipped (or changed the shipment of) a paid order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderShipped {
    pub order_id: OrderId,
    /// The payment the shipment is for: WeChat's order key.
    pub transaction_id: TransactionId,
    pub revision: u32,
    pub shipment: Shipment,
    /// Whether this changes a shipment WeChat had accepted (WeChat's one change).
    pub reupload: bool,
    #[serde(with = "crate::compact_time")]
    pub at: DateTime<Utc>,
}

/// WeChat accepted the shipping information of `revision`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippingInfoUploaded {
    pub order_id: OrderId,
    pub revision: u32,
    #[serde(with = "crate::compact_time")]
    pub at: DateTime<Utc>,
}

/// WeChat refused the upload of `revision` with its `errcode`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippingUploadFailed {
    pub order_id: OrderId,
    pub revision: u32,
    pub errcode: i64,
    /// At most [`MAX_UPLOAD_ERROR_CHARS`] characters.
    pub errmsg: String,
    /// The number of refused attempts of this revision, this one included.
    pub attempt: u32,
    #[serde(with = "crate::compact_time")]
    pub at: DateTime<Utc>,
}

/// The shopper (or WeChat, automatically) confirmed receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptConfirmed {
    pub order_id: OrderId,
    /// WeChat's time of the confirmation.
    #[serde(with = "crate::compact_time")]
    pub confirmed_at: DateTime<Utc>,
    #[serde(with = "crate::compact_time")]
    pub at: DateTime<Utc>,
}

/// WeChat settled the order's money to the merchant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderSettled {
    pub order_id: OrderId,
    /// WeChat's settlement time.
    #[serde(with = "crate::compact_time")]
    pub settled_at: DateTime<Utc>,
    #[serde(with = "crate::compact_time")]
    pub at: DateTime<Utc>,
}

// --- decisions -----------------------------------------------------------------

fn check_shipment(shipment: &Shipment) -> Result<(), ShippingError> {
    let count = shipment.parcels.len();
    if !(1..=MAX_PARCELS).contains(&count) {
        return Err(ShippingError::InvalidParcelCount {
            count,
            max: MAX_PARCELS,
        });
    }
    match shipment.delivery_mode {
        DeliveryMode::Unified if count != 1 => {
            return Err(ShippingError::UnifiedNeedsOneParcel { count });
        }
        DeliveryMode::Unified if !shipment.is_all_delivered => {
            return Err(ShippingError::UnifiedIsAllDelivered);
        }
        DeliveryMode::Split if shipment.logistics_type != LogisticsType::Express => {
            return Err(ShippingError::SplitNeedsExpress);
        }
        _ => {}
    }
    let fits = |s: &Option<String>, max: usize| {
        s.as_deref().is_some_and(|s| {
            !s.trim().is_empty() && s.len() <= max && !s.chars().any(char::is_control)
        })
    };
    for (index, parcel) in shipment.parcels.iter().enumerate() {
        let chars = parcel.item_desc.chars().count();
        if parcel.item_desc.trim().is_empty()
            || chars > MAX_ITEM_DESC_CHARS
            || parcel.item_desc.chars().any(char::is_control)
        {
            return Err(ShippingError::InvalidItemDescription {
                index,
                max: MAX_ITEM_DESC_CHARS,
            });
        }
        let express = shipment.logistics_type == LogisticsType::Express;
        let tracking_ok = fits(&parcel.tracking_no, MAX_TRACKING_NO_BYTES)
            && fits(&parcel.express_company, MAX_EXPRESS_COMPANY_BYTES);
        let absent = parcel.tracking_no.is_none() && parcel.express_company.is_none();
        // Other logistics types carry no tracking, but one given must still be sane.
        if !tracking_ok && (express || !absent) {
            return Err(ShippingError::InvalidTracking {
                index,
                max_tracking: MAX_TRACKING_NO_BYTES,
                max_company: MAX_EXPRESS_COMPANY_BYTES,
            });
        }
    }
    Ok(())
}

pub(super) fn ship(
    order: &OrderState,
    shipment: Shipment,
    at: DateTime<Utc>,
) -> Result<Vec<OrderEvent>, DomainError> {
    let payment = match (order.status, &order.payment) {
        (OrderStatus::Refunded, _) => return Err(ShippingError::OrderFullyRefunded.into()),
        (status, Some(payment)) if status.is_paid() => payment,
        (status, _) => return Err(ShippingError::OrderNotPaid { status }.into()),
    };
    check_shipment(&shipment)?;
    let (revision, reupload) = match &order.shipping {
        None => (1, false),
        // A retried request: nothing new, whatever happened since.
        Some(s) if s.shipment == shipment => return Ok(vec![]),
        Some(s) if s.receipt_confirmed_at.is_some() => {
            return Err(ShippingError::AlreadyReceived.into());
        }
        Some(s) => {
            let reupload = s.replacing_accepted();
            if reupload && s.reuploads >= MAX_SHIPPING_REUPLOADS {
                return Err(ShippingError::ReuploadLimit {
                    max: MAX_SHIPPING_REUPLOADS,
                }
                .into());
            }
            (s.revision.saturating_add(1), reupload)
        }
    };
    Ok(vec![OrderEvent::OrderShipped(OrderShipped {
        order_id: order.order_id,
        transaction_id: payment.transaction_id.clone(),
        revision,
        shipment,
        reupload,
        at,
    })])
}

/// The shipping of `order` for an upload outcome naming `revision`: `None` when
/// the outcome is stale (a newer revision exists) and appends nothing.
fn current(order: &OrderState, revision: u32) -> Result<Option<&Shipping>, DomainError> {
    let Some(s) = &order.shipping else {
        return Err(ShippingError::NotShipped.into());
    };
    if revision > s.revision || revision == 0 {
        return Err(ShippingError::UnknownRevision { revision }.into());
    }
    Ok((revision == s.revision && s.upload != UploadStatus::Uploaded).then_some(s))
}

pub(super) fn uploaded(
    order: &OrderState,
    revision: u32,
    at: DateTime<Utc>,
) -> Result<Vec<OrderEvent>, DomainError> {
    Ok(current(order, revision)?
        .map(|_| {
            OrderEvent::ShippingInfoUploaded(ShippingInfoUploaded {
                order_id: order.order_id,
                revision,
                at,
            })
        })
        .into_iter()
        .collect())
}

pub(super) fn upload_failed(
    order: &OrderState,
    revision: u32,
    errcode: i64,
    errmsg: &str,
    at: DateTime<Utc>,
) -> Result<Vec<OrderEvent>, DomainError> {
    Ok(current(order, revision)?
        .map(|s| {
            OrderEvent::ShippingUploadFailed(ShippingUploadFailed {
                order_id: order.order_id,
                revision,
                errcode,
                errmsg: errmsg.chars().take(MAX_UPLOAD_ERROR_CHARS).collect(),
                attempt: s.failed_attempts.saturating_add(1),
                at,
            })
        })
        .into_iter()
        .collect())
}

pub(super) fn confirm_receipt(
    order: &OrderState,
    confirmed_at: DateTime<Utc>,
    at: DateTime<Utc>,
) -> Result<Vec<OrderEvent>, DomainError> {
    let Some(s) = &order.shipping else {
        return Err(ShippingError::NotShipped.into());
    };
    if s.receipt_confirmed_at.is_some() {
        return Ok(vec![]);
    }
    Ok(vec![OrderEvent::ReceiptConfirmed(ReceiptConfirmed {
        order_id: order.order_id,
        confirmed_at,
        at,
    })])
}

pub(super) fn settle(
    order: &OrderState,
    settled_at: DateTime<Utc>,
    at: DateTime<Utc>,
) -> Result<Vec<OrderEvent>, DomainError> {
    let Some(s) = &order.shipping else {
        return Err(ShippingError::NotShipped.into());
    };
    if s.settled_at.is_some() {
        return Ok(vec![]);
    }
    // A fully refunded payment is 已退款 (get_order's order_state 5) at WeChat: its
    // money went back to the shopper, nothing is left to settle.
    if order.status == OrderStatus::Refunded {
        return Err(ShippingError::OrderFullyRefunded.into());
    }
    if s.receipt_confirmed_at.is_none() {
        return Err(ShippingError::ReceiptNotConfirmed.into());
    }
    Ok(vec![OrderEvent::OrderSettled(OrderSettled {
        order_id: order.order_id,
        settled_at,
        at,
    })])
}

// --- evolve --------------------------------------------------------------------

/// Folds a shipping event into the order (the caller sets `updated_at`).
pub(super) fn evolve(order: &mut OrderState, event: &OrderEvent) {
    match event {
        OrderEvent::OrderShipped(e) => {
            let before = order.shipping.take();
            order.shipping = Some(Shipping {
                shipment: e.shipment.clone(),
                revision: e.revision,
                upload: UploadStatus::Pending,
                failed_attempts: 0,
                last_error: None,
                reuploads: before
                    .as_ref()
                    .map_or(0, |b| b.reuploads)
                    .saturating_add(u32::from(e.reupload)),
                first_shipped_at: before.as_ref().map_or(e.at, |b| b.first_shipped_at),
                shipped_at: e.at,
                uploaded_at: None,
                receipt_confirmed_at: None,
                settled_at: None,
            });
        }
        OrderEvent::ShippingInfoUploaded(e) => {
            if let Some(s) = order.shipping.as_mut().filter(|s| s.revision == e.revision) {
                s.upload = UploadStatus::Uploaded;
                s.uploaded_at = Some(e.at);
            }
        }
        OrderEvent::ShippingUploadFailed(e) => {
            if let Some(s) = order.shipping.as_mut().filter(|s| s.revision == e.revision) {
                s.upload = UploadStatus::Failed;
                s.failed_attempts = e.attempt;
                s.last_error = Some(UploadError {
                    errcode: e.errcode,
                    errmsg: e.errmsg.clone(),
                });
            }
        }
        OrderEvent::ReceiptConfirmed(e) => {
            if let Some(s) = order.shipping.as_mut() {
                s.receipt_confirmed_at = Some(e.confirmed_at);
            }
        }
        OrderEvent::OrderSettled(e) => {
            if let Some(s) = order.shipping.as_mut() {
                s.settled_at = Some(e.settled_at);
            }
        }
        _ => {}
    }
}

/// Shipping invariants, for [`OrderState::invariant_violations`].
pub(super) fn violations(order: &OrderState) -> Vec<String> {
    let mut v = Vec::new();
    let Some(s) = &order.shipping else {
        return v;
    };
    if order.payment.is_none() {
        v.push("shipped without a payment".to_owned());
    }
    if s.settled_at.is_some() && s.receipt_confirmed_at.is_none() {
        v.push("settled before its receipt was confirmed".to_owned());
    }
    if s.reuploads > MAX_SHIPPING_REUPLOADS {
        v.push(format!(
            "{} re-uploads of shipping information",
            s.reuploads
        ));
    }
    if let Err(e) = check_shipment(&s.shipment) {
        v.push(format!("shipment: {e}"));
    }
    v
}
