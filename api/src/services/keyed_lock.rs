//! One async lock per key, for the few decisions that read the views and must not
//! interleave with themselves for the same key (e.g. one user's open-orders limit):
//! the views lag the log, so two such decisions running at once would both read the
//! count from before either of them.
//!
//! Only keys with a holder or a waiter have an entry: the map is as large as the
//! number of requests in flight, never the number of keys ever seen.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// Async locks by key; cheap to clone (clones share the locks).
#[derive(Debug)]
pub struct KeyedLocks<K> {
    locks: Arc<Mutex<HashMap<K, Arc<AsyncMutex<()>>>>>,
}

impl<K> Clone for KeyedLocks<K> {
    fn clone(&self) -> Self {
        Self {
            locks: Arc::clone(&self.locks),
        }
    }
}

impl<K> Default for KeyedLocks<K> {
    fn default() -> Self {
        Self {
            locks: Arc::default(),
        }
    }
}

/// Holds `key`'s lock until dropped; the last holder removes the entry.
#[derive(Debug)]
pub struct KeyGuard<K: Eq + Hash + Clone> {
    key: K,
    guard: Option<OwnedMutexGuard<()>>,
    locks: Arc<Mutex<HashMap<K, Arc<AsyncMutex<()>>>>>,
}

impl<K: Eq + Hash + Clone> KeyedLocks<K> {
    /// Waits for `key`'s lock.
    pub async fn lock(&self, key: K) -> KeyGuard<K> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(locks.entry(key.clone()).or_default())
        };
        let guard = lock.lock_owned().await;
        KeyGuard {
            key,
            guard: Some(guard),
            locks: Arc::clone(&self.locks),
        }
    }

    /// Keys with a holder or a waiter now.
    pub fn in_use(&self) -> usize {
        self.locks.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl<K: Eq + Hash + Clone> Drop for KeyGuard<K> {
    fn drop(&mut self) {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        // Release first, so that the count below sees only the map's reference and
        // those of waiters (each waiter holds a clone of the Arc while it waits).
        drop(self.guard.take());
        if let Some(lock) = locks.get(&self.key)
            && Arc::strong_count(lock) == 1
        {
            locks.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn holders_of_one_key_never_overlap_and_the_map_empties() {
        let locks = KeyedLocks::<usize>::default();
        let inside: Arc<[AtomicUsize; 2]> = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let locks = locks.clone();
                let inside = Arc::clone(&inside);
                tokio::spawn(async move {
                    let key = i % 2;
                    let _guard = locks.lock(key).await;
                    let others = inside[key].fetch_add(1, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                    inside[key].fetch_sub(1, Ordering::SeqCst);
                    others
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(
                task.await.ok(),
                Some(0),
                "another holder of the key was inside"
            );
        }
        assert_eq!(locks.in_use(), 0);
    }
}
