//! End-to-end: placing, listing, showing and cancelling orders; idempotency keys;
//! the race for the last unit — checked through HTTP and through the log.

// Test code: helpers fail the test with a message, as the tests themselves do
// (clippy.toml allows that inside #[test] functions, not in their helpers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use paylog_api::services::ordering::DEFAULT_MAX_OPEN_ORDERS_PER_USER as DEFAULT_LIMIT;
use paylog_tests::{
    TestApp, TestConfig, spawn_app, spawn_app_on, spawn_app_on_nats, spawn_app_with,
};
use serde_json::json;

paylog_tests::on_both_logs!(an_order_reserves_stock_and_not_enough_stock_reserves_nothing);

async fn an_order_reserves_stock_and_not_enough_stock_reserves_nothing(app: TestApp) {
    let token = app.shopper("gina").await;
    let tea = app.create_product("Tea", 1200, 3).await;
    let cup = app.create_product("Cup", 500, 10).await;

    let placed = app.place_order(&token, &[(&tea, 2), (&cup, 1)], None).await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    assert_eq!(placed.json["total_fen"], 2900);
    assert_eq!(placed.json["status"], "Placed");
    assert_eq!(placed.str("out_trade_no").len(), 32);
    assert_eq!(app.stock(&tea).await, 1);
    assert_eq!(app.stock(&cup).await, 9);

    let head = app.log_head();
    let short = app.place_order(&token, &[(&cup, 1), (&tea, 2)], None).await;
    assert_eq!(short.status, 422);
    assert_eq!(short.error_code(), "insufficient_stock");
    assert_eq!(app.log_head(), head, "nothing appended");
    assert_eq!(app.stock(&cup).await, 9, "cup not reserved either");

    let unknown = uuid::Uuid::now_v7().to_string();
    assert_eq!(
        app.place_order(&token, &[(&unknown, 1)], None).await.status,
        422
    );
    assert_eq!(app.place_order(&token, &[], None).await.status, 400);
    assert_eq!(
        app.place_order(&token, &[(&cup, 0)], None).await.status,
        400
    );
    assert_eq!(app.log_head(), head);
}

#[tokio::test]
async fn idempotency_key_returns_the_same_order_and_refuses_another_body() {
    let app = spawn_app().await;
    let token = app.shopper("hugo").await;
    let tea = app.create_product("Tea", 1000, 10).await;
    let first = app.place_order(&token, &[(&tea, 2)], Some("key-1")).await;
    assert_eq!(first.status, 201);
    let again = app.place_order(&token, &[(&tea, 2)], Some("key-1")).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json["order_id"], first.json["order_id"]);
    assert_eq!(app.stock(&tea).await, 8, "reserved once");
    let other = app.place_order(&token, &[(&tea, 3)], Some("key-1")).await;
    assert_eq!(other.status, 409);
    assert_eq!(other.error_code(), "idempotency_key_reused");
    // The same key of another user is another order.
    let other_user = app.shopper("iris").await;
    let theirs = app
        .place_order(&other_user, &[(&tea, 2)], Some("key-1"))
        .await;
    assert_eq!(theirs.status, 201);
    assert_ne!(theirs.json["order_id"], first.json["order_id"]);
    // Concurrent repeats of one key: one order.
    let one = [(tea.as_str(), 1)];
    let racers = (0..8).map(|_| app.place_order(&token, &one, Some("key-2")));
    let answers = futures::future::join_all(racers).await;
    let ids: std::collections::BTreeSet<String> =
        answers.iter().map(|a| a.str("order_id")).collect();
    assert_eq!(ids.len(), 1, "{answers:?}");
    assert!(answers.iter().all(|a| a.status == 200 || a.status == 201));
    assert_eq!(answers.iter().filter(|a| a.status == 201).count(), 1);
    assert_eq!(app.stock(&tea).await, 5);
    let bad_key = app
        .http
        .post(format!("{}/v1/orders", app.base))
        .header("authorization", format!("Bearer {token}"))
        .header("idempotency-key", "")
        .json(&json!({ "items": [{ "product_id": tea, "quantity": 1 }] }))
        .send()
        .await
        .expect("sent");
    assert_eq!(bad_key.status(), 400);
}

paylog_tests::on_both_logs!(two_concurrent_orders_for_the_last_unit_one_wins);

/// Two servers, one shop: two applications on the same NATS log (each with its own
/// views) take orders for the last unit at the same time; the log lets one win.
#[tokio::test]
async fn two_servers_on_one_nats_log_race_for_the_last_unit_and_one_wins() {
    let a = spawn_app_on_nats().await;
    let log = a.nats.clone().expect("a NATS log");
    let b = spawn_app_on(log, TestConfig::default()).await;
    let jack = a.shopper("jack").await;
    let kate = b.shopper("kate").await;
    let last = a.create_product("Last one", 9900, 1).await;
    let one = [(last.as_str(), 1)];
    let (x, y) = tokio::join!(
        a.place_order(&jack, &one, None),
        b.place_order(&kate, &one, None)
    );
    let mut statuses = [x.status, y.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 422], "{x:?} {y:?}");
    // Each server reads the one log: once its views followed it to the later of the two
    // heads, both see exactly one reservation.
    let head = a.log_head().max(b.log_head());
    for app in [&a, &b] {
        assert!(
            app.handles
                .views
                .wait_for(head, std::time::Duration::from_secs(10))
                .await,
            "the views never reached position {head}"
        );
        let reserved = app
            .stream_events(&format!("product-{last}"))
            .await
            .iter()
            .filter(|t| *t == "StockReserved")
            .count();
        assert_eq!(reserved, 1);
    }
    b.stop().await;
    a.stop().await;
}

async fn two_concurrent_orders_for_the_last_unit_one_wins(app: TestApp) {
    let a = app.shopper("jack").await;
    let b = app.shopper("kate").await;
    let last = app.create_product("Last one", 9900, 1).await;
    let one = [(last.as_str(), 1)];
    let (x, y) = tokio::join!(
        app.place_order(&a, &one, None),
        app.place_order(&b, &one, None)
    );
    let mut statuses = [x.status, y.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 422], "{x:?} {y:?}");
    assert_eq!(app.stock(&last).await, 0);
    let reserved = app
        .stream_events(&format!("product-{last}"))
        .await
        .iter()
        .filter(|t| *t == "StockReserved")
        .count();
    assert_eq!(reserved, 1);
}

#[tokio::test]
async fn orders_list_newest_first_paginated_and_only_the_callers() {
    let app = spawn_app().await;
    let me = app.shopper("leo").await;
    let other = app.shopper("mia").await;
    let tea = app.create_product("Tea", 100, 100).await;
    let mut mine = Vec::new();
    for n in 1..=3 {
        let placed = app.place_order(&me, &[(&tea, n)], None).await;
        mine.push(placed.json["order_id"].clone());
    }
    let theirs = app.place_order(&other, &[(&tea, 1)], None).await;
    let list = app.orders(&me, "?limit=2").await;
    assert_eq!(list.status, 200);
    let first_page: Vec<_> = list.json["items"]
        .as_array()
        .map(|a| a.iter().map(|o| o["order_id"].clone()).collect())
        .unwrap_or_default();
    assert_eq!(first_page, vec![mine[2].clone(), mine[1].clone()]);
    let next = app
        .orders(&me, &format!("?limit=2&cursor={}", list.str("next_cursor")))
        .await;
    assert_eq!(next.json["items"][0]["order_id"], mine[0]);
    assert!(next.json["next_cursor"].is_null());

    let shown = app.order(&me, mine[0].as_str().unwrap_or_default()).await;
    assert_eq!(shown.status, 200);
    assert_eq!(shown.json["lines"][0]["quantity"], 1);
    assert_eq!(shown.json["lines"][0]["product_name"], "Tea");
    // Someone else's order is not found, exactly like a missing one.
    let foreign = app.order(&me, &theirs.str("order_id")).await;
    let missing = app.order(&me, &uuid::Uuid::now_v7().to_string()).await;
    assert_eq!(foreign.status, 404);
    assert_eq!(foreign.json, missing.json);
    assert_eq!(
        app.cancel_order(&me, &theirs.str("order_id")).await.status,
        404
    );
    assert_eq!(app.pay(&me, &theirs.str("order_id")).await.status, 404);
}

paylog_tests::on_both_logs!(cancelling_releases_stock_and_closes_the_order_at_wechat_first);

async fn cancelling_releases_stock_and_closes_the_order_at_wechat_first(app: TestApp) {
    let token = app.shopper("nina").await;
    let tea = app.create_product("Tea", 800, 5).await;
    let unpaid = app
        .place_order(&token, &[(&tea, 2)], None)
        .await
        .str("order_id");
    let cancelled = app.cancel_order(&token, &unpaid).await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    assert_eq!(cancelled.json["status"], "Cancelled");
    assert_eq!(app.stock(&tea).await, 5);
    assert_eq!(app.cancel_order(&token, &unpaid).await.status, 422);

    // With a prepay id, the order is closed at WeChat before it is cancelled here,
    // so the user can no longer pay it.
    let placed = app.place_order(&token, &[(&tea, 1)], None).await;
    let id = placed.str("order_id");
    assert_eq!(app.pay(&token, &id).await.status, 200);
    assert_eq!(
        app.cancel_order(&token, &id).await.json["status"],
        "Cancelled"
    );
    let out_trade_no = placed.str("out_trade_no");
    assert_eq!(app.sim_state()["orders"][&out_trade_no]["state"], "CLOSED");
    let paid_late = app.sim_pay(&out_trade_no, json!({})).await;
    assert_eq!(paid_late.status, 409, "WeChat refuses to take the money");
    assert_eq!(app.stock(&tea).await, 5);
    assert_eq!(
        app.stream_events(&format!("order-{id}")).await,
        vec!["OrderPlaced", "PaymentRequested", "OrderCancelled"]
    );
}

#[tokio::test]
async fn a_paid_order_cannot_be_cancelled() {
    let app = spawn_app().await;
    let token = app.shopper("olga").await;
    let tea = app.create_product("Tea", 800, 5).await;
    let placed = app.place_order(&token, &[(&tea, 1)], None).await;
    let id = placed.str("order_id");
    assert_eq!(app.pay(&token, &id).await.status, 200);
    // Paid at WeChat, notify lost: cancelling finds out at closeorder and records it.
    let paid = app
        .sim_pay(&placed.str("out_trade_no"), json!({ "notify": false }))
        .await;
    assert_eq!(paid.status, 200);
    let refused = app.cancel_order(&token, &id).await;
    assert_eq!(refused.status, 409);
    assert_eq!(refused.error_code(), "order_paid");
    assert_eq!(app.count_order_events(&id, "PaymentConfirmed").await, 1);
    assert_eq!(app.count_order_events(&id, "OrderCancelled").await, 0);
    assert_eq!(app.stock(&tea).await, 4);
}

#[tokio::test]
async fn hoarding_stops_at_the_open_orders_limit_and_a_cancel_frees_a_slot() {
    let app = spawn_app_with(TestConfig {
        max_open_orders_per_user: 3,
        ..TestConfig::default()
    })
    .await;
    let token = app.shopper("hoarder").await;
    let other = app.shopper("neighbour").await;
    let tea = app.create_product("Tea", 100, 100).await;

    let mut placed = Vec::new();
    for i in 0..3 {
        let key = format!("k{i}");
        let answer = app.place_order(&token, &[(&tea, 5)], Some(&key)).await;
        assert_eq!(answer.status, 201, "{}", answer.text);
        placed.push(answer.str("order_id"));
    }
    let refused = app.place_order(&token, &[(&tea, 5)], None).await;
    assert_eq!(refused.status, 409, "{}", refused.text);
    assert_eq!(refused.error_code(), "too_many_open_orders");
    assert_eq!(
        app.stock(&tea).await,
        85,
        "the refused order reserved nothing"
    );

    // A repeat of an earlier request is not a new order: it still answers.
    let repeat = app.place_order(&token, &[(&tea, 5)], Some("k0")).await;
    assert!(repeat.status < 300, "{}", repeat.text);
    assert_eq!(repeat.str("order_id"), placed[0]);
    // The limit is per user.
    assert_eq!(
        app.place_order(&other, &[(&tea, 1)], None).await.status,
        201
    );

    let cancelled = app.cancel_order(&token, &placed[1]).await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    let again = app.place_order(&token, &[(&tea, 5)], None).await;
    assert_eq!(again.status, 201, "{}", again.text);
    app.stop().await;
}

#[tokio::test]
async fn an_open_orders_limit_of_zero_means_no_limit() {
    let app = spawn_app_with(TestConfig {
        max_open_orders_per_user: 0,
        ..TestConfig::default()
    })
    .await;
    let token = app.shopper("collector").await;
    let tea = app.create_product("Tea", 100, 100).await;
    // More than the default limit, all unpaid.
    for _ in 0..DEFAULT_LIMIT + 2 {
        let answer = app.place_order(&token, &[(&tea, 1)], None).await;
        assert_eq!(answer.status, 201, "{}", answer.text);
    }
    assert_eq!(app.stock(&tea).await, 100 - (DEFAULT_LIMIT as u64 + 2));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_placements_by_one_user_never_pass_the_open_orders_limit() {
    const LIMIT: usize = 3;
    const AT_ONCE: usize = 12;
    let app = spawn_app_with(TestConfig {
        max_open_orders_per_user: LIMIT,
        ..TestConfig::default()
    })
    .await;
    let token = app.shopper("sprinter").await;
    let tea = app.create_product("Tea", 100, 100).await;

    // All at once: each placement reads the count before the others are in the views,
    // unless one user's placements are serialised.
    let cart = [(tea.as_str(), 1)];
    let answers =
        futures::future::join_all((0..AT_ONCE).map(|_| app.place_order(&token, &cart, None))).await;
    let placed = answers.iter().filter(|a| a.status == 201).count();
    let refused = answers
        .iter()
        .filter(|a| a.status == 409 && a.error_code() == "too_many_open_orders")
        .count();
    assert_eq!(placed, LIMIT, "{answers:?}");
    assert_eq!(refused, AT_ONCE - LIMIT, "{answers:?}");
    assert_eq!(app.stock(&tea).await, 100 - LIMIT as u64);
    app.stop().await;
}

/// `/pay` and `/cancel` of the same order at once, 30 times: whichever wins, the order
/// ends cancelled here and closed (or never opened) at WeChat, so the shopper can
/// never pay it there — checked by trying to, at the simulator.
#[tokio::test]
async fn cancel_racing_pay_never_leaves_a_cancelled_order_payable_at_wechat() {
    const ROUNDS: usize = 30;
    let app = spawn_app().await;
    let token = app.shopper("racer").await;
    let product = app.create_product("Tea", 100, ROUNDS as u64).await;
    let mut paid_first = 0;
    for round in 0..ROUNDS {
        let placed = app.place_order(&token, &[(&product, 1)], None).await;
        assert_eq!(placed.status, 201, "{}", placed.text);
        let (id, out_trade_no) = (placed.str("order_id"), placed.str("out_trade_no"));
        let (pay, cancel) = tokio::join!(app.pay(&token, &id), app.cancel_order(&token, &id));
        assert_eq!(cancel.status, 200, "round {round}: {}", cancel.text);
        if pay.status == 200 {
            paid_first += 1;
        }
        let order = app.order(&token, &id).await;
        assert_eq!(order.json["status"], "Cancelled", "round {round}");
        let at_wechat = app.sim_pay(&out_trade_no, json!({ "notify": false })).await;
        assert_ne!(
            at_wechat.status, 200,
            "round {round}: cancelled here but payable at WeChat (pay answered {}: {})",
            pay.status, pay.text
        );
    }
    // Every unit of stock came back: no order was left half-cancelled.
    assert_eq!(
        app.stock(&product).await,
        ROUNDS as u64,
        "{paid_first} paid first"
    );
}
