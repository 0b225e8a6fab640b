//! AsyncResult with a `Clone` that parks or panics, on a single worker thread, where user code
//! run under an internal spin lock would wedge the worker: every test configures one worker.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use greenlet::sync::AsyncResult;
use greenlet::{sleep, spawn};

mod common;
use common::{join_or_wedged, one_worker};

/// A value whose `Clone` parks (sleeps), or panics, as told.
struct Touchy {
    value: u32,
    sleep: Arc<AtomicBool>,
    panic: Arc<AtomicBool>,
    clones: Arc<AtomicUsize>,
}

impl Clone for Touchy {
    fn clone(&self) -> Touchy {
        if self.panic.load(SeqCst) {
            panic!("clone refused");
        }
        if self.sleep.load(SeqCst) {
            sleep(Duration::from_millis(20));
        }
        self.clones.fetch_add(1, SeqCst);
        Touchy {
            value: self.value,
            sleep: self.sleep.clone(),
            panic: self.panic.clone(),
            clones: self.clones.clone(),
        }
    }
}

fn touchy(value: u32) -> Touchy {
    Touchy {
        value,
        sleep: Arc::new(AtomicBool::new(false)),
        panic: Arc::new(AtomicBool::new(false)),
        clones: Arc::new(AtomicUsize::new(0)),
    }
}

#[test]
fn a_clone_that_parks_inside_get_does_not_wedge_the_worker() {
    one_worker();
    let t = touchy(7);
    t.sleep.store(true, SeqCst);
    let r = Arc::new(AsyncResult::new());
    r.set(t);
    // Several getters copy at once; each copy parks in the middle. Others keep running.
    let getters: Vec<_> = (0..3)
        .map(|_| {
            let r = r.clone();
            spawn(move || r.get().value)
        })
        .collect();
    let bystander = {
        let r = r.clone();
        spawn(move || {
            for _ in 0..5 {
                sleep(Duration::from_millis(1));
            }
            r.is_ready()
        })
    };
    let setter = {
        let r = r.clone();
        spawn(move || r.set(touchy(8))) // refused: the first value stays
    };
    for g in getters {
        assert_eq!(join_or_wedged(g), 7);
    }
    assert!(join_or_wedged(bystander));
    join_or_wedged(setter);
}

#[test]
fn a_clone_that_panics_leaves_the_result_usable() {
    one_worker();
    let t = touchy(3);
    let (panic, clones) = (t.panic.clone(), t.clones.clone());
    let r = Arc::new(AsyncResult::new());
    r.set(t);
    panic.store(true, SeqCst);
    let failed = catch_unwind(AssertUnwindSafe(|| r.get()));
    assert!(failed.is_err());
    let r2 = r.clone();
    let in_greenlet = spawn(move || r2.get().value);
    assert!(in_greenlet.wait_timeout(Duration::from_secs(20)));
    assert!(in_greenlet.join().unwrap_err().is_panic());
    panic.store(false, SeqCst);
    assert_eq!(r.get().value, 3);
    let r3 = r.clone();
    assert_eq!(
        join_or_wedged(spawn(move || r3.try_get().unwrap().value)),
        3
    );
    assert_eq!(clones.load(SeqCst), 2);
}

#[test]
fn a_getter_killed_inside_a_parked_clone_leaves_the_result_usable() {
    one_worker();
    let t = touchy(5);
    let slow = t.sleep.clone();
    let r = Arc::new(AsyncResult::new());
    r.set(t);
    slow.store(true, SeqCst);
    let r2 = r.clone();
    let victim = spawn(move || r2.get().value);
    sleep(Duration::from_millis(5)); // let it start copying
    victim.kill();
    assert!(victim.wait_timeout(Duration::from_secs(20)));
    slow.store(false, SeqCst);
    let r3 = r.clone();
    assert_eq!(join_or_wedged(spawn(move || r3.get().value)), 5);
}
