//! [`AsyncResult`]: a value set once, waited for by many.

use std::fmt;
use std::time::{Duration, Instant};

use crate::park::{park_in, SpinLock, WaitList, Wake};

/// A write-once value that greenlets wait for, like `gevent.event.AsyncResult`.
///
/// The first [`set`](AsyncResult::set) wins and wakes every waiter; later ones are ignored.
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
    state: SpinLock<State<T>>,
}

struct State<T> {
    value: Option<T>,
    waiters: WaitList,
}

fn waiters<T>(s: &mut State<T>) -> &mut WaitList {
    &mut s.waiters
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
            state: SpinLock::new(State {
                value: None,
                waiters: WaitList::new(),
            }),
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
        let mut s = self.state.lock();
        if s.value.is_none() {
            s.value = Some(value);
            s.waiters.wake_all();
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
    pub fn get(&self) -> T {
        self.get_until(None)
            .expect("waiting without a deadline ends with a value")
    }

    /// Waits at most `timeout` for the value.
    ///
    /// ```
    /// use std::time::Duration;
    /// let r = greenlet::sync::AsyncResult::<u8>::new();
    /// assert_eq!(r.get_timeout(Duration::from_millis(5)), None);
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Option<T> {
        self.get_until(crate::deadline::after(timeout))
    }

    fn get_until(&self, deadline: Option<Instant>) -> Option<T> {
        let s = self.state.lock();
        if let Some(v) = &s.value {
            return Some(v.clone());
        }
        match park_in(&self.state, s, waiters, (), deadline) {
            Wake::Unparked | Wake::TimedOut => self.state.lock().value.clone(),
        }
    }

    /// The value if it is set.
    ///
    /// ```
    /// let r = greenlet::sync::AsyncResult::new();
    /// assert_eq!(r.try_get(), None);
    /// r.set('x');
    /// assert_eq!(r.try_get(), Some('x'));
    /// ```
    pub fn try_get(&self) -> Option<T> {
        self.state.lock().value.clone()
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
        self.state.lock().value.is_some()
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
