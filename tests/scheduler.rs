//! The work-stealing scheduler: parallelism, fairness, isolation, stress.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use greenlet::sync::Event;
use greenlet::{joinall, sleep, spawn, yield_now};

mod common;
use common::{child_tests, workers};

#[test]
fn greenlets_run_on_several_workers_in_parallel() {
    if workers() < 2 {
        return;
    }
    // Each greenlet spins until two of them are running at the same moment.
    let running = Arc::new(AtomicUsize::new(0));
    let overlapped = Arc::new(AtomicBool::new(false));
    let threads = Arc::new(Mutex::new(HashSet::new()));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (running, overlapped, threads) =
                (running.clone(), overlapped.clone(), threads.clone());
            spawn(move || {
                threads.lock().unwrap().insert(std::thread::current().id());
                running.fetch_add(1, Ordering::SeqCst);
                let t0 = Instant::now();
                while t0.elapsed() < Duration::from_secs(5) && !overlapped.load(Ordering::SeqCst) {
                    if running.load(Ordering::SeqCst) >= 2 {
                        overlapped.store(true, Ordering::SeqCst);
                    }
                }
                running.fetch_sub(1, Ordering::SeqCst);
            })
        })
        .collect();
    joinall(handles);
    assert!(
        overlapped.load(Ordering::SeqCst),
        "never two greenlets at once"
    );
    assert!(threads.lock().unwrap().len() >= 2);
}

#[test]
fn yielding_greenlets_take_turns_fairly() {
    // Every greenlet of a yield loop makes progress: none is starved while others spin.
    let counts: Arc<Vec<AtomicUsize>> = Arc::new((0..50).map(|_| AtomicUsize::new(0)).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..50)
        .map(|i| {
            let (counts, stop) = (counts.clone(), stop.clone());
            spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    counts[i].fetch_add(1, Ordering::Relaxed);
                    yield_now();
                }
            })
        })
        .collect();
    sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    joinall(handles);
    for (i, c) in counts.iter().enumerate() {
        assert!(c.load(Ordering::Relaxed) > 0, "greenlet {i} never ran");
    }
}

#[test]
fn wake_stress_counts_every_hand_off() {
    // Chains of greenlets pass a baton through Events; every hop must happen exactly once.
    const CHAINS: usize = 50;
    const HOPS: usize = 200;
    let hops = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for _ in 0..CHAINS {
        let events: Arc<Vec<Event>> = Arc::new((0..=HOPS).map(|_| Event::new()).collect());
        for h in 0..HOPS {
            let (events, hops) = (events.clone(), hops.clone());
            handles.push(spawn(move || {
                events[h].wait();
                hops.fetch_add(1, Ordering::SeqCst);
                events[h + 1].set();
            }));
        }
        events[0].set();
        let last = events.clone();
        handles.push(spawn(move || last[HOPS].wait()));
    }
    joinall(handles);
    assert_eq!(hops.load(Ordering::SeqCst), CHAINS * HOPS);
}

#[test]
fn plain_threads_and_greenlets_wake_each_other() {
    for _ in 0..200 {
        let e1 = Arc::new(Event::new());
        let e2 = Arc::new(Event::new());
        let (a, b) = (e1.clone(), e2.clone());
        let g = spawn(move || {
            a.wait();
            b.set();
        });
        let t = std::thread::spawn(move || {
            e1.set();
            e2.wait();
        });
        t.join().unwrap();
        g.join().unwrap();
    }
}

#[test]
fn cross_thread_ping_pong_loses_no_wake_up() {
    // A plain thread bounces a counter off a greenlet. The thread never blocks: it spins on
    // `try_recv`, so its next message (and the wake-up that comes with it) lands while the
    // greenlet is still parking, right in the race between a wake and the worker marking the
    // greenlet parked. A lost wake-up shows as a round trip that never completes.
    const ROUNDS: u64 = 50_000;
    let (to_g, from_t) = greenlet::channel::bounded::<u64>(1);
    let (to_t, from_g) = greenlet::channel::bounded::<u64>(1);
    let g = spawn(move || {
        let mut seen = 0;
        for v in from_t.iter() {
            assert_eq!(v, 2 * seen);
            seen += 1;
            to_t.send(v + 1).unwrap();
        }
        seen
    });
    for i in 0..ROUNDS {
        to_g.send(2 * i).unwrap();
        let sent = Instant::now();
        let reply = loop {
            match from_g.try_recv() {
                Ok(v) => break v,
                Err(_) => {
                    assert!(
                        sent.elapsed() < Duration::from_secs(10),
                        "round trip {i} never came back: a wake-up was lost"
                    );
                    std::hint::spin_loop();
                }
            }
        };
        assert_eq!(reply, 2 * i + 1);
    }
    drop(to_g);
    assert_eq!(g.join().unwrap(), ROUNDS);
}

/// Process CPU time (utime + stime) in clock ticks of 10 ms.
fn process_cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn idle_child() {
    if std::env::var("IDLE_CHILD").is_err() {
        return;
    }
    // Busy first (stacks released, timers used), then idle.
    let hs: Vec<_> = (0..10_000)
        .map(|_| spawn(|| sleep(Duration::from_millis(5))))
        .collect();
    joinall(hs);
    sleep(Duration::from_millis(100)); // searching workers settle
    let before = process_cpu_ticks();
    std::thread::sleep(Duration::from_millis(3000)); // spans the stack trim steps too
    println!("idle_ticks={}", process_cpu_ticks() - before);
}

#[test]
fn an_idle_runtime_uses_no_cpu() {
    let out = child_tests(&["idle_child"], &[("IDLE_CHILD", "1")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let ticks: u64 = stdout
        .split("idle_ticks=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("child printed: {stdout}"));
    // 3 s of idleness; a spinning worker would burn 300 ticks. Allow a few for the trim steps.
    assert!(
        ticks <= 10,
        "idle runtime used {ticks} ticks of 10 ms in 3 s"
    );
}
