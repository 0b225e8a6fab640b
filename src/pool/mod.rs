//! Groups of greenlets: [`Pool`] caps how many run at once, [`Group`] only tracks them; both can
//! join, kill and map over them. Like `gevent.pool`.

use std::any::Any;
use std::fmt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex};

use crate::channel;
use crate::park::{lock, KillUnwind};
use crate::runtime::TaskRef;
use crate::sync::Semaphore;
use crate::{spawn as spawn_greenlet, Greenlet};

/// What a Pool and a Group share: the members, and for a Pool the slots.
struct Tracker {
    /// `Some` for a Pool: one permit per running greenlet.
    slots: Option<Arc<Semaphore>>,
    size: usize,
    /// Greenlets spawned through this group; finished ones are pruned lazily.
    members: StdMutex<Vec<TaskRef>>,
    /// Members whose function has not ended yet (what `len` reports).
    running: Arc<AtomicUsize>,
}

impl Tracker {
    fn new(size: Option<usize>) -> Tracker {
        Tracker {
            slots: size.map(|n| Arc::new(Semaphore::new(n))),
            size: size.unwrap_or(usize::MAX),
            members: StdMutex::new(Vec::new()),
            running: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn spawn<F, T>(&self, f: F) -> Greenlet<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // Wait for a slot here, in the caller, like gevent's Pool.spawn.
        let sem = self.slots.as_ref().map(|sem| {
            sem.acquire().forget();
            sem.clone()
        });
        self.running.fetch_add(1, Ordering::SeqCst);
        let slot = Slot {
            sem,
            running: self.running.clone(),
        };
        // The slot travels with the function: it is given back when the function ends, panics,
        // is killed, or is dropped without running (killed before it started).
        let g = spawn_greenlet(move || {
            let _slot = slot;
            f()
        });
        let mut members = lock(&self.members);
        if members.len() >= 64 && members.len().is_power_of_two() {
            members.retain(|t| !t.header.is_done());
        }
        members.push(g.task().clone());
        g
    }

    /// Members not yet finished.
    fn live(&self) -> Vec<TaskRef> {
        let mut members = lock(&self.members);
        members.retain(|t| !t.header.is_done());
        members.clone()
    }

    fn len(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    /// Whether nothing is left to wait for: no live member, and no spawn in flight (one that
    /// took its slot but has not registered its greenlet yet; `len` already counts it). While
    /// one is in flight, lets it finish and returns false.
    fn settled(&self, live: &[TaskRef]) -> bool {
        if !live.is_empty() {
            return false;
        }
        if self.running.load(Ordering::SeqCst) == 0 {
            return true;
        }
        crate::yield_now();
        false
    }

    fn join(&self) {
        loop {
            let live = self.live();
            if self.settled(&live) {
                return;
            }
            for t in live {
                t.header.wait_done(None);
            }
        }
    }

    fn kill(&self) {
        loop {
            let live = self.live();
            if self.settled(&live) {
                return;
            }
            for t in &live {
                crate::runtime::kill(t);
            }
            for t in live {
                t.header.wait_done(None);
            }
        }
    }

    fn map<F, I, T>(&self, f: F, items: impl IntoIterator<Item = I>) -> Vec<T>
    where
        F: Fn(I) -> T + Send + Sync + 'static,
        I: Send + 'static,
        T: Send + 'static,
    {
        let f = Arc::new(f);
        let handles: Vec<Greenlet<T>> = items
            .into_iter()
            .map(|item| {
                let f = f.clone();
                self.spawn(move || f(item))
            })
            .collect();
        let mut results = Vec::with_capacity(handles.len());
        let mut first_error = None;
        for h in handles {
            match h.join() {
                Ok(v) => results.push(v),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            e.resume();
        }
        results
    }

    fn imap_unordered<F, I, T>(
        self: &Arc<Self>,
        f: F,
        items: impl IntoIterator<Item = I>,
    ) -> ImapUnordered<T>
    where
        F: Fn(I) -> T + Send + Sync + 'static,
        I: Send + 'static,
        T: Send + 'static,
    {
        // Taken here, so that any iterator works (a borrowing one, or one that is not Send).
        let items: Vec<I> = items.into_iter().collect();
        let (tx, rx) = channel::unbounded();
        let f = Arc::new(f);
        let tracker = self.clone();
        // A feeder greenlet spawns the items, waiting for slots as the pool allows; each item
        // sends its outcome as soon as it is done.
        spawn_greenlet(move || {
            for item in items {
                let (f, tx) = (f.clone(), tx.clone());
                tracker.spawn(move || {
                    match catch_unwind(AssertUnwindSafe(|| f(item))) {
                        Ok(v) => {
                            let _ = tx.send(Ok(v));
                        }
                        // A kill of this greenlet must stay a kill.
                        Err(p) if p.is::<KillUnwind>() => resume_unwind(p),
                        Err(p) => {
                            let _ = tx.send(Err(p));
                        }
                    }
                });
            }
        });
        ImapUnordered { rx }
    }
}

/// Membership of a running greenlet (and its pool slot, for a Pool).
struct Slot {
    sem: Option<Arc<Semaphore>>,
    running: Arc<AtomicUsize>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.running.fetch_sub(1, Ordering::SeqCst);
        if let Some(sem) = &self.sem {
            sem.add_permits(1);
        }
    }
}

/// The results of `imap_unordered`, in the order the greenlets finish.
///
/// A panic in the mapped function resumes in the caller when the iterator reaches it.
///
/// ```
/// let pool = greenlet::pool::Pool::new(2);
/// let results = pool.imap_unordered(|ms: u64| {
///     greenlet::sleep(std::time::Duration::from_millis(ms));
///     ms
/// }, [20, 1]);
/// assert_eq!(results.collect::<Vec<_>>(), [1, 20]); // fastest first
/// ```
pub struct ImapUnordered<T> {
    rx: channel::Receiver<Result<T, Box<dyn Any + Send>>>,
}

impl<T> Iterator for ImapUnordered<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        match self.rx.recv().ok()? {
            Ok(v) => Some(v),
            Err(payload) => resume_unwind(payload),
        }
    }
}

impl<T> fmt::Debug for ImapUnordered<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImapUnordered").finish_non_exhaustive()
    }
}

/// The methods Pool and Group share, delegating to their tracker.
macro_rules! tracked_methods {
    ($name:ident, $make:literal, $spawn_doc:expr, $map_doc:expr) => {
        impl $name {
            #[doc = $spawn_doc]
            ///
            /// ```
            #[doc = concat!("let group = greenlet::pool::", $make, ";")]
            /// let g = group.spawn(|| 2 + 2);
            /// assert_eq!(g.join().unwrap(), 4);
            /// ```
            pub fn spawn<F, T>(&self, f: F) -> Greenlet<T>
            where
                F: FnOnce() -> T + Send + 'static,
                T: Send + 'static,
            {
                self.tracker.spawn(f)
            }

            #[doc = $map_doc]
            ///
            /// ```
            #[doc = concat!("let group = greenlet::pool::", $make, ";")]
            /// assert_eq!(group.map(|s: &str| s.len(), ["a", "bb", "ccc"]), [1, 2, 3]);
            /// ```
            pub fn map<F, I, T>(&self, f: F, items: impl IntoIterator<Item = I>) -> Vec<T>
            where
                F: Fn(I) -> T + Send + Sync + 'static,
                I: Send + 'static,
                T: Send + 'static,
            {
                self.tracker.map(f, items)
            }

            /// Runs `f` on every item; yields the results as they complete. A panic in `f`
            /// resumes in the caller when the iterator reaches it.
            ///
            /// ```
            /// let pool = greenlet::pool::Pool::new(3);
            /// let mut out: Vec<u32> = pool.imap_unordered(|x: u32| x + 1, vec![1, 2, 3]).collect();
            /// out.sort();
            /// assert_eq!(out, [2, 3, 4]);
            /// ```
            pub fn imap_unordered<F, I, T>(
                &self,
                f: F,
                items: impl IntoIterator<Item = I>,
            ) -> impl Iterator<Item = T>
            where
                F: Fn(I) -> T + Send + Sync + 'static,
                I: Send + 'static,
                T: Send + 'static,
            {
                self.tracker.imap_unordered(f, items)
            }

            /// Waits until every greenlet spawned here has finished.
            ///
            /// ```
            /// use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
            /// use std::sync::Arc;
            #[doc = concat!("let group = greenlet::pool::", $make, ";")]
            /// let done = Arc::new(AtomicUsize::new(0));
            /// for _ in 0..5 {
            ///     let done = done.clone();
            ///     group.spawn(move || done.fetch_add(1, SeqCst));
            /// }
            /// group.join();
            /// assert_eq!(done.load(SeqCst), 5);
            /// ```
            pub fn join(&self) {
                self.tracker.join()
            }

            /// Kills every greenlet spawned here and returns once all are dead.
            ///
            /// ```
            #[doc = concat!("let group = greenlet::pool::", $make, ";")]
            /// let g = group.spawn(|| greenlet::sleep(std::time::Duration::from_secs(3600)));
            /// group.kill();
            /// assert!(g.join().unwrap_err().is_killed());
            /// assert!(group.is_empty());
            /// ```
            pub fn kill(&self) {
                self.tracker.kill()
            }

            /// How many greenlets spawned here have not finished yet (for a Pool, never more
            /// than its size).
            ///
            /// ```
            #[doc = concat!("let group = greenlet::pool::", $make, ";")]
            /// let g = group.spawn(|| greenlet::sleep(std::time::Duration::from_millis(20)));
            /// assert_eq!(group.len(), 1);
            /// g.join().unwrap();
            /// ```
            pub fn len(&self) -> usize {
                self.tracker.len()
            }

            /// Whether no greenlet spawned here is running.
            ///
            /// ```
            #[doc = concat!("let group = greenlet::pool::", $make, ";")]
            /// assert!(group.is_empty());
            /// ```
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }
        }
    };
}

/// At most `size` greenlets at a time, like `gevent.pool.Pool`.
///
/// [`spawn`](Pool::spawn) waits while `size` greenlets of the pool are running.
///
/// ```
/// use greenlet::pool::Pool;
/// let pool = Pool::new(4);
/// let squares = pool.map(|x: u64| x * x, 1..=10);
/// assert_eq!(squares, [1, 4, 9, 16, 25, 36, 49, 64, 81, 100]); // input order
/// ```
#[derive(Clone)]
pub struct Pool {
    tracker: Arc<Tracker>,
}

impl Pool {
    /// A pool running at most `size` greenlets at once.
    ///
    /// # Panics
    /// If `size` is 0: such a pool could never run anything.
    ///
    /// ```
    /// let pool = greenlet::pool::Pool::new(3);
    /// assert_eq!(pool.size(), 3);
    /// ```
    pub fn new(size: usize) -> Pool {
        assert!(size >= 1, "a Pool needs a size of at least 1");
        Pool {
            tracker: Arc::new(Tracker::new(Some(size))),
        }
    }

    /// How many more greenlets could start now without waiting.
    ///
    /// ```
    /// let pool = greenlet::pool::Pool::new(2);
    /// let g = pool.spawn(|| greenlet::sleep(std::time::Duration::from_millis(20)));
    /// assert_eq!(pool.free_count(), 1);
    /// g.join().unwrap();
    /// ```
    pub fn free_count(&self) -> usize {
        self.tracker
            .slots
            .as_ref()
            .map_or(usize::MAX, |s| s.available_permits())
    }

    /// The pool's size.
    ///
    /// ```
    /// assert_eq!(greenlet::pool::Pool::new(8).size(), 8);
    /// ```
    pub fn size(&self) -> usize {
        self.tracker.size
    }
}

tracked_methods!(
    Pool,
    "Pool::new(2)",
    "Spawns `f` in the pool, first waiting while the pool is full.",
    "Runs `f` on every item in the pool and returns the results in input order. A panic in `f` \
     resumes here once the other items are done."
);

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("size", &self.size())
            .field("len", &self.len())
            .finish()
    }
}

/// A set of greenlets to join or kill together, like `gevent.pool.Group` (a Pool without a
/// size limit).
///
/// ```
/// use greenlet::pool::Group;
/// let group = Group::new();
/// for i in 0..5 {
///     group.spawn(move || greenlet::sleep(std::time::Duration::from_millis(i)));
/// }
/// group.join();
/// assert_eq!(group.len(), 0);
/// ```
#[derive(Clone)]
pub struct Group {
    tracker: Arc<Tracker>,
}

impl Group {
    /// An empty group.
    ///
    /// ```
    /// let group = greenlet::pool::Group::new();
    /// let handles: Vec<_> = (0..100).map(|i| group.spawn(move || i)).collect();
    /// group.join(); // no size limit: all 100 ran at once
    /// assert_eq!(greenlet::joinall(handles).len(), 100);
    /// ```
    pub fn new() -> Group {
        Group {
            tracker: Arc::new(Tracker::new(None)),
        }
    }
}

tracked_methods!(
    Group,
    "Group::new()",
    "Spawns `f` as a member of the group.",
    "Runs `f` on every item, one greenlet each, and returns the results in input order. A panic \
     in `f` resumes here once the other items are done."
);

impl Default for Group {
    fn default() -> Group {
        Group::new()
    }
}

impl fmt::Debug for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group").field("len", &self.len()).finish()
    }
}
