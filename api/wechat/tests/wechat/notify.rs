//! Notify delivery by the simulator: retries on WeChat's schedule, duplicates,
//! lost deliveries, wrong amounts, bad signatures, refund notifies; and the
//! simulator refusing malformed, oversized and XXE request bodies.

use crate::support::*;
use paylog_core::wxpay::{MAX_BODY_BYTES, PayNotify, RefundNotify, WxPayError};
use paylog_sim::SimConfig;
use serde_json::json;

#[tokio::test]
async fn a_notify_is_retried_until_acknowledged_then_duplicated_as_asked() {
    let sim = spawn_sim(sim_config()).await;
    let rx = spawn_receiver(2).await;
    let c = client(client_config(&sim, &rx.url));
    c.unified_order(&order("N100", 2500)).await.expect("order");
    let (status, paid) = control(
        &sim,
        "/sim/pay",
        json!({"out_trade_no": "N100", "duplicates": 2}),
    )
    .await;
    assert_eq!(status, 200, "{paid}");
    let d = finished_delivery(&sim, paid["delivery_id"].as_u64().expect("id")).await;
    assert_eq!(d["acknowledged"], true);
    let attempts = d["attempts"].as_array().expect("attempts");
    // Two FAIL answers, the acknowledged one, then two duplicates.
    assert_eq!(attempts.len(), 5, "{d}");
    assert_eq!(
        attempts
            .iter()
            .filter(|a| a["acknowledged"] == true)
            .count(),
        3
    );
    assert_eq!(
        attempts.iter().filter(|a| a["duplicate"] == true).count(),
        2
    );
    let bodies = rx.bodies();
    assert_eq!(bodies.len(), 5);
    assert!(
        bodies.iter().all(|b| b == &bodies[0]),
        "every copy is the same notify"
    );
    let n = PayNotify::parse(&bodies[0], c.merchant()).expect("a valid, signed notify");
    assert_eq!((n.out_trade_no.as_str(), n.total_fee), ("N100", 2500));
    assert_eq!(
        Some(n.transaction_id.as_str()),
        paid["transaction_id"].as_str()
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn lost_deliveries_are_followed_by_later_attempts() {
    let sim = spawn_sim(sim_config()).await;
    let rx = spawn_receiver(0).await;
    let c = client(client_config(&sim, &rx.url));
    let prepay = c
        .unified_order(&order("N200", 1))
        .await
        .expect("order")
        .prepay_id;
    let (_, paid) = control(
        &sim,
        "/sim/pay",
        json!({"prepay_id": prepay, "drop_first": 3}),
    )
    .await;
    let d = finished_delivery(&sim, paid["delivery_id"].as_u64().expect("id")).await;
    let attempts = d["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 4, "{d}");
    assert!(attempts[..3].iter().all(|a| a["sent"] == false));
    assert_eq!(attempts[3]["acknowledged"], true);
    assert_eq!(rx.bodies().len(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn wrong_amounts_and_bad_signatures_are_caught_by_the_receiver_side_parser() {
    let sim = spawn_sim(sim_config()).await;
    let rx = spawn_receiver(0).await;
    let c = client(client_config(&sim, &rx.url));
    c.unified_order(&order("N300", 800)).await.expect("order");
    c.unified_order(&order("N301", 800)).await.expect("order");
    let (_, a) = control(
        &sim,
        "/sim/pay",
        json!({"out_trade_no": "N300", "wrong_amount": true}),
    )
    .await;
    let (_, b) = control(
        &sim,
        "/sim/pay",
        json!({"out_trade_no": "N301", "bad_sign": true}),
    )
    .await;
    finished_delivery(&sim, a["delivery_id"].as_u64().expect("id")).await;
    finished_delivery(&sim, b["delivery_id"].as_u64().expect("id")).await;
    let bodies = rx.bodies();
    let wrong = bodies
        .iter()
        .find(|b| b.contains("N300"))
        .expect("N300 notify");
    let n = PayNotify::parse(wrong, c.merchant()).expect("correctly signed");
    assert_eq!(n.total_fee, 801, "the amount differs from the order's 800");
    let forged = bodies
        .iter()
        .find(|b| b.contains("N301"))
        .expect("N301 notify");
    assert_eq!(
        PayNotify::parse(forged, c.merchant()),
        Err(WxPayError::SignMismatch)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn an_unanswered_notify_runs_the_whole_schedule_then_gives_up() {
    let mut cfg = sim_config();
    cfg.time_scale = 0.000_01;
    let sim = spawn_sim(cfg).await;
    let rx = spawn_receiver(usize::MAX).await;
    let c = client(client_config(&sim, &rx.url));
    c.unified_order(&order("N400", 1)).await.expect("order");
    let (_, paid) = control(&sim, "/sim/pay", json!({"out_trade_no": "N400"})).await;
    let d = finished_delivery(&sim, paid["delivery_id"].as_u64().expect("id")).await;
    assert_eq!(d["acknowledged"], false);
    assert_eq!(
        d["attempts"].as_array().map(Vec::len),
        Some(16),
        "1 + 15 retries"
    );
    assert_eq!(rx.bodies().len(), 16);
    sim.shutdown().await;
}

#[tokio::test]
async fn refunds_produce_encrypted_refund_notifies() {
    let sim = spawn_sim(sim_config()).await;
    let rx = spawn_receiver(1).await;
    let mut cfg = client_config(&sim, &rx.url);
    cfg.refund_notify_url = Some(rx.url.clone());
    let c = client(cfg);
    c.unified_order(&order("N500", 300)).await.expect("order");
    control(
        &sim,
        "/sim/pay",
        json!({"out_trade_no": "N500", "notify": false}),
    )
    .await;
    let refund = paylog_wechat::RefundRequest {
        out_trade_no: "N500".into(),
        transaction_id: None,
        out_refund_no: "RN500".into(),
        total_fee: 300,
        refund_fee: 120,
        refund_desc: None,
    };
    let r = c.refund(&refund).await.expect("refund");
    let d = finished_delivery(&sim, 0).await;
    assert_eq!(d["kind"], "refund");
    assert_eq!(
        d["attempts"].as_array().map(Vec::len),
        Some(2),
        "one FAIL, then SUCCESS"
    );
    let bodies = rx.bodies();
    let n = RefundNotify::parse(&bodies[1], c.merchant()).expect("decrypts");
    assert_eq!(
        (n.out_refund_no.as_str(), n.refund_fee, n.total_fee),
        ("RN500", 120, 300)
    );
    assert_eq!(n.refund_id, r.refund_id);
    assert!(n.success_time.is_some());

    // A refund notify encrypted with another key does not decrypt.
    let (status, _) = control(&sim, "/sim/refund-faults", json!({"bad_sign": true})).await;
    assert_eq!(status, 204);
    let second = paylog_wechat::RefundRequest {
        out_refund_no: "RN501".into(),
        refund_fee: 1,
        ..refund
    };
    c.refund(&second).await.expect("refund");
    finished_delivery(&sim, 1).await;
    let last = rx.bodies().pop().expect("a body");
    assert!(matches!(
        RefundNotify::parse(&last, c.merchant()),
        Err(WxPayError::Decrypt(_) | WxPayError::Malformed(_))
    ));
    sim.shutdown().await;
}

async fn raw_post(url: &str, body: String) -> (u16, String) {
    let resp = reqwest::Client::new()
        .post(url)
        .body(body)
        .send()
        .await
        .expect("post");
    (resp.status().as_u16(), resp.text().await.expect("text"))
}

#[tokio::test]
async fn malformed_oversized_and_xxe_requests_are_refused_without_harm() {
    let sim = spawn_sim(SimConfig {
        time_scale: 1.0,
        ..sim_config()
    })
    .await;
    let url = format!("{}/pay/unifiedorder", sim.base_url());
    let xxe = "<?xml version=\"1.0\"?><!DOCTYPE xml [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><xml><body>&x;</body></xml>";
    let cases = [
        ("xxe", xxe.to_owned()),
        ("garbage", "\u{0}\u{1}not xml at all".to_owned()),
        ("nested", "<xml><a><b>1</b></a></xml>".to_owned()),
        ("wrong root", "<root><a>1</a></root>".to_owned()),
        (
            "oversized",
            format!("<xml><body>{}</body></xml>", "x".repeat(MAX_BODY_BYTES)),
        ),
        ("unsigned", "<xml><appid>wx</appid></xml>".to_owned()),
    ];
    for (name, body) in cases {
        let (status, text) = raw_post(&url, body).await;
        assert_eq!(status, 200, "{name}");
        assert!(
            text.contains("<return_code><![CDATA[FAIL]]></return_code>"),
            "{name}: {text}"
        );
        assert!(!text.contains("root:"), "{name}: nothing of the file leaks");
    }
    let (status, _) = raw_post(&url, "x".repeat(MAX_BODY_BYTES * 3)).await;
    assert_eq!(
        status, 413,
        "far oversized bodies are cut off by the HTTP layer"
    );
    // The simulator still serves.
    let c = client(client_config(&sim, "http://127.0.0.1:9/notify"));
    c.unified_order(&order("N600", 1))
        .await
        .expect("still serving");
    assert_eq!(
        sim.state_json()["orders"].as_object().map(|o| o.len()),
        Some(1)
    );
    sim.shutdown().await;
}
