//! The catalog: products with their live stock; admins create them and adjust stock
//! (with a reason, which the product's stream keeps and the console shows).

use paylog_core::codec;
use paylog_core::product::{CreateProduct, ProductEvent, ProductState, StockAdjusted};
use paylog_core::streams::product_stream;
use paylog_core::{DomainError, DomainEvent, Fen, ProductId};
use paylog_engine::{CommandKey, CommandMeta, Engine};
use paylog_projections::{Page, PageOf, ProductView, Views};
use uuid::Uuid;

use super::Settle;
use crate::error::Error;

/// The most units one request may create, add or remove: far above any real shop's
/// stock, far below where sums of stock could overflow.
pub const MAX_STOCK_CHANGE: u64 = 1_000_000_000;

/// The most adjustments [`Catalog::recent_adjustments`] answers.
pub const RECENT_ADJUSTMENTS: usize = 20;
/// How many of a product's latest events [`Catalog::recent_adjustments`] reads.
pub const ADJUSTMENTS_SCAN: usize = 500;

/// A new product, as an admin describes it.
#[derive(Debug, Clone)]
pub struct NewProduct {
    pub name: String,
    pub price: Fen,
    pub stock: u64,
}

/// The catalog service; cheap to clone.
#[derive(Debug, Clone)]
pub struct Catalog {
    engine: Engine,
    views: Views,
    settle: Settle,
}

fn check_stock_change(units: u64) -> Result<(), Error> {
    if units > MAX_STOCK_CHANGE {
        return Err(Error::BadInput {
            code: "invalid_stock",
            message: format!("at most {MAX_STOCK_CHANGE} units per request"),
        });
    }
    Ok(())
}

impl Catalog {
    pub fn new(engine: Engine, views: Views, settle: Settle) -> Self {
        Self {
            engine,
            views,
            settle,
        }
    }

    /// A page of the catalog, from the views.
    pub fn list(&self, page: &Page) -> Result<PageOf<ProductView>, Error> {
        Ok(self.views.products(page)?)
    }

    /// One product, from the log (strongly consistent).
    pub async fn show(&self, product_id: ProductId) -> Result<Option<ProductState>, Error> {
        Ok(self.engine.product(product_id).await?)
    }

    /// Creates a product; its state once the views show it. With an idempotency key
    /// the product id and the command id are derived from it: a retried request gets
    /// the same product back (refused with 409 if the key names a different product).
    pub async fn create(
        &self,
        meta: CommandMeta,
        new: NewProduct,
        idempotency_key: Option<&str>,
    ) -> Result<ProductState, Error> {
        check_stock_change(new.stock)?;
        let (product_id, meta) = match idempotency_key {
            Some(key) => (
                ProductId::from_uuid(
                    CommandKey::ProductFor {
                        idempotency_key: key,
                    }
                    .id(),
                ),
                meta.with_command_id(
                    CommandKey::CreateProduct {
                        idempotency_key: key,
                    }
                    .id(),
                ),
            ),
            None => (ProductId::from_uuid(Uuid::now_v7()), meta),
        };
        let (name, price) = (new.name.clone(), new.price);
        let command = CreateProduct {
            product_id,
            name: new.name,
            price: new.price,
            stock: new.stock,
            at: meta.at,
        };
        let committed = self.engine.create_product(meta, command).await?;
        self.settle.settle(&committed).await;
        let product = self
            .engine
            .product(product_id)
            .await?
            .ok_or(Error::Misuse("a created product is missing"))?;
        if committed.duplicate && (product.name.as_str() != name || product.price != price) {
            return Err(Error::Conflict {
                code: "idempotency_key_reused",
                message: "this Idempotency-Key was already used for a different product".into(),
            });
        }
        Ok(product)
    }

    /// Adds `delta` units (removes, if negative) for `reason` (1 to
    /// [`MAX_ADJUSTMENT_REASON_CHARS`] characters once trimmed, checked by the
    /// product); `None` if there is no such product. With an idempotency key, a
    /// retried request adjusts once and gets the product back as it is now.
    pub async fn adjust_stock(
        &self,
        meta: CommandMeta,
        product_id: ProductId,
        delta: i64,
        reason: String,
        idempotency_key: Option<&str>,
    ) -> Result<Option<ProductState>, Error> {
        check_stock_change(delta.unsigned_abs())?;
        let meta = match idempotency_key {
            Some(key) => meta.with_command_id(
                CommandKey::AdjustStock {
                    product: product_id,
                    idempotency_key: key,
                }
                .id(),
            ),
            None => meta,
        };
        let committed = match self
            .engine
            .adjust_stock(meta, product_id, delta, reason)
            .await
        {
            Ok(committed) => committed,
            Err(e) => match Error::from(e) {
                Error::Domain(DomainError::NotFound { .. }) => return Ok(None),
                other => return Err(other),
            },
        };
        self.settle.settle(&committed).await;
        Ok(self.engine.product(product_id).await?)
    }

    /// The product's latest stock adjustments, newest first: at most
    /// [`RECENT_ADJUSTMENTS`], found among the last [`ADJUSTMENTS_SCAN`] events of its
    /// stream (read from the log, so strongly consistent). A product's stream also
    /// holds every reservation and release, so the scan is bounded rather than whole:
    /// older adjustments stay in the log and its audits.
    pub async fn recent_adjustments(
        &self,
        product_id: ProductId,
    ) -> Result<Vec<StockAdjusted>, Error> {
        let store = self.engine.store();
        let stream = product_stream(product_id);
        let version = store.stream_version(&stream).await?;
        let scan = u64::try_from(ADJUSTMENTS_SCAN).unwrap_or(u64::MAX);
        let from = version.saturating_sub(scan).saturating_add(1);
        let events = store.read_stream(&stream, from, ADJUSTMENTS_SCAN).await?;
        let mut found = Vec::new();
        for recorded in events.iter().rev() {
            if recorded.event_type != "StockAdjusted" {
                continue;
            }
            let event = codec::decode(
                &recorded.event_type,
                recorded.schema_version,
                &recorded.payload,
            )?;
            if let DomainEvent::Product(ProductEvent::StockAdjusted(adjusted)) = event {
                found.push(adjusted);
                if found.len() == RECENT_ADJUSTMENTS {
                    break;
                }
            }
        }
        Ok(found)
    }
}
