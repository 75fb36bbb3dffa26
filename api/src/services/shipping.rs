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
//! revision appends nothing), so an upload may be repeated safely.

use paylog_core::OrderId;
use paylog_core::order::{OrderCommand, OrderState, Shipment, UploadStatus};
use paylog_core::wxa::{GetOrderRequest, OrderKey, UploadShippingInfo, WxaOrderState};
use paylog_engine::{Clock, CommandKey, CommandMeta, Engine};
use paylog_projections::{OrderSummary, Page, PageOf, Views};
use paylog_wechat::{WechatClient, WechatError};
use std::sync::Arc;

use super::Settle;
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
}

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
        }
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
        let committed = self
            .engine
            .execute_order(
                meta,
                order_id,
                OrderCommand::ShipOrder {
                    shipment,
                    at: meta.at,
                },
            )
            .await?;
        self.settle.settle(&committed).await;
        self.upload(order_id).await
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
            Some(WxaOrderState::ReceiptConfirmed) => vec![OrderCommand::ConfirmReceipt {
                confirmed_at: now,
                at: now,
            }],
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
            Ok(()) => (
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
