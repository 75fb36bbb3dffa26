//! End-to-end: auth, catalog, admin access, error shapes, ops endpoints — the real
//! server on 127.0.0.1 with its own temp data dir and simulator.

// Test code: helpers fail the test with a message, as the tests themselves do
// (clippy.toml allows that inside #[test] functions, not in their helpers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use paylog_tests::{ADMIN_TOKEN, TestConfig, spawn_app, spawn_app_with};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn wechat_login_registers_once_and_then_finds_the_user() {
    let app = spawn_app().await;
    let first = app.wechat_login("alice.1").await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.json["new_user"], true);
    let again = app.wechat_login("alice.2").await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json["new_user"], false);
    assert_eq!(again.json["user_id"], first.json["user_id"]);
    // The token works and carries no WeChat session key.
    let token = again.str("token");
    assert!(!token.is_empty());
    assert_eq!(app.orders(&token, "").await.status, 200);
    let user_stream = format!("user-{}", first.str("user_id"));
    assert_eq!(
        app.stream_events(&user_stream).await,
        vec!["UserRegistered"]
    );
    // A used code is refused by WeChat: 401, nothing appended.
    let head = app.log_head();
    let reused = app.wechat_login("alice.1").await;
    assert_eq!(reused.status, 401);
    assert_eq!(reused.error_code(), "unauthorized");
    assert_eq!(app.log_head(), head);
}

#[tokio::test]
async fn password_users_register_and_sign_in_and_bad_credentials_look_the_same() {
    let app = spawn_app().await;
    let created = app.register("Bob", "correct horse battery").await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert!(!created.str("user_id").is_empty());
    assert_eq!(
        app.register("bob", "another password").await.error_code(),
        "username_taken"
    );
    assert_eq!(app.register("bob", "another password").await.status, 409);
    assert_eq!(app.register("b", "long enough pw").await.status, 400);
    assert_eq!(app.register("carol", "short").await.status, 400);

    let ok = app.password_login("BOB", "correct horse battery").await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(app.orders(&ok.str("token"), "").await.status, 200);
    let wrong = app.password_login("bob", "wrong horse battery").await;
    let unknown = app.password_login("nobody", "correct horse battery").await;
    assert_eq!(wrong.status, 401);
    assert_eq!(unknown.status, 401);
    assert_eq!(wrong.json, unknown.json, "the same answer for both");
}

#[tokio::test]
async fn tokens_are_required_and_tamper_proof() {
    let app = spawn_app().await;
    let token = app.shopper("dora").await;
    assert_eq!(app.orders("", "").await.status, 401);
    let no_header = app.request(Method::GET, "/v1/orders", None, None).await;
    assert_eq!(no_header.status, 401);
    assert_eq!(no_header.error_code(), "unauthorized");
    let mut tampered = token.clone();
    tampered.insert(tampered.len() - 3, 'A');
    assert_eq!(app.orders(&tampered, "").await.status, 401);
    // Another server configured with the same token secret accepts it (restarts).
    let other = spawn_app_with(TestConfig::default()).await;
    assert_eq!(
        other.orders(&token, "").await.status,
        200,
        "same test secret"
    );
    assert_eq!(
        app.orders("eyJhbGciOiJIUzI1NiJ9.e30.x", "").await.status,
        401
    );
}

#[tokio::test]
async fn catalog_lists_and_shows_products_and_admins_manage_them() {
    let app = spawn_app().await;
    let tea = app.create_product("Tea", 1200, 5).await;
    let cup = app.create_product("Cup", 3500, 1).await;
    let list = app.products("").await;
    assert_eq!(list.status, 200);
    let names: Vec<_> = list.json["items"]
        .as_array()
        .map(|a| a.iter().map(|p| p["name"].clone()).collect())
        .unwrap_or_default();
    assert_eq!(names, vec![json!("Tea"), json!("Cup")]);
    let page = app.products("?limit=1").await;
    assert_eq!(page.json["items"].as_array().map(Vec::len), Some(1));
    let cursor = page.str("next_cursor");
    let next = app.products(&format!("?limit=1&cursor={cursor}")).await;
    assert_eq!(next.json["items"][0]["name"], "Cup");
    assert_eq!(app.products("?cursor=zz").await.status, 400);

    let shown = app.product(&tea).await;
    assert_eq!(shown.json["price_fen"], 1200);
    assert_eq!(shown.json["stock"], 5);
    assert_eq!(app.adjust_stock(&tea, 3).await.json["stock"], 8);
    assert_eq!(app.adjust_stock(&cup, -2).await.status, 422);
    assert_eq!(app.stock(&cup).await, 1);
    assert_eq!(app.adjust_stock(&cup, 0).await.status, 400);
    let missing = uuid::Uuid::now_v7();
    assert_eq!(app.product(&missing.to_string()).await.status, 404);
    assert_eq!(app.adjust_stock(&missing.to_string(), 1).await.status, 404);
    assert_eq!(
        app.create_product_as(Some(ADMIN_TOKEN), "", 100, 1)
            .await
            .status,
        400
    );
    assert_eq!(
        app.create_product_as(Some(ADMIN_TOKEN), "Free", 0, 1)
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn admin_endpoints_need_the_admin_token_and_are_off_without_one() {
    let app = spawn_app().await;
    let head = app.log_head();
    assert_eq!(app.create_product_as(None, "Tea", 100, 1).await.status, 401);
    assert_eq!(
        app.create_product_as(Some("guess"), "Tea", 100, 1)
            .await
            .status,
        401
    );
    let shopper = app.shopper("eve").await;
    assert_eq!(
        app.create_product_as(Some(&shopper), "Tea", 100, 1)
            .await
            .status,
        401
    );
    // Only the shopper's registration was appended.
    assert_eq!(app.log_head(), head + 2);

    let off = spawn_app_with(TestConfig {
        admin_token: None,
        ..TestConfig::default()
    })
    .await;
    let refused = off
        .create_product_as(Some(ADMIN_TOKEN), "Tea", 100, 1)
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.error_code(), "admin_disabled");
    assert_eq!(off.log_head(), 0);
}

#[tokio::test]
async fn axum_rejections_use_the_json_error_shape_and_change_nothing() {
    let app = spawn_app().await;
    let token = app.shopper("finn").await;
    let head = app.log_head();
    let huge = format!("{{\"items\":[],\"pad\":\"{}\"}}", "x".repeat(200_000));
    // (content type, body, status, error code) of bodies POST /v1/orders refuses.
    let refusals: [(&str, Vec<u8>, u16, &str); 4] = [
        (
            "application/json",
            b"{not json".to_vec(),
            400,
            "invalid_json",
        ),
        ("application/json", b"{}".to_vec(), 400, "invalid_json"),
        (
            "text/plain",
            b"{\"items\":[]}".to_vec(),
            415,
            "unsupported_media_type",
        ),
        ("application/json", huge.into_bytes(), 413, "body_too_large"),
    ];
    for (content_type, body, status, code) in refusals {
        let refused = app
            .raw(Method::POST, "/v1/orders", Some(&token), content_type, body)
            .await;
        assert_eq!(
            (refused.status, refused.error_code()),
            (status, code),
            "{content_type}"
        );
    }
    let bad_uuid = app.order(&token, "not-a-uuid").await;
    assert_eq!(
        (bad_uuid.status, bad_uuid.error_code()),
        (400, "invalid_path")
    );
    let nowhere = app.request(Method::GET, "/v2/nothing", None, None).await;
    assert_eq!((nowhere.status, nowhere.error_code()), (404, "not_found"));
    let wrong_method = app
        .request(Method::DELETE, "/v1/products", None, None)
        .await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.error_code(), "method_not_allowed");
    assert_eq!(app.log_head(), head);
}

#[tokio::test]
async fn health_metrics_openapi_and_request_ids() {
    let app = spawn_app().await;
    let health = app.health().await;
    assert_eq!(health.status, 200);
    assert_eq!(health.json["status"], "ok");
    let id = health
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(id.len(), 36, "a uuid request id: {id:?}");
    // A client's own request id is kept.
    let mine = app
        .http
        .get(format!("{}/healthz", app.base))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .expect("sent");
    assert_eq!(mine.headers()["x-request-id"], "trace-me-42");

    app.create_product("Tea", 100, 1).await;
    let metrics = app.metrics().await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics.text.contains(
            r#"paylog_http_requests_total{method="POST",route="/v1/admin/products",status="201"} 1"#
        ),
        "{}",
        metrics.text
    );
    assert!(
        metrics
            .text
            .contains(r#"paylog_events_appended_total{command="CreateProduct"} 1"#)
    );
    assert!(
        metrics
            .text
            .contains("paylog_http_request_duration_seconds_bucket")
    );

    let doc = app.openapi().await;
    assert_eq!(doc.status, 200);
    for path in [
        "/v1/auth/wechat",
        "/v1/register",
        "/v1/auth/password",
        "/v1/products",
        "/v1/products/{id}",
        "/v1/admin/products",
        "/v1/admin/products/{id}/stock",
        "/v1/orders",
        "/v1/orders/{id}",
        "/v1/orders/{id}/cancel",
        "/v1/orders/{id}/pay",
        "/v1/admin/orders/{id}/refund",
        "/v1/wechat/pay/notify",
        "/v1/wechat/refund/notify",
        "/healthz",
        "/metrics",
        "/openapi.json",
    ] {
        assert!(
            doc.json["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc.json["components"]["schemas"]["OrderCreated"].is_object());
}

#[tokio::test]
async fn graceful_shutdown_closes_the_log_and_a_restart_keeps_everything() {
    let app = spawn_app().await;
    let tea = app.create_product("Tea", 100, 4).await;
    let data_dir = app.data_dir.clone();
    let head = app.log_head();
    let _dir = app.stop().await;

    // A new server on the same data dir (WeChat unconfigured: it starts a simulator).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let args = paylog_tests::app::serve_args(data_dir, addr, None, &TestConfig::default());
    let restarted = paylog_api::app::Application::build(args, listener)
        .await
        .expect("reopens the same data dir");
    let handles = restarted.handles();
    assert_eq!(handles.store.head(), head);
    assert!(
        handles.sim_url.is_some(),
        "no WeChat settings: the simulator runs in-process"
    );
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(restarted.run_until_stopped(async move {
        let _ = rx.await;
    }));
    let product: serde_json::Value = reqwest::get(format!("http://{addr}/v1/products/{tea}"))
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(product["stock"], 4);
    let _ = tx.send(());
    assert!(matches!(server.await, Ok(Ok(()))));
}

#[tokio::test]
async fn positional_json_and_absurd_stock_changes_are_refused() {
    let app = spawn_app().await;
    let product = app.create_product("白茶", 100, 5).await;
    let head = app.log_head();
    // serde would read `["x"]` as `{"code": "x"}`: the API takes objects only.
    let array_login = app
        .raw(
            Method::POST,
            "/v1/auth/wechat",
            None,
            "application/json",
            b"[\"x\"]".to_vec(),
        )
        .await;
    assert_eq!(
        (array_login.status, array_login.error_code()),
        (400, "invalid_json")
    );
    let array_stock = app
        .raw(
            Method::POST,
            &format!("/v1/admin/products/{product}/stock"),
            Some(ADMIN_TOKEN),
            "application/json",
            b"[5]".to_vec(),
        )
        .await;
    assert_eq!(array_stock.status, 400);
    let absurd = app.adjust_stock(&product, 1_215_357_321_876_905_866).await;
    assert_eq!((absurd.status, absurd.error_code()), (400, "invalid_stock"));
    assert_eq!(app.log_head(), head, "nothing was appended");
    let fine = app.adjust_stock(&product, 3).await;
    assert_eq!(fine.status, 200);
}

#[tokio::test]
async fn a_notify_signed_otherwise_than_the_configured_sign_type_is_refused_and_counted() {
    use paylog_core::wxpay::{ApiKey, SignType, sign_fields, to_xml};
    use paylog_sim::notify::PayNotice;
    // The test app runs with PAYLOG_WECHAT_SIGN_TYPE=MD5.
    let app = spawn_app().await;
    let notify = |sign_type: SignType| {
        let mut fields = PayNotice {
            appid: "wx0000000000000sim".into(),
            mch_id: "1900000109".into(),
            nonce_str: "5K8264ILTKCH16CQ2502SI8ZNMTM67VS".into(),
            openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".into(),
            out_trade_no: "P0000000000000000000000000000001".into(),
            transaction_id: "4200000001202601010000000001".into(),
            total_fee: 100,
            time_end: "20260101120000".into(),
            attach: String::new(),
        }
        .fields();
        fields.insert("sign_type".into(), sign_type.as_str().into());
        sign_fields(&mut fields, &ApiKey::new(app.api_key()), sign_type).expect("signs");
        to_xml(&fields)
    };

    let hmac = app.pay_notify(&notify(SignType::HmacSha256)).await;
    assert!(hmac.text.contains("FAIL"), "{}", hmac.text);
    let md5 = app.pay_notify(&notify(SignType::Md5)).await;
    let metrics = app.metrics().await.text;
    assert!(
        metrics.contains(r#"paylog_wechat_notifies_total{kind="pay",outcome="bad_signature"} 1"#),
        "{metrics}"
    );
    // The same notify signed as configured passes the sign check (and finds no order).
    assert!(
        !metrics.contains(r#"outcome="bad_signature"} 2"#),
        "{} / {metrics}",
        md5.text
    );
    app.stop().await;
}

#[tokio::test]
async fn livez_and_readyz_answer_and_healthz_reports_the_same_facts() {
    let app = spawn_app().await;
    let live = app.request(Method::GET, "/livez", None, None).await;
    assert_eq!(live.status, 200, "{}", live.text);
    let ready = app.request(Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status, 200, "{}", ready.text);
    assert_eq!(ready.json["status"], "ok");
    assert_eq!(ready.json["problems"], json!([]));
    let health = app.health().await;
    assert_eq!(health.json["status"], ready.json["status"]);
    assert_eq!(health.json["problems"], ready.json["problems"]);
    assert!(health.json["log_head"].is_u64());
    app.stop().await;
}

#[tokio::test]
async fn views_ahead_of_a_replaced_log_are_rebuilt_at_start_up_not_served() {
    let app = spawn_app().await;
    let tea = app.create_product("Tea", 100, 4).await;
    let data_dir = app.data_dir.clone();
    let _dir = app.stop().await;
    // The log is replaced by an empty one (a restore gone wrong); the views remain.
    std::fs::remove_dir_all(data_dir.join("log")).expect("remove the log");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let args = paylog_tests::app::serve_args(data_dir, addr, None, &TestConfig::default());
    let restarted = paylog_api::app::Application::build(args, listener)
        .await
        .expect("starts");
    let handles = restarted.handles();
    assert_eq!(handles.store.head(), 0);
    assert_eq!(handles.views.position(), 0, "the views follow this log");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(restarted.run_until_stopped(async move {
        let _ = rx.await;
    }));
    let product = reqwest::get(format!("http://{addr}/v1/products/{tea}"))
        .await
        .expect("sent");
    assert_eq!(
        product.status(),
        404,
        "a product the log never had is not served"
    );
    let _ = tx.send(());
    assert!(matches!(server.await, Ok(Ok(()))));
}

#[tokio::test]
async fn admin_catalog_writes_with_an_idempotency_key_happen_once() {
    let app = spawn_app().await;
    let tea = json!({ "name": "Tea", "price_fen": 1200, "stock": 5 });
    let first = app
        .admin_post_with_key("/v1/admin/products", "new-tea", tea.clone())
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    let again = app
        .admin_post_with_key("/v1/admin/products", "new-tea", tea)
        .await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.str("product_id"), first.str("product_id"));
    let listed = app.products("").await;
    assert_eq!(listed.json["items"].as_array().map(Vec::len), Some(1));
    let other = app
        .admin_post_with_key(
            "/v1/admin/products",
            "new-tea",
            json!({ "name": "Coffee", "price_fen": 900, "stock": 1 }),
        )
        .await;
    assert_eq!(other.status, 409, "{}", other.text);
    assert_eq!(other.error_code(), "idempotency_key_reused");

    let id = first.str("product_id");
    let path = format!("/v1/admin/products/{id}/stock");
    for _ in 0..2 {
        let adjusted = app
            .admin_post_with_key(
                &path,
                "restock-1",
                json!({ "delta": 3, "reason": "delivery" }),
            )
            .await;
        assert_eq!(adjusted.status, 200, "{}", adjusted.text);
        assert_eq!(adjusted.json["stock"], 8, "adjusted once");
    }
    let next = app
        .admin_post_with_key(
            &path,
            "restock-2",
            json!({ "delta": 3, "reason": "delivery" }),
        )
        .await;
    assert_eq!(next.json["stock"], 11);
}

#[tokio::test]
async fn a_stock_adjustment_needs_a_bounded_reason_and_keeps_it() {
    let app = spawn_app().await;
    let product = app.create_product("Tea", 1200, 5).await;
    let head = app.log_head();
    let limit = paylog_core::product::MAX_ADJUSTMENT_REASON_CHARS;
    let too_long = "茶".repeat(limit + 1);
    for (body, code) in [
        (json!({ "delta": 3 }), "invalid_json"),
        (json!({ "delta": 3, "reason": null }), "invalid_json"),
        (json!({ "delta": 3, "reason": 7 }), "invalid_json"),
        (
            json!({ "delta": 3, "reason": "" }),
            "invalid_stock_adjustment_reason",
        ),
        (
            json!({ "delta": 3, "reason": " \n\t " }),
            "invalid_stock_adjustment_reason",
        ),
        (
            json!({ "delta": 3, "reason": too_long }),
            "invalid_stock_adjustment_reason",
        ),
        // A bad reason is refused even where the change itself would be too.
        (
            json!({ "delta": -9, "reason": "" }),
            "invalid_stock_adjustment_reason",
        ),
    ] {
        let answer = app.adjust_stock_with(&product, body.clone()).await;
        assert_eq!(
            (answer.status, answer.error_code()),
            (400, code),
            "{body}: {}",
            answer.text
        );
        assert!(
            answer.json["error"]["message"].is_string(),
            "{}",
            answer.text
        );
    }
    assert_eq!(app.log_head(), head, "a refused adjustment appended");
    assert_eq!(app.stock(&product).await, 5);

    // At the limit (in characters, padding trimmed) it is kept, trimmed, in the log.
    let longest = "茶".repeat(limit);
    let fine = app
        .adjust_stock_with(
            &product,
            json!({ "delta": 2, "reason": format!("  {longest} ") }),
        )
        .await;
    assert_eq!(fine.status, 200, "{}", fine.text);
    assert_eq!(fine.json["stock"], 7);
    let events = app
        .handles
        .store
        .read_stream(&format!("product-{product}"), 1, 10)
        .await
        .expect("read");
    let adjusted = events.last().expect("an event");
    assert_eq!(
        (adjusted.event_type.as_str(), adjusted.schema_version),
        ("StockAdjusted", 2)
    );
    // Stored payloads may be binary: read it as people do, through the codec's JSON.
    let (_, payload) = paylog_core::codec::payload_json(
        &adjusted.event_type,
        adjusted.schema_version,
        &adjusted.payload,
    )
    .expect("decodes");
    let payload: serde_json::Value = serde_json::from_slice(&payload).expect("json payload");
    assert_eq!(payload["reason"], json!(longest));

    // The OpenAPI document says the body needs a reason, and how long it may be.
    let doc = app.openapi().await;
    let schema = &doc.json["components"]["schemas"]["StockChange"];
    let required = schema["required"].as_array().expect("required fields");
    assert!(required.contains(&json!("reason")), "{schema}");
    assert_eq!(schema["properties"]["reason"]["maxLength"], json!(limit));
}
