//! The placement rule: a greenlet that has started runs on one worker thread for its whole life,
//! and a wake-up sends it home (never into the waker's run-next slot on another worker).

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use greenlet::channel;
use greenlet::sync::{Event, Mutex};
use greenlet::{joinall, sleep, spawn, yield_now};

mod common;
use common::workers;

#[test]
fn a_started_greenlet_never_changes_thread() {
    // Greenlets park in every way the crate offers while others wake them from other workers
    // and from plain threads; each checks after every park that it is still on its first thread.
    const GREENLETS: usize = 64;
    const ROUNDS: usize = 200;
    let (tx, rx) = channel::bounded::<usize>(0);
    let lock = Arc::new(Mutex::new(0u64));
    let moved = Arc::new(AtomicUsize::new(0));
    let feeder = thread::spawn(move || {
        for i in 0..GREENLETS * ROUNDS / 4 {
            tx.send(i).unwrap();
        }
    });
    let handles: Vec<_> = (0..GREENLETS)
        .map(|i| {
            let (rx, lock, moved) = (rx.clone(), lock.clone(), moved.clone());
            spawn(move || {
                let home: ThreadId = thread::current().id();
                for round in 0..ROUNDS {
                    match (i + round) % 4 {
                        0 => yield_now(),
                        1 => sleep(Duration::from_micros(50)),
                        2 => {
                            let mut g = lock.lock();
                            yield_now(); // others queue up on the lock
                            *g += 1;
                        }
                        _ => {
                            let _ = rx.recv_timeout(Duration::from_millis(100));
                        }
                    }
                    if thread::current().id() != home {
                        moved.fetch_add(1, SeqCst);
                    }
                }
            })
        })
        .collect();
    for r in joinall(handles) {
        r.unwrap();
    }
    drop(rx);
    let _ = feeder.join();
    assert_eq!(
        moved.load(SeqCst),
        0,
        "started greenlets resumed on another thread"
    );
}

thread_local! {
    /// A thread-affine value, like the `Rc` that `rand::thread_rng()` hands out.
    static COUNTER: Rc<Cell<u64>> = Rc::new(Cell::new(0));
}

#[test]
fn an_rc_from_a_thread_local_may_be_kept_across_parks() {
    // Each greenlet keeps the thread-local Rc across parks and bumps it. Were greenlets to move,
    // two threads would update one non-atomic counter (a data race: the totals would not add
    // up, under Miri or TSan it is flagged). On its home worker it is only ever touched there.
    const GREENLETS: u64 = 32;
    const ROUNDS: u64 = 500;
    let handles: Vec<_> = (0..GREENLETS)
        .map(|_| {
            spawn(|| {
                let rc = COUNTER.with(Rc::clone);
                let before = rc.get();
                for _ in 0..ROUNDS {
                    rc.set(rc.get() + 1);
                    yield_now();
                    sleep(Duration::from_micros(10));
                    // Still this thread's own Rc: the greenlet did not move.
                    assert!(
                        COUNTER.with(|c| Rc::ptr_eq(c, &rc)),
                        "resumed on another thread"
                    );
                }
                before
            })
        })
        .collect();
    for r in joinall(handles) {
        r.unwrap();
    }
}

#[test]
fn a_woken_greenlet_runs_at_home_while_the_waker_computes() {
    // The waker spins on a flag after waking a greenlet homed on another worker. Put into the
    // waker's run-next slot, the woken greenlet would never run (no idle worker may take that
    // slot); at home, its own idle worker runs it at once.
    if workers() < 2 {
        return;
    }
    let (tx, rx) = channel::unbounded::<()>();
    let done = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(Event::new());
    let waiter_thread = Arc::new(std::sync::Mutex::new(None::<ThreadId>));
    let waiter = {
        let (done, ready, waiter_thread) = (done.clone(), ready.clone(), waiter_thread.clone());
        spawn(move || {
            *waiter_thread.lock().unwrap() = Some(thread::current().id());
            ready.set();
            rx.recv().unwrap();
            done.store(true, SeqCst);
        })
    };
    ready.wait();
    let home = waiter_thread
        .lock()
        .unwrap()
        .expect("recorded before the event");
    // The waker must run on another worker: a spawn that lands on the waiter's thread gives up
    // at once and the next one tries (spawns from a plain thread go to any idle worker).
    let woke = loop {
        let (tx, done) = (tx.clone(), done.clone());
        let waker = spawn(move || {
            if thread::current().id() == home {
                return None;
            }
            tx.send(()).unwrap();
            let t0 = Instant::now();
            while !done.load(SeqCst) && t0.elapsed() < Duration::from_secs(10) {
                std::hint::spin_loop(); // computes: never parks, never yields
            }
            Some(done.load(SeqCst))
        });
        if let Some(woke) = waker.join().unwrap() {
            break woke;
        }
    };
    waiter.join().unwrap();
    assert!(
        woke,
        "the woken greenlet waited for the spinning waker on another worker"
    );
}
