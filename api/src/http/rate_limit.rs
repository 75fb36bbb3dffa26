//! Per-client rate limits on login, registration and order placement, and the one
//! place that decides who "the client" is.
//!
//! The client's address is the TCP peer, unless the peer is a trusted proxy
//! (`PAYLOG_TRUSTED_PROXIES`): then it is the right-most `X-Forwarded-For` entry that
//! is not itself a trusted proxy. Anyone else's `X-Forwarded-For` is ignored, so a
//! client cannot choose its own bucket. The resolved address replaces the request's
//! `ConnectInfo`, so every handler — WeChat's `spbill_create_ip` included — sees the
//! same address the limits use.
//!
//! Buckets are GCRA limiters (`governor`) keyed by address, one per kind of request;
//! a refused request gets 429 `rate_limited` with `Retry-After` and the JSON error.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::error::ApiError;

/// Addresses tracked per bucket before idle ones are forgotten: memory stays bounded
/// whatever the number of clients.
pub const MAX_TRACKED_CLIENTS: usize = 100_000;

/// Requests per minute and per client address, by kind; `None` disables that limit.
#[derive(Debug, Clone, Default)]
pub struct RateLimitSettings {
    pub login_per_minute: Option<NonZeroU32>,
    pub register_per_minute: Option<NonZeroU32>,
    pub orders_per_minute: Option<NonZeroU32>,
    /// Peers allowed to name the client in `X-Forwarded-For`.
    pub trusted_proxies: Vec<IpAddr>,
}

/// The limiters; cheap to clone.
#[derive(Clone)]
pub struct RateLimits {
    login: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
    register: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
    orders: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
    trusted_proxies: Arc<Vec<IpAddr>>,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("trusted_proxies", &self.trusted_proxies)
            .finish_non_exhaustive()
    }
}

fn limiter(per_minute: Option<NonZeroU32>) -> Option<Arc<DefaultKeyedRateLimiter<IpAddr>>> {
    per_minute.map(|n| Arc::new(RateLimiter::keyed(Quota::per_minute(n))))
}

impl RateLimits {
    pub fn new(settings: &RateLimitSettings) -> Self {
        Self {
            login: limiter(settings.login_per_minute),
            register: limiter(settings.register_per_minute),
            orders: limiter(settings.orders_per_minute),
            trusted_proxies: Arc::new(settings.trusted_proxies.clone()),
        }
    }

    /// The bucket a request counts against, if any.
    fn bucket(&self, method: &Method, path: &str) -> Option<&DefaultKeyedRateLimiter<IpAddr>> {
        if method != Method::POST {
            return None;
        }
        match path {
            "/v1/auth/password" | "/v1/auth/wechat" => self.login.as_deref(),
            "/v1/register" => self.register.as_deref(),
            "/v1/orders" => self.orders.as_deref(),
            _ => None,
        }
    }
}

/// The client's address: the peer, or what a trusted proxy says in
/// `X-Forwarded-For` (its right-most entry that is not a trusted proxy).
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted_proxies: &[IpAddr]) -> IpAddr {
    if !trusted_proxies.contains(&peer) {
        return peer;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for entry in forwarded.iter().rev() {
        match entry.parse::<IpAddr>() {
            Ok(ip) if trusted_proxies.contains(&ip) => continue,
            Ok(ip) => return ip,
            // A garbled entry ends the chain we can trust: use the last proxy.
            Err(_) => break,
        }
    }
    peer
}

/// The middleware: resolves the client's address, then counts the request against its
/// bucket.
pub async fn limit(State(limits): State<RateLimits>, mut request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let Some(peer) = peer else {
        // No socket (a `oneshot` test): nothing to key on.
        return next.run(request).await;
    };
    let ip = client_ip(peer.ip(), request.headers(), &limits.trusted_proxies);
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::new(ip, peer.port())));
    if let Some(bucket) = limits.bucket(request.method(), request.uri().path()) {
        if bucket.len() > MAX_TRACKED_CLIENTS {
            bucket.retain_recent();
        }
        if let Err(not_until) = bucket.check_key(&ip) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            // Round up: a client told 0 would retry at once.
            let retry_after_secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return ApiError {
                retry_after_secs: Some(retry_after_secs.max(1)),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "too many requests from this address; retry later",
                )
            }
            .into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().expect("header"));
        h
    }

    #[test]
    fn only_a_trusted_proxy_names_the_client() {
        let proxy: IpAddr = "10.0.0.1".parse().expect("ip");
        let other_proxy: IpAddr = "10.0.0.2".parse().expect("ip");
        let client: IpAddr = "203.0.113.7".parse().expect("ip");
        let stranger: IpAddr = "198.51.100.9".parse().expect("ip");
        let trusted = [proxy, other_proxy];
        // A stranger's header is ignored.
        assert_eq!(
            client_ip(stranger, &headers("203.0.113.7"), &trusted),
            stranger
        );
        // A trusted proxy's is read right to left, skipping trusted hops; a spoofed
        // left-most entry added by the client does not win.
        assert_eq!(
            client_ip(proxy, &headers("1.2.3.4, 203.0.113.7, 10.0.0.2"), &trusted),
            client
        );
        assert_eq!(client_ip(proxy, &HeaderMap::new(), &trusted), proxy);
        assert_eq!(client_ip(proxy, &headers("garbage"), &trusted), proxy);
    }
}
