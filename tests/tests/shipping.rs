//! End-to-end: after the sale. A paid order is shipped by an admin and its shipping
//! information uploaded to the simulated WeChat; an unpaid order cannot ship (422); a
//! shipment WeChat refuses is recorded with its errcode and uploaded again by a retry
//! of the same request or by the background uploader (with backoff, as is an upload
//! whose answer was lost; never a refusal that cannot pass); a shipment breaking
//! WeChat's limits is refused (400); the access token is refreshed once when expired
//! and taken from `GET /cgi-bin/token`
//! when stable_token fails.

// Test code: helpers fail the test with a message, as the tests themselves do
// (clippy.toml allows that inside #[test] functions, not in their helpers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use paylog_tests::{ADMIN_TOKEN, Answer, SETTLEMENT_CHECK_AFTER, TestApp, spawn_app};
use serde_json::{Value, json};

/// A placed order of one product; returns (token, order id, out_trade_no).
async fn placed(app: &TestApp) -> (String, String, String) {
    let token = app.shopper("ship").await;
    let product = app.create_product("Oolong", 1200, 10).await;
    let placed = app.place_order(&token, &[(&product, 1)], None).await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    (token, placed.str("order_id"), placed.str("out_trade_no"))
}

async fn paid(app: &TestApp) -> (String, String) {
    let (token, id, out_trade_no) = placed(app).await;
    app.pay(&token, &id).await;
    app.sim_pay(&out_trade_no, json!({})).await;
    app.wait_for_status(&token, &id, "Paid").await;
    (token, id)
}

fn express(tracking: &str) -> Value {
    json!({
        "logistics_type": "express",
        "delivery_mode": "unified",
        "parcels": [{"tracking_no": tracking, "express_company": "SF", "item_desc": "乌龙茶*1"}]
    })
}

async fn ship(app: &TestApp, id: &str, body: Value, key: &str) -> Answer {
    let req = app
        .http
        .post(format!("{}/v1/admin/orders/{id}/ship", app.base))
        .bearer_auth(ADMIN_TOKEN)
        .header("Idempotency-Key", key)
        .json(&body);
    let resp = req.send().await.expect("reachable");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        text,
        json,
        headers,
    }
}

/// A paid order shipped by express with `tracking` and uploaded; returns (token,
/// order id, transaction id).
async fn shipped(app: &TestApp, tracking: &str, key: &str) -> (String, String, String) {
    let (token, id) = paid(app).await;
    let shipped = ship(app, &id, express(tracking), key).await;
    assert_eq!(shipped.json["upload"], "uploaded", "{}", shipped.text);
    let txn = shipped.json["order"]["payment"]["transaction_id"]
        .as_str()
        .expect("paid")
        .to_owned();
    (token, id, txn)
}

#[tokio::test]
async fn pay_then_ship_uploads_the_shipping_info_to_wechat() {
    let app = spawn_app().await;
    let (token, id) = paid(&app).await;

    let shipped = ship(&app, &id, express("SF1000000001"), "ship-1").await;
    assert_eq!(shipped.status, 200, "{}", shipped.text);
    assert_eq!(shipped.json["upload"], "uploaded");
    assert_eq!(shipped.json["order"]["shipping"]["upload"], "uploaded");

    // The shopper sees it on the order; the status stays Paid.
    let order = app.order(&token, &id).await;
    assert_eq!(order.json["status"], "Paid");
    let shipping = &order.json["shipping"];
    assert_eq!(shipping["logistics_type"], "express");
    assert_eq!(shipping["parcels"][0]["tracking_no"], "SF1000000001");
    assert_eq!(shipping["revision"], 1);
    assert!(shipping["uploaded_at"].is_string(), "{shipping}");

    // WeChat has it, for the transaction that paid the order.
    let txn = order.json["payment"]["transaction_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let at_wechat = app.sim.shipping_json();
    assert_eq!(
        at_wechat["shipments"][&txn]["order_state"], 2,
        "{at_wechat}"
    );
    assert!(at_wechat["shipments"][&txn]["last"]["payer"]["openid"].is_string());

    // The same request again: nothing new in the log, nothing sent again.
    let again = ship(&app, &id, express("SF1000000001"), "ship-1").await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(app.count_order_events(&id, "OrderShipped").await, 1);
    assert_eq!(app.count_order_events(&id, "ShippingInfoUploaded").await, 1);
    assert_eq!(app.sim.shipping_json()["shipments"][&txn]["uploads"], 1);
}

#[tokio::test]
async fn a_shipment_for_an_unpaid_order_is_refused_with_422() {
    let app = spawn_app().await;
    let (_token, id, _) = placed(&app).await;
    let refused = ship(&app, &id, express("SF1"), "ship-unpaid").await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert_eq!(refused.error_code(), "order_not_paid");
    assert_eq!(app.count_order_events(&id, "OrderShipped").await, 0);
    assert_eq!(
        app.sim.shipping_json()["tokens_issued"],
        0,
        "WeChat never called"
    );
}

#[tokio::test]
async fn an_upload_wechat_refuses_is_recorded_and_a_retry_uploads_it() {
    let app = spawn_app().await;
    let (token, id) = paid(&app).await;
    app.sim_control("/sim/shipping-fault", json!({"errcode": -1, "times": 1}))
        .await;

    let refused = ship(&app, &id, express("SF2000000002"), "ship-2").await;
    assert_eq!(refused.status, 200, "{}", refused.text);
    assert_eq!(refused.json["upload"], "refused");
    let order = app.order(&token, &id).await;
    assert_eq!(order.json["shipping"]["upload"], "failed");
    assert_eq!(order.json["shipping"]["last_errcode"], -1);
    assert_eq!(app.count_order_events(&id, "ShippingUploadFailed").await, 1);

    // The retry: the shipment is already recorded, only the upload happens.
    let retried = ship(&app, &id, express("SF2000000002"), "ship-2-retry").await;
    assert_eq!(retried.status, 200, "{}", retried.text);
    assert_eq!(retried.json["upload"], "uploaded");
    assert_eq!(app.count_order_events(&id, "OrderShipped").await, 1);
    assert_eq!(app.count_order_events(&id, "ShippingInfoUploaded").await, 1);
}

#[tokio::test]
async fn a_shipment_breaking_wechats_limits_is_refused_with_400_and_changes_nothing() {
    let app = spawn_app().await;
    let (_token, id) = paid(&app).await;
    let long = json!({
        "logistics_type": "express",
        "delivery_mode": "unified",
        "parcels": [{"tracking_no": "SF3", "express_company": "SF", "item_desc": "茶".repeat(121)}]
    });
    let refused = ship(&app, &id, long, "ship-3").await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert_eq!(refused.error_code(), "invalid_shipment");
    let no_tracking = json!({
        "logistics_type": "express",
        "delivery_mode": "unified",
        "parcels": [{"item_desc": "茶"}]
    });
    let refused = ship(&app, &id, no_tracking, "ship-4").await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert_eq!(app.count_order_events(&id, "OrderShipped").await, 0);
}

#[tokio::test]
async fn receipt_and_settlement_at_wechat_are_recorded_by_a_sync() {
    let app = spawn_app().await;
    let (token, id, txn) = shipped(&app, "SF5000000005", "ship-5").await;
    let sync = |app: &TestApp| {
        let url = format!("{}/v1/admin/orders/{id}/shipping/sync", app.base);
        let req = app.http.post(url).bearer_auth(ADMIN_TOKEN);
        async move {
            req.send()
                .await
                .expect("reachable")
                .json::<Value>()
                .await
                .expect("json")
        }
    };

    // Nothing new at WeChat: nothing recorded.
    let order = sync(&app).await;
    assert!(
        order["shipping"]["receipt_confirmed_at"].is_null(),
        "{order}"
    );

    app.sim_control("/sim/confirm-receipt", json!({"transaction_id": txn}))
        .await;
    let order = sync(&app).await;
    assert!(
        order["shipping"]["receipt_confirmed_at"].is_string(),
        "{order}"
    );
    assert!(order["shipping"]["settled_at"].is_null());

    app.sim_control("/sim/settle", json!({"transaction_id": txn}))
        .await;
    sync(&app).await;
    let order = sync(&app).await;
    assert!(order["shipping"]["settled_at"].is_string(), "{order}");
    assert_eq!(app.count_order_events(&id, "ReceiptConfirmed").await, 1);
    assert_eq!(app.count_order_events(&id, "OrderSettled").await, 1);
    let shown = app.order(&token, &id).await;
    assert!(shown.json["shipping"]["settled_at"].is_string());
    assert_eq!(shown.json["status"], "Paid");
}

#[tokio::test]
async fn a_settlement_no_push_reported_is_found_by_the_checker_once_the_shipment_is_old_enough() {
    let app = spawn_app().await;
    let (token, id, txn) = shipped(&app, "SF5000000006", "ship-6").await;
    // WeChat settles, and its push never arrives.
    app.sim_control("/sim/confirm-receipt", json!({"transaction_id": txn}))
        .await;
    app.sim_control("/sim/settle", json!({"transaction_id": txn}))
        .await;

    // Too young to ask about: nothing asked, nothing recorded.
    let report = app.settlement_check_once().await;
    assert_eq!((report.recorded, report.unchanged), (0, 0), "{report:?}");
    assert_eq!(app.count_order_events(&id, "OrderSettled").await, 0);

    app.clock.advance(SETTLEMENT_CHECK_AFTER);
    let report = app.settlement_check_once().await;
    assert_eq!(report.recorded, 1, "{report:?}");
    assert_eq!(app.count_order_events(&id, "ReceiptConfirmed").await, 1);
    assert_eq!(app.count_order_events(&id, "OrderSettled").await, 1);
    let shown = app.order(&token, &id).await;
    assert!(
        shown.json["shipping"]["settled_at"].is_string(),
        "{}",
        shown.text
    );

    // Settled orders leave the work list: the next run asks nothing.
    let report = app.settlement_check_once().await;
    assert_eq!(report, Default::default());
}

#[tokio::test]
async fn the_admin_lists_paid_orders_still_to_ship_oldest_first() {
    let app = spawn_app().await;
    let mut paid_orders = Vec::new();
    for _ in 0..3 {
        paid_orders.push(paid(&app).await);
    }
    let (_, unpaid, _) = placed(&app).await;
    let ids = |answer: &Answer| -> Vec<String> {
        answer.json["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|o| o["order_id"].as_str().expect("id").to_owned())
            .collect()
    };
    let listed = list(&app).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let mut listed_ids = ids(&listed);
    assert!(!listed_ids.contains(&unpaid));
    // Oldest payment first (WeChat's time_end has whole seconds: ties keep any order).
    let mut paid_at = Vec::new();
    for id in &listed_ids {
        let (token, _) = paid_orders
            .iter()
            .find(|(_, o)| o == id)
            .expect("a paid order");
        let order = app.order(token, id).await;
        paid_at.push(
            order.json["payment"]["paid_at"]
                .as_str()
                .expect("paid")
                .to_owned(),
        );
    }
    assert!(paid_at.windows(2).all(|w| w[0] <= w[1]), "{paid_at:?}");
    listed_ids.sort();
    let mut expected: Vec<String> = paid_orders.iter().map(|(_, id)| id.clone()).collect();
    expected.sort();
    assert_eq!(listed_ids, expected);

    let second = paid_orders[1].1.clone();
    let shipped = ship(&app, &second, express("SF6000000006"), "ship-6").await;
    assert_eq!(shipped.status, 200, "{}", shipped.text);
    let after = ids(&list(&app).await);
    assert_eq!(after.len(), 2);
    assert!(!after.contains(&second));

    let bad = app
        .request(
            reqwest::Method::GET,
            "/v1/admin/orders?status=everything",
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
}

async fn list(app: &TestApp) -> Answer {
    app.request(
        reqwest::Method::GET,
        "/v1/admin/orders?status=paid_not_shipped",
        Some(ADMIN_TOKEN),
        None,
    )
    .await
}

#[tokio::test]
async fn the_background_uploader_retries_a_refused_upload_with_backoff_until_wechat_accepts_it() {
    use paylog_api::services::uploader::{UPLOAD_RETRY_MAX, backoff};
    let app = spawn_app().await;
    let (token, id) = paid(&app).await;
    // WeChat is busy for the admin's upload and the uploader's first retry.
    app.sim_control("/sim/shipping-fault", json!({"errcode": -1, "times": 2}))
        .await;
    let refused = ship(&app, &id, express("SF7000000007"), "ship-7").await;
    assert_eq!(refused.json["upload"], "refused", "{}", refused.text);

    // Not due yet: nothing is sent.
    let report = app.upload_once().await;
    assert_eq!((report.waiting, report.refused, report.uploaded), (1, 0, 0));
    assert_eq!(app.sim.shipping_json()["uploads_refused"], 1);

    // After one refusal the wait is backoff(1); a second refusal doubles it.
    app.clock.advance(backoff(1));
    let report = app.upload_once().await;
    assert_eq!(report.refused, 1, "{report:?}");
    assert_eq!(app.count_order_events(&id, "ShippingUploadFailed").await, 2);
    app.clock.advance(backoff(1));
    assert_eq!(
        app.upload_once().await.waiting,
        1,
        "backoff(2) not over yet"
    );

    app.clock.advance(UPLOAD_RETRY_MAX);
    let report = app.upload_once().await;
    assert_eq!(report.uploaded, 1, "{report:?}");
    assert_eq!(app.count_order_events(&id, "ShippingInfoUploaded").await, 1);
    let order = app.order(&token, &id).await;
    assert_eq!(order.json["shipping"]["upload"], "uploaded");
    let txn = order.json["payment"]["transaction_id"].as_str().unwrap();
    assert_eq!(app.sim.shipping_json()["shipments"][txn]["uploads"], 1);

    // Done: nothing left to upload.
    app.clock.advance(UPLOAD_RETRY_MAX);
    assert_eq!(
        app.upload_once().await,
        paylog_api::services::uploader::UploadReport::default()
    );
}

#[tokio::test]
async fn an_upload_whose_answer_was_lost_is_uploaded_again_by_the_background_uploader() {
    use paylog_api::services::uploader::backoff;
    let app = spawn_app().await;
    let (token, id) = paid(&app).await;
    // WeChat records the admin's upload, but its answer never arrives (502).
    app.sim_control("/sim/shipping-lost-answer", json!({"times": 1}))
        .await;
    let shipped = ship(&app, &id, express("SF7100000071"), "ship-71").await;
    assert_eq!(shipped.status, 200, "{}", shipped.text);
    assert_eq!(shipped.json["upload"], "unknown", "{}", shipped.text);
    // Nothing is recorded for an unknown outcome: still pending in the log.
    assert_eq!(app.count_order_events(&id, "ShippingInfoUploaded").await, 0);
    assert_eq!(app.count_order_events(&id, "ShippingUploadFailed").await, 0);
    assert_eq!(
        app.order(&token, &id).await.json["shipping"]["upload"],
        "pending"
    );

    // The uploader remembers the unknown attempt: not due before backoff(1).
    let report = app.upload_once().await;
    assert_eq!((report.waiting, report.uploaded), (1, 0), "{report:?}");
    app.clock.advance(backoff(1));
    let report = app.upload_once().await;
    assert_eq!(report.uploaded, 1, "{report:?}");
    assert_eq!(app.count_order_events(&id, "ShippingInfoUploaded").await, 1);
    let order = app.order(&token, &id).await;
    assert_eq!(order.json["shipping"]["upload"], "uploaded");
    // WeChat saw it twice: the lost one and the retry (its one allowed change).
    let txn = order.json["payment"]["transaction_id"].as_str().unwrap();
    assert_eq!(app.sim.shipping_json()["shipments"][txn]["uploads"], 2);
}

#[tokio::test]
async fn a_refusal_that_can_never_pass_is_not_retried() {
    use paylog_api::services::uploader::UPLOAD_RETRY_MAX;
    let app = spawn_app().await;
    let (_token, id) = paid(&app).await;
    // 10060003: the payment's one change is spent; the same upload can never pass.
    app.sim_control(
        "/sim/shipping-fault",
        json!({"errcode": 10060003, "times": 5}),
    )
    .await;
    let refused = ship(&app, &id, express("SF8000000008"), "ship-8").await;
    assert_eq!(refused.json["upload"], "refused", "{}", refused.text);

    app.clock.advance(UPLOAD_RETRY_MAX);
    let report = app.upload_once().await;
    assert_eq!((report.given_up, report.refused), (1, 0), "{report:?}");
    assert_eq!(app.sim.shipping_json()["uploads_refused"], 1);
    assert_eq!(app.count_order_events(&id, "ShippingUploadFailed").await, 1);
}

#[tokio::test]
async fn an_expired_access_token_is_refreshed_once_and_the_upload_goes_through() {
    let app = spawn_app().await;
    let (_token, first) = paid(&app).await;
    let shipped = ship(&app, &first, express("SF9000000009"), "ship-9").await;
    assert_eq!(shipped.json["upload"], "uploaded", "{}", shipped.text);
    assert_eq!(app.sim.shipping_json()["tokens_issued"], 1);

    // WeChat expires the token the server holds: the next call is answered 42001,
    // the server refreshes once and sends it again.
    app.sim_control("/sim/expire-token", json!({})).await;
    let (_token, second) = paid(&app).await;
    let shipped = ship(&app, &second, express("SF9000000010"), "ship-10").await;
    assert_eq!(shipped.json["upload"], "uploaded", "{}", shipped.text);
    let at_wechat = app.sim.shipping_json();
    assert_eq!(at_wechat["tokens_issued"], 2, "{at_wechat}");
    assert_eq!(at_wechat["plain_token_requests"], 0);
}

#[tokio::test]
async fn when_stable_token_fails_the_token_comes_from_the_older_token_api() {
    let app = spawn_app().await;
    let (_token, id) = paid(&app).await;
    app.sim_control("/sim/stable-token-fault", json!({"times": 1}))
        .await;
    let shipped = ship(&app, &id, express("SF9100000011"), "ship-11").await;
    assert_eq!(shipped.json["upload"], "uploaded", "{}", shipped.text);
    let at_wechat = app.sim.shipping_json();
    assert_eq!(at_wechat["plain_token_requests"], 1, "{at_wechat}");
    assert_eq!(at_wechat["token_requests"], 0, "{at_wechat}");
}

#[tokio::test]
async fn an_express_company_wechat_does_not_know_is_refused_and_the_list_is_cached() {
    let app = spawn_app().await;
    let (_token, id) = paid(&app).await;
    let unknown = json!({
        "logistics_type": "express",
        "delivery_mode": "unified",
        "parcels": [{"tracking_no": "XX1", "express_company": "NOSUCHCO", "item_desc": "乌龙茶*1"}]
    });
    let refused = ship(&app, &id, unknown, "ship-12").await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert_eq!(refused.error_code(), "unknown_express_company");
    assert_eq!(app.count_order_events(&id, "OrderShipped").await, 0);

    let shipped = ship(&app, &id, express("SF9200000012"), "ship-13").await;
    assert_eq!(shipped.json["upload"], "uploaded", "{}", shipped.text);
    let (_token, other) = paid(&app).await;
    let shipped = ship(&app, &other, express("SF9200000013"), "ship-14").await;
    assert_eq!(shipped.json["upload"], "uploaded", "{}", shipped.text);
    let at_wechat = app.sim.shipping_json();
    assert_eq!(at_wechat["delivery_list_requests"], 1, "{at_wechat}");
    assert_eq!(at_wechat["trade_managed_checks"], 1, "{at_wechat}");
}

#[tokio::test]
async fn a_shipment_sends_the_payer_the_configured_message_once_and_43101_is_not_retried() {
    let app = paylog_tests::spawn_app_with(paylog_tests::TestConfig {
        ship_template_id: Some("TPL_shipped-0123456789".parse().expect("template id")),
        ..paylog_tests::TestConfig::default()
    })
    .await;
    let (token, id) = paid(&app).await;
    let shipped = ship(&app, &id, express("SF9300000014"), "ship-15").await;
    assert_eq!(shipped.json["upload"], "uploaded", "{}", shipped.text);
    let at_wechat = app.sim.shipping_json();
    let messages = at_wechat["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 1, "{at_wechat}");
    assert_eq!(messages[0]["template_id"], "TPL_shipped-0123456789");
    assert_eq!(
        messages[0]["data"]["character_string3"]["value"],
        "SF9300000014"
    );
    let order = app.order(&token, &id).await;
    assert_eq!(
        messages[0]["data"]["character_string1"]["value"],
        order.json["out_trade_no"]
    );
    // The payer is who paid.
    let txn = order.json["payment"]["transaction_id"].as_str().unwrap();
    assert_eq!(
        messages[0]["touser"],
        at_wechat["shipments"][txn]["last"]["payer"]["openid"]
    );

    // The same request again ships nothing new: no second message.
    ship(&app, &id, express("SF9300000014"), "ship-15").await;
    assert_eq!(
        app.sim.shipping_json()["messages"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // A payer who did not subscribe: 43101, the shipment stands, nothing retried.
    app.sim_control(
        "/sim/subscribe-fault",
        json!({"errcode": 43101, "times": 1}),
    )
    .await;
    let (_token, other) = paid(&app).await;
    let shipped = ship(&app, &other, express("SF9300000015"), "ship-16").await;
    assert_eq!(shipped.status, 200, "{}", shipped.text);
    assert_eq!(shipped.json["upload"], "uploaded");
    let at_wechat = app.sim.shipping_json();
    assert_eq!(at_wechat["messages_refused"], 1, "{at_wechat}");
    assert_eq!(at_wechat["messages"].as_array().unwrap().len(), 1);
}
