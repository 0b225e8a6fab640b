//! The engine under channels and queues: a buffer and two lists of parked waiters under one lock,
//! with direct hand-off.
//!
//! * A sender that finds a parked receiver writes the message into the receiver's slot (on the
//!   receiver's stack) and unparks it; a receiver that finds a parked sender takes the message
//!   out of the sender's slot the same way. Otherwise messages go through the buffer.
//! * A successful unpark is the hand-off (see `park::waitlist`): if it fails (that waiter timed
//!   out or was killed a moment ago), the message goes back and the next waiter is tried. So a
//!   message is never lost, never delivered twice, and never consumed by a cancelled receiver.
//! * The buffer is any [`Store`]: FIFO for channels and `Queue`, a stack for `LifoQueue`.
//!   Capacity `Some(0)` is a rendezvous: only hand-offs, no buffer. (No heap: ordering one runs
//!   the user's `Ord`, which must not run under this spin lock; see `queue::priority`.)
//!
//! This engine serves rendezvous, small-capacity and unbounded channels and two queues: there
//! nearly every operation waits or wakes someone, and a direct hand-off under one lock is the
//! cheapest way to do that. Bounded channels with room to spare use the lock-free ring of
//! `channel::array` instead (crossbeam-channel splits its flavours the same way).

use std::collections::VecDeque;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::Instant;

use crate::park::{park_in, SpinLock, WaitList, Wake};

/// Where buffered messages wait, and in which order they come out.
pub(crate) trait Store<T> {
    fn put(&mut self, value: T);
    fn take(&mut self) -> Option<T>;
    fn count(&self) -> usize;
    /// Empties the store without running user code (no `Ord`), for [`drop_each`].
    fn take_all(&mut self) -> Vec<T>;
}

impl<T> Store<T> for VecDeque<T> {
    fn put(&mut self, value: T) {
        self.push_back(value)
    }
    fn take(&mut self) -> Option<T> {
        self.pop_front()
    }
    fn count(&self) -> usize {
        self.len()
    }
    fn take_all(&mut self) -> Vec<T> {
        Vec::from(std::mem::take(self))
    }
}

impl<T> Store<T> for Vec<T> {
    fn put(&mut self, value: T) {
        self.push(value)
    }
    fn take(&mut self) -> Option<T> {
        self.pop()
    }
    fn count(&self) -> usize {
        self.len()
    }
    fn take_all(&mut self) -> Vec<T> {
        std::mem::take(self)
    }
}

/// Drops every message of `messages`, each on its own, with no lock held, like
/// crossbeam-channel: a `Drop` that panics does not keep the others from being dropped, and does
/// not abort the process (a second panic while the first unwinds would). The first panic
/// resumes once every message is gone; later ones are swallowed (their hook has printed them).
/// If the caller is already unwinding (a handle dropped during a panic), all are swallowed, since
/// resuming from a destructor then would abort.
pub(crate) fn drop_each<T>(messages: impl IntoIterator<Item = T>) {
    let mut first = None;
    for message in messages {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(message))) {
            first.get_or_insert(payload);
        }
    }
    if let Some(payload) = first {
        if !std::thread::panicking() {
            resume_unwind(payload);
        }
    }
}

/// A parked waiter's message slot, on the waiter's own stack.
struct Slot<T>(*mut Option<T>);

// SAFETY: a slot is only dereferenced under the engine's lock, while its waiter is parked and its
// entry is in a wait list (it is removed, under the same lock, before the waiter's frame ends:
// see `park_in`). The value inside is a T: Send moving between threads.
unsafe impl<T: Send> Send for Slot<T> {}

impl<T> Slot<T> {
    /// # Safety
    /// Under the engine's lock, for a waiter just popped from its list.
    unsafe fn put(&self, value: T) {
        *self.0 = Some(value);
    }

    /// # Safety
    /// As for `put`.
    unsafe fn take(&self) -> Option<T> {
        (*self.0).take()
    }
}

/// How long an operation may wait.
#[derive(Clone, Copy)]
pub(crate) enum Wait {
    /// Not at all (`try_*`).
    Never,
    /// Until this deadline, or for ever (`None`).
    Until(Option<Instant>),
}

/// Why an operation did not complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fail {
    /// Full (send) or empty (receive) and not allowed to wait.
    WouldBlock,
    Timeout,
    Disconnected,
}

pub(crate) struct State<T, S> {
    items: S,
    cap: Option<usize>,
    receivers: WaitList<Slot<T>>,
    senders: WaitList<Slot<T>>,
    senders_alive: usize,
    receivers_alive: usize,
    /// Items put and not yet marked done (`Queue::task_done`).
    unfinished: usize,
    joiners: WaitList,
}

impl<T, S: Store<T>> State<T, S> {
    /// Whether a send can go into the buffer now.
    fn has_room(&self) -> bool {
        match self.cap {
            None => true,
            Some(cap) => self.items.count() < cap,
        }
    }
}

pub(crate) struct LockedChan<T, S> {
    state: SpinLock<State<T, S>>,
    /// `S::take_all`, kept here so that `Drop` needs no `Store` bound (a `Drop` impl may not add
    /// bounds the struct lacks, and the struct has none so that queue types need none).
    take_all: fn(&mut S) -> Vec<T>,
}

impl<T, S: Store<T>> LockedChan<T, S> {
    pub(crate) fn new(items: S, cap: Option<usize>) -> LockedChan<T, S> {
        LockedChan {
            state: SpinLock::new(State {
                items,
                cap,
                receivers: WaitList::waiting_on(&"channel recv"),
                senders: WaitList::waiting_on(&"channel send"),
                senders_alive: 1,
                receivers_alive: 1,
                unfinished: 0,
                joiners: WaitList::waiting_on(&"Queue::join"),
            }),
            take_all: S::take_all,
        }
    }

    /// Sends `value`, waiting as `wait` allows; hands it back on failure.
    #[track_caller]
    pub(crate) fn send(&self, value: T, wait: Wait) -> Result<(), (T, Fail)> {
        let mut s = self.state.lock();
        if s.receivers_alive == 0 {
            return Err((value, Fail::Disconnected));
        }
        let mut value = value;
        while let Some(w) = s.receivers.pop() {
            // SAFETY: under the lock, for a receiver just popped (see `Slot`).
            unsafe { w.payload.put(value) };
            let slot = w.payload;
            if w.unparker.unpark() {
                s.unfinished += 1;
                return Ok(());
            }
            // That receiver left (timeout, kill): take the message back, try the next one.
            // SAFETY: as above; the receiver cannot look at its slot until we unlock.
            value = unsafe { slot.take() }.expect("slot filled above");
        }
        if s.has_room() {
            s.items.put(value);
            s.unfinished += 1;
            return Ok(());
        }
        let Wait::Until(deadline) = wait else {
            return Err((value, Fail::WouldBlock));
        };
        let mut slot = Some(value);
        let wake = park_in(
            &self.state,
            s,
            |s| &mut s.senders,
            Slot(&mut slot),
            deadline,
        );
        match (wake, slot.take()) {
            (Wake::Unparked, None) => Ok(()),
            // Woken with the message still here: every receiver is gone.
            (Wake::Unparked, Some(v)) => Err((v, Fail::Disconnected)),
            (Wake::TimedOut, Some(v)) => Err((v, Fail::Timeout)),
            (Wake::TimedOut, None) => unreachable!("a timed-out sender keeps its message"),
        }
    }

    /// Receives a message, waiting as `wait` allows.
    #[track_caller]
    pub(crate) fn recv(&self, wait: Wait) -> Result<T, Fail> {
        let mut s = self.state.lock();
        if let Some(v) = s.items.take() {
            // Room freed: move a parked sender's message into the buffer.
            while let Some(w) = s.senders.pop() {
                // SAFETY: under the lock, for a sender just popped (see `Slot`).
                let moved = unsafe { w.payload.take() }.expect("a parked sender has a message");
                let slot = w.payload;
                if w.unparker.unpark() {
                    s.items.put(moved);
                    s.unfinished += 1;
                    break;
                }
                // SAFETY: as above; that sender left and gets its message back.
                unsafe { slot.put(moved) };
            }
            return Ok(v);
        }
        // Empty buffer (always, for a rendezvous): take straight from a parked sender.
        while let Some(w) = s.senders.pop() {
            // SAFETY: under the lock, for a sender just popped (see `Slot`).
            let v = unsafe { w.payload.take() }.expect("a parked sender has a message");
            let slot = w.payload;
            if w.unparker.unpark() {
                s.unfinished += 1;
                return Ok(v);
            }
            // SAFETY: as above.
            unsafe { slot.put(v) };
        }
        if s.senders_alive == 0 {
            return Err(Fail::Disconnected);
        }
        let Wait::Until(deadline) = wait else {
            return Err(Fail::WouldBlock);
        };
        let mut slot: Option<T> = None;
        let wake = park_in(
            &self.state,
            s,
            |s| &mut s.receivers,
            Slot(&mut slot),
            deadline,
        );
        match (wake, slot.take()) {
            (Wake::Unparked, Some(v)) => Ok(v),
            // Woken with nothing: every sender is gone.
            (Wake::Unparked, None) => Err(Fail::Disconnected),
            (Wake::TimedOut, _) => Err(Fail::Timeout),
        }
    }

    /// Messages in the buffer.
    pub(crate) fn len(&self) -> usize {
        self.state.lock().items.count()
    }

    pub(crate) fn capacity(&self) -> Option<usize> {
        self.state.lock().cap
    }

    pub(crate) fn add_sender(&self) {
        self.state.lock().senders_alive += 1;
    }

    pub(crate) fn add_receiver(&self) {
        self.state.lock().receivers_alive += 1;
    }

    /// The last sender gone: parked receivers wake up empty-handed (Disconnected).
    pub(crate) fn drop_sender(&self) {
        let mut s = self.state.lock();
        s.senders_alive -= 1;
        if s.senders_alive == 0 {
            let receivers = s.receivers.wake_all();
            drop(s);
            drop(receivers); // after the lock
        }
    }

    /// The last receiver gone: parked senders wake up with their message (Disconnected), and
    /// what is queued, which nobody can receive any more, is dropped now (after unlocking: a
    /// message's `Drop` may park or panic; see [`drop_each`]) rather than with the last sender.
    pub(crate) fn drop_receiver(&self) {
        let discarded = {
            let mut s = self.state.lock();
            s.receivers_alive -= 1;
            if s.receivers_alive != 0 {
                return;
            }
            let senders = s.senders.wake_all();
            ((self.take_all)(&mut s.items), senders)
        };
        let (discarded, senders) = discarded;
        drop(senders); // after the lock
        drop_each(discarded);
    }

    /// Marks one received item done; false if none was outstanding.
    pub(crate) fn task_done(&self) -> bool {
        let mut s = self.state.lock();
        if s.unfinished == 0 {
            return false;
        }
        s.unfinished -= 1;
        if s.unfinished == 0 {
            let joiners = s.joiners.wake_all();
            drop(s);
            drop(joiners); // after the lock
        }
        true
    }

    /// Waits until every item put has been marked done.
    #[track_caller]
    pub(crate) fn join(&self, deadline: Option<Instant>) -> bool {
        let s = self.state.lock();
        if s.unfinished == 0 {
            return true;
        }
        match park_in(&self.state, s, |s| &mut s.joiners, (), deadline) {
            Wake::Unparked => true,
            Wake::TimedOut => self.state.lock().unfinished == 0,
        }
    }
}

impl<T, S> Drop for LockedChan<T, S> {
    /// The last handle is gone: drops what is still queued one message at a time (see
    /// [`drop_each`]), so a message whose `Drop` panics propagates that panic from the handle's
    /// drop instead of aborting the process while the store's own drop unwinds.
    fn drop(&mut self) {
        let messages = (self.take_all)(&mut self.state.lock().items);
        drop_each(messages);
    }
}
