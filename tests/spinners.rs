//! A greenlet that computes without ever blocking holds its worker (cooperative scheduling).
//! What must keep going meanwhile: greenlets homed on other workers, greenlets not yet started
//! (idle workers take them), and timers (idle workers fire a busy worker's due timers).
//!
//! These tests run one at a time (a spinner would also hold greenlets that other tests of the
//! same binary happened to start on its worker: by the placement rule they wait for it).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant};

use greenlet::sync::Event;
use greenlet::{joinall, sleep, spawn, spawn_later, yield_now, Greenlet};

mod common;
use common::{serial, workers};

/// Holds the other tests of this binary off (see above) while it lives; `None`, and the test
/// does not apply, with one worker: the spinner holds the only thread, by definition.
fn alone_with_a_second_worker() -> Option<MutexGuard<'static, ()>> {
    let one = serial();
    (workers() >= 2).then_some(one)
}

/// Starts a greenlet that spins (never yields) until `stop` is set, and waits until it runs.
fn spinner(stop: &Arc<AtomicBool>) -> Greenlet<()> {
    let running = Arc::new(Event::new());
    let (s, r) = (stop.clone(), running.clone());
    let g = spawn(move || {
        r.set();
        let t0 = Instant::now();
        while !s.load(Ordering::Relaxed) && t0.elapsed() < Duration::from_secs(30) {
            std::hint::spin_loop(); // never yields
        }
    });
    running.wait();
    g
}

/// Runs `work` while a [`spinner`] holds a worker, then stops the spinner, and returns what `work`
/// returned. Fails if `work` took `bound` or more: it waited for the spinner.
fn while_a_spinner_holds_a_worker<T>(bound: Duration, work: impl FnOnce() -> T) -> T {
    let stop = Arc::new(AtomicBool::new(false));
    let spin = spinner(&stop);
    let t0 = Instant::now();
    let value = work();
    let elapsed = t0.elapsed();
    stop.store(true, Ordering::Relaxed);
    spin.join().unwrap();
    assert!(elapsed < bound, "it waited for the spinner: {elapsed:?}");
    value
}

#[test]
fn greenlets_spawned_while_a_spinner_holds_a_worker_run_on_the_others() {
    let Some(_one) = alone_with_a_second_worker() else {
        return;
    };
    let sum = while_a_spinner_holds_a_worker(Duration::from_secs(20), || {
        let others: Vec<_> = (0..1000)
            .map(|i| {
                spawn(move || {
                    yield_now();
                    sleep(Duration::from_millis(1));
                    i
                })
            })
            .collect();
        joinall(others).into_iter().map(Result::unwrap).sum::<i32>()
    });
    assert_eq!(sum, 499500);
}

#[test]
fn timers_on_a_busy_worker_still_fire() {
    let Some(_one) = alone_with_a_second_worker() else {
        return;
    };
    // spawn_later from a plain thread spreads its timers over every worker's heap, the
    // spinner's included: an idle worker fires the due ones, and starts the greenlets.
    while_a_spinner_holds_a_worker(Duration::from_secs(10), || {
        let later: Vec<_> = (0..200)
            .map(|_| {
                spawn_later(Duration::from_millis(20), || {
                    sleep(Duration::from_millis(20))
                })
            })
            .collect();
        joinall(later);
    });
}

#[test]
fn a_child_woken_by_a_parent_that_then_spins_runs_on_an_idle_worker() {
    // Issue 14, §2.4, literally: the parent spawns a child, parks (sleeps), wakes the child and
    // then polls a flag without ever parking. The child started while its parent slept; it must
    // have started where an idle worker can run it again, not on its parent's worker (which the
    // spinning parent holds). The spin is bounded so that a failure fails instead of hanging.
    // (It needs an idle worker when the child starts: hence one test at a time.)
    let Some(_one) = alone_with_a_second_worker() else {
        return;
    };
    for round in 0..20 {
        // Let the previous round's workers go idle: the other worker must be idle (or become
        // idle) by the time the child starts, which is what this test is about.
        std::thread::sleep(Duration::from_millis(5));
        let g = spawn(|| {
            let done = Arc::new(AtomicBool::new(false));
            let (s, r) = greenlet::channel::unbounded::<()>();
            let d = done.clone();
            let w = spawn(move || {
                r.recv().unwrap();
                d.store(true, Ordering::SeqCst);
            });
            sleep(Duration::from_millis(50));
            s.send(()).unwrap();
            let t0 = Instant::now();
            while !done.load(Ordering::SeqCst) && t0.elapsed() < Duration::from_secs(5) {
                std::hint::spin_loop(); // try_iter/try_recv polling loops look like this
            }
            let woke = done.load(Ordering::SeqCst);
            w.join().unwrap();
            woke
        });
        assert!(
            g.join().unwrap(),
            "the child never ran while its parent spun and another worker idled (round {round})"
        );
    }
}
