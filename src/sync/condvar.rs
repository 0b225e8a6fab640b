//! [`Condvar`]: wait for a condition under a [`Mutex`](crate::sync::Mutex).
//!
//! A waiter registers in the condition variable's wait list while it still holds the mutex,
//! then releases the mutex and parks (`park_in_then`), so a notifier that takes the mutex after
//! the waiter released it always finds the registration. `notify_one` pops waiters until one of
//! them is still parked and wakes it: a waiter whose own deadline, kill or timeout won the park
//! first is skipped, and the notification goes to the next one.
//!
//! A woken waiter must then relock the mutex, which may park again. If a kill or an enclosing
//! `with_timeout` unwinds it out of that park, the notification it consumed would be lost; so it
//! passes it on with a `notify_one` of its own while it unwinds (the rule of Java's
//! `Object.wait`: a thread both notified and interrupted hands the notification to another
//! waiter). A waiter woken by `notify_all` does the same, which costs at most one spurious
//! wake-up, harmless for waiters that re-check their condition as they must.

use std::fmt;
use std::time::{Duration, Instant};

use super::mutex::MutexGuard;
use crate::park::{park_in_then, SpinLock, WaitList, Wake};

/// A condition variable for greenlets, like `threading.Condition` (with the lock passed in).
///
/// `wait` releases the mutex and parks until notified, then locks it again. If the wait is
/// interrupted (a kill or an enclosing `with_timeout`), it unwinds with the mutex left unlocked;
/// a waiter interrupted after a notification woke it (while it waits to relock the mutex) passes
/// the notification on to the next waiter, so `notify_one` is never lost. As with every condition
/// variable, wake-ups may be spurious: wait in a loop that re-checks the condition (or use
/// [`wait_while`](Condvar::wait_while)).
///
/// ```
/// use std::sync::Arc;
/// use greenlet::sync::{Condvar, Mutex};
///
/// let pair = Arc::new((Mutex::new(false), Condvar::new()));
/// let p = pair.clone();
/// let waiter = greenlet::spawn(move || {
///     let (ready, cv) = &*p;
///     let mut ready = ready.lock();
///     while !*ready {
///         ready = cv.wait(ready);
///     }
///     "woke"
/// });
/// *pair.0.lock() = true;
/// pair.1.notify_all();
/// assert_eq!(waiter.join().unwrap(), "woke");
/// ```
pub struct Condvar {
    waiters: SpinLock<WaitList>,
}

fn list(w: &mut WaitList) -> &mut WaitList {
    w
}

impl Condvar {
    /// A new condition variable.
    ///
    /// ```
    /// let cv = greenlet::sync::Condvar::new();
    /// cv.notify_all(); // nobody waits: nothing happens
    /// ```
    pub const fn new() -> Condvar {
        Condvar {
            waiters: SpinLock::new(WaitList::waiting_on(&"Condvar::wait")),
        }
    }

    /// Releases the guard's mutex, waits for a notification, and locks the mutex again.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use greenlet::sync::{Condvar, Mutex};
    /// let pair = Arc::new((Mutex::new(false), Condvar::new()));
    /// let p = pair.clone();
    /// greenlet::spawn(move || {
    ///     *p.0.lock() = true;
    ///     p.1.notify_one();
    /// });
    /// let (ready, cv) = &*pair;
    /// let mut guard = ready.lock();
    /// while !*guard {
    ///     guard = cv.wait(guard); // unlocks while waiting, locks again before returning
    /// }
    /// ```
    #[track_caller]
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.wait_until(guard, None).0
    }

    /// Like [`wait`](Condvar::wait), for at most `timeout`; the flag is true when it timed out.
    ///
    /// ```
    /// use std::time::Duration;
    /// use greenlet::sync::{Condvar, Mutex};
    /// let (m, cv) = (Mutex::new(()), Condvar::new());
    /// let (_guard, timed_out) = cv.wait_timeout(m.lock(), Duration::from_millis(5));
    /// assert!(timed_out);
    /// ```
    #[track_caller]
    pub fn wait_timeout<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> (MutexGuard<'a, T>, bool) {
        self.wait_until(guard, crate::deadline::after(timeout))
    }

    /// Waits while `condition` holds, re-checking after each notification.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use greenlet::sync::{Condvar, Mutex};
    /// let pair = Arc::new((Mutex::new(0), Condvar::new()));
    /// let p = pair.clone();
    /// greenlet::spawn(move || {
    ///     for _ in 0..3 {
    ///         *p.0.lock() += 1;
    ///         p.1.notify_all();
    ///     }
    /// });
    /// let guard = pair.1.wait_while(pair.0.lock(), |n| *n < 3);
    /// assert_eq!(*guard, 3);
    /// ```
    #[track_caller]
    pub fn wait_while<'a, T: ?Sized>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: impl FnMut(&mut T) -> bool,
    ) -> MutexGuard<'a, T> {
        while condition(&mut *guard) {
            guard = self.wait(guard);
        }
        guard
    }

    #[track_caller]
    fn wait_until<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Option<Instant>,
    ) -> (MutexGuard<'a, T>, bool) {
        let mutex = MutexGuard::mutex(&guard);
        // Registered before the mutex is released: a notify after our unlock cannot be missed.
        let w = self.waiters.lock();
        let wake = park_in_then(&self.waiters, w, list, (), deadline, move || drop(guard));
        if wake == Wake::TimedOut {
            // Our own deadline won the park: no notification was taken (a notifier that came
            // later found the park ended and woke the next waiter instead).
            return (mutex.lock(), true);
        }
        // A notification is ours now. Relocking may park (the notifier often still holds the
        // mutex), and a kill or an enclosing `with_timeout` may unwind out of that park: then
        // the notification goes to the next waiter, as Java's Object.wait requires of a thread
        // that was both notified and interrupted.
        let pass_on = PassOn(self);
        let guard = mutex.lock();
        std::mem::forget(pass_on);
        (guard, false)
    }

    /// Wakes one waiter (the longest waiting), if any.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use greenlet::sync::{Condvar, Mutex};
    /// let pair = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
    /// let p = pair.clone();
    /// let consumer = greenlet::spawn(move || {
    ///     let guard = p.1.wait_while(p.0.lock(), |q: &mut Vec<i32>| q.is_empty());
    ///     guard[0]
    /// });
    /// pair.0.lock().push(7);
    /// pair.1.notify_one();
    /// assert_eq!(consumer.join().unwrap(), 7);
    /// ```
    pub fn notify_one(&self) {
        let wakeup = self.waiters.lock().wake_one();
        drop(wakeup); // after the lock (the temporary guard is gone with its statement)
    }

    /// Wakes every waiter.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use greenlet::sync::{Condvar, Mutex};
    /// let pair = Arc::new((Mutex::new(false), Condvar::new()));
    /// let waiters: Vec<_> = (0..3)
    ///     .map(|_| {
    ///         let p = pair.clone();
    ///         greenlet::spawn(move || drop(p.1.wait_while(p.0.lock(), |go| !*go)))
    ///     })
    ///     .collect();
    /// *pair.0.lock() = true;
    /// pair.1.notify_all(); // every waiter re-checks and returns
    /// greenlet::joinall(waiters);
    /// ```
    pub fn notify_all(&self) {
        let wakeups = self.waiters.lock().wake_all();
        drop(wakeups); // after the lock
    }
}

/// Hands a consumed notification to the next waiter if the waiter that took it unwinds before
/// it could act on it (disarmed with `mem::forget` once the mutex is relocked).
struct PassOn<'a>(&'a Condvar);

impl Drop for PassOn<'_> {
    fn drop(&mut self) {
        self.0.notify_one();
    }
}

impl Default for Condvar {
    fn default() -> Condvar {
        Condvar::new()
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}
