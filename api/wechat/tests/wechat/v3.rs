//! The v3 client against the simulator's v3 endpoints: the calls, the answers
//! it must refuse (forged, unknown key id, stale, unsigned), and notifies that
//! verify on their raw bytes — or do not.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use paylog_core::Fen;
use paylog_core::wxpay::ErrCode;
use paylog_core::wxpay_v3::api::{
    JsapiPrepayRequest, Payer, PrepayAmount, RefundOf, RefundRequest, RefundStatus, TradeState,
};
use paylog_core::wxpay_v3::{
    CertificateSerial, MerchantSigner, MerchantV3, NotifyPayload, PublicKeyId, RsaVerifyingKey,
    Verifier, WechatPayPublicKey, WxPayV3Error,
};
use paylog_sim::{SimHandle, SimV3Config};
use paylog_wechat::{WechatError, WechatV3Client, WechatV3Config};
use serde_json::{Value, json};

use crate::support::*;

/// A v3 client configured the way a merchant configures one: its own key and
/// serial, and the WeChat Pay public key + id fetched from the simulator.
async fn v3_client(sim: &SimHandle, notify_url: &str) -> WechatV3Client {
    let pk: Value = reqwest::get(format!("{}/sim/v3/public-key", sim.base_url()))
        .await
        .expect("public key")
        .json()
        .await
        .expect("json");
    let key = RsaVerifyingKey::from_pem(
        "WeChat Pay public key",
        pk["public_key_pem"].as_str().expect("pem"),
    )
    .expect("public key parses");
    let id = PublicKeyId::parse(pk["public_key_id"].as_str().expect("id")).expect("id");
    let c = sim.config();
    let v3 = c.v3.as_ref().expect("v3 keys");
    let signer = MerchantSigner::new(
        &c.mch_id,
        CertificateSerial::parse("serial", v3.merchant_serial.as_str()).expect("serial"),
        SimV3Config::demo_merchant_key().expect("demo key"),
    )
    .expect("signer");
    let merchant = MerchantV3 {
        appid: c.appid.clone(),
        signer,
        apiv3_key: v3.apiv3_key.clone(),
        verifier: Verifier::with_public_key(WechatPayPublicKey { id, key }),
    };
    let mut config = WechatV3Config::new(merchant, notify_url).with_base_url(sim.base_url());
    config.refund_notify_url = Some(notify_url.to_owned());
    WechatV3Client::new(config).expect("client")
}

fn prepay(no: &str, total: u64) -> JsapiPrepayRequest {
    JsapiPrepayRequest {
        appid: String::new(),
        mchid: String::new(),
        description: "小店-测试商品".into(),
        out_trade_no: no.into(),
        time_expire: None,
        attach: None,
        notify_url: String::new(),
        goods_tag: None,
        amount: PrepayAmount {
            total: Fen::new(total),
            currency: Some("CNY".into()),
        },
        payer: Payer {
            openid: "oUpF8uMEb4qRXf22hE3X68TekukE".into(),
        },
    }
}

type Seen = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A merchant v3 notify endpoint that records headers and raw body, answers 204.
async fn spawn_v3_receiver() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let app = Router::new()
        .route(
            "/notify",
            post(
                |State(seen): State<Seen>, headers: HeaderMap, body: Bytes| async move {
                    seen.lock().expect("lock").push((headers, body));
                    StatusCode::NO_CONTENT
                },
            ),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/notify"), seen)
}

fn business_code(e: &WechatError) -> Option<&ErrCode> {
    e.err_code()
}

#[tokio::test]
async fn a_v3_purchase_query_refund_and_close_round_trip() {
    let sim = spawn_sim(sim_config()).await;
    let (url, seen) = spawn_v3_receiver().await;
    let c = v3_client(&sim, &url).await;

    let p = c
        .jsapi_prepay(prepay("V3P100", 2990))
        .await
        .expect("prepay");
    let again = c
        .jsapi_prepay(prepay("V3P100", 2990))
        .await
        .expect("repeat");
    assert_eq!(
        p.prepay_id, again.prepay_id,
        "an identical repeat is idempotent"
    );
    let other = c
        .jsapi_prepay(prepay("V3P100", 1))
        .await
        .expect_err("changed");
    assert_eq!(business_code(&other), Some(&ErrCode::OutTradeNoUsed));

    let params = c.pay_params(&p.prepay_id).expect("pay params");
    assert_eq!(params.sign_type, "RSA");
    params
        .verify(
            &SimV3Config::demo_merchant_key()
                .expect("key")
                .verifying_key(),
        )
        .expect("paySign verifies with the merchant's public key");

    let unpaid = c.query_by_out_trade_no("V3P100").await.expect("query");
    assert_eq!(unpaid.trade_state, TradeState::Notpay);

    let (status, paid) = control(&sim, "/sim/pay", json!({"out_trade_no": "V3P100"})).await;
    assert_eq!(status, 200, "{paid}");
    let d = finished_delivery(&sim, paid["delivery_id"].as_u64().expect("id")).await;
    assert_eq!(d["acknowledged"], true, "204 acknowledges a v3 notify: {d}");
    let tx_id = paid["transaction_id"].as_str().expect("tx").to_owned();

    let (headers, body) = seen.lock().expect("lock")[0].clone();
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let notify = c
        .verify_notify(get, &body)
        .expect("the notify verifies and decrypts");
    let NotifyPayload::Transaction(tx) = notify.payload else {
        panic!("a transaction notify");
    };
    assert_eq!(tx.transaction_id.as_deref(), Some(tx_id.as_str()));
    assert_eq!(tx.amount.map(|a| a.total), Some(Fen::new(2990)));

    let by_id = c
        .query_by_transaction_id(&tx_id)
        .await
        .expect("query by id");
    assert_eq!(by_id.trade_state, TradeState::Success);
    assert_eq!(by_id.out_trade_no, "V3P100");

    let refund = c
        .refund(RefundRequest::new(
            RefundOf::OutTradeNo("V3P100".into()),
            "V3R100",
            Fen::new(990),
            Fen::new(2990),
            Some("测试"),
            None,
        ))
        .await
        .expect("refund");
    assert_eq!(refund.status, RefundStatus::Success);
    let queried = c.refund_query("V3R100").await.expect("refund query");
    assert_eq!(queried.refund_id, refund.refund_id);
    let too_much = c
        .refund(RefundRequest::new(
            RefundOf::TransactionId(tx_id.clone()),
            "V3R101",
            Fen::new(2001),
            Fen::new(2990),
            None,
            None,
        ))
        .await
        .expect_err("over the rest");
    assert_eq!(business_code(&too_much), Some(&ErrCode::NotEnough));

    let paid_close = c.close("V3P100").await.expect_err("paid");
    assert_eq!(business_code(&paid_close), Some(&ErrCode::OrderPaid));
    c.jsapi_prepay(prepay("V3P101", 5)).await.expect("prepay");
    c.close("V3P101").await.expect("204, verified");
    let missing = c.query_by_out_trade_no("V3P999").await.expect_err("none");
    assert_eq!(business_code(&missing), Some(&ErrCode::OrderNotExist));
    sim.shutdown().await;
}

#[tokio::test]
async fn answers_that_do_not_verify_are_never_trusted() {
    let sim = spawn_sim(sim_config()).await;
    let c = v3_client(&sim, "http://127.0.0.1:9/notify").await;
    c.jsapi_prepay(prepay("V3F100", 100)).await.expect("prepay");
    let cases = [
        (json!({"bad_sign": true}), "SignatureMismatch"),
        (json!({"wrong_key_id": true}), "UnknownSerial"),
        (json!({"stale_timestamp": true}), "StaleTimestamp"),
        (json!({"unsigned": true}), "MissingHeader"),
    ];
    for (n, (faults, expected)) in cases.into_iter().enumerate() {
        let no = format!("V3F2{n:02}");
        c.jsapi_prepay(prepay(&no, 100)).await.expect("prepay");
        let (status, _) = control(&sim, "/sim/v3/answer-faults", faults.clone()).await;
        assert_eq!(status, 204);
        let e = c
            .query_by_out_trade_no("V3F100")
            .await
            .expect_err("refused");
        let WechatError::V3(inner) = &e else {
            panic!("{faults}: {e:?}");
        };
        assert!(
            format!("{inner:?}").starts_with(expected),
            "{faults}: {inner:?}"
        );
        // An empty 204 is verified too.
        assert!(
            matches!(c.close(&no).await, Err(WechatError::V3(_))),
            "{faults}"
        );
        // An error answer that does not verify is only its HTTP status.
        let e = c.close(&no).await.expect_err("closed already");
        assert!(matches!(e, WechatError::Status(400)), "{faults}: {e:?}");
        assert_eq!(e.err_code(), None, "nothing of an unverified body is read");
        let (status, _) = control(&sim, "/sim/v3/answer-faults", json!({})).await;
        assert_eq!(status, 204);
    }
    c.close("V3F100").await.expect("an honest 204");
    sim.shutdown().await;
}

#[tokio::test]
async fn requests_signed_with_another_key_get_sign_error() {
    let sim = spawn_sim(sim_config()).await;
    let good = v3_client(&sim, "http://127.0.0.1:9/notify").await;
    let mut merchant = good.merchant().clone();
    // The WeChat Pay key is certainly not the merchant's.
    merchant.signer = MerchantSigner::new(
        "1900000109",
        merchant.signer.serial().clone(),
        sim.config().v3.as_ref().expect("v3").wechatpay_key.clone(),
    )
    .expect("signer");
    let config = WechatV3Config {
        merchant,
        ..good.config().clone()
    };
    let bad = WechatV3Client::new(config).expect("client");
    let e = bad
        .jsapi_prepay(prepay("V3S100", 1))
        .await
        .expect_err("401");
    assert!(e.is_sign_error(), "{e:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn forged_stale_unknown_and_tampered_notifies_are_refused() {
    let sim = spawn_sim(sim_config()).await;
    let (url, seen) = spawn_v3_receiver().await;
    let c = v3_client(&sim, &url).await;
    let plans = [
        ("V3N100", json!({"bad_sign": true})),
        ("V3N101", json!({"wrong_key_id": true})),
        ("V3N102", json!({"stale_timestamp": true})),
        ("V3N103", json!({"tampered_ciphertext": true})),
    ];
    for (no, plan) in &plans {
        c.jsapi_prepay(prepay(no, 100)).await.expect("prepay");
        let mut cmd = plan.clone();
        cmd["out_trade_no"] = json!(no);
        let (_, paid) = control(&sim, "/sim/pay", cmd).await;
        finished_delivery(&sim, paid["delivery_id"].as_u64().expect("id")).await;
    }
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), plans.len());
    let mut errors = Vec::new();
    for (headers, body) in &seen {
        let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
        errors.push(c.verify_notify(get, body).expect_err("refused"));
    }
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, WxPayV3Error::SignatureMismatch { .. }))
    );
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, WxPayV3Error::UnknownSerial { .. }))
    );
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, WxPayV3Error::StaleTimestamp { .. }))
    );
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, WxPayV3Error::TagMismatch))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn no_v3_secret_reaches_debug_or_an_error() {
    let sim = spawn_sim(sim_config()).await;
    let c = v3_client(&sim, "http://127.0.0.1:9/notify").await;
    let apiv3 = paylog_sim::v3::DEMO_APIV3_KEY;
    // A line from the middle of the private key's base64.
    let pem_line = paylog_sim::v3::DEMO_MERCHANT_PRIVATE_KEY_PEM
        .lines()
        .nth(5)
        .expect("a key line");
    let mut seen = vec![format!("{c:?}"), format!("{:?}", c.config())];
    // Failure paths: a forged answer, a refused request, an unreachable WeChat.
    control(&sim, "/sim/v3/answer-faults", json!({"bad_sign": true})).await;
    let e = c.query_by_out_trade_no("V3X100").await.expect_err("forged");
    seen.extend([format!("{e}"), format!("{e:?}")]);
    control(&sim, "/sim/v3/answer-faults", json!({})).await;
    let e = c
        .jsapi_prepay(prepay("bad no!", 1))
        .await
        .expect_err("invalid");
    seen.extend([format!("{e}"), format!("{e:?}")]);
    let mut config = c.config().clone();
    config.pay_url = "http://127.0.0.1:9".into();
    config.max_retries = 0;
    let offline = WechatV3Client::new(config).expect("client");
    let e = offline.close("V3X100").await.expect_err("unreachable");
    seen.extend([format!("{e}"), format!("{e:?}")]);
    let e = c.verify_notify(|_| None, b"{}").expect_err("no headers");
    seen.extend([format!("{e}"), format!("{e:?}")]);
    for text in &seen {
        assert!(!text.contains(apiv3), "APIv3 key leaked: {text}");
        assert!(!text.contains(pem_line), "private key leaked: {text}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn the_trade_bill_is_downloaded_and_checked_by_its_sha1() {
    let sim = spawn_sim(sim_config()).await;
    let c = v3_client(&sim, "http://127.0.0.1:9/notify").await;
    c.jsapi_prepay(prepay("V3B100", 1234))
        .await
        .expect("prepay");
    let (_, paid) = control(
        &sim,
        "/sim/pay",
        json!({"out_trade_no": "V3B100", "notify": false}),
    )
    .await;
    let today = chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("offset"))
        .date_naive();
    let file = c
        .trade_bill(today, paylog_core::wxpay_v3::api::BillType::All)
        .await
        .expect("bill");
    let text = String::from_utf8(file).expect("utf-8");
    assert!(text.contains("`V3B100"), "{text}");
    assert!(
        text.contains(paid["transaction_id"].as_str().expect("tx")),
        "{text}"
    );
    assert!(text.contains("`12.34"), "{text}");

    control(&sim, "/sim/v3/answer-faults", json!({"corrupt_bill": true})).await;
    let e = c
        .trade_bill(today, paylog_core::wxpay_v3::api::BillType::All)
        .await
        .expect_err("a file that is not what its SHA1 says");
    assert!(
        matches!(e, WechatError::V3(WxPayV3Error::BillHashMismatch { .. })),
        "{e:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn in_platform_certificate_mode_the_certificates_are_downloaded_kept_and_refreshed() {
    let mut config = sim_config();
    if let Some(v3) = config.v3.as_mut() {
        v3.platform_certificate = Some(paylog_sim::SimPlatformCertificate::demo().expect("cert"));
    }
    let sim = spawn_sim(config).await;
    let (url, seen) = spawn_v3_receiver().await;
    // A merchant in platform-certificate mode: no public key, no certificate yet.
    let c = sim.config();
    let v3 = c.v3.as_ref().expect("v3 keys");
    let merchant = MerchantV3 {
        appid: c.appid.clone(),
        signer: MerchantSigner::new(
            &c.mch_id,
            v3.merchant_serial.clone(),
            SimV3Config::demo_merchant_key().expect("demo key"),
        )
        .expect("signer"),
        apiv3_key: v3.apiv3_key.clone(),
        verifier: Verifier::default(),
    };
    let mut config = WechatV3Config::new(merchant, &url).with_base_url(sim.base_url());
    config.refund_notify_url = Some(url.clone());
    let ahead = Arc::new(Mutex::new(chrono::Duration::zero()));
    let clock = Arc::clone(&ahead);
    let now = Arc::new(move || chrono::Utc::now() + *clock.lock().expect("lock"));
    let c = WechatV3Client::with_clock(config, now).expect("client");

    // Nothing can be verified before the certificates are downloaded.
    let e = c
        .jsapi_prepay(prepay("V3C100", 1500))
        .await
        .expect_err("unknown serial");
    assert!(
        matches!(e, WechatError::V3(WxPayV3Error::UnknownSerial { .. })),
        "{e:?}"
    );
    let margin = chrono::Duration::days(7);
    assert!(c.certificates_due(margin));
    assert_eq!(c.refresh_certificates().await.expect("certificates"), 1);
    assert!(!c.certificates_due(margin));
    let serial = sim
        .config()
        .v3
        .as_ref()
        .and_then(|v| v.platform_certificate.as_ref())
        .map(|p| p.certificate.serial.clone())
        .expect("serial");
    assert!(c.downloaded_certificates().get(&serial).is_some());

    // Pays and refunds, every answer and notify verified by the certificate.
    c.jsapi_prepay(prepay("V3C100", 1500))
        .await
        .expect("prepay");
    let (status, paid) = control(&sim, "/sim/pay", json!({"out_trade_no": "V3C100"})).await;
    assert_eq!(status, 200, "{paid}");
    finished_delivery(&sim, paid["delivery_id"].as_u64().expect("id")).await;
    let (headers, body) = seen.lock().expect("lock")[0].clone();
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    assert_eq!(
        headers
            .get("Wechatpay-Serial")
            .and_then(|v| v.to_str().ok()),
        Some(serial.as_str())
    );
    c.verify_notify(get, &body).expect("the notify verifies");
    let refund = c
        .refund(RefundRequest::new(
            RefundOf::OutTradeNo("V3C100".into()),
            "V3CR100",
            Fen::new(500),
            Fen::new(1500),
            Some("test"),
            None,
        ))
        .await
        .expect("refund");
    assert_eq!(refund.out_refund_no, "V3CR100");

    // An answer signed under a serial nobody knows is refused.
    control(&sim, "/sim/v3/answer-faults", json!({"wrong_key_id": true})).await;
    let e = c
        .query_by_out_trade_no("V3C100")
        .await
        .expect_err("unknown serial");
    assert!(
        matches!(e, WechatError::V3(WxPayV3Error::UnknownSerial { .. })),
        "{e:?}"
    );
    control(&sim, "/sim/v3/answer-faults", json!({})).await;

    // Close to the certificate's expiry (injected clock) a refresh is due.
    let until_expiry =
        c.downloaded_certificates().latest_expiry().expect("expiry") - chrono::Utc::now();
    *ahead.lock().expect("lock") = until_expiry - chrono::Duration::days(1);
    assert!(c.certificates_due(margin));
    sim.shutdown().await;
}
