//! Greenlet::kill: before start, while parked, while computing, after the end.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenlet::sync::Event;
use greenlet::{joinall, sleep, spawn, spawn_later, yield_now, JoinError};

mod common;
use common::{waiting_on, DropCounter};

#[test]
fn kill_before_start_never_runs_and_join_returns_killed_at_once() {
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let later = spawn_later(Duration::from_millis(50), move || {
        r.store(true, Ordering::SeqCst)
    });
    later.kill();
    let t0 = Instant::now();
    assert!(matches!(later.join(), Err(JoinError::Killed)));
    assert!(
        t0.elapsed() < Duration::from_millis(40),
        "join waited for the delay"
    );
    sleep(Duration::from_millis(100));
    assert!(
        !ran.load(Ordering::SeqCst),
        "a killed spawn_later greenlet ran"
    );

    // Also one spawned normally but not yet started: fill the workers first so it waits.
    let gate = Arc::new(Event::new());
    let blockers = waiting_on(&gate, 64);
    let ran2 = Arc::new(AtomicBool::new(false));
    let r2 = ran2.clone();
    let victims: Vec<_> = (0..1000)
        .map(|_| {
            let r2 = r2.clone();
            spawn(move || r2.store(true, Ordering::SeqCst))
        })
        .collect();
    for v in &victims {
        v.kill();
    }
    gate.set();
    joinall(blockers);
    // Each victim either never ran (Killed) or had already finished before kill.
    for v in victims {
        match v.join() {
            Ok(()) | Err(JoinError::Killed) => {}
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn kill_parked_greenlet_runs_destructors() {
    let drops = Arc::new(AtomicUsize::new(0));
    let after_sleep = Arc::new(AtomicBool::new(false));
    let (d, a) = (drops.clone(), after_sleep.clone());
    let g = spawn(move || {
        let _guard = DropCounter(d);
        sleep(Duration::from_secs(3600));
        a.store(true, Ordering::SeqCst);
    });
    sleep(Duration::from_millis(20)); // let it park
    g.kill();
    assert!(matches!(g.join(), Err(JoinError::Killed)));
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert!(!after_sleep.load(Ordering::SeqCst));
}

#[test]
fn kill_interrupts_every_kind_of_park() {
    let event = Arc::new(Event::new());
    let other = spawn(|| sleep(Duration::from_secs(3600)));
    let other = Arc::new(other);
    let (e, o) = (event.clone(), other.clone());
    let on_event = spawn(move || e.wait());
    let on_join = spawn(move || o.wait());
    let (_tx, rx) = greenlet::channel::bounded::<u8>(1);
    let on_recv = spawn(move || rx.recv().ok());
    sleep(Duration::from_millis(20));
    for g in [&on_event, &on_join] {
        g.kill();
    }
    on_recv.kill();
    assert!(on_event.join().unwrap_err().is_killed());
    assert!(on_join.join().unwrap_err().is_killed());
    assert!(on_recv.join().unwrap_err().is_killed());
    other.kill();
    assert!(!event.is_set());
}

#[test]
fn kill_busy_greenlet_stops_at_next_yield() {
    let spins = Arc::new(AtomicUsize::new(0));
    let s = spins.clone();
    let g = spawn(move || loop {
        s.fetch_add(1, Ordering::Relaxed);
        yield_now();
    });
    while spins.load(Ordering::Relaxed) < 100 {
        sleep(Duration::from_millis(1));
    }
    g.kill();
    assert!(g.join().unwrap_err().is_killed());
    let after = spins.load(Ordering::Relaxed);
    sleep(Duration::from_millis(20));
    assert_eq!(
        spins.load(Ordering::Relaxed),
        after,
        "kept running after kill"
    );

    // sleep(ZERO) is a yield point too.
    let g = spawn(|| loop {
        sleep(Duration::ZERO);
    });
    sleep(Duration::from_millis(5));
    g.kill();
    assert!(g.join().unwrap_err().is_killed());
}

#[test]
fn kill_a_finished_greenlet_does_nothing_and_double_kill_is_harmless() {
    let g = spawn(|| 9);
    g.wait();
    g.kill();
    assert_eq!(g.join().unwrap(), 9);

    let g = spawn(|| sleep(Duration::from_secs(3600)));
    sleep(Duration::from_millis(5));
    g.kill();
    g.kill();
    assert!(g.join().unwrap_err().is_killed());
}

#[test]
fn destructors_may_block_while_a_killed_greenlet_unwinds() {
    struct SlowDrop;
    impl Drop for SlowDrop {
        fn drop(&mut self) {
            sleep(Duration::from_millis(5)); // parks during the kill's unwind
        }
    }
    let g = spawn(|| {
        let _slow = SlowDrop;
        sleep(Duration::from_secs(3600));
    });
    sleep(Duration::from_millis(10));
    g.kill();
    assert!(g.join().unwrap_err().is_killed());
}

#[test]
fn panicking_greenlet_that_parks_in_a_destructor_is_isolated() {
    struct ParkOnDrop(Arc<AtomicUsize>);
    impl Drop for ParkOnDrop {
        fn drop(&mut self) {
            for _ in 0..3 {
                sleep(Duration::from_millis(1));
                yield_now();
            }
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..50)
        .map(|_| {
            let d = drops.clone();
            spawn(move || {
                let _p = ParkOnDrop(d);
                panic!("planned");
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap_err().panic_message(), Some("planned"));
    }
    assert_eq!(drops.load(Ordering::SeqCst), 50);
    // Later panics on the same workers still work (the per-thread panic count is intact).
    assert!(spawn(|| panic!("again")).join().unwrap_err().is_panic());
}

#[test]
fn kill_storm_loses_no_greenlet() {
    // Many greenlets parked in different ways, killed while they park and wake.
    let n = 2000;
    let event = Arc::new(Event::new());
    let finished = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let (event, finished) = (event.clone(), finished.clone());
            spawn(move || {
                match i % 3 {
                    0 => event.wait(),
                    1 => sleep(Duration::from_micros((i % 50) as u64)),
                    _ => yield_now(),
                }
                finished.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    for h in handles.iter().step_by(2) {
        h.kill();
    }
    event.set();
    let mut killed = 0;
    let mut ok = 0;
    for h in handles {
        match h.join() {
            Ok(()) => ok += 1,
            Err(JoinError::Killed) => killed += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(ok + killed, n);
    assert_eq!(ok, finished.load(Ordering::SeqCst));
    assert!(killed >= 1);
}

#[test]
fn a_greenlet_parked_mid_panic_leaves_the_others_unshielded() {
    // Rust's panic count is per thread: a greenlet that parks while unwinding must not make the
    // greenlets that run meanwhile look as if they were panicking (they would ignore kills).
    struct WakeThenWait {
        go: Arc<Event>,
        release: Arc<Event>,
    }
    impl Drop for WakeThenWait {
        fn drop(&mut self) {
            // Wakes the bystanders from this worker (they queue right here), then parks in the
            // middle of the unwind.
            self.go.set();
            self.release.wait();
        }
    }
    let go = Arc::new(Event::new());
    let release = Arc::new(Event::new());
    let bystanders: Vec<_> = (0..20)
        .map(|_| {
            let go = go.clone();
            spawn(move || {
                go.wait();
                assert!(!std::thread::panicking(), "a bystander looks panicking");
                sleep(Duration::from_secs(3600));
            })
        })
        .collect();
    sleep(Duration::from_millis(10));
    let unwinding = {
        let (go, release) = (go.clone(), release.clone());
        spawn(move || {
            let _w = WakeThenWait { go, release };
            panic!("planned");
        })
    };
    go.wait();
    sleep(Duration::from_millis(10));
    for g in &bystanders {
        g.kill();
    }
    // Released before joining: with a single worker, that worker stays blocked by the unwinding
    // greenlet until then (see the `park` module docs).
    release.set();
    for g in bystanders {
        assert!(g.join().unwrap_err().is_killed());
    }
    assert_eq!(
        unwinding.join().unwrap_err().panic_message(),
        Some("planned")
    );
}

#[test]
fn a_kill_racing_a_park_is_never_lost() {
    // A plain thread plays ping-pong with a greenlet and kills it right after a reply: the kill
    // lands while the greenlet goes back into `recv`, before its park begins, between `prepare`
    // and the suspend, while its worker marks it parked, or after. It must end Killed, always.
    for i in 0..400u32 {
        let (to_g, from_t) = greenlet::channel::bounded::<u32>(1);
        let (to_t, from_g) = greenlet::channel::bounded::<u32>(1);
        let g = spawn(move || {
            for v in from_t.iter() {
                to_t.send(v).unwrap();
            }
        });
        for round in 0..=(i % 8) {
            to_g.send(round).unwrap();
            while from_g.try_recv().is_err() {
                std::hint::spin_loop();
            }
        }
        for _ in 0..(i % 50) {
            std::hint::spin_loop();
        }
        g.kill();
        assert!(
            g.wait_timeout(Duration::from_secs(10)),
            "iteration {i}: the kill was lost"
        );
        assert!(g.join().unwrap_err().is_killed());
        drop(to_g);
    }
}

#[test]
fn a_kill_sent_while_computing_lands_at_the_next_blocking_call() {
    // The greenlet computes (no call of the crate) while the kill arrives; the kill must wait
    // for its next blocking call (or yield), whichever kind, and never be lost.
    type Block = fn(&greenlet::sync::Mutex<()>, &greenlet::channel::Receiver<()>);
    let blocking_calls: [(&str, Block); 5] = [
        ("yield_now", |_, _| yield_now()),
        ("sleep", |_, _| sleep(Duration::from_millis(50))),
        ("recv", |_, rx| {
            let _ = rx.recv();
        }),
        ("lock", |m, _| drop(m.lock())),
        ("sleep(ZERO)", |_, _| sleep(Duration::ZERO)),
    ];
    for (what, block) in blocking_calls {
        let computing = Arc::new(AtomicUsize::new(0));
        let lock = Arc::new(greenlet::sync::Mutex::new(()));
        let held = lock.lock(); // a `lock` call blocks
        let (_tx, rx) = greenlet::channel::unbounded::<()>();
        let after = Arc::new(AtomicUsize::new(0));
        let (c, l, a) = (computing.clone(), lock.clone(), after.clone());
        let g = spawn(move || {
            c.store(1, Ordering::SeqCst);
            while c.load(Ordering::SeqCst) == 1 {
                std::hint::spin_loop(); // computing: the kill lands meanwhile
            }
            block(&l, &rx);
            a.store(1, Ordering::SeqCst); // must not run
        });
        while computing.load(Ordering::SeqCst) == 0 {
            std::thread::yield_now();
        }
        g.kill();
        computing.store(2, Ordering::SeqCst);
        assert!(
            g.wait_timeout(Duration::from_secs(10)),
            "{what}: the kill was lost"
        );
        assert!(g.join().unwrap_err().is_killed(), "{what}");
        assert_eq!(after.load(Ordering::SeqCst), 0, "{what}: ran past the kill");
        drop(held);
    }
}
