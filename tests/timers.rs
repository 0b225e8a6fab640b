//! Timers at scale: cancellation leaves nothing behind, ordering, far deadlines, plain threads,
//! killed greenlets, and a million sleepers each woken once.
//!
//! `stats().timers` counts the timers of the whole process, so the tests that read it run one
//! at a time (`SERIAL`).

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use greenlet::sync::Event;
use greenlet::{channel, joinall, sleep, spawn, spawn_later, stats, with_timeout, JoinError};

mod common;
use common::{child_tests_pass, serial};

/// Waits (bounded) until `cond` holds; false if it never did.
fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(60) {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

/// Waits until the process holds exactly `n` timers.
fn timers_settle_at(n: u64) {
    assert!(
        eventually(|| stats().timers == n),
        "{} timers pending, expected {n}",
        stats().timers
    );
}

/// Runs the calling test alone among those that count the process's timers (see above), once
/// the timers of earlier tests are gone; alone until the guard drops.
fn alone_with_no_timers() -> MutexGuard<'static, ()> {
    let alone = serial();
    timers_settle_at(0);
    alone
}

const HOUR: Duration = Duration::from_secs(3600);

#[test]
fn a_hundred_thousand_cancelled_timeouts_leave_no_timer_behind() {
    let _alone = alone_with_no_timers();
    const N: usize = 100_000;
    let event = Arc::new(Event::new());
    let (tx, rx) = channel::unbounded::<usize>();
    // Half wait on an event with a timeout, half receive with a timeout: both are ended early.
    let handles: Vec<_> = (0..N)
        .map(|i| {
            let event = event.clone();
            let rx = rx.clone();
            spawn(move || {
                if i % 2 == 0 {
                    event.wait_timeout(HOUR)
                } else {
                    rx.recv_timeout(HOUR).is_ok()
                }
            })
        })
        .collect();
    timers_settle_at(N as u64);
    event.set();
    for i in 0..N / 2 {
        tx.send(i).unwrap();
    }
    for h in joinall(handles) {
        assert!(h.unwrap(), "a wait timed out instead of ending early");
    }
    // Each greenlet takes its timer out before it returns: none is left.
    assert_eq!(stats().timers, 0);
}

#[test]
fn with_timeouts_that_do_not_expire_take_their_timers_along() {
    let _alone = alone_with_no_timers();
    let event = Arc::new(Event::new());
    let handles: Vec<_> = (0..10_000)
        .map(|_| {
            let event = event.clone();
            spawn(move || with_timeout(HOUR, || event.wait()).is_ok())
        })
        .collect();
    timers_settle_at(10_000);
    event.set();
    assert!(joinall(handles).into_iter().all(|r| r.unwrap()));
    assert_eq!(stats().timers, 0);
}

#[test]
fn killed_greenlets_take_their_timers_along() {
    let _alone = alone_with_no_timers();
    let handles: Vec<_> = (0..1000).map(|_| spawn(|| sleep(HOUR))).collect();
    timers_settle_at(1000);
    for h in &handles {
        h.kill();
    }
    for r in joinall(handles) {
        assert!(matches!(r, Err(JoinError::Killed)), "{r:?}");
    }
    assert_eq!(stats().timers, 0);
}

#[test]
fn duration_max_is_no_deadline_and_years_away_is_a_timer() {
    let _alone = alone_with_no_timers();
    let event = Arc::new(Event::new());
    let e = event.clone();
    let forever = spawn(move || e.wait_timeout(Duration::MAX));
    let e = event.clone();
    let years = spawn(move || e.wait_timeout(Duration::from_secs(20 * 365 * 86_400)));
    let e = event.clone();
    let centuries = spawn(move || e.wait_timeout(Duration::from_secs(500 * 365 * 86_400)));
    // No timer for Duration::MAX; one each for the two far deadlines.
    timers_settle_at(2);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(stats().timers, 2);
    event.set();
    assert!(forever.join().unwrap());
    assert!(years.join().unwrap());
    assert!(centuries.join().unwrap());
    assert_eq!(stats().timers, 0);
    // A sleep of Duration::MAX inside a with_timeout ends by the with_timeout.
    let g = spawn(|| with_timeout(Duration::from_millis(10), || sleep(Duration::MAX)));
    assert!(g.join().unwrap().is_err());
}

#[test]
fn timers_on_plain_threads() {
    let _serial = serial();
    // A plain thread's own parks wait in the OS; spawn_later from it goes to a worker's wheel.
    let t0 = Instant::now();
    sleep(Duration::from_millis(5));
    assert!(t0.elapsed() >= Duration::from_millis(5));
    let event = Event::new();
    let t0 = Instant::now();
    assert!(!event.wait_timeout(Duration::from_millis(5)));
    assert!(t0.elapsed() >= Duration::from_millis(5));
    let (_tx, rx) = channel::unbounded::<()>();
    assert!(rx.recv_timeout(Duration::from_millis(5)).is_err());
    let threads: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                let t0 = Instant::now();
                let later = spawn_later(Duration::from_millis(5 + i), move || t0.elapsed());
                later.join().unwrap() >= Duration::from_millis(5 + i)
            })
        })
        .collect();
    for t in threads {
        assert!(
            t.join().unwrap(),
            "spawn_later from a plain thread started early"
        );
    }
}

#[test]
fn timers_fire_in_deadline_order_child() {
    if std::env::var("TIMERS_ORDER_CHILD").is_err() {
        return;
    }
    // One worker: one wheel, fired in deadline order, run in that order. Deadlines 5 ms apart
    // from a common start, created in a scrambled order.
    let t0 = Instant::now() + Duration::from_millis(20);
    let log = Arc::new(Mutex::new(Vec::new()));
    let handles: Vec<_> = (0..40u64)
        .map(|k| (k * 17) % 40)
        .map(|i| {
            let log = log.clone();
            spawn(move || {
                let at = t0 + Duration::from_millis(5 * i);
                sleep(at.saturating_duration_since(Instant::now()));
                assert!(Instant::now() >= at, "woke before its deadline");
                log.lock().unwrap().push(i);
            })
        })
        .collect();
    joinall(handles).into_iter().for_each(|r| r.unwrap());
    let log = log.lock().unwrap();
    assert_eq!(*log, (0..40).collect::<Vec<u64>>());
}

#[test]
fn timers_fire_in_deadline_order() {
    child_tests_pass(
        &["timers_fire_in_deadline_order_child"],
        &[("TIMERS_ORDER_CHILD", "1"), ("GREENLET_WORKERS", "1")],
    );
}

#[test]
fn a_million_sleepers_each_wake_once() {
    let _alone = alone_with_no_timers();
    let n: usize = if cfg!(debug_assertions) {
        100_000
    } else {
        1_000_000
    };
    let woken = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let woken = woken.clone();
            spawn(move || {
                let start = Instant::now();
                sleep(Duration::from_millis(10));
                let slept = start.elapsed();
                woken.fetch_add(1, SeqCst);
                slept
            })
        })
        .collect();
    for h in handles {
        let slept = h.join().unwrap();
        assert!(slept >= Duration::from_millis(10), "woke after {slept:?}");
    }
    assert_eq!(woken.load(SeqCst), n);
    assert_eq!(stats().timers, 0);
    eprintln!("{n} sleepers in {:?}", t0.elapsed());
}

/// The process's user + system CPU time so far (Linux: /proc/self/stat, in clock ticks of
/// 10 ms).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name (which is in parentheses): utime is the 12th, stime the 13th.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|v| v.parse().unwrap())
        .collect();
    Duration::from_millis((f[0] + f[1]) * 10)
}

#[test]
fn idle_workers_sleep_until_the_next_deadline_child() {
    if std::env::var("TIMERS_IDLE_CHILD").is_err() {
        return;
    }
    // Runtime started, then idle: one sleeper 500 ms away (crossing wheel slots and levels on
    // the way) and one timer an hour away. A busy loop on the workers would burn ~1 s of CPU.
    spawn(|| ()).join().unwrap();
    let _far = spawn(|| sleep(HOUR));
    let before = cpu_time();
    let t0 = Instant::now();
    spawn(|| sleep(Duration::from_millis(500))).join().unwrap();
    let slept = t0.elapsed();
    let used = cpu_time() - before;
    assert!(slept >= Duration::from_millis(500));
    // Idle measures 0 here; a spinning worker, even on a loaded machine, hundreds of ms.
    assert!(
        used < Duration::from_millis(100),
        "{used:?} of CPU while idle"
    );
}

#[test]
fn idle_workers_sleep_until_the_next_deadline() {
    child_tests_pass(
        &["idle_workers_sleep_until_the_next_deadline_child"],
        &[("TIMERS_IDLE_CHILD", "1")],
    );
}
