//! Comparing two sets of views key by key: how `replay --verify` proves that a rebuild
//! reproduces the live views, and how tests prove that a round trip changes nothing.

use std::cmp::Ordering;

use rocksdb::IteratorMode;
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::error::Result;
use crate::layout::{self, View};
use crate::model::{
    AwaitingPayment, DailySales, LedgerEntry, OrderSummary, OrderView, ProductView, UserView,
};
use crate::views::{Db, Generation, Views, cf};

/// One key whose value differs between two view sets (`None`: absent on that side).
/// Values are rendered as JSON for people.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    pub view: &'static str,
    pub key: String,
    pub left: Option<serde_json::Value>,
    pub right: Option<serde_json::Value>,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: &Option<serde_json::Value>| {
            v.as_ref()
                .map_or_else(|| "(absent)".to_owned(), |v| v.to_string())
        };
        write!(
            f,
            "{} [{}]: {} ≠ {}",
            self.view,
            self.key,
            show(&self.left),
            show(&self.right)
        )
    }
}

/// Compares the active generations of two view sets (e.g. two data directories),
/// checkpoints included. Returns at most `max` differences, in view and key order.
pub fn diff(left: &Views, right: &Views, max: usize) -> Result<Vec<Difference>> {
    diff_generations(left.db(), &left.active(), right.db(), &right.active(), max)
}

pub(crate) fn diff_generations(
    left_db: &Db,
    left: &Generation,
    right_db: &Db,
    right: &Generation,
    max: usize,
) -> Result<Vec<Difference>> {
    let mut differences = Vec::new();
    for view in View::ALL {
        if differences.len() >= max {
            break;
        }
        let left_cf = cf(left_db, left.id, view)?;
        let right_cf = cf(right_db, right.id, view)?;
        let mut a = left_db.iterator_cf(&left_cf, IteratorMode::Start);
        let mut b = right_db.iterator_cf(&right_cf, IteratorMode::Start);
        let mut next_a = a.next().transpose()?;
        let mut next_b = b.next().transpose()?;
        while differences.len() < max {
            let order = match (&next_a, &next_b) {
                (None, None) => break,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some((ka, _)), Some((kb, _))) => ka.cmp(kb),
            };
            match order {
                Ordering::Less => {
                    if let Some((key, value)) = next_a.take() {
                        differences.push(difference(view, &key, Some(&value), None));
                    }
                    next_a = a.next().transpose()?;
                }
                Ordering::Greater => {
                    if let Some((key, value)) = next_b.take() {
                        differences.push(difference(view, &key, None, Some(&value)));
                    }
                    next_b = b.next().transpose()?;
                }
                Ordering::Equal => {
                    if let (Some((key, va)), Some((_, vb))) = (next_a.take(), next_b.take())
                        && va != vb
                    {
                        differences.push(difference(view, &key, Some(&va), Some(&vb)));
                    }
                    next_a = a.next().transpose()?;
                    next_b = b.next().transpose()?;
                }
            }
        }
    }
    Ok(differences)
}

fn difference(view: View, key: &[u8], left: Option<&[u8]>, right: Option<&[u8]>) -> Difference {
    Difference {
        view: view.name(),
        key: render_key(view, key),
        left: left.map(|v| render_value(view, v)),
        right: right.map(|v| render_value(view, v)),
    }
}

fn render_key(view: View, key: &[u8]) -> String {
    match view {
        View::Users | View::Orders | View::Products | View::MoneyWatch => {
            Uuid::from_slice(key).map_or_else(|_| hex::encode(key), |id| id.to_string())
        }
        View::UsersByOpenId | View::UsersByUsername | View::DailySales | View::Checkpoint => {
            String::from_utf8_lossy(key).into_owned()
        }
        View::Ledger => layout::decode_u64(key, "ledger key")
            .map_or_else(|_| hex::encode(key), |p| format!("position {p}")),
        View::OrdersByUser
        | View::AwaitingPayment
        | View::ToShip
        | View::ToUpload
        | View::ToSettle => hex::encode(key),
    }
}

fn render_value(view: View, bytes: &[u8]) -> serde_json::Value {
    fn as_json<T: DeserializeOwned + Serialize>(bytes: &[u8], what: &str) -> serde_json::Value {
        layout::decode::<T>(bytes, what)
            .ok()
            .and_then(|v| serde_json::to_value(v).ok())
            .unwrap_or_else(|| {
                serde_json::Value::String(format!("undecodable: {}", hex::encode(bytes)))
            })
    }
    let what = view.name();
    match view {
        View::Checkpoint => layout::decode_u64(bytes, what).map_or_else(
            |_| serde_json::Value::String(hex::encode(bytes)),
            Into::into,
        ),
        View::Users => as_json::<UserView>(bytes, what),
        View::UsersByOpenId | View::UsersByUsername => as_json::<paylog_core::UserId>(bytes, what),
        View::Orders | View::MoneyWatch | View::ToUpload | View::ToSettle => {
            as_json::<OrderView>(bytes, what)
        }
        View::OrdersByUser | View::ToShip => as_json::<OrderSummary>(bytes, what),
        View::Products => as_json::<ProductView>(bytes, what),
        View::Ledger => as_json::<LedgerEntry>(bytes, what),
        View::DailySales => as_json::<DailySales>(bytes, what),
        View::AwaitingPayment => as_json::<AwaitingPayment>(bytes, what),
    }
}
