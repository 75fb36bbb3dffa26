//! End-to-end: the reconciler recovers lost notifies (orderquery) and closes expired
//! orders (closeorder, then CloseOrder with the stock back).

// Test code: helpers fail the test with a message, as the tests themselves do
// (clippy.toml allows that inside #[test] functions, not in their helpers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use paylog_engine::Clock;
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

/// Signs in to the console with the admin token; the session's `Cookie` value.
async fn console_session(app: &paylog_tests::TestApp) -> String {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let answer = client
        .post(format!("{}/console/sign-in", app.base))
        .form(&[("token", paylog_tests::ADMIN_TOKEN)])
        .send()
        .await
        .expect("sign in");
    assert_eq!(answer.status().as_u16(), 303);
    let cookie = answer
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("paylog_console="))
        .expect("a session cookie")
        .to_owned();
    cookie.split(';').next().expect("name=value").to_owned()
}

/// The Today page's row of the reconciler (in English), over HTTP.
async fn reconciler_row(app: &paylog_tests::TestApp, cookie: &str) -> String {
    let page = app
        .http
        .get(format!("{}/console/today", app.base))
        .header(reqwest::header::COOKIE, cookie)
        .header(reqwest::header::ACCEPT_LANGUAGE, "en")
        .send()
        .await
        .expect("today");
    assert_eq!(page.status().as_u16(), 200);
    let text = page.text().await.expect("body");
    let start = text
        .find("<tr id=\"job-reconciler\">")
        .unwrap_or_else(|| panic!("no reconciler row in {text}"));
    let end = text[start..].find("</tr>").expect("end of row") + start;
    text[start..end].to_owned()
}

/// The text of the row's last-error cell.
fn error_cell(row: &str) -> &str {
    let marker = "<td class=\"error\">";
    let at = row.find(marker).expect("an error cell") + marker.len();
    let end = row[at..].find("</td>").expect("end of cell") + at;
    &row[at..end]
}

async fn v3_answer_faults(app: &paylog_tests::TestApp, faults: serde_json::Value) {
    app.sim_control("/sim/v3/answer-faults", faults).await;
}

#[tokio::test]
async fn a_failing_reconciler_run_shows_its_error_on_today_until_a_good_run() {
    let app = spawn_app_with(TestConfig {
        wechat_pay_v3: true,
        ..TestConfig::default()
    })
    .await;
    let token = app.shopper("rosa").await;
    let tea = app.create_product("Tea", 1800, 3).await;
    let placed = app.place_order(&token, &[(&tea, 1)], None).await;
    let id = placed.str("order_id");
    assert_eq!(app.pay(&token, &id).await.status, 200);
    let paid = app
        .sim_pay(&placed.str("out_trade_no"), json!({ "notify": false }))
        .await;
    assert_eq!(paid.status, 200);
    let cookie = console_session(&app).await;
    // (The background loop made one run at start-up, with nothing to do.)
    let row = reconciler_row(&app, &cookie).await;
    assert_eq!(error_cell(&row), "-", "{row}");

    // WeChat's answers come signed by another key: nothing in them can be trusted,
    // so the run records nothing and fails on that order.
    v3_answer_faults(&app, json!({ "bad_sign": true })).await;
    let report = app.reconcile_once().await;
    assert_eq!((report.checked, report.confirmed, report.errors), (1, 0, 1));
    let row = reconciler_row(&app, &cookie).await;
    assert!(row.contains("<td class=\"outcome\">Failed</td>"), "{row}");
    let error = error_cell(&row);
    assert!(error.contains(&id), "the error names the order: {error}");
    assert!(error.chars().count() <= paylog_api::services::periodic::MAX_JOB_ERROR_CHARS);
    assert!(!row.contains(&app.api_key()), "{row}");
    let day = app.clock.now().format("%Y-%m-%d").to_string();
    assert!(row.contains(&day), "the run's times: {row}");
    // /healthz says it failed, without the text.
    let health = app
        .http
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .expect("healthz")
        .json::<serde_json::Value>()
        .await
        .expect("json");
    let job = health["jobs"]
        .as_array()
        .and_then(|jobs| jobs.iter().find(|j| j["job"] == "reconciler"))
        .cloned()
        .expect("the reconciler in /healthz");
    assert_eq!(job["state"], "failed", "{health}");
    assert!(job.get("last_error").is_none());

    // WeChat answers properly again: the next run records the payment and clears it.
    v3_answer_faults(&app, json!({})).await;
    let report = app.reconcile_once().await;
    assert_eq!((report.confirmed, report.errors), (1, 0));
    app.wait_for_status(&token, &id, "Paid").await;
    let row = reconciler_row(&app, &cookie).await;
    assert!(row.contains("<td class=\"outcome\">ok</td>"), "{row}");
    assert_eq!(error_cell(&row), "-");
}
