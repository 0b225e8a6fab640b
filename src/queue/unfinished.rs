//! The bookkeeping behind `task_done` and `join` (Python's `queue.Queue`): how many items were
//! put and not yet marked done, and the greenlets waiting for that count to reach zero.
//!
//! The locked channel engine (under `Queue` and `LifoQueue`) and `PriorityQueue` each keep one
//! under their own spin lock ([`HasUnfinished`] says where); [`task_done`] and [`join`] work on
//! either. The last `task_done` claims the joiners under the lock and wakes them after it.

use std::time::Instant;

use crate::park::{park_in, SpinLock, WaitList, Wake};

/// Items put and not yet marked done, and who waits for none.
pub(crate) struct Unfinished {
    count: usize,
    joiners: WaitList,
}

impl Unfinished {
    pub(crate) fn new() -> Unfinished {
        Unfinished {
            count: 0,
            joiners: WaitList::waiting_on(&"Queue::join"),
        }
    }

    /// One more item put.
    pub(crate) fn add(&mut self) {
        self.count += 1;
    }
}

/// Where a primitive's locked state keeps its [`Unfinished`].
pub(crate) trait HasUnfinished {
    fn unfinished(&mut self) -> &mut Unfinished;
}

impl HasUnfinished for Unfinished {
    fn unfinished(&mut self) -> &mut Unfinished {
        self
    }
}

/// Marks one item of the state under `lock` done; false if none was outstanding. The last one
/// wakes every joiner, after unlocking.
pub(crate) fn task_done<S: HasUnfinished>(lock: &SpinLock<S>) -> bool {
    let mut s = lock.lock();
    let tasks = s.unfinished();
    if tasks.count == 0 {
        return false;
    }
    tasks.count -= 1;
    if tasks.count == 0 {
        let joiners = tasks.joiners.wake_all();
        drop(s);
        drop(joiners); // after the lock
    }
    true
}

/// Waits until every item put in the state under `lock` has been marked done; false if
/// `deadline` passed first.
#[track_caller]
pub(crate) fn join<S: HasUnfinished>(lock: &SpinLock<S>, deadline: Option<Instant>) -> bool {
    let mut s = lock.lock();
    if s.unfinished().count == 0 {
        return true;
    }
    match park_in(lock, s, |s| &mut s.unfinished().joiners, (), deadline) {
        Wake::Unparked => true,
        Wake::TimedOut => lock.lock().unfinished().count == 0,
    }
}
