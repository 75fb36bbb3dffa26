//! The on-disk layout of the views database: column family names, keys, values.
//!
//! Integers in keys are big-endian and signed instants are stored with their sign bit
//! flipped, so that RocksDB's bytewise order is numeric order. Values are a one-byte
//! format tag followed by postcard, like the log's.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::error::{ProjectionError, Result};

/// The column family holding the generation table (`active`, `next`, `gen/<n>`).
pub const CF_META: &str = "meta";
/// `meta` key: the generation queries read from (u64, big-endian).
pub const META_ACTIVE: &[u8] = b"active";
/// `meta` key: the id the next generation will get (u64, big-endian).
pub const META_NEXT: &[u8] = b"next";

/// Every projection and the version of its code. Bump a version when a projection's
/// output changes: the server then rebuilds every view into a new generation in the
/// background, keeps serving the old one meanwhile, and swaps when the new one has
/// caught up with the log.
pub const PROJECTION_VERSIONS: &[(&str, u32)] = &[
    // 2 (every view holding an instant): instants as (seconds, nanoseconds), not text.
    ("users", 2),
    // 2: `OrderState` gained refund targets, anomalies' refunds, close reasons.
    // 3: `OrderState` gained its shipping (shipment, upload, receipt, settlement) and
    //    the API its prepay was opened on (v2 or v3).
    // 4: instants as integers.
    ("orders", 4),
    // 2: instants as integers.
    ("catalog", 2),
    // 2: duplicate payments, refunds of anomalies, refunds confirmed after a failure.
    // 3: instants as integers.
    ("ledger", 3),
    // 2: only refunds of the payment count as refunded sales.
    ("daily_sales", 2),
    // 2: stores a summary of `OrderState`, whose status set changed.
    // 3: instants as integers.
    ("awaiting_payment", 3),
    // 1: orders whose money needs watching (anomalies, refunds not yet settled).
    // 2: stores `OrderState`, which gained its shipping.
    // 3: instants as integers.
    ("money_watch", 3),
    // 1: paid orders not shipped yet, oldest payment first.
    // 2: instants as integers.
    ("to_ship", 2),
    // 1: shipments WeChat does not have yet (pending or refused), oldest first.
    // 2: instants as integers.
    ("to_upload", 2),
    // 1: shipments WeChat has whose money is not settled, oldest first shipment first.
    ("to_settle", 1),
];

/// One column family of a generation. `gN.<name>` on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum View {
    Checkpoint,
    Users,
    UsersByOpenId,
    UsersByUsername,
    Orders,
    OrdersByUser,
    Products,
    Ledger,
    DailySales,
    AwaitingPayment,
    MoneyWatch,
    ToShip,
    ToUpload,
    ToSettle,
}

impl View {
    pub const ALL: [View; 14] = [
        View::Checkpoint,
        View::Users,
        View::UsersByOpenId,
        View::UsersByUsername,
        View::Orders,
        View::OrdersByUser,
        View::Products,
        View::Ledger,
        View::DailySales,
        View::AwaitingPayment,
        View::MoneyWatch,
        View::ToShip,
        View::ToUpload,
        View::ToSettle,
    ];

    pub fn name(self) -> &'static str {
        match self {
            View::Checkpoint => "checkpoint",
            View::Users => "users",
            View::UsersByOpenId => "users_by_openid",
            View::UsersByUsername => "users_by_username",
            View::Orders => "orders",
            View::OrdersByUser => "orders_by_user",
            View::Products => "products",
            View::Ledger => "ledger",
            View::DailySales => "daily_sales",
            View::AwaitingPayment => "awaiting_payment",
            View::MoneyWatch => "money_watch",
            View::ToShip => "to_ship",
            View::ToUpload => "to_upload",
            View::ToSettle => "to_settle",
        }
    }
}

/// The column family name of `view` in generation `generation`.
pub fn cf_name(generation: u64, view: View) -> String {
    format!("g{generation}.{}", view.name())
}

/// The generation a column family name belongs to, if it is a generation's.
pub fn generation_of(cf_name: &str) -> Option<u64> {
    let rest = cf_name.strip_prefix('g')?;
    let (number, _) = rest.split_once('.')?;
    number.parse().ok()
}

/// `meta` key describing a generation (its projection versions).
pub fn generation_key(generation: u64) -> Vec<u8> {
    format!("gen/{generation:020}").into_bytes()
}

/// `checkpoint` key: the last position applied to the generation.
pub const CHECKPOINT_KEY: &[u8] = b"position";

/// An instant as 8 bytes whose bytewise order is chronological (microseconds, sign
/// bit flipped).
pub fn instant_key(at: DateTime<Utc>) -> [u8; 8] {
    ((at.timestamp_micros() as u64) ^ (1 << 63)).to_be_bytes()
}

/// `orders_by_user` key: user ++ inverted placement instant ++ inverted order id, so a
/// forward scan of one user's prefix yields the newest order first.
pub fn order_by_user_key(user: Uuid, placed_at: DateTime<Utc>, order: Uuid) -> Vec<u8> {
    let mut key = Vec::with_capacity(40);
    key.extend_from_slice(user.as_bytes());
    key.extend(instant_key(placed_at).iter().map(|b| !b));
    key.extend(order.as_bytes().iter().map(|b| !b));
    key
}

/// `awaiting_payment` key: expiry instant ++ order id, so the reconciler scans the
/// orders that expire first, first.
pub fn awaiting_key(expires_at: DateTime<Utc>, order: Uuid) -> Vec<u8> {
    let mut key = Vec::with_capacity(24);
    key.extend_from_slice(&instant_key(expires_at));
    key.extend_from_slice(order.as_bytes());
    key
}

/// `to_ship` key: the payment's instant ++ order id, oldest payment first.
pub fn to_ship_key(paid_at: DateTime<Utc>, order: Uuid) -> Vec<u8> {
    awaiting_key(paid_at, order)
}

/// `to_upload` key: the first shipment's instant ++ order id, oldest shipment first
/// (stable for the order's whole shipping life: a replacement keeps it).
pub fn to_upload_key(first_shipped_at: DateTime<Utc>, order: Uuid) -> Vec<u8> {
    awaiting_key(first_shipped_at, order)
}

/// `daily_sales` key: the Asia/Shanghai calendar day as `YYYY-MM-DD` (sorts by date).
pub fn day_key(day: NaiveDate) -> Vec<u8> {
    day.format("%Y-%m-%d").to_string().into_bytes()
}

pub fn u64_value(value: u64) -> [u8; 8] {
    value.to_be_bytes()
}

pub fn decode_u64(bytes: &[u8], what: &str) -> Result<u64> {
    let array: [u8; 8] = bytes.try_into().map_err(|_| {
        ProjectionError::Corrupt(format!("{what}: expected 8 bytes, got {}", bytes.len()))
    })?;
    Ok(u64::from_be_bytes(array))
}

pub fn decode_uuid(bytes: &[u8], what: &str) -> Result<Uuid> {
    Uuid::from_slice(bytes).map_err(|_| ProjectionError::Corrupt(format!("{what}: not a uuid")))
}

const VALUE_FORMAT_V1: u8 = 1;

/// Encodes a view value: format tag ++ postcard.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    postcard::to_extend(value, vec![VALUE_FORMAT_V1])
        .map_err(|e| ProjectionError::Corrupt(format!("cannot encode a view value: {e}")))
}

/// Decodes a view value written by [`encode`].
pub fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    match bytes.split_first() {
        Some((&VALUE_FORMAT_V1, body)) => postcard::from_bytes(body)
            .map_err(|e| ProjectionError::Corrupt(format!("{what}: cannot decode: {e}"))),
        Some((tag, _)) => Err(ProjectionError::Corrupt(format!(
            "{what}: unknown format tag {tag}"
        ))),
        None => Err(ProjectionError::Corrupt(format!("{what}: empty value"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap_or_default()
    }

    #[test]
    fn instants_sort_chronologically_even_before_1970() {
        assert!(instant_key(at(-5)) < instant_key(at(0)));
        assert!(instant_key(at(0)) < instant_key(at(1)));
        assert!(instant_key(at(1_700_000_000)) < instant_key(at(1_800_000_000)));
    }

    #[test]
    fn a_users_orders_sort_newest_first() {
        let user = Uuid::from_u128(7);
        let older = order_by_user_key(user, at(100), Uuid::from_u128(1));
        let newer = order_by_user_key(user, at(200), Uuid::from_u128(2));
        assert!(newer < older);
        assert!(older.starts_with(user.as_bytes()));
    }

    #[test]
    fn view_values_hold_instants_as_integers_exactly() {
        use crate::model::UserView;
        let registered_at =
            DateTime::from_timestamp(1_800_000_000, 123_456_789).unwrap_or_default();
        let view = UserView {
            user_id: paylog_core::UserId::from_uuid(Uuid::from_u128(7)),
            username: None,
            openid: None,
            has_password: false,
            registered_at,
        };
        let bytes = encode(&view).unwrap_or_default();
        // No RFC 3339 text: the year would be there as ASCII.
        assert!(!bytes.windows(4).any(|w| w == b"2027"), "{bytes:?}");
        let back: UserView = decode(&bytes, "users").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, view);
        assert_eq!(back.registered_at.timestamp_subsec_nanos(), 123_456_789);
    }

    #[test]
    fn generation_names_round_trip() {
        assert_eq!(generation_of(&cf_name(12, View::Orders)), Some(12));
        assert_eq!(generation_of("meta"), None);
        assert_eq!(generation_of("default"), None);
    }
}
