//! The operators' console over plain HTTP: who may reach each page (no session →
//! sign-in, a wrong CSRF token → 403 and nothing changed), that sessions end (sign-out,
//! idle expiry on the app's clock), that every user-controlled string renders as
//! text, that a double-submitted form is one command, and the language choice.

// Test code: helpers fail the test with a message, as the tests themselves do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use paylog_tests::{ADMIN_TOKEN, TestApp, spawn_app};
use reqwest::header::{ACCEPT_LANGUAGE, COOKIE, LOCATION, SET_COOKIE};
use serde_json::json;

/// A client that shows redirects instead of following them, and keeps no cookies:
/// each request says which session it carries.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

struct Page {
    status: u16,
    location: Option<String>,
    set_cookie: Vec<String>,
    text: String,
}

async fn page_of(response: reqwest::Response) -> Page {
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get(LOCATION)
        .map(|v| v.to_str().expect("location").to_owned());
    let set_cookie = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().expect("cookie").to_owned())
        .collect();
    let text = response.text().await.expect("body");
    Page {
        status,
        location,
        set_cookie,
        text,
    }
}

async fn get(app: &TestApp, path: &str, cookie: Option<&str>) -> Page {
    let mut req = client().get(format!("{}{path}", app.base));
    if let Some(c) = cookie {
        req = req.header(COOKIE, c);
    }
    page_of(req.send().await.expect("get")).await
}

async fn post(app: &TestApp, path: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> Page {
    let mut req = client().post(format!("{}{path}", app.base)).form(form);
    if let Some(c) = cookie {
        req = req.header(COOKIE, c);
    }
    page_of(req.send().await.expect("post")).await
}

/// Signs in with the admin token; returns the `Cookie` header value of the session.
async fn sign_in(app: &TestApp) -> String {
    let answer = post(app, "/console/sign-in", None, &[("token", ADMIN_TOKEN)]).await;
    assert_eq!(answer.status, 303, "{}", answer.text);
    let set = answer
        .set_cookie
        .iter()
        .find(|c| c.starts_with("paylog_console="))
        .expect("a session cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(set.contains(flag), "{set} lacks {flag}");
    }
    set.split(';').next().expect("name=value").to_owned()
}

/// The value of the first hidden input `name` in `html` (inside `form_id` if given).
fn hidden(html: &str, form_id: Option<&str>, name: &str) -> String {
    let start = form_id.map_or(0, |id| {
        html.find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no form {id} in {html}"))
    });
    let marker = format!("name=\"{name}\" value=\"");
    let at = html[start..].find(&marker).expect("hidden input") + start + marker.len();
    let end = html[at..].find('"').expect("end of value") + at;
    html[at..end].to_owned()
}

/// A paid order of `total` fen of a product called `name`; returns (token, order id).
async fn paid_order(app: &TestApp, name: &str, total: u64) -> (String, String) {
    let token = app.shopper("console").await;
    let product = app.create_product(name, total, 10).await;
    let placed = app.place_order(&token, &[(&product, 1)], None).await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    let (id, out_trade_no) = (placed.str("order_id"), placed.str("out_trade_no"));
    app.pay(&token, &id).await;
    app.sim_pay(&out_trade_no, json!({})).await;
    app.wait_for_status(&token, &id, "Paid").await;
    (token, id)
}

#[tokio::test]
async fn without_a_session_every_page_sends_to_sign_in_and_every_post_changes_nothing() {
    let app = spawn_app().await;
    let (_token, id) = paid_order(&app, "Tea", 500).await;
    let sign_in_page = get(&app, "/console/sign-in", None).await;
    assert_eq!(sign_in_page.status, 200);
    assert!(sign_in_page.text.contains("name=\"token\""));
    assert_eq!(
        get(&app, "/console/static/console.css", None).await.status,
        200
    );
    let order = format!("/console/orders/{id}");
    let product_page = format!("/console/catalog/{}", uuid::Uuid::now_v7());
    for cookie in [None, Some("paylog_console=not-a-session")] {
        for path in [
            "/console/today",
            "/console/orders",
            order.as_str(),
            "/console/money",
            "/console/catalog",
            product_page.as_str(),
            "/console/log",
        ] {
            let answer = get(&app, path, cookie).await;
            assert_eq!(answer.status, 303, "{path}");
            assert_eq!(
                answer.location.as_deref(),
                Some("/console/sign-in"),
                "{path}"
            );
        }
        let head = app.log_head();
        let product = app.create_product("Cup", 100, 1).await;
        let head_before = app.log_head();
        assert!(head_before > head);
        for path in [
            format!("/console/orders/{id}/refund"),
            format!("/console/orders/{id}/ship"),
            format!("/console/orders/{id}/cancel"),
            "/console/catalog".to_owned(),
            format!("/console/catalog/{product}/stock"),
            format!("/console/money/anomalies/{id}/4200000000202601011234567890/refund"),
            "/console/sign-out".to_owned(),
        ] {
            let form = [
                ("csrf", "x"),
                ("key", "k1"),
                ("amount_fen", "100"),
                ("reason", "r"),
                ("item_desc", "tea"),
                ("logistics_type", "express"),
                ("name", "Pen"),
                ("price_fen", "100"),
                ("stock", "1"),
                ("delta", "5"),
            ];
            let answer = post(&app, &path, cookie, &form).await;
            assert_eq!(answer.status, 303, "{path}");
            assert_eq!(
                answer.location.as_deref(),
                Some("/console/sign-in"),
                "{path}"
            );
        }
        assert_eq!(
            app.log_head(),
            head_before,
            "a POST without a session wrote"
        );
    }
    // The JSON API keeps its bearer tokens: a console session is no admin token.
    let cookie = sign_in(&app).await;
    let response = client()
        .get(format!("{}/v1/admin/anomalies", app.base))
        .header(COOKIE, &cookie)
        .send()
        .await
        .expect("get");
    assert_eq!(response.status().as_u16(), 401);
}

#[tokio::test]
async fn a_wrong_token_signs_nobody_in() {
    let app = spawn_app().await;
    let answer = post(
        &app,
        "/console/sign-in",
        None,
        &[("token", "not-the-token")],
    )
    .await;
    assert_eq!(answer.status, 401);
    assert!(
        answer
            .set_cookie
            .iter()
            .all(|c| !c.starts_with("paylog_console="))
    );
}

#[tokio::test]
async fn a_post_with_a_wrong_csrf_token_is_403_and_changes_nothing() {
    let app = spawn_app().await;
    let (_token, id) = paid_order(&app, "Tea", 500).await;
    let product = app.create_product("Cup", 100, 1).await;
    let cookie = sign_in(&app).await;
    let order = get(&app, &format!("/console/orders/{id}"), Some(&cookie)).await;
    assert_eq!(order.status, 200);
    let key = hidden(&order.text, Some("refund-form"), "key");
    let head = app.log_head();
    for (path, form) in [
        (
            format!("/console/orders/{id}/refund"),
            vec![
                ("key", key.as_str()),
                ("amount_fen", "100"),
                ("reason", "r"),
            ],
        ),
        (
            format!("/console/orders/{id}/ship"),
            vec![
                ("key", "k2"),
                ("logistics_type", "express"),
                ("item_desc", "tea"),
            ],
        ),
        (format!("/console/orders/{id}/cancel"), vec![]),
        (
            "/console/catalog".to_owned(),
            vec![
                ("key", "k3"),
                ("name", "Pen"),
                ("price_fen", "1"),
                ("stock", "1"),
            ],
        ),
        (
            format!("/console/catalog/{product}/stock"),
            vec![("key", "k4"), ("delta", "5"), ("reason", "delivery")],
        ),
    ] {
        for csrf in [None, Some("0".repeat(64))] {
            let mut form = form.clone();
            if let Some(c) = &csrf {
                form.push(("csrf", c.as_str()));
            }
            let answer = post(&app, &path, Some(&cookie), &form).await;
            assert_eq!(answer.status, 403, "{path}: {}", answer.text);
        }
    }
    assert_eq!(app.log_head(), head, "a POST with a wrong CSRF token wrote");
    assert_eq!(app.count_order_events(&id, "RefundRequested").await, 0);
    // The session still works: a wrong token is no sign-out.
    assert_eq!(get(&app, "/console/today", Some(&cookie)).await.status, 200);
}

#[tokio::test]
async fn a_double_submitted_refund_is_one_refund_shown_on_the_page() {
    let app = spawn_app().await;
    let (_token, id) = paid_order(&app, "Tea", 900).await;
    let cookie = sign_in(&app).await;
    let path = format!("/console/orders/{id}");
    let order = get(&app, &path, Some(&cookie)).await;
    let csrf = hidden(&order.text, Some("refund-form"), "csrf");
    let key = hidden(&order.text, Some("refund-form"), "key");
    let form = [
        ("csrf", csrf.as_str()),
        ("key", key.as_str()),
        ("amount_fen", "300"),
        ("reason", "damaged"),
    ];
    let first = post(&app, &format!("{path}/refund"), Some(&cookie), &form).await;
    let second = post(&app, &format!("{path}/refund"), Some(&cookie), &form).await;
    for answer in [&first, &second] {
        assert_eq!(answer.status, 303, "{}", answer.text);
        let to = answer.location.as_deref().expect("location");
        assert!(to.starts_with(&format!("{path}?notice=")), "{to}");
    }
    assert_eq!(
        first.location, second.location,
        "the same refund both times"
    );
    assert_eq!(app.count_order_events(&id, "RefundRequested").await, 1);
    let shown = get(&app, &path, Some(&cookie)).await;
    assert!(shown.text.contains("damaged"));
    assert!(
        shown.text.contains("RefundRequested"),
        "the timeline shows it"
    );
}

#[tokio::test]
async fn user_controlled_strings_render_as_text() {
    let app = spawn_app().await;
    let evil = "<script>alert(1)</script>";
    let (_token, id) = paid_order(&app, evil, 700).await;
    let refunded = app.refund(&id, 100, evil).await;
    assert_eq!(refunded.status, 202, "{}", refunded.text);
    let cookie = sign_in(&app).await;
    let escaped = "&lt;script&gt;alert(1)&lt;/script&gt;";
    for path in [
        format!("/console/orders/{id}"),
        "/console/catalog".to_owned(),
        "/console/log".to_owned(),
        format!(
            "/console/orders?user={}",
            "%3Cscript%3Ealert(1)%3C%2Fscript%3E"
        ),
        format!("/console/orders/{id}?notice=%3Cscript%3Ealert(1)%3C%2Fscript%3E"),
    ] {
        let page = get(&app, &path, Some(&cookie)).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(
            !page.text.contains(evil),
            "{path} renders markup from input"
        );
        assert!(
            page.text.contains(escaped) || page.text.contains("\\u003cscript"),
            "{path} does not show the string"
        );
    }
    let order = get(&app, &format!("/console/orders/{id}"), Some(&cookie)).await;
    assert_eq!(order.text.matches(escaped).count(), 2, "name and reason");

    // A stock adjustment's reason, given through the API, on the product's page.
    let product = app.create_product(evil, 100, 1).await;
    let adjusted = app
        .adjust_stock_with(&product, json!({ "delta": 4, "reason": evil }))
        .await;
    assert_eq!(adjusted.status, 200, "{}", adjusted.text);
    let page = get(&app, &format!("/console/catalog/{product}"), Some(&cookie)).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(!page.text.contains(evil), "the product page renders markup");
    // The name (title and heading) and the reason, each as text.
    assert!(
        page.text.matches(escaped).count() >= 3,
        "name and reason: {}",
        page.text
    );
}

#[tokio::test]
async fn stock_is_adjusted_from_the_console_with_a_reason_shown_on_the_product_page() {
    let app = spawn_app().await;
    let product = app.create_product("Cup", 100, 3).await;
    let cookie = sign_in(&app).await;
    let path = format!("/console/catalog/{product}");
    let page = get(&app, &path, Some(&cookie)).await;
    assert_eq!(page.status, 200, "{}", page.text);
    let csrf = hidden(&page.text, Some("adjust-form"), "csrf");
    let key = hidden(&page.text, Some("adjust-form"), "key");
    let head = app.log_head();
    // Without a usable reason: back to the page with the error, nothing appended.
    let too_long = "x".repeat(paylog_core::product::MAX_ADJUSTMENT_REASON_CHARS + 1);
    for reason in [None, Some("   "), Some(too_long.as_str())] {
        let mut form = vec![
            ("csrf", csrf.as_str()),
            ("key", key.as_str()),
            ("delta", "2"),
        ];
        if let Some(r) = reason {
            form.push(("reason", r));
        }
        let answer = post(&app, &format!("{path}/stock"), Some(&cookie), &form).await;
        assert_eq!(answer.status, 303, "{}", answer.text);
        let to = answer.location.as_deref().expect("location");
        assert!(
            to.starts_with(&format!("{path}?error=invalid_stock_adjustment_reason")),
            "{to}"
        );
    }
    assert_eq!(app.log_head(), head, "a refused adjustment appended");
    assert_eq!(app.stock(&product).await, 3);
    // With one: adjusted once even if submitted twice, and the reason is listed.
    let form = [
        ("csrf", csrf.as_str()),
        ("key", key.as_str()),
        ("delta", "-2"),
        ("reason", " two cups broke on the shelf "),
    ];
    for _ in 0..2 {
        let answer = post(&app, &format!("{path}/stock"), Some(&cookie), &form).await;
        assert_eq!(answer.status, 303, "{}", answer.text);
        let to = answer.location.as_deref().expect("location");
        assert!(to.starts_with(&format!("{path}?notice=")), "{to}");
    }
    assert_eq!(app.stock(&product).await, 1);
    let shown = get(&app, &path, Some(&cookie)).await;
    let table = &shown.text[shown.text.find("id=\"adjustments\"").expect("table")..];
    assert!(
        table.contains("<td class=\"reason\">two cups broke on the shelf</td>"),
        "{table}"
    );
    assert_eq!(
        table.matches("class=\"reason\"").count(),
        1,
        "adjusted once"
    );
    // The catalog links each product to its page.
    let catalog = get(&app, "/console/catalog", Some(&cookie)).await;
    assert!(catalog.text.contains(&format!("href=\"{path}\"")));
}

#[tokio::test]
async fn sign_out_and_idle_expiry_end_a_session() {
    let app = spawn_app().await;
    let cookie = sign_in(&app).await;
    let today = get(&app, "/console/today", Some(&cookie)).await;
    assert_eq!(today.status, 200);
    let csrf = hidden(&today.text, None, "csrf");
    let out = post(&app, "/console/sign-out", Some(&cookie), &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 303);
    assert_eq!(get(&app, "/console/today", Some(&cookie)).await.status, 303);

    let cookie = sign_in(&app).await;
    app.clock.advance(Duration::from_secs(20 * 60));
    assert_eq!(get(&app, "/console/today", Some(&cookie)).await.status, 200);
    app.clock.advance(Duration::from_secs(31 * 60));
    let expired = get(&app, "/console/today", Some(&cookie)).await;
    assert_eq!(expired.status, 303, "an idle session expires");
}

#[tokio::test]
async fn the_language_follows_the_switch_then_accept_language() {
    let app = spawn_app().await;
    let cookie = sign_in(&app).await;
    let zh = client()
        .get(format!("{}/console/orders", app.base))
        .header(COOKIE, &cookie)
        .header(ACCEPT_LANGUAGE, "zh-CN,zh;q=0.9,en;q=0.8")
        .send()
        .await
        .expect("get");
    let zh = page_of(zh).await;
    assert!(zh.text.contains("lang=\"zh\""));
    assert!(zh.text.contains("商户订单号"));
    let switch = get(
        &app,
        "/console/lang?to=en&back=/console/orders",
        Some(&cookie),
    )
    .await;
    assert_eq!(switch.status, 303);
    assert_eq!(switch.location.as_deref(), Some("/console/orders"));
    let lang = switch
        .set_cookie
        .iter()
        .find(|c| c.starts_with("paylog_console_lang=en"))
        .expect("lang cookie")
        .split(';')
        .next()
        .expect("name=value")
        .to_owned();
    let en = client()
        .get(format!("{}/console/orders", app.base))
        .header(COOKIE, format!("{cookie}; {lang}"))
        .header(ACCEPT_LANGUAGE, "zh-CN")
        .send()
        .await
        .expect("get");
    let en = page_of(en).await;
    assert!(en.text.contains("lang=\"en\""));
    // The switch never sends anyone off the console.
    let away = get(
        &app,
        "/console/lang?to=zh&back=https://evil.example",
        Some(&cookie),
    )
    .await;
    assert_eq!(away.location.as_deref(), Some("/console/today"));
}

#[tokio::test]
async fn every_page_renders_for_an_operator_and_the_log_redacts_password_hashes() {
    let app = spawn_app().await;
    let (_token, id) = paid_order(&app, "Tea", 500).await;
    let registered = app.register("alice", "correct horse battery").await;
    assert_eq!(registered.status, 201, "{}", registered.text);
    let cookie = sign_in(&app).await;
    for path in [
        "/console/today".to_owned(),
        "/console/orders".to_owned(),
        "/console/orders?status=Paid".to_owned(),
        format!("/console/orders/{id}"),
        format!("/console/orders/{id}?as_of=1"),
        "/console/money".to_owned(),
        "/console/catalog".to_owned(),
        format!(
            "/console/catalog/{}",
            app.create_product("Cup", 100, 1).await
        ),
        "/console/log".to_owned(),
        format!("/console/log?stream=order-{id}"),
    ] {
        let page = get(&app, &path, Some(&cookie)).await;
        assert_eq!(page.status, 200, "{path}: {}", page.text);
        assert!(
            !page.text.contains("$argon2"),
            "{path} shows a password hash"
        );
    }
    let listed = get(&app, "/console/orders?status=Paid", Some(&cookie)).await;
    assert!(listed.text.contains(&id));
    let none = get(&app, "/console/orders?status=Refunded", Some(&cookie)).await;
    assert!(!none.text.contains(&id));
    let today = get(&app, "/console/today", Some(&cookie)).await;
    assert!(today.text.contains("<svg id=\"sales-chart\""));
    assert!(today.text.contains("<svg id=\"hours-chart\""));
}

#[tokio::test]
async fn a_double_submitted_cancel_cancels_once() {
    let app = spawn_app().await;
    let token = app.shopper("console").await;
    let product = app.create_product("Tea", 300, 5).await;
    let placed = app.place_order(&token, &[(&product, 1)], None).await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    let id = placed.str("order_id");
    let cookie = sign_in(&app).await;
    let path = format!("/console/orders/{id}");
    let order = get(&app, &path, Some(&cookie)).await;
    let csrf = hidden(&order.text, Some("cancel-form"), "csrf");
    for _ in 0..2 {
        let answer = post(
            &app,
            &format!("{path}/cancel"),
            Some(&cookie),
            &[("csrf", &csrf)],
        )
        .await;
        assert_eq!(answer.status, 303);
        let to = answer.location.expect("location");
        assert!(to.starts_with(&format!("{path}?notice=")), "{to}");
    }
    assert_eq!(app.count_order_events(&id, "OrderCancelled").await, 1);
    assert_eq!(app.stock(&product).await, 5, "the unit is back once");
}
