//! greenlet::queue: order, bounds, timeouts, task_done/join, and counted stress.

use std::cmp::Reverse;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use greenlet::queue::{LifoQueue, PriorityQueue, Queue};
use greenlet::{joinall, sleep, spawn};

mod common;
use common::assert_each_once;

#[test]
fn fifo_priority_and_lifo_orders() {
    let q = Queue::unbounded();
    let p = PriorityQueue::unbounded();
    let l = LifoQueue::unbounded();
    for v in [3, 1, 4, 1, 5] {
        q.put(v);
        p.put(v);
        l.put(v);
    }
    let drain = |f: &dyn Fn() -> Option<i32>| std::iter::from_fn(f).collect::<Vec<_>>();
    assert_eq!(drain(&|| q.try_get()), [3, 1, 4, 1, 5]);
    assert_eq!(drain(&|| p.try_get()), [5, 4, 3, 1, 1]);
    assert_eq!(drain(&|| l.try_get()), [5, 1, 4, 1, 3]);
    let smallest_first = PriorityQueue::unbounded();
    for v in [3, 1, 2] {
        smallest_first.put(Reverse(v));
    }
    assert_eq!(smallest_first.get(), Reverse(1));
}

#[test]
fn bounded_put_waits_and_try_put_hands_back() {
    let q = Queue::bounded(2);
    q.put("a");
    q.put("b");
    assert!(q.is_full());
    assert_eq!(q.try_put("c"), Err("c"));
    assert_eq!(q.put_timeout("c", Duration::from_millis(5)), Err("c"));
    let q2 = q.clone();
    let t0 = Instant::now();
    let putter = spawn(move || {
        q2.put("c");
        t0.elapsed()
    });
    sleep(Duration::from_millis(20));
    assert_eq!(q.get(), "a");
    assert!(putter.join().unwrap() >= Duration::from_millis(20));
    assert_eq!((q.get(), q.get()), ("b", "c"));
    assert!(q.is_empty());
    assert_eq!(q.get_timeout(Duration::from_millis(5)), None);
    assert_eq!(q.capacity(), Some(2));
}

#[test]
fn bounded_zero_panics_with_a_clear_message() {
    for make in [
        (|| drop(Queue::<u8>::bounded(0))) as fn(),
        || drop(PriorityQueue::<u8>::bounded(0)),
        || drop(LifoQueue::<u8>::bounded(0)),
    ] {
        let err = catch_unwind(make).unwrap_err();
        let msg = err.downcast_ref::<&str>().copied().unwrap_or_default();
        assert!(msg.contains("at least 1"), "{msg}");
    }
}

#[test]
fn task_done_and_join() {
    let q = Queue::unbounded();
    let done = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (q, done) = (q.clone(), done.clone());
            spawn(move || loop {
                let job: u32 = q.get();
                sleep(Duration::from_micros(100));
                done.lock().unwrap().push(job);
                q.task_done();
            })
        })
        .collect();
    for job in 0..200 {
        q.put(job);
    }
    q.join();
    assert_eq!(done.lock().unwrap().len(), 200);
    assert!(q.join_timeout(Duration::ZERO));
    for w in workers {
        w.kill();
    }
    // More task_done calls than items put: Python's ValueError, here a panic saying so.
    let err = catch_unwind(AssertUnwindSafe(|| q.task_done())).unwrap_err();
    let msg = err.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(msg.contains("more times than there were items"), "{msg}");
}

#[test]
fn join_waits_for_unfinished_tasks() {
    let q: Queue<u8> = Queue::unbounded();
    q.put(1);
    assert!(!q.join_timeout(Duration::from_millis(5)));
    let _ = q.get();
    assert!(
        !q.join_timeout(Duration::from_millis(5)),
        "taken but not done"
    );
    q.task_done();
    assert!(q.join_timeout(Duration::from_millis(5)));
}

#[test]
fn stress_16x16_queue_million_exactly_once() {
    const N: u64 = 1_000_000;
    let q = Queue::bounded(256);
    let producers: Vec<_> = (0..16u64)
        .map(|p| {
            let q = q.clone();
            spawn(move || {
                for i in (p..N).step_by(16) {
                    q.put(i);
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..16)
        .map(|_| {
            let q = q.clone();
            spawn(move || {
                let mut got = Vec::new();
                while let Some(v) = q.get_timeout(Duration::from_millis(200)) {
                    got.push(v);
                    q.task_done();
                }
                got
            })
        })
        .collect();
    joinall(producers);
    q.join();
    assert_each_once(consumers.into_iter().map(|c| c.join().unwrap()), N);
}

#[test]
fn killed_getters_and_putters_consume_nothing() {
    let q = Queue::bounded(1);
    q.put(0u32);
    let putters: Vec<_> = (1..=10)
        .map(|v| {
            let q = q.clone();
            spawn(move || q.put(v))
        })
        .collect();
    sleep(Duration::from_millis(10));
    for p in putters.iter().step_by(2) {
        p.kill();
    }
    // Drain first: the putters that were not killed wait for room.
    let mut got = Vec::new();
    while let Some(v) = q.get_timeout(Duration::from_millis(50)) {
        got.push(v);
    }
    let results = joinall(putters);
    let killed = results.iter().filter(|r| r.is_err()).count();
    assert_eq!(killed, 5);
    // The first item, plus one per putter that was not killed.
    assert_eq!(got.len(), 1 + 10 - killed, "{got:?}");
}
