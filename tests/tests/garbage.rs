//! Bad input into every endpoint of the real server: generated garbage, truncated and
//! byte-flipped valid bodies, deeply nested and oversized bodies, hostile XML.
//!
//! For every request: no 5xx, a JSON error body on the JSON API, and the log's head
//! unchanged (bad input changes nothing). At the end the server is still healthy.
//! `PROPTEST_CASES` scales the search like the model test's.

// Test code: helpers fail the test with a message, as the tests themselves do
// (clippy.toml allows that inside #[test] functions, not in their helpers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use paylog_tests::wx::PayNotifyDraft;
use paylog_tests::{ADMIN_TOKEN, TestApp, spawn_app};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};
use serde_json::{Value, json};

/// Requests per run unless `PROPTEST_CASES` says otherwise.
const DEFAULT_CASES: u32 = 512;

/// Over the server's 64 KiB body limit.
const OVERSIZED: usize = 64 * 1024 + 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    None,
    Shopper,
    Admin,
}

/// One endpoint: method, path, who calls it, a valid body to mutate, JSON or XML.
#[derive(Debug, Clone)]
struct Endpoint {
    post: bool,
    path: String,
    auth: Auth,
    valid: String,
    xml: bool,
}

/// What is sent.
#[derive(Debug, Clone)]
enum Body {
    /// Random bytes.
    Bytes(Vec<u8>),
    /// Random text.
    Text(String),
    /// A random JSON value, well-formed but of any shape.
    Json(Value),
    /// The endpoint's valid body cut short.
    Truncated(usize),
    /// The endpoint's valid body with one byte replaced.
    Flipped(usize, u8),
    /// `[[[…]]]` or `<a><a>…</a></a>`, `depth` levels.
    Nested(usize),
    /// Over the limit.
    Oversized(usize),
    /// An XML body with a DOCTYPE and entity expansion (billion laughs).
    Entities,
}

/// Well-formed JSON of any shape that is never a valid request: the API's own field
/// names appear, but every leaf is of a type or range no field accepts (no integers,
/// so `{"delta": 5}` or serde's struct-from-array `[5]` cannot be generated).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        // Fractional or out of every integer range.
        (any::<i32>(), 1u8..100).prop_map(|(i, f)| json!(f64::from(i) + f64::from(f) / 100.0)),
        Just(json!(1e300)),
        Just(json!(-1e300)),
        "\\PC{0,24}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    "[a-z_]{1,12}",
                    Just("items".to_owned()),
                    Just("quantity".to_owned()),
                    Just("product_id".to_owned()),
                    Just("amount_fen".to_owned()),
                    Just("price_fen".to_owned()),
                    Just("delta".to_owned()),
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..512).prop_map(Body::Bytes),
        3 => "\\PC{0,256}".prop_map(Body::Text),
        // Top-level arrays included: `ApiJson` accepts objects only, so `["x"]` is not
        // read as `{"code": "x"}`.
        4 => json_value().prop_map(Body::Json),
        3 => any::<usize>().prop_map(Body::Truncated),
        3 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Body::Flipped(i, b)),
        1 => prop_oneof![1usize..64, 64usize..32_000].prop_map(Body::Nested),
        1 => (OVERSIZED..OVERSIZED * 3).prop_map(Body::Oversized),
        1 => Just(Body::Entities),
    ]
}

fn render(body: &Body, endpoint: &Endpoint) -> Vec<u8> {
    let valid = endpoint.valid.as_bytes();
    match body {
        Body::Bytes(b) => b.clone(),
        Body::Text(t) => t.clone().into_bytes(),
        Body::Json(v) => v.to_string().into_bytes(),
        // Strictly shorter than the valid body, so never the valid body itself.
        Body::Truncated(at) => valid[..at % valid.len().max(1)].to_vec(),
        Body::Flipped(at, byte) => {
            let mut b = valid.to_vec();
            // In JSON, a changed letter may well be another valid request (another
            // login code, another name): only bytes JSON allows nowhere are used.
            // In a signed notify, any change must fail the signature.
            let byte = if endpoint.xml {
                *byte
            } else {
                [0x00, 0x01, 0x08, 0x1f, 0xc0, 0xff][usize::from(*byte) % 6]
            };
            if let Some(slot) = b.get_mut(at % valid.len().max(1)) {
                // Always a different byte.
                *slot = if *slot == byte { byte.wrapping_add(1) } else { byte };
            }
            b
        }
        Body::Nested(depth) if endpoint.xml => {
            format!("<xml>{}{}</xml>", "<a>".repeat(*depth), "</a>".repeat(*depth)).into_bytes()
        }
        Body::Nested(depth) => format!("{}{}", "[".repeat(*depth), "]".repeat(*depth)).into_bytes(),
        Body::Oversized(len) => {
            let mut b = valid.to_vec();
            b.resize(*len, b' ');
            b
        }
        Body::Entities => concat!(
            r#"<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa">"#,
            r#"<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>"#,
            r#"<xml><return_code>SUCCESS</return_code><total_fee>&c;</total_fee></xml>"#
        )
        .as_bytes()
        .to_vec(),
    }
}

/// The server, a shopper, a product and an unpaid order, and every endpoint.
struct Fixture {
    app: TestApp,
    /// Without a connection pool: the server closes a connection after refusing an
    /// oversized body, and a pooled client would send the next request into it.
    http: reqwest::Client,
    shopper: String,
    endpoints: Vec<Endpoint>,
}

async fn fixture() -> Fixture {
    let app = spawn_app().await;
    let shopper = app.shopper("garbage").await;
    let product = app.create_product("乌龙茶", 500, 10).await;
    let order = app.place_order(&shopper, &[(&product, 1)], None).await;
    assert_eq!(order.status, 201, "place order: {}", order.text);
    let order_id = order.str("order_id");
    let out_trade_no = order_id.replace('-', "");
    let notify = PayNotifyDraft {
        appid: app.sim_config.appid.clone(),
        mch_id: app.sim_config.mch_id.clone(),
        out_trade_no,
        transaction_id: "4200000000202406181234567890".into(),
        total_fee: 500,
    }
    .signed(&app.api_key());
    let endpoint = |post, path: String, auth, valid: Value| Endpoint {
        post,
        path,
        auth,
        valid: valid.to_string(),
        xml: false,
    };
    let mut endpoints = vec![
        endpoint(
            true,
            "/v1/auth/wechat".into(),
            Auth::None,
            json!({"code": "x"}),
        ),
        endpoint(
            true,
            "/v1/register".into(),
            Auth::None,
            json!({"username": "bob", "password": "correct horse battery"}),
        ),
        endpoint(
            true,
            "/v1/auth/password".into(),
            Auth::None,
            json!({"username": "bob", "password": "correct horse battery"}),
        ),
        endpoint(
            true,
            "/v1/admin/products".into(),
            Auth::Admin,
            json!({"name": "红茶", "price_fen": 100, "stock": 1}),
        ),
        endpoint(
            true,
            format!("/v1/admin/products/{product}/stock"),
            Auth::Admin,
            json!({"delta": 1, "reason": "盘点"}),
        ),
        endpoint(
            true,
            "/v1/orders".into(),
            Auth::Shopper,
            json!({"items": [{"product_id": product, "quantity": 1}]}),
        ),
        endpoint(
            true,
            format!("/v1/admin/orders/{order_id}/refund"),
            Auth::Admin,
            json!({"amount_fen": 100, "reason": "退货"}),
        ),
        // Unknown orders: these endpoints ignore the body, so a real order would change.
        endpoint(
            true,
            "/v1/orders/01900000-0000-7000-8000-00000000dead/cancel".into(),
            Auth::Shopper,
            json!({}),
        ),
        endpoint(
            true,
            "/v1/orders/01900000-0000-7000-8000-00000000dead/pay".into(),
            Auth::Shopper,
            json!({}),
        ),
    ];
    for path in ["/v1/wechat/pay/notify", "/v1/wechat/refund/notify"] {
        endpoints.push(Endpoint {
            post: true,
            path: path.into(),
            auth: Auth::None,
            valid: notify.clone(),
            xml: true,
        });
    }
    Fixture {
        app,
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("client"),
        shopper,
        endpoints,
    }
}

/// Sends one bad request and checks it changed nothing.
async fn send(f: &Fixture, endpoint: &Endpoint, body: &Body) -> Result<(), TestCaseError> {
    let head = f.app.log_head();
    let bytes = render(body, endpoint);
    let url = format!("{}{}", f.app.base, endpoint.path);
    let mut request = if endpoint.post {
        f.http.post(url)
    } else {
        f.http.get(url)
    };
    let content_type = if endpoint.xml {
        "text/xml"
    } else {
        "application/json"
    };
    request = request.header("content-type", content_type).body(bytes);
    match endpoint.auth {
        Auth::None => {}
        Auth::Shopper => request = request.bearer_auth(&f.shopper),
        Auth::Admin => request = request.bearer_auth(ADMIN_TOKEN),
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            prop_assert!(status < 500, "{status} from {}: {text}", endpoint.path);
            if !endpoint.xml {
                prop_assert!((400..500).contains(&status), "{status}: {text}");
                let json: Value = serde_json::from_str(&text)
                    .map_err(|e| TestCaseError::fail(format!("not JSON ({e}): {text}")))?;
                prop_assert!(json["error"]["code"].is_string(), "error shape: {text}");
            } else {
                prop_assert!(text.contains("FAIL"), "notify acknowledged: {text}");
            }
        }
        // The server may answer 413 and close before reading an oversized body.
        Err(e) => prop_assert!(
            matches!(body, Body::Oversized(_)),
            "transport error on {}: {e}",
            endpoint.path
        ),
    }
    prop_assert_eq!(f.app.log_head(), head, "bad input changed the log");
    Ok(())
}

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/garbage.txt"
        )))),
        ..Config::default()
    }
}

#[test]
fn bad_input_never_fails_the_server_nor_changes_anything() {
    let runtime = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime"),
    );
    let f = runtime.block_on(fixture());
    let count = f.endpoints.len();
    let mut runner = TestRunner::new(config());
    let result = runner.run(&(0..count, body()), |(index, body)| {
        runtime.block_on(send(&f, &f.endpoints[index], &body))
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    runtime.block_on(async {
        let health = f.app.health().await;
        assert_eq!(health.status, 200, "still healthy: {}", health.text);
    });
}

#[test]
fn garbage_in_paths_and_queries_is_a_clean_4xx() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let f = runtime.block_on(fixture());
    let mut runner = TestRunner::new(config());
    let segment = prop_oneof![
        "\\PC{0,64}",
        "[0-9a-f-]{0,40}",
        Just("%00".to_owned()),
        Just("..%2F..%2Fetc%2Fpasswd".to_owned()),
        (0usize..5000).prop_map(|n| "9".repeat(n)),
    ];
    let result = runner.run(&(0usize..5, segment), |(route, segment)| {
        let encoded: String = segment
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.%".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let path = match route {
            0 => format!("/v1/products/{encoded}"),
            1 => format!("/v1/products?{encoded}"),
            2 => format!("/v1/orders/{encoded}"),
            3 => format!("/v1/orders?{encoded}"),
            _ => format!("/v1/orders/{encoded}/cancel"),
        };
        runtime.block_on(async {
            let head = f.app.log_head();
            let method = if route == 4 {
                reqwest::Method::POST
            } else {
                reqwest::Method::GET
            };
            let answer = f.app.request(method, &path, Some(&f.shopper), None).await;
            // A garbage query may still be a valid listing (unknown parameters are
            // ignored): what matters is no 5xx and no change.
            prop_assert!(
                answer.status < 500,
                "{} from {path}: {}",
                answer.status,
                answer.text
            );
            if answer.status >= 400 {
                prop_assert!(answer.error_code() != "", "error shape: {}", answer.text);
            }
            prop_assert_eq!(f.app.log_head(), head);
            Ok(())
        })
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}
