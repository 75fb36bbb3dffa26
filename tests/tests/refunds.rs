//! End-to-end: the refund lifecycle that never lies — a retry of a failed refund is
//! refused before WeChat is called, `CHANGE` needs an operator and is resolved, a
//! late `SUCCESS` revives a failed refund, a refund is retried by its number — through
//! the simulator over real HTTP, checked in the log.

// Test code: helpers fail the test with a message, as the tests themselves do
// (clippy.toml allows that inside #[test] functions, not in their helpers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use paylog_tests::wx::refund_notify_xml;
use paylog_tests::{
    ADMIN_TOKEN, Answer, ClientCert, TestApp, TestConfig, spawn_app, spawn_app_with,
    test_client_cert_dir,
};
use reqwest::Method;
use serde_json::{Value, json};

const SUCCESS: &str = "<return_code><![CDATA[SUCCESS]]></return_code>";

/// A paid order of `total` fen whose refund notifies the simulator will lose (the
/// test delivers WeChat's verdicts itself); returns (token, order id, out_trade_no).
async fn paid_order(app: &TestApp, total: u64) -> (String, String, String) {
    let token = app.shopper("refund").await;
    let product = app.create_product("Tea", total, 10).await;
    let placed = app.place_order(&token, &[(&product, 1)], None).await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    let (id, out_trade_no) = (placed.str("order_id"), placed.str("out_trade_no"));
    app.pay(&token, &id).await;
    app.sim_pay(&out_trade_no, json!({})).await;
    app.wait_for_status(&token, &id, "Paid").await;
    app.sim_control("/sim/refund-faults", json!({ "drop_first": 100 }))
        .await;
    (token, id, out_trade_no)
}

async fn admin(app: &TestApp, path: &str, body: Value) -> Answer {
    app.request(Method::POST, path, Some(ADMIN_TOKEN), Some(body))
        .await
}

/// WeChat's refund notify for `out_refund_no` with `status`.
fn verdict(
    app: &TestApp,
    out_trade_no: &str,
    out_refund_no: &str,
    fee: u64,
    status: &str,
) -> String {
    refund_notify_xml(
        &app.sim_config.appid,
        &app.sim_config.mch_id,
        &app.api_key(),
        &[
            ("transaction_id", "4200000000202601011234567890".to_owned()),
            ("out_trade_no", out_trade_no.to_owned()),
            ("refund_id", "50300000000000000000000000001".to_owned()),
            ("out_refund_no", out_refund_no.to_owned()),
            ("total_fee", fee.to_string()),
            ("refund_fee", fee.to_string()),
            ("refund_status", status.to_owned()),
        ],
    )
}

#[tokio::test]
async fn a_retry_of_a_failed_refund_is_refused_with_409_and_a_late_success_revives_it() {
    let app = spawn_app().await;
    let (token, id, out_trade_no) = paid_order(&app, 800).await;
    let accepted = app.refund(&id, 800, "").await;
    assert_eq!(accepted.status, 202, "{}", accepted.text);
    let no = accepted.str("out_refund_no");
    let closed = verdict(&app, &out_trade_no, &no, 800, "REFUNDCLOSE");
    assert!(app.refund_notify(&closed).await.text.contains(SUCCESS));
    let order = app.wait_for_status(&token, &id, "Paid").await;
    assert_eq!(order.json["refunds"][0]["status"], "Failed");

    let retry = admin(
        &app,
        &format!("/v1/admin/orders/{id}/refund"),
        json!({ "amount_fen": 800, "out_refund_no": no }),
    )
    .await;
    assert_eq!(
        (retry.status, retry.error_code()),
        (409, "refund_no_failed"),
        "{}",
        retry.text
    );
    assert_eq!(app.count_order_events(&id, "RefundRequested").await, 1);

    // WeChat refunded after all: the log says so, and nothing is refundable twice.
    let late = verdict(&app, &out_trade_no, &no, 800, "SUCCESS");
    assert!(app.refund_notify(&late).await.text.contains(SUCCESS));
    assert!(app.refund_notify(&late).await.text.contains(SUCCESS));
    let order = app.wait_for_status(&token, &id, "Refunded").await;
    assert_eq!(order.json["refunds"][0]["status"], "Confirmed");
    assert_eq!(
        app.count_order_events(&id, "RefundConfirmedAfterFailure")
            .await,
        1
    );
    let again = app.refund(&id, 1, "").await;
    assert_eq!(
        (again.status, again.error_code()),
        (422, "refund_exceeds_paid")
    );
}

#[tokio::test]
async fn change_needs_an_operator_and_is_resolved_as_refunded_otherwise() {
    let app = spawn_app().await;
    let (token, id, out_trade_no) = paid_order(&app, 700).await;
    let accepted = app.refund(&id, 700, "broken").await;
    assert_eq!(accepted.status, 202, "{}", accepted.text);
    let no = accepted.str("out_refund_no");
    let change = verdict(&app, &out_trade_no, &no, 700, "CHANGE");
    assert!(app.refund_notify(&change).await.text.contains(SUCCESS));
    assert!(app.refund_notify(&change).await.text.contains(SUCCESS));
    assert_eq!(app.count_order_events(&id, "RefundNeedsAttention").await, 1);
    assert_eq!(app.count_order_events(&id, "RefundFailed").await, 0);
    let order = app.wait_for_status(&token, &id, "Refunding").await;
    assert_eq!(order.json["refunds"][0]["status"], "NeedsAttention");

    let resolve = format!("/v1/admin/orders/{id}/refunds/{no}/resolve");
    let bad = admin(&app, &resolve, json!({ "resolution": "Maybe" })).await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    let done = admin(
        &app,
        &resolve,
        json!({ "resolution": "RefundedOtherwise", "note": "paid by bank transfer" }),
    )
    .await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.json["status"], "Confirmed");
    let twice = admin(&app, &resolve, json!({ "resolution": "Retried" })).await;
    assert_eq!(
        (twice.status, twice.error_code()),
        (422, "refund_not_needing_attention")
    );
    app.wait_for_status(&token, &id, "Refunded").await;
    let unknown = admin(
        &app,
        &format!("/v1/admin/orders/{id}/refunds/R-none/resolve"),
        json!({ "resolution": "Retried" }),
    )
    .await;
    assert_eq!(unknown.status / 100, 4, "{}", unknown.text);
}

#[tokio::test]
async fn a_refund_resolved_as_retried_is_pending_until_wechat_confirms_it() {
    let app = spawn_app().await;
    let (token, id, out_trade_no) = paid_order(&app, 600).await;
    let no = app.refund(&id, 600, "").await.str("out_refund_no");
    let change = verdict(&app, &out_trade_no, &no, 600, "CHANGE");
    assert!(app.refund_notify(&change).await.text.contains(SUCCESS));
    let resolved = admin(
        &app,
        &format!("/v1/admin/orders/{id}/refunds/{no}/resolve"),
        json!({ "resolution": "Retried", "note": "re-sent in the merchant platform" }),
    )
    .await;
    assert_eq!(resolved.status, 200, "{}", resolved.text);
    assert_eq!(resolved.json["status"], "Pending");
    let success = verdict(&app, &out_trade_no, &no, 600, "SUCCESS");
    assert!(app.refund_notify(&success).await.text.contains(SUCCESS));
    let order = app.wait_for_status(&token, &id, "Refunded").await;
    assert_eq!(order.json["refunds"][0]["status"], "Confirmed");
}

#[tokio::test]
async fn a_refund_can_need_attention_again_after_a_retry() {
    let app = spawn_app().await;
    let (token, id, out_trade_no) = paid_order(&app, 400).await;
    let no = app.refund(&id, 400, "").await.str("out_refund_no");
    let change = verdict(&app, &out_trade_no, &no, 400, "CHANGE");
    assert!(app.refund_notify(&change).await.text.contains(SUCCESS));
    let resolve = format!("/v1/admin/orders/{id}/refunds/{no}/resolve");
    let retried = admin(&app, &resolve, json!({ "resolution": "Retried" })).await;
    assert_eq!(retried.json["status"], "Pending", "{}", retried.text);
    // The retry reached a closed account again: the second CHANGE is a new fact, and
    // its re-delivery is not.
    assert!(app.refund_notify(&change).await.text.contains(SUCCESS));
    assert!(app.refund_notify(&change).await.text.contains(SUCCESS));
    assert_eq!(app.count_order_events(&id, "RefundNeedsAttention").await, 2);
    let order = app.wait_for_status(&token, &id, "Refunding").await;
    assert_eq!(order.json["refunds"][0]["status"], "NeedsAttention");
}

#[tokio::test]
async fn a_refund_retried_by_its_number_is_the_same_refund() {
    let app = spawn_app().await;
    let (_token, id, _) = paid_order(&app, 500).await;
    let no = app.refund(&id, 200, "").await.str("out_refund_no");
    let path = format!("/v1/admin/orders/{id}/refund");
    let retry = admin(
        &app,
        &path,
        json!({ "amount_fen": 200, "out_refund_no": no }),
    )
    .await;
    assert_eq!(retry.status, 202, "{}", retry.text);
    assert_eq!(retry.str("out_refund_no"), no);
    assert_eq!(app.count_order_events(&id, "RefundRequested").await, 1);
    let other = admin(
        &app,
        &path,
        json!({ "amount_fen": 300, "out_refund_no": no }),
    )
    .await;
    assert_eq!(
        (other.status, other.error_code()),
        (409, "duplicate_refund_no")
    );
    let junk = admin(
        &app,
        &path,
        json!({ "amount_fen": 1, "out_refund_no": "no spaces!" }),
    )
    .await;
    assert_eq!(junk.status, 400, "{}", junk.text);
}

/// The simulator's next refund ends as `outcome` says (`POST /sim/refund-outcome`).
async fn next_refund(app: &TestApp, outcome: Value) {
    app.sim_control("/sim/refund-outcome", outcome).await;
}

paylog_tests::on_both_logs!(
    a_refund_whose_answer_is_lost_stays_pending_and_is_settled_by_the_reconciler
);

async fn a_refund_whose_answer_is_lost_stays_pending_and_is_settled_by_the_reconciler(
    app: TestApp,
) {
    let (token, id, out_trade_no) = paid_order(&app, 900).await;
    next_refund(&app, json!({ "lose_answer": true })).await;
    let lost = app.refund(&id, 900, "").await;
    assert_eq!(
        (lost.status, lost.error_code()),
        (502, "refund_outcome_unknown"),
        "{}",
        lost.text
    );
    let no = lost.json["error"]["out_refund_no"]
        .as_str()
        .expect("the 502 names the refund")
        .to_owned();
    let order = app.wait_for_status(&token, &id, "Refunding").await;
    assert_eq!(order.json["refunds"][0]["status"], "Pending");
    assert_eq!(order.json["refunds"][0]["out_refund_no"], no);

    let report = app.reconcile_once().await;
    assert_eq!(
        (
            report.refunds_checked,
            report.refunds_settled,
            report.errors
        ),
        (1, 1, 0)
    );
    let order = app.wait_for_status(&token, &id, "Refunded").await;
    assert_eq!(order.json["refunds"][0]["status"], "Confirmed");
    assert_eq!(app.reconcile_once().await.refunds_checked, 0);
    // The notify that was lost arrives after all: the same fact, appended once.
    let refund_id = app.sim_state()["orders"][&out_trade_no]["refunds"][0]["refund_id"]
        .as_str()
        .expect("refund id")
        .to_owned();
    let late = refund_notify_xml(
        &app.sim_config.appid,
        &app.sim_config.mch_id,
        &app.api_key(),
        &[
            ("transaction_id", "4200000000202601011234567890".to_owned()),
            ("out_trade_no", out_trade_no.clone()),
            ("refund_id", refund_id),
            ("out_refund_no", no.clone()),
            ("total_fee", "900".to_owned()),
            ("refund_fee", "900".to_owned()),
            ("refund_status", "SUCCESS".to_owned()),
        ],
    );
    assert!(app.refund_notify(&late).await.text.contains(SUCCESS));
    assert_eq!(app.count_order_events(&id, "RefundConfirmed").await, 1);
}

#[tokio::test]
async fn a_refund_whose_answer_is_lost_can_be_retried_by_its_number() {
    let app = spawn_app().await;
    let (token, id, _) = paid_order(&app, 400).await;
    next_refund(&app, json!({ "lose_answer": true })).await;
    let lost = app.refund(&id, 400, "").await;
    assert_eq!(lost.status, 502, "{}", lost.text);
    let no = lost.json["error"]["out_refund_no"]
        .as_str()
        .expect("named")
        .to_owned();
    let retry = admin(
        &app,
        &format!("/v1/admin/orders/{id}/refund"),
        json!({ "amount_fen": 400, "out_refund_no": no }),
    )
    .await;
    assert_eq!(retry.status, 202, "{}", retry.text);
    assert_eq!(retry.str("out_refund_no"), no);
    let order = app.wait_for_status(&token, &id, "Refunding").await;
    assert_eq!(order.json["refunds"].as_array().map(Vec::len), Some(1));
    let sim = app.sim_state();
    let sim_refunds = sim["orders"]
        .as_object()
        .and_then(|o| o.values().next())
        .map(|o| o["refunds"].as_array().map(Vec::len));
    assert_eq!(
        sim_refunds,
        Some(Some(1)),
        "WeChat refunded the number once"
    );
}

#[tokio::test]
async fn a_processing_refund_is_checked_again_later_and_change_needs_attention() {
    let app = spawn_app().await;
    let (token, id, _) = paid_order(&app, 1000).await;
    next_refund(&app, json!({ "processing": true })).await;
    assert_eq!(app.refund(&id, 300, "").await.status, 202);
    let first = app.reconcile_once().await;
    assert_eq!((first.refunds_checked, first.refunds_settled), (1, 0));
    let second = app.reconcile_once().await;
    assert_eq!((second.refunds_checked, second.refunds_settled), (1, 1));
    app.wait_for_status(&token, &id, "PartiallyRefunded").await;

    next_refund(&app, json!({ "processing": true, "status": "CHANGE" })).await;
    let no = app.refund(&id, 700, "").await.str("out_refund_no");
    app.reconcile_once().await;
    let settled = app.reconcile_once().await;
    assert_eq!(settled.refunds_settled, 1);
    assert_eq!(app.count_order_events(&id, "RefundNeedsAttention").await, 1);
    let mut shown = Value::Null;
    for _ in 0..200 {
        let order = app.order(&token, &id).await;
        shown = order.json["refunds"]
            .as_array()
            .and_then(|rs| rs.iter().find(|r| r["out_refund_no"] == no).cloned())
            .unwrap_or_default();
        if shown["status"] == "NeedsAttention" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(shown["status"], "NeedsAttention", "{shown}");
    assert_eq!(app.order(&token, &id).await.json["status"], "Refunding");
    assert_eq!(app.count_order_events(&id, "RefundFailed").await, 0);
    // A refund needing attention is the operator's, not the reconciler's.
    assert_eq!(app.reconcile_once().await.refunds_checked, 0);
}

#[tokio::test]
async fn a_refund_closed_at_wechat_is_failed_by_the_reconciler() {
    let app = spawn_app().await;
    let (token, id, _) = paid_order(&app, 500).await;
    next_refund(&app, json!({ "processing": true, "status": "REFUNDCLOSE" })).await;
    assert_eq!(app.refund(&id, 500, "").await.status, 202);
    app.reconcile_once().await;
    assert_eq!(app.reconcile_once().await.refunds_settled, 1);
    let order = app.wait_for_status(&token, &id, "Paid").await;
    assert_eq!(order.json["refunds"][0]["status"], "Failed");
    // Refundable again, under a new number.
    assert_eq!(app.refund(&id, 500, "").await.status, 202);
}

/// The admin's anomaly list, polled until `done` holds for it (bounded).
async fn anomalies_until(app: &TestApp, done: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..200 {
        last = app
            .request(Method::GET, "/v1/admin/anomalies", Some(ADMIN_TOKEN), None)
            .await
            .json;
        if done(&last) {
            return last;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the anomaly list never got there: {last}");
}

#[tokio::test]
async fn a_wrong_amount_payment_closes_its_order_and_is_refunded_by_an_admin() {
    let app = spawn_app().await;
    let token = app.shopper("anomaly").await;
    let product = app.create_product("Tea", 500, 3).await;
    let placed = app.place_order(&token, &[(&product, 1)], None).await;
    let (id, out_trade_no) = (placed.str("order_id"), placed.str("out_trade_no"));
    app.pay(&token, &id).await;
    let paid = app
        .sim_pay(&out_trade_no, json!({ "wrong_amount": true }))
        .await;
    let tx = paid.str("transaction_id");
    let listed = anomalies_until(&app, |l| l["items"][0]["transaction_id"] == tx.as_str()).await;
    let item = &listed["items"][0];
    assert_eq!(item["kind"], "AmountMismatch");
    assert_eq!(item["amount_fen"], 501);
    assert_eq!(item["order_id"], id.as_str());
    assert!(item["refund"].is_null());

    // The order can never be paid: the reconciler closes it and its stock comes back.
    let report = app.reconcile_once().await;
    assert_eq!((report.closed, report.errors), (1, 0));
    let order = app.wait_for_status(&token, &id, "Closed").await;
    assert_eq!(order.json["status"], "Closed");
    assert_eq!(app.stock(&product).await, 3);
    assert_eq!(app.reconcile_once().await.checked, 0);

    let path = format!("/v1/admin/orders/{id}/anomalies/{tx}/refund");
    let ask = |key: &'static str| {
        app.http
            .post(format!("{}{path}", app.base))
            .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
            .header("idempotency-key", key)
            .json(&json!({ "reason": "wrong amount" }))
            .send()
    };
    let first = ask("anomaly-1").await.expect("sent");
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.expect("json");
    let again: Value = ask("anomaly-1")
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(first["out_refund_no"], again["out_refund_no"]);
    let other = ask("anomaly-2").await.expect("sent");
    assert_eq!(other.status(), 409);
    let refunded =
        anomalies_until(&app, |l| l["items"][0]["refund"]["status"] == "Confirmed").await;
    assert_eq!(
        refunded["items"][0]["refund"]["out_refund_no"],
        first["out_refund_no"]
    );
    assert_eq!(
        app.count_order_events(&id, "AnomalousPaymentRefundRequested")
            .await,
        1
    );
    let sim = app.sim_state();
    assert_eq!(
        sim["orders"][&out_trade_no]["refunds"][0]["refund_fee"],
        501
    );
    let unknown = admin(
        &app,
        &format!("/v1/admin/orders/{id}/anomalies/4200000000000000000000000000/refund"),
        json!({}),
    )
    .await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);
}

#[tokio::test]
async fn a_refund_goes_out_with_the_client_certificate_configured_and_reaches_its_notify_url() {
    let dir = test_client_cert_dir();
    for cert in [
        ClientCert::P12(dir.join("apiclient_cert.p12")),
        ClientCert::Pem {
            cert: dir.join("apiclient_cert.pem"),
            key: dir.join("apiclient_key.pem"),
        },
    ] {
        let app = spawn_app_with(TestConfig {
            client_cert: cert.clone(),
            ..TestConfig::default()
        })
        .await;
        let token = app.shopper("cert").await;
        let product = app.create_product("Tea", 900, 10).await;
        let placed = app.place_order(&token, &[(&product, 1)], None).await;
        let (id, out_trade_no) = (placed.str("order_id"), placed.str("out_trade_no"));
        app.pay(&token, &id).await;
        app.sim_pay(&out_trade_no, json!({})).await;
        app.wait_for_status(&token, &id, "Paid").await;

        let accepted = app.refund(&id, 900, "with the certificate").await;
        assert_eq!(accepted.status, 202, "{cert:?}: {}", accepted.text);
        // The refund notify came back to the derived refund notify URL.
        let order = app.wait_for_status(&token, &id, "Refunded").await;
        assert_eq!(order.json["refunds"][0]["status"], "Confirmed", "{cert:?}");
        let state = app.sim_state();
        let refund = &state["orders"][&out_trade_no]["refunds"][0];
        assert_eq!(refund["refund_fee"], 900);
        assert_eq!(
            refund["notify_url"],
            format!("http://{}/v1/wechat/refund/notify", app.addr),
            "{cert:?}"
        );
        app.stop().await;
    }
}

/// The simulated shopper pays `out_trade_no` once more, as a new transaction.
async fn sim_pay_again(app: &TestApp, out_trade_no: &str) -> Answer {
    let answer = app
        .http
        .post(format!("{}/sim/pay-again", app.sim.base_url()))
        .json(&json!({ "out_trade_no": out_trade_no }))
        .send()
        .await
        .expect("sim");
    let status = answer.status().as_u16();
    let json: Value = answer.json().await.expect("json");
    assert_eq!(status, 200, "{json}");
    Answer {
        status,
        text: json.to_string(),
        json,
        headers: Default::default(),
    }
}

/// An admin refunds the anomalous payment `tx` of order `id` and the refund reaches
/// the simulator for that transaction's amount, then is confirmed by its notify.
async fn refund_anomaly_at_wechat(
    app: &TestApp,
    id: &str,
    out_trade_no: &str,
    tx: &str,
    amount: u64,
) {
    let refunded = admin(
        app,
        &format!("/v1/admin/orders/{id}/anomalies/{tx}/refund"),
        json!({ "reason": "money that paid no order" }),
    )
    .await;
    assert_eq!(refunded.status, 202, "{}", refunded.text);
    let no = refunded.str("out_refund_no");
    let listed = anomalies_until(app, |l| {
        l["items"].as_array().is_some_and(|items| {
            items
                .iter()
                .any(|i| i["transaction_id"] == tx && i["refund"]["status"] == "Confirmed")
        })
    })
    .await;
    let item = listed["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["transaction_id"] == tx))
        .expect("listed");
    assert_eq!(item["refund"]["out_refund_no"], no.as_str());
    let sim = app.sim_state();
    let refunds = sim["orders"][out_trade_no]["refunds"]
        .as_array()
        .expect("refunds");
    let at_wechat = refunds
        .iter()
        .find(|r| r["out_refund_no"] == no.as_str())
        .expect("the refund reached WeChat");
    assert_eq!(
        at_wechat["transaction_id"], tx,
        "that transaction is refunded"
    );
    assert_eq!(at_wechat["refund_fee"], amount);
}

#[tokio::test]
async fn a_late_payment_of_a_cancelled_order_is_refunded_by_an_admin() {
    let app = spawn_app().await;
    let token = app.shopper("late").await;
    let product = app.create_product("Tea", 700, 3).await;
    let placed = app.place_order(&token, &[(&product, 1)], None).await;
    let (id, out_trade_no) = (placed.str("order_id"), placed.str("out_trade_no"));
    assert_eq!(app.pay(&token, &id).await.status, 200);
    assert_eq!(app.cancel_order(&token, &id).await.status, 200);
    // The shopper's payment went through anyway (in flight while it was closed).
    let tx = sim_pay_again(&app, &out_trade_no)
        .await
        .str("transaction_id");
    let listed = anomalies_until(&app, |l| l["items"][0]["transaction_id"] == tx.as_str()).await;
    assert_eq!(listed["items"][0]["kind"], "LatePayment");
    assert_eq!(listed["items"][0]["amount_fen"], 700);
    refund_anomaly_at_wechat(&app, &id, &out_trade_no, &tx, 700).await;
    let order = app.order(&token, &id).await;
    assert_eq!(order.json["status"], "Cancelled");
}

#[tokio::test]
async fn a_duplicate_payment_is_refunded_by_an_admin_and_the_first_stays_paid() {
    let app = spawn_app().await;
    let token = app.shopper("twice").await;
    let product = app.create_product("Tea", 900, 3).await;
    let placed = app.place_order(&token, &[(&product, 1)], None).await;
    let (id, out_trade_no) = (placed.str("order_id"), placed.str("out_trade_no"));
    app.pay(&token, &id).await;
    let first = app
        .sim_pay(&out_trade_no, json!({}))
        .await
        .str("transaction_id");
    app.wait_for_status(&token, &id, "Paid").await;
    let second = sim_pay_again(&app, &out_trade_no)
        .await
        .str("transaction_id");
    assert_ne!(first, second);
    let listed =
        anomalies_until(&app, |l| l["items"][0]["transaction_id"] == second.as_str()).await;
    assert_eq!(listed["items"][0]["kind"], "DuplicatePayment");
    assert_eq!(listed["items"][0]["amount_fen"], 900);
    refund_anomaly_at_wechat(&app, &id, &out_trade_no, &second, 900).await;
    // The order's own payment is untouched: still paid, still refundable in full.
    let order = app.order(&token, &id).await;
    assert_eq!(order.json["status"], "Paid");
    assert_eq!(app.refund(&id, 900, "").await.status, 202);
    app.wait_for_status(&token, &id, "Refunded").await;
}
