//! [`Event`]: a flag that greenlets wait on until it is set.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use crate::park::WaitQueue;

/// A flag greenlets can wait for, like `gevent.event.Event` and `threading.Event`.
///
/// [`set`](Event::set) wakes every waiter; waiters that arrive while it is set return at once
/// until [`clear`](Event::clear). A waiter woken by `set` returns even if the event is cleared
/// again before it runs.
///
/// ```
/// use std::sync::Arc;
/// use greenlet::sync::Event;
///
/// let ready = Arc::new(Event::new());
/// let waiters: Vec<_> = (0..5)
///     .map(|i| {
///         let ready = ready.clone();
///         greenlet::spawn(move || {
///             ready.wait();
///             i
///         })
///     })
///     .collect();
/// ready.set();
/// let ids: Vec<i32> = greenlet::joinall(waiters).into_iter().map(Result::unwrap).collect();
/// assert_eq!(ids, [0, 1, 2, 3, 4]);
/// ```
pub struct Event {
    /// Bit 0: the flag. Bits 1..: how many times it went from clear to set.
    state: AtomicU64,
    waiters: WaitQueue,
}

impl Event {
    /// A new, clear event.
    ///
    /// ```
    /// let e = greenlet::sync::Event::new();
    /// assert!(!e.is_set());
    /// ```
    pub const fn new() -> Event {
        Event {
            state: AtomicU64::new(0),
            waiters: WaitQueue::waiting_on(&"Event::wait"),
        }
    }

    /// Sets the flag and wakes every waiter.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let e = Arc::new(greenlet::sync::Event::new());
    /// let e2 = e.clone();
    /// let waiter = greenlet::spawn(move || e2.wait());
    /// e.set(); // wakes the waiter
    /// waiter.join().unwrap();
    /// assert!(e.is_set());
    /// ```
    pub fn set(&self) {
        let mut cur = self.state.load(SeqCst);
        loop {
            if cur & 1 == 1 {
                return;
            }
            match self
                .state
                .compare_exchange_weak(cur, (cur + 2) | 1, SeqCst, SeqCst)
            {
                Ok(_) => break,
                Err(actual) => cur = actual,
            }
        }
        self.waiters.notify_all();
    }

    /// Clears the flag; later waiters wait for the next `set`.
    ///
    /// ```
    /// let e = greenlet::sync::Event::new();
    /// e.set();
    /// e.clear();
    /// assert!(!e.is_set());
    /// ```
    pub fn clear(&self) {
        self.state.fetch_and(!1, SeqCst);
    }

    /// Whether the flag is set.
    ///
    /// ```
    /// let e = greenlet::sync::Event::new();
    /// assert!(!e.is_set());
    /// e.set();
    /// assert!(e.is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        self.state.load(SeqCst) & 1 == 1
    }

    /// Waits until the flag is set.
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// let started = Arc::new(greenlet::sync::Event::new());
    /// let s = started.clone();
    /// let worker = greenlet::spawn(move || {
    ///     s.set(); // "I am running"
    ///     greenlet::sleep(Duration::from_millis(5));
    /// });
    /// started.wait(); // returns once the worker has started
    /// worker.join().unwrap();
    /// ```
    #[track_caller]
    pub fn wait(&self) {
        self.wait_deadline(None);
    }

    /// Waits at most `d`; true when the event was set.
    ///
    /// ```
    /// use std::time::Duration;
    /// let e = greenlet::sync::Event::new();
    /// assert!(!e.wait_timeout(Duration::from_millis(5)));
    /// e.set();
    /// assert!(e.wait_timeout(Duration::from_millis(5)));
    /// ```
    #[track_caller]
    pub fn wait_timeout(&self, d: Duration) -> bool {
        self.wait_deadline(crate::deadline::after(d))
    }

    #[track_caller]
    fn wait_deadline(&self, deadline: Option<Instant>) -> bool {
        let start = self.state.load(SeqCst);
        if start & 1 == 1 {
            return true;
        }
        // Set now, or set (and maybe cleared again) since we started waiting.
        self.waiters.wait_until(deadline, || {
            let now = self.state.load(SeqCst);
            now & 1 == 1 || now >> 1 != start >> 1
        })
    }
}

/// Ready while set, or once set since the wait began (see [`wait_any`](crate::wait_any)).
impl crate::wait::Sealed for Event {
    fn mark(&self) -> u64 {
        self.state.load(SeqCst)
    }
    fn ready_since(&self, mark: u64) -> bool {
        let now = self.state.load(SeqCst);
        now & 1 == 1 || now >> 1 != mark >> 1
    }
    fn waiters(&self) -> crate::wait::Waiters<'_> {
        crate::wait::waiters(&self.waiters)
    }
}

impl Default for Event {
    fn default() -> Event {
        Event::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.is_set())
            .finish()
    }
}
