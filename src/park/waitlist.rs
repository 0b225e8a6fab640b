//! The list of parked waiters every blocking primitive keeps under its own lock.
//!
//! A primitive checks its state and, if it must wait, registers in its [`WaitList`] in the same
//! critical section, then parks with [`park_in`]. A releaser pops a waiter under the lock and
//! unparks it. The rule every primitive relies on: **a successful unpark transfers ownership**
//! (of a permit, a lock, a message). Exactly one of unpark, timeout or kill wins a park, so a
//! waiter that returns [`Wake::Unparked`] got what it was handed, and one that timed out or was
//! killed got nothing: the releaser saw `unpark() == false` and moved on to the next waiter.
//!
//! Each entry may carry a payload, e.g. a pointer to the waiter's message slot.
//!
//! Because entries are fired, dropped and taken back only under the primitive's lock, the
//! unparkers of [`park_in`] borrow the waiting greenlet instead of counting a reference to it
//! (see `Parker::unparker_in_lock`): a park through a wait list touches no reference count.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use super::spinlock::{SpinGuard, SpinLock};
use super::{prepare_for, Unparker, Wake, Wakeup};

/// Wake-ups claimed under a primitive's lock ([`WaitList::wake_all`]); dropping them, after the
/// lock, makes their contexts run again. Like tokio's `WakeList` and parking_lot's unpark-after-
/// unlock: a lock is never held across a wake (a queue push on another worker, a futex call).
#[must_use = "the claimed waiters wake when this is dropped: drop it after unlocking"]
pub(crate) struct Wakeups(Vec<Wakeup>);

impl Wakeups {
    /// How many waiters were still parked (and are woken by dropping this).
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

/// Parked waiters in FIFO order. Lives inside the primitive's [`SpinLock`].
pub(crate) struct WaitList<P = ()> {
    entries: VecDeque<Waiter<P>>,
    next_ticket: u64,
    /// What its waiters wait on, for dumps: "Mutex::lock", "channel recv", ...
    what: &'static &'static str,
}

/// One parked waiter.
pub(crate) struct Waiter<P> {
    ticket: u64,
    pub(crate) unparker: Unparker,
    pub(crate) payload: P,
}

impl<P> Waiter<P> {
    /// The waiter's ticket (see [`WaitList::remove`]).
    pub(crate) fn ticket(&self) -> u64 {
        self.ticket
    }
}

impl<P> WaitList<P> {
    /// A list whose waiters show in [`dump`](crate::dump) as waiting on `what` (a short
    /// static label: "Mutex::lock", "channel recv").
    pub(crate) const fn waiting_on(what: &'static &'static str) -> WaitList<P> {
        WaitList {
            entries: VecDeque::new(),
            next_ticket: 0,
            what,
        }
    }

    /// What the waiters of this list wait on.
    pub(crate) fn what(&self) -> &'static &'static str {
        self.what
    }

    /// Adds a waiter at the back; returns its ticket.
    pub(crate) fn push(&mut self, unparker: Unparker, payload: P) -> u64 {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.entries.push_back(Waiter {
            ticket,
            unparker,
            payload,
        });
        ticket
    }

    /// Takes the first waiter out.
    pub(crate) fn pop(&mut self) -> Option<Waiter<P>> {
        self.entries.pop_front()
    }

    /// Takes the waiter with `ticket` out, if it is still queued.
    pub(crate) fn remove(&mut self, ticket: u64) -> Option<Waiter<P>> {
        // Tickets increase from front to back.
        let pos = self
            .entries
            .binary_search_by_key(&ticket, |w| w.ticket)
            .ok()?;
        self.entries.remove(pos)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Claims the first waiter that is still parked (each one popped on the way): its park has
    /// ended, and it runs again when the returned [`Wakeup`] is dropped, which the caller does
    /// after unlocking (the wake may queue a greenlet on another worker or make a syscall).
    /// `None` if no waiter was still parked.
    pub(crate) fn wake_one(&mut self) -> Option<Wakeup> {
        while let Some(w) = self.pop() {
            if let Some(wakeup) = w.unparker.claim() {
                return Some(wakeup);
            }
        }
        None
    }

    /// Takes out the first waiter that satisfies `pred`.
    pub(crate) fn pop_where(&mut self, pred: impl Fn(&Waiter<P>) -> bool) -> Option<Waiter<P>> {
        let pos = self.entries.iter().position(pred)?;
        self.entries.remove(pos)
    }

    /// The first waiter that satisfies `pred`, left in place.
    pub(crate) fn find_mut(&mut self, pred: impl Fn(&Waiter<P>) -> bool) -> Option<&mut Waiter<P>> {
        self.entries.iter_mut().find(|w| pred(w))
    }

    /// Whether some queued waiter satisfies `pred`.
    pub(crate) fn any(&self, pred: impl Fn(&Waiter<P>) -> bool) -> bool {
        self.entries.iter().any(pred)
    }

    /// Claims every waiter still parked; they run again when the returned wake-ups are
    /// dropped, after the caller unlocks (see [`wake_one`](WaitList::wake_one)).
    pub(crate) fn wake_all(&mut self) -> Wakeups {
        // Drained in place: the buffer stays for the next waiters (no allocation per wait).
        Wakeups(
            self.entries
                .drain(..)
                .filter_map(|w| w.unparker.claim())
                .collect(),
        )
    }
}

/// Locks a `std::sync::Mutex` that guards runtime bookkeeping (a pool's members, the blocking
/// thread pool, the stack pool), where a holder may block or allocate for longer than a spin
/// lock should wait. No user code runs under these locks, so poisoning carries no meaning and
/// is ignored. (`crate::loom::lock` is the same for the mutexes the loom models replace.)
pub(crate) fn lock<S>(m: &Mutex<S>) -> MutexGuard<'_, S> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Registers the caller in the wait list `list(state)` with `payload`, releases `guard`, and
/// parks until unparked or `deadline`.
///
/// `Wake::Unparked` means a releaser popped the entry and handed over what it promised. On
/// `Wake::TimedOut`, and on an unwind (kill, `with_timeout`), the entry is taken out of the list
/// again under the lock before this returns: nothing was handed over.
///
/// The park is recorded as waiting on the list's label, at the caller's location (every
/// function from the crate's public blocking call down to here is `#[track_caller]`).
#[track_caller]
pub(crate) fn park_in<'a, S, P>(
    mutex: &'a SpinLock<S>,
    guard: SpinGuard<'a, S>,
    list: fn(&mut S) -> &mut WaitList<P>,
    payload: P,
    deadline: Option<Instant>,
) -> Wake {
    park_in_then(mutex, guard, list, payload, deadline, || ())
}

/// [`park_in`] that runs `registered` after the waiter is in the list and the lock is released,
/// just before parking (a condition variable releases the user's mutex there).
#[track_caller]
pub(crate) fn park_in_then<'a, S, P>(
    mutex: &'a SpinLock<S>,
    mut guard: SpinGuard<'a, S>,
    list: fn(&mut S) -> &mut WaitList<P>,
    payload: P,
    deadline: Option<Instant>,
    registered: impl FnOnce(),
) -> Wake {
    let parker = prepare_for(list(&mut guard).what());
    // SAFETY: the contract of `unparker_in_lock` holds for every wait list: the list lives
    // inside `mutex`'s state, so its entries are popped and fired (or dropped) only under that
    // lock, and `ListEntry` below takes the entry out under the same lock however the wait
    // ends, except when this unparker ended it (`Wake::Unparked`: the firer popped it).
    let ticket = list(&mut guard).push(unsafe { parker.unparker_in_lock() }, payload);
    drop(guard);
    let mut entry = ListEntry {
        mutex,
        list,
        ticket,
        armed: true,
    };
    registered();
    let wake = parker.park(deadline);
    if wake == Wake::Unparked {
        // The releaser popped the entry before unparking.
        entry.armed = false;
    }
    wake
}

/// Takes a waiter out of its list if it is still there, however the wait ends.
struct ListEntry<'a, S, P> {
    mutex: &'a SpinLock<S>,
    list: fn(&mut S) -> &mut WaitList<P>,
    ticket: u64,
    armed: bool,
}

impl<S, P> Drop for ListEntry<'_, S, P> {
    fn drop(&mut self) {
        if self.armed {
            let mut state = self.mutex.lock();
            (self.list)(&mut state).remove(self.ticket);
        }
    }
}
