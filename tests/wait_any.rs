//! wait_any, wait_any_timeout and iwait over greenlets, events and async results: in greenlets
//! and on plain threads, with kills and timeouts interrupting. Every test runs on a single worker
//! thread, where a wait that spun instead of parking would hang.

use std::sync::Arc;
use std::time::Duration;

use greenlet::channel::unbounded;
use greenlet::sync::{AsyncResult, Event};
use greenlet::{
    configure, iwait, sleep, spawn, wait_any, wait_any_timeout, with_timeout, Config, Timeout,
    Waitable,
};

fn one_worker() {
    // The first test to get here configures; the others find it done.
    let _ = configure(Config::default().workers(1));
}

#[test]
fn a_ready_object_is_found_at_once_lowest_index_first() {
    one_worker();
    let (a, b, c) = (Event::new(), Event::new(), AsyncResult::new());
    b.set();
    c.set(5);
    assert_eq!(wait_any(&[&a, &b, &c]), 1);
    assert_eq!(wait_any(&[&a, &c]), 1);
    let done = spawn(|| ());
    done.wait();
    assert_eq!(wait_any(&[&a, &done]), 1);
}

#[test]
fn a_plain_thread_waits_for_whichever_comes_first() {
    one_worker();
    let never = Arc::new(Event::new());
    let result = Arc::new(AsyncResult::new());
    let r = result.clone();
    let setter = spawn(move || {
        sleep(Duration::from_millis(10));
        r.set("here");
    });
    let slow = spawn(|| sleep(Duration::from_secs(60)));
    assert_eq!(wait_any(&[&*never, &slow, &*result]), 2);
    assert_eq!(result.get(), "here");
    setter.join().unwrap();
    slow.kill();
    assert_eq!(
        wait_any(&[&*never, &slow]),
        1,
        "a killed greenlet has finished"
    );
}

#[test]
fn a_greenlet_waits_on_a_greenlet_an_event_and_a_result() {
    one_worker();
    for which in 0..3 {
        let event = Arc::new(Event::new());
        let result = Arc::new(AsyncResult::<u32>::new());
        let (e, r) = (event.clone(), result.clone());
        let target = Arc::new(spawn(move || {
            if which != 0 {
                sleep(Duration::from_secs(60));
            }
        }));
        let t = target.clone();
        let waiter = spawn(move || wait_any(&[&*t, &*e, &*r]));
        sleep(Duration::from_millis(5));
        match which {
            1 => event.set(),
            2 => result.set(1),
            _ => {}
        }
        assert_eq!(waiter.join().unwrap(), which);
        target.kill();
    }
}

#[test]
fn iwait_yields_each_index_once_as_it_becomes_ready() {
    one_worker();
    let events: Arc<Vec<Event>> = Arc::new((0..4).map(|_| Event::new()).collect());
    events[3].set(); // ready before the wait begins
    let (tx, rx) = unbounded();
    let ev = events.clone();
    let consumer = spawn(move || {
        let objects: Vec<&dyn Waitable> = ev.iter().map(|e| e as _).collect();
        for i in iwait(&objects) {
            tx.send(i).unwrap();
        }
    });
    assert_eq!(rx.recv(), Ok(3));
    for i in [2, 0, 1] {
        events[i].set();
        assert_eq!(rx.recv(), Ok(i));
    }
    consumer.join().unwrap();
    assert!(rx.recv().is_err(), "the iterator ended after the last one");
}

#[test]
fn iwait_over_greenlets_collects_them_all() {
    one_worker();
    let jobs: Vec<_> = (0..20u64)
        .map(|i| spawn(move || sleep(Duration::from_millis(i % 5))))
        .collect();
    let objects: Vec<&dyn Waitable> = jobs.iter().map(|g| g as _).collect();
    let mut seen: Vec<usize> = iwait(&objects).collect();
    seen.sort();
    assert_eq!(seen, (0..20).collect::<Vec<_>>());
}

#[test]
fn a_killed_wait_any_unwinds_and_leaves_the_objects_working() {
    one_worker();
    let event = Arc::new(Event::new());
    let e = event.clone();
    let waiter = spawn(move || wait_any(&[&*e]));
    sleep(Duration::from_millis(5));
    waiter.kill();
    assert!(waiter.join().unwrap_err().is_killed());
    // The withdrawn registration does not disturb the next waiters.
    let e = event.clone();
    let next = spawn(move || wait_any(&[&*e]));
    sleep(Duration::from_millis(5));
    event.set();
    assert_eq!(next.join().unwrap(), 0);
}

#[test]
fn with_timeout_interrupts_wait_any_in_a_greenlet_and_on_a_thread() {
    one_worker();
    let event = Arc::new(Event::new());
    assert_eq!(
        with_timeout(Duration::from_millis(10), || wait_any(&[&*event])),
        Err(Timeout)
    );
    let e = event.clone();
    let g = spawn(move || with_timeout(Duration::from_millis(10), || wait_any(&[&*e])));
    assert_eq!(g.join().unwrap(), Err(Timeout));
    event.set();
    assert_eq!(wait_any(&[&*event]), 0);
}

#[test]
fn wait_any_timeout_gives_up_and_an_empty_slice_never_hangs() {
    one_worker();
    let e = Event::new();
    assert_eq!(wait_any_timeout(&[&e], Duration::from_millis(5)), None);
    assert_eq!(wait_any_timeout(&[], Duration::from_millis(5)), None);
    assert_eq!(iwait(&[]).count(), 0);
    let empty = std::panic::catch_unwind(|| wait_any(&[]));
    let payload = empty.unwrap_err();
    let message = payload.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(message.contains("no objects to wait for"), "{message}");
}

#[test]
fn many_waiters_on_shared_and_own_objects_all_wake() {
    one_worker();
    let shared = Arc::new(Event::new());
    let results: Vec<Arc<AsyncResult<usize>>> =
        (0..100).map(|_| Arc::new(AsyncResult::new())).collect();
    let waiters: Vec<_> = results
        .iter()
        .map(|r| {
            let (s, r) = (shared.clone(), r.clone());
            spawn(move || wait_any(&[&*r, &*s]))
        })
        .collect();
    for r in results.iter().step_by(2) {
        r.set(1);
    }
    sleep(Duration::from_millis(5));
    shared.set();
    for (i, w) in waiters.into_iter().enumerate() {
        let got = w.join().unwrap();
        if i % 2 == 1 {
            assert_eq!(got, 1, "waiter {i} only had the shared event");
        }
    }
}

#[test]
fn no_wake_up_is_lost_between_threads_and_greenlets() {
    one_worker();
    for round in 0..300 {
        let a = Arc::new(Event::new());
        let b = Arc::new(AsyncResult::new());
        let (a2, b2) = (a.clone(), b.clone());
        // Set from a greenlet or from another thread, racing the registration.
        let setter: Box<dyn FnOnce() + Send> = Box::new(move || {
            if round % 2 == 0 {
                a2.set()
            } else {
                b2.set(round)
            }
        });
        if round % 3 == 0 {
            std::thread::spawn(setter);
        } else {
            spawn(setter);
        }
        assert_eq!(wait_any(&[&*a, &*b]), round % 2, "round {round}");
    }
}

#[test]
fn an_event_set_and_cleared_before_the_waiter_runs_still_counts() {
    one_worker();
    let event = Arc::new(Event::new());
    let never = Arc::new(Event::new());
    let (e, n) = (event.clone(), never.clone());
    let waiter = spawn(move || wait_any(&[&*n, &*e]));
    sleep(Duration::from_millis(10)); // the waiter parks
    let e = event.clone();
    // On the one worker, the waiter cannot run between these two calls.
    spawn(move || {
        e.set();
        e.clear();
    })
    .join()
    .unwrap();
    assert!(
        waiter.wait_timeout(Duration::from_secs(20)),
        "the set was missed"
    );
    assert_eq!(waiter.join().unwrap(), 1);
    assert!(!event.is_set());
}
