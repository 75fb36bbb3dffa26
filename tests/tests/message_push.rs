//! End-to-end: WeChat's message push. The simulator, playing WeChat, pushes a
//! settlement event to `/v1/wechat/message`: in safe mode it settles the shipped
//! order; an announcement (estimated settlement time only) records nothing; in
//! plain mode the push is a hint confirmed by `get_order`; forged pushes (bad
//! msg_signature, another appid, a tampered ciphertext, a plain body claiming a
//! settlement WeChat never made) record nothing; the `GET` handshake echoes only
//! when signed; reminders are acknowledged and counted.

// Test code: helpers fail the test with a message, as the tests themselves do
// (clippy.toml allows that inside #[test] functions, not in their helpers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use paylog_api::config::PushModeArg;
use paylog_core::wxa::push::{EncodingAesKey, PushFormat, seal, sealed_body, signature};
use paylog_tests::{
    ADMIN_TOKEN, PUSH_AES_KEY, PUSH_TOKEN, TestApp, TestConfig, spawn_app, spawn_app_with,
};
use serde_json::{Value, json};

/// A paid order, shipped and uploaded: (shopper token, order id, transaction id).
async fn shipped(app: &TestApp) -> (String, String, String) {
    let token = app.shopper("push").await;
    let product = app.create_product("Pu-erh", 2300, 10).await;
    let placed = app.place_order(&token, &[(&product, 1)], None).await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    let id = placed.str("order_id");
    app.pay(&token, &id).await;
    app.sim_pay(&placed.str("out_trade_no"), json!({})).await;
    app.wait_for_status(&token, &id, "Paid").await;
    let shipped = app
        .http
        .post(format!("{}/v1/admin/orders/{id}/ship", app.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({
            "logistics_type": "express",
            "delivery_mode": "unified",
            "parcels": [{"tracking_no": "SF3000000003", "express_company": "SF", "item_desc": "普洱*1"}]
        }))
        .send()
        .await
        .expect("reachable");
    assert_eq!(shipped.status(), 200);
    let order = app.order(&token, &id).await;
    assert_eq!(
        order.json["shipping"]["upload"], "uploaded",
        "{}",
        order.text
    );
    let txn = order.json["payment"]["transaction_id"]
        .as_str()
        .expect("paid")
        .to_owned();
    (token, id, txn)
}

async fn sim_post(app: &TestApp, path: &str, body: Value) -> u16 {
    app.http
        .post(format!("{}{path}", app.sim.base_url()))
        .json(&body)
        .send()
        .await
        .expect("sim")
        .status()
        .as_u16()
}

/// The console's settings: this server's URL, its token and key, `format`.
async fn configure_push(app: &TestApp, format: &str) {
    let status = sim_post(
        app,
        "/sim/push/config",
        json!({
            "url": format!("{}/v1/wechat/message", app.base),
            "token": PUSH_TOKEN,
            "encoding_aes_key": PUSH_AES_KEY,
            "format": format,
        }),
    )
    .await;
    assert_eq!(status, 204);
}

/// Has the simulator push `ask` and waits for the delivery to finish: its attempts.
async fn push(app: &TestApp, ask: Value) -> Value {
    let status = sim_post(app, "/sim/push/settlement", ask.clone()).await;
    assert_eq!(status, 202, "{ask}");
    let state = app.sim_deliveries_done().await;
    state["deliveries"]
        .as_array()
        .and_then(|d| d.iter().rev().find(|d| d["kind"] == "push"))
        .cloned()
        .expect("a push delivery")
}

fn acknowledged(delivery: &Value) -> bool {
    delivery["acknowledged"] == true
}

fn statuses(delivery: &Value) -> Vec<u64> {
    delivery["attempts"]
        .as_array()
        .map(|a| a.iter().filter_map(|a| a["status"].as_u64()).collect())
        .unwrap_or_default()
}

async fn metrics_line(app: &TestApp, outcome: &str) -> Option<String> {
    let metrics = app.metrics().await.text;
    metrics
        .lines()
        .find(|l| {
            l.starts_with("paylog_wechat_notifies_total")
                && l.contains("kind=\"push\"")
                && l.contains(&format!("outcome=\"{outcome}\""))
        })
        .map(str::to_owned)
}

#[tokio::test]
async fn a_safe_mode_settlement_push_settles_the_shipped_order() {
    for format in ["json", "xml"] {
        let app = spawn_app().await;
        configure_push(&app, format).await;
        let (token, id, txn) = shipped(&app).await;

        // At shipment WeChat announces the settlement: nothing is settled yet.
        let announced = push(&app, json!({"transaction_id": txn, "estimated_only": true})).await;
        assert!(acknowledged(&announced), "{announced}");
        let order = app.order(&token, &id).await;
        assert!(
            order.json["shipping"]["receipt_confirmed_at"].is_null(),
            "{}",
            order.text
        );
        assert_eq!(app.count_order_events(&id, "ReceiptConfirmed").await, 0);

        // The shopper confirms, WeChat settles and pushes it.
        let settled = push(&app, json!({"transaction_id": txn, "mode": "safe"})).await;
        assert!(acknowledged(&settled), "{settled}");
        assert_eq!(settled["attempts"][0]["reply"], "success");
        let order = app.order(&token, &id).await;
        let shipping = &order.json["shipping"];
        assert!(
            shipping["receipt_confirmed_at"].is_string(),
            "{}",
            order.text
        );
        assert!(shipping["settled_at"].is_string(), "{}", order.text);
        assert_eq!(order.json["status"], "Paid");
        assert_eq!(app.sim.shipping_json()["shipments"][&txn]["order_state"], 4);

        // WeChat pushes it again: acknowledged, nothing new.
        let again = push(&app, json!({"transaction_id": txn})).await;
        assert!(acknowledged(&again), "{again}");
        assert_eq!(app.count_order_events(&id, "ReceiptConfirmed").await, 1);
        assert_eq!(app.count_order_events(&id, "OrderSettled").await, 1);
        assert!(metrics_line(&app, "recorded").await.is_some());
        assert!(metrics_line(&app, "duplicate").await.is_some());
        assert!(metrics_line(&app, "announced").await.is_some());
    }
}

#[tokio::test]
async fn forged_pushes_are_refused_and_record_nothing() {
    let app = spawn_app().await;
    configure_push(&app, "json").await;
    let (token, id, txn) = shipped(&app).await;

    for (forge, status) in [
        ("bad_signature", 401),
        ("wrong_appid", 403),
        ("tampered", 401),
    ] {
        let d = push(&app, json!({"transaction_id": txn, "forge": forge})).await;
        assert!(!acknowledged(&d), "{forge}: {d}");
        let seen = statuses(&d);
        // WeChat tries once and retries three times; every answer refuses.
        assert_eq!(seen, vec![status; 4], "{forge}: {d}");
    }
    // A plain-mode push when safe mode is configured: refused too.
    let d = push(&app, json!({"transaction_id": txn, "mode": "plain"})).await;
    assert!(!acknowledged(&d), "{d}");
    assert_eq!(statuses(&d)[0], 401);

    let order = app.order(&token, &id).await;
    assert!(
        order.json["shipping"]["receipt_confirmed_at"].is_null(),
        "{}",
        order.text
    );
    assert!(order.json["shipping"]["settled_at"].is_null());
    assert_eq!(app.count_order_events(&id, "ReceiptConfirmed").await, 0);
    assert_eq!(app.count_order_events(&id, "OrderSettled").await, 0);
    assert!(metrics_line(&app, "bad_signature").await.is_some());
    assert!(metrics_line(&app, "wrong_appid").await.is_some());
}

#[tokio::test]
async fn a_plain_mode_push_is_recorded_only_as_get_order_confirms_it() {
    let app = spawn_app_with(TestConfig {
        push_mode: PushModeArg::Plain,
        ..TestConfig::default()
    })
    .await;
    configure_push(&app, "xml").await;
    let (token, id, txn) = shipped(&app).await;

    // A correctly signed URL with a body claiming a settlement WeChat never made:
    // get_order says "shipped", so nothing is recorded.
    let hint = push(
        &app,
        json!({"transaction_id": txn, "mode": "plain", "forge": "hint_only"}),
    )
    .await;
    assert!(acknowledged(&hint), "{hint}");
    assert_eq!(app.count_order_events(&id, "ReceiptConfirmed").await, 0);
    assert!(metrics_line(&app, "unconfirmed").await.is_some());

    // WeChat settles and pushes: get_order confirms it.
    let real = push(&app, json!({"transaction_id": txn, "mode": "plain"})).await;
    assert!(acknowledged(&real), "{real}");
    let order = app.order(&token, &id).await;
    assert!(
        order.json["shipping"]["settled_at"].is_string(),
        "{}",
        order.text
    );
    assert_eq!(app.count_order_events(&id, "OrderSettled").await, 1);

    // A bad signature is refused in plain mode as well.
    let forged = push(
        &app,
        json!({"transaction_id": txn, "mode": "plain", "forge": "bad_signature"}),
    )
    .await;
    assert_eq!(statuses(&forged)[0], 401, "{forged}");
}

#[tokio::test]
async fn the_handshake_echoes_echostr_only_when_signed() {
    let app = spawn_app().await;
    let (ts, nonce) = ("1700000000", "n0nce");
    let good = signature(&[PUSH_TOKEN, ts, nonce]);
    let get = |sig: String| {
        app.http
            .get(format!("{}/v1/wechat/message", app.base))
            .query(&[
                ("signature", sig.as_str()),
                ("timestamp", ts),
                ("nonce", nonce),
                ("echostr", "8123456"),
            ])
            .send()
    };
    let ok = get(good).await.expect("reachable");
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.expect("body"), "8123456");
    let bad = get(signature(&["other", ts, nonce]))
        .await
        .expect("reachable");
    assert_eq!(bad.status(), 401);
    assert_ne!(bad.text().await.expect("body"), "8123456");
    let none = app
        .http
        .get(format!("{}/v1/wechat/message?echostr=1", app.base))
        .send()
        .await
        .expect("reachable");
    assert_eq!(none.status(), 401);
}

#[tokio::test]
async fn reminders_are_acknowledged_and_counted_and_junk_is_refused() {
    let app = spawn_app().await;
    let key = EncodingAesKey::parse(PUSH_AES_KEY).expect("key");
    let appid = app.sim.config().appid.clone();
    let message = json!({
        "ToUserName": "gh_1", "FromUserName": "o", "CreateTime": 1_700_000_000,
        "MsgType": "event", "Event": "trade_manage_remind_shipping",
        "transaction_id": "4200000000", "merchant_id": "1900000109",
        "merchant_trade_no": "x", "pay_time": 1_699_000_000, "msg": "请尽快发货"
    })
    .to_string();
    let encrypt = seal(&key, [3; 16], &message, &appid);
    let (ts, nonce) = ("1700000000", "abc");
    let post = |body: String, msg_signature: String| {
        app.http
            .post(format!("{}/v1/wechat/message", app.base))
            .query(&[
                ("signature", signature(&[PUSH_TOKEN, ts, nonce]).as_str()),
                ("timestamp", ts),
                ("nonce", nonce),
                ("encrypt_type", "aes"),
                ("msg_signature", msg_signature.as_str()),
            ])
            .body(body)
            .send()
    };
    let signed = signature(&[PUSH_TOKEN, ts, nonce, &encrypt]);
    let ok = post(
        sealed_body("gh_1", &encrypt, PushFormat::Json),
        signed.clone(),
    )
    .await
    .expect("reachable");
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.expect("body"), "success");
    assert!(metrics_line(&app, "reminded").await.is_some());

    for junk in ["", "{", "<xml><a><b/></a></xml>", "[1]"] {
        let r = post(junk.to_owned(), signed.clone())
            .await
            .expect("reachable");
        assert_eq!(r.status(), 400, "{junk}");
        assert!(r.text().await.expect("body").starts_with("fail"));
    }
    let big = format!(r#"{{"Encrypt":"{}"}}"#, "A".repeat(70 * 1024));
    let r = post(big, signed).await.expect("reachable");
    assert_eq!(r.status(), 413);
}
