//! with_timeout: in greenlets and on threads, nested, at every kind of blocking call.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenlet::sync::Event;
use greenlet::{sleep, spawn, with_timeout, yield_now, Timeout};

mod common;
use common::DropCounter;

#[test]
fn times_out_a_sleep_on_a_plain_thread() {
    let t0 = Instant::now();
    let r = with_timeout(Duration::from_millis(30), || sleep(Duration::from_secs(10)));
    assert_eq!(r, Err(Timeout));
    let elapsed = t0.elapsed();
    assert!(elapsed >= Duration::from_millis(30), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[test]
fn times_out_inside_a_greenlet_and_runs_destructors() {
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    let g = spawn(move || {
        with_timeout(Duration::from_millis(20), || {
            let _guard = DropCounter(d);
            Event::new().wait();
            unreachable!("an event nobody sets");
        })
    });
    assert_eq!(g.join().unwrap(), Err(Timeout));
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn returns_ok_when_nothing_blocks_or_it_finishes_in_time() {
    assert_eq!(with_timeout(Duration::from_millis(10), || 5), Ok(5));
    assert_eq!(
        with_timeout(Duration::from_secs(5), || {
            sleep(Duration::from_millis(5));
            "in time"
        }),
        Ok("in time")
    );
    // Expired but never blocked: Ok, like gevent.Timeout that never got a chance to fire.
    assert_eq!(
        with_timeout(Duration::ZERO, || (0..1000).sum::<u64>()),
        Ok(499500)
    );
}

#[test]
fn nested_timeouts_the_shorter_fires_and_only_its_frame_errs() {
    // Inner shorter.
    let r = with_timeout(Duration::from_secs(5), || {
        with_timeout(Duration::from_millis(20), || sleep(Duration::from_secs(10)))
    });
    assert_eq!(r, Ok(Err(Timeout)));

    // Outer shorter: the inner frame must let the unwind pass.
    let t0 = Instant::now();
    let r = with_timeout(Duration::from_millis(20), || {
        let inner = with_timeout(Duration::from_secs(5), || sleep(Duration::from_secs(10)));
        panic!("inner returned {inner:?} instead of unwinding");
    });
    assert_eq!(r, Err(Timeout));
    assert!(t0.elapsed() < Duration::from_secs(4));

    // The same inside a greenlet, three deep.
    let g = spawn(|| {
        with_timeout(Duration::from_secs(5), || {
            with_timeout(Duration::from_millis(15), || {
                with_timeout(Duration::from_secs(6), || sleep(Duration::from_secs(10)))
            })
        })
    });
    assert_eq!(g.join().unwrap(), Ok(Err(Timeout)));
}

#[test]
fn after_a_timeout_the_context_blocks_normally_again() {
    let g = spawn(|| {
        let first = with_timeout(Duration::from_millis(5), || sleep(Duration::from_secs(10)));
        let t0 = Instant::now();
        sleep(Duration::from_millis(20));
        (first, t0.elapsed())
    });
    let (first, slept) = g.join().unwrap();
    assert_eq!(first, Err(Timeout));
    assert!(slept >= Duration::from_millis(20));
}

#[test]
fn yield_now_is_an_interruption_point() {
    let g = spawn(|| {
        with_timeout(Duration::from_millis(20), || loop {
            yield_now();
        })
    });
    assert_eq!(g.join().unwrap(), Err(Timeout));
    let r = with_timeout(Duration::from_millis(20), || loop {
        yield_now();
    });
    assert_eq!(r, Err(Timeout));
    let r = with_timeout(Duration::from_millis(10), || loop {
        sleep(Duration::ZERO);
    });
    assert_eq!(r, Err(Timeout));
}

#[test]
fn interrupts_join_and_event_waits() {
    let slow = spawn(|| sleep(Duration::from_secs(10)));
    let r = with_timeout(Duration::from_millis(10), || slow.wait());
    assert_eq!(r, Err(Timeout));
    assert!(!slow.is_finished());
    slow.kill();

    let e = Event::new();
    assert_eq!(
        with_timeout(Duration::from_millis(10), || e.wait()),
        Err(Timeout)
    );
}

#[test]
fn many_greenlets_with_timeouts_all_fire() {
    let handles: Vec<_> = (0..2000u64)
        .map(|i| {
            spawn(move || {
                with_timeout(Duration::from_millis(1 + i % 20), || {
                    sleep(Duration::from_secs(10))
                })
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), Err(Timeout));
    }
}

#[test]
fn timeout_error_traits() {
    let e: Box<dyn std::error::Error> = Box::new(Timeout);
    assert_eq!(e.to_string(), "timed out");
    assert_eq!(format!("{Timeout:?}"), "Timeout");
    assert_eq!(Timeout, Timeout);
}
