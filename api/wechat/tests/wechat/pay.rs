//! Client ↔ simulator round trips over real HTTP on 127.0.0.1, for every pay endpoint.

use crate::support::*;
use chrono::Utc;
use paylog_core::wxpay::{ErrCode, RefundStatus, SignType, TradeState, WxPayError};
use paylog_wechat::{RefundRequest, WechatError};
use secrecy::SecretString;
use serde_json::json;

#[tokio::test]
async fn unifiedorder_is_idempotent_for_identical_parameters_and_refuses_changed_ones() {
    let sim = spawn_sim(sim_config()).await;
    let c = client(client_config(&sim, "http://127.0.0.1:9/notify"));
    let req = order("T100", 1999);
    let first = c.unified_order(&req).await.expect("unifiedorder");
    assert!(
        first.prepay_id.starts_with("wx") && first.prepay_id.len() == 36,
        "{}",
        first.prepay_id
    );
    assert_eq!(first.trade_type, "JSAPI");
    let again = c.unified_order(&req).await.expect("repeat");
    assert_eq!(again.prepay_id, first.prepay_id);
    let changed = order("T100", 2000);
    let err = c
        .unified_order(&changed)
        .await
        .expect_err("other parameters");
    assert_eq!(err.err_code(), Some(&ErrCode::OutTradeNoUsed));
    sim.shutdown().await;
}

#[tokio::test]
async fn unifiedorder_validates_fields() {
    let sim = spawn_sim(sim_config()).await;
    let c = client(client_config(&sim, "http://127.0.0.1:9/notify"));
    let mut bad = order("T101", 100);
    bad.openid = String::new();
    assert_eq!(
        c.unified_order(&bad)
            .await
            .expect_err("no openid")
            .err_code(),
        Some(&ErrCode::ParamError)
    );
    let zero = order("T102", 0);
    assert_eq!(
        c.unified_order(&zero)
            .await
            .expect_err("zero fee")
            .err_code(),
        Some(&ErrCode::ParamError)
    );
    let long = order(&"X".repeat(33), 100);
    assert_eq!(
        c.unified_order(&long)
            .await
            .expect_err("long no")
            .err_code(),
        Some(&ErrCode::ParamError)
    );
    let no_url = client(client_config(&sim, "ftp://nowhere"));
    assert_eq!(
        no_url
            .unified_order(&order("T103", 1))
            .await
            .expect_err("url")
            .err_code(),
        Some(&ErrCode::ParamError)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn orderquery_closeorder_follow_the_order_state() {
    let sim = spawn_sim(sim_config()).await;
    let c = client(client_config(&sim, "http://127.0.0.1:9/notify"));
    let err = c.order_query("NOPE").await.expect_err("unknown");
    assert_eq!(err.err_code(), Some(&ErrCode::OrderNotExist));

    c.unified_order(&order("T200", 500)).await.expect("order");
    let q = c.order_query("T200").await.expect("query");
    assert_eq!(
        (q.trade_state, q.total_fee),
        (TradeState::NotPay, Some(500))
    );

    // Paid without a notify: the reconciler's case. orderquery still says SUCCESS.
    let (status, paid) = control(
        &sim,
        "/sim/pay",
        json!({"out_trade_no": "T200", "notify": false}),
    )
    .await;
    assert_eq!(status, 200, "{paid}");
    assert!(paid["delivery_id"].is_null());
    let q = c.order_query("T200").await.expect("query");
    assert_eq!(q.trade_state, TradeState::Success);
    assert_eq!(q.transaction_id.as_deref(), paid["transaction_id"].as_str());
    assert!(q.time_end.is_some());
    assert_eq!(
        c.close_order("T200").await.expect_err("paid").err_code(),
        Some(&ErrCode::OrderPaid)
    );
    assert_eq!(
        c.unified_order(&order("T200", 500))
            .await
            .expect_err("paid")
            .err_code(),
        Some(&ErrCode::OrderPaid)
    );
    assert!(
        sim.state_json()["deliveries"]
            .as_array()
            .is_some_and(Vec::is_empty)
    );

    c.unified_order(&order("T201", 100)).await.expect("order");
    c.close_order("T201").await.expect("close");
    assert_eq!(
        c.order_query("T201").await.expect("query").trade_state,
        TradeState::Closed
    );
    assert_eq!(
        c.close_order("T201").await.expect_err("closed").err_code(),
        Some(&ErrCode::OrderClosed)
    );
    assert_eq!(
        c.unified_order(&order("T201", 100))
            .await
            .expect_err("closed")
            .err_code(),
        Some(&ErrCode::OrderClosed)
    );
    let (status, _) = control(&sim, "/sim/pay", json!({"out_trade_no": "T201"})).await;
    assert_eq!(status, 409);
    assert_eq!(
        c.close_order("NOPE").await.expect_err("unknown").err_code(),
        Some(&ErrCode::OrderNotExist)
    );
    sim.shutdown().await;
}

fn refund(no: &str, rno: &str, total: u64, fee: u64) -> RefundRequest {
    RefundRequest {
        out_trade_no: no.into(),
        transaction_id: None,
        out_refund_no: rno.into(),
        total_fee: total,
        refund_fee: fee,
        refund_desc: Some("退货".into()),
    }
}

#[tokio::test]
async fn refunds_are_idempotent_by_out_refund_no_and_never_exceed_the_payment() {
    let sim = spawn_sim(sim_config()).await;
    let c = client(client_config(&sim, "http://127.0.0.1:9/notify"));
    c.unified_order(&order("T300", 1000)).await.expect("order");
    assert_eq!(
        c.refund(&refund("T300", "R1", 1000, 100))
            .await
            .expect_err("unpaid")
            .err_code(),
        Some(&ErrCode::Error)
    );
    control(
        &sim,
        "/sim/pay",
        json!({"out_trade_no": "T300", "notify": false}),
    )
    .await;
    assert_eq!(
        c.refund_query("T300")
            .await
            .expect_err("no refunds")
            .err_code(),
        Some(&ErrCode::RefundNotExist)
    );

    let r1 = c
        .refund(&refund("T300", "R1", 1000, 600))
        .await
        .expect("refund");
    assert_eq!(
        (r1.refund_fee, r1.total_fee, r1.out_refund_no.as_str()),
        (600, 1000, "R1")
    );
    let again = c
        .refund(&refund("T300", "R1", 1000, 600))
        .await
        .expect("repeat");
    assert_eq!(again.refund_id, r1.refund_id);
    let over = c
        .refund(&refund("T300", "R2", 1000, 401))
        .await
        .expect_err("over-refund");
    assert_eq!(over.err_code(), Some(&ErrCode::NotEnough));
    let wrong_total = c
        .refund(&refund("T300", "R2", 999, 1))
        .await
        .expect_err("wrong total");
    assert_eq!(wrong_total.err_code(), Some(&ErrCode::ParamError));
    c.refund(&refund("T300", "R2", 1000, 400))
        .await
        .expect("the rest");

    let q = c.refund_query("T300").await.expect("refundquery");
    assert_eq!(q.refunds.len(), 2);
    assert_eq!(q.refunds.iter().map(|r| r.refund_fee).sum::<u64>(), 1000);
    assert!(
        q.refunds
            .iter()
            .all(|r| r.refund_status == RefundStatus::Success && r.success_time.is_some())
    );
    assert_eq!(
        c.order_query("T300").await.expect("query").trade_state,
        TradeState::Refund
    );
    assert_eq!(
        c.refund(&refund("NOPE", "R9", 1, 1))
            .await
            .expect_err("unknown")
            .err_code(),
        Some(&ErrCode::OrderNotExist)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn hmac_sha256_merchants_work_end_to_end() {
    let sim = spawn_sim(sim_config()).await;
    let mut cfg = client_config(&sim, "http://127.0.0.1:9/notify");
    cfg.sign_type = SignType::HmacSha256;
    let c = client(cfg);
    c.unified_order(&order("T400", 1)).await.expect("order");
    assert_eq!(
        c.order_query("T400").await.expect("query").trade_state,
        TradeState::NotPay
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_client_with_a_wrong_key_gets_a_sign_error() {
    let sim = spawn_sim(sim_config()).await;
    let mut cfg = client_config(&sim, "http://127.0.0.1:9/notify");
    cfg.api_key = SecretString::from("wrong-key");
    let err = client(cfg)
        .unified_order(&order("T500", 1))
        .await
        .expect_err("wrong key");
    assert!(err.is_sign_error(), "{err:?}");
    assert!(matches!(
        err,
        WechatError::Protocol(WxPayError::ReturnFail(_))
    ));
    assert!(
        sim.state_json()["orders"]
            .as_object()
            .is_some_and(|o| o.is_empty())
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_simulator_signing_with_a_wrong_key_is_refused_by_the_client() {
    let mut cfg = sim_config();
    cfg.response_key = Some(SecretString::from("impostor"));
    let sim = spawn_sim(cfg).await;
    let c = client(client_config(&sim, "http://127.0.0.1:9/notify"));
    let err = c
        .unified_order(&order("T600", 1))
        .await
        .expect_err("bad answer sign");
    assert!(
        matches!(err, WechatError::Protocol(WxPayError::SignMismatch)),
        "{err:?}"
    );
    // Even a business failure is not believed when its sign is wrong.
    let err = c.order_query("NOPE").await.expect_err("bad answer sign");
    assert!(
        matches!(err, WechatError::Protocol(WxPayError::SignMismatch)),
        "{err:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn transport_errors_are_retried_then_reported() {
    // Nothing listens on this port once the listener is dropped.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let sim = spawn_sim(sim_config()).await;
    let mut cfg = client_config(&sim, "http://127.0.0.1:9/notify")
        .with_base_url(&format!("http://127.0.0.1:{port}"));
    cfg.max_retries = 1;
    let err = client(cfg)
        .order_query("T1")
        .await
        .expect_err("nothing listens");
    assert!(matches!(err, WechatError::Transport(_)), "{err:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn orderquery_reports_closed_once_the_order_expired_at_the_simulators_clock() {
    use std::sync::{Arc, Mutex};
    // The simulator's clock, moved by the test (no sleeping past the expiry).
    let now = Arc::new(Mutex::new(Utc::now()));
    let mut config = sim_config();
    let read = Arc::clone(&now);
    config.clock = Some(paylog_sim::SimClock::new(move || {
        *read.lock().unwrap_or_else(|p| p.into_inner())
    }));
    let sim = spawn_sim(config).await;
    let c = client(client_config(&sim, "http://127.0.0.1:9/notify"));
    let mut req = order("T-EXP", 100);
    req.time_expire = Utc::now() + chrono::Duration::minutes(30);
    c.unified_order(&req).await.expect("unifiedorder");
    let before = c.order_query("T-EXP").await.expect("orderquery");
    assert_eq!(before.trade_state, TradeState::NotPay);

    *now.lock().unwrap() += chrono::Duration::minutes(31);
    let after = c.order_query("T-EXP").await.expect("orderquery");
    assert_eq!(after.trade_state, TradeState::Closed);
    // …and it can no longer be paid, nor opened again.
    let paid = reqwest::Client::new()
        .post(format!("{}/sim/pay", sim.base_url()))
        .json(&serde_json::json!({ "out_trade_no": "T-EXP" }))
        .send()
        .await
        .expect("sim");
    assert_eq!(paid.status(), 409);
    let again = c.unified_order(&req).await.expect_err("expired");
    assert_eq!(again.err_code(), Some(&ErrCode::OrderClosed));
}
