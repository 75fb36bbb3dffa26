//! `paylog demo` passes: its library function runs the whole story over real HTTP.

// Test code: helpers fail the test with a message, as the tests themselves do
// (clippy.toml allows that inside #[test] functions, not in their helpers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[tokio::test]
async fn the_demo_runs_the_whole_story_and_every_step_behaves() {
    let mut out = Vec::new();
    let outcome = paylog_api::cli::demo::run_demo(&mut out)
        .await
        .expect("the demo succeeds");
    let printed = String::from_utf8_lossy(&out);
    assert_eq!(outcome.payments_confirmed, 1);
    assert_eq!(outcome.notifies_acknowledged, 2);
    assert_eq!(outcome.order["status"], "PartiallyRefunded");
    assert_eq!(outcome.order["paid_fen"], 13600);
    assert_eq!(outcome.order["refunded_fen"], 6800);
    // It ends with shipping: uploaded to WeChat, received and settled.
    let shipping = &outcome.order["shipping"];
    assert_eq!(shipping["upload"], "uploaded", "{shipping}");
    assert!(shipping["receipt_confirmed_at"].is_string(), "{shipping}");
    assert!(shipping["settled_at"].is_string(), "{shipping}");
    for step in [
        "log in with WeChat",
        "create a product",
        "place an order",
        "a delivery arrives",
        "pay (",
        "refund one",
        "ship the other box",
        "WeChat settles",
        "the final order",
    ] {
        assert!(
            printed.contains(step),
            "step {step:?} not printed:\n{printed}"
        );
    }
    assert!(printed.contains("demo finished"));
}

#[tokio::test]
async fn the_demo_on_wechat_pay_v3_runs_the_same_story() {
    let mut out = Vec::new();
    let outcome =
        paylog_api::cli::demo::run_demo_on(&mut out, paylog_api::config::PayVersionArg::V3)
            .await
            .expect("the v3 demo succeeds");
    let printed = String::from_utf8_lossy(&out);
    assert_eq!(outcome.payments_confirmed, 1);
    assert_eq!(outcome.notifies_acknowledged, 2);
    assert_eq!(outcome.order["status"], "PartiallyRefunded");
    assert!(printed.contains("\"signType\":\"RSA\""), "{printed}");
    assert!(printed.contains("demo finished"));
}
