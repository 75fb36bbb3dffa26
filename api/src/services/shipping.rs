//! Shipping: an admin records a paid order's shipment, and paylog uploads it to
//! WeChat's order-shipping service (发货信息管理), which keeps the payment frozen
//! until it has the shipping information.
//!
//! The shipment is recorded first (`OrderShipped`), then uploaded, so a crash or an
//! unreachable WeChat never loses it: WeChat's acceptance is recorded as
//! `ShippingInfoUploaded`, its refusal (with its errcode) as `ShippingUploadFailed`,
//! and an unknown outcome (transport error, HTTP error, an unreadable answer) records
//! nothing, leaving the shipment pending for another upload (`Shipping::upload`).
//! Both outcomes are idempotent in the domain (a second acceptance of the same
//! revision appends nothing), so an upload may be repeated safely; the background
//! [`super::uploader`] repeats the pending ones.
//!
//! Before the first shipment WeChat is asked whether it manages the mini-program's
//! payments (`is_trade_managed`, logged); an express company must be one of WeChat's
//! codes (`get_delivery_list`, cached for [`DELIVERY_LIST_TTL`]); a new shipment
//! sends the payer the subscribe message of `--ship-template-id` when configured.

use chrono::{DateTime, Utc};
use paylog_core::Aggregate;
use paylog_core::OrderId;
use paylog_core::order::{Order, OrderCommand, OrderState, Shipment, UploadStatus};
use paylog_core::wxa::{
    self, GetOrderRequest, OrderKey, SubscribeMessage, UploadShippingInfo, WxaOrderState,
};
use paylog_engine::{Clock, CommandKey, CommandMeta, Engine};
use paylog_projections::{OrderSummary, Page, PageOf, Views};
use paylog_wechat::{WechatClient, WechatError};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::Settle;
use super::keyed_lock::KeyedLocks;
use crate::error::Error;

/// What an upload attempt ended in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadOutcome {
    /// WeChat accepted it (or had already: nothing left to upload).
    Uploaded,
    /// WeChat refused it with this errcode (recorded).
    Refused { errcode: i64 },
    /// WeChat's answer is unknown: nothing recorded, the shipment stays pending.
    Unknown,
}

/// The shipping service; cheap to clone.
#[derive(Debug, Clone)]
pub struct Shipping {
    engine: Engine,
    views: Views,
    wechat: WechatClient,
    settle: Settle,
    clock: Arc<dyn Clock>,
    /// One upload of an order at a time: the uploader and an admin's request never
    /// send the same shipment twice (a second upload would spend WeChat's one change).
    uploads: KeyedLocks<OrderId>,
    /// WeChat's answer to is_trade_managed, asked on the first shipment and logged.
    trade_managed: Arc<tokio::sync::OnceCell<bool>>,
    /// WeChat's express company codes and when they were fetched (by the clock).
    companies: Arc<tokio::sync::Mutex<Option<Companies>>>,
    /// The subscribe-message template sent to the payer when an order ships.
    ship_template_id: Option<String>,
}

/// WeChat's express company codes, and when they were fetched.
type Companies = (DateTime<Utc>, HashSet<String>);

/// How long WeChat's list of express companies is used before it is fetched again.
pub const DELIVERY_LIST_TTL: Duration = Duration::from_secs(24 * 3600);

impl Shipping {
    pub fn new(
        engine: Engine,
        views: Views,
        wechat: WechatClient,
        settle: Settle,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            engine,
            views,
            wechat,
            settle,
            clock,
            uploads: KeyedLocks::default(),
            trade_managed: Arc::default(),
            companies: Arc::default(),
            ship_template_id: None,
        }
    }

    /// Sends `template_id` to the payer whenever an order ships.
    pub fn with_ship_template(mut self, template_id: Option<String>) -> Self {
        self.ship_template_id = template_id;
        self
    }

    /// Records the shipment of a paid order and uploads it to WeChat. Returns the
    /// order as it then is, and how the upload went.
    pub async fn ship(
        &self,
        meta: CommandMeta,
        order_id: OrderId,
        shipment: Shipment,
        idempotency_key: Option<&str>,
    ) -> Result<(OrderState, UploadOutcome), Error> {
        let meta = match idempotency_key {
            Some(key) => meta.with_command_id(
                CommandKey::ShipOrder {
                    order: order_id,
                    idempotency_key: key,
                }
                .id(),
            ),
            None => meta,
        };
        let command = OrderCommand::ShipOrder {
            shipment: shipment.clone(),
            at: meta.at,
        };
        // A dry run of the decision: a shipment the domain refuses, or a repeat, never
        // reaches WeChat (the engine decides again, on the state it appends to).
        let current = self.engine.order(order_id).await?;
        if Order::decide(&current, command.clone()).is_ok_and(|events| !events.is_empty()) {
            self.check_express_companies(&shipment).await?;
        }
        let committed = self.engine.execute_order(meta, order_id, command).await?;
        self.settle.settle(&committed).await;
        if committed.appended > 0 {
            self.check_trade_managed().await;
        }
        let answer = self.upload(order_id).await?;
        if committed.appended > 0 {
            self.tell_the_payer(&answer.0).await;
        }
        Ok(answer)
    }

    /// Asks WeChat once whether it manages this mini-program's payments, and logs the
    /// answer (if not, uploads are not required, but still accepted). A failure is
    /// logged and asked again on the next shipment.
    async fn check_trade_managed(&self) {
        let answer = self
            .trade_managed
            .get_or_try_init(|| self.wechat.is_trade_managed())
            .await;
        match answer {
            Ok(managed) => {
                tracing::info!(
                    managed = *managed,
                    "WeChat order-shipping service (is_trade_managed)"
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, "is_trade_managed failed; asked again on the next shipment");
            }
        }
    }

    /// Refuses an express company WeChat does not know (its `get_delivery_list`,
    /// cached for [`DELIVERY_LIST_TTL`]). The domain checks the code's shape only: the
    /// list is WeChat's, fetched here. When the list cannot be fetched the shipment
    /// goes on (WeChat judges the upload) and the list is asked for again next time.
    async fn check_express_companies(&self, shipment: &Shipment) -> Result<(), Error> {
        let named: Vec<&str> = shipment
            .parcels
            .iter()
            .filter_map(|p| p.express_company.as_deref())
            .collect();
        if named.is_empty() {
            return Ok(());
        }
        let now = self.clock.now();
        let ttl = chrono::Duration::from_std(DELIVERY_LIST_TTL).unwrap_or(chrono::Duration::MAX);
        let mut cache = self.companies.lock().await;
        let fresh = cache.as_ref().is_some_and(|(at, _)| now < *at + ttl);
        if !fresh {
            match self.wechat.delivery_list().await {
                Ok(list) => {
                    let codes = list.into_iter().map(|c| c.delivery_id).collect();
                    *cache = Some((now, codes));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "get_delivery_list failed; express company not checked");
                    return Ok(());
                }
            }
        }
        let Some((_, codes)) = cache.as_ref() else {
            return Ok(());
        };
        match named.iter().find(|c| !codes.contains(**c)) {
            Some(unknown) => Err(Error::BadInput {
                code: "unknown_express_company",
                message: format!(
                    "express company {unknown:?} is not one of WeChat's codes (get_delivery_list)"
                ),
            }),
            None => Ok(()),
        }
    }

    /// Sends the payer the configured subscribe message. 43101 (the payer did not
    /// subscribe) is normal; nothing is retried: a message is a courtesy, the
    /// shipment stands without it.
    async fn tell_the_payer(&self, order: &OrderState) {
        let (Some(template_id), Some(shipping)) = (&self.ship_template_id, &order.shipping) else {
            return;
        };
        let openid = match self.views.user(order.user_id) {
            Ok(Some(user)) => user.openid,
            _ => None,
        };
        let Some(openid) = openid else {
            return;
        };
        let message = SubscribeMessage::order_shipped(
            openid.as_str(),
            template_id,
            order.out_trade_no.as_str(),
            &shipping.shipment,
            shipping.shipped_at,
        );
        match self.wechat.send_subscribe_message(&message).await {
            Ok(()) => tracing::info!(order_id = %order.order_id, "shipping message sent"),
            Err(WechatError::Wxa {
                errcode: wxa::ERR_NOT_SUBSCRIBED,
                ..
            }) => {
                tracing::info!(order_id = %order.order_id, "the payer did not subscribe to the shipping message");
            }
            Err(e) => {
                tracing::warn!(order_id = %order.order_id, error = %e, "the shipping message was not sent");
            }
        }
    }

    /// Asks WeChat (`get_order`) where a shipped order stands and records what it
    /// says: receipt confirmed (3), or settled (4: receipt and settlement). The way a
    /// plain-mode push, which is only a hint, is confirmed, and the reconciler's
    /// question for orders shipped but not settled. The instants recorded are when
    /// WeChat reported them (get_order gives no times).
    pub async fn sync(&self, order_id: OrderId) -> Result<OrderState, Error> {
        let order = self.order(order_id).await?;
        let (Some(_), Some(payment)) = (&order.shipping, &order.payment) else {
            return Err(paylog_core::DomainError::from(
                paylog_core::order::ShippingError::NotShipped,
            )
            .into());
        };
        let at_wechat = self
            .wechat
            .get_shipping_order(&GetOrderRequest {
                transaction_id: Some(payment.transaction_id.as_str().to_owned()),
                merchant_id: None,
                merchant_trade_no: None,
            })
            .await?;
        let now = self.clock.now();
        let commands = match WxaOrderState::from_code(at_wechat.order_state) {
            // 6 资金待结算: received, the money not settled yet.
            Some(WxaOrderState::ReceiptConfirmed | WxaOrderState::AwaitingSettlement) => {
                vec![OrderCommand::ConfirmReceipt {
                    confirmed_at: now,
                    at: now,
                }]
            }
            Some(WxaOrderState::Completed) => vec![
                OrderCommand::ConfirmReceipt {
                    confirmed_at: now,
                    at: now,
                },
                OrderCommand::SettleOrder {
                    settled_at: now,
                    at: now,
                },
            ],
            _ => vec![],
        };
        for command in commands {
            let committed = self
                .engine
                .execute_order(CommandMeta::now().at(now), order_id, command)
                .await?;
            self.settle.settle(&committed).await;
        }
        self.order(order_id).await
    }

    /// Paid orders not shipped yet, oldest payment first.
    pub fn to_ship(&self, page: &Page) -> Result<PageOf<OrderSummary>, Error> {
        Ok(self.views.to_ship(page)?)
    }

    async fn order(&self, order_id: OrderId) -> Result<OrderState, Error> {
        Ok(self
            .engine
            .order(order_id)
            .await?
            .ok_or(paylog_core::DomainError::NotFound { aggregate: "order" })?)
    }

    /// Uploads the order's current shipment unless WeChat already has it, and
    /// records WeChat's answer.
    pub async fn upload(&self, order_id: OrderId) -> Result<(OrderState, UploadOutcome), Error> {
        // Read under the lock: an upload that ran meanwhile is seen as done.
        let _one_at_a_time = self.uploads.lock(order_id).await;
        let order = self
            .engine
            .order(order_id)
            .await?
            .ok_or(paylog_core::DomainError::NotFound { aggregate: "order" })?;
        let (Some(shipping), Some(payment)) = (&order.shipping, &order.payment) else {
            return Err(paylog_core::DomainError::from(
                paylog_core::order::ShippingError::NotShipped,
            )
            .into());
        };
        if shipping.upload == UploadStatus::Uploaded {
            return Ok((order, UploadOutcome::Uploaded));
        }
        let openid = self
            .views
            .user(order.user_id)?
            .and_then(|u| u.openid)
            .ok_or_else(|| Error::Refused {
                code: "no_openid",
                message: "the order's user has no WeChat account: WeChat needs the payer".into(),
            })?;
        let revision = shipping.revision;
        let now = self.clock.now();
        let body = UploadShippingInfo::new(
            OrderKey::by_transaction(payment.transaction_id.as_str()),
            &shipping.shipment,
            openid.as_str(),
            now,
        );
        let (command, outcome) = match self.wechat.upload_shipping_info(&body).await {
            // 10060023 "发货信息未更新": WeChat already has exactly this shipment (an
            // earlier upload's answer was lost): it is accepted.
            Ok(())
            | Err(WechatError::Wxa {
                errcode: wxa::ERR_NOT_UPDATED,
                ..
            }) => (
                OrderCommand::RecordShippingUpload { revision, at: now },
                UploadOutcome::Uploaded,
            ),
            Err(WechatError::Wxa { errcode, errmsg }) => {
                tracing::warn!(%order_id, revision, errcode, %errmsg, "WeChat refused the shipping info");
                (
                    OrderCommand::FailShippingUpload {
                        revision,
                        errcode,
                        errmsg,
                        at: now,
                    },
                    UploadOutcome::Refused { errcode },
                )
            }
            Err(e) => {
                tracing::warn!(%order_id, revision, error = %e, "shipping upload outcome unknown; stays pending");
                return Ok((order, UploadOutcome::Unknown));
            }
        };
        let committed = self
            .engine
            .execute_order(CommandMeta::now().at(now), order_id, command)
            .await?;
        self.settle.settle(&committed).await;
        let order = self
            .engine
            .order(order_id)
            .await?
            .ok_or(paylog_core::DomainError::NotFound { aggregate: "order" })?;
        Ok((order, outcome))
    }
}
