//! The pipeline against a real RocksDB log in a temp dir: races, retries, idempotency;
//! and the races again with two engines on one NATS log, as two processes would be.

use std::sync::Arc;

use chrono::{Duration, Utc};
use paylog_core::checkout::{CartItem, Checkout, ClosedAtWechat};
use paylog_core::identity::{PasswordHash, Username};
use paylog_core::order::{OrderCommand, OrderStatus};
use paylog_core::payment_refs::TransactionId;
use paylog_core::product::CreateProduct;
use paylog_core::user::{Credentials, RegisterUser};
use paylog_core::{DomainError, Fen, OrderId, ProductId, UserId};
use paylog_store::{EventStore, RocksStore, StoreOptions};
use uuid::Uuid;

use super::{CommandMeta, Engine};
use crate::EngineError as Error;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<RocksStore>,
    engine: Engine,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let store =
        Arc::new(RocksStore::open(dir.path(), StoreOptions::default()).expect("open store"));
    let engine = Engine::new(store.clone());
    Fixture {
        _dir: dir,
        store,
        engine,
    }
}

async fn product(engine: &Engine, stock: u64, price: u64) -> ProductId {
    let product_id = ProductId::from_uuid(Uuid::now_v7());
    let command = CreateProduct {
        product_id,
        name: "乌龙茶".into(),
        price: Fen::new(price),
        stock,
        at: Utc::now(),
    };
    engine
        .create_product(CommandMeta::now(), command)
        .await
        .expect("create product");
    product_id
}

fn checkout(product_id: ProductId, quantity: u32) -> Checkout {
    let now = Utc::now();
    Checkout {
        order_id: OrderId::from_uuid(Uuid::now_v7()),
        user_id: UserId::from_uuid(Uuid::now_v7()),
        items: vec![CartItem {
            product_id,
            quantity,
        }],
        expires_at: now + Duration::minutes(30),
        at: now,
    }
}

#[tokio::test]
async fn two_orders_racing_for_the_last_unit_exactly_one_wins() {
    let f = fixture();
    for _ in 0..10 {
        let product_id = product(&f.engine, 1, 500).await;
        let (a, b) = (checkout(product_id, 1), checkout(product_id, 1));
        let (ra, rb) = tokio::join!(
            f.engine.place_order(CommandMeta::now(), a.clone()),
            f.engine.place_order(CommandMeta::now(), b.clone()),
        );
        let wins = [ra.is_ok(), rb.is_ok()].iter().filter(|ok| **ok).count();
        assert_eq!(wins, 1, "exactly one order wins: {ra:?} {rb:?}");
        let loser = if ra.is_ok() { rb } else { ra };
        assert!(
            matches!(
                loser,
                Err(Error::Domain(DomainError::InsufficientStock { .. }))
            ),
            "the loser is told the stock is gone: {loser:?}"
        );
        let stock = f
            .engine
            .product(product_id)
            .await
            .expect("load")
            .expect("exists")
            .stock;
        assert_eq!(stock, 0);
        // The losing order left nothing behind.
        let placed = [
            f.engine.order(a.order_id).await,
            f.engine.order(b.order_id).await,
        ];
        let existing = placed.iter().filter(|o| matches!(o, Ok(Some(_)))).count();
        assert_eq!(existing, 1);
    }
}

#[tokio::test]
async fn many_concurrent_orders_never_oversell() {
    let f = fixture();
    let product_id = product(&f.engine, 7, 100).await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let engine = f.engine.clone();
        tasks.push(tokio::spawn(async move {
            engine
                .place_order(CommandMeta::now(), checkout(product_id, 1))
                .await
        }));
    }
    let mut ok = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => ok += 1,
            Err(Error::Domain(DomainError::InsufficientStock { .. })) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(ok, 7);
    let stock = f
        .engine
        .product(product_id)
        .await
        .expect("load")
        .expect("exists")
        .stock;
    assert_eq!(stock, 0);
}

#[tokio::test]
async fn refused_order_appends_nothing_and_cancel_releases_stock() {
    let f = fixture();
    let product_id = product(&f.engine, 3, 250).await;
    let head = f.store.head();
    let refused = f
        .engine
        .place_order(CommandMeta::now(), checkout(product_id, 4))
        .await;
    assert!(matches!(
        refused,
        Err(Error::Domain(DomainError::InsufficientStock { .. }))
    ));
    assert_eq!(f.store.head(), head, "a refused command appends nothing");

    let order = checkout(product_id, 2);
    f.engine
        .place_order(CommandMeta::now(), order.clone())
        .await
        .expect("place");
    let placed = f
        .engine
        .order(order.order_id)
        .await
        .expect("load")
        .expect("exists");
    assert_eq!(
        placed.total,
        Fen::new(500),
        "total computed from the catalog price"
    );
    assert_eq!(
        f.engine
            .product(product_id)
            .await
            .expect("load")
            .expect("exists")
            .stock,
        1
    );

    f.engine
        .cancel_order(CommandMeta::now(), order.order_id, ClosedAtWechat::Yes)
        .await
        .expect("cancel");
    let cancelled = f
        .engine
        .order(order.order_id)
        .await
        .expect("load")
        .expect("exists");
    assert_eq!(cancelled.status, OrderStatus::Cancelled);
    assert_eq!(
        f.engine
            .product(product_id)
            .await
            .expect("load")
            .expect("exists")
            .stock,
        3
    );

    let again = f
        .engine
        .cancel_order(CommandMeta::now(), order.order_id, ClosedAtWechat::Yes)
        .await;
    assert!(
        matches!(
            again,
            Err(Error::Domain(DomainError::InvalidTransition { .. }))
        ),
        "{again:?}"
    );
}

#[tokio::test]
async fn a_repeated_command_id_appends_once_and_returns_the_first_result() {
    let f = fixture();
    let product_id = product(&f.engine, 5, 100).await;
    let meta = CommandMeta::now();
    let first = f
        .engine
        .adjust_stock(meta, product_id, 10, "delivery".into())
        .await
        .expect("adjust");
    let second = f
        .engine
        .adjust_stock(meta, product_id, 10, "delivery".into())
        .await
        .expect("adjust again");
    assert!(!first.duplicate && second.duplicate);
    assert_eq!(second.position, first.position);
    assert_eq!(second.appended, 0);
    assert_eq!(
        f.engine
            .product(product_id)
            .await
            .expect("load")
            .expect("exists")
            .stock,
        15
    );
}

#[tokio::test]
async fn a_resent_command_gets_its_original_result_before_anything_is_decided_again() {
    let f = fixture();
    let product_id = product(&f.engine, 5, 100).await;
    let meta = CommandMeta::now();
    let order = checkout(product_id, 2);
    let first = f
        .engine
        .place_order(meta, order.clone())
        .await
        .expect("placed");
    // Deciding again would say AlreadyExists (and a later cancel would make a re-sent
    // cancel InvalidTransition): the committed command id answers first.
    let again = f
        .engine
        .place_order(meta, order.clone())
        .await
        .expect("the re-sent PlaceOrder gets its first result");
    assert!(again.duplicate && again.appended == 0);
    assert_eq!(again.position, first.position);
    let cancel = CommandMeta::now();
    f.engine
        .cancel_order(cancel, order.order_id, ClosedAtWechat::Yes)
        .await
        .expect("cancelled");
    let recancel = f
        .engine
        .cancel_order(cancel, order.order_id, ClosedAtWechat::Yes)
        .await
        .expect("the re-sent cancel gets its first result");
    assert!(recancel.duplicate);
    // A new command id is decided as usual.
    let other = f.engine.place_order(CommandMeta::now(), order).await;
    assert!(matches!(
        other,
        Err(crate::EngineError::Domain(
            DomainError::AlreadyExists { .. }
        ))
    ));
}

#[tokio::test]
async fn duplicate_payment_confirmations_append_nothing() {
    let f = fixture();
    let product_id = product(&f.engine, 5, 100).await;
    let order = checkout(product_id, 2);
    f.engine
        .place_order(CommandMeta::now(), order.clone())
        .await
        .expect("place");
    let now = Utc::now();
    let request = OrderCommand::RequestPayment {
        prepay_id: paylog_core::payment_refs::PrepayId::parse("wx2024prepay").expect("valid"),
        valid_until: now + Duration::hours(2),
        api: Default::default(),
        at: now,
    };
    f.engine
        .execute_order(CommandMeta::now(), order.order_id, request)
        .await
        .expect("request payment");
    let confirm = || OrderCommand::ConfirmPayment {
        transaction_id: TransactionId::parse("4200001234202401011234567890").expect("valid"),
        amount: Fen::new(200),
        paid_at: now,
        at: now,
    };
    // Twenty concurrent deliveries of the same notify: one payment.
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let engine = f.engine.clone();
        let command = confirm();
        let order_id = order.order_id;
        tasks.push(tokio::spawn(async move {
            engine
                .execute_order(CommandMeta::now(), order_id, command)
                .await
        }));
    }
    let mut appended = 0;
    for task in tasks {
        appended += task.await.expect("task").expect("confirm").appended;
    }
    assert_eq!(appended, 1, "exactly one PaymentConfirmed");
    let paid = f
        .engine
        .order(order.order_id)
        .await
        .expect("load")
        .expect("exists");
    assert_eq!(paid.status, OrderStatus::Paid);
    assert_eq!(paid.paid, Fen::new(200));
}

#[tokio::test]
async fn usernames_are_unique_under_concurrency() {
    let f = fixture();
    let username = Username::parse("alice").expect("valid");
    let hash =
        PasswordHash::parse("$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$R2V0IHlvdXIgb3duIGhhc2g")
            .expect("phc");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let engine = f.engine.clone();
        let command = RegisterUser {
            user_id: UserId::from_uuid(Uuid::now_v7()),
            credentials: Credentials::Password {
                username: username.clone(),
                password_hash: hash.clone(),
            },
            at: Utc::now(),
        };
        tasks.push(tokio::spawn(async move {
            engine.register_user(CommandMeta::now(), command).await
        }));
    }
    let mut ok = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => ok += 1,
            Err(Error::Domain(DomainError::UsernameTaken(_))) => {}
            Err(other) => panic!("unexpected: {other:?}"),
        }
    }
    assert_eq!(ok, 1);
    assert!(
        f.engine
            .user_by_username(&username)
            .await
            .expect("load")
            .is_some()
    );
}

/// Two engines, each with its own connection and writer to one NATS stream: two
/// `paylog serve` processes as far as the log can tell.
async fn two_engines_on_nats() -> (std::sync::Arc<crate::cluster::Cluster>, Engine, Engine) {
    let cluster = crate::cluster::shared().await;
    let options = paylog_store::NatsOptions::new(cluster.urls.clone())
        .with_stream(&format!("E{}", Uuid::new_v4().simple()));
    let a = paylog_store::NatsStore::open(options.clone())
        .await
        .expect("open a");
    let b = paylog_store::NatsStore::open(options)
        .await
        .expect("open b");
    (cluster, Engine::new(Arc::new(a)), Engine::new(Arc::new(b)))
}

#[tokio::test]
async fn two_engines_on_one_nats_log_racing_for_the_last_unit_one_wins() {
    let (_cluster, a, b) = two_engines_on_nats().await;
    for _ in 0..5 {
        let product_id = product(&a, 1, 500).await;
        let (ra, rb) = tokio::join!(
            a.place_order(CommandMeta::now(), checkout(product_id, 1)),
            b.place_order(CommandMeta::now(), checkout(product_id, 1)),
        );
        let wins = [ra.is_ok(), rb.is_ok()].iter().filter(|ok| **ok).count();
        assert_eq!(wins, 1, "exactly one order wins: {ra:?} {rb:?}");
        let loser = if ra.is_ok() { rb } else { ra };
        assert!(
            matches!(
                loser,
                Err(Error::Domain(DomainError::InsufficientStock { .. }))
            ),
            "the loser, whichever engine, sees the other's commit: {loser:?}"
        );
    }
}

#[tokio::test]
async fn two_engines_on_one_nats_log_never_oversell() {
    let (_cluster, a, b) = two_engines_on_nats().await;
    let product_id = product(&a, 7, 100).await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let engine = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            engine
                .place_order(CommandMeta::now(), checkout(product_id, 1))
                .await
        }));
    }
    // Across two processes a hot stream can also exhaust the engine's attempts
    // (`Contention`: nothing appended, the client may retry); never an oversell.
    let (mut ok, mut contended) = (0u64, 0);
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => ok += 1,
            Err(Error::Domain(DomainError::InsufficientStock { .. })) => {}
            Err(Error::Contention { .. }) => contended += 1,
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert!(
        (1..=7).contains(&ok),
        "{ok} orders for 7 units ({contended} contended)"
    );
    for engine in [&a, &b] {
        let stock = engine
            .product(product_id)
            .await
            .expect("load")
            .expect("exists")
            .stock;
        assert_eq!(stock, 7 - ok, "both engines see every reservation");
    }
}
