//! Realistic event logs, fast: a shop's history decided by the real domain code and
//! appended straight to the store.
//!
//! Every event comes out of `paylog_core`'s `decide` functions (users registered with
//! WeChat openids, products created, orders placed with stock reserved, payments
//! requested and confirmed, a tenth of the orders cancelled with their stock released),
//! so the log is one the server, the projections and an audit accept as their own.
//! Only the command pipeline is skipped: each decision becomes one `AppendRequest`
//! with `ExpectedVersion::Any`, because a single generator cannot race itself. That is
//! what makes a 5M-event pre-fill take seconds, not minutes.

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::Poll;

use chrono::{DateTime, Duration, Utc};
use futures::StreamExt as _;
use paylog_core::checkout::{CartItem, Checkout, ClosedAtWechat, cancel_order, place_order};
use paylog_core::identity::OpenId;
use paylog_core::order::{Order, OrderCommand, OrderState};
use paylog_core::payment_refs::{PrepayId, TransactionId};
use paylog_core::product::{CreateProduct, Product, ProductCommand, ProductState};
use paylog_core::signup::register_user;
use paylog_core::user::{Credentials, RegisterUser};
use paylog_core::{Aggregate, Decision, DomainEvent, Fen, OrderId, ProductId, UserId};
use paylog_store::{AppendRequest, EventStore, ExpectedVersion, StreamAppend};
use uuid::Uuid;

/// How many appends the pre-fill keeps in flight: enough to fill the writer's batches.
const IN_FLIGHT: usize = 2048;

/// The users and products of a generated shop, for the load generators.
#[derive(Debug, Clone)]
pub struct Shop {
    pub users: Vec<UserId>,
    pub products: Vec<ProductId>,
}

/// Decides a shop's history, command by command.
#[derive(Debug)]
pub struct Generator {
    users: Vec<UserId>,
    products: Vec<ProductState>,
    clock: DateTime<Utc>,
    orders: u64,
}

impl Generator {
    /// A shop of `users` users and `products` products (with stock for any run).
    /// Returns the generator and the appends that create the shop.
    pub fn new(users: usize, products: usize) -> anyhow::Result<(Self, Vec<AppendRequest>)> {
        let mut generator = Self {
            users: Vec::with_capacity(users),
            products: Vec::with_capacity(products),
            clock: Utc::now() - Duration::days(60),
            orders: 0,
        };
        let mut requests = Vec::with_capacity(users + products);
        for n in 0..products {
            let product_id = ProductId::from_uuid(Uuid::now_v7());
            let at = generator.tick();
            let command = ProductCommand::CreateProduct(CreateProduct {
                product_id,
                name: format!("云南普洱茶饼 357g · 批次 {n:04}"),
                price: Fen::new(1_000 + 137 * n as u64 % 20_000),
                stock: 1_000_000_000_000,
                at,
            });
            let events = Product::decide(&None, command)?;
            let state = events.iter().fold(None, Product::evolve);
            generator.products.extend(state);
            let stream = paylog_core::streams::product_stream(product_id);
            requests.push(request(&Decision::single(stream, events))?);
        }
        for n in 0..users {
            let user_id = UserId::from_uuid(Uuid::now_v7());
            let openid = OpenId::parse(&format!("oBench{n:08}x{}", user_id.as_uuid().simple()))?;
            let at = generator.tick();
            let command = RegisterUser {
                user_id,
                credentials: Credentials::WeChat { openid },
                at,
            };
            requests.push(request(&register_user(command, &None, &None)?)?);
            generator.users.push(user_id);
        }
        Ok((generator, requests))
    }

    pub fn shop(&self) -> Shop {
        Shop {
            users: self.users.clone(),
            products: self.products.iter().map(|p| p.product_id).collect(),
        }
    }

    /// The commands of one more order's life: placed (one to three lines), then either
    /// paid (payment requested, then confirmed) or, one time in ten, cancelled.
    pub fn next_order(&mut self) -> anyhow::Result<Vec<AppendRequest>> {
        self.orders += 1;
        let n = self.orders;
        let order_id = OrderId::from_uuid(Uuid::now_v7());
        let user_id = self.users[(n as usize * 7919) % self.users.len()];
        let lines = 1 + (n % 3) as usize;
        let items: Vec<CartItem> = (0..lines)
            .map(|i| CartItem {
                product_id: self.products[(n as usize * 31 + i * 17) % self.products.len()]
                    .product_id,
                quantity: 1 + ((n + i as u64) % 3) as u32,
            })
            .collect();
        let at = self.tick();
        let checkout = Checkout {
            order_id,
            user_id,
            items,
            expires_at: at + Duration::minutes(30),
            at,
        };
        let placed = place_order(checkout, &self.product_refs())?;
        let mut order = self.absorb(&placed, None);
        let mut requests = vec![request(&placed)?];
        let stream = paylog_core::streams::order_stream(order_id);
        if n.is_multiple_of(10) {
            let at = self.tick();
            let cancelled = cancel_order(&order, &self.product_refs(), at, ClosedAtWechat::Yes)?;
            self.absorb(&cancelled, order);
            requests.push(request(&cancelled)?);
            return Ok(requests);
        }
        let at = self.tick();
        let prepay = PrepayId::parse(&format!("wx{}", Uuid::now_v7().simple()))?;
        let command = OrderCommand::RequestPayment {
            prepay_id: prepay,
            valid_until: at + Duration::hours(2),
            api: Default::default(),
            at,
        };
        let events = Order::decide(&order, command)?;
        order = events.iter().fold(order, Order::evolve);
        requests.push(request(&Decision::single(stream.clone(), events))?);

        let at = self.tick();
        let total = order.as_ref().map_or(Fen::ZERO, |o| o.total);
        let command = OrderCommand::ConfirmPayment {
            transaction_id: TransactionId::parse(&format!("4200{n:024}"))?,
            amount: total,
            paid_at: at,
            at,
        };
        let events = Order::decide(&order, command)?;
        requests.push(request(&Decision::single(stream, events))?);
        Ok(requests)
    }

    fn product_refs(&self) -> Vec<(ProductId, &ProductState)> {
        self.products.iter().map(|p| (p.product_id, p)).collect()
    }

    /// Folds a decision's product events into the catalog; returns the order's state.
    fn absorb(&mut self, decision: &Decision, mut order: Option<OrderState>) -> Option<OrderState> {
        for (_, events) in &decision.streams {
            for event in events {
                match event {
                    DomainEvent::Product(e) => {
                        if let Some(slot) = self
                            .products
                            .iter_mut()
                            .find(|p| Some(p.product_id) == product_of(e))
                        {
                            let state = Product::evolve(Some(slot.clone()), e);
                            if let Some(state) = state {
                                *slot = state;
                            }
                        }
                    }
                    DomainEvent::Order(e) => order = Order::evolve(order, e),
                    _ => {}
                }
            }
        }
        order
    }

    /// A few milliseconds after the last command: the history spans hours, not days.
    fn tick(&mut self) -> DateTime<Utc> {
        self.clock += Duration::milliseconds(3);
        self.clock
    }
}

fn product_of(event: &paylog_core::product::ProductEvent) -> Option<ProductId> {
    use paylog_core::product::ProductEvent as P;
    Some(match event {
        P::ProductCreated(e) => e.product_id,
        P::StockAdjusted(e) => e.product_id,
        P::StockReserved(e) => e.product_id,
        P::StockReleased(e) => e.product_id,
    })
}

/// A decision as the store receives it (the encoding the engine uses).
pub fn request(decision: &Decision) -> anyhow::Result<AppendRequest> {
    let mut streams = Vec::with_capacity(decision.streams.len());
    for (stream_id, events) in &decision.streams {
        streams.push(StreamAppend {
            stream_id: stream_id.clone(),
            expected: ExpectedVersion::Any,
            events: paylog_engine::encode_events(events)?,
        });
    }
    let id = Uuid::now_v7();
    Ok(AppendRequest {
        command_id: id,
        correlation_id: id,
        causation_id: None,
        streams,
    })
}

/// Appends the shop's history until the log holds at least `target` events (no-op
/// if it already does). Generation runs on a blocking thread while appends fly.
///
/// The log must keep the generated order (a product's `StockReserved` events carry
/// the stock after each reservation), so every append is polled once, in order, right
/// when it is made: that queues it at the writer, whose queue is FIFO and (at
/// [`IN_FLIGHT`] appends outstanding, below the store's default capacity) never full.
pub async fn fill(
    store: Arc<dyn EventStore>,
    generator: Generator,
    target: u64,
) -> anyhow::Result<Generator> {
    if store.head() >= target {
        return Ok(generator);
    }
    let missing = target - store.head();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<AppendRequest>(IN_FLIGHT * 2);
    let producer = tokio::task::spawn_blocking(move || -> anyhow::Result<Generator> {
        let mut generator = generator;
        let mut produced = 0u64;
        while produced < missing {
            for request in generator.next_order()? {
                produced += request
                    .streams
                    .iter()
                    .map(|s| s.events.len() as u64)
                    .sum::<u64>();
                if tx.blocking_send(request).is_err() {
                    return Ok(generator);
                }
            }
        }
        Ok(generator)
    });
    let mut in_flight = VecDeque::with_capacity(IN_FLIGHT);
    loop {
        while in_flight.len() < IN_FLIGHT {
            let next = if in_flight.is_empty() {
                rx.recv().await
            } else {
                rx.try_recv().ok()
            };
            let Some(request) = next else { break };
            let mut append = store.append(request);
            match futures::poll!(append.as_mut()) {
                Poll::Ready(result) => {
                    result?;
                }
                Poll::Pending => in_flight.push_back(append),
            }
        }
        match in_flight.pop_front() {
            Some(append) => {
                append.await?;
            }
            None => break,
        }
    }
    producer.await?
}

/// Appends requests (e.g. the shop's creation) with many in flight.
pub async fn append_all(
    store: &Arc<dyn EventStore>,
    requests: Vec<AppendRequest>,
) -> anyhow::Result<()> {
    let mut appends = futures::stream::iter(requests)
        .map(|r| {
            let store = Arc::clone(store);
            async move { store.append(r).await }
        })
        .buffer_unordered(IN_FLIGHT);
    while let Some(result) = appends.next().await {
        result?;
    }
    Ok(())
}
