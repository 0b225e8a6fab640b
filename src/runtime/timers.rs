//! Timers: deadlines for sleep, timeouts and spawn_later.
//!
//! Each worker owns a min-heap of deadlines behind a mutex that is almost never contended: the
//! worker inserts its greenlets' timers and fires them; other threads touch it only to insert
//! (`spawn_later` from a plain thread) or, when idle, to fire timers a busy worker has not yet
//! reached (so a greenlet spinning on one worker never delays sleepers parked on it).
//!
//! Timers are never cancelled. An entry whose park already ended is stale: firing it is a failed
//! CAS on the park token, harmless. So that stale entries (say, a `recv_timeout` of an hour that
//! a message ends after a millisecond) cannot pile up, the heap is purged whenever it doubles
//! past its last live size: amortised O(1) per insert.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::task::{TaskRef, NEW};
use super::NO_DEADLINE;
use crate::park::Unparker;

/// What to do when a deadline passes.
pub(crate) enum TimerAction {
    /// End a park with `TimedOut`.
    Unpark(Unparker),
    /// Schedule a greenlet made by `spawn_later`.
    Start(TaskRef),
}

impl TimerAction {
    /// Whether firing this entry could still have an effect.
    fn is_live(&self) -> bool {
        match self {
            TimerAction::Unpark(u) => u.is_waiting(),
            TimerAction::Start(t) => {
                t.header.life.load(std::sync::atomic::Ordering::Relaxed) == NEW
            }
        }
    }

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

struct Entry {
    at: u64,
    seq: u64,
    action: TimerAction,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest deadline first; FIFO on ties.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Deadlines in nanoseconds since the runtime's epoch.
pub(crate) struct TimerHeap {
    heap: BinaryHeap<Entry>,
    seq: u64,
    purge_at: usize,
}

const PURGE_MIN: usize = 1024;

impl TimerHeap {
    pub(crate) fn new() -> TimerHeap {
        TimerHeap {
            heap: BinaryHeap::new(),
            seq: 0,
            purge_at: PURGE_MIN,
        }
    }

    /// Adds a timer; returns the new earliest deadline.
    pub(crate) fn push(&mut self, at: u64, action: TimerAction) -> u64 {
        if self.heap.len() >= self.purge_at {
            self.heap.retain(|e| e.action.is_live());
            self.purge_at = (self.heap.len() * 2).max(PURGE_MIN);
        }
        self.seq += 1;
        self.heap.push(Entry {
            at,
            seq: self.seq,
            action,
        });
        self.earliest()
    }

    /// Moves every entry due at `now` into `out`; returns the new earliest deadline.
    pub(crate) fn pop_expired(&mut self, now: u64, out: &mut Vec<TimerAction>) -> u64 {
        while let Some(top) = self.heap.peek() {
            if top.at > now {
                break;
            }
            out.push(self.heap.pop().expect("peeked").action);
        }
        self.earliest()
    }

    /// The earliest deadline, or [`NO_DEADLINE`] when empty.
    pub(crate) fn earliest(&self) -> u64 {
        self.heap.peek().map_or(NO_DEADLINE, |e| e.at)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dead_entry() -> TimerAction {
        // An unparker for a park that is not waiting: the calling thread never prepared one.
        let parker = crate::park::prepare();
        let u = parker.unparker();
        drop(parker);
        TimerAction::Unpark(u)
    }

    #[test]
    fn pops_in_deadline_order() {
        let mut h = TimerHeap::new();
        for at in [30, 10, 20] {
            h.push(at, dead_entry());
        }
        let mut out = Vec::new();
        assert_eq!(h.pop_expired(15, &mut out), 20);
        assert_eq!(out.len(), 1);
        assert_eq!(h.pop_expired(100, &mut out), NO_DEADLINE);
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn stale_entries_are_purged() {
        let mut h = TimerHeap::new();
        for i in 0..10 * PURGE_MIN as u64 {
            h.push(1_000_000 + i, dead_entry());
        }
        assert!(
            h.len() <= PURGE_MIN + 1,
            "heap kept {} stale entries",
            h.len()
        );
    }
}
