//! The stall monitor: a greenlet that holds its worker with a blocking OS call is named in a
//! warning; one that waits with this crate's blocking calls is not.

use std::sync::Mutex;
use std::time::Duration;

use greenlet::{sleep, spawn};

/// Collects every warning logged in this test process.
struct Capture;

static WARNINGS: Mutex<Vec<String>> = Mutex::new(Vec::new());

impl log::Log for Capture {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::Level::Warn
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            WARNINGS.lock().unwrap().push(r.args().to_string());
        }
    }
    fn flush(&self) {}
}

fn warnings_about(id: u64) -> Vec<String> {
    let needle = format!("(id {id}, spawned at tests/stall.rs");
    WARNINGS
        .lock()
        .unwrap()
        .iter()
        .filter(|w| w.contains(&needle) && w.contains("has held worker"))
        .cloned()
        .collect()
}

#[test]
fn a_greenlet_blocking_its_worker_is_named_and_a_sleeping_one_is_not() {
    log::set_logger(&Capture).expect("the only logger of this test binary");
    log::set_max_level(log::LevelFilter::Warn);

    // Waits for 500 ms the right way: parked, the worker free.
    let polite = spawn(|| sleep(Duration::from_millis(500)));
    // Holds its worker for 500 ms with a blocking OS call.
    let blocker = spawn(|| std::thread::sleep(Duration::from_millis(500)));
    let (polite_id, blocker_id) = (polite.id().as_u64(), blocker.id().as_u64());
    polite.join().unwrap();
    blocker.join().unwrap();

    let named = warnings_about(blocker_id);
    // Reported at the threshold (100 ms), then again backing off (400 ms).
    assert!(
        (1..=2).contains(&named.len()),
        "one or two warnings for the blocker: {named:?}"
    );
    assert!(named[0].contains("threadpool::apply"), "{}", named[0]);
    assert!(warnings_about(polite_id).is_empty());
}
