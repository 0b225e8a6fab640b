//! [`AsyncResult`]: a value set once, waited for by many.
//!
//! The protocol: `set` stores the value under [`Mutex`] (this crate's, which parks), then raises
//! `ready` and wakes the [`WaitQueue`]. A getter waits on the queue until `ready`, then copies the
//! value under the same mutex.
//!
//! Why a greenlet-aware mutex and not the spin lock of the other primitives: copying the value
//! runs the user's `Clone`, which may park (a clone that takes a lock, or sleeps) or panic, and no
//! user code may run under a spin lock (a greenlet parked holding one wedges every greenlet that
//! spins on it, on a single worker for ever). Under [`Mutex`] a clone that parks only makes other
//! getters park too, and one that panics unlocks it on the way out; the value, read through `&T`,
//! is left as it was. The clones must still take turns, not run at once: `AsyncResult<T>` is
//! `Sync` for every `T: Send`, so `T` need not be `Sync`.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::{Duration, Instant};

use crate::park::WaitQueue;
use crate::sync::Mutex;

/// A write-once value that greenlets wait for, like `gevent.event.AsyncResult`.
///
/// The first [`set`](AsyncResult::set) wins and wakes every waiter; later ones are ignored.
/// Getters receive clones; the value's `Clone` may block (it runs under no internal spin lock).
///
/// ```
/// use std::sync::Arc;
/// use greenlet::sync::AsyncResult;
///
/// let result = Arc::new(AsyncResult::new());
/// let r = result.clone();
/// let reader = greenlet::spawn(move || r.get());
/// result.set("first");
/// result.set("ignored");
/// assert_eq!(reader.join().unwrap(), "first");
/// assert_eq!(result.try_get(), Some("first"));
/// ```
pub struct AsyncResult<T: Clone> {
    /// The value once set; clones are made under this lock (see the module docs).
    value: Mutex<Option<T>>,
    /// Whether `value` is set: what waiters wait for.
    ready: AtomicBool,
    waiters: WaitQueue,
}

impl<T: Clone> AsyncResult<T> {
    /// A new result with no value yet.
    ///
    /// ```
    /// let r = greenlet::sync::AsyncResult::<i32>::new();
    /// assert!(!r.is_ready());
    /// ```
    pub const fn new() -> AsyncResult<T> {
        AsyncResult {
            value: Mutex::new(None),
            ready: AtomicBool::new(false),
            waiters: WaitQueue::waiting_on(&"AsyncResult::get"),
        }
    }

    /// Sets the value if none is set yet, and wakes every waiter.
    ///
    /// ```
    /// let r = greenlet::sync::AsyncResult::new();
    /// r.set("first");
    /// r.set("second"); // ignored: the first value stays
    /// assert_eq!(r.get(), "first");
    /// ```
    pub fn set(&self, value: T) {
        let refused = {
            let mut slot = self.value.lock();
            if slot.is_some() {
                Some(value)
            } else {
                *slot = Some(value);
                None
            }
        };
        match refused {
            // Dropped with no lock held: its Drop is user code too.
            Some(value) => drop(value),
            None => {
                self.ready.store(true, SeqCst);
                self.waiters.notify_all();
            }
        }
    }

    /// Waits for the value and returns a copy.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let r = Arc::new(greenlet::sync::AsyncResult::new());
    /// let r2 = r.clone();
    /// greenlet::spawn(move || r2.set(6 * 7));
    /// assert_eq!(r.get(), 42); // waits for the value
    /// ```
    #[track_caller]
    pub fn get(&self) -> T {
        crate::deadline::untimed(self.get_until(None))
    }

    /// Waits at most `timeout` for the value. (The timeout bounds the wait for the value to be
    /// set; making the copy may then wait for other getters' `Clone`s to finish.)
    ///
    /// ```
    /// use std::time::Duration;
    /// let r = greenlet::sync::AsyncResult::<u8>::new();
    /// assert_eq!(r.get_timeout(Duration::from_millis(5)), None);
    /// ```
    #[track_caller]
    pub fn get_timeout(&self, timeout: Duration) -> Option<T> {
        self.get_until(crate::deadline::after(timeout))
    }

    #[track_caller]
    fn get_until(&self, deadline: Option<Instant>) -> Option<T> {
        if !self.waiters.wait_until(deadline, || self.is_ready()) {
            return None;
        }
        self.copy()
    }

    /// A clone of the value, made under the value's mutex (see the module docs).
    fn copy(&self) -> Option<T> {
        self.value.lock().as_ref().cloned()
    }

    /// The value if it is set. Does not wait for the value; it may wait for another getter's
    /// `Clone` of it to finish.
    ///
    /// ```
    /// let r = greenlet::sync::AsyncResult::new();
    /// assert_eq!(r.try_get(), None);
    /// r.set('x');
    /// assert_eq!(r.try_get(), Some('x'));
    /// ```
    pub fn try_get(&self) -> Option<T> {
        if !self.is_ready() {
            return None;
        }
        self.copy()
    }

    /// Whether the value is set.
    ///
    /// ```
    /// let r = greenlet::sync::AsyncResult::new();
    /// assert!(!r.is_ready());
    /// r.set(());
    /// assert!(r.is_ready());
    /// ```
    pub fn is_ready(&self) -> bool {
        self.ready.load(SeqCst)
    }
}

/// Ready once set (see [`wait_any`](crate::wait_any)).
impl<T: Clone> crate::wait::Sealed for AsyncResult<T> {
    fn ready_since(&self, _: u64) -> bool {
        self.is_ready()
    }
    fn waiters(&self) -> crate::wait::Waiters<'_> {
        crate::wait::waiters(&self.waiters)
    }
}

impl<T: Clone> Default for AsyncResult<T> {
    fn default() -> AsyncResult<T> {
        AsyncResult::new()
    }
}

impl<T: Clone + fmt::Debug> fmt::Debug for AsyncResult<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncResult")
            .field("value", &self.try_get())
            .finish()
    }
}
