//! Stopping a greenlet: the countdown task that checks a flag (`CountdownTask.terminate()`), and
//! gevent's way, `kill`, which unwinds the greenlet from the blocking call it is parked in.
//!
//!     cargo run --release --example terminate

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use greenlet::{sleep, spawn, JoinError};

/// A countdown that stops early once asked to.
struct CountdownTask {
    running: AtomicBool,
}

impl CountdownTask {
    fn terminate(&self) {
        self.running.store(false, Ordering::Relaxed);
    }

    /// Counts down from `n`, one tick every 100 ms (1 s in the original); returns the ticks done.
    fn run(&self, mut n: u32) -> u32 {
        let mut ticks = 0;
        while self.running.load(Ordering::Relaxed) && n > 0 {
            println!("{n}");
            n -= 1;
            ticks += 1;
            sleep(Duration::from_millis(100));
        }
        ticks
    }
}

/// Prints when dropped: shows that a killed greenlet's destructors run.
struct Goodbye;

impl Drop for Goodbye {
    fn drop(&mut self) {
        println!("killed countdown cleaned up");
    }
}

fn main() {
    let c = Arc::new(CountdownTask {
        running: AtomicBool::new(true),
    });
    let t = {
        let c = c.clone();
        spawn(move || c.run(10))
    };
    sleep(Duration::from_millis(450));
    c.terminate(); // signal termination
    let ticks = t.join().unwrap();
    println!("stopped by the flag after {ticks} of 10 ticks");

    // kill: no flag needed; the greenlet unwinds out of its sleep.
    let t = spawn(|| {
        let _goodbye = Goodbye;
        for n in (1..=10).rev() {
            println!("T-minus {n}");
            sleep(Duration::from_millis(100));
        }
    });
    sleep(Duration::from_millis(250));
    t.kill();
    match t.join() {
        Err(JoinError::Killed) => println!("join after kill: Killed"),
        other => println!("join after kill: {other:?}"),
    }
    println!("Main thread terminate");
}
