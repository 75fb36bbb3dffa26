//! WeChat Pay API v3: every reference vector of `tests/data/wxpay_v3_vectors.json`
//! (made by `make_wxpay_v3_vectors.py` with openssl and Python's `cryptography`),
//! the refusals (forged signature, wrong serial, stale timestamp, tampered
//! ciphertext, short APIv3 keys), and property tests of the round trips.

#![allow(
    clippy::expect_used,
    reason = "a test fails loudly on a broken fixture; that is its job"
)]

use chrono::{DateTime, Duration, Utc};
use paylog_core::Fen;
use paylog_core::wxpay_v3::api::{
    self, BillType, RefundOf, RefundRequest, TradeBillResponse, TradeState, paths,
};
use paylog_core::wxpay_v3::{
    ApiV3Key, Authorization, CertificateSerial, CertificateStore, CertificatesResponse,
    EncryptedResource, MerchantSigner, MiniProgramPayParams, NotifyEventType, NotifyPayload,
    PlatformCertificate, PublicKeyId, RsaSigningKey, RsaVerifyingKey, VerifiedBy, Verifier,
    WechatPayPublicKey, WechatpayHeaders, WxPayV3Error, decrypt_notify, seal_notify, sign_response,
    verify_request,
};
use proptest::prelude::*;
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/wxpay_v3_vectors.json"
    );
    let text = std::fs::read_to_string(path).expect("read the vectors file");
    serde_json::from_str(&text).expect("the vectors file is JSON")
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} must be a string in {v}"))
}

fn i(v: &Value, key: &str) -> i64 {
    v[key]
        .as_i64()
        .unwrap_or_else(|| panic!("{key} must be an integer in {v}"))
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).expect("timestamp in range")
}

fn cases<'a>(v: &'a Value, section: &str) -> &'a Vec<Value> {
    let list = v[section]
        .as_array()
        .unwrap_or_else(|| panic!("section {section} must be a list"));
    assert!(!list.is_empty(), "section {section} is empty");
    list
}

struct Keys {
    merchant: MerchantSigner,
    merchant_public: RsaVerifyingKey,
    wechatpay_private: RsaSigningKey,
    public_key: WechatPayPublicKey,
    cert_private: RsaSigningKey,
    cert: PlatformCertificate,
    apiv3: ApiV3Key,
    v2_key: String,
    appid: String,
}

fn keys(v: &Value) -> Keys {
    let k = &v["keys"];
    let merchant_key =
        RsaSigningKey::from_pem("merchant private key", s(k, "merchant_private_key_pem"))
            .expect("merchant key parses");
    let serial = CertificateSerial::parse("merchant serial", s(k, "merchant_serial"))
        .expect("merchant serial");
    let public_key = WechatPayPublicKey {
        id: PublicKeyId::parse(s(k, "public_key_id")).expect("public key id"),
        key: RsaVerifyingKey::from_pem("WeChat Pay public key", s(k, "wechatpay_public_key_pem"))
            .expect("public key parses"),
    };
    let cert = PlatformCertificate::from_pem(s(k, "platform_certificate_pem")).expect("cert");
    Keys {
        merchant: MerchantSigner::new(s(k, "mchid"), serial, merchant_key).expect("signer"),
        merchant_public: RsaVerifyingKey::from_pem(
            "merchant public key",
            s(k, "merchant_public_key_pem"),
        )
        .expect("merchant public key"),
        wechatpay_private: RsaSigningKey::from_pem(
            "WeChat Pay private key",
            s(k, "wechatpay_private_key_pem"),
        )
        .expect("wechatpay private key"),
        public_key,
        cert_private: RsaSigningKey::from_pem(
            "platform certificate private key",
            s(k, "platform_certificate_private_key_pem"),
        )
        .expect("cert private key"),
        cert,
        apiv3: ApiV3Key::new(s(k, "apiv3_key").as_bytes()).expect("APIv3 key is 32 bytes"),
        v2_key: s(k, "v2_api_key").to_owned(),
        appid: s(k, "appid").to_owned(),
    }
}

fn both_modes(k: &Keys) -> Verifier {
    let mut store = CertificateStore::default();
    store.insert(k.cert.clone()).expect("one certificate fits");
    Verifier::with_both(k.public_key.clone(), store)
}

fn headers_of(case: &Value) -> WechatpayHeaders {
    let h = &case["headers"];
    WechatpayHeaders::from_lookup(|name| h[name].as_str()).unwrap_or_else(|e| {
        panic!("case {} has the required headers: {e}", case["name"]);
    })
}

/// The expectation of a vector, as the error it must produce.
fn kind(e: &WxPayV3Error) -> &'static str {
    match e {
        WxPayV3Error::MissingHeader(_) => "missing_header",
        WxPayV3Error::StaleTimestamp { .. } => "stale_timestamp",
        WxPayV3Error::BadTimestamp(_) => "bad_timestamp",
        WxPayV3Error::UnknownSerial { .. } => "unknown_serial",
        WxPayV3Error::SignatureMismatch { .. } => "signature_mismatch",
        WxPayV3Error::UnsupportedSignatureType(_) => "unsupported_signature_type",
        WxPayV3Error::SignatureProbe => "signature_probe",
        _ => "other",
    }
}

// --- vectors ---------------------------------------------------------------------------

#[test]
fn test_keys_load_and_the_certificate_matches_the_vectors() {
    let v = vectors();
    let k = keys(&v);
    assert_eq!(
        k.cert.serial.as_str(),
        s(&v["keys"], "platform_certificate_serial")
    );
    assert_eq!(
        k.cert.not_before.timestamp(),
        i(&v["keys"], "platform_certificate_not_before_unix")
    );
    assert_eq!(
        k.cert.not_after.timestamp(),
        i(&v["keys"], "platform_certificate_not_after_unix")
    );
    assert_eq!(k.merchant.key().bits(), 2048);
    assert_eq!(k.merchant.key().verifying_key(), k.merchant_public);
}

#[test]
fn request_signatures_match_openssl() {
    let v = vectors();
    let k = keys(&v);
    for case in cases(&v, "request_signatures") {
        let signed = k
            .merchant
            .sign_request(
                s(case, "method"),
                s(case, "url"),
                i(case, "timestamp"),
                s(case, "nonce"),
                s(case, "body"),
            )
            .expect("signs");
        assert_eq!(signed.message, s(case, "message"), "{}", case["name"]);
        assert_eq!(
            signed.authorization.signature,
            s(case, "signature"),
            "{}",
            case["name"]
        );
        assert_eq!(
            signed.authorization.to_string(),
            s(case, "authorization"),
            "{}",
            case["name"]
        );
        // The simulator's side: parse the header, verify over the raw bytes.
        let parsed = Authorization::parse(s(case, "authorization")).expect("parses");
        assert_eq!(parsed, signed.authorization);
        verify_request(
            &parsed,
            s(case, "method"),
            s(case, "url"),
            s(case, "body").as_bytes(),
            &k.merchant_public,
        )
        .expect("verifies");
    }
}

#[test]
fn responses_verify_or_fail_exactly_as_the_vectors_say() {
    let v = vectors();
    let k = keys(&v);
    let verifier = both_modes(&k);
    for case in cases(&v, "responses").iter().chain(cases(&v, "notifies")) {
        let name = &case["name"];
        let expect = s(case, "expect");
        let h = &case["headers"];
        let result = WechatpayHeaders::from_lookup(|n| h[n].as_str()).and_then(|headers| {
            verifier.verify(&headers, s(case, "body").as_bytes(), at(i(case, "now")))
        });
        match (expect, result) {
            ("ok", Ok(by)) => {
                let serial = s(h, "Wechatpay-Serial");
                let expected = if serial == k.public_key.id.as_str() {
                    VerifiedBy::PublicKey(k.public_key.id.clone())
                } else {
                    VerifiedBy::PlatformCertificate(k.cert.serial.clone())
                };
                assert_eq!(by, expected, "{name}");
            }
            ("ok", Err(e)) => panic!("{name}: expected to verify, got: {e}"),
            (want, Ok(_)) => panic!("{name}: expected {want}, but it verified"),
            (want, Err(e)) => {
                assert_eq!(kind(&e), want, "{name}: {e}");
                assert!(!e.to_string().contains('\n'), "{name}: one-line error: {e}");
            }
        }
    }
}

#[test]
fn response_signatures_from_rust_equal_openssl() {
    // PKCS#1 v1.5 is deterministic, so the simulator's signing side can be
    // compared byte for byte with the independent implementation.
    let v = vectors();
    let k = keys(&v);
    for case in cases(&v, "notifies").iter().chain(cases(&v, "responses")) {
        let h = &case["headers"];
        let (Some(serial), Some(sig), Some(ts), Some(nonce)) = (
            h["Wechatpay-Serial"].as_str(),
            h["Wechatpay-Signature"].as_str(),
            h["Wechatpay-Timestamp"].as_str(),
            h["Wechatpay-Nonce"].as_str(),
        ) else {
            continue;
        };
        let Ok(ts) = ts.parse::<i64>() else { continue };
        if s(case, "expect") != "ok" {
            continue;
        }
        let key = if serial == k.public_key.id.as_str() {
            &k.wechatpay_private
        } else {
            &k.cert_private
        };
        let ours =
            sign_response(key, serial, ts, nonce, s(case, "body").as_bytes()).expect("signs");
        assert_eq!(ours.signature, sig, "{}", case["name"]);
    }
}

#[test]
fn notifies_verify_as_received_then_decrypt_into_typed_payloads() {
    let v = vectors();
    let k = keys(&v);
    let verifier = both_modes(&k);
    for case in cases(&v, "notifies") {
        let name = &case["name"];
        let body = s(case, "body").as_bytes();
        verifier
            .verify(&headers_of(case), body, at(i(case, "now")))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let notify = decrypt_notify(body, &k.apiv3).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(notify.event_type.as_str(), s(case, "event_type"), "{name}");
        let plaintext: Value = serde_json::from_str(s(case, "plaintext")).expect("plaintext JSON");
        match &notify.payload {
            NotifyPayload::Transaction(t) => {
                assert_eq!(notify.event_type, NotifyEventType::TransactionSuccess);
                assert_eq!(t.trade_state, TradeState::Success);
                assert_eq!(t.out_trade_no, s(&plaintext, "out_trade_no"));
                assert_eq!(
                    t.transaction_id.as_deref(),
                    plaintext["transaction_id"].as_str()
                );
                assert_eq!(t.appid, k.appid);
                let amount = t.amount.as_ref().expect("amount");
                assert_eq!(
                    amount.total,
                    Fen::new(plaintext["amount"]["total"].as_u64().expect("total"))
                );
                assert_eq!(
                    t.payer.as_ref().map(|p| p.openid.as_str()),
                    plaintext["payer"]["openid"].as_str()
                );
            }
            NotifyPayload::Refund(r) => {
                assert_eq!(r.out_refund_no, s(&plaintext, "out_refund_no"));
                assert_eq!(r.refund_id, s(&plaintext, "refund_id"));
                assert_eq!(
                    r.amount.refund,
                    Fen::new(plaintext["amount"]["refund"].as_u64().expect("refund"))
                );
                assert_eq!(
                    r.success_time.is_some(),
                    plaintext.get("success_time").is_some()
                );
            }
        }
        // Typed back to JSON, the payload says what the plaintext said.
        let back = match &notify.payload {
            NotifyPayload::Transaction(t) => serde_json::to_value(t),
            NotifyPayload::Refund(r) => serde_json::to_value(r),
        }
        .expect("serialises");
        let mut expected = plaintext.clone();
        if let Some(obj) = expected.as_object_mut() {
            obj.retain(|_, v| v != &Value::String(String::new()));
        }
        for (key, value) in expected.as_object().expect("object") {
            let ours = &back[key];
            if key.ends_with("_time") {
                let a =
                    DateTime::parse_from_rfc3339(value.as_str().expect("time")).expect("rfc3339");
                let b =
                    DateTime::parse_from_rfc3339(ours.as_str().expect("time")).expect("rfc3339");
                assert_eq!(a, b, "{name}: {key}");
            } else {
                assert_eq!(ours, value, "{name}: {key}");
            }
        }
    }
}

#[test]
fn resources_decrypt_to_the_vectors_plaintext_and_encrypt_back_identically() {
    let v = vectors();
    let k = keys(&v);
    for case in cases(&v, "resources") {
        let resource: EncryptedResource =
            serde_json::from_value(case["resource"].clone()).expect("resource JSON");
        let plaintext = resource.decrypt_utf8(&k.apiv3).expect("decrypts");
        assert_eq!(plaintext, s(case, "plaintext"), "{}", case["name"]);
        let again = EncryptedResource::encrypt(
            &k.apiv3,
            &resource.nonce,
            resource.associated_data.as_deref(),
            resource.original_type.as_deref(),
            plaintext.as_bytes(),
        )
        .expect("encrypts");
        assert_eq!(again, resource, "{}", case["name"]);
    }
}

#[test]
fn pay_params_match_openssl() {
    let v = vectors();
    let k = keys(&v);
    for case in cases(&v, "pay_params") {
        let params = MiniProgramPayParams::new(
            s(case, "appid"),
            s(case, "prepay_id"),
            i(case, "timestamp"),
            s(case, "nonce"),
            k.merchant.key(),
        )
        .expect("signs");
        assert_eq!(params.message(), s(case, "message"));
        assert_eq!(serde_json::to_value(&params).expect("JSON"), case["params"]);
        params.verify(&k.merchant_public).expect("verifies");
        let mut forged = params.clone();
        forged.package = "prepay_id=wx0000000000000000000000000000000000".to_owned();
        assert!(matches!(
            forged.verify(&k.merchant_public),
            Err(WxPayV3Error::SignatureMismatch { .. })
        ));
    }
}

#[test]
fn certificates_decrypt_parse_and_verify() {
    let v = vectors();
    let k = keys(&v);
    let response: CertificatesResponse =
        serde_json::from_str(s(&v["certificates"], "response")).expect("JSON");
    let certs = response.decrypt(&k.apiv3).expect("decrypts");
    assert_eq!(certs.len(), 1);
    assert_eq!(certs[0].serial.as_str(), s(&v["certificates"], "serial"));
    assert_eq!(certs[0].key, k.cert.key);
    // Certificate mode alone accepts the certificate-signed notify, refuses the
    // public-key-signed one by serial.
    let mut store = CertificateStore::default();
    for c in certs {
        store.insert(c).expect("fits");
    }
    let verifier = Verifier::with_certificates(store);
    for case in cases(&v, "notifies") {
        let result = verifier.verify(
            &headers_of(case),
            s(case, "body").as_bytes(),
            at(i(case, "now")),
        );
        if s(&case["headers"], "Wechatpay-Serial").starts_with("PUB_KEY_ID_") {
            assert!(
                matches!(result, Err(WxPayV3Error::UnknownSerial { .. })),
                "{}",
                case["name"]
            );
        } else {
            assert!(result.is_ok(), "{}: {result:?}", case["name"]);
        }
    }
    // A v2 key cannot decrypt it, and says why.
    let v2 = ApiV3Key::new(k.v2_key.as_bytes()).expect("32 bytes");
    let err = response.decrypt(&v2).expect_err("wrong key");
    assert_eq!(err, WxPayV3Error::TagMismatch);
    assert!(err.to_string().contains("v2 API key"), "{err}");
}

#[test]
fn bill_file_is_checked_by_its_sha1() {
    use base64::Engine;
    let v = vectors();
    let bill = &v["bill"];
    let file = base64::engine::general_purpose::STANDARD
        .decode(s(bill, "file_base64"))
        .expect("base64");
    let response = TradeBillResponse {
        hash_type: s(bill, "hash_type").to_owned(),
        hash_value: s(bill, "hash_value").to_ascii_uppercase(),
        download_url: "https://api.mch.weixin.qq.com/v3/billdownload/file?token=abc".to_owned(),
    };
    response
        .check_file(&file)
        .expect("hash matches, in any case");
    let mut tampered = file.clone();
    tampered[0] ^= 1;
    assert!(matches!(
        response.check_file(&tampered),
        Err(WxPayV3Error::BillHashMismatch { .. })
    ));
    assert_eq!(
        response.download_path_and_query().expect("path"),
        "/v3/billdownload/file?token=abc"
    );
}

// --- refusals ------------------------------------------------------------------------------

fn first_notify(v: &Value) -> &Value {
    &cases(v, "notifies")[0]
}

#[test]
fn a_forged_signature_is_refused() {
    let v = vectors();
    let k = keys(&v);
    let case = first_notify(&v);
    let now = at(i(case, "now"));
    // Signed by a key that is not WeChat's (the merchant's), naming the public key.
    let forged = sign_response(
        k.merchant.key(),
        k.public_key.id.as_str(),
        i(case, "now"),
        "forgednonce",
        s(case, "body").as_bytes(),
    )
    .expect("signs");
    let err = both_modes(&k)
        .verify(&forged, s(case, "body").as_bytes(), now)
        .expect_err("forged");
    assert!(
        matches!(err, WxPayV3Error::SignatureMismatch { .. }),
        "{err}"
    );
}

#[test]
fn a_single_changed_body_byte_or_header_is_refused() {
    let v = vectors();
    let k = keys(&v);
    let verifier = both_modes(&k);
    let case = first_notify(&v);
    let headers = headers_of(case);
    let now = at(i(case, "now"));
    let body = s(case, "body").as_bytes();
    let mut changed = body.to_vec();
    changed[body.len() / 2] ^= 0x20;
    assert!(verifier.verify(&headers, &changed, now).is_err());
    let mut other_nonce = headers.clone();
    other_nonce.nonce.push('x');
    assert!(verifier.verify(&other_nonce, body, now).is_err());
    let mut trailing_newline_dropped = body.to_vec();
    trailing_newline_dropped.pop();
    assert!(
        verifier
            .verify(&headers, &trailing_newline_dropped, now)
            .is_err()
    );
}

#[test]
fn wrong_serial_names_what_is_configured() {
    let v = vectors();
    let k = keys(&v);
    let case = first_notify(&v);
    let mut headers = headers_of(case);
    headers.serial = "PUB_KEY_ID_0000".to_owned();
    let err = both_modes(&k)
        .verify(&headers, s(case, "body").as_bytes(), at(i(case, "now")))
        .expect_err("unknown serial");
    let text = err.to_string();
    assert!(text.contains(k.public_key.id.as_str()), "{text}");
    assert!(text.contains(k.cert.serial.as_str()), "{text}");
    assert!(text.contains("PUB_KEY_ID_0000"), "{text}");
}

#[test]
fn stale_timestamps_are_refused_both_ways() {
    let v = vectors();
    let k = keys(&v);
    let case = first_notify(&v);
    let headers = headers_of(case);
    let ts = headers.timestamp.parse::<i64>().expect("number");
    let body = s(case, "body").as_bytes();
    let verifier = both_modes(&k);
    for (now, ok) in [
        (ts + 300, true),
        (ts - 300, true),
        (ts + 301, false),
        (ts - 301, false),
        (ts + 86_400, false),
    ] {
        let result = verifier.verify(&headers, body, at(now));
        assert_eq!(result.is_ok(), ok, "now = ts {:+}: {result:?}", now - ts);
        if !ok {
            assert!(matches!(result, Err(WxPayV3Error::StaleTimestamp { .. })));
        }
    }
}

#[test]
fn an_expired_platform_certificate_is_refused() {
    let v = vectors();
    let k = keys(&v);
    let case = cases(&v, "notifies")
        .iter()
        .find(|c| !s(&c["headers"], "Wechatpay-Serial").starts_with("PUB_KEY_ID_"))
        .expect("a certificate-signed notify");
    let mut headers = headers_of(case);
    let after_expiry = k.cert.not_after + Duration::days(1);
    // Re-sign at that time so that only the certificate's validity fails.
    let fresh = sign_response(
        &k.cert_private,
        &headers.serial,
        after_expiry.timestamp(),
        &headers.nonce,
        s(case, "body").as_bytes(),
    )
    .expect("signs");
    headers.timestamp = fresh.timestamp;
    headers.signature = fresh.signature;
    let err = both_modes(&k)
        .verify(&headers, s(case, "body").as_bytes(), after_expiry)
        .expect_err("expired");
    assert!(
        matches!(err, WxPayV3Error::CertificateNotValidNow { .. }),
        "{err}"
    );
    let mut store = CertificateStore::default();
    store.insert(k.cert.clone()).expect("fits");
    assert!(!store.needs_refresh(k.cert.not_after - Duration::days(30), Duration::days(7)));
    assert!(store.needs_refresh(k.cert.not_after - Duration::days(3), Duration::days(7)));
    store.remove_expired(after_expiry);
    assert!(store.is_empty());
}

#[test]
fn a_tampered_ciphertext_nonce_or_associated_data_is_refused() {
    let v = vectors();
    let k = keys(&v);
    let resource: EncryptedResource =
        serde_json::from_value(cases(&v, "resources")[0]["resource"].clone()).expect("JSON");
    let mut raw = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        &resource.ciphertext,
    )
    .expect("base64");
    raw[3] ^= 1;
    let mut tampered = resource.clone();
    tampered.ciphertext = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &raw);
    assert_eq!(tampered.decrypt(&k.apiv3), Err(WxPayV3Error::TagMismatch));
    let mut other_ad = resource.clone();
    other_ad.associated_data = Some("refund".to_owned());
    assert_eq!(other_ad.decrypt(&k.apiv3), Err(WxPayV3Error::TagMismatch));
    let mut no_ad = resource.clone();
    no_ad.associated_data = None;
    assert_eq!(no_ad.decrypt(&k.apiv3), Err(WxPayV3Error::TagMismatch));
    let mut other_nonce = resource.clone();
    other_nonce.nonce = "000000000000".to_owned();
    assert_eq!(
        other_nonce.decrypt(&k.apiv3),
        Err(WxPayV3Error::TagMismatch)
    );
    let mut short_nonce = resource.clone();
    short_nonce.nonce = "abc".to_owned();
    assert_eq!(
        short_nonce.decrypt(&k.apiv3),
        Err(WxPayV3Error::NonceLength { len_bytes: 3 })
    );
    let mut other_algorithm = resource.clone();
    other_algorithm.algorithm = "AEAD_SM4_GCM".to_owned();
    assert!(matches!(
        other_algorithm.decrypt(&k.apiv3),
        Err(WxPayV3Error::UnsupportedAlgorithm(_))
    ));
    let mut not_base64 = resource;
    not_base64.ciphertext = "%%%".to_owned();
    assert!(matches!(
        not_base64.decrypt(&k.apiv3),
        Err(WxPayV3Error::Base64 { .. })
    ));
}

#[test]
fn a_v2_key_used_as_the_apiv3_key_explains_itself() {
    let v = vectors();
    let k = keys(&v);
    let v2 = ApiV3Key::new(k.v2_key.as_bytes()).expect("a v2 key is 32 characters too");
    let err = decrypt_notify(s(first_notify(&v), "body").as_bytes(), &v2).expect_err("wrong key");
    assert_eq!(err, WxPayV3Error::TagMismatch);
    let text = err.to_string();
    assert!(
        text.contains("v2 API key") && text.contains("APIv3"),
        "{text}"
    );
}

#[test]
fn apiv3_keys_of_16_24_or_31_bytes_are_configuration_errors() {
    for len in [0usize, 16, 24, 31, 33, 64] {
        let key = vec![b'k'; len];
        let err = ApiV3Key::new(&key).expect_err("not 32 bytes");
        assert_eq!(err, WxPayV3Error::ApiV3KeyLength { len_bytes: len });
        assert!(err.to_string().contains("exactly 32"), "{err}");
    }
}

#[test]
fn secrets_never_reach_debug_or_errors() {
    let v = vectors();
    let k = keys(&v);
    let apiv3 = s(&v["keys"], "apiv3_key");
    let merchant = format!("{:?}", k.merchant);
    assert!(merchant.contains("REDACTED"), "{merchant}");
    let pem_body: String = s(&v["keys"], "merchant_private_key_pem")
        .lines()
        .nth(1)
        .expect("line")
        .to_owned();
    assert!(!merchant.contains(&pem_body[..16]), "{merchant}");
    assert!(!format!("{:?}", k.apiv3).contains(apiv3));
    assert!(!format!("{:?}", k.apiv3).contains("TESTONLY"));
    // A private key mistaken for a public key (and the reverse) is named, not quoted.
    let err = RsaVerifyingKey::from_pem(
        "WeChat Pay public key",
        s(&v["keys"], "merchant_private_key_pem"),
    )
    .expect_err("private");
    assert!(
        err.to_string().contains("private key, not a public key"),
        "{err}"
    );
    assert!(!err.to_string().contains(&pem_body[..16]));
    let err = RsaSigningKey::from_pem(
        "merchant private key",
        s(&v["keys"], "merchant_public_key_pem"),
    )
    .expect_err("public");
    assert!(
        err.to_string().starts_with("the merchant private key"),
        "{err}"
    );
}

#[test]
fn missing_headers_are_named() {
    let err = WechatpayHeaders::from_lookup(|n| (n != "Wechatpay-Serial").then_some("1"))
        .expect_err("missing");
    assert_eq!(err, WxPayV3Error::MissingHeader("Wechatpay-Serial"));
    assert!(err.to_string().contains("Wechatpay-Serial"));
    let err = WechatpayHeaders::from_lookup(|n| {
        if n == "Wechatpay-Nonce" {
            Some("  ")
        } else {
            Some("1")
        }
    })
    .expect_err("empty");
    assert_eq!(err, WxPayV3Error::MissingHeader("Wechatpay-Nonce"));
}

#[test]
fn identifiers_are_checked_when_configured() {
    assert!(PublicKeyId::parse("PUB_KEY_ID_0119000001092026010100000000000001").is_ok());
    for bad in [
        "",
        "PUB_KEY_ID_",
        "pub_key_id_0119",
        "3775B6A45ACD588826D15E583A95F5DD0A1A5A1B",
        "PUB_KEY_ID_01 19",
    ] {
        assert!(PublicKeyId::parse(bad).is_err(), "{bad:?}");
    }
    let lower = CertificateSerial::parse("serial", "5157f09efdc096de15ebe81a47057a7232f1b8e1")
        .expect("hex");
    let upper = CertificateSerial::parse("serial", "5157F09EFDC096DE15EBE81A47057A7232F1B8E1")
        .expect("hex");
    assert_eq!(lower, upper);
    for bad in [
        "",
        "XYZ",
        "5157F09EFDC096DE15EBE81A47057A7232F1B8E1FF",
        "PUB_KEY_ID_1",
    ] {
        assert!(CertificateSerial::parse("serial", bad).is_err(), "{bad:?}");
    }
}

#[test]
fn authorization_parses_in_any_parameter_order_and_refuses_junk() {
    let go_order = r#"WECHATPAY2-SHA256-RSA2048 mchid="1900000109",nonce_str="abc",timestamp="1796040000",serial_no="ABC",signature="c2ln""#;
    let doc_order = r#"WECHATPAY2-SHA256-RSA2048 mchid="1900000109",nonce_str="abc",signature="c2ln",timestamp="1796040000",serial_no="ABC""#;
    let a = Authorization::parse(go_order).expect("Go SDK order");
    assert_eq!(
        a,
        Authorization::parse(doc_order).expect("documented order")
    );
    assert_eq!(a.to_string(), doc_order);
    for bad in [
        "",
        "WECHATPAY2-SHA256-RSA2048",
        r#"Bearer mchid="1",nonce_str="a",signature="s",timestamp="1",serial_no="A""#,
        r#"WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="a",signature="s",timestamp="1""#,
        r#"WECHATPAY2-SHA256-RSA2048 mchid="1",mchid="2",nonce_str="a",signature="s",timestamp="1",serial_no="A""#,
        r#"WECHATPAY2-SHA256-RSA2048 mchid=1,nonce_str="a",signature="s",timestamp="1",serial_no="A""#,
        r#"WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="a",signature="s",timestamp="x",serial_no="A""#,
    ] {
        assert!(
            matches!(
                Authorization::parse(bad),
                Err(WxPayV3Error::AuthorizationParse(_))
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn values_that_would_break_the_signed_message_are_refused() {
    let v = vectors();
    let k = keys(&v);
    for (method, url, nonce) in [
        ("post", "/v3/x", "n"),
        ("POST", "v3/x", "n"),
        ("POST", "/v3/x\n", "n"),
        ("POST", "/v3/x", "a\nb"),
        ("POST", "/v3/x", ""),
        ("POST", "/v3/x", "a\"b"),
    ] {
        assert!(
            matches!(
                k.merchant.sign_request(method, url, 1, nonce, ""),
                Err(WxPayV3Error::UnsignableValue { .. })
            ),
            "{method} {url:?} {nonce:?}"
        );
    }
}

#[test]
fn notify_event_type_must_agree_with_the_payload() {
    let v = vectors();
    let k = keys(&v);
    let refund_success = cases(&v, "resources")
        .iter()
        .find(|c| s(c, "event_type") == "REFUND.SUCCESS")
        .expect("a refund vector");
    let created = DateTime::parse_from_rfc3339("2026-11-29T20:00:01+08:00").expect("time");
    let body = seal_notify(
        "EV-1",
        created,
        NotifyEventType::RefundClosed,
        "退款关闭",
        s(refund_success, "plaintext").as_bytes(),
        &k.apiv3,
        "sealnonce001",
    )
    .expect("seals");
    let err = decrypt_notify(body.as_bytes(), &k.apiv3).expect_err("contradiction");
    assert!(err.to_string().contains("contradicts"), "{err}");
    let mut unknown: Value = serde_json::from_str(&body).expect("JSON");
    unknown["event_type"] = Value::String("TRANSFER.SUCCESS".to_owned());
    let err = decrypt_notify(unknown.to_string().as_bytes(), &k.apiv3).expect_err("unknown");
    assert!(matches!(err, WxPayV3Error::UnsupportedEventType(_)));
}

#[test]
fn api_bodies_use_wechats_field_names() {
    let refund = RefundRequest::new(
        RefundOf::OutTradeNo("PL01".to_owned()),
        "RF01",
        Fen::new(1000),
        Fen::new(2990),
        Some("商品已售完"),
        None,
    );
    let json = serde_json::to_value(&refund).expect("JSON");
    assert_eq!(
        json,
        serde_json::json!({"out_trade_no":"PL01","out_refund_no":"RF01","reason":"商品已售完",
            "amount":{"refund":1000,"total":2990,"currency":"CNY"}})
    );
    let refund_answer: api::Refund = serde_json::from_str(
        r#"{"refund_id":"50000000382019052709732678859","out_refund_no":"RF01","transaction_id":"4200000000202611290000000001",
            "out_trade_no":"PL01","channel":"ORIGINAL","user_received_account":"招商银行信用卡0403",
            "success_time":"2026-11-29T20:05:00+08:00","create_time":"2026-11-29T20:04:00+08:00","status":"SUCCESS",
            "funds_account":"UNSETTLED","amount":{"total":2990,"refund":1000,"payer_total":2990,"payer_refund":1000,
            "settlement_refund":1000,"settlement_total":2990,"discount_refund":0,"currency":"CNY","from":[]},
            "promotion_detail":[]}"#,
    )
    .expect("a documented refund answer parses");
    assert_eq!(refund_answer.status, api::RefundStatus::Success);
    assert_eq!(refund_answer.amount.refund, Fen::new(1000));
    let notpay: api::Transaction = serde_json::from_str(
        r#"{"appid":"wxd678efh567hg6787","mchid":"1900000109","out_trade_no":"PL01","trade_state":"NOTPAY",
            "trade_state_desc":"订单未支付","amount":{"total":2990,"currency":"CNY","payer_currency":"CNY"}}"#,
    )
    .expect("an unpaid query answer parses");
    assert_eq!(notpay.trade_state, TradeState::Notpay);
    assert!(notpay.transaction_id.is_none());
    assert_eq!(
        paths::close("PL01").expect("path"),
        "/v3/pay/transactions/out-trade-no/PL01/close"
    );
    assert_eq!(
        paths::query_by_out_trade_no("PL01", "1900000109").expect("path"),
        "/v3/pay/transactions/out-trade-no/PL01?mchid=1900000109"
    );
    assert_eq!(
        paths::query_by_transaction_id("4200000000202611290000000001", "1900000109").expect("path"),
        "/v3/pay/transactions/id/4200000000202611290000000001?mchid=1900000109"
    );
    assert_eq!(
        paths::refund_query("RF01").expect("path"),
        "/v3/refund/domestic/refunds/RF01"
    );
    assert!(paths::refund_query("RF/../x").is_err());
    assert!(paths::query_by_out_trade_no("PL01", "1900000109&x=1").is_err());
    let date = chrono::NaiveDate::from_ymd_opt(2026, 11, 29).expect("date");
    assert_eq!(
        api::trade_bill_path(date, BillType::All, true),
        "/v3/bill/tradebill?bill_date=2026-11-29&bill_type=ALL&tar_type=GZIP"
    );
}

#[test]
fn sign_json_signs_the_exact_body_it_returns() {
    let v = vectors();
    let k = keys(&v);
    let request = api::JsapiPrepayRequest {
        appid: k.appid.clone(),
        mchid: k.merchant.mchid().to_owned(),
        description: "测试 \"quoted\" / slash".to_owned(),
        out_trade_no: "PL01".to_owned(),
        time_expire: None,
        attach: None,
        notify_url: "https://shop.example.com/v1/wechat/pay/notify/v3".to_owned(),
        goods_tag: None,
        amount: api::PrepayAmount {
            total: Fen::new(2990),
            currency: Some("CNY".to_owned()),
        },
        payer: api::Payer {
            openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".to_owned(),
        },
    };
    let signed = k
        .merchant
        .sign_json(
            "POST",
            paths::JSAPI_PREPAY,
            1_796_040_000,
            "jsonnonce",
            &request,
        )
        .expect("signs");
    let back: api::JsapiPrepayRequest = serde_json::from_str(&signed.body).expect("JSON");
    assert_eq!(back, request);
    assert!(
        signed
            .signed
            .message
            .ends_with(&format!("\n{}\n", signed.body))
    );
    verify_request(
        &signed.signed.authorization,
        "POST",
        paths::JSAPI_PREPAY,
        signed.body.as_bytes(),
        &k.merchant_public,
    )
    .expect("verifies over the returned body");
    let reordered = signed.body.replacen("\"appid\"", " \"appid\"", 1);
    assert!(
        verify_request(
            &signed.signed.authorization,
            "POST",
            paths::JSAPI_PREPAY,
            reordered.as_bytes(),
            &k.merchant_public
        )
        .is_err()
    );
}

#[test]
fn public_key_mode_refuses_a_certificate_serial() {
    let v = vectors();
    let k = keys(&v);
    let verifier = Verifier::with_public_key(k.public_key.clone());
    let case = cases(&v, "notifies")
        .iter()
        .find(|c| !s(&c["headers"], "Wechatpay-Serial").starts_with("PUB_KEY_ID_"))
        .expect("a certificate-signed notify");
    let err = verifier
        .verify(
            &headers_of(case),
            s(case, "body").as_bytes(),
            at(i(case, "now")),
        )
        .expect_err("no certificates configured");
    assert!(err.to_string().contains("none loaded"), "{err}");
}

#[test]
fn public_key_mode_sends_the_key_id_with_every_request() {
    let v = vectors();
    let k = keys(&v);
    let verifier = Verifier::with_public_key(k.public_key.clone());
    assert_eq!(
        verifier.request_serial_header(),
        Some(k.public_key.id.as_str())
    );
    assert_eq!(
        Verifier::with_certificates(CertificateStore::default()).request_serial_header(),
        None
    );
}

// --- properties -----------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn sign_then_verify_and_any_flipped_byte_is_refused(
        body in proptest::collection::vec(any::<u8>(), 0..256),
        nonce in "[A-Za-z0-9]{1,32}",
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let v = vectors();
        let k = keys(&v);
        let verifier = Verifier::with_public_key(k.public_key.clone());
        let ts = 1_796_040_000;
        let headers = sign_response(&k.wechatpay_private, k.public_key.id.as_str(), ts, &nonce, &body)
            .expect("signs");
        prop_assert!(verifier.verify(&headers, &body, at(ts)).is_ok());
        if !body.is_empty() {
            let mut flipped = body.clone();
            flipped[flip.index(body.len())] ^= 1 << bit;
            prop_assert!(verifier.verify(&headers, &flipped, at(ts)).is_err());
        }
    }

    #[test]
    fn encrypt_then_decrypt_and_any_flipped_byte_is_refused(
        plaintext in proptest::collection::vec(any::<u8>(), 0..512),
        nonce in "[A-Za-z0-9]{12}",
        associated_data in proptest::option::of("[a-z]{0,16}"),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let key = ApiV3Key::new(b"TESTONLYapiv3Key0123456789abcdef").expect("32 bytes");
        let resource = EncryptedResource::encrypt(&key, &nonce, associated_data.as_deref(), None, &plaintext)
            .expect("encrypts");
        prop_assert_eq!(resource.decrypt(&key).expect("decrypts"), plaintext);
        let mut raw = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &resource.ciphertext)
            .expect("base64");
        let at_index = flip.index(raw.len());
        raw[at_index] ^= 1 << bit;
        let mut tampered = resource.clone();
        tampered.ciphertext = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &raw);
        prop_assert_eq!(tampered.decrypt(&key), Err(WxPayV3Error::TagMismatch));
    }
}
