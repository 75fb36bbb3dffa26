//! End-to-end: the admin audit endpoints (order history and `as_of`, the log's pages,
//! the daily sales report) over real HTTP, against a history scripted through the API
//! and the WeChat simulator, and checked against the log and the audit library.

// Test code: helpers fail the test with a message, as the tests themselves do
// (clippy.toml allows that inside #[test] functions, not in their helpers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};
use paylog_core::OrderId;
use paylog_projections::audit::order_history;
use paylog_tests::{ADMIN_TOKEN, Answer, TestApp, TestConfig, spawn_app, spawn_app_with};
use reqwest::Method;
use serde_json::{Value, json};

/// Typed calls to the audit endpoints (kept here, beside their only users).
trait AuditApi {
    async fn history_as(&self, token: Option<&str>, id: &str, query: &str) -> Answer;
    async fn events_page_as(&self, token: Option<&str>, query: &str) -> Answer;
    async fn daily_as(&self, token: Option<&str>, query: &str) -> Answer;

    async fn history(&self, id: &str, query: &str) -> Answer {
        self.history_as(Some(ADMIN_TOKEN), id, query).await
    }
    async fn events_page(&self, query: &str) -> Answer {
        self.events_page_as(Some(ADMIN_TOKEN), query).await
    }
    async fn daily(&self, query: &str) -> Answer {
        self.daily_as(Some(ADMIN_TOKEN), query).await
    }
}

impl AuditApi for TestApp {
    async fn history_as(&self, token: Option<&str>, id: &str, query: &str) -> Answer {
        let path = format!("/v1/admin/orders/{id}/history{query}");
        self.request(Method::GET, &path, token, None).await
    }
    async fn events_page_as(&self, token: Option<&str>, query: &str) -> Answer {
        self.request(
            Method::GET,
            &format!("/v1/admin/events{query}"),
            token,
            None,
        )
        .await
    }
    async fn daily_as(&self, token: Option<&str>, query: &str) -> Answer {
        self.request(
            Method::GET,
            &format!("/v1/admin/reports/daily{query}"),
            token,
            None,
        )
        .await
    }
}

/// What the scripted history left behind.
struct Scripted {
    token: String,
    /// Placed, paid 2500 fen, 1000 fen refunded (confirmed by WeChat's notify).
    paid: String,
    /// Placed and never paid.
    unpaid: String,
}

/// Register, create a product, place two orders, pay one through the simulator and
/// refund part of it; waits until the views show all of it.
async fn scripted(app: &TestApp) -> Scripted {
    assert_eq!(
        app.register("auditee", "long enough password").await.status,
        201
    );
    let token = app.shopper("audit").await;
    let tea = app.create_product("Tea", 2500, 10).await;
    let placed = app.place_order(&token, &[(&tea, 1)], None).await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    let paid = placed.str("order_id");
    assert_eq!(app.pay(&token, &paid).await.status, 200);
    let sim = app.sim_pay(&placed.str("out_trade_no"), json!({})).await;
    assert_eq!(sim.status, 200, "{}", sim.text);
    app.wait_for_status(&token, &paid, "Paid").await;
    let refund = app.refund(&paid, 1000, "one cup broke").await;
    assert_eq!(refund.status, 202, "{}", refund.text);
    let order = app
        .wait_for_status(&token, &paid, "PartiallyRefunded")
        .await;
    assert_eq!(order.json["refunded_fen"], 1000);
    let unpaid = app.place_order(&token, &[(&tea, 2)], None).await;
    assert_eq!(unpaid.status, 201, "{}", unpaid.text);
    Scripted {
        token,
        paid,
        unpaid: unpaid.str("order_id"),
    }
}

fn instant(value: &Value) -> DateTime<Utc> {
    let text = value.as_str().unwrap_or_default();
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text:?} is not RFC 3339: {e}"))
        .with_timezone(&Utc)
}

/// An RFC 3339 instant as a query value (`+` would otherwise read as a space).
fn query_instant(at: DateTime<FixedOffset>) -> String {
    at.to_rfc3339().replace('+', "%2B")
}

#[tokio::test]
async fn the_history_shows_every_event_with_the_state_after_it_like_the_cli() {
    let app = spawn_app().await;
    let s = scripted(&app).await;
    let answer = app.history(&s.paid, "").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = &answer.json;
    assert_eq!(body["order_id"], s.paid.as_str());
    assert!(body.get("as_of").is_none(), "{}", answer.text);
    let entries = body["entries"].as_array().cloned().unwrap_or_default();

    // The event types are the stream's, in order, as the log holds them.
    let types: Vec<&str> = entries
        .iter()
        .map(|e| e["event_type"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(types, app.stream_events(&format!("order-{}", s.paid)).await);
    assert_eq!(
        types,
        [
            "OrderPlaced",
            "PaymentRequested",
            "PaymentConfirmed",
            "RefundRequested",
            "RefundConfirmed"
        ]
    );
    // Positions grow, versions count 1.., each has a command id and a decoded payload.
    let mut last_position = 0;
    for (i, entry) in entries.iter().enumerate() {
        let position = entry["position"].as_u64().unwrap_or(0);
        assert!(position > last_position, "{entry}");
        last_position = position;
        assert_eq!(entry["stream_version"], i as u64 + 1);
        assert!(uuid::Uuid::parse_str(entry["command_id"].as_str().unwrap_or_default()).is_ok());
        assert_eq!(
            entry["event"]["type"], types[i],
            "payload decoded as JSON: {entry}"
        );
        instant(&entry["recorded_at"]);
    }
    assert_eq!(entries[0]["event"]["order_id"], s.paid.as_str());
    assert_eq!(entries[3]["event"]["amount"], 1000);

    // The state after each event.
    let statuses: Vec<&str> = entries
        .iter()
        .map(|e| e["state"]["status"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        statuses,
        [
            "Placed",
            "PaymentRequested",
            "Paid",
            "Refunding",
            "PartiallyRefunded"
        ]
    );
    let money = |e: &Value| (e["state"]["paid"].clone(), e["state"]["refunded"].clone());
    assert_eq!(money(&entries[0]), (json!(0), json!(0)));
    assert_eq!(money(&entries[2]), (json!(2500), json!(0)));
    assert_eq!(entries[3]["state"]["pending_refunds"], 1000);
    assert_eq!(money(&entries[4]), (json!(2500), json!(1000)));
    assert_eq!(body["state"], entries[4]["state"], "state: the current one");

    // The CLI's library call, serialised as `paylog audit order --json` prints it,
    // gives exactly the same history.
    let order_id: OrderId = s.paid.parse().expect("an order id");
    let library = order_history(&*app.handles.store, order_id)
        .await
        .expect("history from the library");
    let library = serde_json::to_value(&library).expect("serialisable");
    assert_eq!(body["entries"], library["entries"]);
    assert_eq!(body["order_id"], library["order_id"]);

    // The unpaid order has a history of its own.
    let unpaid = app.history(&s.unpaid, "").await;
    assert_eq!(unpaid.json["entries"].as_array().map(Vec::len), Some(1));
    assert_eq!(unpaid.json["state"]["status"], "Placed");
    assert_eq!(unpaid.json["state"]["total"], 5000);
}

#[tokio::test]
async fn as_of_answers_as_paylog_knew_the_order_at_that_instant() {
    let app = spawn_app().await;
    let s = scripted(&app).await;
    let full = app.history(&s.paid, "").await;
    let entries = full.json["entries"].as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 5, "{}", full.text);
    let order_id: OrderId = s.paid.parse().expect("an order id");
    let library = order_history(&*app.handles.store, order_id)
        .await
        .expect("history from the library");

    // Between PaymentConfirmed and RefundRequested (they are seconds-apart HTTP calls
    // in the script, so a midpoint strictly between them exists).
    let confirmed = instant(&entries[2]["recorded_at"]);
    let requested = instant(&entries[3]["recorded_at"]);
    assert!(confirmed < requested);
    let between = confirmed + (requested - confirmed) / 2;
    let shanghai = FixedOffset::east_opt(8 * 3600).expect("UTC+8");
    for at in [between.fixed_offset(), between.with_timezone(&shanghai)] {
        let answer = app
            .history(&s.paid, &format!("?as_of={}", query_instant(at)))
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(instant(&answer.json["as_of"]), between);
        assert_eq!(answer.json["state"], entries[2]["state"]);
        assert_eq!(answer.json["state"]["status"], "Paid");
        assert_eq!(answer.json["state"]["refunded"], 0);
        assert_eq!(answer.json["entries"], json!(entries[..3]));
        // The same as `paylog audit order --as-of … --json`.
        let cli_state = serde_json::to_value(library.state_as_of(between)).expect("state");
        assert_eq!(answer.json["state"], cli_state);
    }

    // At an event's own instant, that event is known.
    let at_request = query_instant(requested.fixed_offset());
    let answer = app.history(&s.paid, &format!("?as_of={at_request}")).await;
    assert_eq!(answer.json["state"]["status"], "Refunding");

    // Before the order was placed: no state, no events.
    let before = instant(&entries[0]["recorded_at"]) - Duration::seconds(1);
    let answer = app
        .history(
            &s.paid,
            &format!("?as_of={}", query_instant(before.fixed_offset())),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json["state"], Value::Null);
    assert_eq!(answer.json["entries"], json!([]));

    // Far in the future: everything.
    let answer = app.history(&s.paid, "?as_of=2999-01-01T00:00:00Z").await;
    assert_eq!(answer.json["state"], full.json["state"]);
    assert_eq!(answer.json["entries"], full.json["entries"]);
}

#[tokio::test]
async fn the_log_pages_through_every_event_once_in_order() {
    let app = spawn_app().await;
    let s = scripted(&app).await;
    let head = app.log_head();
    assert!(head >= 10, "the script appends a dozen events: {head}");

    let mut positions = Vec::new();
    let mut after = 0;
    let mut pages = 0;
    loop {
        let page = app.events_page(&format!("?after={after}&limit=3")).await;
        assert_eq!(page.status, 200, "{}", page.text);
        assert_eq!(page.json["head"], head);
        let events = page.json["events"].as_array().cloned().unwrap_or_default();
        assert!(events.len() <= 3);
        let next = page.json["next_after"].as_u64().unwrap_or(u64::MAX);
        if events.is_empty() {
            assert_eq!(next, after, "an empty page leaves the cursor where it was");
            break;
        }
        assert_eq!(
            events.last().map(|e| e["position"].clone()),
            Some(json!(next))
        );
        positions.extend(events.iter().filter_map(|e| e["position"].as_u64()));
        after = next;
        pages += 1;
        assert!(pages <= head, "paging must end");
    }
    assert_eq!(positions, (1..=head).collect::<Vec<_>>());

    // Envelopes with their payload inline as JSON, the order's events among them.
    let all = app.events_page("?limit=1000").await;
    let events = all.json["events"].as_array().cloned().unwrap_or_default();
    assert_eq!(events.len() as u64, head);
    let stream = format!("order-{}", s.paid);
    let placed = events
        .iter()
        .find(|e| e["stream_id"] == stream.as_str() && e["event_type"] == "OrderPlaced")
        .unwrap_or_else(|| panic!("no OrderPlaced of {stream}: {}", all.text));
    assert_eq!(placed["stream_version"], 1);
    assert_eq!(placed["payload"]["order_id"], s.paid.as_str());
    for field in [
        "recorded_at",
        "command_id",
        "correlation_id",
        "schema_version",
    ] {
        assert!(!placed[field].is_null(), "{field} missing: {placed}");
    }

    // The limit is clamped and defaults to 100.
    let one = app.events_page("?limit=0").await;
    assert_eq!(one.json["events"].as_array().map(Vec::len), Some(1));
    assert_eq!(one.json["next_after"], 1);
    let capped = app.events_page("?after=2&limit=999999").await;
    assert_eq!(
        capped.json["events"].as_array().map(Vec::len),
        Some(head as usize - 2)
    );
    assert_eq!(capped.json["events"][0]["position"], 3);
    let default = app.events_page("").await;
    assert_eq!(
        default.json["events"].as_array().map(Vec::len),
        Some(head as usize)
    );
    let past = app.events_page(&format!("?after={}", head + 50)).await;
    assert_eq!((past.status, past.json["events"].clone()), (200, json!([])));
    assert_eq!(past.json["next_after"], head + 50);
}

#[tokio::test]
async fn the_daily_report_counts_orders_payments_and_refunds_per_shanghai_day() {
    let app = spawn_app().await;
    let s = scripted(&app).await;
    let history = app.history(&s.paid, "").await;
    let shanghai = FixedOffset::east_opt(8 * 3600).expect("UTC+8");
    let placed_on = instant(&history.json["entries"][0]["recorded_at"])
        .with_timezone(&shanghai)
        .date_naive();
    let (from, to) = (placed_on - Duration::days(1), placed_on + Duration::days(1));
    let report = app.daily(&format!("?from={from}&to={to}")).await;
    assert_eq!(report.status, 200, "{}", report.text);
    assert_eq!(report.json["from"], from.to_string());
    assert_eq!(report.json["to"], to.to_string());
    assert_eq!(
        report.json["totals"],
        json!({ "orders_placed": 2, "orders_paid": 1, "paid_fen": 2500, "refunded_fen": 1000 })
    );
    let days = report.json["days"].as_array().cloned().unwrap_or_default();
    assert!(!days.is_empty() && days.len() <= 3, "{}", report.text);
    let placed_day = days
        .iter()
        .find(|d| d["date"] == placed_on.to_string())
        .unwrap_or_else(|| panic!("no row for {placed_on}: {}", report.text));
    assert!(placed_day["orders_placed"].as_u64().unwrap_or(0) >= 1);
    for day in &days {
        let date: NaiveDate = day["date"]
            .as_str()
            .unwrap_or_default()
            .parse()
            .expect("a date");
        assert!((from..=to).contains(&date), "{day}");
    }

    // A range without activity: no rows, zero totals. One day (from = to) is fine.
    let quiet = app.daily("?from=2001-01-01&to=2001-01-01").await;
    assert_eq!(quiet.status, 200, "{}", quiet.text);
    assert_eq!(quiet.json["days"], json!([]));
    assert_eq!(quiet.json["totals"]["orders_placed"], 0);
}

#[tokio::test]
async fn audit_endpoints_need_the_admin_token() {
    let app = spawn_app().await;
    let s = scripted(&app).await;
    let head = app.log_head();
    let history = format!("/v1/admin/orders/{}/history", s.paid);
    for path in [
        history.as_str(),
        "/v1/admin/events",
        "/v1/admin/reports/daily?from=2026-01-01&to=2026-01-02",
    ] {
        for token in [None, Some("guess"), Some(s.token.as_str())] {
            let answer = app.request(Method::GET, path, token, None).await;
            assert_eq!(
                (answer.status, answer.error_code()),
                (401, "unauthorized"),
                "{path}"
            );
            assert!(
                !answer.json["error"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .is_empty()
            );
            assert!(answer.json["entries"].is_null() && answer.json["events"].is_null());
        }
    }
    assert_eq!(app.log_head(), head, "reads append nothing");

    let off = spawn_app_with(TestConfig {
        admin_token: None,
        ..TestConfig::default()
    })
    .await;
    let refused = off.events_page("").await;
    assert_eq!(
        (refused.status, refused.error_code()),
        (403, "admin_disabled")
    );
    let refused = off.history(&s.paid, "").await;
    assert_eq!(
        (refused.status, refused.error_code()),
        (403, "admin_disabled")
    );
    let refused = off.daily("?from=2026-01-01&to=2026-01-02").await;
    assert_eq!(refused.status, 403);
}

#[tokio::test]
async fn bad_parameters_are_400_and_unknown_orders_404_with_the_json_error_shape() {
    let app = spawn_app().await;
    let s = scripted(&app).await;
    let head = app.log_head();
    let cases: Vec<(Answer, u16, &str)> = vec![
        (app.history("not-a-uuid", "").await, 400, "invalid_path"),
        (
            app.history(&s.paid, "?as_of=yesterday").await,
            400,
            "invalid_as_of",
        ),
        (
            app.history(&s.paid, "?as_of=2026-01-01").await,
            400,
            "invalid_as_of",
        ),
        // An unencoded `+` arrives as a space: not RFC 3339.
        (
            app.history(&s.paid, "?as_of=2026-01-01T08:00:00+08:00")
                .await,
            400,
            "invalid_as_of",
        ),
        (
            app.history(&uuid::Uuid::now_v7().to_string(), "").await,
            404,
            "not_found",
        ),
        (
            app.history(
                &uuid::Uuid::now_v7().to_string(),
                "?as_of=2026-01-01T00:00:00Z",
            )
            .await,
            404,
            "not_found",
        ),
        // Bad input is judged before the log is read, even for an unknown order.
        (
            app.history(&uuid::Uuid::now_v7().to_string(), "?as_of=x")
                .await,
            400,
            "invalid_as_of",
        ),
        (app.events_page("?after=-1").await, 400, "invalid_query"),
        (app.events_page("?after=abc").await, 400, "invalid_query"),
        (app.events_page("?limit=ten").await, 400, "invalid_query"),
        (app.events_page("?limit=-5").await, 400, "invalid_query"),
        (app.daily("").await, 400, "invalid_query"),
        (app.daily("?from=2026-01-01").await, 400, "invalid_query"),
        (
            app.daily("?from=2026-13-01&to=2026-12-31").await,
            400,
            "invalid_query",
        ),
        (
            app.daily("?from=20260101&to=20260102").await,
            400,
            "invalid_query",
        ),
        (
            app.daily("?from=2026-01-05&to=2026-01-04").await,
            400,
            "invalid_range",
        ),
        (
            app.daily("?from=2020-01-01&to=2026-01-01").await,
            400,
            "invalid_argument",
        ),
    ];
    for (i, (answer, status, code)) in cases.iter().enumerate() {
        assert_eq!(
            (answer.status, answer.error_code()),
            (*status, *code),
            "case {i}: {}",
            answer.text
        );
        let message = answer.json["error"]["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "case {i}: {}", answer.text);
        assert!(
            !message.contains("rocksdb") && !message.contains("panicked"),
            "{message}"
        );
    }
    // The longest range the views answer (366 days) is fine; one more day is not.
    assert_eq!(
        app.daily("?from=2025-01-01&to=2026-01-01").await.status,
        200
    );
    assert_eq!(
        app.daily("?from=2024-01-01&to=2024-12-31").await.status,
        200
    );
    assert_eq!(
        app.daily("?from=2024-01-01&to=2025-01-01").await.status,
        400
    );
    assert_eq!(app.log_head(), head, "nothing was appended");
}

#[tokio::test]
async fn the_openapi_document_lists_the_audit_endpoints() {
    let app = spawn_app().await;
    let doc = app.openapi().await;
    assert_eq!(doc.status, 200);
    for path in [
        "/v1/admin/orders/{id}/history",
        "/v1/admin/events",
        "/v1/admin/reports/daily",
    ] {
        let get = &doc.json["paths"][path]["get"];
        assert!(get.is_object(), "{path} missing from the OpenAPI document");
        assert_eq!(get["tags"][0], "admin", "{path}");
    }
}

#[tokio::test]
async fn the_events_page_redacts_password_hashes_unless_asked() {
    let app = spawn_app().await;
    let registered = app.register("carol", "a long enough password").await;
    assert!(registered.status < 300, "{}", registered.text);

    let page = app.events_page("").await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(!page.text.contains("$argon2"), "{}", page.text);
    assert!(page.text.contains("<redacted>"), "{}", page.text);
    assert!(page.text.contains("carol"), "{}", page.text);

    let full = app.events_page("?include_password_hashes=true").await;
    assert_eq!(full.status, 200, "{}", full.text);
    assert!(full.text.contains("$argon2id$"), "{}", full.text);
    app.stop().await;
}
