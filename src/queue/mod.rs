//! Queues with task tracking, like `gevent.queue` and Python's `queue` module.
//!
//! [`Queue`] is first in, first out; [`PriorityQueue`] gives the greatest item first (like
//! `BinaryHeap`); [`LifoQueue`] gives the newest first. Each has `unbounded()` and `bounded(n)`
//! (`put` waits while `n` items are queued), is `Clone` (clones share one queue), and tracks work:
//! every item put counts as unfinished until a consumer calls `task_done`, and `join` waits until
//! none is.
//!
//! ```
//! use greenlet::queue::Queue;
//!
//! let q = Queue::bounded(10);
//! let consumer = {
//!     let q = q.clone();
//!     greenlet::spawn(move || loop {
//!         let job: u32 = q.get();
//!         // ... work on the job ...
//!         let _ = job;
//!         q.task_done();
//!     })
//! };
//! for job in 0..100 {
//!     q.put(job);
//! }
//! q.join(); // every job was taken and marked done
//! consumer.kill();
//! ```
//!
//! `Queue` and `LifoQueue` are built on the channel engine: direct hand-off to a parked getter,
//! and a parked putter's item moves into the queue as soon as there is room. `PriorityQueue`
//! keeps its heap apart, under a lock that parks, because ordering it runs the user's `Ord`
//! (see `priority`).

mod priority;
pub(crate) mod unfinished;

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::channel::locked::{Fail, LockedChan, Store, Wait};
use priority::Heap;

fn deadline(timeout: Duration) -> Wait {
    Wait::Until(crate::deadline::after(timeout))
}

fn check_capacity(n: usize) -> usize {
    assert!(
        n >= 1,
        "a bounded queue needs a capacity of at least 1 (use unbounded() for no limit)"
    );
    n
}

/// The shared body of the three queue types, over their store.
struct Inner<T, S> {
    chan: Arc<LockedChan<T, S>>,
}

impl<T, S: Store<T> + Default> Inner<T, S> {
    fn new(cap: Option<usize>) -> Self {
        Inner {
            chan: Arc::new(LockedChan::new(S::default(), cap)),
        }
    }

    #[track_caller]
    fn put(&self, item: T) {
        if let Err((_, why)) = self.chan.send(item, Wait::Until(None)) {
            unreachable!("a queue has no disconnection: {why:?}");
        }
    }

    #[track_caller]
    fn put_wait(&self, item: T, wait: Wait) -> Result<(), T> {
        self.chan.send(item, wait).map_err(|(item, _)| item)
    }

    #[track_caller]
    fn get(&self) -> T {
        match self.chan.recv(Wait::Until(None)) {
            Ok(item) => item,
            Err(why) => unreachable!("a queue has no disconnection: {why:?}"),
        }
    }

    #[track_caller]
    fn get_wait(&self, wait: Wait) -> Option<T> {
        match self.chan.recv(wait) {
            Ok(item) => Some(item),
            Err(Fail::WouldBlock | Fail::Timeout) => None,
            Err(Fail::Disconnected) => unreachable!("a queue has no disconnection"),
        }
    }

    fn task_done(&self) -> bool {
        self.chan.task_done()
    }

    #[track_caller]
    fn join(&self, deadline: Option<std::time::Instant>) -> bool {
        self.chan.join(deadline)
    }

    fn len(&self) -> usize {
        self.chan.len()
    }

    fn capacity(&self) -> Option<usize> {
        self.chan.capacity()
    }
}

impl<T, S> Clone for Inner<T, S> {
    fn clone(&self) -> Self {
        Inner {
            chan: self.chan.clone(),
        }
    }
}

/// Generates the identical API of the three queue types.
macro_rules! queue_type {
    ($(#[$doc:meta])* $name:ident, $inner:ty, [$($bound:tt)*], $example:literal) => {
        $(#[$doc])*
        pub struct $name<T> {
            inner: $inner,
        }

        impl<T: $($bound)*> $name<T> {
            /// A queue with no size limit: `put` never waits.
            ///
            /// ```
            #[doc = concat!("let q = greenlet::queue::", stringify!($name), "::unbounded();")]
            /// for i in 0..1000 {
            ///     q.put(i); // never waits
            /// }
            /// assert_eq!(q.len(), 1000);
            /// ```
            pub fn unbounded() -> Self {
                $name { inner: <$inner>::new(None) }
            }

            /// A queue holding at most `n` items: `put` waits while it is full.
            ///
            /// # Panics
            /// If `n` is 0 (use `unbounded()` for no limit).
            ///
            /// ```
            #[doc = concat!("let q = greenlet::queue::", stringify!($name), "::<u8>::bounded(2);")]
            /// assert_eq!(q.capacity(), Some(2));
            /// ```
            pub fn bounded(n: usize) -> Self {
                $name { inner: <$inner>::new(Some(check_capacity(n))) }
            }

            /// Puts an item, waiting while the queue is full.
            ///
            /// ```
            #[doc = concat!("let q = greenlet::queue::", stringify!($name), "::bounded(1);")]
            /// q.put(1);
            /// let q2 = q.clone();
            /// let putter = greenlet::spawn(move || q2.put(2)); // waits for room
            /// assert_eq!(q.get(), 1);
            /// putter.join().unwrap();
            /// assert_eq!(q.get(), 2);
            /// ```
            #[track_caller]
            pub fn put(&self, item: T) {
                self.inner.put(item)
            }

            /// Puts an item if there is room now; hands it back otherwise.
            ///
            /// ```
            #[doc = concat!("let q = greenlet::queue::", stringify!($name), "::bounded(1);")]
            /// assert_eq!(q.try_put(1), Ok(()));
            /// assert_eq!(q.try_put(2), Err(2)); // full: put_nowait's queue.Full
            /// ```
            pub fn try_put(&self, item: T) -> Result<(), T> {
                self.inner.put_wait(item, Wait::Never)
            }

            /// Puts an item, waiting at most `timeout` for room; hands it back on timeout.
            ///
            /// ```
            /// use std::time::Duration;
            #[doc = concat!("let q = greenlet::queue::", stringify!($name), "::bounded(1);")]
            /// q.put(1);
            /// assert_eq!(q.put_timeout(2, Duration::from_millis(2)), Err(2));
            /// ```
            #[track_caller]
            pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), T> {
                self.inner.put_wait(item, deadline(timeout))
            }

            /// Takes an item, waiting until there is one.
            #[doc = $example]
            #[track_caller]
            pub fn get(&self) -> T {
                self.inner.get()
            }

            /// Takes an item if there is one now.
            ///
            /// ```
            #[doc = concat!("let q = greenlet::queue::", stringify!($name), "::unbounded();")]
            /// assert_eq!(q.try_get(), None); // get_nowait's queue.Empty
            /// q.put(5);
            /// assert_eq!(q.try_get(), Some(5));
            /// ```
            pub fn try_get(&self) -> Option<T> {
                self.inner.get_wait(Wait::Never)
            }

            /// Takes an item, waiting at most `timeout`.
            ///
            /// ```
            /// use std::time::Duration;
            #[doc = concat!("let q = greenlet::queue::", stringify!($name), "::<u8>::unbounded();")]
            /// assert_eq!(q.get_timeout(Duration::from_millis(2)), None);
            /// ```
            #[track_caller]
            pub fn get_timeout(&self, timeout: Duration) -> Option<T> {
                self.inner.get_wait(deadline(timeout))
            }

            /// Marks one item taken by `get` as processed.
            ///
            /// # Panics
            /// If called more times than items were put (Python's `ValueError`).
            ///
            /// ```
            #[doc = concat!("let q = greenlet::queue::", stringify!($name), "::unbounded();")]
            /// q.put(1);
            /// let _item = q.get();
            /// q.task_done(); // the item is processed
            /// q.join(); // returns at once: nothing outstanding
            /// ```
            pub fn task_done(&self) {
                assert!(
                    self.inner.task_done(),
                    "task_done() called more times than there were items put in the queue"
                );
            }

            /// Waits until every item put has been marked done with `task_done`.
            ///
            /// ```
            #[doc = concat!("let q = greenlet::queue::", stringify!($name), "::unbounded();")]
            /// for i in 0..10 {
            ///     q.put(i);
            /// }
            /// let worker = q.clone();
            /// greenlet::spawn(move || loop {
            ///     let _item = worker.get();
            ///     worker.task_done();
            /// });
            /// q.join(); // every item was taken and marked done
            /// assert!(q.is_empty());
            /// ```
            #[track_caller]
            pub fn join(&self) {
                self.inner.join(None);
            }

            /// Like [`join`](Self::join), for at most `timeout`; true when all were done.
            ///
            /// ```
            /// use std::time::Duration;
            #[doc = concat!("let q = greenlet::queue::", stringify!($name), "::unbounded();")]
            /// q.put(1); // nobody processes it
            /// assert!(!q.join_timeout(Duration::from_millis(2)));
            /// ```
            #[track_caller]
            pub fn join_timeout(&self, timeout: Duration) -> bool {
                self.inner.join(crate::deadline::after(timeout))
            }

            /// How many items are queued.
            ///
            /// ```
            #[doc = concat!("let q = greenlet::queue::", stringify!($name), "::unbounded();")]
            /// q.put(1);
            /// q.put(2);
            /// assert_eq!(q.len(), 2);
            /// ```
            pub fn len(&self) -> usize {
                self.inner.len()
            }

            /// Whether no item is queued.
            ///
            /// ```
            #[doc = concat!("let q = greenlet::queue::", stringify!($name), "::<i32>::unbounded();")]
            /// assert!(q.is_empty());
            /// ```
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            /// Whether a bounded queue holds as many items as it may.
            ///
            /// ```
            #[doc = concat!("let q = greenlet::queue::", stringify!($name), "::bounded(1);")]
            /// assert!(!q.is_full());
            /// q.put(1);
            /// assert!(q.is_full());
            /// ```
            pub fn is_full(&self) -> bool {
                self.capacity().is_some_and(|cap| self.len() >= cap)
            }

            /// The size limit; `None` when unbounded.
            ///
            /// ```
            #[doc = concat!("assert_eq!(greenlet::queue::", stringify!($name), "::<u8>::unbounded().capacity(), None);")]
            /// ```
            pub fn capacity(&self) -> Option<usize> {
                self.inner.capacity()
            }
        }

        impl<T> Clone for $name<T> {
            /// Another handle to the same queue.
            fn clone(&self) -> Self {
                $name { inner: self.inner.clone() }
            }
        }

        impl<T: $($bound)*> Default for $name<T> {
            fn default() -> Self {
                Self::unbounded()
            }
        }

        impl<T: $($bound)*> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("len", &self.len())
                    .field("capacity", &self.capacity())
                    .finish()
            }
        }
    };
}

queue_type!(
    /// A first-in, first-out queue shared between greenlets, like `gevent.queue.Queue`.
    Queue,
    Inner<T, VecDeque<T>>,
    [Sized],
    "\n```\nlet q = greenlet::queue::Queue::unbounded();\nq.put(1);\nq.put(2);\nassert_eq!((q.get(), q.get()), (1, 2));\n```"
);

queue_type!(
    /// A queue that gives the greatest item first (like `BinaryHeap`), like
    /// `gevent.queue.PriorityQueue` with the order reversed to Rust's max-heap convention: wrap
    /// items in `std::cmp::Reverse` for smallest-first.
    ///
    /// The items' `Ord` runs under a lock that parks, never under a spin lock: it may block. If
    /// it panics, the panic propagates from `put` (the item stays queued) or `get` (the item
    /// being taken is dropped; call `task_done` for it if you `join`), and the queue stays usable.
    PriorityQueue,
    Heap<T>,
    [Ord],
    "\n```\nlet q = greenlet::queue::PriorityQueue::unbounded();\nfor p in [3, 9, 1] {\n    q.put(p);\n}\nassert_eq!((q.get(), q.get(), q.get()), (9, 3, 1));\n```"
);

queue_type!(
    /// A last-in, first-out queue (a stack), like `gevent.queue.LifoQueue`.
    LifoQueue,
    Inner<T, Vec<T>>,
    [Sized],
    "\n```\nlet q = greenlet::queue::LifoQueue::unbounded();\nq.put(1);\nq.put(2);\nassert_eq!((q.get(), q.get()), (2, 1));\n```"
);
