//! The operators' console at `/console`: server-rendered HTML (maud) over the same
//! services as the JSON API, in Chinese and English. One file per page:
//! - `today.rs` (the day at a glance, with the SVG charts of `chart.rs`),
//! - `orders.rs` (the filtered list), `order.rs` (one order, its timeline from the log,
//!   its state as of any position, and the refund / ship / cancel actions),
//! - `money.rs` (anomalies, a day's reconciliation, pending refunds),
//! - `catalog.rs` (products, create, adjust stock), `log.rs` (the raw log);
//!
//! and the frame: `session.rs` (sign-in sessions and CSRF), `i18n.rs`, `layout.rs`.
//!
//! Every form is POST/redirect/GET: a POST checks the session's CSRF token, calls one
//! service, and redirects to a page that shows what happened. Actions carry an
//! idempotency key generated when the form was rendered, so a double submit is one
//! command. Without a session every page redirects to the sign-in page.

/// Registers console forms with the CSRF check of [`Posted`]: each has a `csrf` field.
macro_rules! csrf_form {
    ($($form:ty),* $(,)?) => {$(
        impl $crate::http::console::HasCsrf for $form {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        }
    )*};
}

mod catalog;
mod chart;
mod i18n;
mod layout;
mod log;
mod money;
mod order;
mod orders;
pub mod session;
mod today;

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use maud::{Markup, html};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use self::i18n::{K, LANG_COOKIE, Lang, t};
use self::layout::{Flash, Nav, encode, frame};
use self::session::{
    ABSOLUTE_TIMEOUT, Operator, SESSION_COOKIE, Sessions, over_https, see_other, set_cookie,
};
use super::error::ApiError;
use super::state::AppState;

/// The console's routes (nested at `/console` by [`super::app`]).
pub fn router(state: &AppState) -> Router<AppState> {
    let sessions = Arc::new(Sessions::new(Arc::clone(&state.clock)));
    Router::new()
        .route("/", get(|| async { see_other("/console/today") }))
        .route("/static/console.css", get(css))
        .route("/sign-in", get(sign_in_page).post(sign_in))
        .route("/sign-out", post(sign_out))
        .route("/lang", get(switch_lang))
        .route("/today", get(today::page))
        .route("/orders", get(orders::page))
        .route("/orders/{id}", get(order::page))
        .route("/orders/{id}/refund", post(order::refund))
        .route("/orders/{id}/ship", post(order::ship))
        .route("/orders/{id}/cancel", post(order::cancel))
        .route("/money", get(money::page))
        .route(
            "/money/anomalies/{id}/{transaction_id}/refund",
            post(money::refund_anomaly),
        )
        .route("/catalog", get(catalog::page).post(catalog::create))
        .route("/catalog/{id}", get(catalog::product))
        .route("/catalog/{id}/stock", post(catalog::adjust))
        .route("/log", get(log::page))
        .layer(Extension(sessions))
}

async fn css() -> Response {
    (
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            ),
            (CACHE_CONTROL, HeaderValue::from_static("max-age=3600")),
        ],
        include_str!("console.css"),
    )
        .into_response()
}

/// An HTML page with `status`; console pages are never cached (they show money).
fn html_page(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [(CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        markup,
    )
        .into_response()
}

/// The page a POST with a wrong or missing CSRF token gets: 403, nothing done.
/// A console form: it carries the session's CSRF token (see [`csrf_form!`]).
trait HasCsrf {
    fn csrf(&self) -> &str;
}

/// A form POSTed by a signed-in operator whose CSRF token is the session's: the only
/// way a console handler takes a form, so no action can skip the check (403 and
/// nothing done otherwise; without a session, the sign-in page).
struct Posted<T> {
    op: Operator,
    form: T,
}

impl<T: DeserializeOwned + HasCsrf + Send> FromRequest<AppState> for Posted<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let op = Operator::from_request_parts(&mut parts, state).await?;
        let Form(form) = Form::<T>::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        if !op.csrf_ok(form.csrf()) {
            return Err(forbidden(&op));
        }
        Ok(Posted { op, form })
    }
}

fn forbidden(op: &Operator) -> Response {
    failure_page(
        op,
        StatusCode::FORBIDDEN,
        html! { p.error #forbidden { (t(op.lang, K::Forbidden)) } },
    )
}

/// An error page for a read that failed, with the status the JSON API would give.
fn error_page(op: &Operator, err: ApiError) -> Response {
    failure_page(
        op,
        err.status,
        html! { p.error #error { (err.code) ": " (err.message) } },
    )
}

/// A page saying what failed, with `status`; its links lead back to Today.
fn failure_page(op: &Operator, status: StatusCode, body: Markup) -> Response {
    html_page(
        status,
        frame(
            op.lang,
            t(op.lang, K::Failed),
            Nav::None,
            Some(&op.csrf),
            "/console/today",
            &Flash::default(),
            body,
        ),
    )
}

/// A signed-in operator's page: 200, `nav` highlighted, the session's CSRF token in
/// its forms, and `uri` as the page the language switch and actions come back to.
fn operator_page(
    op: &Operator,
    uri: &Uri,
    title: &str,
    nav: Nav,
    flash: &Flash,
    body: Markup,
) -> Response {
    html_page(
        StatusCode::OK,
        frame(
            op.lang,
            title,
            nav,
            Some(&op.csrf),
            &uri.to_string(),
            flash,
            body,
        ),
    )
}

/// The redirect after an action: back to `to` with what happened in the query.
fn after_action(to: &str, outcome: Result<String, ApiError>) -> Response {
    let sep = if to.contains('?') { '&' } else { '?' };
    match outcome {
        Ok(notice) => see_other(&format!("{to}{sep}notice={}", encode(&notice))),
        Err(e) => see_other(&format!(
            "{to}{sep}error={}",
            encode(&format!("{}: {}", e.code, e.message))
        )),
    }
}

/// A fresh idempotency key for a form about to be rendered.
fn form_key() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[derive(Debug, Deserialize)]
struct SignInForm {
    token: String,
}

async fn sign_in_page(headers: HeaderMap) -> Response {
    sign_in_form(Lang::of(&headers), StatusCode::OK, None)
}

fn sign_in_form(lang: Lang, status: StatusCode, error: Option<&str>) -> Response {
    let flash = Flash {
        notice: None,
        error: error.map(str::to_owned),
    };
    html_page(
        status,
        frame(
            lang,
            t(lang, K::SignIn),
            Nav::None,
            None,
            "/console/sign-in",
            &flash,
            html! {
                h1 { (t(lang, K::SignIn)) }
                form.inline method="post" action="/console/sign-in" {
                    label { (t(lang, K::AdminToken))
                        input #token type="password" name="token" autocomplete="current-password" required;
                    }
                    button #sign-in type="submit" { (t(lang, K::SignIn)) }
                }
            },
        ),
    )
}

/// Exchanges the admin token (the JSON admin API's, compared in constant time) for a
/// session cookie.
async fn sign_in(
    State(state): State<AppState>,
    Extension(sessions): Extension<Arc<Sessions>>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let lang = Lang::of(&headers);
    let ok = state.admin_token.as_ref().is_some_and(|expected| {
        bool::from(
            form.token
                .trim()
                .as_bytes()
                .ct_eq(expected.expose_secret().as_bytes()),
        )
    });
    if !ok {
        return sign_in_form(lang, StatusCode::UNAUTHORIZED, Some(t(lang, K::BadToken)));
    }
    let id = sessions.open();
    let mut response = see_other("/console/today");
    let cookie = set_cookie(
        SESSION_COOKIE,
        &id,
        ABSOLUTE_TIMEOUT.num_seconds(),
        over_https(&headers),
        true,
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(SET_COOKIE, v);
    }
    response
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

csrf_form!(CsrfForm);

async fn sign_out(
    Extension(sessions): Extension<Arc<Sessions>>,
    headers: HeaderMap,
    Posted { op, .. }: Posted<CsrfForm>,
) -> Response {
    sessions.close(&op.session_id);
    let mut response = see_other("/console/sign-in");
    let cookie = set_cookie(SESSION_COOKIE, "", 0, over_https(&headers), true);
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(SET_COOKIE, v);
    }
    response
}

#[derive(Debug, Deserialize)]
struct LangQuery {
    to: String,
    back: Option<String>,
}

/// Sets the language cookie and goes back to the page the switch was on (only ever a
/// console path: this is no open redirect).
async fn switch_lang(headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    let lang = Lang::parse(&q.to).unwrap_or(Lang::of(&headers));
    let back = q
        .back
        .filter(|b| b.starts_with("/console") && !b.starts_with("//"))
        .unwrap_or_else(|| "/console/today".to_owned());
    let mut response = see_other(&back);
    let c = set_cookie(
        LANG_COOKIE,
        lang.code(),
        365 * 24 * 3600,
        over_https(&headers),
        false,
    );
    if let Ok(v) = HeaderValue::from_str(&c) {
        response.headers_mut().append(SET_COOKIE, v);
    }
    response
}
