//! The minimal sync::Event the core needs (the sync issue extends it).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use greenlet::sync::Event;
use greenlet::{joinall, sleep, spawn};

mod common;
use common::counting_waiters;

#[test]
fn set_wakes_every_waiter_and_clear_resets() {
    let e = Arc::new(Event::new());
    let (hs, woken) = counting_waiters(100, {
        let e = e.clone();
        move || e.wait()
    });
    sleep(Duration::from_millis(10));
    assert_eq!(woken.load(Ordering::SeqCst), 0);
    assert!(!e.is_set());
    e.set();
    joinall(hs);
    assert_eq!(woken.load(Ordering::SeqCst), 100);
    assert!(e.is_set());
    e.wait(); // returns at once while set
    e.clear();
    assert!(!e.is_set());
    assert!(!e.wait_timeout(Duration::from_millis(10)));
}

#[test]
fn a_waiter_woken_by_set_returns_even_if_cleared_at_once() {
    for _ in 0..20 {
        let e = Arc::new(Event::new());
        let e2 = e.clone();
        let (tx, rx) = greenlet::channel::unbounded();
        let g = spawn(move || {
            tx.send(()).unwrap(); // nothing parks between this and the wait
            e2.wait_timeout(Duration::from_secs(10))
        });
        rx.recv().unwrap();
        sleep(Duration::from_millis(20)); // it reaches the wait and parks
        e.set();
        e.clear();
        assert!(g.join().unwrap());
    }
}

#[test]
fn works_between_plain_threads() {
    let e = Arc::new(Event::new());
    let e2 = e.clone();
    let t = std::thread::spawn(move || e2.wait_timeout(Duration::from_secs(10)));
    std::thread::sleep(Duration::from_millis(10));
    e.set();
    assert!(t.join().unwrap());
}
