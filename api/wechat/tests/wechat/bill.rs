//! `download_bill` against the simulator: the day's payments and refunds in WeChat's
//! format, plain and gzipped alike; "No Bill Exist" is an empty day; an XML refusal
//! and a malformed bill are errors (the latter naming its line).

use chrono::Utc;
use paylog_core::Fen;
use paylog_core::wxpay::TradeState;
use paylog_core::wxpay::bill::{BillDay, BillError, MilliFen, beijing_day};
use paylog_wechat::{BillCompression, RefundRequest, WechatError};
use secrecy::SecretString;
use serde_json::json;

use super::support::*;

#[tokio::test]
async fn the_bill_lists_the_days_payments_and_refunds_in_wechats_format() {
    let sim = spawn_sim(sim_config()).await;
    let c = client(client_config(&sim, "http://127.0.0.1:9/notify"));
    let today = beijing_day(Utc::now());
    assert_eq!(
        c.download_bill(today, BillCompression::Gzip)
            .await
            .expect("empty day"),
        BillDay::NoBill
    );

    c.unified_order(&order("billorder1", 990))
        .await
        .expect("order");
    let (status, _) = control(
        &sim,
        "/sim/pay",
        json!({ "out_trade_no": "billorder1", "notify": false }),
    )
    .await;
    assert_eq!(status, 200);
    let refund = RefundRequest {
        out_trade_no: "billorder1".into(),
        transaction_id: None,
        out_refund_no: "billrefund1".into(),
        total_fee: 990,
        refund_fee: 300,
        refund_desc: None,
    };
    c.refund(&refund).await.expect("refund");

    let plain = c
        .download_bill(today, BillCompression::None)
        .await
        .expect("plain");
    let gzip = c
        .download_bill(today, BillCompression::Gzip)
        .await
        .expect("gzip");
    assert_eq!(
        plain, gzip,
        "gzip changes the bytes on the wire, not the bill"
    );
    let BillDay::Bill(bill) = plain else {
        panic!("a bill expected, got {plain:?}");
    };
    let [payment, refund] = bill.rows.as_slice() else {
        panic!("one payment and one refund expected: {:?}", bill.rows);
    };
    assert_eq!(
        (
            payment.trade_state.clone(),
            payment.out_trade_no.as_str(),
            payment.paid()
        ),
        (TradeState::Success, "billorder1", Fen::new(990))
    );
    // 0.6 % of 9.90 yuan is 0.05940 yuan: five decimals, given back (negative) on refunds.
    assert_eq!(payment.fee, MilliFen(5940));
    assert!(refund.is_refund());
    assert_eq!(refund.transaction_id, payment.transaction_id);
    assert_eq!(
        refund.out_refund_no.as_ref().map(|n| n.as_str()),
        Some("billrefund1")
    );
    assert_eq!(
        (refund.refunded(), refund.fee),
        (Fen::new(300), MilliFen(-1800))
    );
    assert_eq!(bill.summary.trades, 2);
    assert_eq!(bill.summary.fee_total, MilliFen(4140));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_refused_download_and_a_malformed_bill_are_errors() {
    let sim = spawn_sim(sim_config()).await;
    let mut wrong = client_config(&sim, "http://127.0.0.1:9/notify");
    wrong.api_key = SecretString::from("0123456789abcdef0123456789abcdef");
    let today = beijing_day(Utc::now());
    let refused = client(wrong)
        .download_bill(today, BillCompression::Gzip)
        .await
        .expect_err("a wrong key is refused");
    assert!(
        matches!(&refused, WechatError::Bill(BillError::Refused { return_msg, .. }) if return_msg.contains("签名错误")),
        "{refused:?}"
    );

    let c = client(client_config(&sim, "http://127.0.0.1:9/notify"));
    c.unified_order(&order("billorder2", 500))
        .await
        .expect("order");
    control(
        &sim,
        "/sim/pay",
        json!({ "out_trade_no": "billorder2", "notify": false }),
    )
    .await;
    let (status, _) = control(
        &sim,
        "/sim/bill-fault",
        json!({ "date": today.to_string(), "kind": "malformed" }),
    )
    .await;
    assert_eq!(status, 204);
    let malformed = c
        .download_bill(today, BillCompression::Gzip)
        .await
        .expect_err("malformed");
    assert!(
        matches!(
            &malformed,
            WechatError::Bill(BillError::InvalidField { line: 2, .. })
        ),
        "{malformed:?}"
    );
    assert!(malformed.to_string().contains("line 2"), "{malformed}");
    sim.shutdown().await;
}
