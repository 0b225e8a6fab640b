//! A wait queue for conditions kept outside any lock: the [`WaitList`] with a mutex of its own.
//!
//! Used where the state is a single atomic (a greenlet's end, an Event's flag). A waiter checks
//! its condition, registers, re-checks, and parks; a notifier changes the state first, then calls
//! [`WaitQueue::notify_all`]. Either the waiter's re-check sees the new state, or the notifier sees
//! the registration (SeqCst fences on both sides): no wake-up is lost.

use std::sync::atomic::{fence, AtomicBool, Ordering::SeqCst};
use std::time::Instant;

use super::spinlock::SpinLock;
use super::waitlist::WaitList;
use super::{prepare, Wake};

pub(crate) struct WaitQueue {
    waiters: SpinLock<WaitList>,
    /// True while `waiters` may be non-empty: lets notifiers skip the lock when nobody waits.
    nonempty: AtomicBool,
}

impl WaitQueue {
    pub(crate) const fn new() -> WaitQueue {
        WaitQueue {
            waiters: SpinLock::new(WaitList::new()),
            nonempty: AtomicBool::new(false),
        }
    }

    /// Parks the caller until `ready()` holds or `deadline` passes; returns the last `ready()`.
    ///
    /// `ready` must read state that notifiers change before they notify. A wake-up here carries
    /// nothing: `ready` decides.
    pub(crate) fn wait_until(
        &self,
        deadline: Option<Instant>,
        mut ready: impl FnMut() -> bool,
    ) -> bool {
        loop {
            if ready() {
                return true;
            }
            let parker = prepare();
            let ticket = {
                let mut w = self.waiters.lock();
                let ticket = w.push(parker.unparker(), ());
                self.nonempty.store(true, SeqCst);
                ticket
            };
            fence(SeqCst);
            let registration = Registration {
                queue: self,
                ticket,
            };
            if ready() {
                return true;
            }
            let wake = parker.park(deadline);
            drop(registration);
            if wake == Wake::TimedOut {
                return ready();
            }
        }
    }

    /// Wakes the first waiter still parked; false if there was none.
    ///
    /// Unlike [`notify_all`](WaitQueue::notify_all) this issues no fence of its own: the caller
    /// must have published its change with a SeqCst read-modify-write (the ring's CAS on its
    /// head or tail). That RMW precedes the load of `nonempty` in the SeqCst order, which is all
    /// the registration/re-check pair needs, and it saves a full fence on every message.
    pub(crate) fn notify_one(&self) -> bool {
        if !self.nonempty.load(SeqCst) {
            return false;
        }
        let mut w = self.waiters.lock();
        let woke = w.wake_one();
        self.nonempty.store(!w.is_empty(), SeqCst);
        woke
    }

    /// Wakes every waiter; returns how many were still parked.
    pub(crate) fn notify_all(&self) -> usize {
        fence(SeqCst);
        if !self.nonempty.load(SeqCst) {
            return 0;
        }
        let mut w = self.waiters.lock();
        self.nonempty.store(false, SeqCst);
        // Under the lock, so that tickets keep increasing (a late Registration must never
        // match a newer waiter).
        w.wake_all()
    }
}

impl WaitQueue {
    /// Queues `unparker` (a select's registration, see `channel::select`); returns its ticket
    /// for [`unregister`](WaitQueue::unregister). The caller re-checks its condition after
    /// this (the SeqCst store and the caller's fence pair with a notifier's, as in
    /// [`wait_until`](WaitQueue::wait_until)).
    pub(crate) fn register(&self, unparker: super::Unparker) -> u64 {
        let mut w = self.waiters.lock();
        let ticket = w.push(unparker, ());
        self.nonempty.store(true, SeqCst);
        drop(w);
        fence(SeqCst);
        ticket
    }

    /// Takes the registration `ticket` out; false if a notifier popped it already.
    pub(crate) fn unregister(&self, ticket: u64) -> bool {
        let mut w = self.waiters.lock();
        let found = w.remove(ticket).is_some();
        if w.is_empty() {
            self.nonempty.store(false, SeqCst);
        }
        found
    }
}

/// A queued waiter; dropping it takes the waiter out of the queue if it is still there.
struct Registration<'a> {
    queue: &'a WaitQueue,
    ticket: u64,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        if !self.queue.nonempty.load(SeqCst) {
            return; // drained by notify_all: our entry is gone
        }
        let mut w = self.queue.waiters.lock();
        w.remove(self.ticket);
        if w.is_empty() {
            self.queue.nonempty.store(false, SeqCst);
        }
    }
}
