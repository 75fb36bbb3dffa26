//! `WxPayV3Error`: everything that can go wrong while speaking WeChat Pay API v3.

/// One error type for the v3 protocol layer. Every message is one line that says
/// what is wrong and, where a merchant's configuration is the likely cause, which
/// setting to look at. Messages never contain a private key, the APIv3 key, or
/// the signature we would have expected (that would make a verifier an oracle).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WxPayV3Error {
    // --- configuration -----------------------------------------------------------
    #[error("the {what} does not parse as a PEM RSA key: {reason}")]
    KeyParse { what: &'static str, reason: String },
    #[error(
        "the {what} is a {bits}-bit RSA key; WeChat Pay v3 needs RSA of at least {min_bits} bits"
    )]
    KeyTooSmall {
        what: &'static str,
        bits: usize,
        min_bits: usize,
    },
    #[error(
        "the APIv3 key is {len_bytes} bytes; it must be exactly 32 (the key set under \
         API安全 → APIv3密钥, not the v2 API key or the mchid)"
    )]
    ApiV3KeyLength { len_bytes: usize },
    #[error("{what} {value:?} does not look like one: {expected}")]
    InvalidIdentifier {
        what: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("the platform certificate does not parse: {0}")]
    CertificateParse(String),
    #[error(
        "/v3/certificates lists serial {listed} but its certificate has serial {actual}; refusing it"
    )]
    CertificateSerialMismatch { listed: String, actual: String },
    #[error("more than {limit} platform certificates; refusing to keep more")]
    TooManyCertificates { limit: usize },

    // --- verifying WeChat --------------------------------------------------------
    #[error("the response carries no {0} header, so nothing in it can be trusted")]
    MissingHeader(&'static str),
    #[error("header {header} is {len_bytes} bytes, over the {limit_bytes}-byte limit")]
    HeaderTooLong {
        header: &'static str,
        len_bytes: usize,
        limit_bytes: usize,
    },
    #[error("Wechatpay-Signature-Type {0:?} is not WECHATPAY2-SHA256-RSA2048")]
    UnsupportedSignatureType(String),
    #[error("Wechatpay-Timestamp {0:?} is not a number of seconds")]
    BadTimestamp(String),
    #[error(
        "Wechatpay-Timestamp {timestamp_secs} is {skew_secs} s away from now ({now_secs}); \
         more than {limit_secs} s is refused (replay, or this host's clock is wrong)"
    )]
    StaleTimestamp {
        timestamp_secs: i64,
        now_secs: i64,
        skew_secs: u64,
        limit_secs: u64,
    },
    #[error(
        "Wechatpay-Serial {serial:?} is neither the configured WeChat Pay public key id ({public_key_id}) \
         nor a known platform certificate ({certificates}); check PAYLOG_WECHAT_PUBLIC_KEY_ID or refresh \
         the platform certificates"
    )]
    UnknownSerial {
        serial: String,
        public_key_id: String,
        certificates: String,
    },
    #[error(
        "platform certificate {serial} is valid from {not_before} to {not_after}, not at {now}; \
         refresh /v3/certificates or switch to the WeChat Pay public key"
    )]
    CertificateNotValidNow {
        serial: String,
        not_before: String,
        not_after: String,
        now: String,
    },
    #[error(
        "the signature is a WeChat signature probe (WECHATPAY/SIGNTEST/…); it is refused by design"
    )]
    SignatureProbe,
    #[error(
        "the signature does not verify with the key of serial {serial}: the body was altered or \
         re-serialised after it arrived, or it was signed with another key"
    )]
    SignatureMismatch { serial: String },
    #[error("signing failed: {0}")]
    Sign(String),
    #[error("the {what} contains a character that breaks the signed message: {value:?}")]
    UnsignableValue { what: &'static str, value: String },
    #[error("the Authorization header does not parse: {0}")]
    AuthorizationParse(String),

    // --- resources -----------------------------------------------------------------
    #[error("resource algorithm {0:?} is not AEAD_AES_256_GCM")]
    UnsupportedAlgorithm(String),
    #[error("resource_type {0:?} is not encrypt-resource")]
    UnsupportedResourceType(String),
    #[error("the resource nonce is {len_bytes} bytes; AEAD_AES_256_GCM needs 12")]
    NonceLength { len_bytes: usize },
    #[error("{field} is not valid base64")]
    Base64 { field: &'static str },
    #[error(
        "AEAD_AES_256_GCM tag mismatch: the APIv3 key is not this merchant's (a v2 API key used as \
         the APIv3 key, another merchant's key, or the key was reset in the merchant platform), or \
         the ciphertext, nonce or associated_data was altered"
    )]
    TagMismatch,
    #[error("{what} is {size_bytes} bytes, over the {limit_bytes}-byte limit")]
    TooLarge {
        what: &'static str,
        size_bytes: usize,
        limit_bytes: usize,
    },
    #[error("event_type {0:?} is not one paylog handles")]
    UnsupportedEventType(String),
    #[error("{what} is not the JSON WeChat documents: {reason}")]
    Json { what: &'static str, reason: String },
    #[error("the decrypted resource is not UTF-8")]
    NotUtf8,

    // --- bills ---------------------------------------------------------------------
    #[error("bill hash_type {0:?} is not SHA1")]
    UnsupportedHashType(String),
    #[error("the bill file's SHA1 {actual} is not the hash_value {expected} WeChat announced")]
    BillHashMismatch { expected: String, actual: String },
    #[error("download_url {0:?} is not an https URL with a path")]
    BadDownloadUrl(String),
}
