//! Request signing: the `METHOD\nURL\nTIMESTAMP\nNONCE\nBODY\n` message and the
//! `Authorization: WECHATPAY2-SHA256-RSA2048 …` header, both ways (the simulator
//! verifies what the client signs).

use std::fmt;

use serde::Serialize;

use super::keys::{CertificateSerial, RsaSigningKey, RsaVerifyingKey, truncate};
use super::{SIGNATURE_TYPE, WxPayV3Error};

/// Longest nonce accepted in a signed message (WeChat's are 32 characters).
pub const MAX_NONCE_CHARS: usize = 64;
/// Longest `Authorization` header value parsed.
pub const MAX_AUTHORIZATION_BYTES: usize = 2048;

/// The merchant's identity and key: everything a request is signed with.
#[derive(Debug, Clone)]
pub struct MerchantSigner {
    mchid: String,
    serial: CertificateSerial,
    key: RsaSigningKey,
}

/// A signed request: the exact message that was signed (for the toolbox and for
/// debugging a `SIGN_ERROR`) and the `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    pub message: String,
    pub authorization: Authorization,
}

impl MerchantSigner {
    /// `mchid` is the merchant id, `serial` the serial of the merchant's API
    /// certificate (`serial_no`), `key` its private key (`apiclient_key.pem`).
    pub fn new(
        mchid: &str,
        serial: CertificateSerial,
        key: RsaSigningKey,
    ) -> Result<Self, WxPayV3Error> {
        if mchid.is_empty() || mchid.len() > 32 || !mchid.bytes().all(|b| b.is_ascii_digit()) {
            return Err(WxPayV3Error::InvalidIdentifier {
                what: "mchid",
                value: truncate(mchid),
                expected: "the merchant id, digits only",
            });
        }
        Ok(Self {
            mchid: mchid.to_owned(),
            serial,
            key,
        })
    }

    pub fn mchid(&self) -> &str {
        &self.mchid
    }

    pub fn serial(&self) -> &CertificateSerial {
        &self.serial
    }

    pub fn key(&self) -> &RsaSigningKey {
        &self.key
    }

    /// Signs one request. `path_and_query` is the URL without scheme and host
    /// (`/v3/pay/transactions/id/42?mchid=1900000109`), `body` the exact bytes
    /// that will be sent (empty for GET). The timestamp and nonce come from the
    /// caller: this crate has no clock and no randomness.
    pub fn sign_request(
        &self,
        method: &str,
        path_and_query: &str,
        timestamp_secs: i64,
        nonce: &str,
        body: &str,
    ) -> Result<SignedRequest, WxPayV3Error> {
        let message = request_message(method, path_and_query, timestamp_secs, nonce, body)?;
        let signature = self.key.sign_base64(message.as_bytes())?;
        Ok(SignedRequest {
            message,
            authorization: Authorization {
                mchid: self.mchid.clone(),
                nonce_str: nonce.to_owned(),
                signature,
                timestamp_secs,
                serial_no: self.serial.as_str().to_owned(),
            },
        })
    }
}

/// A JSON request body serialised once, with its signature: send `body` exactly
/// as returned (serialising the value again could reorder or re-escape it and
/// break the signature).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedJson {
    pub body: String,
    pub signed: SignedRequest,
}

impl MerchantSigner {
    /// Serialises `body` and signs the result (see [`Self::sign_request`]).
    pub fn sign_json<T: Serialize>(
        &self,
        method: &str,
        path_and_query: &str,
        timestamp_secs: i64,
        nonce: &str,
        body: &T,
    ) -> Result<SignedJson, WxPayV3Error> {
        let body = serde_json::to_string(body).map_err(|e| WxPayV3Error::Json {
            what: "request body",
            reason: e.to_string(),
        })?;
        let signed = self.sign_request(method, path_and_query, timestamp_secs, nonce, &body)?;
        Ok(SignedJson { body, signed })
    }
}

/// `METHOD\nPATH_AND_QUERY\nTIMESTAMP\nNONCE\nBODY\n`. Refuses a method, URL or
/// nonce with a newline (it would shift the fields) or other odd characters.
pub fn request_message(
    method: &str,
    path_and_query: &str,
    timestamp_secs: i64,
    nonce: &str,
    body: &str,
) -> Result<String, WxPayV3Error> {
    check_request_parts(method, path_and_query, nonce)?;
    Ok(format!(
        "{method}\n{path_and_query}\n{timestamp_secs}\n{nonce}\n{body}\n"
    ))
}

/// The same message over a body of raw bytes, as a server receives it.
pub fn request_message_bytes(
    method: &str,
    path_and_query: &str,
    timestamp_secs: i64,
    nonce: &str,
    body: &[u8],
) -> Result<Vec<u8>, WxPayV3Error> {
    check_request_parts(method, path_and_query, nonce)?;
    let mut message =
        format!("{method}\n{path_and_query}\n{timestamp_secs}\n{nonce}\n").into_bytes();
    message.extend_from_slice(body);
    message.push(b'\n');
    Ok(message)
}

fn check_request_parts(
    method: &str,
    path_and_query: &str,
    nonce: &str,
) -> Result<(), WxPayV3Error> {
    check_method(method)?;
    if !path_and_query.starts_with('/')
        || path_and_query
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(WxPayV3Error::UnsignableValue {
            what: "URL (path and query, starting with /)",
            value: truncate(path_and_query),
        });
    }
    check_nonce(nonce)
}

fn check_method(method: &str) -> Result<(), WxPayV3Error> {
    if method.is_empty() || method.len() > 8 || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(WxPayV3Error::UnsignableValue {
            what: "HTTP method (upper case)",
            value: truncate(method),
        });
    }
    Ok(())
}

/// Nonces are printable ASCII without `"`, `,` or whitespace: they sit inside the
/// quoted `Authorization` parameters and on their own line of the message.
pub(crate) fn check_nonce(nonce: &str) -> Result<(), WxPayV3Error> {
    let valid = !nonce.is_empty()
        && nonce.len() <= MAX_NONCE_CHARS
        && nonce
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b',');
    if !valid {
        return Err(WxPayV3Error::UnsignableValue {
            what: "nonce (1 to 64 printable ASCII characters)",
            value: truncate(nonce),
        });
    }
    Ok(())
}

/// Verifies a merchant's request as WeChat does (the simulator's side): the
/// signature in `authorization` over the request as received.
pub fn verify_request(
    authorization: &Authorization,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    merchant_key: &RsaVerifyingKey,
) -> Result<(), WxPayV3Error> {
    let message = request_message_bytes(
        method,
        path_and_query,
        authorization.timestamp_secs,
        &authorization.nonce_str,
        body,
    )?;
    merchant_key.verify_base64(&message, &authorization.signature, &authorization.serial_no)
}

/// The parameters of `Authorization: WECHATPAY2-SHA256-RSA2048 …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub mchid: String,
    pub nonce_str: String,
    pub signature: String,
    pub timestamp_secs: i64,
    pub serial_no: String,
}

impl Authorization {
    /// Parses a header value. Parameters may come in any order (the official Go
    /// and Java SDKs put `timestamp` and `serial_no` before `signature`, WeChat's
    /// documentation and the Python SDK after); each must appear exactly once.
    pub fn parse(value: &str) -> Result<Self, WxPayV3Error> {
        let bad = |why: &str| WxPayV3Error::AuthorizationParse(why.to_owned());
        if value.len() > MAX_AUTHORIZATION_BYTES {
            return Err(bad("longer than 2048 bytes"));
        }
        let rest = value
            .strip_prefix(SIGNATURE_TYPE)
            .and_then(|r| r.strip_prefix(' '))
            .ok_or_else(|| bad("it does not start with `WECHATPAY2-SHA256-RSA2048 `"))?;
        let mut mchid = None;
        let mut nonce_str = None;
        let mut signature = None;
        let mut timestamp = None;
        let mut serial_no = None;
        for part in rest.split(',') {
            let (key, quoted) = part
                .trim()
                .split_once('=')
                .ok_or_else(|| bad("a parameter has no `=`"))?;
            let v = quoted
                .strip_prefix('"')
                .and_then(|q| q.strip_suffix('"'))
                .ok_or_else(|| bad("a parameter value is not in double quotes"))?;
            let slot = match key {
                "mchid" => &mut mchid,
                "nonce_str" => &mut nonce_str,
                "signature" => &mut signature,
                "timestamp" => &mut timestamp,
                "serial_no" => &mut serial_no,
                _ => return Err(bad("an unknown parameter")),
            };
            if slot.replace(v.to_owned()).is_some() {
                return Err(bad("a parameter appears twice"));
            }
        }
        let timestamp = timestamp.ok_or_else(|| bad("timestamp is missing"))?;
        Ok(Self {
            mchid: mchid.ok_or_else(|| bad("mchid is missing"))?,
            nonce_str: nonce_str.ok_or_else(|| bad("nonce_str is missing"))?,
            signature: signature.ok_or_else(|| bad("signature is missing"))?,
            timestamp_secs: timestamp
                .parse()
                .map_err(|_| bad("timestamp is not a number"))?,
            serial_no: serial_no.ok_or_else(|| bad("serial_no is missing"))?,
        })
    }
}

/// The header value, parameters in the order of WeChat's documentation.
impl fmt::Display for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{SIGNATURE_TYPE} mchid=\"{}\",nonce_str=\"{}\",signature=\"{}\",timestamp=\"{}\",serial_no=\"{}\"",
            self.mchid, self.nonce_str, self.signature, self.timestamp_secs, self.serial_no
        )
    }
}
