//! Barriers: two greenlets counting in lock step, then a barrier of five parties where one is
//! late and the others give up after a timeout.
//!
//!     cargo run --release --example barrier

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use greenlet::sync::Barrier;
use greenlet::{joinall, spawn};

fn count(thread_num: usize, steps: u64, counters: &[AtomicU64; 2], barrier: &Barrier) {
    for _ in 0..steps {
        let other = counters[1 - thread_num].load(SeqCst);
        barrier.wait(); // wait for reads to complete
        counters[thread_num].store(other + 1, SeqCst);
        barrier.wait(); // wait for writes to complete
    }
}

fn main() {
    // threaded_count(10): both counters reach 10, never racing ahead of each other.
    let counters = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let barrier = Arc::new(Barrier::new(2));
    let other = {
        let (counters, barrier) = (counters.clone(), barrier.clone());
        spawn(move || count(1, 10, &counters, &barrier))
    };
    count(0, 10, &counters, &barrier);
    other.join().unwrap();
    println!(
        "counters: [{}, {}]",
        counters[0].load(SeqCst),
        counters[1].load(SeqCst)
    );

    // A barrier of five: four arrive, the fifth is too slow; wait_timeout gives up.
    let barrier = Arc::new(Barrier::new(5));
    let parties: Vec<_> = (0..4)
        .map(|i| {
            let barrier = barrier.clone();
            spawn(move || {
                let passed = barrier.wait_timeout(Duration::from_millis(100)).is_some();
                println!("party {i}: {}", if passed { "passed" } else { "timed out" });
                passed
            })
        })
        .collect();
    let passed = joinall(parties)
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count();
    println!("{passed} of 4 passed a barrier of 5");
}
