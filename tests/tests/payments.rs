//! End-to-end: paying (prepay reuse), every payment-notify case, refunds and their
//! notifies — through the simulator over real HTTP, checked in the log.

// Test code: helpers fail the test with a message, as the tests themselves do
// (clippy.toml allows that inside #[test] functions, not in their helpers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use paylog_tests::wx::{PayNotifyDraft, refund_notify_xml};
use paylog_tests::{TestApp, spawn_app};
use serde_json::json;

const SUCCESS: &str = "<return_code><![CDATA[SUCCESS]]></return_code>";
const FAIL: &str = "<return_code><![CDATA[FAIL]]></return_code>";

/// A shopper with a placed order of `total` fen; returns (token, order id, out_trade_no).
async fn placed_order(app: &TestApp, total: u64) -> (String, String, String) {
    let token = app.shopper("pay").await;
    let product = app.create_product("Tea", total, 10).await;
    let placed = app.place_order(&token, &[(&product, 1)], None).await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    (token, placed.str("order_id"), placed.str("out_trade_no"))
}

fn draft(app: &TestApp, out_trade_no: &str, total_fee: u64) -> PayNotifyDraft {
    PayNotifyDraft {
        appid: app.sim_config.appid.clone(),
        mch_id: app.sim_config.mch_id.clone(),
        out_trade_no: out_trade_no.to_owned(),
        transaction_id: "4200000000202601011234567890".to_owned(),
        total_fee,
    }
}

#[tokio::test]
async fn pay_returns_request_payment_params_and_reuses_the_prepay_id() {
    let app = spawn_app().await;
    let (token, id, out_trade_no) = placed_order(&app, 1999).await;
    let params = app.pay(&token, &id).await;
    assert_eq!(params.status, 200, "{}", params.text);
    for key in [
        "appId",
        "timeStamp",
        "nonceStr",
        "package",
        "signType",
        "paySign",
    ] {
        assert!(
            !params.str(key).is_empty(),
            "{key} missing: {}",
            params.text
        );
    }
    assert_eq!(params.str("appId"), app.sim_config.appid);
    let prepay_id = app.sim_state()["orders"][&out_trade_no]["prepay_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(params.str("package"), format!("prepay_id={prepay_id}"));
    let again = app.pay(&token, &id).await;
    assert_eq!(again.str("package"), params.str("package"));
    assert_eq!(app.count_order_events(&id, "PaymentRequested").await, 1);
    assert_eq!(
        app.order(&token, &id).await.json["status"],
        "PaymentRequested"
    );

    // A password user has no openid: WeChat Pay (JSAPI) cannot be used.
    app.register("pat", "long enough password").await;
    let pat = app
        .password_login("pat", "long enough password")
        .await
        .str("token");
    let tea = app.create_product("Tea", 100, 1).await;
    let theirs = app
        .place_order(&pat, &[(&tea, 1)], None)
        .await
        .str("order_id");
    let refused = app.pay(&pat, &theirs).await;
    assert_eq!(
        (refused.status, refused.error_code()),
        (422, "wechat_login_required")
    );
}

paylog_tests::on_both_logs!(a_notify_confirms_the_payment_and_its_duplicates_append_nothing);

async fn a_notify_confirms_the_payment_and_its_duplicates_append_nothing(app: TestApp) {
    let (token, id, out_trade_no) = placed_order(&app, 2500).await;
    assert_eq!(app.pay(&token, &id).await.status, 200);
    let paid = app.sim_pay(&out_trade_no, json!({ "duplicates": 3 })).await;
    assert_eq!(paid.status, 200, "{}", paid.text);
    let order = app.wait_for_status(&token, &id, "Paid").await;
    assert_eq!(order.json["paid_fen"], 2500);
    assert_eq!(
        order.json["payment"]["transaction_id"],
        paid.json["transaction_id"]
    );
    let state = app.sim_deliveries_done().await;
    let attempts = state["deliveries"][0]["attempts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(attempts.len(), 4, "one delivery and three duplicates");
    assert!(
        attempts.iter().all(|a| a["acknowledged"] == true),
        "{attempts:?}"
    );
    assert_eq!(app.count_order_events(&id, "PaymentConfirmed").await, 1);
    let metrics = app.metrics().await.text;
    assert!(
        metrics.contains(r#"paylog_wechat_notifies_total{kind="pay",outcome="paid"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"paylog_wechat_notifies_total{kind="pay",outcome="duplicate"} 3"#));
}

#[tokio::test]
async fn a_storm_of_20_identical_notifies_confirms_exactly_once() {
    let app = spawn_app().await;
    let (token, id, out_trade_no) = placed_order(&app, 4200).await;
    assert_eq!(app.pay(&token, &id).await.status, 200);
    let xml = draft(&app, &out_trade_no, 4200).signed(&app.api_key());
    let storm = (0..20).map(|_| app.pay_notify(&xml));
    let answers = futures::future::join_all(storm).await;
    for a in &answers {
        assert_eq!(a.status, 200);
        assert!(a.text.contains(SUCCESS), "{}", a.text);
    }
    assert_eq!(app.count_order_events(&id, "PaymentConfirmed").await, 1);
    assert_eq!(
        app.wait_for_status(&token, &id, "Paid").await.json["paid_fen"],
        4200
    );
}

#[tokio::test]
async fn forged_misaddressed_and_unknown_notifies_are_refused_and_append_nothing() {
    let app = spawn_app().await;
    let (token, id, out_trade_no) = placed_order(&app, 1000).await;
    assert_eq!(app.pay(&token, &id).await.status, 200);
    let head = app.log_head();

    let forged = draft(&app, &out_trade_no, 1000).signed("not-the-merchant-key-000000000000");
    let answer = app.pay_notify(&forged).await;
    assert!(answer.text.contains(FAIL), "{}", answer.text);

    let mut other_app = draft(&app, &out_trade_no, 1000);
    other_app.appid = "wx_someone_else".into();
    assert!(
        app.pay_notify(&other_app.signed(&app.api_key()))
            .await
            .text
            .contains(FAIL)
    );
    let mut other_mch = draft(&app, &out_trade_no, 1000);
    other_mch.mch_id = "1234567890".into();
    assert!(
        app.pay_notify(&other_mch.signed(&app.api_key()))
            .await
            .text
            .contains(FAIL)
    );

    let unknown = draft(&app, &uuid::Uuid::now_v7().simple().to_string(), 1000);
    assert!(
        app.pay_notify(&unknown.signed(&app.api_key()))
            .await
            .text
            .contains(FAIL)
    );
    let foreign = draft(&app, "NOT-OURS-123", 1000);
    assert!(
        app.pay_notify(&foreign.signed(&app.api_key()))
            .await
            .text
            .contains(FAIL)
    );
    assert!(
        app.pay_notify("<xml><oops></xml>")
            .await
            .text
            .contains(FAIL)
    );
    assert!(app.pay_notify("").await.text.contains(FAIL));

    // The simulator's own forged notify (bad_sign) is refused until it gives up.
    let paid = app
        .sim_pay(&out_trade_no, json!({ "bad_sign": true }))
        .await;
    assert_eq!(paid.status, 200);
    assert_eq!(app.log_head(), head, "nothing appended");
    assert_eq!(
        app.order(&token, &id).await.json["status"],
        "PaymentRequested"
    );
    let metrics = app.metrics().await.text;
    assert!(metrics.contains(r#"outcome="bad_signature""#));
    assert!(
        metrics.contains(r#"outcome="wrong_merchant"} 2"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"outcome="unknown_order"} 2"#));
}

#[tokio::test]
async fn a_signed_notify_with_the_wrong_amount_is_recorded_as_a_mismatch_not_a_payment() {
    let app = spawn_app().await;
    let (token, id, out_trade_no) = placed_order(&app, 3000).await;
    assert_eq!(app.pay(&token, &id).await.status, 200);
    let wrong = draft(&app, &out_trade_no, 1).signed(&app.api_key());
    let answer = app.pay_notify(&wrong).await;
    assert!(
        answer.text.contains(SUCCESS),
        "recorded, so acknowledged: {}",
        answer.text
    );
    assert!(app.pay_notify(&wrong).await.text.contains(SUCCESS));
    assert_eq!(
        app.count_order_events(&id, "PaymentAmountMismatch").await,
        1
    );
    assert_eq!(app.count_order_events(&id, "PaymentConfirmed").await, 0);
    let order = app.order(&token, &id).await;
    assert_eq!(order.json["status"], "PaymentRequested");
    assert_eq!(order.json["anomalies"][0]["kind"], "AmountMismatch");
    assert_eq!(order.json["anomalies"][0]["amount_fen"], 1);
    let metrics = app.metrics().await.text;
    assert!(
        metrics.contains(r#"paylog_wechat_notifies_total{kind="pay",outcome="amount_mismatch"} 1"#)
    );
}

paylog_tests::on_both_logs!(a_partial_refund_is_recorded_first_and_confirmed_by_its_notify);

async fn a_partial_refund_is_recorded_first_and_confirmed_by_its_notify(app: TestApp) {
    let (token, id, out_trade_no) = placed_order(&app, 5000).await;
    assert_eq!(app.refund(&id, 100, "not paid yet").await.status, 422);
    assert_eq!(app.pay(&token, &id).await.status, 200);
    app.sim_pay(&out_trade_no, json!({})).await;
    app.wait_for_status(&token, &id, "Paid").await;

    let accepted = app.refund(&id, 1500, "one cup broke").await;
    assert_eq!(accepted.status, 202, "{}", accepted.text);
    let out_refund_no = accepted.str("out_refund_no");
    assert_eq!(out_refund_no.len(), 32);
    let order = app.wait_for_status(&token, &id, "PartiallyRefunded").await;
    assert_eq!(order.json["refunded_fen"], 1500);
    assert_eq!(order.json["refunds"][0]["status"], "Confirmed");
    assert_eq!(order.json["refunds"][0]["out_refund_no"], out_refund_no);
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

    let too_much = app.refund(&id, 3501, "everything").await;
    assert_eq!(
        (too_much.status, too_much.error_code()),
        (422, "refund_exceeds_paid")
    );
    assert_eq!(app.refund(&id, 0, "nothing").await.status, 400);
    assert_eq!(
        app.refund(&uuid::Uuid::now_v7().to_string(), 1, "?")
            .await
            .status,
        404
    );

    // A replayed refund notify is acknowledged and appends nothing.
    let sim = app.sim_state();
    let refund_id = sim["orders"][&out_trade_no]["refunds"][0]["refund_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let inner = |status: &str, no: &str| {
        vec![
            (
                "transaction_id",
                order.json["payment"]["transaction_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            ),
            ("out_trade_no", out_trade_no.clone()),
            ("refund_id", refund_id.clone()),
            ("out_refund_no", no.to_owned()),
            ("total_fee", "5000".to_owned()),
            ("refund_fee", "1500".to_owned()),
            ("refund_status", status.to_owned()),
            ("success_time", "2026-01-01 12:00:00".to_owned()),
        ]
    };
    let (appid, mch_id) = (app.sim_config.appid.clone(), app.sim_config.mch_id.clone());
    let head = app.log_head();
    let replay = refund_notify_xml(
        &appid,
        &mch_id,
        &app.api_key(),
        &inner("SUCCESS", &out_refund_no),
    );
    assert!(app.refund_notify(&replay).await.text.contains(SUCCESS));
    let forged = refund_notify_xml(
        &appid,
        &mch_id,
        "wrong-key",
        &inner("SUCCESS", &out_refund_no),
    );
    assert!(app.refund_notify(&forged).await.text.contains(FAIL));
    let unknown = refund_notify_xml(
        &appid,
        &mch_id,
        &app.api_key(),
        &inner("SUCCESS", "no-such-refund"),
    );
    assert!(app.refund_notify(&unknown).await.text.contains(FAIL));
    assert_eq!(app.log_head(), head);
}

#[tokio::test]
async fn a_refund_closed_by_wechat_is_recorded_as_failed_and_becomes_refundable_again() {
    let app = spawn_app().await;
    let (token, id, out_trade_no) = placed_order(&app, 800).await;
    app.pay(&token, &id).await;
    app.sim_pay(&out_trade_no, json!({})).await;
    app.wait_for_status(&token, &id, "Paid").await;
    // The simulator's next refund notify is lost; we deliver WeChat's REFUNDCLOSE.
    app.sim_control("/sim/refund-faults", json!({ "drop_first": 100 }))
        .await;
    let accepted = app.refund(&id, 800, "").await;
    assert_eq!(accepted.status, 202);
    app.wait_for_status(&token, &id, "Refunding").await;
    let closed = refund_notify_xml(
        &app.sim_config.appid,
        &app.sim_config.mch_id,
        &app.api_key(),
        &[
            ("transaction_id", "4200000000202601011234567890".to_owned()),
            ("out_trade_no", out_trade_no.clone()),
            ("refund_id", "50300000000000000000000000001".to_owned()),
            ("out_refund_no", accepted.str("out_refund_no")),
            ("total_fee", "800".to_owned()),
            ("refund_fee", "800".to_owned()),
            ("refund_status", "REFUNDCLOSE".to_owned()),
        ],
    );
    assert!(app.refund_notify(&closed).await.text.contains(SUCCESS));
    assert!(app.refund_notify(&closed).await.text.contains(SUCCESS));
    let order = app.wait_for_status(&token, &id, "Paid").await;
    assert_eq!(order.json["refunds"][0]["status"], "Failed");
    assert_eq!(app.count_order_events(&id, "RefundFailed").await, 1);
}

#[tokio::test]
async fn a_payment_for_a_cancelled_order_is_recorded_as_late_and_acknowledged() {
    let app = spawn_app().await;
    let (token, id, out_trade_no) = placed_order(&app, 900).await;
    assert_eq!(app.cancel_order(&token, &id).await.status, 200);
    let xml = draft(&app, &out_trade_no, 900).signed(&app.api_key());
    assert!(app.pay_notify(&xml).await.text.contains(SUCCESS));
    assert!(app.pay_notify(&xml).await.text.contains(SUCCESS));
    assert_eq!(app.count_order_events(&id, "LatePaymentReceived").await, 1);
    assert_eq!(app.count_order_events(&id, "PaymentConfirmed").await, 0);
    let order = app.order(&token, &id).await;
    assert_eq!(order.json["status"], "Cancelled");
    assert_eq!(order.json["anomalies"][0]["kind"], "LatePayment");
}
