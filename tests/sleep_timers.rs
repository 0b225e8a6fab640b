//! sleep, spawn_later and the timers behind them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use greenlet::{joinall, sleep, spawn, spawn_later, Builder};

mod common;
use common::child_tests_pass;

#[test]
fn ten_thousand_greenlets_sleep_side_by_side() {
    // Proves parking, not threads: 10,000 sleeps of 100 ms take far less than 10 s.
    let t0 = Instant::now();
    let handles: Vec<_> = (0..10_000)
        .map(|_| spawn(|| sleep(Duration::from_millis(100))))
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let elapsed = t0.elapsed();
    assert!(elapsed >= Duration::from_millis(100));
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
}

#[test]
fn sleep_lasts_at_least_its_duration() {
    for ms in [1u64, 5, 20] {
        let g = spawn(move || {
            let t0 = Instant::now();
            sleep(Duration::from_millis(ms));
            t0.elapsed()
        });
        assert!(g.join().unwrap() >= Duration::from_millis(ms));
        let t0 = Instant::now();
        sleep(Duration::from_millis(ms)); // on this plain thread
        assert!(t0.elapsed() >= Duration::from_millis(ms));
    }
}

#[test]
fn sleep_zero_child() {
    if std::env::var("SLEEP_ZERO_CHILD").is_err() {
        return;
    }
    // With one worker, two greenlets that sleep(0) after every step must alternate. They start
    // together: under load this plain thread may be descheduled between the two spawns for
    // longer than the first greenlet takes to finish alone.
    let log = Arc::new(Mutex::new(Vec::new()));
    let start = Arc::new(greenlet::sync::Event::new());
    let inner: Vec<_> = (0..2)
        .map(|id| {
            let (log, start) = (log.clone(), start.clone());
            spawn(move || {
                start.wait();
                for _ in 0..50 {
                    log.lock().unwrap().push(id);
                    sleep(Duration::ZERO);
                }
            })
        })
        .collect();
    start.set();
    joinall(inner);
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 100);
    let switches = log.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(
        switches >= 90,
        "sleep(0) did not yield: {switches} switches in {log:?}"
    );
}

#[test]
fn sleep_zero_yields_to_others() {
    child_tests_pass(
        &["sleep_zero_child"],
        &[("SLEEP_ZERO_CHILD", "1"), ("GREENLET_WORKERS", "1")],
    );
}

#[test]
fn spawn_later_starts_no_earlier_than_its_delay() {
    let t0 = Instant::now();
    let handles: Vec<_> = [30u64, 10, 20]
        .into_iter()
        .map(|ms| spawn_later(Duration::from_millis(ms), move || (ms, t0.elapsed())))
        .collect();
    for h in handles {
        let (ms, started) = h.join().unwrap();
        assert!(
            started >= Duration::from_millis(ms),
            "{ms} ms started at {started:?}"
        );
    }
    // From inside a greenlet, and through the Builder.
    let g = spawn(|| {
        let t0 = Instant::now();
        let later = Builder::new()
            .name("later")
            .spawn_later(Duration::from_millis(15), move || t0.elapsed())
            .unwrap();
        assert_eq!(later.name(), Some("later"));
        later.join().unwrap()
    });
    assert!(g.join().unwrap() >= Duration::from_millis(15));
}

#[test]
fn many_spawn_later_greenlets_each_start_after_their_delay() {
    // Deadlines 5 ms apart, created in reverse order. With several workers the start order of
    // close deadlines is not fixed; what holds for each is: no earlier than its delay.
    let t0 = Instant::now();
    let handles: Vec<_> = (0..20u64)
        .rev()
        .map(|i| spawn_later(Duration::from_millis(5 * i), move || (i, t0.elapsed())))
        .collect();
    let mut started: Vec<(u64, Duration)> =
        joinall(handles).into_iter().map(Result::unwrap).collect();
    started.sort();
    for (i, at) in started {
        assert!(
            at >= Duration::from_millis(5 * i),
            "greenlet {i} started at {at:?}"
        );
    }
}
