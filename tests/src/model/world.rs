//! [`World`]: one case's real engine, RocksDB log and live projections, driven step by
//! step and checked after every step against the model, the log and a fresh replay.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, TimeZone, Utc};
use paylog_api::metrics::Metrics;
use paylog_api::services::Settle as ReadYourWrites;
use paylog_api::services::message_push::{MessagePush, PushOutcome};
use paylog_api::services::payments::{NotifyOutcome, Payments};
use paylog_api::services::shipping::Shipping;
use paylog_core::checkout::ClosedAtWechat;
use paylog_engine::{Clock, CommandMeta, Engine, EngineError, SystemClock};
use paylog_projections::{Projector, ProjectorHandle, Views};
use paylog_store::{EventStore, RocksStore, StoreOptions};
use paylog_wechat::{WechatClient, WechatV3Client};
use tempfile::TempDir;
use uuid::Uuid;

use super::command::{self, Command, concretize};
use super::log::LogAudit;
use super::notify;
use super::reference::{Expect, Model};
use super::step::{O, P, Settle, Step, U};

/// What the engine did with a command.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    /// A domain refusal or a notify that was not recorded: must change nothing.
    Refused,
    /// Accepted; this many events appended (0: an idempotent repeat).
    Appended(usize),
    /// The store recognised the command id: nothing appended.
    DuplicateId,
}

fn agrees(expect: Expect, outcome: Outcome) -> bool {
    match (expect, outcome) {
        (Expect::Refused, Outcome::Refused) => true,
        (Expect::Accepted(n), Outcome::Appended(m)) => n == m,
        _ => false,
    }
}

fn appended(outcome: Outcome) -> u64 {
    match outcome {
        Outcome::Refused | Outcome::DuplicateId => 0,
        Outcome::Appended(n) => n as u64,
    }
}

/// The engine and the notify handler a world runs commands through.
#[derive(Clone)]
struct Api {
    engine: Engine,
    payments: Payments,
    /// WeChat's message push, stamping what it records at the world's time.
    push: MessagePush,
    clock: Arc<WorldClock>,
}

/// "Now" for the push service: the world's clock, set before every step.
#[derive(Debug, Default)]
struct WorldClock(std::sync::Mutex<DateTime<Utc>>);

impl WorldClock {
    fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }
}

impl Clock for WorldClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Runs one concrete command the way the API would. Errors other than refusals
/// (store failures, exhausted retries, misuse, an unrecorded notify) fail the case.
async fn execute(api: &Api, meta: CommandMeta, command: &Command) -> Result<Outcome, String> {
    let engine = &api.engine;
    let result = match command.clone() {
        Command::Register(c) => engine.register_user(meta, c).await,
        Command::CreateProduct(c) => engine.create_product(meta, c).await,
        Command::AdjustStock {
            product_id,
            delta,
            reason,
            ..
        } => engine.adjust_stock(meta, product_id, delta, reason).await,
        Command::PlaceOrder(c) => engine.place_order(meta, c).await,
        Command::Cancel {
            order_id,
            closed_at_wechat,
            ..
        } => {
            let closed = if closed_at_wechat {
                ClosedAtWechat::Yes
            } else {
                ClosedAtWechat::No
            };
            engine.cancel_order(meta, order_id, closed).await
        }
        Command::Close { order_id, .. } => engine.close_order(meta, order_id).await,
        Command::OnOrder { order_id, command } => {
            engine.execute_order(meta, order_id, command).await
        }
        Command::Push(p) => {
            api.clock.set(p.at);
            return match api.push.receive(&p.query, &p.body).await {
                PushOutcome::Recorded { appended } => Ok(Outcome::Appended(appended)),
                PushOutcome::Duplicate | PushOutcome::Announced => Ok(Outcome::Appended(0)),
                PushOutcome::Failed => Err(format!("push could not be recorded: {p:?}")),
                _ => Ok(Outcome::Refused),
            };
        }
        Command::Notify(n) => {
            let outcome = if n.v3 {
                let get = |name: &str| {
                    n.headers
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(name))
                        .map(|(_, v)| v.as_str())
                };
                api.payments.pay_notify_v3(get, n.body.as_bytes()).await
            } else {
                api.payments.pay_notify(&n.body).await
            };
            return match outcome {
                NotifyOutcome::Paid
                | NotifyOutcome::AmountMismatch
                | NotifyOutcome::LatePayment
                | NotifyOutcome::DuplicatePayment => Ok(Outcome::Appended(1)),
                NotifyOutcome::Duplicate => Ok(Outcome::Appended(0)),
                NotifyOutcome::Failed => Err(format!("notify could not be recorded: {n:?}")),
                _ => Ok(Outcome::Refused),
            };
        }
    };
    match result {
        Ok(c) if c.duplicate => Ok(Outcome::DuplicateId),
        Ok(c) => Ok(Outcome::Appended(c.appended)),
        Err(EngineError::Domain(_)) => Ok(Outcome::Refused),
        Err(other) => Err(format!("{command:?} failed: {other}")),
    }
}

/// The refund answer a `RequestRefund` step asks for right after its request.
fn settle_after(step: &Step) -> Option<Step> {
    let Step::RequestRefund {
        order,
        refund,
        then,
        ..
    } = *step
    else {
        return None;
    };
    match then {
        Settle::Later => None,
        Settle::Confirmed => Some(Step::ConfirmRefund {
            order,
            refund,
            wrong_amount: false,
        }),
        Settle::Failed => Some(Step::FailRefund { order, refund }),
    }
}

fn meta_for(command: &Command) -> CommandMeta {
    let id = Uuid::now_v7();
    CommandMeta {
        command_id: id,
        correlation_id: id,
        causation_id: None,
        at: command.at(),
    }
}

/// One case's shop: a temp data dir with the log and the live views.
pub struct World {
    dir: TempDir,
    store: Arc<RocksStore>,
    engine: Engine,
    api: Api,
    views: Views,
    projector: Option<ProjectorHandle>,
    model: Model,
    audit: LogAudit,
    /// Every command that appended, with the meta it was sent with (for `Resend`).
    acked: Vec<(Command, CommandMeta)>,
    clock: DateTime<Utc>,
    /// `(kind, accepted)` → how many times, to show what a run exercised.
    tally: std::collections::BTreeMap<(String, bool), u32>,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("dir", &self.dir.path())
            .field("head", &self.store.head())
            .finish()
    }
}

impl World {
    /// A fresh store and views in a temp dir, with the projector following the log.
    pub fn open() -> Result<World, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let store = Arc::new(
            RocksStore::open(dir.path().join("log"), StoreOptions::default())
                .map_err(|e| format!("open store: {e}"))?,
        );
        let views = Views::open(dir.path().join("views")).map_err(|e| format!("views: {e}"))?;
        let projector = Projector::spawn(store.clone(), views.clone());
        let engine = Engine::new(store.clone());
        let wechat =
            WechatClient::new(notify::wechat_config()).map_err(|e| format!("wechat: {e}"))?;
        let v3 = WechatV3Client::new(notify::wechat_v3_config()?)
            .map_err(|e| format!("wechat v3: {e}"))?;
        // New prepays stay on v2 (nothing calls WeChat here); v3 notifies are
        // verified with the v3 client either way.
        let clock = Arc::new(WorldClock::default());
        let metrics = Arc::new(Metrics::new());
        // Plain-mode hints would ask WeChat (get_order); the world pushes in safe
        // mode only, so this client is never called.
        let shipping = Shipping::new(
            engine.clone(),
            views.clone(),
            wechat.clone(),
            ReadYourWrites::new(views.clone(), Arc::clone(&metrics)),
            clock.clone(),
        );
        let push = MessagePush::new(
            Some(super::push::settings()),
            engine.clone(),
            shipping,
            ReadYourWrites::new(views.clone(), Arc::clone(&metrics)),
            metrics,
            clock.clone(),
        );
        let payments = Payments::new(
            engine.clone(),
            wechat,
            Arc::new(Metrics::new()),
            Arc::new(SystemClock),
        )
        .with_v3(v3, paylog_core::payment_refs::PayApi::V2);
        Ok(World {
            api: Api {
                engine: engine.clone(),
                payments,
                push,
                clock,
            },
            engine,
            store,
            views,
            projector: Some(projector),
            model: Model::default(),
            audit: LogAudit::default(),
            acked: Vec::new(),
            tally: Default::default(),
            clock: Utc
                .with_ymd_and_hms(2024, 6, 18, 2, 0, 0)
                .single()
                .unwrap_or_default(),
            dir,
        })
    }

    /// Runs one step, then checks every invariant.
    pub async fn run(&mut self, step: &Step) -> Result<(), String> {
        // Each step is a minute later: orders (30 minutes to pay) expire mid-case.
        self.clock += Duration::minutes(1);
        match step {
            Step::Resend { back } => self.resend(*back).await?,
            Step::Concurrently(a, b) => self.race(a, b).await?,
            single => {
                let command = concretize(single, &self.model, self.clock)
                    .ok_or_else(|| format!("{single:?} is not a single command"))?;
                self.single(command).await?;
                if let Some(settle) = settle_after(single) {
                    let command = concretize(&settle, &self.model, self.clock)
                        .ok_or_else(|| format!("{settle:?} is not a single command"))?;
                    self.single(command).await?;
                }
            }
        }
        self.check().await
    }

    async fn single(&mut self, command: Command) -> Result<(), String> {
        let head = self.store.head();
        let meta = meta_for(&command);
        let outcome = execute(&self.api, meta, &command).await?;
        let expect = self.model.apply(&command);
        if !agrees(expect, outcome) {
            return Err(format!(
                "model expected {expect:?}, engine did {outcome:?} for {command:?}"
            ));
        }
        self.after(head, appended(outcome))?;
        self.count(&command, outcome);
        if appended(outcome) > 0 {
            self.acked.push((command, meta));
        }
        Ok(())
    }

    /// Two commands at once; the result must be one of the two serial orders.
    async fn race(&mut self, a: &Step, b: &Step) -> Result<(), String> {
        let (Some(ca), Some(cb)) = (
            concretize(a, &self.model, self.clock),
            concretize(b, &self.model, self.clock),
        ) else {
            return Err(format!("cannot race {a:?} and {b:?}"));
        };
        let head = self.store.head();
        let (ma, mb) = (meta_for(&ca), meta_for(&cb));
        let spawn = |command: Command, meta: CommandMeta| {
            let api = self.api.clone();
            tokio::spawn(async move { execute(&api, meta, &command).await })
        };
        let (ra, rb) = tokio::join!(spawn(ca.clone(), ma), spawn(cb.clone(), mb));
        let ra = ra.map_err(|e| format!("task: {e}"))??;
        let rb = rb.map_err(|e| format!("task: {e}"))??;
        let mut explained = None;
        for a_first in [true, false] {
            let mut model = self.model.clone();
            let (ea, eb) = if a_first {
                let ea = model.apply(&ca);
                (ea, model.apply(&cb))
            } else {
                let eb = model.apply(&cb);
                (model.apply(&ca), eb)
            };
            if agrees(ea, ra) && agrees(eb, rb) {
                explained = Some(model);
                break;
            }
        }
        let Some(model) = explained else {
            return Err(format!(
                "no serial order explains the race: {ra:?} for {ca:?}, {rb:?} for {cb:?}"
            ));
        };
        self.model = model;
        self.after(head, appended(ra) + appended(rb))?;
        for (command, meta, outcome) in [(ca, ma, ra), (cb, mb, rb)] {
            self.count(&command, outcome);
            if appended(outcome) > 0 {
                self.acked.push((command, meta));
            }
        }
        Ok(())
    }

    /// Sends an acknowledged command again with the same command id: nothing appends.
    async fn resend(&mut self, back: u8) -> Result<(), String> {
        let Some(index) = self.acked.len().checked_sub(1 + usize::from(back)) else {
            return Ok(());
        };
        let (command, meta) = self.acked[index].clone();
        let head = self.store.head();
        let outcome = execute(&self.api, meta, &command).await?;
        if appended(outcome) != 0 || self.store.head() != head {
            return Err(format!(
                "re-sent command id {} appended again ({outcome:?}): {command:?}",
                meta.command_id
            ));
        }
        Ok(())
    }

    fn count(&mut self, command: &Command, outcome: Outcome) {
        let kind = match command {
            Command::OnOrder { command, .. } => command.name().to_owned(),
            Command::Notify(n) if n.genuine.is_none() => "Notify(forged)".to_owned(),
            other => format!("{other:?}")
                .split(['(', ' ', '{'])
                .next()
                .unwrap_or_default()
                .to_owned(),
        };
        let accepted = appended(outcome) > 0;
        *self.tally.entry((kind, accepted)).or_default() += 1;
    }

    /// How many commands of each kind appended (`true`) or not, and how many orders
    /// ended in each status: what a run exercised.
    pub fn tally(&self) -> String {
        let mut statuses = std::collections::BTreeMap::<String, u32>::new();
        for order in self.model.orders.values() {
            *statuses.entry(order.status().to_string()).or_default() += 1;
            for refund in &order.refunds {
                *statuses
                    .entry(format!("refund {:?}", refund.state))
                    .or_default() += 1;
            }
        }
        format!("{:?}\n  orders: {statuses:?}", self.tally)
    }

    fn after(&self, head_before: u64, appended: u64) -> Result<(), String> {
        let head = self.store.head();
        if head != head_before + appended {
            return Err(format!(
                "head moved from {head_before} to {head} for {appended} appended events"
            ));
        }
        Ok(())
    }

    /// Every invariant, from the log, the live engine, a fresh replay and the model.
    async fn check(&mut self) -> Result<(), String> {
        self.audit.catch_up(&*self.store).await?;
        if self.audit.position() != self.store.head() {
            return Err(format!(
                "log read up to {} but head is {}",
                self.audit.position(),
                self.store.head()
            ));
        }
        // A fresh engine without a cache folds every stream from version 1.
        let replay = Engine::with_cache_capacity(self.store.clone(), 0);
        self.check_products(&replay).await?;
        self.check_orders(&replay).await?;
        for u in 0..3 {
            let user_id = command::user_id(U(u));
            let live = self.engine.user(user_id).await.map_err(|e| e.to_string())?;
            let fresh = replay.user(user_id).await.map_err(|e| e.to_string())?;
            if live != fresh || live.is_some() != self.model.users.contains(&user_id) {
                return Err(format!("user u{u}: live {live:?}, replayed {fresh:?}"));
            }
        }
        Ok(())
    }

    async fn check_products(&self, replay: &Engine) -> Result<(), String> {
        for p in 0..3 {
            let product_id = command::product_id(P(p));
            let live = self
                .engine
                .product(product_id)
                .await
                .map_err(|e| e.to_string())?;
            let fresh = replay
                .product(product_id)
                .await
                .map_err(|e| e.to_string())?;
            if live != fresh {
                return Err(format!("p{p}: live {live:?} ≠ replayed {fresh:?}"));
            }
            let model = self.model.products.get(&product_id);
            match (live, model) {
                (None, None) => {}
                (Some(live), Some(model)) => {
                    let from_log = self.audit.stock.get(&product_id).copied();
                    if model.stock() < 0
                        || i128::from(live.stock) != model.stock()
                        || from_log != Some(model.stock())
                    {
                        return Err(format!(
                            "p{p}: stock {} in the engine, {} in the model \
                             (initial {} + adjusted {} − reserved {} + released {}), {from_log:?} in the log",
                            live.stock,
                            model.stock(),
                            model.initial,
                            model.adjusted,
                            model.reserved,
                            model.released
                        ));
                    }
                }
                (live, model) => {
                    return Err(format!("p{p}: engine has {live:?}, model has {model:?}"));
                }
            }
            // Every accepted adjustment's reason is in the log, trimmed, exactly once.
            // Sorted: two raced adjustments may land in either order.
            let mut expected = model.map(|m| m.reasons.clone()).unwrap_or_default();
            let mut logged = self
                .audit
                .reasons
                .get(&product_id)
                .cloned()
                .unwrap_or_default();
            expected.sort();
            logged.sort();
            if expected != logged {
                return Err(format!(
                    "p{p}: adjustment reasons {logged:?} in the log, {expected:?} in the model"
                ));
            }
        }
        Ok(())
    }

    async fn check_orders(&self, replay: &Engine) -> Result<(), String> {
        let ids = (0..5)
            .map(|o| (format!("o{o}"), command::order_id(O(o))))
            .chain([("unknown order".to_owned(), command::unknown_order_id())]);
        for (name, order_id) in ids {
            let live = self
                .engine
                .order(order_id)
                .await
                .map_err(|e| e.to_string())?;
            let fresh = replay.order(order_id).await.map_err(|e| e.to_string())?;
            if live != fresh {
                return Err(format!("{name}: live {live:?} ≠ replayed {fresh:?}"));
            }
            let money = self
                .audit
                .orders
                .get(&order_id)
                .cloned()
                .unwrap_or_default();
            let (live, model) = match (live, self.model.orders.get(&order_id)) {
                (None, None) if money.confirmed_payments.is_empty() => continue,
                (Some(live), Some(model)) => (live, model),
                (live, model) => {
                    return Err(format!("{name}: engine has {live:?}, model has {model:?}"));
                }
            };
            live.check_invariants()
                .map_err(|e| format!("{name}: {e}"))?;
            // Paid at most once, and a paid order by exactly one payment of its total.
            let payments = &money.confirmed_payments;
            let paid_once = if live.status.is_paid() {
                payments.as_slice() == [live.total.get()]
            } else {
                payments.is_empty()
            };
            if !paid_once {
                return Err(format!(
                    "{name} ({}, total {}): PaymentConfirmed amounts in the log: {payments:?}",
                    live.status, live.total
                ));
            }
            let paid_in_log: u64 = payments.iter().sum();
            if money.refunded > paid_in_log || live.refunded.get() != money.refunded {
                return Err(format!(
                    "{name}: refunded {} (log) / {} (engine) against {paid_in_log} paid",
                    money.refunded, live.refunded
                ));
            }
            let seen = (
                live.status,
                live.total.get(),
                live.paid.get(),
                live.refunded.get(),
                live.pending_refunds.get(),
            );
            let wanted = (
                model.status(),
                model.total,
                model.paid(),
                model.refunded(),
                model.pending(),
            );
            if seen != wanted {
                return Err(format!(
                    "{name}: engine (status, total, paid, refunded, pending) = {seen:?}, model = {wanted:?}"
                ));
            }
            // The shipment: its revision, WeChat's acceptance, the one change, receipt
            // and settlement.
            let shipped = live.shipping.as_ref().map(|s| {
                (
                    s.revision,
                    s.upload == paylog_core::order::UploadStatus::Uploaded,
                    s.failed_attempts,
                    s.reuploads,
                    s.receipt_confirmed_at.is_some(),
                    s.settled_at.is_some(),
                )
            });
            let modelled = model.shipping.as_ref().map(|s| {
                (
                    s.revision,
                    s.uploaded,
                    s.failures,
                    s.reuploads,
                    s.received,
                    s.settled,
                )
            });
            if shipped != modelled {
                return Err(format!(
                    "{name}: engine shipping (revision, uploaded, failures, reuploads, received, settled) = {shipped:?}, model = {modelled:?}"
                ));
            }
            // The money the shop holds: payments + anomalies − confirmed refunds.
            let held = live.money_held().map(|f| f.get());
            if held != Some(model.money_held()) {
                return Err(format!(
                    "{name}: engine holds {held:?}, model {} (payment {}, anomalies {:?}, refunds {:?})",
                    model.money_held(),
                    model.paid(),
                    model.anomalies,
                    model.refunds
                ));
            }
        }
        Ok(())
    }

    /// The live views, once caught up, equal views rebuilt from scratch; the log
    /// passes the audit's verify.
    pub async fn check_views(&self) -> Result<(), String> {
        let head = self.store.head();
        if !self.views.wait_for(head, StdDuration::from_secs(30)).await {
            let error = self.projector.as_ref().and_then(|p| p.last_error());
            return Err(format!(
                "live views stuck at {} of {head} (projector error: {error:?})",
                self.views.position()
            ));
        }
        let path = self.dir.path().join(format!("rebuilt-{head}"));
        let fresh = Views::open(&path).map_err(|e| format!("open {}: {e}", path.display()))?;
        paylog_projections::rebuild(&*self.store, &fresh, |_| {})
            .await
            .map_err(|e| format!("rebuild: {e}"))?;
        let differences =
            paylog_projections::diff(&self.views, &fresh, 10).map_err(|e| format!("diff: {e}"))?;
        if !differences.is_empty() {
            let shown: Vec<String> = differences.iter().map(|d| d.to_string()).collect();
            return Err(format!(
                "live views ≠ rebuilt views:\n  {}",
                shown.join("\n  ")
            ));
        }
        let report = paylog_projections::audit::verify_log(&*self.store, 10, |_, _| {})
            .await
            .map_err(|e| format!("verify: {e}"))?;
        if !report.is_sound() {
            let shown: Vec<String> = report.breaches.iter().map(|b| b.to_string()).collect();
            return Err(format!("audit verify: {}", shown.join("; ")));
        }
        Ok(())
    }

    /// Checks the views one last time and stops the projector.
    pub async fn finish(mut self) -> Result<(), String> {
        let checked = self.check_views().await;
        if let Some(projector) = self.projector.take() {
            projector.shutdown().await;
        }
        checked
    }
}
