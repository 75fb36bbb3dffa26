//! WeChat Pay API v3 at the simulated WeChat: RSA-signed JSON both ways.
//!
//! Every request's `Authorization` is verified over the raw request bytes with
//! the merchant's public key (401 `SIGN_ERROR` otherwise), every answer (an
//! empty 204 included) is signed with the simulator's WeChat Pay key and carries
//! every `Wechatpay-*` header, and fields are validated (400 `PARAM_ERROR`).
//! Orders are the same [`crate::SimOrder`]s as v2 (an order opened on v2 can be
//! queried on v3 and the other way round), marked with the API that opened them
//! so the notify of a payment speaks that API.
//!
//! Public-key mode only (the mode of every merchant onboarded today); the key
//! and its id are served at `GET /sim/v3/public-key` for the merchant's
//! configuration. `POST /sim/v3/answer-faults` makes the next answers misbehave
//! (see [`AnswerFaults`]).

mod bill;
mod notify;
mod pay;
mod refund;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use paylog_core::wxpay_v3::api::ErrorBody;
use paylog_core::wxpay_v3::{
    ApiV3Key, Authorization, CertificateSerial, EncryptedResource, MerchantSigner, MerchantV3,
    PlatformCertificate, PublicKeyId, RsaSigningKey, RsaVerifyingKey, Verifier, WechatPayPublicKey,
    WxPayV3Error, sign_response, verify::check_timestamp, verify_request,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Sim;
use super::wire::nonce;

pub(crate) use notify::pay_notify;

/// The merchant's demo private key (TEST ONLY, committed): what a client of the
/// simulator signs with when nobody configured another.
pub const DEMO_MERCHANT_PRIVATE_KEY_PEM: &str = include_str!("demo_merchant_key.test-only.pem");
/// The serial of the demo merchant's API certificate.
pub const DEMO_MERCHANT_SERIAL: &str = "3775B6A45ACD588826D15E583A95F5DD0A1A5A1B";
/// The simulator's demo WeChat Pay private key (TEST ONLY, committed).
pub const DEMO_WECHATPAY_PRIVATE_KEY_PEM: &str = include_str!("demo_wechatpay_key.test-only.pem");
/// The id of the simulator's demo WeChat Pay public key.
pub const DEMO_PUBLIC_KEY_ID: &str = "PUB_KEY_ID_0119000001092026010100000000000001";
/// The demo APIv3 key (32 bytes; deliberately not the demo v2 key).
pub const DEMO_APIV3_KEY: &str = "paylogsimulatorAPIv3key000000000";

/// The simulator's platform certificate (TEST ONLY, committed, valid 2026–2030),
/// used in platform-certificate mode.
pub const DEMO_PLATFORM_CERTIFICATE_PEM: &str =
    include_str!("demo_platform_certificate.test-only.pem");
/// The private key of [`DEMO_PLATFORM_CERTIFICATE_PEM`] (TEST ONLY, committed).
pub const DEMO_PLATFORM_CERTIFICATE_KEY_PEM: &str =
    include_str!("demo_platform_certificate_key.test-only.pem");

/// Platform-certificate mode (a merchant onboarded before the WeChat Pay public
/// key): answers and notifies are signed with the certificate's key under its
/// serial, and `GET /v3/certificates` lists it, encrypted with the APIv3 key.
#[derive(Debug, Clone)]
pub struct SimPlatformCertificate {
    pub pem: String,
    pub certificate: PlatformCertificate,
    pub key: RsaSigningKey,
}

impl SimPlatformCertificate {
    /// The committed TEST-ONLY certificate and key.
    pub fn demo() -> Result<Self, WxPayV3Error> {
        Ok(Self {
            pem: DEMO_PLATFORM_CERTIFICATE_PEM.to_owned(),
            certificate: PlatformCertificate::from_pem(DEMO_PLATFORM_CERTIFICATE_PEM)?,
            key: RsaSigningKey::from_pem(
                "platform certificate key",
                DEMO_PLATFORM_CERTIFICATE_KEY_PEM,
            )?,
        })
    }
}

/// The v3 side of the simulated merchant and of the simulated WeChat.
#[derive(Debug, Clone)]
pub struct SimV3Config {
    /// Signs answers and notifies (the WeChat Pay private key).
    pub wechatpay_key: RsaSigningKey,
    /// The id `Wechatpay-Serial` names.
    pub public_key_id: PublicKeyId,
    /// Encrypts notify resources.
    pub apiv3_key: ApiV3Key,
    /// The merchant's API certificate serial (`serial_no` of `Authorization`).
    pub merchant_serial: CertificateSerial,
    /// Verifies the merchant's requests.
    pub merchant_public_key: RsaVerifyingKey,
    /// `Some`: platform-certificate mode (see [`SimPlatformCertificate`]);
    /// `None`: public-key mode, and `/v3/certificates` answers 404.
    pub platform_certificate: Option<SimPlatformCertificate>,
}

impl SimV3Config {
    /// The committed TEST-ONLY demo keys.
    pub fn demo() -> Result<Self, WxPayV3Error> {
        let merchant =
            RsaSigningKey::from_pem("merchant private key", DEMO_MERCHANT_PRIVATE_KEY_PEM)?;
        Ok(Self {
            wechatpay_key: RsaSigningKey::from_pem(
                "WeChat Pay private key",
                DEMO_WECHATPAY_PRIVATE_KEY_PEM,
            )?,
            public_key_id: PublicKeyId::parse(DEMO_PUBLIC_KEY_ID)?,
            apiv3_key: ApiV3Key::new(DEMO_APIV3_KEY.as_bytes())?,
            merchant_serial: CertificateSerial::parse("merchant serial", DEMO_MERCHANT_SERIAL)?,
            merchant_public_key: merchant.verifying_key(),
            platform_certificate: None,
        })
    }

    /// The demo merchant's private key (TEST ONLY), for clients of the simulator.
    pub fn demo_merchant_key() -> Result<RsaSigningKey, WxPayV3Error> {
        RsaSigningKey::from_pem("merchant private key", DEMO_MERCHANT_PRIVATE_KEY_PEM)
    }

    /// The WeChat Pay public key as PEM (SubjectPublicKeyInfo), what
    /// `GET /sim/v3/public-key` serves.
    pub fn public_key_pem(&self) -> Result<String, WxPayV3Error> {
        self.wechatpay_key.verifying_key().to_public_key_pem()
    }
}

/// The merchant a client of this simulator is (its appid and mchid, the demo
/// merchant key and serial, its APIv3 key, and its WeChat Pay public key), for
/// `paylog serve` without WeChat settings and for tests.
pub fn demo_merchant(config: &crate::SimConfig) -> Result<MerchantV3, WxPayV3Error> {
    let v3 = config.v3.as_ref().ok_or(WxPayV3Error::KeyParse {
        what: "simulator v3 keys",
        reason: "the simulator has none".to_owned(),
    })?;
    Ok(MerchantV3 {
        appid: config.appid.clone(),
        signer: MerchantSigner::new(
            &config.mch_id,
            v3.merchant_serial.clone(),
            SimV3Config::demo_merchant_key()?,
        )?,
        apiv3_key: v3.apiv3_key.clone(),
        verifier: Verifier::with_public_key(WechatPayPublicKey {
            id: v3.public_key_id.clone(),
            key: v3.wechatpay_key.verifying_key(),
        }),
    })
}

/// How the next answers misbehave (`POST /sim/v3/answer-faults`); the defaults
/// mean an honest WeChat. Each flag applies to every answer until reset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AnswerFaults {
    /// Signed with another RSA key under the right `Wechatpay-Serial`.
    pub bad_sign: bool,
    /// `Wechatpay-Serial` names a key id the merchant does not know.
    pub wrong_key_id: bool,
    /// `Wechatpay-Timestamp` ten minutes in the past.
    pub stale_timestamp: bool,
    /// No `Wechatpay-*` header at all.
    pub unsigned: bool,
    /// Bill downloads serve a file one byte off what its SHA1 announced.
    pub corrupt_bill: bool,
}

/// A key id that is well-formed and nobody's.
pub(crate) const WRONG_KEY_ID: &str = "PUB_KEY_ID_0000000000000000000000000000000000";
/// Seconds a stale timestamp lies in the past (over the 300 s window).
pub(crate) const STALE_SECS: i64 = 600;

pub(crate) fn routes() -> Router<Arc<Sim>> {
    Router::new()
        .route("/v3/pay/transactions/jsapi", post(pay::prepay))
        .route(
            "/v3/pay/transactions/out-trade-no/{out_trade_no}",
            get(pay::query_by_out_trade_no),
        )
        .route(
            "/v3/pay/transactions/id/{transaction_id}",
            get(pay::query_by_transaction_id),
        )
        .route(
            "/v3/pay/transactions/out-trade-no/{out_trade_no}/close",
            post(pay::close),
        )
        .route("/v3/refund/domestic/refunds", post(refund::refund))
        .route(
            "/v3/refund/domestic/refunds/{out_refund_no}",
            get(refund::refund_query),
        )
        .route("/v3/bill/tradebill", get(bill::trade_bill))
        .route("/v3/certificates", get(certificates))
        .route("/v3/billdownload/file", get(bill::download))
        .route("/sim/v3/public-key", get(public_key))
        .route("/sim/v3/answer-faults", post(answer_faults))
}

async fn public_key(State(sim): State<Arc<Sim>>) -> Response {
    let Some(v3) = sim.config.v3.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match v3.public_key_pem() {
        Ok(pem) => Json(json!({
            "public_key_id": v3.public_key_id.as_str(),
            "public_key_pem": pem,
        }))
        .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn answer_faults(
    State(sim): State<Arc<Sim>>,
    Json(faults): Json<AnswerFaults>,
) -> StatusCode {
    sim.state().v3_answer_faults = faults;
    StatusCode::NO_CONTENT
}

/// Signs `body` as WeChat does, honouring `faults`; the `Wechatpay-*` headers.
pub(crate) fn wechatpay_headers(
    sim: &Sim,
    body: &[u8],
    bad_sign: bool,
    wrong_key_id: bool,
    stale_timestamp: bool,
) -> Vec<(&'static str, String)> {
    let Some(v3) = sim.config.v3.as_ref() else {
        return Vec::new();
    };
    let mut now = Utc::now().timestamp();
    if stale_timestamp {
        now -= STALE_SECS;
    }
    let cert_serial;
    let (own_key, own_serial) = match &v3.platform_certificate {
        Some(c) => {
            cert_serial = c.certificate.serial.to_string();
            (&c.key, cert_serial.as_str())
        }
        None => (&v3.wechatpay_key, v3.public_key_id.as_str()),
    };
    let serial = if wrong_key_id {
        WRONG_KEY_ID
    } else {
        own_serial
    };
    let forged;
    let key = if bad_sign {
        // Any other RSA key: the merchant's own will do, WeChat never has it.
        forged = RsaSigningKey::from_pem("forged key", DEMO_MERCHANT_PRIVATE_KEY_PEM).ok();
        forged.as_ref().unwrap_or(own_key)
    } else {
        own_key
    };
    match sign_response(key, serial, now, &nonce(), body) {
        Ok(h) => h.to_pairs(),
        Err(e) => {
            tracing::error!(error = %e, "the simulator could not sign an answer");
            Vec::new()
        }
    }
}

/// An answer with a JSON body (or none, for 204), signed.
pub(crate) fn answer(sim: &Sim, status: StatusCode, body: Option<&serde_json::Value>) -> Response {
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let faults = sim.state().v3_answer_faults.clone();
    let headers = if faults.unsigned {
        Vec::new()
    } else {
        wechatpay_headers(
            sim,
            &bytes,
            faults.bad_sign,
            faults.wrong_key_id,
            faults.stale_timestamp,
        )
    };
    let mut response = (status, bytes).into_response();
    let h = response.headers_mut();
    for (name, value) in headers {
        if let Ok(v) = value.parse() {
            h.insert(name, v);
        }
    }
    if body.is_some()
        && let Ok(v) = "application/json".parse()
    {
        h.insert(axum::http::header::CONTENT_TYPE, v);
    }
    response
}

/// A signed error answer `{"code","message"}`.
pub(crate) fn error(sim: &Sim, status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::to_value(ErrorBody {
        code: code.to_owned(),
        message: message.to_owned(),
        detail: None,
    })
    .unwrap_or_default();
    answer(sim, status, Some(&body))
}

pub(crate) fn param_error(sim: &Sim, message: &str) -> Response {
    error(sim, StatusCode::BAD_REQUEST, "PARAM_ERROR", message)
}

/// Authenticates a merchant request on its raw bytes, as WeChat does: the
/// `Authorization` header parses, names this merchant and its certificate
/// serial, is recent, and its signature verifies over
/// `METHOD\nPATH?QUERY\nTIMESTAMP\nNONCE\nBODY\n`.
pub(crate) fn authenticate(
    sim: &Sim,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), Box<Response>> {
    let refuse = |msg: String| Box::new(error(sim, StatusCode::UNAUTHORIZED, "SIGN_ERROR", &msg));
    let Some(v3) = sim.config.v3.as_ref() else {
        return Err(Box::new(error(
            sim,
            StatusCode::INTERNAL_SERVER_ERROR,
            "SYSTEM_ERROR",
            "the simulator has no v3 keys",
        )));
    };
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| refuse("Authorization header is missing".into()))?;
    let auth = Authorization::parse(value).map_err(|e| refuse(e.to_string()))?;
    if auth.mchid != sim.config.mch_id {
        return Err(refuse(format!("mchid {} is not this merchant", auth.mchid)));
    }
    let serial = CertificateSerial::parse("serial_no", &auth.serial_no)
        .map_err(|e| refuse(e.to_string()))?;
    if serial != v3.merchant_serial {
        return Err(refuse(format!(
            "serial_no {} is not the merchant's API certificate",
            auth.serial_no
        )));
    }
    check_timestamp(&auth.timestamp_secs.to_string(), Utc::now())
        .map_err(|e| refuse(e.to_string()))?;
    let path_and_query = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    verify_request(
        &auth,
        method.as_str(),
        path_and_query,
        body,
        &v3.merchant_public_key,
    )
    .map_err(|e| refuse(e.to_string()))?;
    // Public-key mode: WeChat is told which key to sign with.
    if let Some(serial) = headers
        .get("Wechatpay-Serial")
        .and_then(|v| v.to_str().ok())
        && serial != v3.public_key_id.as_str()
    {
        return Err(Box::new(error(
            sim,
            StatusCode::BAD_REQUEST,
            "PARAM_ERROR",
            &format!("Wechatpay-Serial {serial} is not this merchant's public key id"),
        )));
    }
    Ok(())
}

/// A merchant request without a body whose `Authorization` verified
/// ([`authenticate`]): the handlers of GET requests take it instead of
/// repeating the method, URI and headers and the check.
pub(crate) struct Signed;

impl FromRequestParts<Arc<Sim>> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, sim: &Arc<Sim>) -> Result<Self, Response> {
        authenticate(sim, &parts.method, &parts.uri, &parts.headers, b"").map_err(|r| *r)?;
        Ok(Signed)
    }
}

/// A merchant request whose `Authorization` verified over its raw body and whose
/// body parsed as `T` (400 `PARAM_ERROR` otherwise, in WeChat's words).
pub(crate) struct SignedJson<T>(pub T);

impl<T: serde::de::DeserializeOwned> FromRequest<Arc<Sim>> for SignedJson<T> {
    type Rejection = Response;

    async fn from_request(req: Request, sim: &Arc<Sim>) -> Result<Self, Response> {
        let (method, uri, headers) = (
            req.method().clone(),
            req.uri().clone(),
            req.headers().clone(),
        );
        let body = Bytes::from_request(req, sim)
            .await
            .map_err(IntoResponse::into_response)?;
        authenticate(sim, &method, &uri, &headers, &body).map_err(|r| *r)?;
        serde_json::from_slice(&body)
            .map(SignedJson)
            .map_err(|e| param_error(sim, &format!("请求体不合法: {e}")))
    }
}

/// `GET /v3/certificates`: in platform-certificate mode the certificate, encrypted
/// with the APIv3 key (associated data `certificate`, as WeChat does) and signed
/// like every answer; in public-key mode 404, as WeChat answers a merchant
/// onboarded with a public key ("无可用的平台证书").
pub(crate) async fn certificates(State(sim): State<Arc<Sim>>, _: Signed) -> Response {
    let Some(v3) = sim.config.v3.as_ref() else {
        return error(&sim, StatusCode::NOT_FOUND, "NOT_FOUND", "无可用的平台证书");
    };
    let Some(cert) = &v3.platform_certificate else {
        return error(&sim, StatusCode::NOT_FOUND, "NOT_FOUND", "无可用的平台证书");
    };
    let nonce_str: String = nonce().chars().take(12).collect();
    let encrypted = EncryptedResource::encrypt(
        &v3.apiv3_key,
        &nonce_str,
        Some("certificate"),
        None,
        cert.pem.as_bytes(),
    );
    let encrypted = match encrypted {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "the simulator could not encrypt its certificate");
            return error(
                &sim,
                StatusCode::INTERNAL_SERVER_ERROR,
                "SYSTEM_ERROR",
                "系统错误",
            );
        }
    };
    let beijing = chrono::FixedOffset::east_opt(8 * 3600);
    let time = |t: chrono::DateTime<Utc>| beijing.map(|o| t.with_timezone(&o).to_rfc3339());
    let body = json!({"data": [{
        "serial_no": cert.certificate.serial.to_string(),
        "effective_time": time(cert.certificate.not_before),
        "expire_time": time(cert.certificate.not_after),
        "encrypt_certificate": encrypted,
    }]});
    answer(&sim, StatusCode::OK, Some(&body))
}
