//! End-to-end: WeChat's daily bill compared with the log — a day that matches, each
//! kind of difference the simulator can put into a bill, a payment whose notify was
//! lost recovered from the bill by the daily run, a malformed bill refused with its
//! line and changing nothing, and a day without a bill — through the simulator over
//! real HTTP (`/v1/admin/reconciliation/{date}`), checked in the log.

// Test code: helpers fail the test with a message, as the tests themselves do
// (clippy.toml allows that inside #[test] functions, not in their helpers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use chrono::{NaiveDate, NaiveTime, Utc};
use paylog_core::wxpay::bill::{BillDay, beijing_day};
use paylog_tests::{ADMIN_TOKEN, Answer, TestApp, TestConfig, spawn_app, spawn_app_with};
use paylog_wechat::{BillCompression, WechatClient};
use reqwest::Method;
use serde_json::{Value, json};

/// The Beijing day the simulator is in (its payments and refunds are "now").
fn today() -> NaiveDate {
    beijing_day(Utc::now())
}

async fn report(app: &TestApp, date: &str) -> Answer {
    let path = format!("/v1/admin/reconciliation/{date}");
    app.request(Method::GET, &path, Some(ADMIN_TOKEN), None)
        .await
}

async fn reconcile(app: &TestApp, date: &str) -> Answer {
    let path = format!("/v1/admin/reconciliation/{date}");
    app.request(Method::POST, &path, Some(ADMIN_TOKEN), None)
        .await
}

async fn bill_fault(app: &TestApp, fault: Value) {
    app.sim_control("/sim/bill-fault", fault).await;
}

/// A paid order of `total` fen; (token, order id, out_trade_no).
async fn paid_order(app: &TestApp, total: u64) -> (String, String, String) {
    let token = app.shopper("bill").await;
    let product = app.create_product("Tea", total, 10).await;
    let placed = app.place_order(&token, &[(&product, 1)], None).await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    let (id, out_trade_no) = (placed.str("order_id"), placed.str("out_trade_no"));
    assert_eq!(app.pay(&token, &id).await.status, 200);
    app.sim_pay(&out_trade_no, json!({})).await;
    app.wait_for_status(&token, &id, "Paid").await;
    (token, id, out_trade_no)
}

/// Refunds `amount` of a paid order and waits for WeChat's SUCCESS to be recorded;
/// the refund's number.
async fn refunded(app: &TestApp, token: &str, id: &str, amount: u64, status: &str) -> String {
    let answer = app.refund(id, amount, "bill test").await;
    assert_eq!(answer.status, 202, "{}", answer.text);
    app.wait_for_status(token, id, status).await;
    answer.str("out_refund_no")
}

/// The differences of a report as (movement, kind, out_trade_no, resolution).
fn differences(report: &Value) -> Vec<(String, String, String, String)> {
    report["differences"]
        .as_array()
        .expect("differences")
        .iter()
        .map(|d| {
            let s = |k: &str| d[k].as_str().unwrap_or_default().to_owned();
            (s("movement"), s("kind"), s("out_trade_no"), s("resolution"))
        })
        .collect()
}

#[tokio::test]
async fn a_day_whose_bill_matches_the_log_matches_plain_or_gzipped() {
    let app = spawn_app().await;
    let (token, id, _) = paid_order(&app, 990).await;
    refunded(&app, &token, &id, 300, "PartiallyRefunded").await;
    paid_order(&app, 1200).await;
    app.sim_deliveries_done().await;

    let date = today().to_string();
    let answer = report(&app, &date).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let r = &answer.json;
    assert_eq!(r["bill"], "bill", "{r}");
    assert_eq!(
        (&r["bill_payments"], &r["bill_refunds"]),
        (&json!(2), &json!(1)),
        "{r}"
    );
    assert_eq!(
        (&r["log_payments"], &r["log_refunds"]),
        (&json!(2), &json!(1))
    );
    assert_eq!(r["matches"], true, "{r}");
    assert!(differences(r).is_empty());

    // The same bill, downloaded plain and gzipped, reads the same.
    let client = WechatClient::new(paylog_api::app::sim_client_config(
        &app.sim,
        "http://x/pay/notify",
    ))
    .expect("client");
    let plain = client
        .download_bill(today(), BillCompression::None)
        .await
        .expect("plain bill");
    let gzip = client
        .download_bill(today(), BillCompression::Gzip)
        .await
        .expect("gzip bill");
    assert!(
        matches!(&plain, BillDay::Bill(b) if b.rows.len() == 3),
        "{plain:?}"
    );
    assert_eq!(plain, gzip);
}

#[tokio::test]
async fn each_kind_of_difference_is_listed_with_its_order_and_transaction() {
    let app = spawn_app().await;
    let date = today().to_string();
    let (_, dropped_id, dropped) = paid_order(&app, 100).await;
    let (_, _, amount) = paid_order(&app, 200).await;
    let (_, _, revoked) = paid_order(&app, 300).await;
    let (t4, id4, refund_dropped_order) = paid_order(&app, 400).await;
    let refund_dropped = refunded(&app, &t4, &id4, 400, "Refunded").await;
    let (t5, id5, refund_changed_order) = paid_order(&app, 500).await;
    let refund_changed = refunded(&app, &t5, &id5, 100, "PartiallyRefunded").await;
    app.sim_deliveries_done().await;
    let stranger = "0123456789abcdef0123456789abcdef";
    for fault in [
        json!({ "kind": "drop_payment", "out_trade_no": dropped }),
        json!({ "kind": "payment_amount", "out_trade_no": amount, "amount": 201 }),
        json!({ "kind": "payment_status", "out_trade_no": revoked, "status": "REVOKED" }),
        json!({ "kind": "drop_refund", "out_refund_no": refund_dropped }),
        json!({ "kind": "refund_status", "out_refund_no": refund_changed, "status": "CHANGE" }),
        json!({ "kind": "extra_refund", "out_trade_no": amount, "out_refund_no": "RX1", "amount": 50 }),
        json!({ "kind": "extra_payment", "out_trade_no": stranger, "amount": 777 }),
    ] {
        let mut fault = fault;
        fault["date"] = json!(date);
        bill_fault(&app, fault).await;
    }

    let answer = report(&app, &date).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json["matches"], false);
    let mut found = differences(&answer.json);
    found.sort();
    let d = |m: &str, k: &str, no: &str, r: &str| (m.into(), k.into(), no.into(), r.into());
    let mut expected = vec![
        d("payment", "missing_from_bill", &dropped, "for_an_operator"),
        d("payment", "amount_differs", &amount, "for_an_operator"),
        d("payment", "status_differs", &revoked, "for_an_operator"),
        d(
            "refund",
            "missing_from_bill",
            &refund_dropped_order,
            "for_an_operator",
        ),
        d(
            "refund",
            "status_differs",
            &refund_changed_order,
            "for_an_operator",
        ),
        d("refund", "missing_from_log", &amount, "for_an_operator"),
        d("payment", "missing_from_log", stranger, "unknown_order"),
    ];
    expected.sort();
    assert_eq!(found, expected, "{}", answer.json);
    // Each names its order and transaction.
    let missing = answer.json["differences"]
        .as_array()
        .expect("differences")
        .iter()
        .find(|d| d["out_trade_no"] == dropped.as_str())
        .expect("the dropped payment");
    assert_eq!(missing["order_id"], dropped_id.as_str());
    assert_eq!(missing["amount_fen"], 100);
    assert!(
        missing["transaction_id"]
            .as_str()
            .is_some_and(|t| t.starts_with("4200"))
    );
    let amounts = answer.json["differences"]
        .as_array()
        .expect("differences")
        .iter()
        .find(|d| d["kind"] == "amount_differs")
        .expect("the amount difference");
    assert_eq!(
        (&amounts["bill_amount_fen"], &amounts["log_amount_fen"]),
        (&json!(201), &json!(200))
    );

    // Recovering: the payment nobody here knows is an anomaly for an operator, and
    // nothing is recorded for it.
    let head = app.log_head();
    let run = reconcile(&app, &date).await;
    assert_eq!(run.status, 200, "{}", run.text);
    let unknown: Vec<_> = differences(&run.json)
        .into_iter()
        .filter(|(_, _, no, _)| no == stranger)
        .collect();
    assert_eq!(
        unknown,
        vec![d("payment", "missing_from_log", stranger, "unknown_order")]
    );
    assert_eq!(run.json["recovered"], 0);
    assert_eq!(
        app.log_head(),
        head,
        "an unknown order's payment records nothing"
    );
}

#[tokio::test]
async fn a_payment_whose_notify_was_lost_is_recovered_by_the_daily_run() {
    let app = spawn_app_with(TestConfig {
        // Every instant is past 00:00: the run is due as soon as "yesterday" exists.
        reconcile_daily_at: Some(NaiveTime::MIN),
        ..TestConfig::default()
    })
    .await;
    let token = app.shopper("lost").await;
    let product = app.create_product("Tea", 650, 10).await;
    let placed = app.place_order(&token, &[(&product, 1)], None).await;
    let (id, out_trade_no) = (placed.str("order_id"), placed.str("out_trade_no"));
    assert_eq!(app.pay(&token, &id).await.status, 200);
    // Paid at WeChat; the notify never comes.
    app.sim_pay(&out_trade_no, json!({ "notify": false })).await;
    let date = today();

    let before = report(&app, &date.to_string()).await;
    assert_eq!(
        differences(&before.json),
        vec![(
            "payment".to_owned(),
            "missing_from_log".to_owned(),
            out_trade_no.clone(),
            "not_attempted".to_owned()
        )],
        "{}",
        before.json
    );
    assert_eq!(
        app.order(&token, &id).await.json["status"],
        "PaymentRequested"
    );

    // The next day, the daily run reconciles the day and records the payment.
    app.clock.advance(Duration::from_secs(24 * 3600));
    let run = app
        .handles
        .bill
        .run_daily_if_due()
        .await
        .expect("daily run")
        .expect("due");
    assert_eq!(run.date, date);
    assert_eq!(run.recovered, 1, "{run:?}");
    assert_eq!(app.count_order_events(&id, "PaymentConfirmed").await, 1);
    app.wait_for_status(&token, &id, "Paid").await;
    // Kept for auditors; the day is done.
    let kept = app
        .data_dir
        .join("reconciliation")
        .join(format!("{date}.json"));
    let kept: Value =
        serde_json::from_slice(&std::fs::read(&kept).expect("kept report")).expect("json");
    assert_eq!(kept["recovered"], 1);
    assert!(
        app.handles
            .bill
            .run_daily_if_due()
            .await
            .expect("run")
            .is_none()
    );

    // Now the day matches; a notify arriving late appends nothing more.
    let after = report(&app, &date.to_string()).await;
    assert_eq!(after.json["matches"], true, "{}", after.json);
}

#[tokio::test]
async fn a_malformed_bill_is_refused_naming_its_line_and_changes_nothing() {
    let app = spawn_app().await;
    let token = app.shopper("malformed").await;
    let product = app.create_product("Tea", 650, 10).await;
    let placed = app.place_order(&token, &[(&product, 1)], None).await;
    let (id, out_trade_no) = (placed.str("order_id"), placed.str("out_trade_no"));
    app.pay(&token, &id).await;
    app.sim_pay(&out_trade_no, json!({ "notify": false })).await;
    let date = today().to_string();
    bill_fault(&app, json!({ "date": date, "kind": "malformed" })).await;

    let head = app.log_head();
    for answer in [report(&app, &date).await, reconcile(&app, &date).await] {
        assert_eq!(answer.status, 502, "{}", answer.text);
        assert_eq!(answer.error_code(), "bill_unreadable");
        let message = answer.json["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("line 2"), "{message}");
        assert!(message.contains("9.9O"), "{message}");
    }
    assert_eq!(app.log_head(), head, "a malformed bill recovers nothing");
    assert_eq!(
        app.order(&token, &id).await.json["status"],
        "PaymentRequested"
    );
}

#[tokio::test]
async fn a_day_without_a_bill_is_empty_and_bad_dates_are_refused() {
    let app = spawn_app().await;
    let answer = report(&app, "2020-01-01").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json["bill"], "no_bill");
    assert_eq!(answer.json["matches"], true);
    assert_eq!(answer.json["bill_payments"], 0);

    let bad = report(&app, "2020-13-01").await;
    assert_eq!(
        (bad.status, bad.error_code()),
        (400, "invalid_date"),
        "{}",
        bad.text
    );
    let bad = report(&app, "yesterday").await;
    assert_eq!((bad.status, bad.error_code()), (400, "invalid_date"));
    let future = today().succ_opt().expect("tomorrow").to_string();
    let bad = report(&app, &future).await;
    assert_eq!(
        (bad.status, bad.error_code()),
        (422, "bill_not_published"),
        "{}",
        bad.text
    );
    let anonymous = app
        .request(
            Method::GET,
            "/v1/admin/reconciliation/2020-01-01",
            None,
            None,
        )
        .await;
    assert_eq!(anonymous.status, 401);
}

// --- WeChat Pay API v3 --------------------------------------------------------------

fn v3_only() -> TestConfig {
    TestConfig {
        v3_only: true,
        ..TestConfig::default()
    }
}

#[tokio::test]
async fn a_v3_only_shops_day_matches_its_v3_trade_bill() {
    // No v2 key: a `downloadbill` would fail at the simulator with a sign error,
    // so a matching day proves the bill came through `/v3/bill/tradebill`.
    let app = spawn_app_with(v3_only()).await;
    assert_eq!(
        app.handles.bill.bill_api(),
        paylog_core::payment_refs::PayApi::V3
    );
    let (token, id, paid_no) = paid_order(&app, 990).await;
    assert_eq!(app.sim_state()["orders"][&paid_no]["api"], "v3");
    refunded(&app, &token, &id, 300, "PartiallyRefunded").await;
    paid_order(&app, 1200).await;
    app.sim_deliveries_done().await;

    let answer = report(&app, &today().to_string()).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let r = &answer.json;
    assert_eq!(r["bill"], "bill", "{r}");
    assert_eq!(
        (&r["bill_payments"], &r["bill_refunds"]),
        (&json!(2), &json!(1)),
        "{r}"
    );
    assert_eq!(
        (&r["log_payments"], &r["log_refunds"]),
        (&json!(2), &json!(1)),
        "{r}"
    );
    assert_eq!(r["matches"], true, "{r}");
    assert!(differences(r).is_empty(), "{r}");

    // A day WeChat has no bill for (NO_STATEMENT_EXIST) is v2's "No Bill Exist".
    let yesterday = today().pred_opt().expect("a day before").to_string();
    let answer = report(&app, &yesterday).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json["bill"], "no_bill", "{}", answer.json);
    assert_eq!(answer.json["matches"], true, "{}", answer.json);
}

#[tokio::test]
async fn a_v3_day_with_differences_is_reported_and_a_lost_payment_recovered_on_v3() {
    let app = spawn_app_with(v3_only()).await;
    let (_, _, wrong_amount) = paid_order(&app, 700).await;
    // Paid at WeChat; the notify never comes.
    let token = app.shopper("lost").await;
    let product = app.create_product("Tea", 650, 10).await;
    let placed = app.place_order(&token, &[(&product, 1)], None).await;
    let (id, lost) = (placed.str("order_id"), placed.str("out_trade_no"));
    assert_eq!(app.pay(&token, &id).await.status, 200);
    app.sim_pay(&lost, json!({ "notify": false })).await;
    let date = today();
    bill_fault(
        &app,
        json!({"date": date, "kind": "payment_amount", "out_trade_no": wrong_amount, "amount": 701}),
    )
    .await;

    let answer = report(&app, &date.to_string()).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json["matches"], false, "{}", answer.json);
    let mut found = differences(&answer.json);
    found.sort();
    let d = |m: &str, k: &str, no: &str, r: &str| (m.into(), k.into(), no.into(), r.into());
    let mut expected = vec![
        d(
            "payment",
            "amount_differs",
            &wrong_amount,
            "for_an_operator",
        ),
        d("payment", "missing_from_log", &lost, "not_attempted"),
    ];
    expected.sort();
    assert_eq!(found, expected, "{}", answer.json);

    // Recovery queries the order on v3, the API it was prepaid on.
    let run = reconcile(&app, &date.to_string()).await;
    assert_eq!(run.status, 200, "{}", run.text);
    assert_eq!(run.json["recovered"], 1, "{}", run.json);
    app.wait_for_status(&token, &id, "Paid").await;
    assert_eq!(app.count_order_events(&id, "PaymentConfirmed").await, 1);
    let after = report(&app, &date.to_string()).await;
    assert_eq!(
        differences(&after.json),
        vec![d(
            "payment",
            "amount_differs",
            &wrong_amount,
            "for_an_operator"
        )],
        "only the bill's own error is left: {}",
        after.json
    );
}

#[tokio::test]
async fn during_the_switch_over_one_bill_covers_the_orders_of_both_apis() {
    let app = spawn_app().await;
    let (_, _, old_no) = paid_order(&app, 1100).await;
    let app = app
        .restart_with(TestConfig {
            wechat_pay_v3: true,
            ..TestConfig::default()
        })
        .await;
    let (_, _, new_no) = paid_order(&app, 800).await;
    let sim = app.sim_state();
    assert_eq!(sim["orders"][&old_no]["api"], "v2");
    assert_eq!(sim["orders"][&new_no]["api"], "v3");
    app.sim_deliveries_done().await;

    // The merchant's one bill, fetched once on v3, holds both payments: each is
    // matched once (a merge of both APIs' bills would count each twice).
    assert_eq!(
        app.handles.bill.bill_api(),
        paylog_core::payment_refs::PayApi::V3
    );
    let answer = report(&app, &today().to_string()).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let r = &answer.json;
    assert_eq!(
        (&r["bill_payments"], &r["log_payments"]),
        (&json!(2), &json!(2)),
        "{r}"
    );
    assert_eq!(r["matches"], true, "{r}");
}
