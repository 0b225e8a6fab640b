//! Detached greenlets: their results (and panic payloads) are user values whose destructors may
//! panic or park; they are dropped inside the greenlet or by the handle's owner, never on a
//! worker's scheduling loop or under a lock of the runtime.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use greenlet::{channel, sleep, spawn, JoinError};

/// Panics when dropped (and counts the drops).
struct Grenade(Arc<AtomicUsize>);

impl Drop for Grenade {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
        if !std::thread::panicking() {
            panic!("a result's destructor panicked");
        }
    }
}

/// The runtime still runs greenlets on every worker: each of many greenlets runs to its end.
fn runtime_still_works() {
    let handles: Vec<_> = (0..200).map(|i| spawn(move || i)).collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert!(
            h.wait_timeout(Duration::from_secs(20)),
            "greenlet {i} never ran: a worker thread died"
        );
        assert_eq!(h.join().unwrap(), i);
    }
}

/// Waits until `count` reaches `n` (the greenlets ran their course).
fn wait_for(count: &AtomicUsize, n: usize) {
    for _ in 0..20_000 {
        if count.load(SeqCst) >= n {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("only {} of {n} done", count.load(SeqCst));
}

/// Calls `detach` `n` times with a fresh grenade (it spawns a greenlet that ends with the
/// grenade, and drops the handle), then waits until every grenade is dropped and checks that
/// the runtime still works.
fn detached_grenades(n: usize, mut detach: impl FnMut(Grenade)) {
    let drops = Arc::new(AtomicUsize::new(0));
    for _ in 0..n {
        detach(Grenade(drops.clone()));
    }
    wait_for(&drops, n);
    runtime_still_works();
}

#[test]
fn a_detached_result_whose_drop_panics_does_not_kill_a_worker() {
    // More than there are workers: each would have killed one worker thread.
    detached_grenades(16, |grenade| {
        drop(spawn(move || {
            sleep(Duration::from_millis(5)); // finishes after its handle is gone
            grenade
        }))
    });
}

#[test]
fn a_detached_result_with_a_stale_timer_is_not_dropped_under_the_timer_lock() {
    // Each greenlet leaves a timer entry behind (a receive with a one-hour timeout that a
    // message ends at once); the entry keeps a reference to the task. Its result must not wait
    // for that reference to go (which happens under the timer lock, when the heap is purged).
    detached_grenades(2_000, |grenade| {
        let (tx, rx) = channel::bounded::<()>(1);
        drop(spawn(move || {
            let _ = rx.recv_timeout(Duration::from_secs(3600));
            grenade
        }));
        tx.send(()).unwrap();
    });
}

#[test]
fn a_detached_panic_whose_payload_panics_in_drop_is_contained() {
    detached_grenades(16, |grenade| {
        drop(spawn(move || {
            sleep(Duration::from_millis(5));
            std::panic::panic_any(grenade);
        }))
    });
}

#[test]
fn a_handle_dropped_after_the_end_drops_the_result_in_its_owner() {
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    let g = spawn(move || Grenade(d));
    g.wait();
    // The owner drops the handle: the result's destructor runs (and panics) right here.
    let dropped = std::panic::catch_unwind(move || drop(g));
    assert!(dropped.is_err());
    assert_eq!(drops.load(SeqCst), 1);
}

#[test]
fn joined_results_are_dropped_by_the_caller_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    let value = spawn(move || Grenade(d)).join().unwrap();
    assert_eq!(drops.load(SeqCst), 0);
    assert!(std::panic::catch_unwind(move || drop(value)).is_err());
    assert_eq!(drops.load(SeqCst), 1);
}

#[test]
fn a_killed_greenlets_closure_that_panics_in_drop_does_not_hurt_the_killer() {
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    let grenade = Grenade(d);
    let g = greenlet::spawn_later(Duration::from_secs(3600), move || drop(grenade));
    g.kill(); // drops the closure (and its grenade) here; the panic is contained
    assert!(matches!(g.join(), Err(JoinError::Killed)));
    assert_eq!(drops.load(SeqCst), 1);
    runtime_still_works();
}

#[test]
fn join_error_is_send_sync_and_travels_with_question_mark() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<JoinError>();
    fn run() -> Result<u32, Box<dyn std::error::Error + Send + Sync>> {
        let g = spawn(|| -> u32 { panic!("no disk") });
        Ok(g.join()?)
    }
    let e = run().unwrap_err();
    assert_eq!(e.to_string(), "greenlet panicked: no disk");
    let e = e.downcast::<JoinError>().unwrap();
    assert_eq!(e.panic_message(), Some("no disk"));
}
