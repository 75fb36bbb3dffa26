//! WeChat's message push (消息推送) to a mini-program's server, pure: the `GET`
//! handshake's `signature`, safe mode's `msg_signature` and AES-256-CBC envelope
//! (both directions: the simulator seals what paylog opens), XML and JSON bodies,
//! and the typed events of the order-shipping service
//! (`trade_manage_order_settlement`, `trade_manage_remind_shipping`,
//! `trade_manage_remind_access_api`).
//!
//! - `signature` = hex SHA1 of the token, `timestamp` and `nonce` sorted and joined;
//!   it authenticates the *request*, never its body. A plain-mode body is therefore
//!   only a hint ([`Opened::authenticated`] is false).
//! - Safe mode: `msg_signature` = hex SHA1 of the sorted token, `timestamp`, `nonce`
//!   and the body's `Encrypt`; `Encrypt` = base64 of AES-256-CBC (key = the 43-char
//!   EncodingAESKey + `=` base64-decoded, IV = its first 16 bytes) over
//!   16 random bytes ‖ u32 big-endian length ‖ message ‖ appid, PKCS#7-padded to
//!   32-byte blocks. The appid at the end is checked.
//! - Bodies are XML (`<xml>…</xml>`, read by the strict flat parser of `wxpay`) or
//!   JSON (chosen in the mini-program console), both read into the same flat map.
//!
//! Nothing here reads a clock or draws randomness: the 16 random bytes of
//! [`seal`] are a parameter.

use aes::Aes256;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::NoPadding};
use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

use crate::wxpay::{Fields, WxPayError, parse_xml, to_xml};

/// Push bodies above this size are refused before anything is parsed or decrypted.
/// WeChat's pushes are well under 2 KiB.
pub const MAX_PUSH_BODY_BYTES: usize = 16 * 1024;
/// The length of an EncodingAESKey as the console shows it.
pub const ENCODING_AES_KEY_CHARS: usize = 43;
/// WeChat pads the plaintext to this block size (twice AES's).
pub const PAD_BLOCK: usize = 32;
/// The `Event` of a settlement (or its announcement at shipment).
pub const EVENT_ORDER_SETTLEMENT: &str = "trade_manage_order_settlement";
/// The `Event` reminding the merchant to upload shipping information.
pub const EVENT_REMIND_SHIPPING: &str = "trade_manage_remind_shipping";
/// The `Event` reminding the merchant to use the order-shipping API at all.
pub const EVENT_REMIND_ACCESS_API: &str = "trade_manage_remind_access_api";

/// Why a push was refused. Never carries the token, the key or a plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    #[error("the push is {size} bytes, over the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("query parameter {0} is missing")]
    MissingParameter(&'static str),
    #[error("the signature does not verify")]
    BadSignature,
    #[error("safe mode expects an encrypted push (encrypt_type=aes and Encrypt)")]
    NotEncrypted,
    #[error("the push could not be decrypted: {0}")]
    Decrypt(&'static str),
    #[error("the push is addressed to another appid")]
    WrongAppid,
    #[error("malformed push body: {0}")]
    Malformed(String),
    #[error("field {field} has an invalid value")]
    InvalidField { field: &'static str },
    #[error(
        "the EncodingAESKey must be {ENCODING_AES_KEY_CHARS} characters of base64 \
         (letters, digits, + and /)"
    )]
    BadKey,
}

impl From<WxPayError> for PushError {
    fn from(e: WxPayError) -> Self {
        match e {
            WxPayError::TooLarge { size, limit } => Self::TooLarge { size, limit },
            other => Self::Malformed(other.to_string()),
        }
    }
}

/// The 32-byte AES key behind the console's 43-character EncodingAESKey. Its
/// `Debug` shows nothing of it.
#[derive(Clone)]
pub struct EncodingAesKey([u8; 32]);

impl std::fmt::Debug for EncodingAesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EncodingAesKey(..)")
    }
}

/// Base64 that accepts non-zero trailing bits: 43 random characters + `=` rarely
/// end in the canonical form, and WeChat's own decoders accept any.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

impl EncodingAesKey {
    /// Parses the console's 43-character key.
    pub fn parse(s: &str) -> Result<Self, PushError> {
        let shaped = s.len() == ENCODING_AES_KEY_CHARS
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
        if !shaped {
            return Err(PushError::BadKey);
        }
        let bytes = LENIENT
            .decode(format!("{s}="))
            .map_err(|_| PushError::BadKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| PushError::BadKey)?;
        Ok(Self(key))
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.0[..16]);
        iv
    }
}

/// Lower-case hex SHA1 of `parts` sorted (byte order) and joined: WeChat's
/// `signature` (token, timestamp, nonce) and `msg_signature` (… and `Encrypt`).
pub fn signature(parts: &[&str]) -> String {
    let mut sorted = parts.to_vec();
    sorted.sort_unstable();
    hex::encode(Sha1::digest(sorted.concat().as_bytes()))
}

/// Constant-time comparison of a received hex signature (any case) with the
/// expected one.
fn signature_matches(expected: &str, given: &str) -> bool {
    let given = given.to_ascii_lowercase();
    expected.len() == given.len() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

/// PKCS#7 to [`PAD_BLOCK`]: 1 to 32 bytes, each the pad's length.
fn pad(mut data: Vec<u8>) -> Vec<u8> {
    let n = PAD_BLOCK - data.len() % PAD_BLOCK;
    // n is 1..=32, so it fits a byte.
    data.resize(data.len() + n, n as u8);
    data
}

fn unpad(data: &[u8]) -> Result<&[u8], PushError> {
    let bad = PushError::Decrypt("bad padding");
    let &n = data.last().ok_or(bad.clone())?;
    let n = usize::from(n);
    if n == 0 || n > PAD_BLOCK || n > data.len() {
        return Err(bad);
    }
    let (body, padding) = data.split_at(data.len() - n);
    if padding.iter().any(|&b| usize::from(b) != n) {
        return Err(bad);
    }
    Ok(body)
}

/// Encrypts `message` for `appid`, as WeChat does in safe mode: the `Encrypt`
/// value (base64). `random` stands for WeChat's 16 random bytes.
pub fn seal(key: &EncodingAesKey, random: [u8; 16], message: &str, appid: &str) -> String {
    let len = u32::try_from(message.len()).unwrap_or(u32::MAX);
    let mut plain = Vec::with_capacity(20 + message.len() + appid.len() + PAD_BLOCK);
    plain.extend_from_slice(&random);
    plain.extend_from_slice(&len.to_be_bytes());
    plain.extend_from_slice(message.as_bytes());
    plain.extend_from_slice(appid.as_bytes());
    let plain = pad(plain);
    let sealed = cbc::Encryptor::<Aes256>::new(&key.0.into(), &key.iv().into())
        .encrypt_padded_vec_mut::<NoPadding>(&plain);
    STANDARD.encode(sealed)
}

/// Decrypts an `Encrypt` value and checks it is addressed to `appid`: the message.
pub fn unseal(key: &EncodingAesKey, encrypt: &str, appid: &str) -> Result<String, PushError> {
    if encrypt.len() > MAX_PUSH_BODY_BYTES {
        return Err(PushError::TooLarge {
            size: encrypt.len(),
            limit: MAX_PUSH_BODY_BYTES,
        });
    }
    let data = STANDARD
        .decode(encrypt.trim())
        .map_err(|_| PushError::Decrypt("not base64"))?;
    if data.is_empty() || data.len() % 16 != 0 {
        return Err(PushError::Decrypt("not whole AES blocks"));
    }
    let plain = cbc::Decryptor::<Aes256>::new(&key.0.into(), &key.iv().into())
        .decrypt_padded_vec_mut::<NoPadding>(&data)
        .map_err(|_| PushError::Decrypt("not whole AES blocks"))?;
    let plain = unpad(&plain)?;
    let short = PushError::Decrypt("too short");
    let len_bytes: [u8; 4] = plain
        .get(16..20)
        .and_then(|b| b.try_into().ok())
        .ok_or(short.clone())?;
    let len = usize::try_from(u32::from_be_bytes(len_bytes)).map_err(|_| short.clone())?;
    let end = 20usize.checked_add(len).ok_or(short.clone())?;
    let message = plain.get(20..end).ok_or(short)?;
    let to = plain.get(end..).unwrap_or_default();
    if to != appid.as_bytes() {
        return Err(PushError::WrongAppid);
    }
    String::from_utf8(message.to_vec()).map_err(|_| PushError::Decrypt("not UTF-8"))
}

/// The format of a push body (chosen in the mini-program console).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PushFormat {
    Xml,
    Json,
}

/// Reads an XML or JSON body into a flat map. JSON numbers and booleans become
/// their text; nested values (events paylog does not read) are left out.
pub fn parse_body(body: &str) -> Result<(PushFormat, Fields), PushError> {
    if body.len() > MAX_PUSH_BODY_BYTES {
        return Err(PushError::TooLarge {
            size: body.len(),
            limit: MAX_PUSH_BODY_BYTES,
        });
    }
    let trimmed = body.trim();
    if trimmed.starts_with('<') {
        return Ok((PushFormat::Xml, parse_xml(trimmed)?));
    }
    let value: serde_json::Map<String, serde_json::Value> = serde_json::from_str(trimmed)
        .map_err(|_| PushError::Malformed("neither XML nor a JSON object".into()))?;
    let mut fields = Fields::new();
    for (k, v) in value {
        let text = match v {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            _ => continue,
        };
        fields.insert(k, text);
    }
    Ok((PushFormat::Json, fields))
}

/// Renders `fields` in `format`; in JSON, all-digit values of [`NUMERIC_FIELDS`]
/// are numbers, as WeChat sends them.
pub fn render_body(fields: &Fields, format: PushFormat) -> String {
    match format {
        PushFormat::Xml => to_xml(fields),
        PushFormat::Json => {
            let map: serde_json::Map<String, serde_json::Value> = fields
                .iter()
                .map(|(k, v)| {
                    let number = NUMERIC_FIELDS
                        .contains(&k.as_str())
                        .then(|| v.parse::<i64>().ok())
                        .flatten();
                    let value = number.map_or_else(
                        || serde_json::Value::String(v.clone()),
                        serde_json::Value::from,
                    );
                    (k.clone(), value)
                })
                .collect();
            serde_json::Value::Object(map).to_string()
        }
    }
}

/// Fields WeChat sends as JSON numbers.
pub const NUMERIC_FIELDS: [&str; 7] = [
    "CreateTime",
    "pay_time",
    "shipped_time",
    "estimated_settlement_time",
    "confirm_receive_method",
    "confirm_receive_time",
    "settlement_time",
];

/// The query string of a push (and of the `GET` handshake).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PushQuery {
    #[serde(default)]
    pub signature: Option<String>,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub nonce: Option<String>,
    /// The handshake's challenge, echoed back.
    #[serde(default)]
    pub echostr: Option<String>,
    /// `aes` in safe mode.
    #[serde(default)]
    pub encrypt_type: Option<String>,
    #[serde(default)]
    pub msg_signature: Option<String>,
}

impl PushQuery {
    fn get(&self, value: &Option<String>, name: &'static str) -> Result<String, PushError> {
        value.clone().ok_or(PushError::MissingParameter(name))
    }
}

/// How pushes are sent (the console's 数据加密方式): plain text, or encrypted
/// (safe mode, recommended: only then is the body authenticated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PushMode {
    Plain,
    Safe,
}

/// What verifies and opens pushes: the console's token, EncodingAESKey and mode,
/// and the mini-program's appid.
#[derive(Clone)]
pub struct PushSettings {
    pub token: SecretString,
    /// Required in safe mode.
    pub key: Option<EncodingAesKey>,
    pub appid: String,
    pub mode: PushMode,
}

impl std::fmt::Debug for PushSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushSettings")
            .field("appid", &self.appid)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl PushSettings {
    /// The `GET` handshake: the `echostr` to echo if `signature` verifies.
    pub fn handshake(&self, q: &PushQuery) -> Result<String, PushError> {
        self.check_signature(q)?;
        q.get(&q.echostr, "echostr")
    }

    fn check_signature(&self, q: &PushQuery) -> Result<(), PushError> {
        let timestamp = q.get(&q.timestamp, "timestamp")?;
        let nonce = q.get(&q.nonce, "nonce")?;
        let given = q.get(&q.signature, "signature")?;
        let expected = signature(&[self.token.expose_secret(), &timestamp, &nonce]);
        if signature_matches(&expected, &given) {
            Ok(())
        } else {
            Err(PushError::BadSignature)
        }
    }

    /// Verifies and opens a `POST`ed push in the configured mode.
    pub fn open(&self, q: &PushQuery, body: &str) -> Result<Opened, PushError> {
        let (format, outer) = parse_body(body)?;
        match self.mode {
            PushMode::Plain => {
                self.check_signature(q)?;
                Ok(Opened {
                    format,
                    message: PushMessage::from_fields(&outer)?,
                    authenticated: false,
                })
            }
            PushMode::Safe => {
                let key = self.key.as_ref().ok_or(PushError::BadKey)?;
                let (Some("aes"), Some(encrypt)) =
                    (q.encrypt_type.as_deref(), outer.get("Encrypt"))
                else {
                    return Err(PushError::NotEncrypted);
                };
                let timestamp = q.get(&q.timestamp, "timestamp")?;
                let nonce = q.get(&q.nonce, "nonce")?;
                let given = q.get(&q.msg_signature, "msg_signature")?;
                let expected =
                    signature(&[self.token.expose_secret(), &timestamp, &nonce, encrypt]);
                if !signature_matches(&expected, &given) {
                    return Err(PushError::BadSignature);
                }
                let inner = unseal(key, encrypt, &self.appid)?;
                let (_, fields) = parse_body(&inner)?;
                Ok(Opened {
                    format,
                    message: PushMessage::from_fields(&fields)?,
                    authenticated: true,
                })
            }
        }
    }
}

/// A push whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub format: PushFormat,
    pub message: PushMessage,
    /// Whether the signature covered the body (safe mode). A plain-mode body is a
    /// hint to be confirmed with WeChat before anything is recorded.
    pub authenticated: bool,
}

/// `confirm_receive_method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfirmReceiveMethod {
    /// 1: WeChat confirmed automatically (days after shipment).
    Auto,
    /// 2: the shopper confirmed.
    Manual,
}

impl ConfirmReceiveMethod {
    pub fn code(self) -> u8 {
        match self {
            Self::Auto => 1,
            Self::Manual => 2,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::Auto),
            2 => Some(Self::Manual),
            _ => None,
        }
    }
}

/// `trade_manage_order_settlement`: sent when an order ships (with only
/// `estimated_settlement_time`: not settled yet) and when it settles (with the
/// confirmation of receipt and `settlement_time`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OrderSettlement {
    pub transaction_id: String,
    pub merchant_id: String,
    pub sub_merchant_id: Option<String>,
    pub merchant_trade_no: String,
    pub pay_time: Option<DateTime<Utc>>,
    pub shipped_time: Option<DateTime<Utc>>,
    pub estimated_settlement_time: Option<DateTime<Utc>>,
    pub confirm_receive_method: Option<ConfirmReceiveMethod>,
    pub confirm_receive_time: Option<DateTime<Utc>>,
    pub settlement_time: Option<DateTime<Utc>>,
}

impl OrderSettlement {
    /// The event's fields (without the common `ToUserName` … `Event`).
    pub fn fields(&self) -> Fields {
        let mut f = Fields::new();
        let mut put = |k: &str, v: String| {
            f.insert(k.to_owned(), v);
        };
        put("transaction_id", self.transaction_id.clone());
        put("merchant_id", self.merchant_id.clone());
        if let Some(s) = &self.sub_merchant_id {
            put("sub_merchant_id", s.clone());
        }
        put("merchant_trade_no", self.merchant_trade_no.clone());
        let times = [
            ("pay_time", self.pay_time),
            ("shipped_time", self.shipped_time),
            ("estimated_settlement_time", self.estimated_settlement_time),
            ("confirm_receive_time", self.confirm_receive_time),
            ("settlement_time", self.settlement_time),
        ];
        for (k, t) in times {
            if let Some(t) = t {
                put(k, t.timestamp().to_string());
            }
        }
        if let Some(m) = self.confirm_receive_method {
            put("confirm_receive_method", m.code().to_string());
        }
        f
    }
}

/// `trade_manage_remind_shipping`: a paid order waits for its shipping information.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RemindShipping {
    pub transaction_id: String,
    pub merchant_id: String,
    pub merchant_trade_no: String,
    pub pay_time: Option<DateTime<Utc>>,
    pub msg: String,
}

/// A push's event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushEvent {
    OrderSettlement(OrderSettlement),
    RemindShipping(RemindShipping),
    RemindAccessApi {
        msg: String,
    },
    /// Any other message or event: accepted and ignored.
    Other {
        msg_type: String,
        event: String,
    },
}

/// A push: the common fields and the typed event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushMessage {
    /// The mini-program's original id (`gh_…`).
    pub to_user_name: String,
    pub from_user_name: String,
    pub create_time: Option<DateTime<Utc>>,
    pub event: PushEvent,
}

fn text(f: &Fields, k: &str) -> String {
    f.get(k).cloned().unwrap_or_default()
}

/// A seconds timestamp; absent, empty or 0 is none.
fn time(f: &Fields, k: &'static str) -> Result<Option<DateTime<Utc>>, PushError> {
    match f.get(k).map(|s| s.trim()) {
        None | Some("") | Some("0") => Ok(None),
        Some(s) => {
            let secs: i64 = s
                .parse()
                .map_err(|_| PushError::InvalidField { field: k })?;
            DateTime::from_timestamp(secs, 0)
                .map(Some)
                .ok_or(PushError::InvalidField { field: k })
        }
    }
}

impl PushMessage {
    /// Types a flat message. Unknown events are [`PushEvent::Other`]; a known one
    /// with unreadable fields is refused.
    pub fn from_fields(f: &Fields) -> Result<Self, PushError> {
        let msg_type = text(f, "MsgType");
        let event_name = text(f, "Event");
        let event = match (msg_type.as_str(), event_name.as_str()) {
            ("event", EVENT_ORDER_SETTLEMENT) => {
                let s = OrderSettlement {
                    transaction_id: text(f, "transaction_id"),
                    merchant_id: text(f, "merchant_id"),
                    sub_merchant_id: f.get("sub_merchant_id").filter(|s| !s.is_empty()).cloned(),
                    merchant_trade_no: text(f, "merchant_trade_no"),
                    pay_time: time(f, "pay_time")?,
                    shipped_time: time(f, "shipped_time")?,
                    estimated_settlement_time: time(f, "estimated_settlement_time")?,
                    confirm_receive_method: match f.get("confirm_receive_method").map(|s| s.trim())
                    {
                        None | Some("") | Some("0") => None,
                        Some(s) => Some(
                            s.parse()
                                .ok()
                                .and_then(ConfirmReceiveMethod::from_code)
                                .ok_or(PushError::InvalidField {
                                    field: "confirm_receive_method",
                                })?,
                        ),
                    },
                    confirm_receive_time: time(f, "confirm_receive_time")?,
                    settlement_time: time(f, "settlement_time")?,
                };
                if s.transaction_id.is_empty() && s.merchant_trade_no.is_empty() {
                    return Err(PushError::InvalidField {
                        field: "transaction_id",
                    });
                }
                PushEvent::OrderSettlement(s)
            }
            ("event", EVENT_REMIND_SHIPPING) => PushEvent::RemindShipping(RemindShipping {
                transaction_id: text(f, "transaction_id"),
                merchant_id: text(f, "merchant_id"),
                merchant_trade_no: text(f, "merchant_trade_no"),
                pay_time: time(f, "pay_time")?,
                msg: text(f, "msg"),
            }),
            ("event", EVENT_REMIND_ACCESS_API) => PushEvent::RemindAccessApi {
                msg: text(f, "msg"),
            },
            _ => PushEvent::Other {
                msg_type,
                event: event_name,
            },
        };
        Ok(Self {
            to_user_name: text(f, "ToUserName"),
            from_user_name: text(f, "FromUserName"),
            create_time: time(f, "CreateTime")?,
            event,
        })
    }

    /// The flat fields of a settlement push, as WeChat sends them.
    pub fn settlement_fields(
        to_user_name: &str,
        create_time: DateTime<Utc>,
        settlement: &OrderSettlement,
    ) -> Fields {
        let mut f = settlement.fields();
        f.insert("ToUserName".into(), to_user_name.into());
        // The sender is a system account.
        f.insert("FromUserName".into(), "o7esq5OI1Uyu_IE5CZtBvaXpIKdI".into());
        f.insert("CreateTime".into(), create_time.timestamp().to_string());
        f.insert("MsgType".into(), "event".into());
        f.insert("Event".into(), EVENT_ORDER_SETTLEMENT.into());
        f
    }
}

/// The outer body of a safe-mode push: `ToUserName` and `Encrypt`.
pub fn sealed_body(to_user_name: &str, encrypt: &str, format: PushFormat) -> String {
    let mut f = Fields::new();
    f.insert("ToUserName".into(), to_user_name.into());
    f.insert("Encrypt".into(), encrypt.into());
    render_body(&f, format)
}

#[cfg(test)]
#[path = "push_tests.rs"]
mod tests;
