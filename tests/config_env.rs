//! configure, AlreadyStarted and the GREENLET_* variables. One test per process state, so each
//! scenario runs in a child process of this test binary.

use greenlet::{configure, AlreadyStarted, Config};

mod common;

/// Runs `scenario` in a child process with `envs`; returns its stdout.
fn child(scenario: &str, envs: &[(&str, &str)]) -> String {
    let out = common::child(scenario, envs);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{scenario}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// How many worker threads the runtime started: the threads of this process named
/// `greenlet-worker-*` (the kernel keeps 15 bytes of a thread's name). A thread names itself
/// as it starts, so the count is watched for a while after the runtime is up and the highest
/// value is kept: it can only undercount a worker the OS has not scheduled yet.
fn worker_threads() -> usize {
    greenlet::spawn(|| ()).join().unwrap(); // starts the runtime
    let count = || {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .filter(|name| name.starts_with("greenlet-worker"))
            .count()
    };
    let start = std::time::Instant::now();
    let mut most = 0;
    while start.elapsed() < std::time::Duration::from_millis(500) {
        most = most.max(count());
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    most
}

#[test]
fn scenario() {
    match std::env::var("SCENARIO").as_deref() {
        Ok("configure") => {
            configure(Config::default().workers(3)).unwrap();
            println!("threads={}", worker_threads());
            let err = configure(Config::default().workers(1)).unwrap_err();
            assert_eq!(err, AlreadyStarted);
            println!("err={err}");
        }
        Ok("env") => println!("threads={}", worker_threads()),
        Ok("blocking_counts_as_use") => {
            greenlet::sleep(std::time::Duration::from_millis(1));
            println!("configure={:?}", configure(Config::default()));
        }
        Ok("bad_env") => {
            // Garbage in the variables is ignored with a warning, never a panic.
            println!("value={}", greenlet::spawn(|| 5).join().unwrap());
        }
        _ => {} // not a child: nothing to do
    }
}

#[test]
fn configure_sets_the_workers_and_then_reports_already_started() {
    let out = child("configure", &[("GREENLET_WORKERS", "1")]);
    assert!(
        out.contains("threads=3"),
        "configure must win over the env: {out}"
    );
    assert!(
        out.contains("err=the greenlet runtime has already started"),
        "{out}"
    );
}

#[test]
fn env_sets_the_workers() {
    let out = child("env", &[("GREENLET_WORKERS", "1")]);
    assert!(out.contains("threads=1"), "{out}");
}

#[test]
fn a_blocking_call_on_a_plain_thread_is_first_use() {
    let out = child("blocking_counts_as_use", &[]);
    assert!(out.contains("configure=Err(AlreadyStarted)"), "{out}");
}

#[test]
fn bad_environment_values_are_ignored() {
    let out = child(
        "bad_env",
        &[
            ("GREENLET_WORKERS", "many"),
            ("GREENLET_STACK_SIZE", "huge"),
        ],
    );
    assert!(out.contains("value=5"), "{out}");
}
