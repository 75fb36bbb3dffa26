//! `CreateProduct`: a new product in the catalog.

use paylog_core::Aggregate;
use paylog_core::product::{CreateProduct, Product, ProductCommand};
use paylog_core::streams::product_stream;

use crate::EngineError as Error;
use crate::run::{Plan, Planned};
use crate::{CommandMeta, Committed, Engine};

struct Create(CreateProduct);

impl Plan for Create {
    fn name(&self) -> &'static str {
        "CreateProduct"
    }

    async fn plan(
        &self,
        engine: &Engine,
        _meta: &CommandMeta,
        _attempt: u32,
    ) -> Result<Planned, Error> {
        let stream = product_stream(self.0.product_id);
        let product = engine.load::<Product>(&stream).await?;
        let events = Product::decide(
            &product.state,
            ProductCommand::CreateProduct(self.0.clone()),
        )?;
        let mut planned = Planned::default();
        planned.read(&product);
        planned.decision.push(stream, events);
        Ok(planned)
    }
}

impl Engine {
    /// Adds a product to the catalog.
    pub async fn create_product(
        &self,
        meta: CommandMeta,
        command: CreateProduct,
    ) -> Result<Committed, Error> {
        self.run(meta, &Create(command)).await
    }
}
