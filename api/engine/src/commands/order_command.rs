//! The order's single-stream commands: `RequestPayment`, `ConfirmPayment`,
//! `RequestRefund`, `ConfirmRefund`, `FailRefund`.
//!
//! They share one file because they share one shape: load the order, decide, append
//! to the order's stream only. What differs is decided in `paylog_core::order`.
//! (`PlaceOrder`, `CancelOrder` and `CloseOrder` also touch products: see their files.)

use paylog_core::checkout::ClosedAtWechat;
use paylog_core::order::{Order, OrderCommand};
use paylog_core::streams::order_stream;
use paylog_core::{Aggregate, DomainError, OrderId};

use crate::EngineError as Error;
use crate::run::{Plan, Planned};
use crate::{CommandMeta, Committed, Engine};

struct OnOrder {
    order_id: OrderId,
    command: OrderCommand,
}

impl Plan for OnOrder {
    fn name(&self) -> &'static str {
        self.command.name()
    }

    async fn plan(
        &self,
        engine: &Engine,
        _meta: &CommandMeta,
        _attempt: u32,
    ) -> Result<Planned, Error> {
        let stream = order_stream(self.order_id);
        let order = engine.load::<Order>(&stream).await?;
        if order.state.is_none() {
            return Err(DomainError::NotFound { aggregate: "order" }.into());
        }
        let events = Order::decide(&order.state, self.command.clone())?;
        let mut planned = Planned::default();
        planned.read(&order);
        planned.decision.push(stream, events);
        planned.keep::<Order>(&order.stream_id, order.state);
        Ok(planned)
    }
}

impl Engine {
    /// Runs a command on an existing order. `CancelOrder` and `CloseOrder` go through
    /// their own pipeline (they release stock); `PlaceOrder` needs a cart and is
    /// refused here (use [`Engine::place_order`]).
    pub async fn execute_order(
        &self,
        meta: CommandMeta,
        order_id: OrderId,
        command: OrderCommand,
    ) -> Result<Committed, Error> {
        match command {
            OrderCommand::PlaceOrder(_) => {
                Err(Error::Misuse("PlaceOrder goes through Engine::place_order"))
            }
            // Run as a command, a cancel is the domain's transition alone: whoever sends
            // it answers for WeChat (the service closes there first).
            OrderCommand::CancelOrder { at } => {
                self.cancel_order(meta.at(at), order_id, ClosedAtWechat::Yes)
                    .await
            }
            OrderCommand::CloseOrder { at } => self.close_order(meta.at(at), order_id).await,
            command => self.run(meta, &OnOrder { order_id, command }).await,
        }
    }
}
