//! [`Condvar`]: wait for a condition under a [`Mutex`](crate::sync::Mutex).

use std::fmt;
use std::time::{Duration, Instant};

use super::mutex::MutexGuard;
use crate::park::{park_in_then, SpinLock, WaitList, Wake};

/// A condition variable for greenlets, like `threading.Condition` (with the lock passed in).
///
/// `wait` releases the mutex and parks until notified, then locks it again. If the wait is
/// interrupted (a kill or an enclosing `with_timeout`), it unwinds with the mutex left unlocked.
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
            waiters: SpinLock::new(WaitList::new()),
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

    fn wait_until<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Option<Instant>,
    ) -> (MutexGuard<'a, T>, bool) {
        let mutex = MutexGuard::mutex(&guard);
        // Registered before the mutex is released: a notify after our unlock cannot be missed.
        let w = self.waiters.lock();
        let wake = park_in_then(&self.waiters, w, list, (), deadline, move || drop(guard));
        (mutex.lock(), wake == Wake::TimedOut)
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
        self.waiters.lock().wake_one();
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
        self.waiters.lock().wake_all();
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
