//! One backoff for every wait on another thread's progress that takes nanoseconds unless that
//! thread was preempted: a spin lock held for a few instructions (`spinlock`), a ring slot whose
//! writer is between its two stores (`channel::array`).
//!
//! The curve is crossbeam_utils' `Backoff`: spin 1, 2, 4, ... 32 times, doubling each step,
//! then yield the thread. Past that, sleep a few microseconds between looks: the thread waited
//! for may have been descheduled in favour of busier ones (say, at a lower priority), and it
//! needs a core more than the waiter needs to look again.

use std::time::Duration;

use crate::loom::{hint, thread};

/// Steps that spin (the spin count doubles each step).
const SPIN_STEPS: u32 = 6;
/// Steps, counted from the start, before a waiter starts sleeping between looks.
const YIELD_STEPS: u32 = SPIN_STEPS + 32;
/// The pause between looks after that.
const SLEEP: Duration = Duration::from_micros(20);

/// A waiter's place on the backoff curve; make one per wait.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    step: u32,
}

impl Backoff {
    pub(crate) const fn new() -> Backoff {
        Backoff { step: 0 }
    }

    /// Waits a little longer than the previous call did.
    pub(crate) fn snooze(&mut self) {
        if self.step < SPIN_STEPS {
            for _ in 0..1u32 << self.step {
                hint::spin_loop();
            }
        } else if self.step < YIELD_STEPS || cfg!(loom) {
            // (loom has no sleep; a yield is what its models need in a spin loop.)
            thread::yield_now();
        } else {
            std::thread::sleep(SLEEP);
        }
        self.step = self.step.saturating_add(1);
    }
}
