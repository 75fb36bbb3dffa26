//! WeChat's message push (消息推送) to the mini-program's server: the `GET`
//! handshake, and `POST`ed events of the order-shipping service.
//!
//! The protocol (signatures, safe mode's AES envelope, XML/JSON, typed events) is
//! core's `wxa::push`; this decides what a verified push records:
//! - `trade_manage_order_settlement` with a confirmation of receipt and/or a
//!   settlement time → `ReceiptConfirmed` / `OrderSettled` on the order its
//!   `merchant_trade_no` names (the push's `transaction_id` must be the order's
//!   payment). One carrying only `estimated_settlement_time` (sent at shipment)
//!   records nothing: the order is not settled yet.
//! - In plain mode the signature covers the query string only, so anyone who saw
//!   one signed URL could replay it with any body: the push is only a hint, and
//!   what is recorded is what `get_order` confirms ([`Shipping::sync`]).
//! - `trade_manage_remind_*` are logged and counted; other events are acknowledged
//!   and ignored.
//!
//! Anything that does not verify or read changes nothing. Every push is counted in
//! `paylog_wechat_notifies{kind="push",outcome=…}`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use paylog_core::DomainError;
use paylog_core::order::{OrderCommand, ShippingError};
use paylog_core::wxa::push::{OrderSettlement, PushError, PushEvent, PushQuery, PushSettings};
use paylog_core::{OrderId, OutTradeNo};
use paylog_engine::{Clock, CommandMeta, Engine};

use super::Settle;
use super::shipping::Shipping;
use crate::error::Error;
use crate::metrics::Metrics;

/// What became of one push; [`PushOutcome::acknowledged`] decides the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// Receipt and/or settlement recorded: this many events.
    Recorded { appended: usize },
    /// Already recorded; nothing appended.
    Duplicate,
    /// A settlement announced at shipment (an estimated time only): nothing to record.
    Announced,
    /// A plain-mode hint `get_order` did not (yet) confirm: nothing recorded.
    Unconfirmed,
    /// A reminder to ship or to use the shipping API: logged and counted.
    Reminded,
    /// An event paylog does not handle.
    Ignored,
    /// The signature (or safe mode's envelope) did not verify.
    BadSignature,
    /// Sealed for another appid.
    WrongAppid,
    /// Not a push we can read.
    Malformed,
    /// No order here for it, or another payment of it.
    UnknownOrder,
    /// The domain refused it (e.g. a settlement for an order paylog never shipped).
    Refused,
    /// We could not record it (store, or WeChat for a plain-mode hint): WeChat retries.
    Failed,
    /// No message push settings: the endpoint is off.
    NotConfigured,
}

impl PushOutcome {
    /// Whether WeChat gets `success` (stop delivering).
    pub fn acknowledged(self) -> bool {
        matches!(
            self,
            Self::Recorded { .. }
                | Self::Duplicate
                | Self::Announced
                | Self::Unconfirmed
                | Self::Reminded
                | Self::Ignored
        )
    }

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Recorded { .. } => "recorded",
            Self::Duplicate => "duplicate",
            Self::Announced => "announced",
            Self::Unconfirmed => "unconfirmed",
            Self::Reminded => "reminded",
            Self::Ignored => "ignored",
            Self::BadSignature => "bad_signature",
            Self::WrongAppid => "wrong_appid",
            Self::Malformed => "malformed",
            Self::UnknownOrder => "unknown_order",
            Self::Refused => "refused",
            Self::Failed => "failed",
            Self::NotConfigured => "not_configured",
        }
    }
}

/// Why a handshake was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeRefusal {
    NotConfigured,
    BadSignature,
}

/// The message push service; cheap to clone.
#[derive(Debug, Clone)]
pub struct MessagePush {
    settings: Option<Arc<PushSettings>>,
    engine: Engine,
    shipping: Shipping,
    settle: Settle,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
}

impl MessagePush {
    pub fn new(
        settings: Option<PushSettings>,
        engine: Engine,
        shipping: Shipping,
        settle: Settle,
        metrics: Arc<Metrics>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            settings: settings.map(Arc::new),
            engine,
            shipping,
            settle,
            metrics,
            clock,
        }
    }

    /// The `GET` handshake: the `echostr` to echo back.
    pub fn handshake(&self, q: &PushQuery) -> Result<String, HandshakeRefusal> {
        let settings = self
            .settings
            .as_ref()
            .ok_or(HandshakeRefusal::NotConfigured)?;
        settings.handshake(q).map_err(|e| {
            tracing::warn!(error = %e, "message push handshake refused");
            HandshakeRefusal::BadSignature
        })
    }

    /// A `POST`ed push: verified, opened, recorded; counted by outcome.
    pub async fn receive(&self, q: &PushQuery, body: &str) -> PushOutcome {
        let outcome = self.handle(q, body).await;
        self.metrics.notify("push", outcome.label());
        outcome
    }

    async fn handle(&self, q: &PushQuery, body: &str) -> PushOutcome {
        let Some(settings) = &self.settings else {
            return PushOutcome::NotConfigured;
        };
        let opened = match settings.open(q, body) {
            Ok(opened) => opened,
            Err(e) => {
                tracing::warn!(error = %e, "message push refused");
                return match e {
                    PushError::BadSignature | PushError::NotEncrypted => PushOutcome::BadSignature,
                    PushError::WrongAppid => PushOutcome::WrongAppid,
                    // A body that decrypted to junk was not sealed with our key.
                    PushError::Decrypt(_) => PushOutcome::BadSignature,
                    _ => PushOutcome::Malformed,
                };
            }
        };
        match opened.message.event {
            PushEvent::OrderSettlement(s) => self.settlement(&s, opened.authenticated).await,
            PushEvent::RemindShipping(r) => {
                tracing::warn!(
                    transaction_id = %r.transaction_id,
                    out_trade_no = %r.merchant_trade_no,
                    msg = %r.msg,
                    "WeChat reminds: a paid order's shipping information is due"
                );
                PushOutcome::Reminded
            }
            PushEvent::RemindAccessApi { msg } => {
                tracing::warn!(%msg, "WeChat reminds: use the order-shipping API");
                PushOutcome::Reminded
            }
            PushEvent::Other { msg_type, event } => {
                tracing::debug!(%msg_type, %event, "message push ignored");
                PushOutcome::Ignored
            }
        }
    }

    /// The order a settlement push is about, if it is one of ours and the push
    /// names its payment.
    async fn order_of(&self, s: &OrderSettlement) -> Result<Option<OrderId>, Error> {
        let Some(order_id) = OutTradeNo::parse(&s.merchant_trade_no)
            .ok()
            .and_then(|n| n.order_id())
        else {
            return Ok(None);
        };
        let Some(order) = self.engine.order(order_id).await? else {
            return Ok(None);
        };
        let same_payment = order.payment.as_ref().is_some_and(|p| {
            s.transaction_id.is_empty() || p.transaction_id.as_str() == s.transaction_id
        });
        Ok(same_payment.then_some(order_id))
    }

    async fn settlement(&self, s: &OrderSettlement, authenticated: bool) -> PushOutcome {
        let order_id = match self.order_of(s).await {
            Ok(Some(id)) => id,
            Ok(None) => {
                tracing::warn!(
                    transaction_id = %s.transaction_id,
                    out_trade_no = %s.merchant_trade_no,
                    "settlement push for no order of ours"
                );
                return PushOutcome::UnknownOrder;
            }
            Err(e) => {
                tracing::error!(error = %e, "settlement push: loading the order failed");
                return PushOutcome::Failed;
            }
        };
        // Sent at shipment with only the estimate: the money is still frozen.
        let receipt = s.confirm_receive_time.or(s.settlement_time);
        let Some(confirmed_at) = receipt else {
            tracing::info!(%order_id, estimated = ?s.estimated_settlement_time, "settlement announced");
            return PushOutcome::Announced;
        };
        if !authenticated {
            return self.confirm_hint(order_id).await;
        }
        let now = self.clock.now();
        let mut commands = vec![OrderCommand::ConfirmReceipt {
            confirmed_at,
            at: now,
        }];
        if let Some(settled_at) = s.settlement_time {
            commands.push(OrderCommand::SettleOrder {
                settled_at,
                at: now,
            });
        }
        self.record(order_id, commands, now).await
    }

    async fn record(
        &self,
        order_id: OrderId,
        commands: Vec<OrderCommand>,
        now: DateTime<Utc>,
    ) -> PushOutcome {
        let mut appended = 0;
        for command in commands {
            let is_settle = matches!(command, OrderCommand::SettleOrder { .. });
            match self
                .engine
                .execute_order(CommandMeta::now().at(now), order_id, command)
                .await
            {
                Ok(committed) => {
                    appended += committed.appended;
                    self.settle.settle(&committed).await;
                }
                Err(e) => {
                    return match Error::from(e) {
                        // WeChat settles nothing of a payment it refunded in full
                        // (get_order: 已退款): the receipt stands, the settlement
                        // does not apply, and WeChat has nothing to retry.
                        Error::Domain(DomainError::Shipping(ShippingError::OrderFullyRefunded))
                            if is_settle =>
                        {
                            tracing::warn!(%order_id, "settlement push for a fully refunded order: receipt recorded, settlement not");
                            continue;
                        }
                        Error::Domain(e) => {
                            tracing::warn!(%order_id, error = %e, "settlement push refused by the order");
                            PushOutcome::Refused
                        }
                        e => {
                            tracing::error!(%order_id, error = %e, "settlement push: recording failed");
                            PushOutcome::Failed
                        }
                    };
                }
            }
        }
        if appended == 0 {
            PushOutcome::Duplicate
        } else {
            PushOutcome::Recorded { appended }
        }
    }

    /// A plain-mode settlement: asks `get_order` and records what it says.
    async fn confirm_hint(&self, order_id: OrderId) -> PushOutcome {
        let before = match self.engine.order(order_id).await {
            Ok(Some(o)) => o.shipping,
            Ok(None) => return PushOutcome::UnknownOrder,
            Err(e) => {
                tracing::error!(%order_id, error = %e, "settlement hint: loading the order failed");
                return PushOutcome::Failed;
            }
        };
        match self.shipping.sync(order_id).await {
            Ok(after) if after.shipping == before => PushOutcome::Unconfirmed,
            Ok(after) => PushOutcome::Recorded {
                appended: usize::from(
                    after.shipping.as_ref().and_then(|s| s.receipt_confirmed_at)
                        != before.as_ref().and_then(|s| s.receipt_confirmed_at),
                ) + usize::from(
                    after.shipping.as_ref().and_then(|s| s.settled_at)
                        != before.as_ref().and_then(|s| s.settled_at),
                ),
            },
            Err(Error::Domain(e)) => {
                tracing::warn!(%order_id, error = %e, "settlement hint refused by the order");
                PushOutcome::Refused
            }
            Err(e) => {
                tracing::warn!(%order_id, error = %e, "settlement hint: get_order failed; WeChat will push again");
                PushOutcome::Failed
            }
        }
    }
}
