//! spawn, Builder, Greenlet (join, wait, wait_timeout, is_finished, id, name), joinall, current.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use greenlet::{current, joinall, spawn, Builder, Greenlet, GreenletId, JoinError};

mod common;
use common::counting_waiters;

#[test]
fn join_returns_the_value() {
    assert_eq!(spawn(|| 40 + 2).join().unwrap(), 42);
    assert_eq!(spawn(|| String::from("owned")).join().unwrap(), "owned");
}

#[test]
fn joinall_keeps_input_order() {
    // Later greenlets finish first; results still come back in input order.
    let handles: Vec<_> = (0..50u64)
        .map(|i| {
            spawn(move || {
                greenlet::sleep(Duration::from_millis(50 - i));
                i
            })
        })
        .collect();
    let results: Vec<u64> = joinall(handles).into_iter().map(Result::unwrap).collect();
    assert_eq!(results, (0..50).collect::<Vec<_>>());
}

#[test]
fn hundred_thousand_greenlets_spawned_and_joined() {
    let n = 100_000u64;
    let handles: Vec<_> = (0..n).map(|i| spawn(move || i * 2)).collect();
    let sum: u64 = joinall(handles).into_iter().map(Result::unwrap).sum();
    assert_eq!(sum, n * (n - 1));
}

#[test]
fn spawn_from_inside_a_greenlet_and_nested_joins() {
    let outer = spawn(|| {
        let inner: Vec<_> = (0..100).map(|i| spawn(move || i)).collect();
        joinall(inner).into_iter().map(Result::unwrap).sum::<i32>()
    });
    assert_eq!(outer.join().unwrap(), 4950);
}

#[test]
fn ids_are_unique_and_current_matches() {
    let handles: Vec<Greenlet<Option<GreenletId>>> = (0..1000).map(|_| spawn(current)).collect();
    let ids: Vec<GreenletId> = handles.iter().map(Greenlet::id).collect();
    let unique: HashSet<_> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len());
    for (h, id) in handles.into_iter().zip(ids) {
        assert_eq!(h.join().unwrap(), Some(id));
    }
    assert_eq!(current(), None, "a test thread is a plain thread");
    let id = spawn(|| ()).id();
    assert_eq!(format!("{id}"), id.as_u64().to_string());
}

#[test]
fn names_and_stack_sizes() {
    let g = Builder::new()
        .name("alpha")
        .stack_size(64 << 10)
        .spawn(|| 1)
        .unwrap();
    assert_eq!(g.name(), Some("alpha"));
    assert_eq!(g.join().unwrap(), 1);
    assert_eq!(spawn(|| ()).name(), None);

    for bad in [
        0,
        100,
        greenlet::MIN_STACK_SIZE - 1,
        greenlet::MAX_STACK_SIZE + 1,
    ] {
        let err = Builder::new().stack_size(bad).spawn(|| ()).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "size {bad}");
        assert!(err.to_string().contains("stack size"), "{err}");
    }
    // A big stack really is usable: 1 MiB of locals, touched.
    let deep = Builder::new()
        .stack_size(4 << 20)
        .spawn(|| {
            let buf = [7u8; 1 << 20];
            std::hint::black_box(&buf)
                .iter()
                .map(|&b| b as u64)
                .sum::<u64>()
        })
        .unwrap();
    assert_eq!(deep.join().unwrap(), 7 << 20);
}

#[test]
fn wait_leaves_the_value_and_is_finished_tracks_the_end() {
    let gate = Arc::new(greenlet::sync::Event::new());
    let g = {
        let gate = gate.clone();
        spawn(move || {
            gate.wait();
            "value"
        })
    };
    assert!(!g.is_finished());
    assert!(!g.wait_timeout(Duration::from_millis(20)));
    gate.set();
    g.wait();
    assert!(g.is_finished());
    assert!(g.wait_timeout(Duration::ZERO));
    assert_eq!(g.join().unwrap(), "value");
}

#[test]
fn handles_are_send_and_sync_and_joinable_from_other_greenlets_and_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Greenlet<u32>>();
    assert_send_sync::<Greenlet<std::cell::Cell<u32>>>(); // T: Send is enough
    fn assert_send<T: Send>() {}
    assert_send::<JoinError>();

    let g = spawn(|| {
        greenlet::sleep(Duration::from_millis(10));
        5
    });
    let joiner = spawn(move || g.join().unwrap() + 1);
    let from_thread = std::thread::spawn(move || joiner.join().unwrap());
    assert_eq!(from_thread.join().unwrap(), 6);

    // Many waiters on one handle, from greenlets and a thread.
    let g = Arc::new(spawn(|| greenlet::sleep(Duration::from_millis(30))));
    let (waiters, woken) = counting_waiters(20, {
        let g = g.clone();
        move || g.wait()
    });
    g.wait();
    joinall(waiters);
    assert_eq!(woken.load(Ordering::SeqCst), 20);
}

#[test]
fn a_panic_is_isolated_and_reported() {
    let bad = spawn(|| -> u32 { panic!("kaboom {}", 7) });
    let good: Vec<_> = (0..100).map(|i| spawn(move || i)).collect();
    match bad.join() {
        Err(e @ JoinError::Panicked(_)) => {
            assert!(e.is_panic());
            assert_eq!(e.panic_message(), Some("kaboom 7"));
            assert_eq!(e.to_string(), "greenlet panicked: kaboom 7");
            assert!(format!("{e:?}").contains("kaboom 7"));
        }
        other => panic!("expected a panic, got {other:?}"),
    }
    assert_eq!(
        joinall(good).into_iter().map(Result::unwrap).sum::<i32>(),
        4950
    );
    // The runtime still works afterwards.
    assert_eq!(spawn(|| 1).join().unwrap(), 1);
    // A non-string payload.
    let e = spawn(|| std::panic::panic_any(42u8)).join().unwrap_err();
    assert_eq!(e.panic_message(), None);
    match e {
        JoinError::Panicked(p) => assert_eq!(p.downcast_ref::<u8>(), Some(&42)),
        JoinError::Killed => unreachable!(),
    }
}

#[test]
fn dropping_a_handle_detaches_the_greenlet() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    drop(spawn(move || {
        greenlet::sleep(Duration::from_millis(10));
        l.lock().unwrap().push("ran");
    }));
    let t0 = Instant::now();
    while log.lock().unwrap().is_empty() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "detached greenlet never ran"
        );
        greenlet::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_greenlet_waiting_for_itself_gets_a_clear_panic_not_a_hang() {
    let (handle_tx, handle_rx) = greenlet::channel::bounded::<Greenlet<()>>(1);
    let (report_tx, report_rx) = greenlet::channel::bounded::<String>(1);
    let me = spawn(move || {
        let myself = handle_rx.recv().unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| myself.wait()));
        let msg = match r {
            Err(p) => p.downcast_ref::<String>().cloned().unwrap_or_default(),
            Ok(()) => "returned".into(),
        };
        report_tx.send(msg).unwrap();
    });
    handle_tx.send(me).unwrap();
    let msg = report_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(msg.contains("wait for itself"), "{msg}");
}

/// A greenlet's joiners queue is made by the first joiner that has to wait: greenlets and plain
/// threads that start waiting at about the moment it ends, some racing to make the queue, all
/// return (a notification that missed a waiter would leave the test hanging).
#[test]
fn joiners_racing_the_end_of_a_greenlet_all_return() {
    for round in 0..200u64 {
        let start = Arc::new(greenlet::sync::Event::new());
        let target = {
            let start = start.clone();
            Arc::new(spawn(move || {
                start.wait();
                for _ in 0..round % 4 {
                    greenlet::yield_now();
                }
                round
            }))
        };
        let greenlets: Vec<_> = (0..4)
            .map(|i| {
                let target = target.clone();
                spawn(move || {
                    if i % 2 == 0 {
                        target.wait();
                    } else {
                        while !target.wait_timeout(Duration::from_micros(50)) {}
                    }
                    target.is_finished()
                })
            })
            .collect();
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let target = target.clone();
                std::thread::spawn(move || {
                    target.wait();
                    target.is_finished()
                })
            })
            .collect();
        start.set();
        for g in greenlets {
            assert!(g.join().unwrap());
        }
        for t in threads {
            assert!(t.join().unwrap());
        }
        let target = Arc::into_inner(target).expect("every waiter has returned its handle");
        assert_eq!(target.join().unwrap(), round);
    }
}

/// A handle is the task's pointer and nothing more (two words: the task is a `dyn` object): a
/// million kept for a `joinall` cost 16 MB, not 24.
#[test]
fn a_handle_is_the_task_pointer_and_still_typed() {
    assert_eq!(
        std::mem::size_of::<greenlet::Greenlet<String>>(),
        2 * std::mem::size_of::<usize>()
    );
    let hs: Vec<_> = (0..100u64)
        .map(|i| greenlet::spawn(move || (i, format!("g{i}"))))
        .collect();
    for (i, r) in greenlet::joinall(hs).into_iter().enumerate() {
        assert_eq!(r.unwrap(), (i as u64, format!("g{i}")));
    }
    // Dropped after the end: the result (a String) is freed by the handle.
    let g = greenlet::spawn(|| "x".repeat(1000));
    g.wait();
    drop(g);
}
