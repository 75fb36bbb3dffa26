//! The console in a real browser (headless chromium through chromedriver): sign in,
//! see an order placed through the API, open its timeline, refund part of it and see
//! the refund on the page and in the log, ship an order, see a reconciliation
//! difference the simulator's bill carries, sign out. Every page is screenshotted
//! under the cargo target dir (`console-screenshots/`), never committed; with
//! `PAYLOG_CONSOLE_SCREENSHOTS_DIR` set, the Today page and an order's timeline are
//! also saved there (the README's pictures).

// Test code: helpers fail the test with a message, as the tests themselves do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use chrono::Utc;
use paylog_core::wxpay::bill::beijing_day;
use paylog_tests::webdriver::Browser;
use paylog_tests::{ADMIN_TOKEN, TestApp, spawn_app};
use serde_json::{Value, json};

/// A paid order of a product called `name`; returns (order id, out_trade_no).
async fn paid_order(app: &TestApp, name: &str, total: u64) -> (String, String) {
    let token = app.shopper("browser").await;
    let product = app.create_product(name, total, 10).await;
    let placed = app.place_order(&token, &[(&product, 1)], None).await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    let (id, out_trade_no) = (placed.str("order_id"), placed.str("out_trade_no"));
    app.pay(&token, &id).await;
    app.sim_pay(&out_trade_no, json!({})).await;
    app.wait_for_status(&token, &id, "Paid").await;
    (id, out_trade_no)
}

async fn bill_fault(app: &TestApp, fault: Value) {
    let answer = app
        .http
        .post(format!("{}/sim/bill-fault", app.sim.base_url()))
        .json(&fault)
        .send()
        .await
        .expect("sim reachable");
    assert_eq!(answer.status().as_u16(), 204, "bill fault {fault}");
}

#[tokio::test]
async fn an_operator_runs_the_shop_in_a_browser() {
    let app = spawn_app().await;
    let (refund_id, refund_no) = paid_order(&app, "Green tea", 1200).await;
    let (ship_id, ship_no) = paid_order(&app, "Oolong", 800).await;
    app.sim_deliveries_done().await;
    let day = beijing_day(Utc::now()).to_string();
    // WeChat's bill for today lacks the second payment: a difference to find.
    bill_fault(
        &app,
        json!({ "date": day, "kind": "drop_payment", "out_trade_no": ship_no }),
    )
    .await;

    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    let readme = std::env::var_os("PAYLOG_CONSOLE_SCREENSHOTS_DIR").map(PathBuf::from);
    let b = Browser::start().await.expect("a headless chromium");
    let base = &app.base;

    // Without a session the console sends the browser to sign in.
    b.goto(&format!("{base}/console/today")).await.unwrap();
    assert!(b.url().await.unwrap().ends_with("/console/sign-in"));
    b.screenshot(&shots, "sign-in").await.unwrap();
    b.type_into("#token", ADMIN_TOKEN).await.unwrap();
    b.click("#sign-in").await.unwrap();
    b.find("#sales-chart").await.unwrap();
    b.screenshot(&shots, "today").await.unwrap();
    if let Some(dir) = &readme {
        b.screenshot(dir, "today").await.unwrap();
    }

    // The order placed through the API is on the list.
    b.goto(&format!("{base}/console/orders")).await.unwrap();
    b.wait_for_text(&refund_no).await.unwrap();
    b.screenshot(&shots, "orders").await.unwrap();
    b.click(&format!("a[href='/console/orders/{refund_id}']"))
        .await
        .unwrap();
    b.find("#timeline").await.unwrap();
    let source = b.source().await.unwrap();
    assert!(source.contains("OrderPlaced") && source.contains("PaymentConfirmed"));
    b.screenshot(&shots, "order").await.unwrap();

    // Refund part of it: the refund shows on the page and in the log.
    b.type_into("#refund-amount", "300").await.unwrap();
    b.type_into("#refund-reason", "damaged box").await.unwrap();
    b.click("#refund-submit").await.unwrap();
    b.find("#notice").await.unwrap();
    let source = b.wait_for_text("damaged box").await.unwrap();
    assert!(
        source.contains("RefundRequested"),
        "the timeline shows the refund"
    );
    assert_eq!(
        app.count_order_events(&refund_id, "RefundRequested").await,
        1
    );
    b.screenshot(&shots, "order-refunded").await.unwrap();
    // The timeline at the top of the window, with the state after the payment.
    let paid_at = source
        .split("as_of=")
        .nth(2)
        .and_then(|rest| rest.split('"').next())
        .expect("a second timeline entry")
        .to_owned();
    b.goto(&format!(
        "{base}/console/orders/{refund_id}?as_of={paid_at}#timeline"
    ))
    .await
    .unwrap();
    b.find("#as-of-state").await.unwrap();
    b.screenshot(&shots, "order-timeline").await.unwrap();
    if let Some(dir) = &readme {
        b.screenshot(dir, "order-timeline").await.unwrap();
    }
    b.goto(&format!("{base}/console/log?stream=order-{refund_id}"))
        .await
        .unwrap();
    b.wait_for_text("damaged box").await.unwrap();
    b.screenshot(&shots, "log").await.unwrap();

    // Ship the other order.
    b.goto(&format!("{base}/console/orders/{ship_id}"))
        .await
        .unwrap();
    b.type_into("#tracking-no", "SF1234567890").await.unwrap();
    b.type_into("#express-company", "SF").await.unwrap();
    b.type_into("#item-desc", "Oolong x1").await.unwrap();
    b.click("#ship-submit").await.unwrap();
    b.find("#notice").await.unwrap();
    b.find("#shipment").await.unwrap();
    b.wait_for_text("SF1234567890").await.unwrap();
    assert_eq!(app.count_order_events(&ship_id, "OrderShipped").await, 1);
    b.screenshot(&shots, "order-shipped").await.unwrap();

    // The day's reconciliation shows the payment missing from WeChat's bill.
    b.goto(&format!("{base}/console/money?day={day}"))
        .await
        .unwrap();
    b.find("#differences").await.unwrap();
    let source = b.wait_for_text("MissingFromBill").await.unwrap();
    assert!(source.contains(&ship_no));
    b.screenshot(&shots, "money").await.unwrap();

    b.goto(&format!("{base}/console/catalog")).await.unwrap();
    b.wait_for_text("Green tea").await.unwrap();
    b.screenshot(&shots, "catalog").await.unwrap();

    // Sign out: the console is closed again.
    b.click("#sign-out").await.unwrap();
    b.find("#token").await.unwrap();
    b.goto(&format!("{base}/console/orders")).await.unwrap();
    assert!(b.url().await.unwrap().ends_with("/console/sign-in"));
    b.quit().await.unwrap();
}
