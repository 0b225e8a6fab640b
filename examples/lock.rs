//! Locks: the already-seen set, a non-blocking try_lock, and a counter type that keeps its lock
//! inside.
//!
//!     cargo run --release --example lock

use std::collections::HashSet;
use std::sync::Arc;

use greenlet::sync::Mutex;
use greenlet::{joinall, spawn};

/// `with seen_lock: if item not in seen: seen.add(item); return False; return True`
fn already_seen(seen: &Mutex<HashSet<u32>>, item: u32) -> bool {
    !seen.lock().insert(item)
}

/// A counter whose increments are safe from any number of greenlets.
struct Counter {
    value: Mutex<u64>,
}

impl Counter {
    fn increment(&self) {
        *self.value.lock() += 1;
    }
    fn value(&self) -> u64 {
        *self.value.lock()
    }
}

fn main() {
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let seen = seen.clone();
            // Every worker offers the same items; each item is new to exactly one of them.
            spawn(move || (0..10).filter(|&i| !already_seen(&seen, i)).count())
        })
        .collect();
    let firsts: usize = joinall(workers).into_iter().map(Result::unwrap).sum();
    println!("items first seen: {firsts} (10 items, 4 workers)");

    // try_lock: acquire without waiting (lock.acquire(blocking=False)).
    let lock = Mutex::new(());
    let held = lock.lock();
    println!("try_lock while held: {}", lock.try_lock().is_some());
    drop(held);
    println!("try_lock when free: {}", lock.try_lock().is_some());

    let counter = Arc::new(Counter {
        value: Mutex::new(0),
    });
    let incs: Vec<_> = (0..10)
        .map(|_| {
            let counter = counter.clone();
            spawn(move || {
                for _ in 0..1000 {
                    counter.increment();
                    greenlet::yield_now();
                }
            })
        })
        .collect();
    joinall(incs);
    println!("counter: {}", counter.value());
}
