//! scope and block_on on a single worker thread, where a wait that blocked the worker, or spun
//! on it, would hang: every test here configures one worker first.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use greenlet::{configure, scope, sleep, spawn, with_timeout, Config, Timeout};

fn one_worker() {
    // The first test to get here configures; the others find it done.
    let _ = configure(Config::default().workers(1));
}

/// Runs `f` in a greenlet and waits for it from this plain thread, at most 20 s.
fn in_a_greenlet<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    one_worker();
    let g = spawn(f);
    assert!(
        g.wait_timeout(Duration::from_secs(20)),
        "the greenlet hung its worker"
    );
    g.join().unwrap()
}

#[test]
fn a_timed_out_scope_waits_for_its_killed_greenlets_without_spinning() {
    // The expired with_timeout stays on the caller until it returns; scope's cleanup must park
    // with it held back, or each park would unwind at once and the caller would spin on the
    // only worker, where the killed greenlets need to run.
    let done = in_a_greenlet(|| {
        let done = Arc::new(AtomicUsize::new(0));
        let r = with_timeout(Duration::from_millis(10), || {
            scope(|s| {
                for _ in 0..3 {
                    let d = done.clone();
                    s.spawn(move || {
                        let _count = Counter(d);
                        sleep(Duration::from_secs(3600));
                    });
                }
            })
        });
        assert_eq!(r, Err(Timeout));
        done.load(SeqCst)
    });
    assert_eq!(done, 3);
}

#[test]
fn a_killed_scope_caller_joins_its_greenlets_on_one_worker() {
    one_worker();
    let unwound = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(AtomicUsize::new(0));
    let (u, st) = (unwound.clone(), started.clone());
    let caller = spawn(move || {
        scope(|s| {
            for _ in 0..3 {
                let (u, st) = (u.clone(), st.clone());
                s.spawn(move || {
                    st.fetch_add(1, SeqCst);
                    let _count = Counter(u);
                    sleep(Duration::from_secs(3600));
                });
            }
        })
    });
    while started.load(SeqCst) < 3 {
        std::thread::sleep(Duration::from_millis(1));
    }
    caller.kill();
    assert!(caller.wait_timeout(Duration::from_secs(20)));
    assert!(caller.join().unwrap_err().is_killed());
    assert_eq!(unwound.load(SeqCst), 3);
}

#[test]
fn block_on_parks_only_its_greenlet() {
    // The only worker runs the greenlet that wakes the future while the other waits in
    // block_on: a block_on that blocked its worker thread would never see the wake.
    let got = in_a_greenlet(|| {
        let gate: Arc<std::sync::Mutex<(bool, Option<std::task::Waker>)>> = Arc::default();
        let g = gate.clone();
        let waker = spawn(move || {
            sleep(Duration::from_millis(5));
            let w = {
                let mut s = g.lock().unwrap();
                s.0 = true;
                s.1.take()
            };
            w.expect("the waiter registered its waker").wake();
        });
        let value = greenlet::block_on(std::future::poll_fn(|cx| {
            let mut s = gate.lock().unwrap();
            if s.0 {
                std::task::Poll::Ready(7)
            } else {
                s.1 = Some(cx.waker().clone());
                std::task::Poll::Pending
            }
        }));
        waker.join().unwrap();
        value
    });
    assert_eq!(got, 7);
}

#[test]
fn a_self_waking_future_lets_the_other_greenlets_run() {
    // A future that keeps waking itself until another greenlet on the same (only) worker has
    // run: block_on yields between such polls instead of spinning.
    let done = in_a_greenlet(|| {
        let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let f = flag.clone();
        let other = spawn(move || f.store(true, SeqCst));
        greenlet::block_on(std::future::poll_fn(|cx| {
            if flag.load(SeqCst) {
                std::task::Poll::Ready(())
            } else {
                cx.waker().wake_by_ref();
                std::task::Poll::Pending
            }
        }));
        other.join().unwrap();
        true
    });
    assert!(done);
}

struct Counter(Arc<AtomicUsize>);

impl Drop for Counter {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn a_greenlet_woken_by_its_timer_runs_before_greenlets_spawned_earlier_start() {
    // Finish what was started before starting more: the woken sleeper holds a stack, the
    // queued greenlets hold none yet. In FIFO order it would wait until all of them started.
    const QUEUED: usize = 2000;
    let started_first = in_a_greenlet(|| {
        let started = Arc::new(AtomicUsize::new(0));
        let sleeper = {
            let started = started.clone();
            spawn(move || {
                sleep(Duration::from_millis(2));
                started.load(SeqCst)
            })
        };
        // The sleeper starts and parks on its timer.
        greenlet::yield_now();
        let queued: Vec<_> = (0..QUEUED)
            .map(|_| {
                let started = started.clone();
                spawn(move || {
                    started.fetch_add(1, SeqCst);
                })
            })
            .collect();
        // The sleeper's deadline passes while all of them wait to start (this blocks the only
        // worker on purpose).
        std::thread::sleep(Duration::from_millis(10));
        let started_first = sleeper.join().unwrap();
        greenlet::joinall(queued);
        started_first
    });
    assert!(
        started_first < QUEUED / 2,
        "{started_first} of {QUEUED} greenlets spawned before the sleeper's wake-up started first"
    );
}

#[test]
fn greenlets_woken_by_timers_without_end_leave_the_others_a_share_of_the_worker() {
    // Overload: each sleeper computes longer than it sleeps, so by the time a batch of timer
    // wake-ups has run, the next is due. Those batches go ahead of the run queue, but not
    // always: a greenlet that yields at the back must still get its turns.
    let yields = in_a_greenlet(|| {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sleepers: Vec<_> = (0..200)
            .map(|_| {
                let stop = stop.clone();
                spawn(move || {
                    while !stop.load(SeqCst) {
                        sleep(Duration::from_millis(1));
                        let t0 = std::time::Instant::now();
                        while t0.elapsed() < Duration::from_micros(100) {
                            std::hint::spin_loop();
                        }
                    }
                })
            })
            .collect();
        sleep(Duration::from_millis(20));
        let mut yields = 0;
        while yields < 50 {
            greenlet::yield_now();
            yields += 1;
        }
        stop.store(true, SeqCst);
        greenlet::joinall(sleepers);
        yields
    });
    assert_eq!(yields, 50);
}
