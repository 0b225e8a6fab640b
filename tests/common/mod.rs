//! What the integration tests share: polling for a condition, the worker count, serializing
//! the tests of one binary, running a scenario of the same test binary in a child process
//! (for what must be observed from outside: stderr reports, exit codes, aborts), greenlets
//! waiting on a gate or counting their wake-ups, a drop counter, a peak-occupancy meter, and
//! the checks that every message came through exactly once, that a stream echoes and that a
//! report holds given parts.
//!
//! Each test binary includes this with `mod common;` and uses what it needs.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Polls `cond` (sleeping 1 ms between tries, cooperatively inside a greenlet) for at most
/// 10 s, and fails the test naming `what` if it never holds.
pub fn wait_for(mut cond: impl FnMut() -> bool, what: &str) {
    let t0 = Instant::now();
    while !cond() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "never happened: {what}"
        );
        greenlet::sleep(Duration::from_millis(1));
    }
}

/// The number of worker threads the runtime runs with: `GREENLET_WORKERS`, or one per core
/// when it is unset or 0.
pub fn workers() -> usize {
    std::env::var("GREENLET_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Holds the tests of one binary that must not overlap (they count threads, children or pool
/// jobs of the whole process) to one at a time. A failed test does not poison it for the next.
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The test binary itself, run in a child process on the tests named `tests` (exactly those,
/// one at a time, their output not captured), with `envs` added.
fn test_binary(tests: &[&str], envs: &[(&str, &str)]) -> Command {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut cmd = Command::new(exe);
    cmd.args(tests)
        .args(["--exact", "--nocapture", "--test-threads=1"])
        .envs(envs.iter().copied());
    cmd
}

/// Runs the test named `scenario` of this same test binary in a child process, with the
/// environment variable `SCENARIO` set to `name` and `envs` added, and returns its output.
/// The binary's `scenario` test reads `SCENARIO` and returns at once when it is unset.
pub fn child(name: &str, envs: &[(&str, &str)]) -> Output {
    test_binary(&["scenario"], envs)
        .env("SCENARIO", name)
        .output()
        .expect("could not run the test binary as a child process")
}

/// Runs the tests named `tests` of this same test binary in a child process, with `envs`
/// added, and returns its output. Each of those tests reads one of `envs` and returns at once
/// when it is unset.
pub fn child_tests(tests: &[&str], envs: &[(&str, &str)]) -> Output {
    test_binary(tests, envs)
        .output()
        .expect("could not run the test binary as a child process")
}

/// Runs the tests named `tests` in a child process like [`child_tests`], fails unless it ends
/// well, and returns its stdout and stderr as text.
pub fn child_tests_pass(tests: &[&str], envs: &[(&str, &str)]) -> String {
    let out = child_tests(tests, envs);
    let text = output_text(&out);
    assert!(
        out.status.success(),
        "the child failed: {}\n{text}",
        out.status
    );
    text
}

/// A child's stdout and then its stderr, as text.
pub fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A child's stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs the runtime on one worker (the first test of the binary to call it configures; the
/// others find it done), so that a wedged worker shows as a hang.
pub fn one_worker() {
    let _ = greenlet::configure(greenlet::Config::default().workers(1));
}

/// Waits (from this plain thread) for `g`, at most 20 s, and fails the test if it hung (a
/// wedged worker), else returns its value.
pub fn join_or_wedged<T>(g: greenlet::Greenlet<T>) -> T {
    assert!(
        g.wait_timeout(Duration::from_secs(20)),
        "a greenlet hung: the worker is wedged"
    );
    g.join().unwrap()
}

/// Spawns `n` greenlets that each wait until `gate` is set.
pub fn waiting_on(gate: &Arc<greenlet::sync::Event>, n: usize) -> Vec<greenlet::Greenlet<()>> {
    (0..n)
        .map(|_| {
            let gate = gate.clone();
            greenlet::spawn(move || gate.wait())
        })
        .collect()
}

/// Spawns `n` greenlets that each call `wait` (a clone of it) and then count themselves in the
/// counter returned: how many have been woken so far.
pub fn counting_waiters(
    n: usize,
    wait: impl Fn() + Clone + Send + 'static,
) -> (Vec<greenlet::Greenlet<()>>, Arc<AtomicUsize>) {
    let woken = Arc::new(AtomicUsize::new(0));
    let waiters = (0..n)
        .map(|_| {
            let (wait, woken) = (wait.clone(), woken.clone());
            greenlet::spawn(move || {
                wait();
                woken.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    (waiters, woken)
}

/// Fails unless the batches that the consumers received hold, together, each of `0..n` exactly
/// once: none lost, none twice.
pub fn assert_each_once(batches: impl IntoIterator<Item = Vec<u64>>, n: u64) {
    let mut seen = vec![false; n as usize];
    let mut count = 0;
    for v in batches.into_iter().flatten() {
        assert!(!std::mem::replace(&mut seen[v as usize], true), "{v} twice");
        count += 1;
    }
    assert_eq!(count, n, "messages lost");
}

/// Fails unless `text` (a child's output, a report) contains each of `parts`, naming the first
/// one missing and showing the whole text.
#[track_caller]
pub fn assert_contains(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "{part:?} is missing from:\n{text}");
    }
}

/// Writes `msg` to `stream` and fails unless the same bytes come back.
pub fn assert_echoed(mut stream: impl Read + Write, msg: &[u8]) {
    stream.write_all(msg).unwrap();
    let mut back = vec![0; msg.len()];
    stream.read_exact(&mut back).unwrap();
    assert_eq!(back, msg);
}

/// Measures how many are inside a section at once: each holds the guard of
/// [`enter`](Occupancy::enter) while inside, and [`most`](Occupancy::most) is the peak. Clones
/// share the counts.
#[derive(Clone, Default)]
pub struct Occupancy {
    inside: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
}

/// Inside the section of an [`Occupancy`] until dropped.
pub struct Inside<'a>(&'a Occupancy);

impl Occupancy {
    /// Enters the section, raising the peak if there are now more inside than ever.
    pub fn enter(&self) -> Inside<'_> {
        let now = self.inside.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        Inside(self)
    }

    /// The most that were ever inside at once.
    pub fn most(&self) -> usize {
        self.most.load(Ordering::SeqCst)
    }
}

impl Drop for Inside<'_> {
    fn drop(&mut self) {
        self.0.inside.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Counts its drops: proves destructors ran (during an unwind, a kill, a timeout).
pub struct DropCounter(pub Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}
