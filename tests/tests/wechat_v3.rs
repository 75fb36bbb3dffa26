//! End-to-end on WeChat Pay API v3: a shop configured with v3 credentials pays,
//! is notified, refunds and is notified of the refund through the simulator over
//! real HTTP; forged, misnamed, stale and tampered notifies are refused and
//! change nothing; a v2 key configured as the APIv3 key stops start-up; and an
//! order prepaid on v2 keeps working on v2 after the switch to v3.

// Test code: helpers fail the test with a message, as the tests themselves do
// (clippy.toml allows that inside #[test] functions, not in their helpers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use paylog_core::wxpay_v3::{MiniProgramPayParams, RsaSigningKey};
use paylog_tests::{TestApp, TestConfig, spawn_app_with};
use serde_json::{Value, json};

fn v3_config() -> TestConfig {
    TestConfig {
        wechat_pay_v3: true,
        ..TestConfig::default()
    }
}

/// A shopper with a placed order of `total` fen; returns (token, order id, out_trade_no).
async fn placed_order(app: &TestApp, total: u64) -> (String, String, String) {
    let token = app.shopper("v3").await;
    let product = app.create_product("Tea", total, 10).await;
    let placed = app.place_order(&token, &[(&product, 1)], None).await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    (token, placed.str("order_id"), placed.str("out_trade_no"))
}

fn merchant_key() -> RsaSigningKey {
    RsaSigningKey::from_pem(
        "merchant key",
        paylog_sim::v3::DEMO_MERCHANT_PRIVATE_KEY_PEM,
    )
    .expect("demo key")
}

/// The simulator's most recent notify delivery.
fn last_delivery(app: &TestApp) -> Value {
    app.sim_state()["deliveries"]
        .as_array()
        .and_then(|d| d.last().cloned())
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_v3_shop_pays_refunds_and_is_notified_of_both() {
    let app = spawn_app_with(v3_config()).await;
    let (token, id, out_trade_no) = placed_order(&app, 2990).await;

    let params = app.pay(&token, &id).await;
    assert_eq!(params.status, 200, "{}", params.text);
    assert_eq!(params.str("signType"), "RSA");
    let params: MiniProgramPayParams = serde_json::from_value(params.json).expect("params");
    params
        .verify(&merchant_key().verifying_key())
        .expect("paySign is the merchant's RSA signature");
    let again = app.pay(&token, &id).await;
    assert_eq!(again.str("package"), params.package, "the prepay is reused");
    assert_eq!(app.sim_state()["orders"][&out_trade_no]["api"], "v3");

    let paid = app.sim_pay(&out_trade_no, json!({"duplicates": 1})).await;
    assert_eq!(paid.status, 200, "{}", paid.text);
    let order = app.wait_for_status(&token, &id, "Paid").await;
    assert_eq!(order.json["paid_fen"], 2990);
    let state = app.sim_deliveries_done().await;
    let delivery = &state["deliveries"][0];
    assert_eq!(delivery["acknowledged"], true, "{delivery}");
    assert!(
        delivery["attempts"]
            .as_array()
            .expect("attempts")
            .iter()
            .all(|a| a["status"] == 204),
        "the notify and its duplicate are answered 204: {delivery}"
    );
    assert_eq!(app.count_order_events(&id, "PaymentConfirmed").await, 1);

    let accepted = app.refund(&id, 990, "one cup broke").await;
    assert_eq!(accepted.status, 202, "{}", accepted.text);
    let order = app.wait_for_status(&token, &id, "PartiallyRefunded").await;
    assert_eq!(order.json["refunded_fen"], 990);
    assert_eq!(order.json["refunds"][0]["status"], "Confirmed");
    let state = app.sim_deliveries_done().await;
    assert_eq!(state["deliveries"][1]["kind"], "refund");
    assert_eq!(state["deliveries"][1]["acknowledged"], true);
    assert!(
        state["deliveries"][1]["url"]
            .as_str()
            .is_some_and(|u| u.ends_with("/v1/wechat/refund/notify/v3")),
        "{state}"
    );
    assert_eq!(
        app.stream_events(&format!("order-{id}")).await,
        vec![
            "OrderPlaced",
            "PaymentRequested",
            "PaymentConfirmed",
            "RefundRequested",
            "RefundConfirmed"
        ]
    );
}

#[tokio::test]
async fn forged_misnamed_stale_and_tampered_notifies_change_nothing() {
    let app = spawn_app_with(v3_config()).await;
    for plan in [
        json!({"bad_sign": true}),
        json!({"wrong_key_id": true}),
        json!({"stale_timestamp": true}),
        json!({"tampered_ciphertext": true}),
    ] {
        let (token, id, out_trade_no) = placed_order(&app, 500).await;
        assert_eq!(app.pay(&token, &id).await.status, 200);
        let head = app.log_head();
        app.sim_pay(&out_trade_no, plan.clone()).await;
        // Wait (bounded) until an attempt was answered.
        let mut answered = Value::Null;
        for _ in 0..500 {
            let d = last_delivery(&app);
            if d["attempts"]
                .as_array()
                .is_some_and(|a| a.iter().any(|a| a["status"].is_u64()))
            {
                answered = d;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let first = &answered["attempts"]
            .as_array()
            .expect("attempts")
            .iter()
            .find(|a| a["status"].is_u64())
            .cloned()
            .expect("an answered attempt");
        assert_eq!(first["status"], 401, "{plan}: {answered}");
        assert_eq!(first["acknowledged"], false);
        let reply: Value =
            serde_json::from_str(first["reply"].as_str().expect("reply")).expect("JSON reply");
        assert_eq!(reply["code"], "FAIL", "{reply}");
        assert_eq!(app.log_head(), head, "{plan}: nothing appended");
        assert_eq!(
            app.order(&token, &id).await.json["status"],
            "PaymentRequested"
        );
    }
}

/// A change to otherwise valid settings.
type Change = fn(&mut paylog_api::config::ServeArgs);

fn refused<T>(built: Result<T, paylog_api::error::Error>) -> paylog_api::error::Error {
    match built {
        Ok(_) => panic!("start-up should have been refused"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn a_v2_key_configured_as_the_apiv3_key_stops_start_up_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("dir");
    let sim_config = paylog_sim::SimConfig::demo();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let sim = paylog_sim::start(listener, sim_config.clone())
        .await
        .expect("sim");
    let app_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = app_listener.local_addr().expect("addr");
    let data_dir = dir.path().join("data");
    let mut args = paylog_tests::app::serve_args(
        data_dir.clone(),
        addr,
        Some((&sim, &sim_config)),
        &v3_config(),
    );
    args.wechat.v3.apiv3_key = args.wechat.api_key.clone();
    let e = refused(paylog_api::app::Application::build(args.clone(), app_listener).await);
    let message = e.to_string();
    assert!(
        message.contains("PAYLOG_WECHAT_APIV3_KEY is the v2 API key"),
        "{message}"
    );
    assert!(!message.contains('\n'), "one line: {message}");
    assert!(
        !message.contains(paylog_sim::v3::DEMO_APIV3_KEY)
            && !message.contains("paylogsimulatorkey"),
        "no secret in the error: {message}"
    );

    // A 16-byte key, a public key id without its key, a missing key file, a
    // serial that is not hex, and the merchant's own public key given as WeChat's.
    let cases: [(&str, Change); 5] = [
        ("exactly 32", |a| {
            a.wechat.v3.apiv3_key = Some("sixteen-bytes-ab".to_owned().into());
        }),
        (
            "PAYLOG_WECHAT_PUBLIC_KEY_ID needs PAYLOG_WECHAT_PUBLIC_KEY",
            |a| {
                a.wechat.v3.public_key = None;
            },
        ),
        ("PAYLOG_WECHAT_MCH_PRIVATE_KEY: cannot read", |a| {
            a.wechat.v3.mch_private_key = Some("/nonexistent/apiclient_key.pem".into());
        }),
        ("PAYLOG_WECHAT_MCH_SERIAL", |a| {
            a.wechat.v3.mch_serial = Some("not-a-serial".into());
        }),
        ("is the merchant's own public key", |a| {
            let own = a.store.data_dir.with_file_name("own_pub.pem");
            let key = RsaSigningKey::from_pem(
                "merchant key",
                paylog_sim::v3::DEMO_MERCHANT_PRIVATE_KEY_PEM,
            )
            .expect("demo key");
            std::fs::write(&own, key.verifying_key().to_public_key_pem().expect("pem"))
                .expect("write");
            a.wechat.v3.public_key = Some(own);
        }),
    ];
    for (expected, change) in cases {
        let mut args = paylog_tests::app::serve_args(
            data_dir.clone(),
            addr,
            Some((&sim, &sim_config)),
            &v3_config(),
        );
        change(&mut args);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let e = refused(paylog_api::app::Application::build(args, listener).await);
        assert!(e.to_string().contains(expected), "{expected}: {e}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn an_order_prepaid_on_v2_stays_on_v2_after_the_switch_to_v3() {
    let app = spawn_app_with(TestConfig::default()).await;
    let (token, old, old_no) = placed_order(&app, 1200).await;
    let v2_params = app.pay(&token, &old).await;
    assert_eq!(v2_params.str("signType"), "MD5", "{}", v2_params.text);

    let app = app.restart_with(v3_config()).await;
    // The v2 prepay is still valid: its parameters are signed on v2 again.
    let again = app.pay(&token, &old).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.str("signType"), "MD5");
    assert_eq!(again.str("package"), v2_params.str("package"));
    // New orders go to v3.
    let (_, new, new_no) = placed_order(&app, 800).await;
    let v3_params = app.pay(&token, &new).await;
    assert_eq!(v3_params.str("signType"), "RSA", "{}", v3_params.text);
    assert_eq!(app.sim_state()["orders"][&new_no]["api"], "v3");
    assert_eq!(app.sim_state()["orders"][&old_no]["api"], "v2");

    // The v2 order is paid without a notify: the reconciler finds it by a v2 query.
    app.sim_pay(&old_no, json!({"notify": false})).await;
    app.reconcile_once().await;
    app.wait_for_status(&token, &old, "Paid").await;
    // The v3 order is paid and notified on v3.
    app.sim_pay(&new_no, json!({})).await;
    app.wait_for_status(&token, &new, "Paid").await;

    // Each is refunded on its own API (the simulator's v2 refund notify goes to
    // the v2 endpoint, which the refund URL of the v2 client names).
    assert_eq!(app.refund(&old, 200, "v2 refund").await.status, 202);
    assert_eq!(app.refund(&new, 300, "v3 refund").await.status, 202);
    app.wait_for_status(&token, &old, "PartiallyRefunded").await;
    app.wait_for_status(&token, &new, "PartiallyRefunded").await;
    let sim = app.sim_state();
    assert_eq!(sim["orders"][&old_no]["refunds"][0]["refund_fee"], 200);
    assert_eq!(sim["orders"][&new_no]["refunds"][0]["refund_fee"], 300);
}

#[tokio::test]
async fn a_shop_in_platform_certificate_mode_pays_and_refunds_and_refuses_an_unknown_serial() {
    // No public key configured: the platform certificate is downloaded from
    // /v3/certificates at start-up, and every answer and notify verified by it.
    let app = spawn_app_with(TestConfig {
        v3_platform_certificates: true,
        ..TestConfig::default()
    })
    .await;
    let (token, id, out_trade_no) = placed_order(&app, 1800).await;
    let params = app.pay(&token, &id).await;
    assert_eq!(params.status, 200, "{}", params.text);
    assert_eq!(params.str("signType"), "RSA");
    app.sim_pay(&out_trade_no, json!({})).await;
    app.wait_for_status(&token, &id, "Paid").await;
    let accepted = app.refund(&id, 600, "certificate mode").await;
    assert_eq!(accepted.status, 202, "{}", accepted.text);
    let order = app.wait_for_status(&token, &id, "PartiallyRefunded").await;
    assert_eq!(order.json["refunded_fen"], 600);

    // A notify signed under a serial the shop does not know changes nothing.
    let (token, id, out_trade_no) = placed_order(&app, 500).await;
    assert_eq!(app.pay(&token, &id).await.status, 200);
    let head = app.log_head();
    app.sim_pay(&out_trade_no, json!({"wrong_key_id": true}))
        .await;
    let mut answered = Value::Null;
    for _ in 0..500 {
        let d = last_delivery(&app);
        if d["attempts"]
            .as_array()
            .is_some_and(|a| a.iter().any(|a| a["status"].is_u64()))
        {
            answered = d;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let first = answered["attempts"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["status"].is_u64()).cloned())
        .expect("an answered attempt");
    assert_eq!(first["status"], 401, "{answered}");
    assert_eq!(app.log_head(), head, "nothing appended");
    assert_eq!(
        app.order(&token, &id).await.json["status"],
        "PaymentRequested"
    );
}
