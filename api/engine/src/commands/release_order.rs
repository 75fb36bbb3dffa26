//! `CancelOrder` and `CloseOrder`: the order ends unpaid and its stock goes back,
//! in one append (the order's event and a `StockReleased` per line).

use chrono::{DateTime, Utc};
use paylog_core::checkout::{ClosedAtWechat, cancel_order, close_order};
use paylog_core::order::{Order, OrderState};
use paylog_core::product::{Product, ProductState};
use paylog_core::streams::{order_stream, product_stream};
use paylog_core::{Decision, DomainError, OrderId, ProductId};

use crate::EngineError as Error;
use crate::run::{Plan, Planned};
use crate::{CommandMeta, Committed, Engine};

type Release = fn(
    &Option<OrderState>,
    &[(ProductId, &ProductState)],
    DateTime<Utc>,
) -> Result<Decision, DomainError>;

struct ReleaseOrder {
    /// `CancelOrder` or `CloseOrder`.
    name: &'static str,
    order_id: OrderId,
    decide: Release,
}

impl Plan for ReleaseOrder {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn plan(
        &self,
        engine: &Engine,
        meta: &CommandMeta,
        _attempt: u32,
    ) -> Result<Planned, Error> {
        let mut planned = Planned::default();
        let order = engine.load::<Order>(&order_stream(self.order_id)).await?;
        planned.read(&order);
        let mut products = Vec::new();
        for line in order.state.iter().flat_map(|o| &o.lines) {
            let loaded = engine
                .load::<Product>(&product_stream(line.product_id))
                .await?;
            planned.read(&loaded);
            if let Some(state) = loaded.state {
                products.push((line.product_id, state));
            }
        }
        let refs: Vec<_> = products.iter().map(|(id, s)| (*id, s)).collect();
        planned.decision = (self.decide)(&order.state, &refs, meta.at)?;
        Ok(planned)
    }
}

impl Engine {
    /// The user gives up an unpaid order; its stock is released. With
    /// [`ClosedAtWechat::No`], an order that has a prepay id in the state this
    /// decides on is refused ([`DomainError::OpenAtWechat`]).
    pub async fn cancel_order(
        &self,
        meta: CommandMeta,
        order_id: OrderId,
        closed_at_wechat: ClosedAtWechat,
    ) -> Result<Committed, Error> {
        let decide: Release = match closed_at_wechat {
            ClosedAtWechat::Yes => |o, p, at| cancel_order(o, p, at, ClosedAtWechat::Yes),
            ClosedAtWechat::No => |o, p, at| cancel_order(o, p, at, ClosedAtWechat::No),
        };
        self.run(
            meta,
            &ReleaseOrder {
                name: "CancelOrder",
                order_id,
                decide,
            },
        )
        .await
    }

    /// The payment window passed (at `meta.at`); the order closes and its stock is released.
    pub async fn close_order(
        &self,
        meta: CommandMeta,
        order_id: OrderId,
    ) -> Result<Committed, Error> {
        self.run(
            meta,
            &ReleaseOrder {
                name: "CloseOrder",
                order_id,
                decide: close_order,
            },
        )
        .await
    }
}
