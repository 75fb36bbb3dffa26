//! Reconciliation with WeChat's daily bill (对账单): download the bill of a Beijing
//! day, gather what the log holds for that day, compare them with core's pure
//! `wxpay::bill::reconcile`, and recover what can be recovered.
//!
//! What the log holds for day D: every payment (the order's and the anomalous ones:
//! late, wrong amount, duplicate — WeChat took that money too) whose WeChat time
//! (`time_end`) falls on D in Beijing, and every refund requested on D, in whatever
//! status the log has it. They are found without a full scan: the log's
//! `recorded_at` never decreases, so a binary search finds where D begins (less
//! [`SCAN_MARGIN`] for clocks that disagree a little), and only the orders written
//! from there on are folded. A payment recorded later than its day (a lost notify
//! recovered next week) is still found: every later event is read too. A refund is
//! placed on the day paylog asked for it, WeChat's row on the day WeChat took it: a
//! refund asked for in the last instant before midnight may show on both days as a
//! difference, which the next day's report explains.
//!
//! Recovery: a payment in the bill that the log lacks is money the shop holds but did
//! not record. For an order paylog knows it is recorded exactly as a lost notify is —
//! orderquery, then the payment confirmation with the command id derived from the
//! transaction (`Payments::sync_payment`), so a late notify or the reconciler can
//! never record it twice. A payment for an order the log does not know at all cannot
//! be recorded anywhere: it is reported as an anomaly for an operator.
//!
//! Which API fetches the bill: WeChat keeps *one* bill per merchant account (mch_id)
//! and day, with every payment and refund of that account whichever API opened it;
//! v2's `downloadbill` and v3's `/v3/bill/tradebill` are two doors to the same
//! file. So a shop switching over (new prepays on v3, old orders still on v2, one
//! mch_id) fetches that one bill once — through v3 when new prepays are on v3
//! (`PAYLOG_WECHAT_PAY_VERSION=v3`; a v3-only shop has no v2 key to sign
//! `downloadbill` with), through v2 otherwise — and compares *every* order of the
//! log with it. Merging the two APIs' bills would count each row twice, and
//! splitting the log per API would not match anything either: a bill row does not
//! say which API opened its order.
//!
//! The daily run (`PAYLOG_RECONCILE_DAILY_AT`, Beijing time) reconciles yesterday
//! once a day, logs the outcome (an alert when the day does not match) and keeps the
//! report as JSON in `<data_dir>/reconciliation/YYYY-MM-DD.json` for auditors (a
//! report already kept for yesterday means the day is done, across restarts).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone as _, Utc};
use chrono_tz::Asia::Shanghai;
use paylog_core::order::{OrderState, RefundTarget};
use paylog_core::payment_refs::PayApi;
use paylog_core::streams::StreamRef;
use paylog_core::wxpay::bill::{
    BillDay, Difference, DifferenceKind, LogPayment, LogRecords, LogRefund, Movement, Report,
    beijing_day, default_bill_day, reconcile,
};
use paylog_engine::{Clock, Engine};
use paylog_store::EventStore;
use paylog_wechat::{BillCompression, WechatClient, WechatError, WechatV3Client};
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::payments::{Confirmation, Payments};
use crate::error::Error;

/// How far before the day's first instant the log is read: WeChat's clock and ours
/// may disagree a little, and a payment is recorded after WeChat took it.
pub const SCAN_MARGIN: Duration = Duration::from_secs(3600);
/// Most orders one reconciliation folds; beyond, it fails rather than exhaust memory.
pub const MAX_ORDERS_PER_RUN: usize = 1_000_000;
/// Events read per page while scanning the log.
const SCAN_PAGE: usize = 1024;
/// The Beijing time after which the daily run accepts "No Bill Exist" for a day the
/// log has movements on: before it, WeChat may not have published the bill yet, so
/// the run tries again at the next check instead of keeping a day of differences.
pub const NO_BILL_ACCEPTED_FROM: NaiveTime = match NaiveTime::from_hms_opt(20, 0, 0) {
    Some(t) => t,
    None => NaiveTime::MIN,
};
/// How often the daily run looks at the clock.
pub const DAILY_CHECK_INTERVAL: Duration = Duration::from_secs(60);

/// What was done about one difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "resolution", rename_all = "snake_case")]
pub enum Resolution {
    /// The payment was recorded from orderquery, as a lost notify is.
    Recovered { recorded_as: &'static str },
    /// The payment names no order paylog knows: an operator must find out whose
    /// money it is (and refund it at WeChat's merchant platform if nobody's).
    UnknownOrder,
    /// Recovery was tried and failed (WeChat unreachable…); the next run tries again.
    RecoveryFailed { reason: String },
    /// This run only reads (`paylog reconcile`): the server's run records it.
    NotAttempted,
    /// Nothing paylog can do alone: an operator compares with WeChat's merchant platform.
    ForAnOperator,
}

/// A difference and what was done about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    #[serde(flatten)]
    pub difference: Difference,
    #[serde(flatten)]
    pub resolution: Resolution,
}

/// Whether WeChat had a bill for the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BillPresence {
    Bill,
    /// `No Bill Exist`: no payment and no refund at WeChat that day.
    NoBill,
}

/// One day's reconciliation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayReport {
    /// The Beijing day.
    pub date: NaiveDate,
    pub bill: BillPresence,
    /// The bill and the log agreed on every movement.
    pub matches: bool,
    pub bill_payments: usize,
    pub bill_refunds: usize,
    pub log_payments: usize,
    pub log_refunds: usize,
    /// Payments recorded by this run (they were in the bill, not in the log).
    pub recovered: usize,
    /// Every difference found, in bill order then log order, with what was done.
    pub differences: Vec<Finding>,
    pub reconciled_at: DateTime<Utc>,
}

/// Where the day's bill is fetched (see the module docs: one bill per merchant).
#[derive(Debug, Clone)]
pub enum BillSource {
    /// `pay/downloadbill` (gzipped).
    V2(Box<WechatClient>),
    /// `/v3/bill/tradebill`, the file checked by its SHA1.
    V3(WechatV3Client),
}

impl BillSource {
    /// The API new prepays use, when its client is configured; v2 otherwise.
    pub fn of(payments: &Payments) -> Self {
        match (payments.new_prepays_on(), payments.wechat_v3()) {
            (PayApi::V3, Some(v3)) => Self::V3(v3.clone()),
            _ => Self::V2(Box::new(payments.wechat().clone())),
        }
    }

    /// The API the bill is fetched on.
    pub fn api(&self) -> PayApi {
        match self {
            Self::V2(_) => PayApi::V2,
            Self::V3(_) => PayApi::V3,
        }
    }

    async fn fetch(&self, day: NaiveDate) -> Result<BillDay, WechatError> {
        match self {
            Self::V2(c) => c.download_bill(day, BillCompression::Gzip).await,
            Self::V3(c) => c.daily_bill(day).await,
        }
    }
}

/// The reconciliation service; cheap to clone.
#[derive(Debug, Clone)]
pub struct BillReconciliation {
    engine: Engine,
    bill_source: BillSource,
    /// `None`: read only (nothing is recovered).
    payments: Option<Payments>,
    clock: Arc<dyn Clock>,
    /// Where the daily run keeps its reports; `None`: not kept.
    reports_dir: Option<PathBuf>,
    /// The daily run's time of day (Beijing); `None`: no daily run.
    daily_at: Option<NaiveTime>,
    /// The last day the daily run reconciled.
    last_daily: Arc<Mutex<Option<NaiveDate>>>,
}

impl BillReconciliation {
    /// A reconciliation of the log `store` that recovers missing payments through
    /// `payments`.
    pub fn new(
        store: Arc<dyn EventStore>,
        payments: Payments,
        clock: Arc<dyn Clock>,
        reports_dir: Option<PathBuf>,
        daily_at: Option<NaiveTime>,
    ) -> Self {
        Self {
            bill_source: BillSource::of(&payments),
            engine: scanning_engine(store),
            payments: Some(payments),
            clock,
            reports_dir,
            daily_at,
            last_daily: Arc::new(Mutex::new(None)),
        }
    }

    /// A reconciliation that only reads (the log may be a read-only snapshot).
    pub fn read_only(
        store: Arc<dyn EventStore>,
        bill_source: BillSource,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            engine: scanning_engine(store),
            bill_source,
            payments: None,
            clock,
            reports_dir: None,
            daily_at: None,
            last_daily: Arc::new(Mutex::new(None)),
        }
    }

    /// The API the bill is fetched on.
    pub fn bill_api(&self) -> PayApi {
        self.bill_source.api()
    }

    /// The day reconciled when none is named: yesterday in Beijing.
    pub fn default_day(&self) -> Result<NaiveDate, Error> {
        default_bill_day(self.clock.now()).ok_or(Error::Misuse("no day before today"))
    }

    /// Refuses a day that has not begun in Beijing. Today is allowed: WeChat answers
    /// for itself (no bill yet), and a log with movements then differs from it, so a
    /// partial day never passes for a matching one.
    fn check_day(&self, day: NaiveDate) -> Result<(), Error> {
        let today = beijing_day(self.clock.now());
        if day > today {
            return Err(Error::Refused {
                code: "bill_not_published",
                message: format!(
                    "{day} has not begun in Beijing (today is {today}); WeChat publishes a day's bill the next morning"
                ),
            });
        }
        Ok(())
    }

    /// Compares the day's bill with the log; records nothing.
    pub async fn report(&self, day: NaiveDate) -> Result<DayReport, Error> {
        self.check_day(day)?;
        let (bill, report) = self.compare(day).await?;
        let mut findings = Vec::with_capacity(report.differences.len());
        for d in &report.differences {
            let resolution = if !is_recoverable(d) {
                Resolution::ForAnOperator
            } else if self.known_order(d).await? {
                Resolution::NotAttempted
            } else {
                Resolution::UnknownOrder
            };
            findings.push(Finding {
                difference: d.clone(),
                resolution,
            });
        }
        Ok(self.day_report(day, bill, &report, findings, 0))
    }

    /// Compares the day's bill with the log and recovers the payments the log lacks
    /// (see the module docs); the report says what was done about each difference.
    pub async fn reconcile_and_recover(&self, day: NaiveDate) -> Result<DayReport, Error> {
        self.check_day(day)?;
        let (bill, report) = self.compare(day).await?;
        let mut findings = Vec::with_capacity(report.differences.len());
        let mut recovered = 0;
        for d in &report.differences {
            let resolution = if is_recoverable(d) {
                self.recover(d).await
            } else {
                Resolution::ForAnOperator
            };
            if matches!(resolution, Resolution::Recovered { .. }) {
                recovered += 1;
            }
            findings.push(Finding {
                difference: d.clone(),
                resolution,
            });
        }
        Ok(self.day_report(day, bill, &report, findings, recovered))
    }

    fn day_report(
        &self,
        date: NaiveDate,
        bill: BillPresence,
        report: &Report,
        differences: Vec<Finding>,
        recovered: usize,
    ) -> DayReport {
        DayReport {
            date,
            bill,
            matches: report.matches(),
            bill_payments: report.bill_payments,
            bill_refunds: report.bill_refunds,
            log_payments: report.log_payments,
            log_refunds: report.log_refunds,
            recovered,
            differences,
            reconciled_at: self.clock.now(),
        }
    }

    async fn compare(&self, day: NaiveDate) -> Result<(BillPresence, Report), Error> {
        // The bill first: a malformed one fails before the log is read.
        let bill = self.bill_source.fetch(day).await?;
        let presence = match bill {
            BillDay::NoBill => BillPresence::NoBill,
            BillDay::Bill(_) => BillPresence::Bill,
        };
        let log = self.log_records(day).await?;
        Ok((presence, reconcile(bill.rows(), &log)))
    }

    /// Whether the difference names an order the log has.
    async fn known_order(&self, d: &Difference) -> Result<bool, Error> {
        Ok(match d.ids.order_id {
            Some(id) => self.engine.order(id).await?.is_some(),
            None => false,
        })
    }

    async fn recover(&self, d: &Difference) -> Resolution {
        let Some(payments) = &self.payments else {
            return Resolution::NotAttempted;
        };
        let unknown = || {
            tracing::error!(
                alert = "bill_payment_unknown_order",
                out_trade_no = %d.ids.out_trade_no,
                transaction_id = %d.ids.transaction_id,
                "daily bill: WeChat took a payment for an order paylog does not know; an operator must act"
            );
            Resolution::UnknownOrder
        };
        let Some(order_id) = d.ids.order_id else {
            return unknown();
        };
        let order = match self.engine.order(order_id).await {
            Ok(Some(order)) => order,
            Ok(None) => return unknown(),
            Err(e) => {
                return Resolution::RecoveryFailed {
                    reason: e.to_string(),
                };
            }
        };
        match payments.sync_payment(&order).await {
            Ok(Some(Confirmation::Duplicate)) => Resolution::RecoveryFailed {
                reason: "orderquery names a transaction the log already has".to_owned(),
            },
            Ok(Some(confirmation)) => {
                tracing::warn!(
                    %order_id,
                    transaction_id = %d.ids.transaction_id,
                    ?confirmation,
                    "daily bill: a payment missing from the log was recorded"
                );
                Resolution::Recovered {
                    recorded_as: confirmation_name(confirmation),
                }
            }
            Ok(None) => Resolution::RecoveryFailed {
                reason: "orderquery says the order is not paid".to_owned(),
            },
            Err(e) => Resolution::RecoveryFailed {
                reason: e.to_string(),
            },
        }
    }

    /// What the log holds for the Beijing day `day` (see the module docs).
    pub async fn log_records(&self, day: NaiveDate) -> Result<LogRecords, Error> {
        let log = self.engine.store();
        let margin = chrono::Duration::from_std(SCAN_MARGIN)
            .map_err(|_| Error::Misuse("SCAN_MARGIN out of range"))?;
        let start = day_start(day)? - margin;
        let mut after = first_position_at(&**log, start).await?.saturating_sub(1);
        let mut orders = BTreeSet::new();
        loop {
            let page = log.read_all(after, SCAN_PAGE).await?;
            for event in &page {
                if let Some(StreamRef::Order(id)) = StreamRef::parse(&event.stream_id) {
                    orders.insert(id);
                }
            }
            if orders.len() > MAX_ORDERS_PER_RUN {
                return Err(Error::Internal(format!(
                    "more than {MAX_ORDERS_PER_RUN} orders written since {day}: reconcile a later day"
                )));
            }
            match page.last() {
                Some(last) if page.len() == SCAN_PAGE => after = last.position,
                _ => break,
            }
        }
        let mut records = LogRecords::default();
        for id in orders {
            if let Some(order) = self.engine.order(id).await? {
                add_movements(&order, day, &mut records);
            }
        }
        Ok(records)
    }

    /// Runs the daily reconciliation if it is due at `now` (see the module docs):
    /// `Some(report)` when it ran.
    pub async fn run_daily_if_due(&self) -> Result<Option<DayReport>, Error> {
        let Some(at) = self.daily_at else {
            return Ok(None);
        };
        let now = self.clock.now().with_timezone(&Shanghai);
        if now.time() < at {
            return Ok(None);
        }
        let day = self.default_day()?;
        let done = *self.last_daily.lock().unwrap_or_else(|p| p.into_inner());
        if done.is_some_and(|d| d >= day) || self.kept_report(day).is_some_and(|p| p.exists()) {
            return Ok(None);
        }
        let report = self.reconcile_and_recover(day).await?;
        let log_moved = report.log_payments + report.log_refunds > 0;
        if report.bill == BillPresence::NoBill && log_moved && now.time() < NO_BILL_ACCEPTED_FROM {
            tracing::warn!(
                date = %day,
                "daily bill: WeChat has no bill yet for a day with payments; trying again later"
            );
            return Ok(None);
        }
        self.keep(&report)?;
        *self.last_daily.lock().unwrap_or_else(|p| p.into_inner()) = Some(day);
        if report.matches {
            tracing::info!(
                date = %day,
                payments = report.bill_payments,
                refunds = report.bill_refunds,
                "daily bill reconciled: the day matches"
            );
        } else {
            tracing::error!(
                alert = "daily_bill_differences",
                date = %day,
                differences = report.differences.len(),
                recovered = report.recovered,
                "daily bill reconciled: the bill and the log differ"
            );
        }
        Ok(Some(report))
    }

    fn kept_report(&self, day: NaiveDate) -> Option<PathBuf> {
        self.reports_dir
            .as_ref()
            .map(|dir| dir.join(format!("{day}.json")))
    }

    /// Writes the report where auditors find it, atomically (temp file, rename).
    fn keep(&self, report: &DayReport) -> Result<(), Error> {
        let (Some(dir), Some(path)) = (&self.reports_dir, self.kept_report(report.date)) else {
            return Ok(());
        };
        let io =
            |e: std::io::Error| Error::Internal(format!("keeping the reconciliation report: {e}"));
        std::fs::create_dir_all(dir).map_err(io)?;
        let json = serde_json::to_vec_pretty(report)
            .map_err(|e| Error::Internal(format!("serialising the report: {e}")))?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, json).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        Ok(())
    }

    /// The daily run in the background, until `stop` says so; a failed run is logged
    /// and tried again at the next check.
    pub fn spawn_daily(self, mut stop: watch::Receiver<bool>) -> Option<JoinHandle<()>> {
        self.daily_at?;
        Some(tokio::spawn(async move {
            loop {
                if let Err(e) = self.run_daily_if_due().await {
                    tracing::error!(error = %e, "daily bill reconciliation failed; retrying later");
                }
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => return,
                    () = tokio::time::sleep(DAILY_CHECK_INTERVAL) => {}
                }
            }
        }))
    }
}

/// An engine that only loads, without a state cache: a day's reconciliation folds
/// every order written since, which would only evict the live server's hot orders.
fn scanning_engine(store: Arc<dyn EventStore>) -> Engine {
    Engine::with_cache_capacity(store, 0)
}

/// A payment in the bill that the log lacks: money held but not recorded.
fn is_recoverable(d: &Difference) -> bool {
    d.movement == Movement::Payment && matches!(d.kind, DifferenceKind::MissingFromLog { .. })
}

fn confirmation_name(c: Confirmation) -> &'static str {
    match c {
        Confirmation::Paid => "payment",
        Confirmation::Duplicate => "duplicate",
        Confirmation::AmountMismatch => "amount_mismatch",
        Confirmation::LatePayment => "late_payment",
        Confirmation::DuplicatePayment => "duplicate_payment",
    }
}

/// The first instant of a Beijing day.
fn day_start(day: NaiveDate) -> Result<DateTime<Utc>, Error> {
    let midnight = day.and_time(NaiveTime::MIN);
    Shanghai
        .from_local_datetime(&midnight)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .ok_or(Error::Misuse("a Beijing midnight is never ambiguous"))
}

/// The first position recorded at or after `at` (head + 1 when none): a binary
/// search, since `recorded_at` never decreases along the log.
async fn first_position_at(log: &dyn EventStore, at: DateTime<Utc>) -> Result<u64, Error> {
    let (mut lo, mut hi) = (1u64, log.head().saturating_add(1));
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let event = log.read_all(mid - 1, 1).await?;
        match event.first() {
            Some(e) if e.recorded_at < at => lo = mid + 1,
            _ => hi = mid,
        }
    }
    Ok(lo)
}

/// The order's payments (its own and anomalous ones) made on `day` and its refunds
/// requested on `day`.
fn add_movements(order: &OrderState, day: NaiveDate, records: &mut LogRecords) {
    if let Some(p) = order
        .payment
        .as_ref()
        .filter(|p| beijing_day(p.paid_at) == day)
    {
        records.payments.push(LogPayment {
            out_trade_no: order.out_trade_no.clone(),
            transaction_id: p.transaction_id.clone(),
            amount: p.amount,
        });
    }
    for a in order
        .anomalies
        .iter()
        .filter(|a| beijing_day(a.paid_at) == day)
    {
        records.payments.push(LogPayment {
            out_trade_no: order.out_trade_no.clone(),
            transaction_id: a.transaction_id.clone(),
            amount: a.amount,
        });
    }
    for r in order
        .refunds
        .iter()
        .filter(|r| beijing_day(r.requested_at) == day)
    {
        let transaction_id = match &r.target {
            RefundTarget::Payment => match &order.payment {
                Some(p) => p.transaction_id.clone(),
                None => continue,
            },
            RefundTarget::Anomaly(tx) => tx.clone(),
        };
        records.refunds.push(LogRefund {
            out_trade_no: order.out_trade_no.clone(),
            transaction_id,
            out_refund_no: r.out_refund_no.clone(),
            refund_id: r.refund_id.clone(),
            amount: r.amount,
            status: r.status,
        });
    }
}

/// Parses `YYYY-MM-DD` (the CLI's `--date`, the endpoint's path).
pub fn parse_day(s: &str) -> Result<NaiveDate, Error> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .filter(|_| s.len() == 10)
        .ok_or_else(|| Error::BadInput {
            code: "invalid_date",
            message: format!("{s:?} is not a date like 2026-09-24"),
        })
}
