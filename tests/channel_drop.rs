//! What happens to queued messages when a channel's or a queue's handles go: every message is
//! dropped exactly once, a message whose `Drop` panics propagates that panic from the handle's
//! drop (like crossbeam-channel) instead of aborting the process, and the other messages are
//! still dropped.
//!
//! An abort would kill the whole test binary, so each scenario runs in a child process of it.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use greenlet::channel::{bounded, unbounded, Receiver, Sender};
use greenlet::queue::{LifoQueue, PriorityQueue, Queue};

mod common;

/// Runs `scenario` in a child process; fails with its output unless it exits cleanly and prints
/// `ok`.
fn child(scenario: &str) {
    let out = common::child(scenario, &[]);
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

/// Sends `BOMBS` bombs on `tx`; returns their drop count.
fn send_bombs(tx: &Sender<Bomb>) -> Arc<AtomicUsize> {
    let drops = Arc::new(AtomicUsize::new(0));
    for _ in 0..BOMBS {
        tx.send(Bomb {
            drops: drops.clone(),
        })
        .unwrap_or_else(|_| panic!("send failed"));
    }
    drops
}

/// Fills a channel with bombs, then drops its handles (the receiver first or last).
fn channel_case(make: fn() -> (Sender<Bomb>, Receiver<Bomb>), receiver_first: bool) {
    let (tx, rx) = make();
    let drops = send_bombs(&tx);
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
        "during_unwind" => {
            // The last handle dropped while another panic unwinds: the bombs' panics are
            // swallowed (resuming one from a destructor now would abort), all are dropped.
            let (tx, rx) = unbounded();
            let drops = send_bombs(&tx);
            drop(tx);
            let r = catch_unwind(AssertUnwindSafe(move || {
                let _rx = rx;
                panic!("outer");
            }));
            assert_eq!(r.unwrap_err().downcast_ref::<&str>(), Some(&"outer"));
            assert_eq!(drops.load(SeqCst), BOMBS);
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
fn a_channel_of_bombs_dropped_during_another_panic_does_not_abort() {
    child("during_unwind");
}

#[test]
fn a_greenlet_dropping_a_channel_of_bombs_catches_the_panic() {
    child("in_a_greenlet");
}

/// A message that counts its drops.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Queues `n` counted messages, drops the receiver while the sender lives on: every message is
/// dropped at once, and a later send hands its message back in `SendError` without keeping it.
fn receiver_gone_frees_queued(make: fn() -> (Sender<Counted>, Receiver<Counted>), n: usize) {
    let drops = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = make();
    for _ in 0..n {
        assert!(tx.try_send(Counted(drops.clone())).is_ok());
    }
    let rx2 = rx.clone();
    drop(rx);
    assert_eq!(drops.load(SeqCst), 0, "a receiver is left");
    drop(rx2);
    assert_eq!(
        drops.load(SeqCst),
        n,
        "queued messages are dropped with the last receiver"
    );
    assert!(tx.is_empty());
    let err = tx.send(Counted(drops.clone())).unwrap_err();
    assert_eq!(drops.load(SeqCst), n, "the refused message is handed back");
    drop(err);
    assert_eq!(drops.load(SeqCst), n + 1);
    assert!(tx.is_empty(), "the channel keeps nothing");
    drop(tx);
    assert_eq!(drops.load(SeqCst), n + 1, "nothing is dropped twice");
}

#[test]
fn the_last_receiver_frees_the_ring() {
    receiver_gone_frees_queued(|| bounded(16), 10);
}

#[test]
fn the_last_receiver_frees_a_small_bounded_channel() {
    receiver_gone_frees_queued(|| bounded(3), 3);
}

#[test]
fn the_last_receiver_frees_a_huge_bounded_channel() {
    receiver_gone_frees_queued(|| bounded(100_000), 10);
}

#[test]
fn the_last_receiver_frees_an_unbounded_channel() {
    receiver_gone_frees_queued(unbounded, 10);
}

#[test]
fn the_last_receiver_hands_a_parked_rendezvous_sender_its_message_back() {
    let drops = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = bounded::<Counted>(0);
    let d = drops.clone();
    let tx2 = tx.clone();
    // Parked in send (or, if it starts late, refused at once): either way it gets the message
    // back.
    let sender = greenlet::spawn(move || tx2.send(Counted(d)).unwrap_err().0);
    greenlet::sleep(std::time::Duration::from_millis(20));
    drop(rx);
    let back = sender.join().unwrap();
    assert_eq!(drops.load(SeqCst), 0);
    drop(back);
    assert_eq!(drops.load(SeqCst), 1);
    let err = tx.send(Counted(drops.clone())).unwrap_err();
    drop(err);
    assert_eq!(drops.load(SeqCst), 2);
}

/// A message whose `Drop` parks: the last receiver drops it with no lock held, so other
/// greenlets (here, the one that sends next) keep running meanwhile.
struct Sleepy(Arc<AtomicUsize>);

impl Drop for Sleepy {
    fn drop(&mut self) {
        greenlet::sleep(std::time::Duration::from_millis(2));
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn a_message_whose_drop_parks_is_dropped_by_the_last_receiver_outside_the_lock() {
    for cap in [Some(2), Some(16), None] {
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = match cap {
            Some(n) => bounded(n),
            None => unbounded(),
        };
        tx.send(Sleepy(drops.clone()))
            .unwrap_or_else(|_| panic!("send"));
        tx.send(Sleepy(drops.clone()))
            .unwrap_or_else(|_| panic!("send"));
        let dropper = greenlet::spawn(move || drop(rx));
        // The channel stays usable while the dropper parks in a message's Drop.
        while !dropper.is_finished() {
            assert_eq!(tx.capacity(), cap);
            std::thread::yield_now();
        }
        dropper.join().unwrap();
        assert_eq!(drops.load(SeqCst), 2, "capacity {cap:?}");
    }
}

#[test]
fn a_send_racing_the_last_receivers_drop_leaves_nothing_in_the_ring() {
    for round in 0..200 {
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = bounded::<Counted>(8);
        let d = drops.clone();
        let sender = std::thread::spawn(move || {
            let mut made = 0;
            loop {
                made += 1;
                if let Err(e) = tx.send(Counted(d.clone())) {
                    drop(e);
                    return (tx, made);
                }
            }
        });
        for _ in 0..round % 7 {
            let _ = rx.try_recv();
        }
        drop(rx);
        let (tx, made) = sender.join().unwrap();
        // The sender is still alive: whatever it sent must have been dropped already.
        assert_eq!(drops.load(SeqCst), made, "round {round}");
        assert!(tx.is_empty());
    }
}
