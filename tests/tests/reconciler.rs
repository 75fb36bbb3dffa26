//! End-to-end: the reconciler recovers lost notifies (orderquery) and closes expired
//! orders (closeorder, then CloseOrder with the stock back).

// Test code: helpers fail the test with a message, as the tests themselves do
// (clippy.toml allows that inside #[test] functions, not in their helpers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use paylog_tests::{TestConfig, spawn_app, spawn_app_with};
use serde_json::json;

#[tokio::test]
async fn a_lost_notify_is_recovered_by_the_reconciler() {
    let app = spawn_app().await;
    let token = app.shopper("quinn").await;
    let tea = app.create_product("Tea", 1800, 3).await;
    let placed = app.place_order(&token, &[(&tea, 1)], None).await;
    let id = placed.str("order_id");
    assert_eq!(app.pay(&token, &id).await.status, 200);
    let paid = app
        .sim_pay(&placed.str("out_trade_no"), json!({ "notify": false }))
        .await;
    assert_eq!(paid.status, 200);
    assert_eq!(
        app.order(&token, &id).await.json["status"],
        "PaymentRequested"
    );

    let report = app.reconcile_once().await;
    assert_eq!((report.checked, report.confirmed, report.errors), (1, 1, 0));
    let order = app.wait_for_status(&token, &id, "Paid").await;
    assert_eq!(
        order.json["payment"]["transaction_id"],
        paid.json["transaction_id"]
    );
    assert_eq!(app.count_order_events(&id, "PaymentConfirmed").await, 1);
    // Nothing left to do; a late notify of the same payment appends nothing.
    assert_eq!(app.reconcile_once().await.checked, 0);
    assert_eq!(app.stock(&tea).await, 2);
}

#[tokio::test]
async fn an_expired_order_is_closed_at_wechat_and_here_with_its_stock_back() {
    let app = spawn_app_with(TestConfig {
        payment_timeout: Duration::from_millis(1500),
        // Not yet due for an orderquery on its own: only expiry brings it up.
        reconcile_after: Duration::from_secs(3600),
        ..TestConfig::default()
    })
    .await;
    let token = app.shopper("rosa").await;
    let tea = app.create_product("Tea", 600, 2).await;
    let with_prepay = app.place_order(&token, &[(&tea, 1)], None).await;
    let without_prepay = app.place_order(&token, &[(&tea, 1)], None).await;
    let (a, b) = (with_prepay.str("order_id"), without_prepay.str("order_id"));
    assert_eq!(app.pay(&token, &a).await.status, 200);
    assert_eq!(app.stock(&tea).await, 0);
    assert_eq!(app.reconcile_once().await.checked, 0, "nothing is due yet");

    app.clock.advance(Duration::from_millis(1600));
    let report = app.reconcile_once().await;
    assert_eq!((report.checked, report.closed, report.errors), (2, 2, 0));
    for id in [&a, &b] {
        let order = app.wait_for_status(&token, id, "Closed").await;
        assert!(order.json["payment"].is_null());
        assert_eq!(app.count_order_events(id, "OrderClosed").await, 1);
    }
    assert_eq!(app.stock(&tea).await, 2);
    let out_trade_no = with_prepay.str("out_trade_no");
    assert_eq!(app.sim_state()["orders"][&out_trade_no]["state"], "CLOSED");
    assert_eq!(app.pay(&token, &a).await.status, 422);
    assert_eq!(app.reconcile_once().await.checked, 0);
}

#[tokio::test]
async fn the_background_reconciler_runs_on_its_interval() {
    let app = spawn_app_with(TestConfig {
        reconcile_interval: Duration::from_millis(50),
        ..TestConfig::default()
    })
    .await;
    let token = app.shopper("sam").await;
    let tea = app.create_product("Tea", 700, 1).await;
    let placed = app.place_order(&token, &[(&tea, 1)], None).await;
    let id = placed.str("order_id");
    assert_eq!(app.pay(&token, &id).await.status, 200);
    app.sim_pay(&placed.str("out_trade_no"), json!({ "notify": false }))
        .await;
    app.wait_for_status(&token, &id, "Paid").await;
    assert_eq!(app.count_order_events(&id, "PaymentConfirmed").await, 1);
    let metrics = app.metrics().await.text;
    assert!(
        metrics.contains(r#"paylog_reconciler_actions_total{action="confirmed"} 1"#),
        "{metrics}"
    );
}
