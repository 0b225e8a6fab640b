//! No child is left running or a zombie: `Command::output`/`status` kill and reap the child they
//! own when interrupted; a dropped `Child` is killed with `kill_on_drop` and reaped in every case.
//!
//! The tests count this process's children in /proc, so they run one at a time (a lock) and
//! this file is a test binary of its own.

use std::time::{Duration, Instant};

use greenlet::process::{Command, Stdio};

mod common;
use common::serial;

/// The children of this process (alive or zombie), with their state letter (`Z`: zombie).
fn children() -> Vec<(i32, char)> {
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            continue;
        };
        let mut fields = rest.split(' ');
        let state = fields.next().and_then(|s| s.chars().next()).unwrap_or('?');
        let ppid: i32 = fields.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        if ppid == me {
            out.push((pid, state));
        }
    }
    out
}

/// Whether `pid` names no process any more (not even a zombie): kill(pid, 0) fails with ESRCH.
fn gone(pid: i32) -> bool {
    // SAFETY: signal 0 sends nothing; it only checks that the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

/// Waits (generously) until `pid` is gone.
fn eventually_gone(pid: i32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if gone(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

/// Waits until this process has a child, and returns its pid.
fn wait_for_a_child() -> i32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Some(&(pid, _)) = children().first() {
            return pid;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!("no child appeared");
}

/// Runs `run` (which starts one child and waits for it) in a greenlet, kills the greenlet once
/// the child is there, checks the join says killed, and returns the child's pid.
fn kill_the_greenlet_waiting_in<T: std::fmt::Debug + Send + 'static>(
    run: impl FnOnce() -> T + Send + 'static,
) -> i32 {
    let g = greenlet::spawn(run);
    let pid = wait_for_a_child();
    g.kill();
    assert!(g.join().unwrap_err().is_killed());
    pid
}

/// A `sleep 60` child with `kill_on_drop` set.
fn sleeper_killed_on_drop() -> greenlet::process::Child {
    Command::new("sleep")
        .arg("60")
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

#[test]
fn status_interrupted_by_with_timeout_kills_and_reaps_before_returning() {
    let _s = serial();
    assert_eq!(children(), []);
    let r = greenlet::with_timeout(Duration::from_millis(50), || {
        Command::new("sleep").arg("60").status()
    });
    assert!(r.is_err());
    // Reaped before with_timeout returned: no child at all, alive or zombie.
    assert_eq!(children(), []);
}

#[test]
fn output_interrupted_by_with_timeout_kills_and_reaps_before_returning() {
    let _s = serial();
    let g = greenlet::spawn(|| {
        let r = greenlet::with_timeout(Duration::from_millis(50), || {
            Command::new("sh")
                .args(["-c", "echo partial; sleep 60"])
                .output()
        });
        assert!(r.is_err());
        children()
    });
    assert_eq!(g.join().unwrap(), []);
}

/// One `#[test]` a `Command` method that waits for the child it starts: killing the greenlet
/// waiting in it kills and reaps the child before the join returns.
macro_rules! killed_in_tests {
    ($($name:ident: $method:ident;)*) => {$(
        #[test]
        fn $name() {
            let _s = serial();
            let pid = kill_the_greenlet_waiting_in(|| Command::new("sleep").arg("60").$method());
            assert!(
                gone(pid),
                concat!("the child of an interrupted ", stringify!($method), "() outlived it")
            );
            assert_eq!(children(), []);
        }
    )*};
}

killed_in_tests! {
    killing_a_greenlet_in_status_kills_and_reaps_the_child: status;
    killing_a_greenlet_in_output_kills_and_reaps_the_child: output;
}

#[test]
fn kill_on_drop_kills_and_reaps() {
    let _s = serial();
    let child = sleeper_killed_on_drop();
    let pid = child.id() as i32;
    drop(child);
    assert!(
        eventually_gone(pid),
        "a kill_on_drop child survived its drop"
    );
    assert_eq!(children(), []);
}

#[test]
fn a_greenlet_killed_in_wait_drops_a_kill_on_drop_child_with_it() {
    let _s = serial();
    let mut child = sleeper_killed_on_drop();
    let pid = child.id() as i32;
    let g = greenlet::spawn(move || child.wait());
    greenlet::sleep(Duration::from_millis(20));
    g.kill();
    assert!(g.join().unwrap_err().is_killed());
    assert!(eventually_gone(pid));
}

#[test]
fn a_dropped_child_runs_to_its_end_and_is_reaped_not_left_a_zombie() {
    let _s = serial();
    let marker = std::env::temp_dir().join(format!("greenlet-reap-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    let child = Command::new("sh")
        .arg("-c")
        .arg(format!("sleep 0.1; touch {}", marker.display()))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    drop(child); // no kill_on_drop: it runs on...
    assert!(!gone(pid));
    // ...to its end (the marker), and is then reaped (std would leave a zombie until we exit).
    assert!(
        eventually_gone(pid),
        "the dropped child stayed: {:?}",
        children()
    );
    assert!(marker.exists(), "the dropped child was killed");
    let _ = std::fs::remove_file(&marker);
}

#[test]
fn a_child_killed_by_hand_and_dropped_is_reaped() {
    let _s = serial();
    let mut child = Command::new("sleep").arg("60").spawn().unwrap();
    let pid = child.id() as i32;
    child.kill().unwrap();
    drop(child);
    assert!(eventually_gone(pid));
}

#[test]
fn wait_timeout_with_a_huge_duration_means_no_deadline() {
    let _s = serial();
    let mut child = Command::new("true").spawn().unwrap();
    let status = child.wait_timeout(Duration::MAX).unwrap();
    assert!(status.unwrap().success());
    let mut child = Command::new("true").spawn().unwrap();
    let status = child.wait_timeout(Duration::from_secs(u64::MAX)).unwrap();
    assert!(status.unwrap().success());
}
