//! The views against a real RocksStore: live projection equals a rebuild, restarts
//! neither double nor drop events, queries answer what the log says.

// Test code: helpers fail the test with a message, as the tests themselves do
// (clippy.toml allows that inside #[test] functions, not in their helpers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::time::Duration;

use paylog_projections::{
    LedgerKind, Page, ProjectionError, Projector, Views, diff, rebuild, rebuild_staged,
};
use paylog_store::EventStore;
use support::{Shop, open_store};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_views_equal_a_rebuild_after_random_histories() {
    for seed in [1, 2, 3] {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(&dir.path().join("log"));
        let views = Views::open(dir.path().join("views")).expect("views open");
        // The projector follows the history live, as in the server.
        let projector = Projector::spawn(store.clone(), views.clone());
        let mut shop = Shop::new(store.clone(), seed);
        shop.random_history(400).await;
        assert!(
            views.wait_for(store.head(), WAIT).await,
            "seed {seed}: views caught up"
        );
        projector.shutdown().await;

        let fresh = Views::open(dir.path().join("rebuilt")).expect("fresh views");
        let stats = rebuild(&*store, &fresh, |_| {}).await.expect("rebuild");
        assert_eq!(stats.position, store.head());
        let differences = diff(&views, &fresh, 10).expect("diff");
        assert!(differences.is_empty(), "seed {seed}: {differences:#?}");

        // A staged rebuild in the same database agrees too.
        let staged = rebuild_staged(&*store, &views, |_| {})
            .await
            .expect("staged");
        assert_eq!(staged.diff(10).expect("diff"), vec![]);
        staged.discard().expect("discard");

        check_queries_against_the_log(&shop, &views).await;
    }
}

/// Every query answers what folding the log directly says.
async fn check_queries_against_the_log(shop: &Shop, views: &Views) {
    let mut per_user: HashMap<_, Vec<_>> = HashMap::new();
    let mut paid = 0u64;
    let mut refunded = 0u64;
    for id in &shop.orders {
        let state = shop.order(*id).await.expect("placed");
        let view = views.order(*id).expect("query").expect("order in views");
        assert_eq!(view, state);
        paid += state.payment.as_ref().map_or(0, |p| p.amount.get());
        refunded += state.refunded.get();
        per_user.entry(state.user_id).or_default().push(state);
    }
    for (user, mut orders) in per_user {
        orders.sort_by(|a, b| {
            (b.placed_at, b.order_id.as_uuid()).cmp(&(a.placed_at, a.order_id.as_uuid()))
        });
        // Walk the pages with a small limit to exercise the cursor.
        let mut listed = Vec::new();
        let mut page = Page::first(2);
        loop {
            let result = views.orders_of_user(user, &page).expect("page");
            assert!(result.items.len() <= 2);
            listed.extend(result.items);
            match result.next_cursor {
                Some(cursor) => page.cursor = Some(cursor),
                None => break,
            }
        }
        let expected: Vec<_> = orders.iter().map(|o| (o.order_id, o.status)).collect();
        let got: Vec<_> = listed.iter().map(|s| (s.order_id, s.status)).collect();
        assert_eq!(got, expected);
    }
    for id in &shop.products {
        let state = shop.product(*id).await.expect("created");
        let view = views
            .product(*id)
            .expect("query")
            .expect("product in views");
        assert_eq!(view.stock, state.stock);
        assert_eq!(view.price, state.price);
    }
    let catalog = views
        .products(&Page::first(Page::MAX_LIMIT))
        .expect("catalog");
    assert_eq!(catalog.items.len(), shop.products.len());
    for user in &shop.users {
        let view = views.user(*user).expect("query").expect("user in views");
        if let Some(name) = &view.username {
            assert_eq!(
                views.user_by_username(name).expect("query"),
                Some(view.clone())
            );
        }
        if let Some(openid) = &view.openid {
            assert_eq!(
                views.user_by_openid(openid).expect("query"),
                Some(view.clone())
            );
        }
    }

    // The ledger holds every payment and refund; daily sales add up to the same money.
    let mut ledger = Vec::new();
    let mut page = Page::first(Page::MAX_LIMIT);
    loop {
        let result = views.ledger(&page).expect("ledger");
        ledger.extend(result.items);
        match result.next_cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => break,
        }
    }
    let sum = |kind| -> u64 {
        ledger
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.amount.get())
            .sum()
    };
    // The history must have moved money, or these checks would prove nothing.
    assert!(paid > 0 && refunded > 0, "paid {paid}, refunded {refunded}");
    assert!(sum(LedgerKind::AmountMismatch) > 0);
    assert!(!shop.orders.is_empty() && !awaiting_is_trivial(views));
    assert_eq!(sum(LedgerKind::Payment), paid);
    assert_eq!(sum(LedgerKind::Refund), refunded);
    let from = support::t0().date_naive() - chrono::Duration::days(1);
    let to = from + chrono::Duration::days(300);
    let days = views.daily_sales(from, to).expect("daily");
    let day_paid: u64 = days.iter().map(|d| d.paid.get()).sum();
    let day_refunded: u64 = days.iter().map(|d| d.refunded.get()).sum();
    let placed: u64 = days.iter().map(|d| d.orders_placed).sum();
    assert_eq!((day_paid, day_refunded), (paid, refunded));
    assert_eq!(placed, shop.orders.len() as u64);

    // Awaiting payment: exactly the orders still Placed/PaymentRequested, soonest first.
    let awaiting = views
        .awaiting_payment(None, &Page::first(Page::MAX_LIMIT))
        .expect("awaiting");
    let mut expected = Vec::new();
    for id in &shop.orders {
        let state = shop.order(*id).await.expect("placed");
        if state.status.is_awaiting_payment() {
            expected.push((state.expires_at, state.order_id.as_uuid()));
        }
    }
    expected.sort();
    let got: Vec<_> = awaiting
        .items
        .iter()
        .map(|a| (a.expires_at, a.order_id.as_uuid()))
        .collect();
    assert_eq!(got, expected);
}

fn awaiting_is_trivial(views: &Views) -> bool {
    views
        .awaiting_payment(None, &Page::first(1))
        .map_or(true, |p| p.items.is_empty())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projector_stopped_mid_stream_resumes_without_doubling_or_dropping() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_store(&dir.path().join("log"));
    let mut shop = Shop::new(store.clone(), 7);
    shop.random_history(600).await;
    let head = store.head();
    let views_path = dir.path().join("views");

    // Stop the projector several times at arbitrary points, reopening the views each time.
    let mut stops = Vec::new();
    for target in [head / 5, head / 2, head * 4 / 5] {
        let views = Views::open(&views_path).expect("views open");
        let start = views.position();
        let projector = Projector::spawn(store.clone(), views.clone());
        views.wait_for(target, WAIT).await;
        projector.shutdown().await;
        let stopped = views.position();
        assert!(stopped >= start);
        stops.push(stopped);
        drop(views);
    }
    // More history arrives while the projector is down.
    shop.random_history(100).await;
    let views = Views::open(&views_path).expect("views reopen");
    assert_eq!(views.position(), *stops.last().expect("stopped"));
    let projector = Projector::spawn(store.clone(), views.clone());
    assert!(views.wait_for(store.head(), WAIT).await);
    projector.shutdown().await;

    let fresh = Views::open(dir.path().join("fresh")).expect("fresh");
    rebuild(&*store, &fresh, |_| {}).await.expect("rebuild");
    let differences = diff(&views, &fresh, 10).expect("diff");
    assert!(differences.is_empty(), "{differences:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_online_rebuild_swaps_generations_under_a_running_projector() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_store(&dir.path().join("log"));
    let views = Views::open(dir.path().join("views")).expect("views");
    let projector = Projector::spawn(store.clone(), views.clone());
    let mut shop = Shop::new(store.clone(), 11);
    shop.random_history(200).await;
    let before = views.generation_id();

    // Keep appending while the rebuild runs.
    let writer = {
        let mut shop = Shop::new(store.clone(), 12);
        tokio::spawn(async move { shop.random_history(150).await })
    };
    let stats = rebuild(&*store, &views, |_| {}).await.expect("rebuild");
    writer.await.expect("writer");
    assert_ne!(views.generation_id(), before);
    assert_eq!(views.generation_id(), stats.generation);
    assert!(
        views.wait_for(store.head(), WAIT).await,
        "the projector follows the new generation"
    );
    projector.shutdown().await;

    let fresh = Views::open(dir.path().join("fresh")).expect("fresh");
    rebuild(&*store, &fresh, |_| {}).await.expect("rebuild");
    let differences = diff(&views, &fresh, 10).expect("diff");
    assert!(differences.is_empty(), "{differences:#?}");

    // The old generation is gone, also after reopening.
    let generation = views.generation_id();
    drop(views);
    let reopened = Views::open(dir.path().join("views")).expect("reopen");
    assert_eq!(reopened.generation_id(), generation);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_cursors_and_ranges_are_refused_and_waits_are_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_store(&dir.path().join("log"));
    let views = Views::open(dir.path().join("views")).expect("views");
    let projector = Projector::spawn(store.clone(), views.clone());
    let mut shop = Shop::new(store.clone(), 3);
    let (user, outcome) = shop.register_user().await;
    let outcome = outcome.expect("appended");
    assert!(views.wait_for(outcome.last_position, WAIT).await);
    assert!(views.user(user).expect("query").is_some());
    assert!(
        !views
            .wait_for(outcome.last_position + 1, Duration::from_millis(50))
            .await
    );

    let bad = Page {
        cursor: Some("zz".into()),
        limit: 5,
    };
    assert!(matches!(
        views.products(&bad),
        Err(ProjectionError::InvalidCursor(_))
    ));
    let short = Page {
        cursor: Some("00".into()),
        limit: 5,
    };
    assert!(matches!(
        views.orders_of_user(user, &short),
        Err(ProjectionError::InvalidCursor(_))
    ));
    let day = support::t0().date_naive();
    assert!(matches!(
        views.daily_sales(day, day - chrono::Duration::days(1)),
        Err(ProjectionError::InvalidArgument(_))
    ));
    projector.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_reports_views_that_differ() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_store(&dir.path().join("log"));
    let mut shop = Shop::new(store.clone(), 41);
    shop.random_history(50).await;
    let earlier = Views::open(dir.path().join("earlier")).expect("views");
    rebuild(&*store, &earlier, |_| {}).await.expect("rebuild");
    let (user, _) = shop.register_user().await;
    let later = Views::open(dir.path().join("later")).expect("views");
    rebuild(&*store, &later, |_| {}).await.expect("rebuild");

    let differences = diff(&earlier, &later, 10).expect("diff");
    let views: Vec<_> = differences.iter().map(|d| d.view).collect();
    assert!(views.contains(&"checkpoint"), "{differences:#?}");
    let user_key = user.to_string();
    assert!(
        differences.iter().any(|d| d.view == "users"
            && d.key == user_key
            && d.left.is_none()
            && d.right.is_some()),
        "{differences:#?}"
    );
    assert_eq!(diff(&earlier, &later, 1).expect("diff").len(), 1);
}
