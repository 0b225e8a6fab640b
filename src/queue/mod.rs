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
//! All of them are built on the channel engine: direct hand-off to a parked getter, and a
//! parked putter's item moves into the queue as soon as there is room.

use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::channel::chan::{Chan, Fail, Store, Wait};

fn deadline(timeout: Duration) -> Wait {
    Wait::Until(Instant::now().checked_add(timeout))
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
    chan: Arc<Chan<T, S>>,
}

impl<T, S: Store<T>> Inner<T, S> {
    fn new(store: S, cap: Option<usize>) -> Self {
        Inner {
            chan: Arc::new(Chan::new(store, cap)),
        }
    }

    fn put(&self, item: T) {
        if let Err((_, why)) = self.chan.send(item, Wait::Until(None)) {
            unreachable!("a queue has no disconnection: {why:?}");
        }
    }

    fn put_wait(&self, item: T, wait: Wait) -> Result<(), T> {
        self.chan.send(item, wait).map_err(|(item, _)| item)
    }

    fn get(&self) -> T {
        match self.chan.recv(Wait::Until(None)) {
            Ok(item) => item,
            Err(why) => unreachable!("a queue has no disconnection: {why:?}"),
        }
    }

    fn get_wait(&self, wait: Wait) -> Option<T> {
        match self.chan.recv(wait) {
            Ok(item) => Some(item),
            Err(Fail::WouldBlock | Fail::Timeout) => None,
            Err(Fail::Disconnected) => unreachable!("a queue has no disconnection"),
        }
    }

    fn task_done(&self) {
        assert!(
            self.chan.task_done(),
            "task_done() called more times than there were items put in the queue"
        );
    }
}

/// Generates the identical API of the three queue types.
macro_rules! queue_type {
    ($(#[$doc:meta])* $name:ident, $store:ty, [$($bound:tt)*], $example:literal) => {
        $(#[$doc])*
        pub struct $name<T> {
            inner: Inner<T, $store>,
        }

        impl<T: $($bound)*> $name<T> {
            /// A queue with no size limit: `put` never waits.
            pub fn unbounded() -> Self {
                $name { inner: Inner::new(<$store>::new(), None) }
            }

            /// A queue holding at most `n` items: `put` waits while it is full.
            ///
            /// # Panics
            /// If `n` is 0 (use `unbounded()` for no limit).
            pub fn bounded(n: usize) -> Self {
                $name { inner: Inner::new(<$store>::new(), Some(check_capacity(n))) }
            }

            /// Puts an item, waiting while the queue is full.
            pub fn put(&self, item: T) {
                self.inner.put(item)
            }

            /// Puts an item if there is room now; hands it back otherwise.
            pub fn try_put(&self, item: T) -> Result<(), T> {
                self.inner.put_wait(item, Wait::Never)
            }

            /// Puts an item, waiting at most `timeout` for room; hands it back on timeout.
            pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), T> {
                self.inner.put_wait(item, deadline(timeout))
            }

            /// Takes an item, waiting until there is one.
            #[doc = $example]
            pub fn get(&self) -> T {
                self.inner.get()
            }

            /// Takes an item if there is one now.
            pub fn try_get(&self) -> Option<T> {
                self.inner.get_wait(Wait::Never)
            }

            /// Takes an item, waiting at most `timeout`.
            pub fn get_timeout(&self, timeout: Duration) -> Option<T> {
                self.inner.get_wait(deadline(timeout))
            }

            /// Marks one item taken by `get` as processed.
            ///
            /// # Panics
            /// If called more times than items were put (Python's `ValueError`).
            pub fn task_done(&self) {
                self.inner.task_done()
            }

            /// Waits until every item put has been marked done with `task_done`.
            pub fn join(&self) {
                self.inner.chan.join(None);
            }

            /// Like [`join`](Self::join), for at most `timeout`; true when all were done.
            pub fn join_timeout(&self, timeout: Duration) -> bool {
                self.inner.chan.join(Instant::now().checked_add(timeout))
            }

            /// How many items are queued.
            pub fn len(&self) -> usize {
                self.inner.chan.len()
            }

            /// Whether no item is queued.
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            /// Whether a bounded queue holds as many items as it may.
            pub fn is_full(&self) -> bool {
                self.capacity().is_some_and(|cap| self.len() >= cap)
            }

            /// The size limit; `None` when unbounded.
            pub fn capacity(&self) -> Option<usize> {
                self.inner.chan.capacity()
            }
        }

        impl<T> Clone for $name<T> {
            /// Another handle to the same queue.
            fn clone(&self) -> Self {
                $name { inner: Inner { chan: self.inner.chan.clone() } }
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
    VecDeque<T>,
    [Sized],
    "\n```\nlet q = greenlet::queue::Queue::unbounded();\nq.put(1);\nq.put(2);\nassert_eq!((q.get(), q.get()), (1, 2));\n```"
);

queue_type!(
    /// A queue that gives the greatest item first (like `BinaryHeap`), like
    /// `gevent.queue.PriorityQueue` with the order reversed to Rust's max-heap convention: wrap
    /// items in `std::cmp::Reverse` for smallest-first.
    PriorityQueue,
    BinaryHeap<T>,
    [Ord],
    "\n```\nlet q = greenlet::queue::PriorityQueue::unbounded();\nfor p in [3, 9, 1] {\n    q.put(p);\n}\nassert_eq!((q.get(), q.get(), q.get()), (9, 3, 1));\n```"
);

queue_type!(
    /// A last-in, first-out queue (a stack), like `gevent.queue.LifoQueue`.
    LifoQueue,
    Vec<T>,
    [Sized],
    "\n```\nlet q = greenlet::queue::LifoQueue::unbounded();\nq.put(1);\nq.put(2);\nassert_eq!((q.get(), q.get()), (2, 1));\n```"
);
