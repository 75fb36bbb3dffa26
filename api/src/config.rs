//! Typed settings for `paylog serve`: flags with environment fallbacks, secrets wrapped.
//!
//! Every setting can come from a flag or from the `PAYLOG_*` variable named beside it;
//! a flag wins over the environment. Secrets (`SecretString`) never reach `Debug`
//! output or logs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use paylog_store::{NatsOptions, StoreLocation};
use secrecy::SecretString;

mod message_push;
mod wechat_v3;

pub use message_push::{MessagePushArgs, PushModeArg};
pub(crate) use wechat_v3::read_pem;
pub use wechat_v3::{PayVersionArg, WechatV3Args};

/// How hard an append waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum DurabilityArg {
    /// Every append returns only after the write-ahead log is fsynced (group-committed).
    #[default]
    Sync,
    /// Appends return once written to the OS: a process crash loses nothing, a power
    /// loss or kernel crash may lose the last moments of acknowledged commands.
    Buffered,
}

/// Where the event log lives when it is not under the data dir: a NATS JetStream
/// cluster. Shared by `serve` and the commands that read the log.
#[derive(Debug, Clone, Args)]
pub struct LogSource {
    /// The event log on a NATS JetStream cluster, `nats://host:port,host:port,…`.
    /// Without it the log is the RocksDB at `<data dir>/log`; the views are always in
    /// the data dir (local, rebuildable).
    #[arg(long = "store", env = "PAYLOG_STORE")]
    pub store: Option<String>,

    /// The JetStream stream holding the log (with `--store nats://…`).
    #[arg(long, env = "PAYLOG_NATS_STREAM", default_value = DEFAULT_NATS_STREAM)]
    pub nats_stream: String,

    /// Replicas of the stream when paylog creates it (1, 3 or 5); an existing stream
    /// keeps its own.
    #[arg(long, env = "PAYLOG_NATS_REPLICAS", default_value_t = 3)]
    pub replicas: usize,
}

/// The stream `--nats-stream` names by default.
pub const DEFAULT_NATS_STREAM: &str = paylog_store::nats::DEFAULT_STREAM;

impl Default for LogSource {
    /// The RocksDB log under the data dir.
    fn default() -> Self {
        LogSource {
            store: None,
            nats_stream: DEFAULT_NATS_STREAM.to_owned(),
            replicas: 3,
        }
    }
}

impl LogSource {
    /// The log's location: the NATS cluster named by `--store`, else `<data_dir>/log`.
    /// Refuses (one line, naming the setting) anything else.
    pub fn location(&self, data_dir: &std::path::Path) -> Result<StoreLocation, String> {
        match self.store.as_deref() {
            None => Ok(StoreLocation::Rocks(data_dir.join("log"))),
            Some(url) => nats_location(url, &self.nats_stream, self.replicas),
        }
    }

    /// True when the log is on a NATS cluster.
    pub fn is_nats(&self) -> bool {
        self.store.is_some()
    }
}

/// A NATS log location from `--store`/`--nats-stream`/`--replicas` (also `migrate --to`).
pub fn nats_location(url: &str, stream: &str, replicas: usize) -> Result<StoreLocation, String> {
    if !url.starts_with("nats://") {
        return Err(format!(
            "--store {url:?}: expected nats://host:port[,host:port…] (a RocksDB log lives under --data-dir)"
        ));
    }
    let valid_stream = !stream.is_empty()
        && stream.len() <= 64
        && stream
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !valid_stream {
        return Err(format!(
            "--nats-stream {stream:?}: 1 to 64 of A-Z, a-z, 0-9, _ and -"
        ));
    }
    if !matches!(replicas, 1 | 3 | 5) {
        return Err(format!("--replicas {replicas}: JetStream takes 1, 3 or 5"));
    }
    let options = NatsOptions::from_url(url).map_err(|e| format!("--store: {e}"))?;
    let mut options = options.with_stream(stream);
    options.replicas = replicas;
    Ok(StoreLocation::Nats(options))
}

/// The store-related settings shared by every subcommand that opens a data dir.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Where the event log and the views live.
    #[arg(long, env = "PAYLOG_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    #[command(flatten)]
    pub log: LogSource,

    /// `sync` (default) or `buffered`; see README "Durability".
    #[arg(long, env = "PAYLOG_DURABILITY", value_enum, default_value_t = DurabilityArg::Sync)]
    pub durability: DurabilityArg,

    /// RocksDB's memory for the whole process, in MiB: one block cache shared by every
    /// column family of the log and the views, with every memtable charged to it (see
    /// README "Memory"). 16 to 65536.
    #[arg(
        long,
        env = "PAYLOG_MEMORY_BUDGET_MIB",
        default_value_t = DEFAULT_MEMORY_BUDGET_MIB,
        value_parser = clap::value_parser!(u64).range(MIN_MEMORY_BUDGET_MIB..=MAX_MEMORY_BUDGET_MIB)
    )]
    pub memory_budget_mib: u64,
}

/// `--memory-budget-mib`'s default and bounds: below the minimum RocksDB flushes tiny
/// memtables constantly; above the maximum the setting is surely a unit mistake.
pub const DEFAULT_MEMORY_BUDGET_MIB: u64 =
    (paylog_store::rocks::memory::DEFAULT_BUDGET_BYTES / (1024 * 1024)) as u64;
pub const MIN_MEMORY_BUDGET_MIB: u64 =
    (paylog_store::rocks::memory::MIN_BUDGET_BYTES / (1024 * 1024)) as u64;
pub const MAX_MEMORY_BUDGET_MIB: u64 = 64 * 1024;

impl StoreArgs {
    /// Sets the process's RocksDB memory budget before any database is opened. A
    /// process that already opened one (a test building a second server) keeps the
    /// budget in force; that is logged, not refused.
    pub fn configure_memory(&self) {
        let bytes = usize::try_from(self.memory_budget_mib)
            .unwrap_or(usize::MAX / (1024 * 1024))
            .saturating_mul(1024 * 1024);
        if !paylog_store::rocks::memory::configure(bytes) {
            let in_force = paylog_store::rocks::memory::shared().budget_bytes() / (1024 * 1024);
            if in_force as u64 != self.memory_budget_mib {
                tracing::warn!(
                    asked_mib = self.memory_budget_mib,
                    in_force_mib = in_force,
                    "the RocksDB memory budget was already set in this process; keeping it"
                );
            }
        }
    }
}

/// WeChat settings. With none of appid, mch_id, API key and secret given,
/// `paylog serve` starts the simulator in-process and points itself at it.
#[derive(Debug, Clone, Args, Default)]
pub struct WechatArgs {
    #[arg(long = "wechat-appid", env = "PAYLOG_WECHAT_APPID")]
    pub appid: Option<String>,
    #[arg(
        long = "wechat-secret",
        env = "PAYLOG_WECHAT_SECRET",
        hide_env_values = true
    )]
    pub secret: Option<SecretString>,
    #[arg(long = "wechat-mch-id", env = "PAYLOG_WECHAT_MCH_ID")]
    pub mch_id: Option<String>,
    #[arg(
        long = "wechat-api-key",
        env = "PAYLOG_WECHAT_API_KEY",
        hide_env_values = true
    )]
    pub api_key: Option<SecretString>,
    /// `MD5`, `HMAC-SHA256` or `either`: how requests are signed and which notifies are
    /// accepted (a notify signed otherwise is refused and counted). `either`, for the
    /// migration between the two, signs with MD5 and accepts notifies signed either way.
    #[arg(
        long = "wechat-sign-type",
        env = "PAYLOG_WECHAT_SIGN_TYPE",
        default_value = "MD5"
    )]
    pub sign_type: String,
    #[arg(long = "wechat-pay-url", env = "PAYLOG_WECHAT_PAY_URL")]
    pub pay_url: Option<String>,
    #[arg(long = "wechat-api-url", env = "PAYLOG_WECHAT_API_URL")]
    pub api_url: Option<String>,
    /// The public URL WeChat posts payment notifies to (`…/v1/wechat/pay/notify`).
    #[arg(long = "notify-url", env = "PAYLOG_NOTIFY_URL")]
    pub notify_url: Option<String>,
    /// The merchant's client certificate (`apiclient_cert.pem`), with
    /// `PAYLOG_WECHAT_CLIENT_KEY`: WeChat requires it on refunds.
    #[arg(long = "wechat-client-cert", env = "PAYLOG_WECHAT_CLIENT_CERT")]
    pub client_cert: Option<PathBuf>,
    /// The private key of the client certificate (`apiclient_key.pem`).
    #[arg(long = "wechat-client-key", env = "PAYLOG_WECHAT_CLIENT_KEY")]
    pub client_key: Option<PathBuf>,
    /// The client certificate as WeChat issues it (`apiclient_cert.p12`, password =
    /// the merchant id, legacy RC2-40 encryption read as is); instead of the PEM pair.
    #[arg(long = "wechat-client-p12", env = "PAYLOG_WECHAT_CLIENT_P12")]
    pub client_p12: Option<PathBuf>,
    /// WeChat Pay API v3 (`PAYLOG_WECHAT_PAY_VERSION`, keys, public key …).
    #[command(flatten)]
    pub v3: WechatV3Args,
}

impl WechatArgs {
    /// True when no WeChat merchant settings were given at all.
    pub fn is_unconfigured(&self) -> bool {
        self.appid.is_none()
            && self.mch_id.is_none()
            && self.api_key.is_none()
            && self.secret.is_none()
            && !self.v3.any_set()
    }
}

/// Everything `paylog serve` needs.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,

    /// The address the HTTP API listens on.
    #[arg(long, env = "PAYLOG_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    #[command(flatten)]
    pub wechat: WechatArgs,

    /// WeChat's message push (token, EncodingAESKey, mode).
    #[command(flatten)]
    pub message_push: MessagePushArgs,

    /// Bearer token for `/v1/admin/*`, at least [`MIN_SECRET_BYTES`] bytes. Without it
    /// the admin API is disabled.
    #[arg(long, env = "PAYLOG_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<SecretString>,

    /// Secret that signs the API's bearer tokens, at least [`MIN_SECRET_BYTES`] bytes.
    /// Without it a random one is made at start-up (tokens then do not survive a restart).
    #[arg(long, env = "PAYLOG_TOKEN_SECRET", hide_env_values = true)]
    pub token_secret: Option<SecretString>,

    /// How long an order may wait for its payment before it is closed, e.g. `30m`, `2h`.
    #[arg(long, env = "PAYLOG_PAYMENT_TIMEOUT", default_value = "30m", value_parser = parse_duration)]
    pub payment_timeout: Duration,

    /// How long after a payment request without a notify the reconciler asks WeChat.
    #[arg(long, env = "PAYLOG_RECONCILE_AFTER", default_value = "5m", value_parser = parse_duration)]
    pub reconcile_after: Duration,

    /// How often the reconciler looks for unconfirmed payments and expired orders.
    #[arg(long, env = "PAYLOG_RECONCILE_INTERVAL", default_value = "30s", value_parser = parse_duration)]
    pub reconcile_interval: Duration,

    /// Where WeChat delivers refund notifies (`…/v1/wechat/refund/notify`). Defaults to
    /// one derived from the payment notify URL ([`derive_refund_notify_url`]).
    #[arg(long, env = "PAYLOG_REFUND_NOTIFY_URL")]
    pub refund_notify_url: Option<String>,

    /// Lets simulator mode (no WeChat settings) listen on a non-loopback address. The
    /// simulator's key is public: whoever reaches the notify endpoint can mark orders
    /// paid, so without this flag `paylog serve` refuses such an address.
    #[arg(long)]
    pub allow_simulator_on_public_address: bool,

    /// Threads that hash passwords (argon2id, 19 MiB each); default: one per core.
    #[arg(long, env = "PAYLOG_PASSWORD_HASH_THREADS")]
    pub password_hash_threads: Option<usize>,

    /// Password hashes that may wait for a thread; beyond, logins and registrations
    /// get 503 with `Retry-After` at once.
    #[arg(long, env = "PAYLOG_PASSWORD_HASH_QUEUE", default_value_t = crate::services::accounts::password::DEFAULT_HASH_QUEUE_LEN)]
    pub password_hash_queue: usize,

    /// Unpaid orders one user may hold at once (each reserves stock until paid,
    /// cancelled or expired); one more answers 409 `too_many_open_orders`. `0`: no limit.
    #[arg(long, env = "PAYLOG_MAX_OPEN_ORDERS_PER_USER", default_value_t = crate::services::ordering::DEFAULT_MAX_OPEN_ORDERS_PER_USER)]
    pub max_open_orders_per_user: usize,

    /// How long a client may take to send a request's headers; slower connections
    /// are closed (slowloris).
    #[arg(long, env = "PAYLOG_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_read_timeout: Duration,

    /// How long one request may take before it is answered 503 `timeout`.
    #[arg(long, env = "PAYLOG_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// Open connections served at once; beyond, new connections are closed at once.
    #[arg(long, env = "PAYLOG_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,

    /// After a shutdown signal, how long in-flight connections may take to finish
    /// before they are dropped.
    #[arg(long, env = "PAYLOG_SHUTDOWN_DEADLINE", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_deadline: Duration,

    /// How many events the views may trail the log by while `/readyz` still says ready.
    #[arg(long, env = "PAYLOG_READY_MAX_LAG_EVENTS", default_value_t = crate::services::health::DEFAULT_READY_MAX_LAG_EVENTS)]
    pub ready_max_lag_events: u64,

    /// Login attempts (password or WeChat) per minute per client address; 0: no limit.
    #[arg(long, env = "PAYLOG_RATE_LIMIT_LOGIN_PER_MINUTE", default_value_t = 30)]
    pub rate_limit_login_per_minute: u32,

    /// Registrations per minute per client address; 0: no limit.
    #[arg(
        long,
        env = "PAYLOG_RATE_LIMIT_REGISTER_PER_MINUTE",
        default_value_t = 10
    )]
    pub rate_limit_register_per_minute: u32,

    /// Orders placed per minute per client address; 0: no limit.
    #[arg(
        long,
        env = "PAYLOG_RATE_LIMIT_ORDERS_PER_MINUTE",
        default_value_t = 60
    )]
    pub rate_limit_orders_per_minute: u32,

    /// Comma-separated proxy addresses whose `X-Forwarded-For` names the client (for
    /// rate limits and `spbill_create_ip`); nobody else's is read.
    #[arg(long, env = "PAYLOG_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<std::net::IpAddr>,

    /// Reconcile yesterday's WeChat bill every day at this Beijing time (`HH:MM`, e.g.
    /// `10:30`: WeChat publishes day D's bill from about 10:00 on D+1). Off when unset.
    /// Reports are kept in `<data dir>/reconciliation/`.
    #[arg(long, env = "PAYLOG_RECONCILE_DAILY_AT", value_parser = parse_time_of_day)]
    pub reconcile_daily_at: Option<chrono::NaiveTime>,

    /// How often the background uploader looks for shipping information WeChat does
    /// not have yet (each shipment is retried with its own backoff).
    #[arg(long, env = "PAYLOG_UPLOAD_RETRY_INTERVAL", default_value = "30s", value_parser = parse_duration)]
    pub upload_retry_interval: Duration,

    /// How long after its shipment a payment whose settlement no push has reported is
    /// asked about (`get_order`), then again every few hours until settled. WeChat
    /// confirms receipt by itself days after shipment (about 10 for express).
    #[arg(long, env = "PAYLOG_SETTLEMENT_CHECK_AFTER", default_value = "72h", value_parser = parse_duration)]
    pub settlement_check_after: Duration,

    /// The subscribe-message template (订阅消息) sent to the payer when an order
    /// ships. No message is sent when unset.
    #[arg(long, env = "PAYLOG_SHIP_TEMPLATE_ID")]
    pub ship_template_id: Option<TemplateId>,
}

/// The most characters of a subscribe-message template id (WeChat's are 43).
pub const MAX_TEMPLATE_ID_CHARS: usize = 128;

/// A subscribe-message template id: 1 to [`MAX_TEMPLATE_ID_CHARS`] of `A-Z a-z 0-9 _ -`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateId(String);

impl TemplateId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for TemplateId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let ok = (1..=MAX_TEMPLATE_ID_CHARS).contains(&s.len())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!(
                "a template id is 1 to {MAX_TEMPLATE_ID_CHARS} characters of A-Z a-z 0-9 _ -"
            ))
        }
    }
}

/// The shortest token secret or admin token `paylog serve` accepts, in bytes: a
/// shorter one can be guessed or brute-forced offline from a single signed token.
pub const MIN_SECRET_BYTES: usize = 32;

/// `ServeArgs` alone on a command line, for [`ServeArgs::from_flags`].
#[derive(Debug, clap::Parser)]
struct ServeLine {
    #[command(flatten)]
    serve: ServeArgs,
}

impl ServeArgs {
    /// The settings `paylog serve` would run with given `flags` (every other setting
    /// its default, or its `PAYLOG_*` variable when set): how an in-process server (a
    /// test, the bench) is configured without restating every default.
    pub fn from_flags<I, T>(flags: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let line = std::iter::once(std::ffi::OsString::from("paylog-serve"))
            .chain(flags.into_iter().map(Into::into));
        Ok(<ServeLine as clap::Parser>::try_parse_from(line)?.serve)
    }

    /// Refuses weak settings before anything is opened: a token secret or admin token
    /// shorter than [`MIN_SECRET_BYTES`]. The message names the setting, never its value.
    pub fn check_secrets(&self) -> Result<(), String> {
        use secrecy::ExposeSecret as _;
        let checks = [
            ("PAYLOG_TOKEN_SECRET (--token-secret)", &self.token_secret),
            ("PAYLOG_ADMIN_TOKEN (--admin-token)", &self.admin_token),
        ];
        for (name, value) in checks {
            if let Some(secret) = value {
                let len_bytes = secret.expose_secret().len();
                if len_bytes < MIN_SECRET_BYTES {
                    return Err(format!(
                        "{name} is {len_bytes} bytes long; at least {MIN_SECRET_BYTES} are required"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Parses a time of day `HH:MM` (24-hour).
pub fn parse_time_of_day(s: &str) -> Result<chrono::NaiveTime, String> {
    let s = s.trim();
    chrono::NaiveTime::parse_from_str(s, "%H:%M")
        .map_err(|_| format!("`{s}` is not a time of day like 10:30"))
}

/// The refund notify URL paylog derives from the payment notify URL when
/// `PAYLOG_REFUND_NOTIFY_URL` is not set, whatever the latter's shape:
/// - the last `pay/notify` path segments (paylog's route, possibly behind a proxy's
///   prefix, with a trailing slash or a query) become `refund/notify`, everything else
///   kept;
/// - any other path (a proxy that rewrites paths, a custom callback name) gives
///   paylog's own refund route on the same origin, `/v1/wechat/refund/notify`.
///
/// Fails only when the notify URL is not an absolute http(s) URL.
pub fn derive_refund_notify_url(notify_url: &str) -> Result<String, String> {
    let mut url = absolute_http_url(notify_url)?;
    let path = url.path().to_owned();
    let trimmed = path.trim_end_matches('/');
    let slash = &path[trimmed.len()..];
    let derived = match trimmed.rfind("/pay/notify") {
        Some(at) if at + "/pay/notify".len() == trimmed.len() => {
            format!("{}/refund/notify{slash}", &trimmed[..at])
        }
        _ => {
            url.set_query(None);
            REFUND_NOTIFY_PATH.to_owned()
        }
    };
    url.set_path(&derived);
    url.set_fragment(None);
    Ok(url.into())
}

/// paylog's own route for refund notifies.
pub const REFUND_NOTIFY_PATH: &str = "/v1/wechat/refund/notify";

/// `s` as an absolute `http` or `https` URL with a host (what WeChat can post to).
pub fn absolute_http_url(s: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(s.trim()).map_err(|e| format!("`{s}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("`{s}` is not an absolute http(s) URL"));
    }
    Ok(url)
}

/// Parses `500ms`, `30s`, `5m`, `2h` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 30s, 5m or 2h"))?;
    let d = match unit {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => return Err(format!("`{s}`: unknown unit `{unit}` (use ms, s, m or h)")),
    };
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::{MAX_TEMPLATE_ID_CHARS, TemplateId, derive_refund_notify_url, parse_duration};

    #[test]
    fn a_template_id_is_checked_once_when_parsed() {
        let id: TemplateId = "TOPfGqHnwU6_Gx3pfEEFIN6ZuCuwdpx4vn9VWyk3bsM"
            .parse()
            .expect("WeChat's shape");
        assert_eq!(id.as_str(), "TOPfGqHnwU6_Gx3pfEEFIN6ZuCuwdpx4vn9VWyk3bsM");
        let too_long = "a".repeat(MAX_TEMPLATE_ID_CHARS + 1);
        for bad in ["", "has space", "semi;colon", "中文", too_long.as_str()] {
            assert!(bad.parse::<TemplateId>().is_err(), "{bad:?}");
        }
    }
    use std::time::Duration;

    #[test]
    fn the_refund_notify_url_is_derived_from_any_payment_notify_url() {
        let cases = [
            // paylog's own route, as documented
            (
                "https://shop.example.com/v1/wechat/pay/notify",
                "https://shop.example.com/v1/wechat/refund/notify",
            ),
            // behind a proxy prefix, with a port, a query and a trailing slash
            (
                "https://shop.example.com:8443/api/v1/wechat/pay/notify/?src=wx",
                "https://shop.example.com:8443/api/v1/wechat/refund/notify/?src=wx",
            ),
            // a custom shape: paylog's refund route on the same origin
            (
                "https://shop.example.com/wx/callback?k=1",
                "https://shop.example.com/v1/wechat/refund/notify",
            ),
            (
                "http://127.0.0.1:8080/notify",
                "http://127.0.0.1:8080/v1/wechat/refund/notify",
            ),
            // `pay/notify` not at the end is not paylog's route
            (
                "https://shop.example.com/pay/notify/wechat",
                "https://shop.example.com/v1/wechat/refund/notify",
            ),
            // no path at all
            (
                "https://shop.example.com",
                "https://shop.example.com/v1/wechat/refund/notify",
            ),
            // a segment merely ending in "pay" is not the route
            (
                "https://shop.example.com/wxpay/notify",
                "https://shop.example.com/v1/wechat/refund/notify",
            ),
        ];
        for (notify, refund) in cases {
            assert_eq!(
                derive_refund_notify_url(notify).as_deref(),
                Ok(refund),
                "{notify}"
            );
        }
        for bad in [
            "",
            "shop.example.com/pay/notify",
            "ftp://x/pay/notify",
            "/pay/notify",
        ] {
            assert!(derive_refund_notify_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_memory_budget_has_a_default_and_bounds() {
        use super::{DEFAULT_MEMORY_BUDGET_MIB, ServeArgs};
        let parse = |extra: &[&str]| {
            let mut flags = vec!["--token-secret", "test-token-secret-0123456789abcdef"];
            flags.extend_from_slice(extra);
            ServeArgs::from_flags(flags).map(|a| a.store.memory_budget_mib)
        };
        assert_eq!(parse(&[]).ok(), Some(DEFAULT_MEMORY_BUDGET_MIB));
        assert_eq!(parse(&["--memory-budget-mib", "256"]).ok(), Some(256));
        for bad in ["0", "15", "65537", "lots", "-1"] {
            assert!(parse(&["--memory-budget-mib", bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_parse_with_units_and_refuse_garbage() {
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("m").is_err());
    }

    #[test]
    fn times_of_day_parse_and_garbage_is_refused() {
        use super::parse_time_of_day;
        assert_eq!(
            parse_time_of_day("10:30").ok(),
            chrono::NaiveTime::from_hms_opt(10, 30, 0)
        );
        for bad in ["", "25:00", "10", "10:30:00", "ten"] {
            assert!(parse_time_of_day(bad).is_err(), "{bad:?}");
        }
    }
}
