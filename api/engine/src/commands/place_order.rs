//! `PlaceOrder`: the order and a stock reservation on every product, in one append.
//!
//! Every product stream is appended with the version it was priced and checked at,
//! so two orders racing for the last unit cannot both commit: the loser reloads,
//! sees the stock gone, and is refused with `InsufficientStock`.

use paylog_core::DomainError;
use paylog_core::checkout::{Checkout, place_order};
use paylog_core::order::Order;
use paylog_core::product::Product;
use paylog_core::streams::{order_stream, product_stream};

use crate::EngineError as Error;
use crate::run::{Plan, Planned};
use crate::{CommandMeta, Committed, Engine};

struct Place(Checkout);

impl Plan for Place {
    fn name(&self) -> &'static str {
        "PlaceOrder"
    }

    async fn plan(&self, engine: &Engine, _meta: &CommandMeta) -> Result<Planned, Error> {
        let mut planned = Planned::default();
        let order = engine.load::<Order>(&order_stream(self.0.order_id)).await?;
        if order.state.is_some() {
            return Err(DomainError::AlreadyExists { aggregate: "order" }.into());
        }
        planned.read(&order);
        let mut products = Vec::new();
        for product_id in self.0.product_ids() {
            let loaded = engine.load::<Product>(&product_stream(product_id)).await?;
            planned.read(&loaded);
            let Some(state) = loaded.state else {
                return Err(DomainError::ProductNotFound(product_id).into());
            };
            products.push((product_id, state));
        }
        let refs: Vec<_> = products.iter().map(|(id, s)| (*id, s)).collect();
        planned.decision = place_order(self.0.clone(), &refs)?;
        Ok(planned)
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
}
