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

struct Counter(Arc<AtomicUsize>);

impl Drop for Counter {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}
