//! Notifies: the JSON envelope WeChat POSTs, its encrypted resource, and the
//! typed `TRANSACTION.SUCCESS` and `REFUND.*` payloads.
//!
//! The order matters: verify the signature over the raw body first
//! ([`super::Verifier::verify`]), then [`decrypt_notify`] the same bytes.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

use super::WxPayV3Error;
use super::aead::EncryptedResource;
use super::api::{RefundStatus, Transaction};
use super::keys::{ApiV3Key, truncate};
use crate::money::Fen;

/// The only `resource_type` WeChat sends.
pub const RESOURCE_TYPE: &str = "encrypt-resource";
/// Largest notify body accepted (they are around 1 KiB).
pub const MAX_NOTIFY_BODY_BYTES: usize = 64 * 1024;

/// The envelope of a notify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyEnvelope {
    pub id: String,
    pub create_time: DateTime<FixedOffset>,
    pub resource_type: String,
    pub event_type: String,
    #[serde(default)]
    pub summary: String,
    pub resource: EncryptedResource,
}

/// The notify events paylog handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NotifyEventType {
    #[serde(rename = "TRANSACTION.SUCCESS")]
    TransactionSuccess,
    #[serde(rename = "REFUND.SUCCESS")]
    RefundSuccess,
    #[serde(rename = "REFUND.ABNORMAL")]
    RefundAbnormal,
    #[serde(rename = "REFUND.CLOSED")]
    RefundClosed,
}

impl NotifyEventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TransactionSuccess => "TRANSACTION.SUCCESS",
            Self::RefundSuccess => "REFUND.SUCCESS",
            Self::RefundAbnormal => "REFUND.ABNORMAL",
            Self::RefundClosed => "REFUND.CLOSED",
        }
    }

    pub fn parse(value: &str) -> Result<Self, WxPayV3Error> {
        match value {
            "TRANSACTION.SUCCESS" => Ok(Self::TransactionSuccess),
            "REFUND.SUCCESS" => Ok(Self::RefundSuccess),
            "REFUND.ABNORMAL" => Ok(Self::RefundAbnormal),
            "REFUND.CLOSED" => Ok(Self::RefundClosed),
            other => Err(WxPayV3Error::UnsupportedEventType(truncate(other))),
        }
    }

    /// `original_type` and `associated_data` WeChat uses for this event's resource.
    pub fn original_type(self) -> &'static str {
        match self {
            Self::TransactionSuccess => "transaction",
            Self::RefundSuccess | Self::RefundAbnormal | Self::RefundClosed => "refund",
        }
    }
}

/// The decrypted resource of a `REFUND.*` notify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundNotifyResource {
    pub mchid: String,
    pub out_trade_no: String,
    pub transaction_id: String,
    pub out_refund_no: String,
    pub refund_id: String,
    pub refund_status: RefundStatus,
    /// Present when `refund_status` is `SUCCESS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_time: Option<DateTime<FixedOffset>>,
    pub user_received_account: String,
    pub amount: RefundNotifyAmount,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundNotifyAmount {
    pub total: Fen,
    pub refund: Fen,
    pub payer_total: Fen,
    pub payer_refund: Fen,
}

/// What a notify says, decrypted and typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyPayload {
    Transaction(Box<Transaction>),
    Refund(RefundNotifyResource),
}

/// A decrypted notify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecryptedNotify {
    pub id: String,
    pub create_time: DateTime<FixedOffset>,
    pub event_type: NotifyEventType,
    pub summary: String,
    pub payload: NotifyPayload,
}

/// Parses a notify body (already verified) and decrypts its resource with the
/// APIv3 key. The event type must be one paylog handles and must agree with
/// the payload (`REFUND.CLOSED` carries `refund_status` `CLOSED`…).
pub fn decrypt_notify(body: &[u8], key: &ApiV3Key) -> Result<DecryptedNotify, WxPayV3Error> {
    if body.len() > MAX_NOTIFY_BODY_BYTES {
        return Err(WxPayV3Error::TooLarge {
            what: "notify body",
            size_bytes: body.len(),
            limit_bytes: MAX_NOTIFY_BODY_BYTES,
        });
    }
    let envelope: NotifyEnvelope =
        serde_json::from_slice(body).map_err(|e| WxPayV3Error::Json {
            what: "notify body",
            reason: e.to_string(),
        })?;
    if envelope.resource_type != RESOURCE_TYPE {
        return Err(WxPayV3Error::UnsupportedResourceType(truncate(
            &envelope.resource_type,
        )));
    }
    let event_type = NotifyEventType::parse(&envelope.event_type)?;
    let plaintext = envelope.resource.decrypt(key)?;
    let json_err = |e: serde_json::Error| WxPayV3Error::Json {
        what: "decrypted notify resource",
        reason: e.to_string(),
    };
    let payload = match event_type {
        NotifyEventType::TransactionSuccess => NotifyPayload::Transaction(Box::new(
            serde_json::from_slice(&plaintext).map_err(json_err)?,
        )),
        NotifyEventType::RefundSuccess
        | NotifyEventType::RefundAbnormal
        | NotifyEventType::RefundClosed => {
            let refund: RefundNotifyResource =
                serde_json::from_slice(&plaintext).map_err(json_err)?;
            let expected = match event_type {
                NotifyEventType::RefundSuccess => RefundStatus::Success,
                NotifyEventType::RefundAbnormal => RefundStatus::Abnormal,
                _ => RefundStatus::Closed,
            };
            if refund.refund_status != expected {
                return Err(WxPayV3Error::Json {
                    what: "decrypted notify resource",
                    reason: format!(
                        "refund_status {:?} contradicts event_type {}",
                        refund.refund_status,
                        event_type.as_str()
                    ),
                });
            }
            NotifyPayload::Refund(refund)
        }
    };
    Ok(DecryptedNotify {
        id: envelope.id,
        create_time: envelope.create_time,
        event_type,
        summary: envelope.summary,
        payload,
    })
}

/// WeChat's side (the simulator): builds a notify body around an encrypted
/// payload. `resource_nonce` is 12 characters, never reused with the same key.
pub fn seal_notify(
    id: &str,
    create_time: DateTime<FixedOffset>,
    event_type: NotifyEventType,
    summary: &str,
    payload_json: &[u8],
    key: &ApiV3Key,
    resource_nonce: &str,
) -> Result<String, WxPayV3Error> {
    let original_type = event_type.original_type();
    let resource = EncryptedResource::encrypt(
        key,
        resource_nonce,
        Some(original_type),
        Some(original_type),
        payload_json,
    )?;
    let envelope = NotifyEnvelope {
        id: id.to_owned(),
        create_time,
        resource_type: RESOURCE_TYPE.to_owned(),
        event_type: event_type.as_str().to_owned(),
        summary: summary.to_owned(),
        resource,
    };
    serde_json::to_string(&envelope).map_err(|e| WxPayV3Error::Json {
        what: "notify body",
        reason: e.to_string(),
    })
}
