//! A test shop: real domain decisions (core's `decide`), appended to a real RocksStore
//! in a temp dir, driven by a seeded random generator.
//!
//! Streams are loaded and events encoded by the engine (`paylog-engine`), the same code
//! the application runs; only the append is the shop's own, because the shop is the
//! log's only writer and wants the store's full outcome (first position, time).
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use paylog_core::checkout::{self, CartItem, Checkout};
use paylog_core::identity::{OpenId, PasswordHash, Username};
use paylog_core::order::{Order, OrderCommand, OrderState, RefundStatus};
use paylog_core::payment_refs::{OutRefundNo, PrepayId, RefundId, TransactionId};
use paylog_core::product::{CreateProduct, Product, ProductCommand, ProductState};
use paylog_core::signup::register_user;
use paylog_core::streams::{order_stream, product_stream};
use paylog_core::user::{Credentials, RegisterUser};
use paylog_core::{Aggregate, Decision, DomainEvent, Fen, OrderId, ProductId, UserId};
use paylog_engine::{Engine, encode_events};
use paylog_store::{
    AppendOutcome, AppendRequest, Durability, EventStore, ExpectedVersion, NewEvent, RocksStore,
    StoreOptions, StreamAppend,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

pub fn open_store(path: &Path) -> Arc<RocksStore> {
    let options = StoreOptions {
        durability: Durability::Buffered,
        ..StoreOptions::default()
    };
    Arc::new(RocksStore::open(path, options).expect("store opens"))
}

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 8, 0, 0)
        .single()
        .unwrap_or_default()
}

/// Appends raw envelopes to one stream (for hand-crafted, possibly broken, logs).
pub async fn append_raw(
    store: &RocksStore,
    stream: &str,
    events: Vec<(&str, u16, Vec<u8>)>,
) -> AppendOutcome {
    let request = AppendRequest {
        command_id: Uuid::new_v4(),
        correlation_id: Uuid::new_v4(),
        causation_id: None,
        streams: vec![StreamAppend {
            stream_id: stream.to_owned(),
            expected: ExpectedVersion::Any,
            events: events
                .into_iter()
                .map(|(event_type, schema_version, payload)| NewEvent {
                    event_type: event_type.to_owned(),
                    schema_version,
                    payload,
                })
                .collect(),
        }],
    };
    store.append(request).await.expect("append")
}

pub struct Shop {
    pub store: Arc<RocksStore>,
    /// Loads (folds) streams; its cache is off so a load always sees the last append.
    engine: Engine,
    pub rng: StdRng,
    pub clock: DateTime<Utc>,
    pub users: Vec<UserId>,
    pub products: Vec<ProductId>,
    pub orders: Vec<OrderId>,
    pub counter: u64,
}

impl Shop {
    pub fn new(store: Arc<RocksStore>, seed: u64) -> Self {
        Shop {
            engine: Engine::with_cache_capacity(store.clone(), 0),
            store,
            rng: StdRng::seed_from_u64(seed),
            clock: t0(),
            users: Vec::new(),
            products: Vec::new(),
            orders: Vec::new(),
            counter: 0,
        }
    }

    fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    fn tick(&mut self) -> DateTime<Utc> {
        let minutes = self.rng.random_range(1..120);
        self.clock += Duration::minutes(minutes);
        self.clock
    }

    /// Appends a decision (every stream with `Any`: the shop is the only writer).
    pub async fn append(&self, decision: Decision) -> Option<AppendOutcome> {
        if decision.is_empty() {
            return None;
        }
        let streams = decision
            .streams
            .iter()
            .map(|(stream, events)| StreamAppend {
                stream_id: stream.clone(),
                expected: ExpectedVersion::Any,
                events: encode_events(events).expect("encodes"),
            })
            .collect();
        let request = AppendRequest {
            command_id: Uuid::new_v4(),
            correlation_id: Uuid::new_v4(),
            causation_id: None,
            streams,
        };
        Some(self.store.append(request).await.expect("append"))
    }

    pub async fn load<A>(&self, stream: &str) -> A::State
    where
        A: Aggregate,
        A::State: Clone + Send + Sync + 'static,
        A::Event: TryFrom<DomainEvent, Error = paylog_core::codec::CodecError>,
    {
        self.engine.load::<A>(stream).await.expect("loads").state
    }

    pub async fn order(&self, id: OrderId) -> Option<OrderState> {
        self.load::<Order>(&order_stream(id)).await
    }

    pub async fn product(&self, id: ProductId) -> Option<ProductState> {
        self.load::<Product>(&product_stream(id)).await
    }

    pub async fn register_user(&mut self) -> (UserId, Option<AppendOutcome>) {
        let n = self.next();
        let user_id = UserId::from_uuid(Uuid::from_u128(self.rng.random()));
        let credentials = if self.rng.random_bool(0.5) {
            Credentials::Password {
                username: Username::parse(&format!("user{n}")).expect("valid"),
                password_hash: PasswordHash::parse("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA")
                    .expect("valid"),
            }
        } else {
            Credentials::WeChat {
                openid: OpenId::parse(&format!("oWx{n}")).expect("valid"),
            }
        };
        let at = self.tick();
        let command = RegisterUser {
            user_id,
            credentials,
            at,
        };
        let decision = register_user(command, &None, &None).expect("registers");
        let outcome = self.append(decision).await;
        self.users.push(user_id);
        (user_id, outcome)
    }

    pub async fn create_product(&mut self, price: u64, stock: u64) -> ProductId {
        let n = self.next();
        let product_id = ProductId::from_uuid(Uuid::from_u128(self.rng.random()));
        let at = self.tick();
        let command = ProductCommand::CreateProduct(CreateProduct {
            product_id,
            name: format!("Tea {n}"),
            price: Fen::new(price),
            stock,
            at,
        });
        let events = Product::decide(&None, command).expect("creates");
        self.append(Decision::single(product_stream(product_id), events))
            .await;
        self.products.push(product_id);
        product_id
    }

    pub async fn place_order(
        &mut self,
        user_id: UserId,
        items: Vec<(ProductId, u32)>,
    ) -> Option<(OrderId, AppendOutcome)> {
        let order_id = OrderId::from_uuid(Uuid::from_u128(self.rng.random()));
        let at = self.tick();
        let mut states = Vec::new();
        for (id, _) in &items {
            if let Some(state) = self.product(*id).await {
                states.push((*id, state));
            }
        }
        let refs: Vec<(ProductId, &ProductState)> = states.iter().map(|(id, s)| (*id, s)).collect();
        let command = Checkout {
            order_id,
            user_id,
            items: items
                .iter()
                .map(|(product_id, quantity)| CartItem {
                    product_id: *product_id,
                    quantity: *quantity,
                })
                .collect(),
            expires_at: at + Duration::minutes(30),
            at,
        };
        let decision = checkout::place_order(command, &refs).ok()?;
        let outcome = self.append(decision).await?;
        self.orders.push(order_id);
        Some((order_id, outcome))
    }

    /// Decides a command on an order; `None` if refused or nothing to do.
    pub async fn on_order(
        &mut self,
        order_id: OrderId,
        command: OrderCommand,
    ) -> Option<AppendOutcome> {
        let state = self.order(order_id).await;
        let events = Order::decide(&state, command).ok()?;
        self.append(Decision::single(order_stream(order_id), events))
            .await
    }

    pub async fn release(&mut self, order_id: OrderId, close: bool) -> Option<AppendOutcome> {
        let state = self.order(order_id).await;
        let lines = state.as_ref().map(|o| o.lines.clone()).unwrap_or_default();
        let mut products = Vec::new();
        for line in &lines {
            if let Some(p) = self.product(line.product_id).await {
                products.push((line.product_id, p));
            }
        }
        let refs: Vec<(ProductId, &ProductState)> =
            products.iter().map(|(id, s)| (*id, s)).collect();
        let at = self.tick();
        let decision = if close {
            checkout::close_order(&state, &refs, at)
        } else {
            checkout::cancel_order(&state, &refs, at, checkout::ClosedAtWechat::Yes)
        };
        self.append(decision.ok()?).await
    }

    pub fn prepay(&mut self) -> PrepayId {
        let n = self.next();
        PrepayId::parse(&format!("wx{n:030}")).expect("valid")
    }

    pub fn transaction(&mut self) -> TransactionId {
        let n = self.next();
        TransactionId::parse(&format!("4200{n:024}")).expect("valid")
    }

    pub fn refund_id(&mut self) -> RefundId {
        let n = self.next();
        RefundId::parse(&format!("5000{n:024}")).expect("valid")
    }

    /// One random step of shop life; refusals are part of life and append nothing.
    pub async fn random_step(&mut self) {
        let roll = self.rng.random_range(0..100);
        if self.users.is_empty() || roll < 8 {
            self.register_user().await;
            return;
        }
        if self.products.len() < 2 || roll < 16 {
            let price = self.rng.random_range(1..5000);
            let stock = self.rng.random_range(0..25);
            self.create_product(price, stock).await;
            return;
        }
        if roll < 20 {
            let id = self.products[self.rng.random_range(0..self.products.len())];
            let delta = self.rng.random_range(-5i64..10);
            let state = self.product(id).await;
            let at = self.tick();
            let reason = format!("stock-take {delta}");
            if let Ok(events) =
                Product::decide(&state, ProductCommand::AdjustStock { delta, reason, at })
            {
                self.append(Decision::single(product_stream(id), events))
                    .await;
            }
            return;
        }
        if self.orders.is_empty() || roll < 45 {
            let user = self.users[self.rng.random_range(0..self.users.len())];
            let lines = self.rng.random_range(1..4);
            let items = (0..lines)
                .map(|_| {
                    let p = self.products[self.rng.random_range(0..self.products.len())];
                    (p, self.rng.random_range(1..4))
                })
                .collect();
            self.place_order(user, items).await;
            return;
        }
        let order_id = self.orders[self.rng.random_range(0..self.orders.len())];
        let Some(order) = self.order(order_id).await else {
            return;
        };
        // Most steps act on the order within its payment window.
        let at = if self.rng.random_bool(0.8) {
            self.clock = self.clock.max(order.placed_at) + Duration::seconds(30);
            self.clock
        } else {
            self.tick()
        };
        match roll {
            45..=59 => {
                let prepay_id = self.prepay();
                let command = OrderCommand::RequestPayment {
                    prepay_id,
                    valid_until: at + Duration::hours(2),
                    api: Default::default(),
                    at,
                };
                self.on_order(order_id, command).await;
            }
            60..=74 => {
                let amount = if self.rng.random_bool(0.9) {
                    order.total
                } else {
                    Fen::new(order.total.get() + 1)
                };
                let transaction_id = self.transaction();
                let command = OrderCommand::ConfirmPayment {
                    transaction_id,
                    amount,
                    paid_at: at,
                    at,
                };
                self.on_order(order_id, command).await;
            }
            75..=79 => {
                self.release(order_id, false).await;
            }
            80..=83 => {
                self.clock = self.clock.max(order.expires_at);
                self.release(order_id, true).await;
            }
            84..=91 => {
                let refundable = order.refundable().get();
                if refundable == 0 {
                    return;
                }
                let amount = self.rng.random_range(1..=refundable);
                let out_refund_no = OutRefundNo::from_uuid(Uuid::from_u128(self.rng.random()));
                let command = OrderCommand::RequestRefund {
                    out_refund_no,
                    amount: Fen::new(amount),
                    reason: "changed mind".into(),
                    at,
                };
                self.on_order(order_id, command).await;
            }
            _ => {
                let Some(refund) = order
                    .refunds
                    .iter()
                    .find(|r| r.status == RefundStatus::Pending)
                else {
                    return;
                };
                let command = if self.rng.random_bool(0.8) {
                    OrderCommand::ConfirmRefund {
                        out_refund_no: refund.out_refund_no.clone(),
                        refund_id: self.refund_id(),
                        amount: refund.amount,
                        at,
                    }
                } else {
                    OrderCommand::FailRefund {
                        out_refund_no: refund.out_refund_no.clone(),
                        reason: "REFUNDCLOSE".into(),
                        at,
                    }
                };
                self.on_order(order_id, command).await;
            }
        }
    }

    pub async fn random_history(&mut self, steps: usize) {
        for _ in 0..steps {
            self.random_step().await;
        }
    }
}
