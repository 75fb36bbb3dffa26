//! `PlaceOrder`: the order and a stock reservation on every product, in one append.
//!
//! Every product stream is appended with the version it was priced and checked at,
//! so two orders racing for the last unit cannot both commit: the loser reloads,
//! sees the stock gone, and is refused with `InsufficientStock`.
//!
//! The order's stream is not read on the first attempt: an order id is fresh (a new
//! UUID, or one derived from an idempotency key that the service looked up first),
//! and the append's `NoStream` on it is the existence check. If the order did exist,
//! the append conflicts and the next attempt loads it and refuses `AlreadyExists`.

use paylog_core::DomainError;
use paylog_core::checkout::{Checkout, place_order};
use paylog_core::order::{Order, OrderState};
use paylog_core::product::Product;
use paylog_core::streams::{order_stream, product_stream};

use crate::EngineError as Error;
use crate::run::{Plan, Planned};
use crate::{CommandMeta, Committed, Engine, Loaded, StreamId};

struct Place(Checkout);

impl Plan for Place {
    fn name(&self) -> &'static str {
        "PlaceOrder"
    }

    async fn plan(
        &self,
        engine: &Engine,
        _meta: &CommandMeta,
        attempt: u32,
    ) -> Result<Planned, Error> {
        let mut planned = Planned::default();
        let stream = StreamId::from(order_stream(self.0.order_id));
        if attempt > 0 {
            self.check_new(engine, &stream).await?;
        }
        planned.assume_new(stream.clone());
        let mut products = Vec::new();
        for product_id in self.0.product_ids() {
            let loaded = engine.load::<Product>(&product_stream(product_id)).await?;
            planned.read(&loaded);
            let Some(state) = loaded.state else {
                return Err(self
                    .or_exists(
                        engine,
                        &stream,
                        attempt,
                        DomainError::ProductNotFound(product_id),
                    )
                    .await);
            };
            products.push((product_id, loaded.stream_id, state));
        }
        let refs: Vec<_> = products.iter().map(|(id, _, s)| (*id, s)).collect();
        planned.decision = match place_order(self.0.clone(), &refs) {
            Ok(decision) => decision,
            Err(e) => return Err(self.or_exists(engine, &stream, attempt, e).await),
        };
        planned.keep::<Order>(&stream, None);
        for (_, stream_id, state) in products {
            planned.keep::<Product>(&stream_id, Some(state));
        }
        Ok(planned)
    }
}

impl Place {
    /// Refuses with `AlreadyExists` if the order's stream has events.
    async fn check_new(&self, engine: &Engine, stream: &StreamId) -> Result<(), Error> {
        let order: Loaded<Option<OrderState>> = engine.load::<Order>(stream.as_str()).await?;
        if order.state.is_some() {
            return Err(DomainError::AlreadyExists { aggregate: "order" }.into());
        }
        Ok(())
    }

    /// A refusal on the first attempt, which did not look at the order: an existing
    /// order is refused as `AlreadyExists` first, as if it had been loaded.
    async fn or_exists(
        &self,
        engine: &Engine,
        stream: &StreamId,
        attempt: u32,
        refusal: DomainError,
    ) -> Error {
        if attempt == 0
            && let Err(e) = self.check_new(engine, stream).await
        {
            return e;
        }
        refusal.into()
    }
}

impl Engine {
    /// Places an order, reserving its stock; `InsufficientStock` reserves nothing.
    pub async fn place_order(
        &self,
        meta: CommandMeta,
        checkout: Checkout,
    ) -> Result<Committed, Error> {
        self.run(meta, &Place(checkout)).await
    }

    /// [`Engine::place_order`], also returning the order as the appended events made
    /// it, so that a caller can answer without reading it back (`None` when this call
    /// appended nothing: a repeat of a committed command id).
    pub async fn place_order_with_state(
        &self,
        meta: CommandMeta,
        checkout: Checkout,
    ) -> Result<(Committed, Option<OrderState>), Error> {
        let stream = order_stream(checkout.order_id);
        let (committed, kept) = self.run_keeping(meta, &Place(checkout)).await?;
        let order = kept
            .into_iter()
            .find(|(id, _)| id == stream.as_str())
            .and_then(|(_, state)| state.downcast_ref::<Option<OrderState>>().cloned())
            .flatten();
        Ok((committed, order))
    }
}
