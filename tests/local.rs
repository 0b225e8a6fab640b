//! greenlet::local::Local: per-greenlet values.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use greenlet::local::Local;
use greenlet::sync::Event;
use greenlet::{joinall, sleep, spawn, yield_now};

static NAME: Local<RefCell<String>> = Local::new(|| RefCell::new(String::from("unset")));
static COUNT: Local<Cell<u32>> = Local::new(|| Cell::new(0));

#[test]
fn each_greenlet_sees_its_own_value_across_switches_and_workers() {
    let hs: Vec<_> = (0..200)
        .map(|i| {
            spawn(move || {
                assert_eq!(NAME.with(|n| n.borrow().clone()), "unset");
                NAME.with(|n| *n.borrow_mut() = format!("g{i}"));
                for _ in 0..10 {
                    COUNT.with(|c| c.set(c.get() + 1));
                    yield_now();
                    sleep(Duration::from_micros(50)); // may resume on another worker
                }
                (NAME.with(|n| n.borrow().clone()), COUNT.with(Cell::get))
            })
        })
        .collect();
    for (i, r) in joinall(hs).into_iter().enumerate() {
        assert_eq!(r.unwrap(), (format!("g{i}"), 10));
    }
}

static DROPS: AtomicUsize = AtomicUsize::new(0);
struct Tracked;
impl Drop for Tracked {
    fn drop(&mut self) {
        DROPS.fetch_add(1, Ordering::SeqCst);
    }
}
static TRACKED: Local<Tracked> = Local::new(|| Tracked);

#[test]
fn values_are_dropped_when_the_greenlet_ends() {
    let before = DROPS.load(Ordering::SeqCst);
    let hs: Vec<_> = (0..50).map(|_| spawn(|| TRACKED.with(|_| ()))).collect();
    joinall(hs);
    assert_eq!(DROPS.load(Ordering::SeqCst) - before, 50);
    // Also when the greenlet is killed or panics.
    let touched = Arc::new(Event::new());
    let t = touched.clone();
    let g = spawn(move || {
        TRACKED.with(|_| ());
        t.set();
        sleep(Duration::from_secs(3600));
    });
    touched.wait(); // killed before it ran, it would have no value to drop
    g.kill();
    let _ = g.join();
    let p = spawn(|| {
        TRACKED.with(|_| ());
        panic!("with a local");
    });
    let _ = p.join();
    assert_eq!(DROPS.load(Ordering::SeqCst) - before, 52);
}

#[test]
fn on_a_plain_thread_it_is_per_thread() {
    COUNT.with(|c| c.set(41));
    COUNT.with(|c| c.set(c.get() + 1));
    assert_eq!(COUNT.with(Cell::get), 42);
    let other = std::thread::spawn(|| COUNT.with(Cell::get)).join().unwrap();
    assert_eq!(other, 0);
    // A greenlet does not see the thread's value.
    assert_eq!(spawn(|| COUNT.with(Cell::get)).join().unwrap(), 0);
}

#[test]
fn nested_and_non_static_locals() {
    static OUTER: Local<u32> = Local::new(|| COUNT.with(|c| c.get() + 100));
    assert_eq!(spawn(|| OUTER.with(|v| *v)).join().unwrap(), 100);
    let local = Box::leak(Box::new(Local::new(|| vec![1, 2, 3])));
    assert_eq!(spawn(move || local.with(|v| v.len())).join().unwrap(), 3);
    fn assert_sync<T: Sync>() {}
    assert_sync::<Local<RefCell<String>>>();
}

/// A value is dropped inside its greenlet, as the greenlet ends: its destructor sees the
/// greenlet as the current one, may use Locals (whose new values are dropped in turn), and may
/// panic without harm to the greenlet's result or the worker.
#[test]
fn values_are_dropped_inside_their_greenlet_and_may_use_locals() {
    static SEEN: AtomicUsize = AtomicUsize::new(0);
    static AGAIN: AtomicUsize = AtomicUsize::new(0);
    struct Again;
    impl Drop for Again {
        fn drop(&mut self) {
            AGAIN.fetch_add(1, Ordering::SeqCst);
            panic!("a Local's destructor panics");
        }
    }
    static LATER: Local<Again> = Local::new(|| Again);
    struct Checks;
    impl Drop for Checks {
        fn drop(&mut self) {
            SEEN.store(
                greenlet::current().map_or(0, |id| id.as_u64() as usize),
                Ordering::SeqCst,
            );
            LATER.with(|_| ()); // made while the values are being dropped
        }
    }
    static CHECKS: Local<Checks> = Local::new(|| Checks);
    let g = spawn(|| {
        CHECKS.with(|_| ());
        7
    });
    let id = g.id().as_u64() as usize;
    assert_eq!(g.join().unwrap(), 7);
    assert_eq!(SEEN.load(Ordering::SeqCst), id);
    assert_eq!(AGAIN.load(Ordering::SeqCst), 1);
    // The workers are fine: more greenlets run.
    assert_eq!(spawn(|| 1).join().unwrap(), 1);
}
