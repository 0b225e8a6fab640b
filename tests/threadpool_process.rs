//! threadpool::apply and process: blocking work and children without blocking the workers.

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenlet::process::{Command, Stdio};
use greenlet::{joinall, spawn, threadpool, with_timeout};

/// A greenlet counting millisecond sleeps until `stop` is set: proof that workers stay free.
fn ticker() -> (greenlet::Greenlet<()>, Arc<AtomicUsize>, Arc<AtomicBool>) {
    let ticks = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let g = {
        let (ticks, stop) = (ticks.clone(), stop.clone());
        spawn(move || {
            while !stop.load(SeqCst) {
                ticks.fetch_add(1, SeqCst);
                greenlet::sleep(Duration::from_millis(1));
            }
        })
    };
    (g, ticks, stop)
}

#[test]
fn apply_returns_the_result_from_another_thread() {
    let here = std::thread::current().id();
    let (v, there) = spawn(|| threadpool::apply(|| (6 * 7, std::thread::current().id())))
        .join()
        .unwrap();
    assert_eq!(v, 42);
    assert_ne!(here, there);
    // on a plain thread too
    assert_eq!(threadpool::apply(|| "plain"), "plain");
}

#[test]
fn blocking_jobs_run_in_parallel_while_greenlets_keep_running() {
    let (ticker, ticks, stop) = ticker();
    let start = Instant::now();
    let jobs: Vec<_> = (0..8)
        .map(|i| {
            spawn(move || {
                threadpool::apply(move || {
                    std::thread::sleep(Duration::from_millis(150));
                    i
                })
            })
        })
        .collect();
    let sum: i32 = joinall(jobs).into_iter().map(Result::unwrap).sum();
    let elapsed = start.elapsed();
    stop.store(true, SeqCst);
    ticker.join().unwrap();
    assert_eq!(sum, 28);
    // 8 x 150 ms one after another would be 1.2 s; a pool of threads overlaps them.
    assert!(elapsed < Duration::from_millis(900), "{elapsed:?}");
    // Every worker would have been blocked had the sleeps run on them: the ticker ran.
    assert!(
        ticks.load(SeqCst) > 10,
        "ticker ran {} times",
        ticks.load(SeqCst)
    );
}

#[test]
fn a_panic_in_the_job_resumes_in_the_caller() {
    let r = spawn(|| threadpool::apply(|| -> u32 { panic!("job failed") })).join();
    let payload = match r {
        Err(greenlet::JoinError::Panicked(p)) => p,
        other => panic!("expected a panic, got {other:?}"),
    };
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"job failed"));
}

#[test]
fn killed_caller_unwinds_at_once_and_the_job_still_finishes() {
    let finished = Arc::new(AtomicBool::new(false));
    let started = Arc::new(greenlet::sync::Event::new());
    let g = {
        let (finished, started) = (finished.clone(), started.clone());
        spawn(move || {
            started.set();
            threadpool::apply(move || {
                std::thread::sleep(Duration::from_millis(300));
                finished.store(true, SeqCst);
            })
        })
    };
    started.wait();
    greenlet::sleep(Duration::from_millis(20));
    g.kill();
    assert!(g.join().unwrap_err().is_killed());
    assert!(!finished.load(SeqCst), "the kill did not wait for the job");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !finished.load(SeqCst) && Instant::now() < deadline {
        greenlet::sleep(Duration::from_millis(10));
    }
    assert!(finished.load(SeqCst));
    // and with_timeout interrupts it the same way
    let r = with_timeout(Duration::from_millis(20), || {
        threadpool::apply(|| std::thread::sleep(Duration::from_millis(200)))
    });
    assert!(r.is_err());
}

#[test]
fn output_status_and_exit_codes() {
    let out = Command::new("sh")
        .args(["-c", "echo out; echo err >&2; exit 3"])
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");
    assert_eq!(out.status.code(), Some(3));
    let status = spawn(|| Command::new("true").status().unwrap())
        .join()
        .unwrap();
    assert!(status.success());
    let missing = Command::new("/no/such/program").spawn();
    assert_eq!(missing.unwrap_err().kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn communicate_with_a_child_through_both_pipes() {
    // More than a pipe buffer each way: writing and reading must overlap.
    let data: Vec<u8> = (0..1_000_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut child = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = {
        let data = data.clone();
        spawn(move || stdin.write_all(&data).unwrap())
    };
    let mut got = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut got).unwrap();
    writer.join().unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(got.len(), data.len());
    assert!(got == data);
}

#[test]
fn child_output_is_read_while_other_greenlets_run() {
    let (ticker, ticks, stop) = ticker();
    let reader = {
        let ticks = ticks.clone();
        spawn(move || {
            let mut child = Command::new("sh")
                .args(["-c", "for i in 1 2 3 4; do echo line $i; sleep 0.05; done"])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut seen = Vec::new();
            for line in BufReader::new(child.stdout.take().unwrap()).lines() {
                seen.push((line.unwrap(), ticks.load(SeqCst)));
            }
            assert!(child.wait().unwrap().success());
            seen
        })
    };
    let seen = reader.join().unwrap();
    stop.store(true, SeqCst);
    ticker.join().unwrap();
    let lines: Vec<_> = seen.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(lines, ["line 1", "line 2", "line 3", "line 4"]);
    // The ticker kept running between the child's lines.
    assert!(seen[3].1 > seen[0].1, "{seen:?}");
}

#[test]
fn wait_timeout_and_killing_the_waiter_leaves_the_child_alone() {
    let marker = std::env::temp_dir().join(format!("greenlet-waiter-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("sleep 0.3; touch {}", marker.display()))
        .spawn()
        .unwrap();
    let pid = child.id();
    assert!(child
        .wait_timeout(Duration::from_millis(20))
        .unwrap()
        .is_none());
    let waiter = spawn(move || {
        let status = child.wait();
        (child, status)
    });
    greenlet::sleep(Duration::from_millis(20));
    waiter.kill();
    assert!(waiter.join().unwrap_err().is_killed());
    // The child runs on (not killed; the dropped Child is reaped once it exits)...
    // SAFETY: signal 0 only checks that the process exists.
    assert_eq!(unsafe { libc::kill(pid as i32, 0) }, 0);
    // ...to its end: it writes the marker, then exits and is reaped (no zombie stays).
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        // SAFETY: as above.
        if unsafe { libc::kill(pid as i32, 0) } != 0 {
            assert!(marker.exists(), "the child was killed");
            let _ = std::fs::remove_file(&marker);
            return;
        }
        greenlet::sleep(Duration::from_millis(10));
    }
    panic!("the child never exited, or stayed a zombie");
}
