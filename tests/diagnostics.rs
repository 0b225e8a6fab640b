//! Never silent: deadlock reports, stall reports, compensation for held workers, dumps and
//! counters. Each runtime-wide scenario runs in a child process of this test binary, whose
//! stderr is read.

use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenlet::sync::Event;
use greenlet::{dump, spawn, stats, Builder, Greenlet, GreenletState};

mod common;
use common::{assert_contains, stderr, waiting_on};

/// Runs `scenario` in a child process on two workers, with `envs` added.
fn child(scenario: &str, envs: &[(&str, &str)]) -> Output {
    let mut all = vec![("GREENLET_WORKERS", "2")];
    all.extend_from_slice(envs);
    common::child(scenario, &all)
}

/// Runs `scenario` like [`child`], with a deadlock panicking after a 200 ms grace.
fn child_panicking_on_deadlock(scenario: &str) -> Output {
    child(
        scenario,
        &[
            ("GREENLET_DEADLOCK", "panic"),
            ("GREENLET_DEADLOCK_GRACE_MS", "200"),
        ],
    )
}

/// Spawns a greenlet named `name` that waits on an event nobody sets; the event comes back too
/// (it must outlive the wait).
fn stuck(name: &str) -> (Arc<Event>, Greenlet<()>) {
    let never = Arc::new(Event::new());
    let n = never.clone();
    let g = Builder::new().name(name).spawn(move || n.wait()).unwrap();
    (never, g)
}

#[test]
fn scenario() {
    let Ok(scenario) = std::env::var("SCENARIO") else {
        return; // not a child
    };
    match scenario.as_str() {
        "deadlock_join" => {
            // main joins a greenlet that waits on an event nobody will set.
            let (never, g) = stuck("stuck-waiter");
            g.join().unwrap();
            drop(never);
        }
        "deadlock_greenlets_only" => {
            let (_never, _g) = stuck("lonely");
            std::thread::sleep(Duration::from_millis(1500)); // not a call of the crate
            println!("main done");
        }
        "pending_timer" => {
            let g = spawn(|| greenlet::sleep(Duration::from_millis(1500)));
            g.join().unwrap();
            println!("joined");
        }
        "open_socket" => {
            let listener = greenlet::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = spawn(move || listener.accept().map(|_| ()));
            // Nothing runs for a while, but a client outside may still connect.
            std::thread::sleep(Duration::from_millis(1200));
            let _client = std::net::TcpStream::connect(addr).unwrap();
            server.join().unwrap().unwrap();
            println!("accepted");
        }
        "stall" => {
            let g = Builder::new()
                .name("blocker")
                .spawn(|| std::thread::sleep(Duration::from_millis(600)))
                .unwrap();
            g.join().unwrap();
            // The program goes on (the monitor says the stall ended at its next look).
            std::thread::sleep(Duration::from_millis(200));
        }
        "compensation" => {
            // Two greenlets hold both workers in a blocking OS call; a third, spawned after
            // them, sleeps cooperatively 20 x 10 ms.
            let started = Arc::new(AtomicUsize::new(0));
            let blockers: Vec<_> = (0..2)
                .map(|_| {
                    let s = started.clone();
                    spawn(move || {
                        s.fetch_add(1, SeqCst);
                        std::thread::sleep(Duration::from_millis(1500));
                    })
                })
                .collect();
            while started.load(SeqCst) < 2 {
                std::thread::sleep(Duration::from_millis(1));
            }
            let t0 = Instant::now();
            let third = spawn(|| {
                for _ in 0..20 {
                    greenlet::sleep(Duration::from_millis(10));
                }
            });
            third.join().unwrap();
            println!("third_ms={}", t0.elapsed().as_millis());
            for b in blockers {
                b.join().unwrap();
            }
            println!("extra={}", stats().compensations);
        }
        "dump_signal" => {
            let _g = Builder::new()
                .name("dump-me")
                .spawn(|| greenlet::sleep(Duration::from_secs(60)))
                .unwrap();
            greenlet::sleep(Duration::from_millis(50)); // it parks
                                                        // SAFETY: raise only sends a signal to this process.
            unsafe { libc::raise(libc::SIGUSR1) };
            std::thread::sleep(Duration::from_millis(300)); // the dump thread prints
        }
        "dump_backtrace" => {
            #[inline(never)]
            fn a_distinctive_frame_name() {
                greenlet::sleep(Duration::from_secs(60));
                std::hint::black_box(()); // not a tail call: the frame stays
            }
            let g = spawn(a_distinctive_frame_name);
            loop {
                let d = dump();
                if let Some(i) = d.iter().find(|i| i.id == g.id() && i.backtrace.is_some()) {
                    println!("{}", i.backtrace.as_ref().unwrap());
                    break;
                }
                greenlet::sleep(Duration::from_millis(1));
            }
        }
        other => panic!("unknown scenario {other}"),
    }
}

#[test]
fn a_deadlocked_join_on_the_main_thread_panics_with_a_report() {
    let out = child_panicking_on_deadlock("deadlock_join");
    let err = stderr(&out);
    assert!(!out.status.success(), "the blocked join must panic: {err}");
    assert!(err.contains("deadlock"), "{err}");
    assert!(
        err.contains("stuck-waiter"),
        "the report names the greenlet: {err}"
    );
    // The test harness names the child's thread after the test.
    assert!(
        err.contains("thread 'scenario' blocked"),
        "and the thread: {err}"
    );
    assert!(
        err.contains("tests/diagnostics.rs"),
        "and where they wait: {err}"
    );
}

#[test]
fn a_deadlock_of_greenlets_is_reported_once_and_the_program_goes_on() {
    let out = child(
        "deadlock_greenlets_only",
        &[("GREENLET_DEADLOCK_GRACE_MS", "200")],
    );
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("main done"));
    assert_eq!(err.matches("greenlet: deadlock").count(), 1, "{err}");
    assert!(err.contains("lonely"), "{err}");
}

#[test]
fn no_deadlock_is_reported_while_a_timer_is_pending() {
    let out = child_panicking_on_deadlock("pending_timer");
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("deadlock"), "{err}");
}

#[test]
fn no_deadlock_is_reported_while_a_socket_is_open() {
    let out = child_panicking_on_deadlock("open_socket");
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("accepted"));
    assert!(!err.contains("deadlock"), "{err}");
}

#[test]
fn a_stall_is_reported_on_stderr_by_name_and_its_end_too() {
    let out = child("stall", &[("GREENLET_STALL_MS", "100")]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    // It names the greenlet, says where it was spawned, and says when the stall ends.
    assert_contains(
        &err,
        &[
            "'blocker'",
            "has held worker",
            "tests/diagnostics.rs",
            "released worker",
        ],
    );
    // Backing off: reported at 100 ms and 400 ms, not every 25 ms.
    assert!(err.matches("has held worker").count() <= 3, "{err}");
}

#[test]
fn an_extra_worker_runs_greenlets_while_every_worker_is_blocked() {
    let out = child("compensation", &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    let ms: u64 = text
        .lines()
        .find_map(|l| l.split("third_ms=").nth(1))
        .and_then(|v| v.trim().parse().ok())
        .expect("the scenario prints the third greenlet's time");
    // Without an extra worker the third greenlet could only start once a blocker is done
    // (1.5 s); with one it needs its 200 ms of sleeps plus the stall threshold.
    assert!(
        ms < 1300,
        "the third greenlet waited for the blocked workers: {ms} ms"
    );
    assert!(
        text.contains("extra=") && !text.contains("extra=0"),
        "{text}"
    );
}

#[test]
fn a_dump_lists_parked_greenlets_with_what_where_and_since_when() {
    let g = Builder::new()
        .name("napper")
        .spawn(|| greenlet::sleep(Duration::from_secs(60)))
        .unwrap();
    let line = line!() - 2;
    let info = loop {
        let d = dump();
        if let Some(i) = d
            .iter()
            .find(|i| i.id == g.id() && i.state == GreenletState::Parked)
        {
            break i.clone();
        }
        greenlet::sleep(Duration::from_millis(1));
    };
    assert_eq!(info.name.as_deref(), Some("napper"));
    assert_eq!(info.waiting_on, Some("sleep"));
    assert!(info.waiting_at.unwrap().file().ends_with("diagnostics.rs"));
    assert_eq!(info.spawned_at.line(), line);
    assert!(info.in_state_for < Duration::from_secs(30));
    let json = dump().to_json();
    assert!(json.starts_with('[') && json.ends_with(']'), "{json}");
    assert!(json.contains("\"name\":\"napper\""), "{json}");
    assert!(json.contains("\"state\":\"parked\""), "{json}");
    let table = dump().to_string();
    assert!(
        table.contains("napper") && table.contains("sleep"),
        "{table}"
    );
    let id = g.id();
    g.kill();
    assert!(g.join().unwrap_err().is_killed());
    assert!(
        !dump().iter().any(|i| i.id == id),
        "a finished greenlet is not listed"
    );
}

#[test]
fn stats_count_spawns_and_parks() {
    let before = stats();
    let gate = Arc::new(Event::new());
    let waiters = waiting_on(&gate, 10);
    // Other tests of this binary park greenlets too: wait for these ten by id, not for the
    // process-wide `parked` gauge.
    for w in &waiters {
        parked_site(w.id());
    }
    gate.set();
    for w in waiters {
        w.join().unwrap();
    }
    let after = stats();
    assert!(after.spawned >= before.spawned + 10);
    assert!(after.parks >= before.parks + 10);
    assert!(after.workers >= 1);
}

#[test]
fn the_dump_signal_prints_every_greenlet_to_stderr() {
    let out = child("dump_signal", &[("GREENLET_DUMP_SIGNAL", "SIGUSR1")]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("dump on signal"), "{err}");
    assert!(err.contains("dump-me") && err.contains("sleep"), "{err}");
}

#[test]
fn with_the_switch_on_a_dump_shows_each_parked_greenlets_stack() {
    let out = child("dump_backtrace", &[("GREENLET_DUMP_BACKTRACE", "1")]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(text.contains("a_distinctive_frame_name"), "{text}");
}

/// Waits until greenlet `id` is parked and returns what the dump says it waits on and where.
fn parked_site(id: greenlet::GreenletId) -> (&'static str, u32, &'static str) {
    loop {
        if let Some(i) = dump()
            .iter()
            .find(|i| i.id == id && i.state == GreenletState::Parked)
        {
            let at = i.waiting_at.expect("a parked greenlet has a wait site");
            return (i.waiting_on.expect("and a label"), at.line(), at.file());
        }
        greenlet::sleep(Duration::from_millis(1));
    }
}

#[test]
fn every_kind_of_wait_shows_its_label_and_the_callers_line() {
    use greenlet::channel;
    use greenlet::net::{TcpListener, TcpStream};
    use greenlet::sync::{AsyncResult, Condvar, Mutex, Semaphore};
    use std::io::Read;

    let mutex = Arc::new(Mutex::new(()));
    let held = mutex.lock();
    let (tx, rx) = channel::bounded::<u8>(0);
    let (_tx4, rx4) = channel::bounded::<u8>(8);
    let event = Arc::new(Event::new());
    let result = Arc::new(AsyncResult::<u8>::new());
    let sem = Arc::new(Semaphore::new(0));
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let sleeper = spawn(|| greenlet::sleep(Duration::from_secs(60)));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server_side, _) = listener.accept().unwrap();

    let mut expect = Vec::new();
    macro_rules! waiter {
        ($label:expr, $body:expr) => {{
            let g = spawn($body);
            expect.push((g, $label));
        }};
    }
    let m = mutex.clone();
    waiter!("Mutex::lock", move || drop(m.lock()));
    waiter!("channel send", move || {
        let _ = tx.send(1);
    });
    waiter!("channel recv", move || {
        let _ = rx4.recv();
    });
    let e = event.clone();
    waiter!("Event::wait", move || e.wait());
    let r = result.clone();
    waiter!("AsyncResult::get", move || {
        let _ = r.get();
    });
    let s = sem.clone();
    waiter!("Semaphore::acquire", move || drop(s.acquire()));
    let p = pair.clone();
    waiter!("Condvar::wait", move || drop(p.1.wait(p.0.lock())));
    waiter!("join", move || drop(sleeper.join()));
    waiter!("IO read", move || {
        let mut buf = [0u8; 1];
        let _ = (&server_side).read(&mut buf);
    });
    // Each closure above sits on the line of its `waiter!` call; the dump must point there
    // (the caller's line inside this file), not into the crate.
    let wrong: Vec<String> = expect
        .iter()
        .map(|(g, label)| (label, parked_site(g.id())))
        .filter(|(label, (what, _, file))| what != *label || !file.ends_with("diagnostics.rs"))
        .map(|(label, site)| format!("{label}: {site:?}"))
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
    drop(held);
    drop(rx);
    event.set();
    result.set(1);
    sem.add_permits(1);
    *pair.0.lock() = true;
    pair.1.notify_all();
    drop(client);
    for (g, _) in expect {
        g.kill();
        let _ = g.join();
    }
}
