//! Settlement pushes (消息推送, safe mode) as WeChat or an impostor sends them:
//! sealed and signed with core's `wxa::push` functions, and the settings the
//! server opens them with.
//!
//! They are handed to `paylog_api::services::message_push::MessagePush::receive`,
//! the function the HTTP handler calls, so the property test runs the real verify
//! → decrypt → find order → `ConfirmReceipt`/`SettleOrder` path, minus HTTP.
//! Forged pushes are signed with another token, sealed for another appid, or
//! tampered after sealing and signed again (only the envelope can tell).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use paylog_core::payment_refs::TransactionId;
use paylog_core::wxa::push::{
    ConfirmReceiveMethod, EncodingAesKey, OrderSettlement, PushFormat, PushMessage, PushMode,
    PushQuery, PushSettings, render_body, seal, sealed_body, signature,
};
use paylog_core::{OrderId, OutTradeNo};
use secrecy::SecretString;

use super::notify;
use super::step::PushKind;

const TOKEN: &str = "modelpushtoken";
const AES_KEY: &str = "mOdElTeStEnCoDiNgAeSkEy0123456789abcdefghij";

fn key() -> Option<EncodingAesKey> {
    EncodingAesKey::parse(AES_KEY).ok()
}

/// The server's message push settings: safe mode, for the notifies' appid.
pub fn settings() -> PushSettings {
    PushSettings {
        token: SecretString::from(TOKEN),
        key: key(),
        appid: notify::merchant().appid,
        mode: PushMode::Safe,
    }
}

/// A push and the truth about it, which only the test knows.
#[derive(Debug, Clone)]
pub struct Push {
    pub query: PushQuery,
    pub body: String,
    /// `Some` when WeChat sent it: about which order, and whether it settles
    /// (`false`: the announcement at shipment).
    pub genuine: Option<(OrderId, TransactionId, bool)>,
    pub at: DateTime<Utc>,
}

/// The push of `kind` about `order_id`, paid by `transaction_id`.
pub fn build(
    order_id: OrderId,
    transaction_id: TransactionId,
    kind: PushKind,
    at: DateTime<Utc>,
) -> Push {
    let base = OrderSettlement {
        transaction_id: transaction_id.as_str().to_owned(),
        merchant_id: notify::merchant().mch_id,
        merchant_trade_no: OutTradeNo::for_order(order_id).to_string(),
        pay_time: Some(at),
        shipped_time: Some(at),
        ..OrderSettlement::default()
    };
    let settlement = if kind == PushKind::Announced {
        OrderSettlement {
            estimated_settlement_time: Some(at + chrono::Duration::days(10)),
            ..base
        }
    } else {
        OrderSettlement {
            confirm_receive_method: Some(ConfirmReceiveMethod::Auto),
            confirm_receive_time: Some(at),
            settlement_time: Some(at),
            ..base
        }
    };
    let message = render_body(
        &PushMessage::settlement_fields("gh_model", at, &settlement),
        PushFormat::Json,
    );
    let appid = match kind {
        PushKind::WrongAppid => "wx_another_mini_program".to_owned(),
        _ => notify::merchant().appid,
    };
    let mut encrypt = match key() {
        Some(k) => seal(&k, [9; 16], &message, &appid),
        None => String::new(),
    };
    if kind == PushKind::Tampered
        && let Ok(mut bytes) = STANDARD.decode(&encrypt)
    {
        if let Some(i) = bytes.len().checked_sub(17) {
            bytes[i] ^= 1;
        }
        encrypt = STANDARD.encode(bytes);
    }
    let token = if kind == PushKind::BadSignature {
        "not-the-token"
    } else {
        TOKEN
    };
    let (timestamp, nonce) = (at.timestamp().to_string(), "modelnonce".to_owned());
    let query = PushQuery {
        signature: Some(signature(&[token, &timestamp, &nonce])),
        msg_signature: Some(signature(&[token, &timestamp, &nonce, &encrypt])),
        timestamp: Some(timestamp),
        nonce: Some(nonce),
        encrypt_type: Some("aes".into()),
        echostr: None,
    };
    let genuine = matches!(kind, PushKind::Settled | PushKind::Announced)
        .then(|| (order_id, transaction_id, kind == PushKind::Settled));
    Push {
        query,
        body: sealed_body("gh_model", &encrypt, PushFormat::Json),
        genuine,
        at,
    }
}
