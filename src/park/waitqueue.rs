//! A FIFO queue of parked contexts: the wait-queue every blocking primitive is built on.
//!
//! A waiter checks its condition, registers an [`Unparker`] under the queue's lock, re-checks the
//! condition, and parks. A notifier changes the state first, then calls [`WaitQueue::notify_one`]
//! or [`WaitQueue::notify_all`]. Either the waiter's re-check sees the new state, or the notifier
//! sees the registration: no wake-up is lost. A waiter that leaves early (timeout, kill, an unwind
//! through it) removes its registration on the way out.

use std::collections::VecDeque;
use std::sync::atomic::{fence, AtomicBool, Ordering::SeqCst};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use super::{prepare, Unparker, Wake};

pub(crate) struct WaitQueue {
    waiters: Mutex<Waiters>,
    /// True while `waiters` may be non-empty: lets notifiers skip the lock when nobody waits.
    nonempty: AtomicBool,
}

#[derive(Default)]
struct Waiters {
    queue: VecDeque<(u64, Unparker)>,
    next_ticket: u64,
}

impl WaitQueue {
    pub(crate) const fn new() -> WaitQueue {
        WaitQueue {
            waiters: Mutex::new(Waiters {
                queue: VecDeque::new(),
                next_ticket: 0,
            }),
            nonempty: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Waiters> {
        // No user code runs under this lock, so it cannot be poisoned in a way that matters.
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Parks the caller until `ready()` holds or `deadline` passes; returns the last `ready()`.
    ///
    /// `ready` must read state that notifiers change before they notify.
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
            let registration = self.register(parker.unparker());
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

    /// Adds a waiter at the back. The returned guard removes it again if it is still queued.
    pub(crate) fn register(&self, unparker: Unparker) -> Registration<'_> {
        let mut w = self.lock();
        let ticket = w.next_ticket;
        w.next_ticket += 1;
        w.queue.push_back((ticket, unparker));
        self.nonempty.store(true, SeqCst);
        drop(w);
        fence(SeqCst);
        Registration {
            queue: self,
            ticket,
        }
    }

    /// Wakes the first waiter whose park is still current; false if there was none.
    pub(crate) fn notify_one(&self) -> bool {
        fence(SeqCst);
        if !self.nonempty.load(SeqCst) {
            return false;
        }
        let mut w = self.lock();
        while let Some((_, unparker)) = w.queue.pop_front() {
            if unparker.unpark() {
                self.nonempty.store(!w.queue.is_empty(), SeqCst);
                return true;
            }
        }
        self.nonempty.store(false, SeqCst);
        false
    }

    /// Wakes every waiter; returns how many were woken.
    pub(crate) fn notify_all(&self) -> usize {
        fence(SeqCst);
        if !self.nonempty.load(SeqCst) {
            return 0;
        }
        let drained = {
            let mut w = self.lock();
            self.nonempty.store(false, SeqCst);
            std::mem::take(&mut w.queue)
        };
        drained.iter().filter(|(_, u)| u.unpark()).count()
    }

    /// How many waiters are queued (some may be leaving).
    #[allow(dead_code)]
    pub(crate) fn len(&self) -> usize {
        self.lock().queue.len()
    }
}

/// A queued waiter; dropping it takes the waiter out of the queue if it is still there.
pub(crate) struct Registration<'a> {
    queue: &'a WaitQueue,
    ticket: u64,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        if !self.queue.nonempty.load(SeqCst) {
            return;
        }
        let mut w = self.queue.lock();
        // Tickets are increasing from front to back.
        if let Ok(pos) = w.queue.binary_search_by_key(&self.ticket, |(t, _)| *t) {
            w.queue.remove(pos);
            if w.queue.is_empty() {
                self.queue.nonempty.store(false, SeqCst);
            }
        }
    }
}
