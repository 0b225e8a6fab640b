//! [`Mutex`]: mutual exclusion that parks waiting greenlets, handed over in FIFO order.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use crate::park::{park_in, SpinLock, WaitList, Wake};

/// A mutual-exclusion lock for greenlets, like `threading.Lock` / gevent's `Semaphore(1)`.
///
/// [`lock`](Mutex::lock) parks the calling greenlet (or blocks the plain thread) while another
/// holds the lock. Unlocking hands the lock straight to the longest waiter, so no waiter
/// starves. There is no poisoning: a panic while locked unlocks. The guard may be held across
/// blocking calls (the greenlet may even move to another worker meanwhile).
///
/// ```
/// use std::sync::Arc;
/// use greenlet::sync::Mutex;
///
/// let counter = Arc::new(Mutex::new(0));
/// let workers: Vec<_> = (0..10)
///     .map(|_| {
///         let counter = counter.clone();
///         greenlet::spawn(move || {
///             for _ in 0..100 {
///                 let mut n = counter.lock();
///                 let read = *n;
///                 greenlet::yield_now(); // others run, but cannot get in
///                 *n = read + 1;
///             }
///         })
///     })
///     .collect();
/// greenlet::joinall(workers);
/// assert_eq!(*counter.lock(), 1000);
/// ```
pub struct Mutex<T: ?Sized> {
    state: SpinLock<State>,
    value: UnsafeCell<T>,
}

struct State {
    locked: bool,
    waiters: WaitList,
}

fn waiters(s: &mut State) -> &mut WaitList {
    &mut s.waiters
}

// SAFETY: the value is only reached through a guard, and at most one guard exists at a time
// (`locked` under the state lock); moving the guard's access between threads needs T: Send.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: sharing `&Mutex` lets every thread lock it, and the guard hands out `&mut T` to one
// of them at a time: that moves T between threads, so T: Send suffices (as for std's Mutex).
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

// Unwind safe like `std::sync::Mutex`, so that code written for std's `catch_unwind` compiles
// unchanged. std backs that with poisoning; this mutex has none (see the type docs): a guard
// dropped by an unwind unlocks, and the next locker sees the value as the panicking code left it.
impl<T: ?Sized> std::panic::UnwindSafe for Mutex<T> {}
impl<T: ?Sized> std::panic::RefUnwindSafe for Mutex<T> {}

impl<T> Mutex<T> {
    /// A new unlocked mutex holding `value`.
    ///
    /// ```
    /// static COUNTER: greenlet::sync::Mutex<u32> = greenlet::sync::Mutex::new(0);
    /// *COUNTER.lock() += 1;
    /// assert_eq!(*COUNTER.lock(), 1);
    /// ```
    pub const fn new(value: T) -> Mutex<T> {
        Mutex {
            state: SpinLock::new(State {
                locked: false,
                waiters: WaitList::waiting_on(&"Mutex::lock"),
            }),
            value: UnsafeCell::new(value),
        }
    }

    /// The value, consuming the mutex.
    ///
    /// ```
    /// let m = greenlet::sync::Mutex::new(vec![1]);
    /// m.lock().push(2);
    /// assert_eq!(m.into_inner(), [1, 2]);
    /// ```
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks, waiting as long as it takes.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let total = Arc::new(greenlet::sync::Mutex::new(0));
    /// let adders: Vec<_> = (0..10)
    ///     .map(|_| {
    ///         let total = total.clone();
    ///         greenlet::spawn(move || {
    ///             let mut t = total.lock();
    ///             let read = *t;
    ///             greenlet::yield_now(); // others run, but cannot get in between
    ///             *t = read + 1;
    ///         })
    ///     })
    ///     .collect();
    /// greenlet::joinall(adders);
    /// assert_eq!(*total.lock(), 10);
    /// ```
    #[track_caller]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        crate::deadline::untimed(self.lock_until(None))
    }

    /// Locks if that needs no waiting.
    ///
    /// ```
    /// let m = greenlet::sync::Mutex::new(1);
    /// let held = m.lock();
    /// assert!(m.try_lock().is_none());
    /// drop(held);
    /// assert!(m.try_lock().is_some());
    /// ```
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        let mut s = self.state.lock();
        if s.locked {
            return None;
        }
        s.locked = true;
        Some(MutexGuard::new(self))
    }

    /// Locks, waiting at most `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let m = greenlet::sync::Mutex::new(());
    /// let held = m.lock();
    /// assert!(m.lock_timeout(Duration::from_millis(5)).is_none());
    /// drop(held);
    /// assert!(m.lock_timeout(Duration::from_millis(5)).is_some());
    /// ```
    #[track_caller]
    pub fn lock_timeout(&self, timeout: Duration) -> Option<MutexGuard<'_, T>> {
        self.lock_until(crate::deadline::after(timeout))
    }

    #[track_caller]
    fn lock_until(&self, deadline: Option<Instant>) -> Option<MutexGuard<'_, T>> {
        let mut s = self.state.lock();
        if !s.locked {
            s.locked = true;
            return Some(MutexGuard::new(self));
        }
        match park_in(&self.state, s, waiters, (), deadline) {
            // Handed over by the unlocker: we hold it now.
            Wake::Unparked => Some(MutexGuard::new(self)),
            Wake::TimedOut => None,
        }
    }

    /// The value, through exclusive access to the mutex (no locking needed).
    ///
    /// ```
    /// let mut m = greenlet::sync::Mutex::new(1);
    /// *m.get_mut() += 1; // no locking: `&mut` proves nobody else holds it
    /// assert_eq!(*m.lock(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    /// Whether the mutex is locked right now.
    ///
    /// ```
    /// let m = greenlet::sync::Mutex::new(());
    /// let guard = m.lock();
    /// assert!(m.is_locked());
    /// drop(guard);
    /// assert!(!m.is_locked());
    /// ```
    pub fn is_locked(&self) -> bool {
        self.state.lock().locked
    }

    /// Hands the lock to the first waiter still parked, or unlocks.
    fn unlock(&self) {
        let handed_to = {
            let mut s = self.state.lock();
            let next = s.waiters.wake_one();
            if next.is_none() {
                s.locked = false;
            }
            next
        };
        // The new owner runs once this is dropped, after the state lock.
        drop(handed_to);
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Mutex<T> {
        Mutex::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.try_lock() {
            Some(guard) => f.debug_struct("Mutex").field("value", &&*guard).finish(),
            None => f.debug_struct("Mutex").field("value", &"<locked>").finish(),
        }
    }
}

/// Access to a [`Mutex`]'s value; unlocks (handing the lock to the next waiter) when dropped.
///
/// ```
/// let m = greenlet::sync::Mutex::new(String::new());
/// {
///     let mut guard = m.lock();
///     guard.push_str("hi"); // DerefMut to the value
/// } // unlocked here
/// assert_eq!(*m.lock(), "hi");
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    /// Neither Send nor Sync by default; the impls below say when.
    _marker: PhantomData<*const ()>,
}

// SAFETY: releasing our mutex from another thread is fine (it is not an OS lock), so sending the
// guard is sending exclusive access to T: needs T: Send. Sharing &guard shares &T: needs T: Sync.
unsafe impl<T: ?Sized + Send> Send for MutexGuard<'_, T> {}
// SAFETY: see above: `&MutexGuard` gives only `&T`, so sharing it needs T: Sync.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    fn new(mutex: &'a Mutex<T>) -> MutexGuard<'a, T> {
        MutexGuard {
            mutex,
            _marker: PhantomData,
        }
    }

    /// The mutex this guard locks (used by `Condvar`).
    pub(crate) fn mutex(guard: &MutexGuard<'a, T>) -> &'a Mutex<T> {
        guard.mutex
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard is the one holder of the lock.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: this guard is the one holder of the lock.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.mutex.unlock();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
