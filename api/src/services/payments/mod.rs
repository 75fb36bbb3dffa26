//! Payment orchestration: what happens between an order, WeChat Pay and the log.
//!
//! The ordering service and the notify handlers call [`Payments`]; the reconciler
//! uses it too. Rules it keeps:
//! - A fact from WeChat (a payment, a refund outcome) becomes a command whose id is
//!   derived from WeChat's own reference ([`CommandKey`]), so the same fact arriving twice —
//!   a duplicate notify, a notify racing the reconciler's orderquery — appends once.
//! - What we ask of WeChat is recorded before or after the call so that a crash in
//!   between never loses money: a refund is recorded (`RefundRequested`) *before* the
//!   refund call, so a refund notify always finds it; a prepay id is recorded after
//!   unifiedorder, which is safe because unifiedorder is idempotent per order.
//! - An order is closed at WeChat (closeorder) before it is cancelled or closed here,
//!   so the user cannot pay an order we consider dead.
//!
//! - `gateway.rs`: the same operations on WeChat Pay API v2 or v3, per order;
//! - `notify.rs`: the payment and refund notifies (`notify_v3.rs`: their v3 form);
//! - `refund.rs`: refunds;
//! - `reconciler.rs`: the background task for lost notifies and expired orders.

mod gateway;
mod notify;
mod notify_v3;
mod reconciler;
mod refund;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use paylog_core::checkout::ClosedAtWechat;
use paylog_core::order::{OrderCommand, OrderState, OrderStatus};
use paylog_core::payment_refs::{PayApi, PrepayId, TransactionId};
use paylog_core::wxpay::{ErrCode, TradeState};
use paylog_core::{DomainError, Fen};
use paylog_engine::{Clock, CommandKey, CommandMeta, Committed, Engine, EngineError};
use paylog_wechat::{UnifiedOrderRequest, WechatClient, WechatError, WechatV3Client};

pub use gateway::PaymentParams;
pub use notify::NotifyOutcome;
pub use reconciler::{ReconcileReport, Reconciler};
pub use refund::{RefundSettlement, is_definitive_refusal};

use crate::error::Error;
use crate::metrics::Metrics;

/// How long WeChat honours a prepay id.
pub const PREPAY_VALIDITY: Duration = Duration::from_secs(2 * 3600);

/// How a payment fact from WeChat was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    /// `PaymentConfirmed` appended.
    Paid,
    /// Already recorded; nothing appended.
    Duplicate,
    /// The amount was not the order total: `PaymentAmountMismatch` recorded, alerted.
    AmountMismatch,
    /// The order was cancelled or closed: `LatePaymentReceived` recorded, alerted.
    LatePayment,
    /// The order was already paid by another transaction: `DuplicatePaymentReceived`
    /// recorded (never a second payment), alerted.
    DuplicatePayment,
}

/// The payment side of the application; cheap to clone.
#[derive(Debug, Clone)]
pub struct Payments {
    engine: Engine,
    /// API v2 (also what orders prepaid before v3 stay on).
    wechat: WechatClient,
    /// API v3, when configured.
    v3: Option<WechatV3Client>,
    /// The API new prepays are opened on.
    new_prepays_on: PayApi,
    metrics: Arc<Metrics>,
    /// "Now" for every fact recorded here and every reconciler decision.
    clock: Arc<dyn Clock>,
}

impl Payments {
    pub fn new(
        engine: Engine,
        wechat: WechatClient,
        metrics: Arc<Metrics>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            engine,
            wechat,
            v3: None,
            new_prepays_on: PayApi::V2,
            metrics,
            clock,
        }
    }

    /// Adds the v3 client; `new_prepays_on` says which API new prepays use. Orders
    /// prepaid on either API stay on it.
    pub fn with_v3(mut self, v3: WechatV3Client, new_prepays_on: PayApi) -> Self {
        self.v3 = Some(v3);
        self.new_prepays_on = new_prepays_on;
        self
    }

    pub fn wechat_v3(&self) -> Option<&WechatV3Client> {
        self.v3.as_ref()
    }

    /// A fresh command stamped with this service's clock.
    fn meta_now(&self) -> CommandMeta {
        CommandMeta::now().at(self.clock.now())
    }

    pub fn wechat(&self) -> &WechatClient {
        &self.wechat
    }

    /// The `wx.requestPayment` parameters for an unpaid order: the recorded prepay id
    /// while it is valid, else a new one from unifiedorder (recorded as
    /// `PaymentRequested`). Returns the command's result when one was appended.
    pub async fn request_payment(
        &self,
        meta: CommandMeta,
        order: &OrderState,
        client_ip: &str,
    ) -> Result<(PaymentParams, Option<Committed>), Error> {
        let now = meta.at;
        if !order.status.is_awaiting_payment() {
            return Err(DomainError::InvalidTransition {
                from: order.status,
                command: "RequestPayment",
            }
            .into());
        }
        if now >= order.expires_at {
            return Err(DomainError::OrderExpired {
                expires_at: order.expires_at,
            }
            .into());
        }
        if let Some(prepay) = order.prepay.as_ref().filter(|p| p.valid_until > now) {
            // Signed the way the prepay's API signs (v2 MD5/HMAC or v3 RSA).
            let params = self
                .gateway(prepay.api)?
                .pay_params(prepay.prepay_id.as_str(), now)?;
            return Ok((params, None));
        }
        // A new prepay goes to the configured API, even for an order whose
        // earlier (expired) prepay was on the other one.
        let gateway = self.gateway(self.new_prepays_on)?;
        let openid = self
            .engine
            .user(order.user_id)
            .await?
            .and_then(|u| u.openid)
            .ok_or_else(|| Error::Refused {
                code: "wechat_login_required",
                message: "paying with WeChat Pay needs an account signed in with WeChat".into(),
            })?;
        let request = UnifiedOrderRequest {
            body: format!(
                "paylog-order {}",
                order
                    .out_trade_no
                    .as_str()
                    .chars()
                    .take(8)
                    .collect::<String>()
            ),
            out_trade_no: order.out_trade_no.to_string(),
            total_fee: order.total.get(),
            spbill_create_ip: client_ip.to_owned(),
            openid: openid.to_string(),
            time_expire: order.expires_at,
            attach: None,
        };
        let answer = match gateway.prepay(&request).await {
            Ok(answer) => answer,
            Err(e) => return Err(self.unified_order_failed(order, e).await),
        };
        let prepay_id = PrepayId::parse(&answer)
            .map_err(|e| WechatError::BadAnswer(format!("prepay_id: {e}")))?;
        let validity = chrono::Duration::from_std(PREPAY_VALIDITY)
            .map_err(|_| Error::Misuse("PREPAY_VALIDITY out of range"))?;
        let valid_until = (now + validity).min(order.expires_at);
        let id = CommandKey::RequestPayment {
            order: order.order_id,
            prepay_id: &prepay_id,
        }
        .id();
        let recorded = self
            .engine
            .execute_order(
                meta.with_command_id(id),
                order.order_id,
                OrderCommand::RequestPayment {
                    prepay_id: prepay_id.clone(),
                    valid_until,
                    api: gateway.api(),
                    at: now,
                },
            )
            .await;
        let committed = match recorded {
            Ok(committed) => committed,
            Err(EngineError::Domain(
                e @ DomainError::InvalidTransition {
                    from: OrderStatus::Cancelled | OrderStatus::Closed,
                    ..
                },
            )) => {
                // The order was cancelled or closed while unifiedorder was in flight:
                // what WeChat just opened must not stay payable.
                self.close_opened_for_dead_order(order).await;
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        };
        let params = gateway.pay_params(prepay_id.as_str(), now)?;
        Ok((params, Some(committed)))
    }

    async fn unified_order_failed(&self, order: &OrderState, e: WechatError) -> Error {
        match e.err_code() {
            Some(ErrCode::OrderPaid) => {
                // The user paid and the notify has not arrived yet: record it now.
                if let Err(err) = self.sync_payment(order).await {
                    tracing::warn!(error = %err, order_id = %order.order_id, "could not sync a paid order");
                }
                Error::Conflict {
                    code: "order_paid",
                    message: "the order is already paid".into(),
                }
            }
            Some(ErrCode::OrderClosed) => Error::Refused {
                code: "order_closed",
                message: "WeChat has closed this order; it can no longer be paid".into(),
            },
            _ => e.into(),
        }
    }

    /// Cancels an unpaid order: closes it at WeChat first (if a prepay exists), so the
    /// user cannot pay it afterwards, then records `OrderCancelled` and releases stock.
    ///
    /// Whether to close is decided again by the cancel command itself: one decided
    /// without closing is refused (`OpenAtWechat`) if a `/pay` recorded a prepay id
    /// after `order` was read; the order is then closed at WeChat and cancelled.
    pub async fn cancel(&self, meta: CommandMeta, order: &OrderState) -> Result<Committed, Error> {
        let order_id = order.order_id;
        if order.status.is_awaiting_payment() && order.prepay.is_some() {
            self.close_at_wechat(order).await?;
            return Ok(self
                .engine
                .cancel_order(meta, order_id, ClosedAtWechat::Yes)
                .await?);
        }
        match self
            .engine
            .cancel_order(meta, order_id, ClosedAtWechat::No)
            .await
        {
            Err(EngineError::Domain(DomainError::OpenAtWechat)) => {
                let now = self
                    .engine
                    .order(order_id)
                    .await?
                    .ok_or(DomainError::NotFound { aggregate: "order" })?;
                self.close_at_wechat(&now).await?;
                // The refused attempt appended nothing, so the same command id is free.
                Ok(self
                    .engine
                    .cancel_order(meta, order_id, ClosedAtWechat::Yes)
                    .await?)
            }
            other => Ok(other?),
        }
    }

    /// Closes at WeChat an order that `/pay` opened there (unifiedorder) while it was
    /// being cancelled or closed here. A failure is alerted: a payment the shopper
    /// might still make is recorded as a late payment, to be refunded.
    async fn close_opened_for_dead_order(&self, order: &OrderState) {
        if let Err(e) = self.close_at_wechat(order).await {
            tracing::error!(
                alert = "dead_order_open_at_wechat",
                order_id = %order.order_id,
                error = %e,
                "an order cancelled or closed here may still be payable at WeChat"
            );
        }
    }

    /// closeorder at WeChat; already closed or never created is fine. If the user
    /// paid meanwhile, the payment is recorded and the caller gets `order_paid`.
    pub(crate) async fn close_at_wechat(&self, order: &OrderState) -> Result<(), Error> {
        let Err(e) = self
            .gateway_of(order)?
            .close_order(order.out_trade_no.as_str())
            .await
        else {
            return Ok(());
        };
        match e.err_code() {
            Some(ErrCode::OrderClosed | ErrCode::OrderNotExist) => Ok(()),
            Some(ErrCode::OrderPaid) => {
                self.sync_payment(order).await?;
                Err(Error::Conflict {
                    code: "order_paid",
                    message: "the order was paid at WeChat; it cannot be cancelled".into(),
                })
            }
            _ => Err(e.into()),
        }
    }

    /// Asks WeChat (orderquery) whether the order was paid and records the payment
    /// if so. `None` when WeChat says it is not paid (or does not know it).
    pub async fn sync_payment(&self, order: &OrderState) -> Result<Option<Confirmation>, Error> {
        let answer = match self
            .gateway_of(order)?
            .order_query(order.out_trade_no.as_str())
            .await
        {
            Ok(answer) => answer,
            Err(e) if e.err_code() == Some(&ErrCode::OrderNotExist) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if !matches!(answer.trade_state, TradeState::Success | TradeState::Refund) {
            return Ok(None);
        }
        let (Some(tx), Some(amount)) = (answer.transaction_id, answer.total_fee) else {
            return Err(WechatError::BadAnswer(
                "a paid orderquery without transaction_id or total_fee".into(),
            )
            .into());
        };
        let paid_at = answer.time_end.unwrap_or_else(|| self.clock.now());
        self.confirm(order, &tx, amount, paid_at).await.map(Some)
    }

    /// Records a payment WeChat reported (notify or orderquery). Its command id is
    /// derived from the transaction, so the same payment is recorded once.
    pub(crate) async fn confirm(
        &self,
        order: &OrderState,
        transaction_id: &str,
        amount: u64,
        paid_at: DateTime<Utc>,
    ) -> Result<Confirmation, Error> {
        let tx = TransactionId::parse(transaction_id)?;
        let id = CommandKey::ConfirmPayment {
            order: order.order_id,
            transaction_id: &tx,
        }
        .id();
        let meta = self.meta_now().with_command_id(id);
        let committed = self
            .engine
            .execute_order(
                meta,
                order.order_id,
                OrderCommand::ConfirmPayment {
                    transaction_id: tx.clone(),
                    amount: Fen::new(amount),
                    paid_at,
                    at: meta.at,
                },
            )
            .await?;
        self.metrics.appended(&committed);
        if committed.appended == 0 {
            return Ok(Confirmation::Duplicate);
        }
        if let Some(paid_by) = order.payment.as_ref().map(|p| &p.transaction_id) {
            debug_assert!(paid_by != &tx, "a repeat of the payment appends nothing");
            tracing::error!(
                alert = "duplicate_payment",
                order_id = %order.order_id,
                transaction_id = %tx,
                paid_by = %paid_by,
                amount,
                "WeChat reported a second transaction for a paid order; refund it"
            );
            return Ok(Confirmation::DuplicatePayment);
        }
        if !order.status.is_awaiting_payment() && !order.status.is_paid() {
            tracing::error!(
                alert = "late_payment",
                order_id = %order.order_id,
                transaction_id = %tx,
                amount,
                status = %order.status,
                "WeChat took a payment for a cancelled or closed order; refund it"
            );
            return Ok(Confirmation::LatePayment);
        }
        if amount != order.total.get() {
            tracing::error!(
                alert = "payment_amount_mismatch",
                order_id = %order.order_id,
                transaction_id = %tx,
                expected = order.total.get(),
                received = amount,
                "WeChat reported a payment whose amount is not the order total"
            );
            return Ok(Confirmation::AmountMismatch);
        }
        Ok(Confirmation::Paid)
    }
}
