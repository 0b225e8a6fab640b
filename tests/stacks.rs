//! Stacks: 100,000 parked greenlets under the stock vm.max_map_count, and stack overflow reports.

use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenlet::sync::Event;
use greenlet::{spawn, Builder};

fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count()
}

#[test]
fn hundred_thousand_parked_greenlets_at_default_settings() {
    const N: usize = 100_000;
    let event = Arc::new(Event::new());
    let parked = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..N)
        .map(|i| {
            let (event, parked) = (event.clone(), parked.clone());
            spawn(move || {
                parked.fetch_add(1, Ordering::SeqCst);
                event.wait();
                i
            })
        })
        .collect();
    let t0 = Instant::now();
    while parked.load(Ordering::SeqCst) < N {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "only {} parked",
            parked.load(Ordering::SeqCst)
        );
        greenlet::sleep(Duration::from_millis(5));
    }
    // Every one of them holds a stack now; far fewer mappings than stacks.
    let maps = mappings();
    assert!(maps < 20_000, "{maps} mappings for {N} stacks");
    event.set();
    let sum: usize = greenlet::joinall(handles)
        .into_iter()
        .map(Result::unwrap)
        .sum();
    assert_eq!(sum, N * (N - 1) / 2);
}

fn recurse(depth: u64) -> u64 {
    let frame = [depth as u8; 512];
    let below = if depth == 0 { 0 } else { recurse(depth - 1) };
    std::hint::black_box(&frame)[0] as u64 + below
}

#[test]
fn overflow_child() {
    if std::env::var("OVERFLOW_CHILD").is_err() {
        return;
    }
    let named = std::env::var("OVERFLOW_CHILD").unwrap() == "named";
    let mut b = Builder::new().stack_size(64 << 10);
    if named {
        b = b.name("deep-diver");
    }
    let g = b.spawn(|| recurse(u64::MAX)).unwrap();
    let _ = g.join();
    unreachable!("the overflow must abort the process");
}

fn run_overflow(kind: &str) -> (std::process::ExitStatus, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "overflow_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("OVERFLOW_CHILD", kind)
        .output()
        .unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn stack_overflow_is_reported_with_name_and_size_then_aborts() {
    let (status, stderr) = run_overflow("named");
    assert_eq!(
        status.signal(),
        Some(libc_sigabrt()),
        "status {status:?}, stderr: {stderr}"
    );
    assert!(
        stderr.contains("stack overflow in greenlet 'deep-diver'"),
        "{stderr}"
    );
    assert!(stderr.contains("65536 bytes"), "{stderr}");
    assert!(stderr.contains("Builder::stack_size"), "{stderr}");
}

#[test]
fn stack_overflow_of_an_unnamed_greenlet_names_its_id() {
    let (status, stderr) = run_overflow("unnamed");
    assert_eq!(
        status.signal(),
        Some(libc_sigabrt()),
        "status {status:?}, stderr: {stderr}"
    );
    assert!(
        stderr.contains("stack overflow in greenlet (id "),
        "{stderr}"
    );
}

fn libc_sigabrt() -> i32 {
    6
}
