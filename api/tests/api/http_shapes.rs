//! Checks that are only about HTTP shapes (statuses, the error body, headers, the
//! OpenAPI document), sent through `app(state)`'s router with `oneshot`: no socket,
//! no client, no simulator needed.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use paylog_api::app::Application;
use paylog_api::config::ServeArgs;
use serde_json::Value;
use tokio::net::TcpListener;
use tower::ServiceExt as _;

/// A router over a fresh data dir (and the built-in simulator, which it never calls).
async fn router() -> (tempfile::TempDir, Application, Router) {
    router_with(|_| {}).await
}

/// [`router`] with settings changed by `adjust`.
async fn router_with(
    adjust: impl FnOnce(&mut ServeArgs),
) -> (tempfile::TempDir, Application, Router) {
    let dir = tempfile::tempdir().expect("temp dir");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let listen = listener.local_addr().expect("address");
    let data_dir = dir.path().join("data");
    let args = ServeArgs::from_flags([
        "--data-dir".as_ref(),
        data_dir.as_os_str(),
        "--listen".as_ref(),
        listen.to_string().as_ref(),
        "--token-secret".as_ref(),
        "shape-test-token-secret-0123456789".as_ref(),
        "--rate-limit-login-per-minute".as_ref(),
        "0".as_ref(),
        "--rate-limit-register-per-minute".as_ref(),
        "0".as_ref(),
        "--rate-limit-orders-per-minute".as_ref(),
        "0".as_ref(),
    ])
    .expect("settings");
    let mut args = args;
    adjust(&mut args);
    let app = Application::build(args, listener).await.expect("build app");
    let router = app.router();
    (dir, app, router)
}

/// Sends `request` and returns the status, the `x-request-id` and the JSON body.
async fn send(router: &Router, request: Request<Body>) -> (StatusCode, Option<String>, Value) {
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, request_id, json)
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).expect("request")
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_json_error_shape() {
    let (_dir, _app, router) = router().await;
    let (status, request_id, body) = send(&router, get("/v1/nowhere")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    assert!(request_id.is_some(), "every answer carries a request id");

    let delete = Request::delete("/v1/products")
        .body(Body::empty())
        .expect("request");
    let (status, _, body) = send(&router, delete).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["error"]["code"], "method_not_allowed");
}

#[tokio::test]
async fn a_client_request_id_is_kept() {
    let (_dir, _app, router) = router().await;
    let request = Request::get("/healthz")
        .header("x-request-id", "my-request-1")
        .body(Body::empty())
        .expect("request");
    let (status, request_id, body) = send(&router, request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(request_id.as_deref(), Some("my-request-1"));
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn json_bodies_must_be_objects_and_small() {
    let (_dir, _app, router) = router().await;
    let array = Request::post("/v1/register")
        .header("content-type", "application/json")
        .body(Body::from(r#"["alice", "correct horse"]"#))
        .expect("request");
    let (status, _, body) = send(&router, array).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid_json");

    let huge = format!(
        r#"{{"code":"{}"}}"#,
        "x".repeat(paylog_api::http::MAX_BODY_BYTES)
    );
    let request = Request::post("/v1/auth/wechat")
        .header("content-type", "application/json")
        .body(Body::from(huge))
        .expect("request");
    let (status, _, body) = send(&router, request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"]["code"], "body_too_large");
}

#[tokio::test]
async fn the_admin_api_is_forbidden_without_an_admin_token() {
    let (_dir, _app, router) = router().await;
    let (status, _, body) = send(&router, get("/v1/admin/events")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "admin_disabled");
}

#[tokio::test]
async fn every_route_is_in_the_openapi_document_with_its_wire_enums() {
    let (_dir, _app, router) = router().await;
    let (status, _, doc) = send(&router, get("/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    let paths = doc["paths"].as_object().expect("paths");
    assert_eq!(
        paths.len(),
        32,
        "one entry per declared path: {:?}",
        paths.keys()
    );
    assert_eq!(doc["paths"]["/v1/orders"]["post"]["tags"][0], "orders");
    for admin in [
        "/v1/admin/anomalies",
        "/v1/admin/orders/{id}/refunds/{out_refund_no}/resolve",
        "/v1/admin/orders/{id}/anomalies/{transaction_id}/refund",
        "/v1/admin/orders/{id}/ship",
        "/v1/admin/orders/{id}/shipping/sync",
    ] {
        assert!(doc["paths"][admin].is_object(), "{admin} is documented");
    }
    for method in ["get", "post"] {
        assert!(
            doc["paths"]["/v1/admin/reconciliation/{date}"][method].is_object(),
            "{method} /v1/admin/reconciliation/{{date}} is documented"
        );
    }
    for method in ["get", "post"] {
        assert!(
            doc["paths"]["/v1/wechat/message"][method].is_object(),
            "{method} /v1/wechat/message is documented"
        );
    }
    let kinds = &doc["components"]["schemas"]["DifferenceKindDto"]["enum"];
    assert_eq!(kinds.as_array().map(Vec::len), Some(5), "{kinds}");
    assert!(doc["paths"]["/v1/orders"]["get"].is_object());
    let statuses = &doc["components"]["schemas"]["OrderStatus"]["enum"];
    assert_eq!(statuses.as_array().map(Vec::len), Some(8), "{statuses}");
}

#[tokio::test]
async fn a_full_password_hashing_pool_answers_503_with_retry_after_and_the_json_error() {
    // One hashing thread and no queue: while it hashes, every other login is refused.
    let (_dir, _app, router) = router_with(|args| {
        args.password_hash_threads = Some(1);
        args.password_hash_queue = 0;
    })
    .await;
    let logins = (0..24).map(|i| {
        let router = router.clone();
        async move {
            let body = format!(r#"{{"username":"nobody{i}","password":"not the password"}}"#);
            let request = Request::post("/v1/auth/password")
                .header("content-type", "application/json")
                .body(Body::from(body))
                .expect("request");
            let response = router.oneshot(request).await.expect("infallible");
            let status = response.status();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let bytes = response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes();
            let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            (status, retry_after, json)
        }
    });
    let answers = futures::future::join_all(logins).await;
    let busy: Vec<_> = answers
        .iter()
        .filter(|(status, _, _)| *status == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert!(!busy.is_empty(), "{answers:?}");
    for (_, retry_after, json) in &busy {
        assert_eq!(retry_after.as_deref(), Some("1"), "{json}");
        assert_eq!(json["error"]["code"], "busy", "{json}");
    }
    // Every other answer is the ordinary refusal: nothing failed in between.
    assert!(
        answers
            .iter()
            .all(|(status, _, _)| *status == StatusCode::UNAUTHORIZED
                || *status == StatusCode::SERVICE_UNAVAILABLE),
        "{answers:?}"
    );
    assert!(
        answers
            .iter()
            .any(|(status, _, _)| *status == StatusCode::UNAUTHORIZED),
        "the one thread still works: {answers:?}"
    );
}

#[tokio::test]
async fn a_request_over_the_request_timeout_answers_503_timeout_in_the_json_shape() {
    // No time at all: any request that waits for anything (here, password hashing)
    // runs out.
    let (_dir, _app, router) = router_with(|args| {
        args.request_timeout = std::time::Duration::ZERO;
    })
    .await;
    let request = Request::post("/v1/auth/password")
        .header("content-type", "application/json")
        .body(Body::from(
            r#"{"username":"nobody","password":"not the password"}"#,
        ))
        .expect("request");
    let (status, _, body) = send(&router, request).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "timeout", "{body}");
}

#[tokio::test]
async fn logins_over_the_per_client_limit_get_429_with_retry_after_and_only_trusted_proxies_name_the_client()
 {
    use axum::extract::ConnectInfo;
    use std::net::SocketAddr;
    let (_dir, _app, router) = router_with(|args| {
        args.rate_limit_login_per_minute = 2;
        args.trusted_proxies = vec!["10.0.0.1".parse().expect("ip")];
    })
    .await;
    let login = |peer: &str, forwarded: Option<&str>| {
        let mut request =
            Request::post("/v1/auth/password").header("content-type", "application/json");
        if let Some(xff) = forwarded {
            request = request.header("x-forwarded-for", xff);
        }
        let mut request = request
            .body(Body::from(
                r#"{"username":"nobody","password":"not the password"}"#,
            ))
            .expect("request");
        let peer: SocketAddr = peer.parse().expect("peer");
        request.extensions_mut().insert(ConnectInfo(peer));
        let router = router.clone();
        async move {
            let response = router.oneshot(request).await.expect("infallible");
            let status = response.status();
            let retry_after = response.headers().get("retry-after").cloned();
            let bytes = response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes();
            let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            (status, retry_after, json)
        }
    };
    // A stranger: two tries, then 429; its X-Forwarded-For does not buy a new bucket.
    for _ in 0..2 {
        let (status, _, _) = login("198.51.100.9:5000", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, retry_after, body) = login("198.51.100.9:5001", Some("203.0.113.50")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "rate_limited");
    let secs: u64 = retry_after
        .expect("Retry-After")
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&secs), "{secs}");

    // Behind the trusted proxy, each forwarded client has its own bucket.
    for client in ["203.0.113.1", "203.0.113.2"] {
        for _ in 0..2 {
            let (status, _, _) = login("10.0.0.1:6000", Some(client)).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{client}");
        }
        let (status, _, _) = login("10.0.0.1:6000", Some(client)).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{client}");
    }
}
