//! PriorityQueue with an `Ord` that parks or panics, on a single worker thread, where user code
//! run under an internal spin lock would wedge the worker: every test configures one worker.

use std::cmp::Ordering;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use greenlet::queue::PriorityQueue;
use greenlet::{sleep, spawn, Greenlet};

mod common;
use common::{join_or_wedged, one_worker};

/// An item whose comparisons park (sleep) or panic, as its flags say.
#[derive(Debug)]
struct Touchy {
    key: u32,
    sleep: Arc<AtomicBool>,
    panic: Arc<AtomicBool>,
}

impl Ord for Touchy {
    fn cmp(&self, other: &Touchy) -> Ordering {
        if self.panic.load(SeqCst) {
            panic!("cmp refused");
        }
        if self.sleep.load(SeqCst) {
            sleep(Duration::from_millis(1));
        }
        self.key.cmp(&other.key)
    }
}
impl PartialOrd for Touchy {
    fn partial_cmp(&self, other: &Touchy) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Touchy {
    fn eq(&self, other: &Touchy) -> bool {
        self.key == other.key
    }
}
impl Eq for Touchy {}

struct Flags {
    sleep: Arc<AtomicBool>,
    panic: Arc<AtomicBool>,
}

impl Flags {
    fn new() -> Flags {
        Flags {
            sleep: Arc::new(AtomicBool::new(false)),
            panic: Arc::new(AtomicBool::new(false)),
        }
    }
    fn item(&self, key: u32) -> Touchy {
        Touchy {
            key,
            sleep: self.sleep.clone(),
            panic: self.panic.clone(),
        }
    }
}

#[test]
fn an_ord_that_parks_does_not_wedge_the_worker() {
    one_worker();
    let flags = Arc::new(Flags::new());
    flags.sleep.store(true, SeqCst);
    let q = PriorityQueue::bounded(4);
    let putters: Vec<_> = (0..4)
        .map(|p| {
            let (q, flags) = (q.clone(), flags.clone());
            spawn(move || {
                for i in 0..5 {
                    q.put(flags.item(p * 10 + i));
                }
            })
        })
        .collect();
    let getter = {
        let q = q.clone();
        spawn(move || (0..20).map(|_| q.get().key).collect::<Vec<_>>())
    };
    for p in putters {
        join_or_wedged(p);
    }
    let mut got = join_or_wedged(getter);
    got.sort();
    let want: Vec<u32> = (0..4)
        .flat_map(|p| (0..5).map(move |i| p * 10 + i))
        .collect();
    assert_eq!(got, want);
    assert!(q.is_empty());
}

#[test]
fn an_ord_that_panics_leaves_the_queue_usable() {
    one_worker();
    let flags = Arc::new(Flags::new());
    let q = PriorityQueue::bounded(10);
    for key in [5, 1, 9] {
        q.put(flags.item(key));
    }
    // A put whose comparison panics: the panic propagates, the item stays queued.
    flags.panic.store(true, SeqCst);
    let put = catch_unwind(AssertUnwindSafe(|| q.put(flags.item(7))));
    assert!(put.is_err());
    assert_eq!(q.len(), 4);
    // A get whose comparison panics (re-ordering the rest): the item it took is dropped.
    let get = catch_unwind(AssertUnwindSafe(|| q.get()));
    assert!(get.is_err());
    assert_eq!(q.len(), 3);
    flags.panic.store(false, SeqCst);
    // Still usable, from greenlets on the one worker, with room counted right (7 free places).
    let (q2, f2) = (q.clone(), flags.clone());
    let more = spawn(move || {
        for key in 10..17 {
            q2.put(f2.item(key));
        }
        q2.try_put(f2.item(99)).is_err()
    });
    assert!(join_or_wedged(more), "the queue is full at 10");
    let q3 = q.clone();
    let drained = join_or_wedged(spawn(move || {
        (0..10).map(|_| q3.get().key).collect::<Vec<_>>()
    }));
    assert_eq!(drained.len(), 10);
    assert!(q.try_get().is_none());
    // Every item put counts for task tracking, the one whose put panicked included.
    for _ in 0..11 {
        q.task_done();
    }
    assert!(q.join_timeout(Duration::from_secs(5)));
}

#[test]
fn killed_getters_and_putters_of_a_priority_queue_consume_nothing() {
    one_worker();
    let q = PriorityQueue::bounded(1);
    q.put(1u32);
    let q2 = q.clone();
    let putter = spawn(move || q2.put(2)); // waits for room
    let empty = PriorityQueue::<u32>::unbounded();
    let e2 = empty.clone();
    let getter = spawn(move || e2.get()); // waits for an item
    std::thread::sleep(Duration::from_millis(20));
    putter.kill();
    getter.kill();
    assert!(join_or_wedged_err(putter));
    assert!(join_or_wedged_err(getter));
    assert_eq!(q.len(), 1);
    assert_eq!(q.get(), 1);
    assert!(q.try_put(3).is_ok(), "the killed putter took no room");
    empty.put(4);
    assert_eq!(empty.try_get(), Some(4), "the killed getter took nothing");
}

fn join_or_wedged_err<T: std::fmt::Debug>(g: Greenlet<T>) -> bool {
    assert!(g.wait_timeout(Duration::from_secs(20)), "wedged");
    g.join().unwrap_err().is_killed()
}
