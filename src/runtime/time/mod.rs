//! Timers: deadlines for sleep, timeouts and spawn_later.
//!
//! Each worker owns a timing wheel ([`wheel`]) behind a mutex of its own that is almost never
//! contended: the worker adds its greenlets' timers, cancels them and fires them; other threads
//! touch it only to add a `spawn_later` timer from a plain thread, or, when idle, to fire timers
//! a busy worker has not yet reached (so that a greenlet spinning on one worker never delays the
//! sleepers parked on it). There is no global timer lock.
//!
//! * **Insert and cancel are O(1).** A park with a deadline adds a timer and keeps its
//!   [`TimerKey`]; when the park ends any other way (an unpark, a kill: the usual end of a
//!   `recv_timeout` or a `with_timeout`), the greenlet, back on its home worker, cancels the
//!   timer before it returns. So a wheel holds only timers that may still fire, and the memory
//!   of timers follows the number of parks with a deadline pending.
//! * **Expiry is in batches**: a worker takes every due timer out of its wheel in one pass under
//!   the lock, then fires them after unlocking (rule 1: firing queues greenlets at their homes
//!   through `runtime::schedule`, and dropping what a timer held runs nothing of the user's
//!   either, but no lock is held while it happens).
//! * **Resolution.** Deadlines are rounded *up* to the wheel's tick ([`wheel::TICK_NS`], 1 ms),
//!   so a timer never fires before its deadline and the many deadlines of a burst that fall in
//!   one tick expire together. The published next deadline ([`Timers::next`]) is when the wheel
//!   next has work (a deadline, or a slot whose timers move down a level): an idle worker sleeps
//!   until the earliest one over all wheels and no longer, and never wakes early for nothing
//!   more than once per wheel level.

mod wheel;

use super::task::TaskRef;
use super::NO_DEADLINE;
use crate::park::Unparker;
pub(crate) use wheel::TICK_NS;
use wheel::{Key, Wheel};

/// What to do when a deadline passes.
pub(crate) enum TimerAction {
    /// End a park with `TimedOut`.
    Unpark(Unparker),
    /// Schedule a greenlet made by `spawn_later`.
    Start(TaskRef),
}

impl TimerAction {
    pub(crate) fn fire(self) {
        match self {
            TimerAction::Unpark(u) => {
                u.time_out();
            }
            // The timer held the run reference of a greenlet that has not started yet.
            TimerAction::Start(task) => super::spawn(task),
        }
    }
}

/// Names a timer: which worker's wheel, and the timer in it (see [`Timers::cancel`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct TimerKey {
    pub(crate) worker: usize,
    key: Key,
}

/// One worker's timers. Deadlines are in nanoseconds since the runtime's epoch.
pub(crate) struct Timers {
    wheel: Wheel<TimerAction>,
}

/// The first tick at or after `ns`: a timer never fires early.
fn tick_at_or_after(ns: u64) -> u64 {
    ns.div_ceil(TICK_NS)
}

impl Timers {
    pub(crate) fn new() -> Timers {
        Timers {
            wheel: Wheel::new(),
        }
    }

    /// Adds a timer due at `at` (not [`NO_DEADLINE`]) for worker `worker` (this wheel's).
    pub(crate) fn insert(&mut self, worker: usize, at: u64, action: TimerAction) -> TimerKey {
        debug_assert_ne!(at, NO_DEADLINE, "no deadline is no timer");
        TimerKey {
            worker,
            key: self.wheel.insert(tick_at_or_after(at), action),
        }
    }

    /// Takes the timer `key` out; `None` if it has fired (or is being fired) already. The caller
    /// drops the action after unlocking.
    pub(crate) fn cancel(&mut self, key: TimerKey) -> Option<TimerAction> {
        self.wheel.cancel(key.key)
    }

    /// Moves every timer due at `now` into `out`.
    pub(crate) fn expire(&mut self, now: u64, out: &mut Vec<TimerAction>) {
        self.wheel.expire(now / TICK_NS, out);
    }

    /// When the wheel next has work, or [`NO_DEADLINE`] when it is empty. Never later than the
    /// earliest deadline it holds.
    pub(crate) fn next(&self) -> u64 {
        self.wheel
            .next_tick()
            .map_or(NO_DEADLINE, |t| t.saturating_mul(TICK_NS))
    }

    /// How many timers are pending.
    pub(crate) fn len(&self) -> usize {
        self.wheel.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dead_entry() -> TimerAction {
        // An unparker for a park that is not waiting: the calling thread never prepared one.
        let parker = crate::park::prepare_for(&"test");
        let u = parker.unparker();
        drop(parker);
        TimerAction::Unpark(u)
    }

    #[test]
    fn deadlines_round_up_to_a_tick() {
        let mut t = Timers::new();
        t.insert(0, 3 * TICK_NS + 1, dead_entry());
        assert_eq!(t.next(), 4 * TICK_NS);
        let mut out = Vec::new();
        t.expire(4 * TICK_NS - 1, &mut out);
        assert!(out.is_empty(), "fired before its deadline");
        t.expire(4 * TICK_NS, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(t.next(), NO_DEADLINE);
    }

    #[test]
    fn the_farthest_deadline_a_u64_holds_fits() {
        let mut t = Timers::new();
        let key = t.insert(0, NO_DEADLINE - 1, dead_entry());
        assert!(t.next() < NO_DEADLINE, "a pending timer shows");
        let mut out = Vec::new();
        t.expire(1 << 62, &mut out);
        assert!(out.is_empty());
        assert!(t.cancel(key).is_some());
        assert_eq!(t.len(), 0);
    }
}
