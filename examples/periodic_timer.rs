//! A periodic timer built on a condition variable: a ticker greenlet flips a flag and notifies
//! everyone each interval; a countdown and a countup wait for ticks. A Condvar is the tool when
//! a signal repeats (an Event is for a one-time signal).
//!
//!     cargo run --release --example periodic_timer

use std::sync::Arc;
use std::time::Duration;

use greenlet::sync::{Condvar, Mutex};
use greenlet::{joinall, sleep, spawn, Greenlet};

struct PeriodicTimer {
    interval: Duration,
    flag: Mutex<bool>,
    cv: Condvar,
}

impl PeriodicTimer {
    fn new(interval: Duration) -> Arc<PeriodicTimer> {
        Arc::new(PeriodicTimer {
            interval,
            flag: Mutex::new(false),
            cv: Condvar::new(),
        })
    }

    /// Runs the timer in a greenlet and notifies the waiters after each interval. The original
    /// is a daemon thread; here the caller kills the handle when done.
    fn start(self: &Arc<Self>) -> Greenlet<()> {
        let timer = self.clone();
        spawn(move || loop {
            sleep(timer.interval);
            let mut flag = timer.flag.lock();
            *flag = !*flag;
            timer.cv.notify_all();
        })
    }

    /// Waits for the next tick of the timer.
    fn wait_for_tick(&self) {
        let mut flag = self.flag.lock();
        let last_flag = *flag;
        while last_flag == *flag {
            flag = self.cv.wait(flag);
        }
    }
}

fn main() {
    // The original ticks every 5 s; 50 ms keeps the example short.
    let ptimer = PeriodicTimer::new(Duration::from_millis(50));
    let ticker = ptimer.start();

    // Two greenlets that synchronize on the timer.
    let t = ptimer.clone();
    let countdown = spawn(move || {
        for nticks in (1..=10).rev() {
            t.wait_for_tick();
            println!("T-minus {nticks}");
        }
    });
    let t = ptimer.clone();
    let countup = spawn(move || {
        for n in 0..5 {
            t.wait_for_tick();
            println!("Counting {n}");
        }
    });
    joinall([countdown, countup]);
    ticker.kill();
    println!("timer stopped");
}
