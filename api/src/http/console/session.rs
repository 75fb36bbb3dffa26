//! Console sessions: the admin token is exchanged once for a random 256-bit session
//! id in an `HttpOnly`, `SameSite=Strict` cookie (`Secure` behind an HTTPS proxy),
//! kept server-side in memory with a cap and idle and absolute expiry on the
//! application's clock. Each session has its CSRF token, which every form carries in
//! a hidden field and every POST must present.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, LOCATION};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use paylog_engine::Clock;
use subtle::ConstantTimeEq;

use super::i18n::Lang;
use crate::http::state::AppState;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "paylog_console";
/// Sessions held at once; signing in past it evicts the least recently used.
pub const MAX_SESSIONS: usize = 256;
/// A session unused this long is over.
pub const IDLE_TIMEOUT: Duration = Duration::minutes(30);
/// A session is over this long after sign-in, used or not.
pub const ABSOLUTE_TIMEOUT: Duration = Duration::hours(12);

#[derive(Debug, Clone)]
struct Session {
    csrf: String,
    created_at: DateTime<Utc>,
    last_seen: DateTime<Utc>,
}

/// The server-side session store; shared by the console's handlers.
pub struct Sessions {
    clock: Arc<dyn Clock>,
    map: Mutex<HashMap<String, Session>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Session ids are bearer secrets: only their number is shown.
        let n = self.map.lock().map_or(0, |m| m.len());
        f.debug_struct("Sessions").field("open", &n).finish()
    }
}

/// 32 random bytes as 64 hex digits.
fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Sessions {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            map: Mutex::new(HashMap::new()),
        }
    }

    fn live(s: &Session, now: DateTime<Utc>) -> bool {
        now - s.last_seen < IDLE_TIMEOUT && now - s.created_at < ABSOLUTE_TIMEOUT
    }

    /// Opens a session; returns its id.
    pub fn open(&self) -> String {
        let now = self.clock.now();
        let id = random_token();
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.retain(|_, s| Self::live(s, now));
        while map.len() >= MAX_SESSIONS {
            let oldest = map
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => map.remove(&k),
                None => break,
            };
        }
        map.insert(
            id.clone(),
            Session {
                csrf: random_token(),
                created_at: now,
                last_seen: now,
            },
        );
        id
    }

    /// The CSRF token of a live session (and marks it used); `None` when the id is
    /// unknown or expired.
    fn touch(&self, id: &str) -> Option<String> {
        let now = self.clock.now();
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let live = map.get(id).is_some_and(|s| Self::live(s, now));
        if !live {
            map.remove(id);
            return None;
        }
        let session = map.get_mut(id)?;
        session.last_seen = now;
        Some(session.csrf.clone())
    }

    pub fn close(&self, id: &str) {
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.remove(id);
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Whether the browser reached us over HTTPS: paylog serves plain HTTP, so this is
/// what a TLS-terminating proxy in front says. A forged header only makes the cookie
/// `Secure`, which can harm no one but the forger.
pub fn over_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// The `Set-Cookie` value for a cookie under `/console`.
pub fn set_cookie(
    name: &str,
    value: &str,
    max_age_secs: i64,
    secure: bool,
    http_only: bool,
) -> String {
    let mut c = format!("{name}={value}; Path=/console; SameSite=Strict; Max-Age={max_age_secs}");
    if http_only {
        c.push_str("; HttpOnly");
    }
    if secure {
        c.push_str("; Secure");
    }
    c
}

/// A 303 to `to` (a path of the console).
pub fn see_other(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        response.headers_mut().insert(LOCATION, v);
    }
    response
}

/// A signed-in operator: the session's id, its CSRF token and the page language.
#[derive(Debug, Clone)]
pub struct Operator {
    pub session_id: String,
    pub csrf: String,
    pub lang: Lang,
}

impl Operator {
    /// Whether `given` is this session's CSRF token (constant-time).
    pub fn csrf_ok(&self, given: &str) -> bool {
        given.as_bytes().ct_eq(self.csrf.as_bytes()).into()
    }
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, Response> {
        let sessions = parts.extensions.get::<Arc<Sessions>>().cloned();
        let id = cookie(&parts.headers, SESSION_COOKIE).map(str::to_owned);
        let found = match (&sessions, &id) {
            (Some(sessions), Some(id)) => sessions.touch(id),
            _ => None,
        };
        match (found, id) {
            (Some(csrf), Some(session_id)) => Ok(Operator {
                session_id,
                csrf,
                lang: Lang::of(&parts.headers),
            }),
            // Without a session, every page sends the browser to sign in.
            _ => Err(see_other("/console/sign-in")),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A clock the test moves by hand.
    #[derive(Debug)]
    struct Manual(Mutex<DateTime<Utc>>);

    impl Clock for Manual {
        fn now(&self) -> DateTime<Utc> {
            *self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        }
    }

    impl Manual {
        fn advance(&self, by: Duration) {
            let mut now = self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *now += by;
        }
    }

    fn store() -> (Arc<Manual>, Sessions) {
        let clock = Arc::new(Manual(Mutex::new(Utc::now())));
        let sessions = Sessions::new(Arc::clone(&clock) as Arc<dyn Clock>);
        (clock, sessions)
    }

    #[test]
    fn ids_and_csrf_tokens_are_256_bit_random_hex() {
        let (_, sessions) = store();
        let (a, b) = (sessions.open(), sessions.open());
        assert_ne!(a, b);
        for id in [&a, &b] {
            assert_eq!(id.len(), 64);
            assert!(id.bytes().all(|c| c.is_ascii_hexdigit()));
        }
        let csrf = sessions.touch(&a);
        assert!(csrf.as_ref().is_some_and(|c| c.len() == 64 && c != &a));
        assert_ne!(csrf, sessions.touch(&b));
    }

    #[test]
    fn a_used_session_still_ends_at_the_absolute_timeout() {
        let (clock, sessions) = store();
        let id = sessions.open();
        let steps = ABSOLUTE_TIMEOUT.num_minutes() / 20;
        for _ in 0..steps - 1 {
            clock.advance(Duration::minutes(20));
            assert!(
                sessions.touch(&id).is_some(),
                "used within the idle timeout"
            );
        }
        clock.advance(Duration::minutes(20));
        assert!(sessions.touch(&id).is_none());
    }

    #[test]
    fn past_the_cap_the_least_recently_used_session_goes() {
        let (clock, sessions) = store();
        let oldest = sessions.open();
        clock.advance(Duration::seconds(1));
        let ids: Vec<String> = (1..MAX_SESSIONS)
            .map(|_| {
                clock.advance(Duration::seconds(1));
                sessions.open()
            })
            .collect();
        clock.advance(Duration::seconds(1));
        assert!(sessions.touch(&oldest).is_some(), "all fit");
        // `oldest` is now the most recently used; the first of `ids` is the least.
        clock.advance(Duration::seconds(1));
        let newest = sessions.open();
        assert!(sessions.touch(&newest).is_some());
        assert!(sessions.touch(&oldest).is_some());
        assert!(sessions.touch(&ids[0]).is_none());
        assert!(sessions.touch(&ids[1]).is_some());
    }

    #[test]
    fn the_csrf_check_wants_the_exact_token() {
        let op = Operator {
            session_id: "s".into(),
            csrf: "abc".into(),
            lang: Lang::En,
        };
        assert!(op.csrf_ok("abc"));
        for wrong in ["", "ab", "abcd", "ABC"] {
            assert!(!op.csrf_ok(wrong), "{wrong}");
        }
    }
}
