//! greenlet::scope: scoped greenlets that borrow from the caller, joined on every path.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use greenlet::{scope, sleep, spawn, with_timeout, Builder, Timeout};

mod common;
use common::wait_for;

/// Counts its drops in a borrowed counter.
struct Tracked<'a>(&'a AtomicUsize);

impl Drop for Tracked<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn greenlets_borrow_locals_and_are_joined_before_scope_returns() {
    let words = vec![
        String::from("alpha"),
        String::from("beta"),
        String::from("gamma"),
    ];
    let finished = AtomicUsize::new(0);
    let total = scope(|s| {
        for w in &words {
            let finished = &finished;
            // Not joined: the scope joins them.
            s.spawn(move || {
                sleep(Duration::from_millis(5));
                assert!(!w.is_empty());
                finished.fetch_add(1, SeqCst);
            });
        }
        let len = s.spawn(|| words.iter().map(String::len).sum::<usize>());
        len.join().unwrap()
    });
    assert_eq!(total, 14);
    assert_eq!(
        finished.load(SeqCst),
        3,
        "scope returned before its greenlets finished"
    );
}

#[test]
fn mutable_borrows_split_across_greenlets() {
    let mut data: Vec<u64> = (0..1000).collect();
    scope(|s| {
        for chunk in data.chunks_mut(100) {
            s.spawn(move || {
                for x in chunk.iter_mut() {
                    *x *= 2;
                    if *x % 64 == 0 {
                        greenlet::yield_now();
                    }
                }
            });
        }
    });
    assert!(data.iter().enumerate().all(|(i, &x)| x == 2 * i as u64));
    // Two greenlets, each with its own &mut.
    let (mut left, mut right) = (0, 0);
    scope(|s| {
        s.spawn(|| left = 1);
        s.spawn(|| right = 2);
    });
    assert_eq!((left, right), (1, 2));
}

#[test]
fn a_body_panic_propagates_after_the_greenlets_finish() {
    let finished = AtomicBool::new(false);
    let err = catch_unwind(AssertUnwindSafe(|| {
        scope(|s| {
            s.spawn(|| {
                sleep(Duration::from_millis(20));
                finished.store(true, SeqCst);
            });
            panic!("body failed");
        })
    }))
    .unwrap_err();
    assert_eq!(err.downcast_ref::<&str>(), Some(&"body failed"));
    assert!(
        finished.load(SeqCst),
        "the scope unwound before its greenlet finished"
    );
}

#[test]
fn an_unjoined_greenlet_panic_makes_scope_panic_after_all_finish() {
    let finished = AtomicBool::new(false);
    let err = catch_unwind(AssertUnwindSafe(|| {
        scope(|s| {
            s.spawn(|| panic!("scoped failure"));
            s.spawn(|| {
                sleep(Duration::from_millis(20));
                finished.store(true, SeqCst);
            });
        })
    }))
    .unwrap_err();
    assert_eq!(
        err.downcast_ref::<&str>(),
        Some(&"a scoped greenlet panicked")
    );
    assert!(finished.load(SeqCst));
    // A panic observed through join is the caller's: no panic from scope.
    let v = scope(|s| {
        let g = s.spawn(|| -> u32 { panic!("seen") });
        let e = g.join().unwrap_err();
        assert_eq!(e.panic_message(), Some("seen"));
        7
    });
    assert_eq!(v, 7);
    // A body panic wins over an unjoined greenlet panic.
    let err = catch_unwind(AssertUnwindSafe(|| {
        scope(|s| {
            s.spawn(|| panic!("greenlet"));
            sleep(Duration::from_millis(5));
            panic!("body");
        })
    }))
    .unwrap_err();
    assert_eq!(err.downcast_ref::<&str>(), Some(&"body"));
}

#[test]
fn unjoined_results_are_dropped_before_scope_returns() {
    let drops = AtomicUsize::new(0);
    scope(|s| {
        for _ in 0..5 {
            s.spawn(|| Tracked(&drops));
        }
        let joined = s.spawn(|| Tracked(&drops));
        drop(joined.join().unwrap());
    });
    assert_eq!(drops.load(SeqCst), 6);
}

#[test]
fn a_forgotten_handle_does_not_end_the_wait_early() {
    let finished = AtomicBool::new(false);
    let drops = AtomicUsize::new(0);
    scope(|s| {
        let g = s.spawn(|| {
            sleep(Duration::from_millis(20));
            finished.store(true, SeqCst);
            Tracked(&drops)
        });
        std::mem::forget(g);
    });
    assert!(finished.load(SeqCst));
    // The result is the scope's to drop even though the handle leaked.
    assert_eq!(drops.load(SeqCst), 1);
}

#[test]
fn killing_the_caller_kills_and_joins_its_scoped_greenlets() {
    for round in 0..20 {
        let unwound = Arc::new(AtomicUsize::new(0));
        let started = Arc::new(AtomicUsize::new(0));
        let (u, st) = (unwound.clone(), started.clone());
        let caller = spawn(move || {
            let local = String::from("borrowed");
            scope(|s| {
                for _ in 0..4 {
                    s.spawn(|| {
                        let _t = Tracked(&u);
                        st.fetch_add(1, SeqCst);
                        assert_eq!(local, "borrowed");
                        sleep(Duration::from_secs(3600));
                    });
                }
                if round % 2 == 0 {
                    // Killed in the body...
                    sleep(Duration::from_secs(3600));
                }
                // ...or while scope waits.
            });
            unreachable!("the caller was killed");
        });
        wait_for(|| started.load(SeqCst) == 4, "the scoped greenlets started");
        caller.kill();
        assert!(caller.join().unwrap_err().is_killed());
        // Joined before the caller's scope unwound: every destructor has run.
        assert_eq!(unwound.load(SeqCst), 4, "round {round}");
    }
}

#[test]
fn killing_the_caller_before_its_greenlets_start_drops_them_unrun() {
    let ran = Arc::new(AtomicBool::new(false));
    let dropped = Arc::new(AtomicUsize::new(0));
    let entered = Arc::new(AtomicBool::new(false));
    let (r, d, e) = (ran.clone(), dropped.clone(), entered.clone());
    let caller = spawn(move || {
        scope(|s| {
            e.store(true, SeqCst);
            for _ in 0..50 {
                let t = Tracked(&d);
                s.spawn(|| {
                    let _t = t;
                    r.store(true, SeqCst);
                });
            }
            // Killed at the first park: its greenlets may not have started yet.
            greenlet::yield_now();
        })
    });
    wait_for(|| entered.load(SeqCst), "the caller entered its scope");
    caller.kill();
    let _ = caller.join();
    // Run or dropped unrun: every closure is gone.
    assert_eq!(dropped.load(SeqCst), 50);
    let _ = ran.load(SeqCst);
}

/// Runs, under `with_timeout(timeout)`, a scope that spawns `n` greenlets which each hold what
/// `hold` makes and sleep for an hour, and whose body then sleeps for an hour too if
/// `body_waits`; returns what `with_timeout` returned.
fn sleepers_in_a_scope_under<D>(
    timeout: Duration,
    n: usize,
    hold: impl Fn() -> D + Sync,
    body_waits: bool,
) -> Result<(), Timeout> {
    with_timeout(timeout, || {
        scope(|s| {
            for _ in 0..n {
                s.spawn(|| {
                    let _held = hold();
                    sleep(Duration::from_secs(3600));
                });
            }
            if body_waits {
                sleep(Duration::from_secs(3600));
            }
        })
    })
}

#[test]
fn with_timeout_around_scope_kills_and_joins_then_times_out() {
    let unwound = AtomicUsize::new(0);
    for waits_in_body in [false, true] {
        unwound.store(0, SeqCst);
        let r = sleepers_in_a_scope_under(
            Duration::from_millis(20),
            3,
            || Tracked(&unwound),
            waits_in_body,
        );
        assert_eq!(r, Err(Timeout));
        assert_eq!(unwound.load(SeqCst), 3);
    }
}

#[test]
fn the_cleanup_waits_for_slow_destructors_despite_the_expired_timeout() {
    // Killed greenlets that take a while to unwind: scope waits for them with the expired
    // with_timeout held back, then the timeout goes on.
    struct SlowDrop<'a>(&'a AtomicUsize);
    impl Drop for SlowDrop<'_> {
        fn drop(&mut self) {
            std::thread::sleep(Duration::from_millis(10));
            self.0.fetch_add(1, SeqCst);
        }
    }
    let done = AtomicUsize::new(0);
    let g = spawn(|| ()); // start the runtime
    g.join().unwrap();
    let r = sleepers_in_a_scope_under(Duration::from_millis(10), 2, || SlowDrop(&done), false);
    assert_eq!(r, Err(Timeout));
    assert_eq!(done.load(SeqCst), 2);
}

#[test]
fn scope_inside_a_greenlet_and_nested_scopes() {
    let outer = spawn(|| {
        let base = vec![1u32, 2, 3];
        let mut sums = [0u32; 3];
        scope(|s| {
            for (i, sum) in sums.iter_mut().enumerate() {
                let base = &base;
                s.spawn(move || {
                    // A nested scope inside a scoped greenlet, borrowing from both levels.
                    let extra = [10 * i as u32, 1];
                    *sum = scope(|inner| {
                        let a = inner.spawn(|| base.iter().sum::<u32>());
                        let b = inner.spawn(|| extra.iter().sum::<u32>());
                        a.join().unwrap() + b.join().unwrap()
                    });
                });
            }
        });
        sums
    });
    assert_eq!(outer.join().unwrap(), [7, 17, 27]);
}

#[test]
fn scoped_greenlets_spawn_more_scoped_greenlets() {
    let count = AtomicUsize::new(0);
    scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                for _ in 0..3 {
                    s.spawn(|| {
                        sleep(Duration::from_millis(2));
                        count.fetch_add(1, SeqCst);
                    });
                }
            });
        }
    });
    assert_eq!(count.load(SeqCst), 9);
}

#[test]
fn handle_kill_join_id_name_and_builder() {
    let text = String::from("named");
    scope(|s| {
        let g = s.spawn(|| sleep(Duration::from_secs(3600)));
        assert!(!g.is_finished());
        g.kill();
        let id = g.id();
        assert!(format!("{g:?}").contains(&id.to_string()));
        assert!(g.join().unwrap_err().is_killed());
        let named = Builder::new()
            .name("reader")
            .spawn_scoped(s, || text.len())
            .unwrap();
        assert_eq!(named.name(), Some("reader"));
        assert_eq!(named.join().unwrap(), 5);
        let bad = Builder::new()
            .stack_size(usize::MAX)
            .spawn_scoped(s, || text.len());
        assert!(bad.is_err());
        let me = s.spawn(greenlet::current);
        let id = me.id();
        assert_eq!(me.join().unwrap(), Some(id));
    });
}

#[test]
fn many_scopes_with_kills_and_timeouts_lose_nothing() {
    let callers: Vec<_> = (0..40u64)
        .map(|i| {
            spawn(move || {
                let spawned = AtomicUsize::new(0);
                let gone = AtomicUsize::new(0);
                let _ = with_timeout(Duration::from_micros(300 + i * 97 % 2000), || {
                    scope(|s| {
                        for j in 0..10u64 {
                            spawned.fetch_add(1, SeqCst);
                            let t = Tracked(&gone);
                            s.spawn(move || {
                                let _t = t;
                                sleep(Duration::from_micros(100 * (j % 5)));
                            });
                        }
                    })
                });
                assert_eq!(gone.load(SeqCst), spawned.load(SeqCst));
            })
        })
        .collect();
    for c in callers.iter().step_by(3) {
        c.kill();
    }
    for c in callers {
        match c.join() {
            Ok(()) => {}
            Err(e) => assert!(e.is_killed(), "{e}"),
        }
    }
}
