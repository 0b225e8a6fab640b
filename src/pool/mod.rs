//! Groups of greenlets: [`Pool`] caps how many run at once, [`Group`] only tracks them; both can
//! join, kill and map over them. Like `gevent.pool`.
//!
//! # Members, kills and in-flight spawns
//!
//! A group keeps a reference to each member's task (pruned lazily once finished) and counts the
//! members whose function has not ended (`running`, what `len` reports). A Pool's slots are
//! permits of a [`Semaphore`]: a spawn waits for one in the caller, like gevent's `Pool.spawn`,
//! and the member's function gives it back when it ends, panics, is killed, or is dropped
//! unstarted.
//!
//! `kill` must leave nothing of the group running or starting once it returns, also when
//! another greenlet is in the middle of a `map` or an `imap_unordered` feeder goes on spawning.
//! So each kill bumps the group's *kill epoch*. Every spawn (and every `map` and
//! `imap_unordered`, for all its items) remembers the epoch it began in; after it got its slot
//! it checks, under the members lock, that no kill came in between, and counts itself in
//! `running` in the same critical section. A spawn that lost that race starts nothing: `spawn`
//! returns a greenlet already killed, `map` stops spawning and panics, a feeder stops. A spawn
//! that won it is counted, so `kill` (which bumps the epoch first) waits for it to register
//! and then kills it. `imap_unordered` feeders are tracked too: `kill` kills them and `join`
//! waits for them.
//!
//! The members lock is a `std::sync::Mutex`, not a spin lock: pruning and snapshotting walk
//! every member (O(n) per call, longer than a spin lock should be held), and a contended locker
//! is better off sleeping. No user code runs under it and nothing parks there: task references
//! that may be the last ones (dropping a finished greenlet's result) are collected and dropped
//! after the lock is released (see `release`).

use std::any::Any;
use std::fmt;
use std::mem;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use crate::channel;
use crate::park::{lock, KillUnwind, TimeoutUnwind};
use crate::runtime::TaskRef;
use crate::sync::{OwnedSemaphorePermit, Semaphore};
use crate::{spawn as spawn_greenlet, Greenlet};

/// Prune finished members once the list reaches this length, then at each doubling.
const PRUNE_AT: usize = 64;

/// What a Pool and a Group share: the members, and for a Pool the slots.
struct Tracker {
    /// `Some` for a Pool: one permit per running greenlet.
    slots: Option<Arc<Semaphore>>,
    size: usize,
    members: StdMutex<Members>,
    /// Kills so far: the epoch a spawn checks against (changed under `members`).
    kills: AtomicU64,
    /// Members whose function has not ended yet (what `len` reports), spawns in flight
    /// included.
    running: Arc<AtomicUsize>,
    /// `imap_unordered` feeders not finished, those in flight included.
    feeding: Arc<AtomicUsize>,
}

/// The tasks of a group, under its lock.
struct Members {
    /// Greenlets spawned through this group; finished ones are pruned lazily.
    tasks: Vec<TaskRef>,
    /// `imap_unordered` feeders; finished ones are pruned lazily.
    feeders: Vec<TaskRef>,
}

impl Members {
    /// Takes the finished tasks out (to be released after the lock).
    fn prune(&mut self) -> Vec<TaskRef> {
        let mut dead = Vec::new();
        for list in [&mut self.tasks, &mut self.feeders] {
            let mut i = 0;
            while i < list.len() {
                if list[i].header.is_done() {
                    dead.push(list.swap_remove(i));
                } else {
                    i += 1;
                }
            }
        }
        dead
    }
}

/// Drops task references outside any lock. The last reference to a finished greenlet whose
/// handle is gone also drops its result, which is user code: a panic there is logged (the
/// greenlet is over; its caller is not ours to disturb), and a kill or timeout that unwinds out
/// of a destructor that parks goes on once the rest are released.
fn release(tasks: Vec<TaskRef>) {
    let mut interrupt = None;
    for task in tasks {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(task))) {
            if payload.is::<KillUnwind>() || payload.is::<TimeoutUnwind>() {
                interrupt.get_or_insert(payload);
            } else {
                log::error!("pool: the result of a finished greenlet panicked while dropped");
            }
        }
    }
    if let Some(payload) = interrupt {
        resume_unwind(payload);
    }
}

/// Task references handed out of the lock; released (see [`release`]) when dropped, also by
/// an unwind out of a wait on them.
struct Snapshot(Vec<TaskRef>);

impl Drop for Snapshot {
    fn drop(&mut self) {
        release(mem::take(&mut self.0));
    }
}

/// A greenlet that never ran and never will: what a spawn overtaken by a kill returns.
fn killed_greenlet<F, T>(f: F) -> Greenlet<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    // A start beyond the end of time: it is never scheduled, and the kill completes it with
    // `Killed` at once, dropping `f` here.
    let g = crate::spawn_later(Duration::MAX, f);
    g.kill();
    g
}

impl Tracker {
    fn new(size: Option<usize>) -> Tracker {
        Tracker {
            slots: size.map(|n| Arc::new(Semaphore::new(n))),
            size: size.unwrap_or(usize::MAX),
            members: StdMutex::new(Members {
                tasks: Vec::new(),
                feeders: Vec::new(),
            }),
            kills: AtomicU64::new(0),
            running: Arc::new(AtomicUsize::new(0)),
            feeding: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The current kill epoch.
    fn epoch(&self) -> u64 {
        self.kills.load(Ordering::SeqCst)
    }

    #[track_caller]
    fn spawn<F, T>(&self, f: F) -> Greenlet<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let epoch = self.epoch();
        self.spawn_in(epoch, f).unwrap_or_else(killed_greenlet)
    }

    /// Spawns `f` as a member, first waiting for a slot, unless the group was killed since
    /// `epoch` (then `f` comes back unstarted).
    #[track_caller]
    fn spawn_in<F, T>(&self, epoch: u64, f: F) -> Result<Greenlet<T>, F>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // Wait for a slot here, in the caller, like gevent's Pool.spawn.
        let permit = self.slots.as_ref().map(Semaphore::acquire_owned);
        if !self.count_in(epoch, &self.running) {
            drop(permit);
            return Err(f);
        }
        let slot = Slot {
            _permit: permit,
            running: self.running.clone(),
        };
        // The slot travels with the function: it is given back when the function ends, panics,
        // is killed, or is dropped without running (killed before it started).
        let g = spawn_greenlet(move || {
            let _slot = slot;
            f()
        });
        self.register(g.task(), |m| &mut m.tasks);
        Ok(g)
    }

    /// Counts a spawn in `counter` unless a kill came since `epoch`; under the members lock, so
    /// that a kill either refuses the spawn or sees it counted.
    fn count_in(&self, epoch: u64, counter: &AtomicUsize) -> bool {
        let _members = lock(&self.members);
        if self.kills.load(Ordering::SeqCst) != epoch {
            return false;
        }
        counter.fetch_add(1, Ordering::SeqCst);
        true
    }

    /// Adds a task to one of the lists (pruning now and then), releasing the pruned ones after
    /// the lock.
    fn register(&self, task: &TaskRef, list: fn(&mut Members) -> &mut Vec<TaskRef>) {
        let task = task.clone();
        let dead = {
            let mut members = lock(&self.members);
            let len = list(&mut members).len();
            let dead = if len >= PRUNE_AT && len.is_power_of_two() {
                members.prune()
            } else {
                Vec::new()
            };
            list(&mut members).push(task);
            dead
        };
        release(dead);
    }

    /// Members and feeders not yet finished (the finished ones are pruned and released).
    fn live(&self) -> Snapshot {
        let (live, dead) = {
            let mut members = lock(&self.members);
            let dead = members.prune();
            let live: Vec<TaskRef> = members
                .feeders
                .iter()
                .chain(&members.tasks)
                .cloned()
                .collect();
            (live, dead)
        };
        release(dead);
        Snapshot(live)
    }

    fn len(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    /// Whether nothing is left to wait for: no live member or feeder, and no spawn in flight
    /// (one counted but not registered yet). While one is in flight, lets it finish and returns
    /// false.
    fn settled(&self, live: &Snapshot) -> bool {
        if !live.0.is_empty() {
            return false;
        }
        if self.running.load(Ordering::SeqCst) == 0 && self.feeding.load(Ordering::SeqCst) == 0 {
            return true;
        }
        crate::yield_now();
        false
    }

    #[track_caller]
    fn join(&self) {
        loop {
            let live = self.live();
            if self.settled(&live) {
                return;
            }
            for t in &live.0 {
                t.header.wait_done(None);
            }
        }
    }

    #[track_caller]
    fn kill(&self) {
        {
            // Under the lock: a spawn checks the epoch and counts itself in under it too.
            let _members = lock(&self.members);
            self.kills.fetch_add(1, Ordering::SeqCst);
        }
        loop {
            let live = self.live();
            if self.settled(&live) {
                return;
            }
            // Feeders come first in the snapshot: killed before they spawn more.
            for t in &live.0 {
                crate::runtime::kill(t);
            }
            for t in &live.0 {
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
        let epoch = self.epoch();
        let f = Arc::new(f);
        let mut handles: Vec<Greenlet<T>> = Vec::new();
        let mut cut_short = false;
        for item in items {
            let f = f.clone();
            match self.spawn_in(epoch, move || f(item)) {
                Ok(h) => handles.push(h),
                Err(unstarted) => {
                    // The pool was killed: the rest of the items never start.
                    drop(unstarted);
                    cut_short = true;
                    break;
                }
            }
        }
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
        match first_error {
            Some(crate::JoinError::Killed) => panic!("{KILLED_MAP}"),
            Some(e) => e.resume(),
            None if cut_short => panic!("{KILLED_MAP}"),
            None => results,
        }
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
        let epoch = self.epoch();
        // Taken here, so that any iterator works (a borrowing one, or one that is not Send).
        let items: Vec<I> = items.into_iter().collect();
        let expected = items.len();
        let (tx, rx) = channel::unbounded();
        if !self.count_in(epoch, &self.feeding) {
            // Killed in between (the items were collected first): nothing starts.
            drop((items, tx));
            return ImapUnordered {
                rx,
                expected,
                received: 0,
            };
        }
        let feeding = Feeding(self.feeding.clone());
        let f = Arc::new(f);
        let tracker = self.clone();
        // A feeder greenlet spawns the items, waiting for slots as the pool allows; each item
        // sends its outcome as soon as it is done. It stops at the first spawn a kill overtook.
        let feeder = spawn_greenlet(move || {
            let _feeding = feeding;
            for item in items {
                let (f, tx) = (f.clone(), tx.clone());
                let job = move || match catch_unwind(AssertUnwindSafe(|| f(item))) {
                    Ok(v) => {
                        let _ = tx.send(Ok(v));
                    }
                    // A kill of this greenlet must stay a kill.
                    Err(p) if p.is::<KillUnwind>() => resume_unwind(p),
                    Err(p) => {
                        let _ = tx.send(Err(p));
                    }
                };
                if tracker.spawn_in(epoch, job).is_err() {
                    break;
                }
            }
        });
        self.register(feeder.task(), |m| &mut m.feeders);
        ImapUnordered {
            rx,
            expected,
            received: 0,
        }
    }
}

/// What `map` and `imap_unordered` panic with when the pool was killed under them.
const KILLED_MAP: &str = "the pool was killed before every item of this map was done";

/// Membership of a running greenlet (and its pool slot, for a Pool).
struct Slot {
    _permit: Option<OwnedSemaphorePermit>,
    running: Arc<AtomicUsize>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        // Then the permit, if any, is given back.
        self.running.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Counts a feeder until it ends (or is dropped unstarted).
struct Feeding(Arc<AtomicUsize>);

impl Drop for Feeding {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The results of `imap_unordered`, in the order the greenlets finish.
///
/// A panic in the mapped function resumes in the caller when the iterator reaches it. If the
/// pool is killed before every item is done, the iterator panics once it has yielded the
/// results that came.
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
    expected: usize,
    received: usize,
}

impl<T> Iterator for ImapUnordered<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        if self.received == self.expected {
            return None;
        }
        let Ok(outcome) = self.rx.recv() else {
            // Every sender is gone with items missing: killed ones send nothing.
            self.expected = self.received;
            panic!("{KILLED_MAP}");
        };
        self.received += 1;
        match outcome {
            Ok(v) => Some(v),
            Err(payload) => resume_unwind(payload),
        }
    }
}

impl<T> fmt::Debug for ImapUnordered<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImapUnordered")
            .field("expected", &self.expected)
            .field("received", &self.received)
            .finish_non_exhaustive()
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
            #[track_caller]
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
            /// resumes in the caller when the iterator reaches it. The items are spawned by a
            /// feeder greenlet that [`join`](Self::join) waits for and [`kill`](Self::kill)
            /// kills; after a kill the iterator panics once it has yielded the results that came.
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
            #[track_caller]
            pub fn join(&self) {
                self.tracker.join()
            }

            /// Kills every greenlet spawned here and returns once all are dead. Once it returns,
            /// nothing started before it runs or starts: a spawn still waiting for a slot
            /// returns a greenlet killed before it ran, a `map` in progress (in another
            /// greenlet) spawns no more items and panics, and the iterator of an
            /// `imap_unordered` stops spawning and panics once it has yielded the results that
            /// came. The group stays usable: later spawns run as usual.
            ///
            /// ```
            #[doc = concat!("let group = greenlet::pool::", $make, ";")]
            /// let g = group.spawn(|| greenlet::sleep(std::time::Duration::from_secs(3600)));
            /// group.kill();
            /// assert!(g.join().unwrap_err().is_killed());
            /// assert!(group.is_empty());
            /// ```
            #[track_caller]
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
    "Spawns `f` in the pool, first waiting while the pool is full. If the pool is killed while \
     this waits, the greenlet returned was killed before it ran.",
    "Runs `f` on every item in the pool and returns the results in input order. A panic in `f` \
     resumes here once the other items are done; if the pool is killed meanwhile, no more items \
     start and this panics."
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
     in `f` resumes here once the other items are done; if the group is killed meanwhile, this \
     panics."
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::time::{Duration, Instant};

    fn wait_for(mut cond: impl FnMut() -> bool) {
        let t0 = Instant::now();
        while !cond() {
            assert!(t0.elapsed() < Duration::from_secs(10), "timed out");
            crate::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn a_spawn_waiting_for_a_slot_when_the_pool_is_killed_never_runs() {
        // Before the fix it got the slot that the kill freed and ran after kill returned.
        let pool = Pool::new(1);
        let _blocker = pool.spawn(|| crate::sleep(Duration::from_secs(3600)));
        let ran = Arc::new(AtomicBool::new(false));
        let (p, r) = (pool.clone(), ran.clone());
        let waiting = crate::spawn(move || p.spawn(move || r.store(true, Ordering::SeqCst)).join());
        let slots = pool.tracker.slots.clone().unwrap();
        wait_for(|| slots.waiting() == 1);
        pool.kill();
        assert!(waiting.join().unwrap().unwrap_err().is_killed());
        assert!(!ran.load(Ordering::SeqCst));
        assert_eq!(pool.free_count(), 1);
        // A spawn after the kill runs as usual.
        assert_eq!(pool.spawn(|| 5).join().unwrap(), 5);
    }

    struct PanicsOnDrop;

    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            panic!("a detached result panics in drop");
        }
    }

    #[test]
    fn a_pruned_result_is_dropped_outside_the_lock_and_its_panic_logged() {
        // The group's reference to a finished greenlet may be the last one. Pruning it must run
        // no user code under the members mutex: the result of a finished greenlet is dropped by
        // its handle's owner (here, where the panic belongs), never with the last task reference.
        let group = Group::new();
        let g = group.spawn(|| PanicsOnDrop);
        g.wait();
        let task = g.task().clone();
        let dropped = std::panic::catch_unwind(AssertUnwindSafe(move || drop(g)));
        assert!(
            dropped.is_err(),
            "the result's destructor runs in the handle's owner"
        );
        // Wait until the worker has let its run reference go.
        wait_for(|| Arc::strong_count(&task) == 2);
        drop(task);
        group.join();
        assert!(group.is_empty());
        // The lock is free and the group works.
        assert_eq!(group.map(|x: u32| x + 1, [1]), [2]);
    }
}
