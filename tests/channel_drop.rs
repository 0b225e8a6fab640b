//! What happens to queued messages when a channel's or a queue's handles go: every message is
//! dropped exactly once, a message whose `Drop` panics propagates that panic from the handle's
//! drop (like crossbeam-channel) instead of aborting the process, and the other messages are
//! still dropped.
//!
//! An abort would kill the whole test binary, so each scenario runs in a child process of it.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use greenlet::channel::{bounded, unbounded, Receiver, Sender};
use greenlet::queue::{LifoQueue, PriorityQueue, Queue};

/// Runs `scenario` in a child process; fails with its output unless it exits cleanly and prints
/// `ok`.
fn child(scenario: &str) {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args(["--exact", "scenario", "--nocapture", "--test-threads=1"])
        .env("SCENARIO", scenario)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("scenario-ok"),
        "{scenario}: {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A message whose `Drop` counts itself, then panics.
struct Bomb {
    drops: Arc<AtomicUsize>,
}

impl Drop for Bomb {
    fn drop(&mut self) {
        self.drops.fetch_add(1, SeqCst);
        panic!("bomb");
    }
}

// PriorityQueue needs an order; every bomb is equal (no user code runs while dropping them).
impl PartialEq for Bomb {
    fn eq(&self, _: &Bomb) -> bool {
        true
    }
}
impl Eq for Bomb {}
impl PartialOrd for Bomb {
    fn partial_cmp(&self, other: &Bomb) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Bomb {
    fn cmp(&self, _: &Bomb) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

const BOMBS: usize = 3;

/// Runs `drop_handles`, which must panic with the first bomb's payload; then every bomb must
/// have been dropped.
fn expect_one_panic_and_all_dropped(drops: &AtomicUsize, drop_handles: impl FnOnce()) {
    let r = catch_unwind(AssertUnwindSafe(drop_handles));
    let payload = r.expect_err("the first bomb's panic propagates from the drop");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"bomb"));
    assert_eq!(drops.load(SeqCst), BOMBS, "every queued message is dropped");
}

/// Fills a channel with bombs, then drops its handles (the receiver first or last).
fn channel_case(make: fn() -> (Sender<Bomb>, Receiver<Bomb>), receiver_first: bool) {
    let drops = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = make();
    for _ in 0..BOMBS {
        tx.send(Bomb {
            drops: drops.clone(),
        })
        .unwrap_or_else(|_| panic!("send failed"));
    }
    expect_one_panic_and_all_dropped(&drops, move || {
        if receiver_first {
            drop(rx);
            drop(tx);
        } else {
            drop(tx);
            drop(rx);
        }
    });
}

fn queue_case<Q>(q: Q, put: fn(&Q, Bomb)) {
    let drops = Arc::new(AtomicUsize::new(0));
    for _ in 0..BOMBS {
        put(
            &q,
            Bomb {
                drops: drops.clone(),
            },
        );
    }
    let last_handle = AssertUnwindSafe(q);
    expect_one_panic_and_all_dropped(&drops, move || drop(last_handle));
}

#[test]
fn scenario() {
    let Ok(scenario) = std::env::var("SCENARIO") else {
        return; // not a child
    };
    let (name, order) = scenario.split_once(':').unwrap_or((&scenario, ""));
    let receiver_first = order == "receiver_first";
    match name {
        "locked_small" => channel_case(|| bounded(3), receiver_first),
        "ring" => channel_case(|| bounded(16), receiver_first),
        "locked_huge" => channel_case(|| bounded(100_000), receiver_first),
        "unbounded" => channel_case(unbounded, receiver_first),
        "queue" => queue_case(Queue::unbounded(), |q, b| q.put(b)),
        "priority_queue" => queue_case(PriorityQueue::unbounded(), |q, b| q.put(b)),
        "lifo_queue" => queue_case(LifoQueue::bounded(10), |q, b| q.put(b)),
        "in_a_greenlet" => {
            let r = greenlet::spawn(|| channel_case(unbounded, false)).join();
            r.expect("the panic was caught inside the greenlet");
        }
        other => panic!("unknown scenario {other}"),
    }
    println!("scenario-ok");
}

#[test]
fn small_bounded_channel_drops_every_message_and_propagates_one_panic() {
    child("locked_small:sender_first");
    child("locked_small:receiver_first");
}

#[test]
fn ring_channel_drops_every_message_and_propagates_one_panic() {
    child("ring:sender_first");
    child("ring:receiver_first");
}

#[test]
fn huge_bounded_channel_drops_every_message_and_propagates_one_panic() {
    child("locked_huge:sender_first");
    child("locked_huge:receiver_first");
}

#[test]
fn unbounded_channel_drops_every_message_and_propagates_one_panic() {
    child("unbounded:sender_first");
    child("unbounded:receiver_first");
}

#[test]
fn queues_drop_every_item_and_propagate_one_panic() {
    child("queue");
    child("priority_queue");
    child("lifo_queue");
}

#[test]
fn a_greenlet_dropping_a_channel_of_bombs_catches_the_panic() {
    child("in_a_greenlet");
}
