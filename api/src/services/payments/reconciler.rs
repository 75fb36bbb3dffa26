//! The reconciler: finds payments whose notify never came and orders past their expiry.
//!
//! Every `interval` it scans the orders still awaiting payment (the views' list, soonest
//! expiry first) and, for each one whose payment was requested at least
//! `reconcile_after` ago or which has expired, decides on the order's strongly
//! consistent state:
//! - WeChat says paid (orderquery) → `ConfirmPayment`, with the same derived command id a
//!   notify would use, so a notify racing the reconciler appends nothing more;
//! - not paid and past its expiry → closeorder at WeChat, then `CloseOrder` (stock back);
//! - paid with the wrong amount → `CloseOrder` at once (`AmountMismatch`, stock back):
//!   such an order can never be paid, so it is not queried again.
//!
//! A failure on one order is counted and logged; the others are still handled.

use std::time::Duration;

use chrono::{DateTime, Utc};
use paylog_core::order::{AnomalyKind, OrderState, Refund, RefundStatus};
use paylog_core::wxpay::ErrCode;
use paylog_projections::{AwaitingPayment, Page, Views};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{Confirmation, Payments, RefundSettlement};
use crate::error::Error;
use crate::services::periodic::{self, JobStatus};

/// Most orders looked at in one run (the rest wait for the next one).
const MAX_PER_RUN: usize = 2000;

fn has_wrong_amount(order: &OrderState) -> bool {
    order
        .anomalies
        .iter()
        .any(|a| a.kind == AnomalyKind::AmountMismatch)
}

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Orders asked about at WeChat or closed.
    pub checked: usize,
    /// Payments recorded from orderquery.
    pub confirmed: usize,
    /// Orders closed (stock released).
    pub closed: usize,
    /// Orders that failed and will be retried next run.
    pub errors: usize,
    /// Pending refunds asked about at WeChat (refundquery).
    pub refunds_checked: usize,
    /// Refunds whose outcome was recorded (confirmed, failed or needing attention).
    pub refunds_settled: usize,
}

/// The background reconciler; cheap to clone.
#[derive(Debug, Clone)]
pub struct Reconciler {
    payments: Payments,
    views: Views,
    reconcile_after: Duration,
    interval: Duration,
    status: JobStatus,
}

enum Action {
    Nothing,
    Confirmed,
    Closed,
}

impl Reconciler {
    pub fn new(
        payments: Payments,
        views: Views,
        reconcile_after: Duration,
        interval: Duration,
    ) -> Self {
        Self {
            payments,
            views,
            reconcile_after,
            interval,
            status: JobStatus::new("reconciler"),
        }
    }

    /// Its runs: when the last one started and finished, how it ended, its last error.
    pub fn status(&self) -> JobStatus {
        self.status.clone()
    }

    /// One pass over the orders awaiting payment, as of now by the payments' clock,
    /// recorded in [`Reconciler::status`].
    pub async fn run_once(&self) -> Result<ReconcileReport, Error> {
        self.status.track(&*self.payments.clock, self.pass()).await
    }

    async fn pass(&self) -> Result<ReconcileReport, Error> {
        let now = self.payments.clock.now();
        let after = chrono::Duration::from_std(self.reconcile_after).map_err(|_| {
            Error::Startup(format!(
                "reconcile-after {:?} is out of range",
                self.reconcile_after
            ))
        })?;
        let mut report = ReconcileReport::default();
        let mut page = Page::first(Page::MAX_LIMIT);
        let mut seen = 0;
        loop {
            let batch = self.views.awaiting_payment(None, &page)?;
            for candidate in &batch.items {
                seen += 1;
                let stale = candidate
                    .payment_requested_at
                    .is_some_and(|at| at + after <= now);
                if !stale && now < candidate.expires_at {
                    continue;
                }
                report.checked += 1;
                self.payments.metrics.reconciler("checked");
                match self.reconcile(candidate, now).await {
                    Ok(Action::Nothing) => {}
                    Ok(Action::Confirmed) => {
                        report.confirmed += 1;
                        self.payments.metrics.reconciler("confirmed");
                    }
                    Ok(Action::Closed) => {
                        report.closed += 1;
                        self.payments.metrics.reconciler("closed");
                    }
                    Err(e) => {
                        report.errors += 1;
                        self.payments.metrics.reconciler("error");
                        tracing::warn!(order_id = %candidate.order_id, error = %e, "reconciling an order failed");
                        self.status
                            .note_error(&format_args!("order {}: {e}", candidate.order_id));
                    }
                }
            }
            match batch.next_cursor {
                Some(cursor) if seen < MAX_PER_RUN => page.cursor = Some(cursor),
                _ => break,
            }
        }
        self.settle_refunds(now, after, &mut report).await?;
        if report.checked > 0 || report.refunds_checked > 0 {
            tracing::info!(?report, "reconciler run");
        }
        Ok(report)
    }

    /// Refunds pending for at least `reconcile_after` (an unknown outcome, a lost
    /// notify, a refund still processing) are asked about with refundquery and
    /// settled with the same derived command ids as their notify
    /// ([`Payments::settle_refund`]), so the two never record an outcome twice.
    /// A refund WeChat does not know (`REFUNDNOTEXIST`: the request never reached
    /// it) is sent again with its own number, which WeChat refunds at most once.
    async fn settle_refunds(
        &self,
        now: DateTime<Utc>,
        after: chrono::Duration,
        report: &mut ReconcileReport,
    ) -> Result<(), Error> {
        let mut page = Page::first(Page::MAX_LIMIT);
        let mut seen = 0;
        loop {
            let batch = self.views.money_watch(&page)?;
            for watched in &batch.items {
                seen += 1;
                let due = watched
                    .refunds
                    .iter()
                    .any(|r| r.status == RefundStatus::Pending && r.requested_at + after <= now);
                if !due {
                    continue;
                }
                // The views may lag: decide on the order's current state.
                let Some(order) = self.payments.engine.order(watched.order_id).await? else {
                    continue;
                };
                for refund in order
                    .refunds
                    .iter()
                    .filter(|r| r.status == RefundStatus::Pending && r.requested_at + after <= now)
                {
                    report.refunds_checked += 1;
                    self.payments.metrics.reconciler("refund_checked");
                    match self.settle_refund(&order, refund).await {
                        Ok(true) => {
                            report.refunds_settled += 1;
                            self.payments.metrics.reconciler("refund_settled");
                        }
                        Ok(false) => {}
                        Err(e) => {
                            report.errors += 1;
                            self.payments.metrics.reconciler("error");
                            tracing::warn!(order_id = %order.order_id, out_refund_no = %refund.out_refund_no, error = %e, "reconciling a refund failed");
                            self.status
                                .note_error(&format_args!("refund {}: {e}", refund.out_refund_no));
                        }
                    }
                }
            }
            match batch.next_cursor {
                Some(cursor) if seen < MAX_PER_RUN => page.cursor = Some(cursor),
                _ => break,
            }
        }
        Ok(())
    }

    /// One pending refund: `true` when an outcome was recorded.
    async fn settle_refund(&self, order: &OrderState, refund: &Refund) -> Result<bool, Error> {
        let answer = match self
            .payments
            .gateway_of(order)?
            .refund_query_by_refund_no(refund.out_refund_no.as_str())
            .await
        {
            Ok(answer) => answer,
            Err(e) if e.err_code() == Some(&ErrCode::RefundNotExist) => {
                self.payments.resubmit_refund(order, refund).await?;
                return Ok(false);
            }
            Err(e) => return Err(e.into()),
        };
        let Some(item) = answer
            .refunds
            .iter()
            .find(|i| i.out_refund_no == refund.out_refund_no.as_str())
        else {
            return Ok(false);
        };
        let settled = self
            .payments
            .settle_refund(
                order.order_id,
                &refund.out_refund_no,
                &item.refund_status,
                &item.refund_id,
                item.refund_fee,
            )
            .await?;
        Ok(matches!(
            settled,
            RefundSettlement::Confirmed
                | RefundSettlement::Failed
                | RefundSettlement::NeedsAttention
        ))
    }

    async fn reconcile(
        &self,
        candidate: &AwaitingPayment,
        now: DateTime<Utc>,
    ) -> Result<Action, Error> {
        // The views may lag: decide on the order's current state.
        let Some(order) = self.payments.engine.order(candidate.order_id).await? else {
            return Ok(Action::Nothing);
        };
        if !order.status.is_awaiting_payment() {
            return Ok(Action::Nothing);
        }
        if has_wrong_amount(&order) {
            return self.close_wrong_amount(&order, now).await;
        }
        if order.prepay.is_some() {
            match self.payments.sync_payment(&order).await? {
                Some(Confirmation::Paid) => return Ok(Action::Confirmed),
                Some(Confirmation::AmountMismatch) => {
                    let Some(order) = self.payments.engine.order(order.order_id).await? else {
                        return Ok(Action::Confirmed);
                    };
                    return self.close_wrong_amount(&order, now).await;
                }
                Some(_) => return Ok(Action::Nothing),
                None => {}
            }
        }
        if !order.is_due_for_close(now) {
            return Ok(Action::Nothing);
        }
        self.close(&order, now).await
    }

    /// An order WeChat took a wrong amount for can never be paid (its `out_trade_no`
    /// is spent at WeChat): it is closed here (`CloseReason::AmountMismatch`, stock
    /// released) instead of being queried every run; its money is returned with an
    /// anomaly refund. No closeorder: WeChat's order is paid.
    async fn close_wrong_amount(
        &self,
        order: &OrderState,
        now: DateTime<Utc>,
    ) -> Result<Action, Error> {
        let committed = self
            .payments
            .engine
            .close_order(self.payments.meta_now().at(now), order.order_id)
            .await?;
        self.payments.metrics.appended(&committed);
        tracing::warn!(order_id = %order.order_id, "order closed: WeChat took a wrong amount; refund the anomaly");
        Ok(Action::Closed)
    }

    async fn close(&self, order: &OrderState, now: DateTime<Utc>) -> Result<Action, Error> {
        if order.prepay.is_some() {
            // Paid in the meantime: `close_at_wechat` recorded it and says so.
            match self.payments.close_at_wechat(order).await {
                Ok(()) => {}
                Err(Error::Conflict { .. }) => return Ok(Action::Confirmed),
                Err(e) => return Err(e),
            }
        }
        let committed = self
            .payments
            .engine
            .close_order(self.payments.meta_now().at(now), order.order_id)
            .await?;
        self.payments.metrics.appended(&committed);
        Ok(Action::Closed)
    }

    /// Runs [`Reconciler::run_once`] every `interval` until `stop` turns true.
    pub fn spawn(self, stop: watch::Receiver<bool>) -> JoinHandle<()> {
        periodic::spawn_every("reconciler", self.interval, stop, move || {
            let job = self.clone();
            async move { job.run_once().await }
        })
    }
}
