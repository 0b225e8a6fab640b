//! greenlet::sync: Mutex, Condvar, Semaphore, Barrier, AsyncResult under greenlets and threads,
//! with kills and timeouts.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenlet::sync::{AsyncResult, Barrier, Condvar, Mutex, Semaphore};
use greenlet::{joinall, sleep, spawn, with_timeout, yield_now, Timeout};

mod common;
use common::{wait_for, Occupancy};

/// Spawns `n` greenlets that wait on a held lock or permit with `wait`: the even ones with no
/// deadline (`wait(false)`), the odd ones under `with_timeout(timeout(i))` (`wait(true)`).
fn untimed_and_timed_waiters<R>(
    n: u64,
    timeout: fn(u64) -> Duration,
    wait: impl Fn(bool) -> R + Clone + Send + 'static,
) -> Vec<greenlet::Greenlet<()>> {
    (0..n)
        .map(|i| {
            let wait = wait.clone();
            spawn(move || {
                if i % 2 == 0 {
                    drop(wait(false));
                } else {
                    let _ = with_timeout(timeout(i), || wait(true));
                }
            })
        })
        .collect()
}

#[test]
fn mutex_hundred_greenlets_thousand_increments() {
    let counter = Arc::new(Mutex::new(0u64));
    let hs: Vec<_> = (0..100)
        .map(|_| {
            let c = counter.clone();
            spawn(move || {
                for i in 0..1000 {
                    let mut g = c.lock();
                    let v = *g;
                    if i % 10 == 0 {
                        yield_now(); // hold the lock across a switch
                    }
                    *g = v + 1;
                }
            })
        })
        .collect();
    joinall(hs).into_iter().for_each(|r| r.unwrap());
    assert_eq!(*counter.lock(), 100_000);
    assert!(!counter.is_locked());
}

#[test]
fn mutex_with_plain_threads_and_greenlets_together() {
    let counter = Arc::new(Mutex::new(0u64));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let c = counter.clone();
            std::thread::spawn(move || {
                for _ in 0..2000 {
                    *c.lock() += 1;
                }
            })
        })
        .collect();
    let gs: Vec<_> = (0..20)
        .map(|_| {
            let c = counter.clone();
            spawn(move || {
                for _ in 0..400 {
                    *c.lock() += 1;
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    joinall(gs);
    assert_eq!(*counter.lock(), 16_000);
}

#[test]
fn mutex_try_lock_timeout_into_inner_get_mut() {
    let mut m = Mutex::new(vec![1]);
    m.get_mut().push(2);
    {
        let g = m.lock();
        assert!(m.try_lock().is_none());
        assert!(m.lock_timeout(Duration::from_millis(5)).is_none());
        drop(g);
    }
    m.try_lock().unwrap().push(3);
    assert_eq!(format!("{m:?}"), "Mutex { value: [1, 2, 3] }");
    assert_eq!(m.into_inner(), vec![1, 2, 3]);
}

/// Spawns greenlets `0..n`, one at a time, each running `lock(i)`, which waits on a lock the
/// caller holds: each one reports in and is given `pause` to reach the lock (nothing parks in
/// between) before the next is spawned, so they queue in the order `0..n`.
fn queue_in_order(
    n: u64,
    pause: Duration,
    lock: impl Fn(u64) + Clone + Send + 'static,
) -> Vec<greenlet::Greenlet<()>> {
    let (tx, rx) = greenlet::channel::unbounded();
    (0..n)
        .map(|i| {
            let (lock, tx) = (lock.clone(), tx.clone());
            let g = spawn(move || {
                tx.send(i).unwrap();
                lock(i);
            });
            assert_eq!(rx.recv().unwrap(), i);
            sleep(pause); // it reaches the lock and queues
            g
        })
        .collect()
}

#[test]
fn mutex_is_handed_over_in_fifo_order() {
    let m = Arc::new(Mutex::new(Vec::new()));
    let held = m.lock();
    let hs = queue_in_order(10, Duration::from_millis(10), {
        let m = m.clone();
        move |i| m.lock().push(i)
    });
    drop(held);
    joinall(hs);
    // The order is recorded while holding the lock: it is the hand-over order.
    assert_eq!(*m.lock(), (0..10).collect::<Vec<_>>());
}

#[test]
fn mutex_fifo_order_survives_waiters_leaving_from_the_middle() {
    // The wait list is intrusive: a waiter that leaves (killed, timed out) unlinks itself
    // wherever it is. Those behind it keep their places, in order.
    let m = Arc::new(Mutex::new(Vec::new()));
    let held = m.lock();
    let hs = queue_in_order(30, Duration::from_millis(2), {
        let m = m.clone();
        move |i| {
            if i % 5 == 1 {
                // Leaves while the lock is still held.
                let _ = with_timeout(Duration::from_millis(20), || m.lock().push(100 + i));
            } else {
                m.lock().push(i);
            }
        }
    });
    for g in hs.iter().skip(3).step_by(5) {
        g.kill();
    }
    for g in hs.iter().skip(1).step_by(5) {
        g.wait(); // timed out, the lock still held
    }
    drop(held);
    joinall(hs);
    let expected: Vec<_> = (0..30).filter(|i| i % 5 != 1 && i % 5 != 3).collect();
    assert_eq!(*m.lock(), expected);
}

#[test]
fn killed_and_timed_out_lock_waiters_leave_the_mutex_consistent() {
    let m = Arc::new(Mutex::new(0));
    let held = m.lock();
    // A timed-out waiter that got the lock anyway would add 100.
    let waiters = untimed_and_timed_waiters(50, |i| Duration::from_millis(1 + i % 5), {
        let m = m.clone();
        move |timed| *m.lock() += if timed { 100 } else { 1 }
    });
    sleep(Duration::from_millis(10));
    for w in waiters.iter().step_by(4) {
        w.kill();
    }
    // The odd waiters time out while the lock is still held, however late a loaded machine
    // starts them.
    for w in waiters.iter().skip(1).step_by(2) {
        w.wait();
    }
    drop(held);
    let results = joinall(waiters);
    let killed = results
        .iter()
        .filter(|r| matches!(r, Err(e) if e.is_killed()))
        .count();
    // Every even waiter not killed got the lock exactly once; odd ones timed out.
    let expected = (0..50).filter(|i| i % 2 == 0 && i % 4 != 0).count();
    assert_eq!(*m.lock(), expected as i32, "killed {killed}");
    drop(m.try_lock().expect("the mutex is free at the end"));
}

#[test]
fn condvar_notify_one_and_all() {
    let pair = Arc::new((Mutex::new(0u32), Condvar::new()));
    let waiters: Vec<_> = (0..10)
        .map(|_| {
            let p = pair.clone();
            spawn(move || {
                let (m, cv) = &*p;
                let mut g = m.lock();
                while *g == 0 {
                    g = cv.wait(g);
                }
                *g
            })
        })
        .collect();
    sleep(Duration::from_millis(10));
    *pair.0.lock() = 7;
    pair.1.notify_one();
    pair.1.notify_all();
    for r in joinall(waiters) {
        assert_eq!(r.unwrap(), 7);
    }
    let (g, timed_out) = pair.1.wait_timeout(pair.0.lock(), Duration::from_millis(5));
    assert!(timed_out);
    assert_eq!(*g, 7);
    let g = pair.1.wait_while(g, |v| *v != 7);
    assert_eq!(*g, 7);
}

#[test]
fn condvar_wait_interrupted_leaves_the_mutex_unlocked() {
    let pair = Arc::new((Mutex::new(()), Condvar::new()));
    let p = pair.clone();
    let g = spawn(move || {
        with_timeout(Duration::from_millis(10), || {
            let (m, cv) = &*p;
            let guard = m.lock();
            let _guard = cv.wait(guard);
        })
    });
    assert_eq!(g.join().unwrap(), Err(Timeout));
    assert!(
        pair.0.try_lock().is_some(),
        "mutex left locked after a timed-out wait"
    );

    let p = pair.clone();
    let g = spawn(move || {
        let (m, cv) = &*p;
        let guard = m.lock();
        let _guard = cv.wait(guard);
    });
    sleep(Duration::from_millis(10));
    g.kill();
    assert!(g.join().unwrap_err().is_killed());
    assert!(
        pair.0.try_lock().is_some(),
        "mutex left locked after a killed wait"
    );
}

/// A greenlet that counts itself in (under the mutex) and waits once on the condition variable:
/// once the count shows it, it is registered (it registers before it releases the mutex).
fn condvar_waiter(
    pair: &Arc<(Mutex<usize>, Condvar)>,
    timeout: Option<Duration>,
) -> greenlet::Greenlet<Result<(), Timeout>> {
    let p = pair.clone();
    let waits = move || {
        let (m, cv) = &*p;
        let mut g = m.lock();
        *g += 1;
        let _g = cv.wait(g);
    };
    spawn(move || match timeout {
        Some(d) => with_timeout(d, waits),
        None => {
            waits();
            Ok(())
        }
    })
}

#[test]
fn condvar_notify_one_is_passed_on_by_a_waiter_killed_while_it_relocks() {
    // Java's Object.wait rule: a waiter that was notified and then interrupted (here: killed
    // while it waits to relock the mutex the notifier still holds) hands the notification to
    // the next waiter. Before the fix the second waiter slept forever.
    let pair = Arc::new((Mutex::new(0usize), Condvar::new()));
    let first = condvar_waiter(&pair, None);
    wait_for(|| *pair.0.lock() == 1, "first waiter registered");
    let second = condvar_waiter(&pair, None);
    wait_for(|| *pair.0.lock() == 2, "second waiter registered");
    let held = pair.0.lock();
    pair.1.notify_one(); // FIFO: wakes `first`, which then waits for the mutex we hold
    first.kill();
    assert!(first.wait_timeout(Duration::from_secs(10)));
    drop(held);
    assert!(
        second.wait_timeout(Duration::from_secs(10)),
        "the notification taken by the killed waiter was lost"
    );
    assert!(first.join().unwrap_err().is_killed());
    assert_eq!(second.join().unwrap(), Ok(()));
    assert!(pair.0.try_lock().is_some(), "the mutex is free at the end");
}

#[test]
fn condvar_notify_one_is_passed_on_by_a_waiter_timed_out_while_it_relocks() {
    // The same with an enclosing with_timeout that expires while the woken waiter waits for the
    // mutex. (If the machine is so slow that the timeout fires before the notification, the
    // notification goes to the second waiter directly, and the test still holds.)
    let pair = Arc::new((Mutex::new(0usize), Condvar::new()));
    let first = condvar_waiter(&pair, Some(Duration::from_millis(300)));
    wait_for(|| *pair.0.lock() == 1, "first waiter registered");
    let second = condvar_waiter(&pair, None);
    wait_for(|| *pair.0.lock() == 2, "second waiter registered");
    let held = pair.0.lock();
    pair.1.notify_one();
    // `first` times out while we hold the mutex.
    assert!(first.wait_timeout(Duration::from_secs(10)));
    drop(held);
    assert!(
        second.wait_timeout(Duration::from_secs(10)),
        "the notification taken by the timed-out waiter was lost"
    );
    assert_eq!(first.join().unwrap(), Err(Timeout));
    assert_eq!(second.join().unwrap(), Ok(()));
}

#[test]
fn condvar_wait_timeout_racing_notify_one_never_loses_it() {
    // A waiter with a short deadline races a notify_one. Whichever wins its park decides: if the
    // notification won, wait_timeout reports `false` (and the waiter took it); if the deadline
    // won, it reports `true` and the notification went to the other waiter. A waiter that said
    // "timed out" after the notifier had picked it would leave the other one asleep.
    let (mut notified, mut timed_out) = (0, 0);
    for round in 0..200u64 {
        let state = Arc::new((Mutex::new((0usize, 0usize)), Condvar::new())); // (waiting, tokens)
        let s = state.clone();
        let racer = spawn(move || {
            let (m, cv) = &*s;
            let mut g = m.lock();
            g.0 += 1;
            let (mut g, to) = cv.wait_timeout(g, Duration::from_micros(2000 + round * 7 % 2000));
            if !to {
                assert_eq!(g.1, 1, "woken without a token");
                g.1 -= 1;
            }
            to
        });
        let s = state.clone();
        let sleeper = spawn(move || {
            let (m, cv) = &*s;
            let mut g = m.lock();
            g.0 += 1;
            g = cv.wait_while(g, |g| g.1 == 0);
            g.1 -= 1;
        });
        wait_for(|| state.0.lock().0 == 2, "both waiters registered");
        sleep(Duration::from_micros(round * 13 % 4000));
        {
            let mut g = state.0.lock();
            g.1 += 1;
            state.1.notify_one();
        }
        if racer.join().unwrap() {
            timed_out += 1;
        } else {
            notified += 1;
            let mut g = state.0.lock();
            g.1 += 1;
            state.1.notify_one();
        }
        assert!(
            sleeper.wait_timeout(Duration::from_secs(10)),
            "round {round}: a notification was lost"
        );
        assert_eq!(state.0.lock().1, 0);
    }
    eprintln!("wait_timeout race: notified {notified}, timed out {timed_out}");
}

#[test]
fn semaphore_caps_concurrency_and_releases_in_order() {
    let sem = Arc::new(Semaphore::new(3));
    let occupancy = Occupancy::default();
    let hs: Vec<_> = (0..60)
        .map(|_| {
            let (sem, occupancy) = (sem.clone(), occupancy.clone());
            spawn(move || {
                let _p = sem.acquire();
                let _inside = occupancy.enter();
                sleep(Duration::from_millis(1));
            })
        })
        .collect();
    joinall(hs);
    assert_eq!(occupancy.most(), 3);
    assert_eq!(sem.available_permits(), 3);

    // FIFO: released permits go to waiters in arrival order. Each waiter is queued before the
    // next is spawned.
    let sem = Arc::new(Semaphore::new(0));
    let order = Arc::new(Mutex::new(Vec::new()));
    let hs: Vec<_> = (0..10)
        .map(|i| {
            let (s, order) = (sem.clone(), order.clone());
            let g = spawn(move || {
                let _p = s.acquire();
                order.lock().push(i);
            });
            wait_for(
                || sem.waiting() == i + 1,
                &format!("waiter {i} queued ({})", sem.waiting()),
            );
            g
        })
        .collect();
    // One permit, handed down the queue: each waiter records while holding it, so the record is
    // the grant order.
    sem.add_permits(1);
    joinall(hs);
    assert_eq!(*order.lock(), (0..10).collect::<Vec<_>>());
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn semaphore_try_timeout_forget() {
    let sem = Semaphore::new(1);
    let p = sem.try_acquire().unwrap();
    assert!(sem.try_acquire().is_none());
    assert!(sem.acquire_timeout(Duration::from_millis(5)).is_none());
    drop(p);
    sem.acquire().forget();
    assert_eq!(sem.available_permits(), 0);
    sem.add_permits(2);
    assert_eq!(sem.available_permits(), 2);
}

#[test]
fn owned_permits_move_into_spawned_greenlets_and_cap_them() {
    fn assert_send_static<T: Send + 'static>(_: &T) {}
    let sem = Arc::new(Semaphore::new(3));
    let occupancy = Occupancy::default();
    let hs: Vec<_> = (0..30)
        .map(|_| {
            // Taken in the spawner, released by the spawned greenlet when it ends.
            let permit = sem.acquire_owned();
            assert_send_static(&permit);
            let occupancy = occupancy.clone();
            spawn(move || {
                let _permit = permit;
                let _inside = occupancy.enter();
                sleep(Duration::from_millis(1));
            })
        })
        .collect();
    assert!(joinall(hs).iter().all(Result::is_ok));
    assert!(occupancy.most() <= 3);
    assert_eq!(sem.available_permits(), 3);
}

#[test]
fn owned_permits_try_timeout_forget_and_threads() {
    let sem = Arc::new(Semaphore::new(1));
    let p = sem.try_acquire_owned().expect("one is free");
    assert!(Arc::ptr_eq(p.semaphore(), &sem));
    assert!(sem.try_acquire_owned().is_none());
    assert!(sem
        .acquire_owned_timeout(Duration::from_millis(5))
        .is_none());
    // A plain thread blocks in acquire_owned until a greenlet drops the permit.
    let s = sem.clone();
    let thread = std::thread::spawn(move || s.acquire_owned());
    wait_for(|| sem.waiting() == 1, "the thread waits");
    spawn(move || drop(p)).join().unwrap();
    let p = thread.join().unwrap();
    assert_eq!(sem.available_permits(), 0);
    // Released by a greenlet while the caller waits with a deadline.
    let g = spawn(move || {
        sleep(Duration::from_millis(5));
        drop(p);
    });
    let p = sem
        .acquire_owned_timeout(Duration::from_secs(10))
        .expect("released within the deadline");
    g.join().unwrap();
    p.forget();
    assert_eq!(sem.available_permits(), 0);
    sem.add_permits(1);
    assert_eq!(sem.available_permits(), 1);
    // Failed takes leave the count alone.
    let held = sem.acquire_owned();
    for _ in 0..3 {
        assert!(sem.try_acquire().is_none());
        assert!(sem.try_acquire_owned().is_none());
        assert!(sem.acquire_timeout(Duration::from_millis(1)).is_none());
        assert!(sem
            .acquire_owned_timeout(Duration::from_millis(1))
            .is_none());
    }
    assert_eq!(sem.available_permits(), 0);
    drop(held);
    // Duration::MAX means no deadline.
    drop(sem.acquire_owned_timeout(Duration::MAX).unwrap());
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn killed_and_timed_out_owned_waiters_take_no_permit() {
    let sem = Arc::new(Semaphore::new(1));
    let held = sem.acquire_owned();
    let waiters = untimed_and_timed_waiters(20, |_| Duration::from_millis(1), {
        let sem = sem.clone();
        move |_| sem.acquire_owned()
    });
    wait_for(|| sem.waiting() == 10, "the untimed waiters queue up");
    for w in waiters.iter().step_by(4) {
        w.kill();
    }
    drop(held);
    joinall(waiters);
    assert_eq!(sem.available_permits(), 1);
    assert_eq!(sem.waiting(), 0);
}

#[test]
fn semaphore_kill_and_timeout_storm_loses_no_permit() {
    for round in 0..20 {
        let sem = Arc::new(Semaphore::new(2));
        let hs: Vec<_> = (0..100)
            .map(|i| {
                let sem = sem.clone();
                spawn(move || {
                    let _ = with_timeout(Duration::from_micros(200 + (i * 37 % 1000)), || {
                        let _p = sem.acquire();
                        sleep(Duration::from_micros(100));
                    });
                })
            })
            .collect();
        for h in hs.iter().skip(round % 3).step_by(3) {
            h.kill();
        }
        joinall(hs);
        assert_eq!(sem.available_permits(), 2, "round {round}");
        assert_eq!(sem.waiting(), 0);
    }
}

#[test]
fn barrier_one_leader_per_round_over_many_rounds() {
    let n = 8;
    let barrier = Arc::new(Barrier::new(n));
    let leaders = Arc::new(AtomicUsize::new(0));
    let hs: Vec<_> = (0..n)
        .map(|_| {
            let (b, l) = (barrier.clone(), leaders.clone());
            spawn(move || {
                for _ in 0..50 {
                    if b.wait().is_leader() {
                        l.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    joinall(hs);
    assert_eq!(leaders.load(Ordering::SeqCst), 50);
    assert!(Barrier::new(0).wait().is_leader());
}

#[test]
fn barrier_waiter_that_times_out_leaves_its_round() {
    let b = Arc::new(Barrier::new(3));
    assert!(b.wait_timeout(Duration::from_millis(5)).is_none());
    // The timed-out party no longer counts: three fresh arrivals are still needed.
    let hs: Vec<_> = (0..3)
        .map(|_| {
            let b = b.clone();
            spawn(move || b.wait_timeout(Duration::from_secs(5)).is_some())
        })
        .collect();
    assert!(joinall(hs).into_iter().all(|r| r.unwrap()));
}

#[test]
fn async_result_first_value_wins_and_wakes_all() {
    let r = Arc::new(AsyncResult::new());
    let readers: Vec<_> = (0..20)
        .map(|_| {
            let r = r.clone();
            spawn(move || r.get())
        })
        .collect();
    assert!(!r.is_ready());
    assert_eq!(r.try_get(), None);
    sleep(Duration::from_millis(5));
    r.set(String::from("first"));
    r.set(String::from("second"));
    for h in joinall(readers) {
        assert_eq!(h.unwrap(), "first");
    }
    assert!(r.is_ready());
    assert_eq!(r.get_timeout(Duration::ZERO).as_deref(), Some("first"));
    let empty = AsyncResult::<u8>::new();
    let t0 = Instant::now();
    assert_eq!(empty.get_timeout(Duration::from_millis(10)), None);
    assert!(t0.elapsed() >= Duration::from_millis(10));
}

#[test]
fn primitives_are_send_sync_and_static_friendly() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Mutex<std::cell::Cell<u8>>>();
    assert_send_sync::<Condvar>();
    assert_send_sync::<Semaphore>();
    assert_send_sync::<Barrier>();
    assert_send_sync::<AsyncResult<u8>>();
    assert_send_sync::<greenlet::sync::Event>();
    static COUNTER: Mutex<u32> = Mutex::new(0);
    static GATE: Semaphore = Semaphore::new(1);
    let _p = GATE.acquire();
    *COUNTER.lock() += 1;
    assert_eq!(*COUNTER.lock(), 1);
}

#[test]
fn add_permits_saturates_and_serves_the_waiters_first() {
    let sem = Arc::new(Semaphore::new(0));
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let sem = sem.clone();
            spawn(move || sem.acquire().forget())
        })
        .collect();
    wait_for(|| sem.waiting() == 2, "two waiters parked");
    // Must neither loop 2^64 times nor wrap the count round.
    sem.add_permits(usize::MAX);
    joinall(waiters);
    assert_eq!(sem.available_permits(), usize::MAX - 2);
    sem.add_permits(5);
    assert_eq!(sem.available_permits(), usize::MAX);
    let p = sem.acquire();
    drop(p);
    assert_eq!(sem.available_permits(), usize::MAX);
}

/// Like std's: code that shares these across `catch_unwind` must compile without
/// `AssertUnwindSafe` (a spin lock holding an `UnsafeCell` once took that away silently).
#[test]
fn primitives_are_unwind_safe_like_std() {
    use std::panic::{catch_unwind, RefUnwindSafe, UnwindSafe};
    fn assert_unwind_safe<T: UnwindSafe + RefUnwindSafe>() {}
    assert_unwind_safe::<Mutex<u8>>();
    assert_unwind_safe::<Condvar>();
    assert_unwind_safe::<Semaphore>();
    assert_unwind_safe::<Barrier>();
    assert_unwind_safe::<AsyncResult<u8>>();
    assert_unwind_safe::<greenlet::sync::Event>();
    assert_unwind_safe::<greenlet::channel::Sender<u8>>();
    assert_unwind_safe::<greenlet::channel::Receiver<u8>>();
    assert_unwind_safe::<greenlet::queue::Queue<u8>>();
    assert_unwind_safe::<greenlet::queue::PriorityQueue<u8>>();
    assert_unwind_safe::<greenlet::queue::LifoQueue<u8>>();
    assert_unwind_safe::<greenlet::pool::Pool>();
    assert_unwind_safe::<greenlet::pool::Group>();
    assert_unwind_safe::<greenlet::Greenlet<u8>>();

    let m = Arc::new(Mutex::new(1));
    let m2 = m.clone();
    let r = catch_unwind(move || {
        let mut g = m2.lock();
        *g = 2;
        panic!("inside the lock");
    });
    assert!(r.is_err());
    // No poisoning: the unwind unlocked it, and the value is as the panicking code left it.
    assert_eq!(*m.try_lock().expect("unlocked by the unwind"), 2);
}
