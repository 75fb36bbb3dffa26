//! `AdjustStock`: a delivery or a stock-take; stock never goes below zero.

use paylog_core::Aggregate;
use paylog_core::ProductId;
use paylog_core::product::{Product, ProductCommand};
use paylog_core::streams::product_stream;

use crate::EngineError as Error;
use crate::run::{Plan, Planned};
use crate::{CommandMeta, Committed, Engine};

struct Adjust {
    product_id: ProductId,
    delta: i64,
    reason: String,
}

impl Plan for Adjust {
    fn name(&self) -> &'static str {
        "AdjustStock"
    }

    async fn plan(
        &self,
        engine: &Engine,
        meta: &CommandMeta,
        _attempt: u32,
    ) -> Result<Planned, Error> {
        let stream = product_stream(self.product_id);
        let product = engine.load::<Product>(&stream).await?;
        let command = ProductCommand::AdjustStock {
            delta: self.delta,
            // Cloned per attempt: a lost race decides again from the same input.
            reason: self.reason.clone(),
            at: meta.at,
        };
        let events = Product::decide(&product.state, command)?;
        let mut planned = Planned::default();
        planned.read(&product);
        planned.decision.push(stream, events);
        Ok(planned)
    }
}

impl Engine {
    /// Changes a product's stock by `delta` (negative to remove stock), for `reason`
    /// (checked by the product: non-empty, bounded).
    pub async fn adjust_stock(
        &self,
        meta: CommandMeta,
        product_id: ProductId,
        delta: i64,
        reason: String,
    ) -> Result<Committed, Error> {
        self.run(
            meta,
            &Adjust {
                product_id,
                delta,
                reason,
            },
        )
        .await
    }
}
