//! Putting idle workers to sleep and waking them, without lost wake-ups and without spinning.
//!
//! The protocol (after tokio's `idle` module and Go's `wakep`):
//!
//! * A worker out of work first *searches* (steals, fires timers) for a short while. At most half
//!   the workers search at once; a push while someone searches needs no wake-up, since the
//!   searcher will find it.
//! * A worker that gives up registers as a sleeper, issues a SeqCst fence, and checks every queue
//!   and timer once more before it blocks. A producer pushes, issues a SeqCst fence, then reads the
//!   counters. One of the two sees the other: either the sleeper sees the work, or the producer
//!   sees the sleeper and wakes it.
//! * A sleeper blocks until the earliest timer of any worker (`horizon`); a timer added earlier
//!   than that wakes one sleeper so that it recomputes.
//! * Work that only one worker may run (a started greenlet woken from another thread goes to its
//!   home's inbox) wakes that very worker: the waker pushes, fences, and reads the worker's
//!   `sleeping` flag; the worker sets the flag in [`Idle::register_sleeper`] (then a fence) before
//!   its last look at its inbox. Either the worker sees the greenlet, or the waker sees the flag
//!   and wakes it with [`Idle::wake_worker`].

use std::sync::OnceLock;
use std::thread::Thread;

use crate::loom::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use crate::loom::sync::Mutex;
use crate::loom::thread as sleep_thread;

use crate::io::Driver;
use crate::runtime::NO_DEADLINE;

/// Shared idle bookkeeping.
pub(crate) struct Idle {
    sleepers: Mutex<Vec<usize>>,
    num_sleeping: AtomicUsize,
    num_searching: AtomicUsize,
    /// The earliest deadline some sleeper will wake at by itself ([`NO_DEADLINE`]: none).
    horizon: AtomicU64,
    /// Workers with a running thread: the configured ones plus the active extra ones.
    workers: AtomicUsize,
}

/// How one worker is put to sleep and woken.
pub(crate) struct Sleeper {
    pub(crate) thread: OnceLock<Thread>,
    /// Under loom: the model's thread that sleeps here (a loom thread has no std handle).
    #[cfg(loom)]
    pub(crate) model_thread: OnceLock<crate::loom::thread::Thread>,
    notified: AtomicBool,
    /// True while the worker sleeps in the IO poller rather than in `thread::park`.
    polling: AtomicBool,
    /// True while the worker is registered as a sleeper (see the module docs).
    sleeping: AtomicBool,
}

impl Sleeper {
    pub(crate) fn new() -> Sleeper {
        Sleeper {
            thread: OnceLock::new(),
            #[cfg(loom)]
            model_thread: OnceLock::new(),
            notified: AtomicBool::new(false),
            polling: AtomicBool::new(false),
            sleeping: AtomicBool::new(false),
        }
    }

    /// Whether the worker is registered as a sleeper now (SeqCst: see the module docs).
    pub(crate) fn is_sleeping(&self) -> bool {
        self.sleeping.load(SeqCst)
    }

    /// Wakes this worker if it sleeps; makes its next sleep return at once otherwise.
    ///
    /// `notified` is stored before `polling` is read, and the sleeper stores `polling` before it
    /// reads `notified` (all SeqCst): either the sleeper sees the wake-up, or the waker sees
    /// where it sleeps.
    ///
    /// A swap rather than a store: the same instruction on x86-64 (a SeqCst store is an `xchg`),
    /// and a read-modify-write is what loom needs to order it against the sleeper's swaps (loom
    /// keeps a partial modification order, in which a later swap of the sleeper could read its
    /// own earlier `false` instead of this `true`, although the unpark orders this store before
    /// it: a false deadlock in the idle models).
    pub(crate) fn wake(&self, io: &Driver) {
        self.notified.swap(true, SeqCst);
        if self.polling.load(SeqCst) {
            io.wake();
        } else {
            #[cfg(loom)]
            if let Some(t) = self.model_thread.get() {
                t.unpark();
                return;
            }
            if let Some(t) = self.thread.get() {
                t.unpark();
            }
        }
    }

    /// Sleeps in the IO poller until an event, a wake-up or `deadline`. False, at once, if
    /// another thread holds the poller: the caller sleeps with [`sleep`](Sleeper::sleep).
    pub(crate) fn sleep_polling(&self, deadline: u64, now: impl Fn() -> u64, io: &Driver) -> bool {
        self.polling.store(true, SeqCst);
        if self.notified.swap(false, SeqCst) {
            self.polling.store(false, SeqCst);
            return true;
        }
        let timeout = (deadline != NO_DEADLINE)
            .then(|| std::time::Duration::from_nanos(deadline.saturating_sub(now())));
        let polled = io.poll(timeout).is_some();
        self.polling.store(false, SeqCst);
        if polled {
            // Awake now: a wake-up that arrived meanwhile is spent.
            self.notified.store(false, SeqCst);
        }
        polled
    }

    /// Blocks the calling worker thread until woken or `deadline` (ns since the epoch) passes.
    pub(crate) fn sleep(&self, deadline: u64, now: impl Fn() -> u64) {
        loop {
            if self.notified.swap(false, SeqCst) {
                return;
            }
            if deadline == NO_DEADLINE {
                sleep_thread::park();
            } else {
                let n = now();
                if n >= deadline {
                    return;
                }
                sleep_thread::park_timeout(std::time::Duration::from_nanos(deadline - n));
            }
        }
    }
}

impl Idle {
    pub(crate) fn new(workers: usize) -> Idle {
        Idle {
            sleepers: Mutex::new(Vec::with_capacity(workers)),
            num_sleeping: AtomicUsize::new(0),
            num_searching: AtomicUsize::new(0),
            horizon: AtomicU64::new(NO_DEADLINE),
            workers: AtomicUsize::new(workers),
        }
    }

    /// After new work was made visible: wakes a sleeper unless a worker is already searching.
    ///
    /// Two loads of two words, not one snapshot, and that is enough: each condition alone
    /// justifies skipping the wake-up. `num_sleeping == 0`: a worker that goes to sleep
    /// registers, fences and looks at the queues; if its fence comes after ours in the SeqCst
    /// order it sees the work, otherwise our load (after our fence) sees its registration. A
    /// searcher seen: it has yet to end its search, and a searcher that ends without work
    /// registers and looks once more the same way (a sleeper whose last look finds work passes
    /// a wake-up on, see `worker::sleep`). A stale pair (one worker moving from searching to
    /// sleeping between the two loads) only makes us see one state or the other, each safe.
    /// The loom models `loom_idle_*` below check it.
    pub(crate) fn notify_one(&self, sleepers: &[Sleeper], io: &Driver) {
        fence(SeqCst);
        if self.num_searching.load(SeqCst) != 0 || self.num_sleeping.load(SeqCst) == 0 {
            return;
        }
        self.wake_one(sleepers, io);
    }

    /// After a timer due at `at` was added: wakes a sleeper if none would wake by then.
    pub(crate) fn notify_timer(&self, at: u64, sleepers: &[Sleeper], io: &Driver) {
        fence(SeqCst);
        if self.num_sleeping.load(SeqCst) != 0 && at < self.horizon.load(SeqCst) {
            self.wake_one(sleepers, io);
        }
    }

    fn wake_one(&self, sleepers: &[Sleeper], io: &Driver) {
        let index = {
            let mut s = crate::loom::lock(&self.sleepers);
            let index = s.pop();
            if let Some(i) = index {
                self.num_sleeping.fetch_sub(1, SeqCst);
                sleepers[i].sleeping.store(false, SeqCst);
            }
            index
        };
        if let Some(i) = index {
            sleepers[i].wake(io);
        }
    }

    /// Wakes worker `index` if it is registered as a sleeper (it has work only it may run).
    pub(crate) fn wake_worker(&self, index: usize, sleepers: &[Sleeper], io: &Driver) {
        let registered = {
            let mut s = crate::loom::lock(&self.sleepers);
            match s.iter().position(|&i| i == index) {
                Some(pos) => {
                    s.swap_remove(pos);
                    self.num_sleeping.fetch_sub(1, SeqCst);
                    sleepers[index].sleeping.store(false, SeqCst);
                    true
                }
                None => false,
            }
        };
        // Not registered: it took itself off the list and looks at its inbox before it sleeps
        // again.
        if registered {
            sleepers[index].wake(io);
        }
    }

    /// Whether every worker sleeps now (the stall monitor then has nothing to watch).
    pub(crate) fn all_asleep(&self) -> bool {
        self.num_sleeping.load(SeqCst) == self.workers.load(SeqCst)
    }

    /// How many workers have a running thread.
    pub(crate) fn active(&self) -> usize {
        self.workers.load(SeqCst)
    }

    /// An extra worker starts (or comes back from retirement).
    pub(crate) fn add_worker(&self) {
        self.workers.fetch_add(1, SeqCst);
    }

    /// An extra worker retires.
    pub(crate) fn remove_worker(&self) {
        self.workers.fetch_sub(1, SeqCst);
    }

    /// Enters the searching state if fewer than half the workers search; false otherwise.
    pub(crate) fn start_search(&self) -> bool {
        let searching = self.num_searching.load(SeqCst);
        if 2 * searching >= self.active().max(2) {
            return false;
        }
        self.num_searching.fetch_add(1, SeqCst);
        true
    }

    /// Leaves the searching state. The last searcher to find work wakes another worker, so that
    /// parallelism ramps up when work arrives in bursts.
    pub(crate) fn end_search(&self, found: bool, sleepers: &[Sleeper], io: &Driver) {
        let prev = self.num_searching.fetch_sub(1, SeqCst);
        if prev == 1 && found {
            self.notify_one(sleepers, io);
        }
    }

    /// Registers worker `index` as a sleeper. The caller must then re-check for work.
    pub(crate) fn register_sleeper(&self, index: usize, sleeper: &Sleeper) {
        let mut s = crate::loom::lock(&self.sleepers);
        s.push(index);
        self.num_sleeping.fetch_add(1, SeqCst);
        sleeper.sleeping.store(true, SeqCst);
        drop(s);
        fence(SeqCst);
    }

    /// Removes worker `index` from the sleepers if a waker has not already done so.
    pub(crate) fn unregister_sleeper(&self, index: usize, sleeper: &Sleeper) {
        let mut s = crate::loom::lock(&self.sleepers);
        if let Some(pos) = s.iter().position(|&i| i == index) {
            s.swap_remove(pos);
            self.num_sleeping.fetch_sub(1, SeqCst);
        }
        sleeper.sleeping.store(false, SeqCst);
        drop(s);
        // The caller looks at its queues next: ordered after the flag, like a registration.
        fence(SeqCst);
    }

    /// Records that a sleeper will wake by itself at `deadline`.
    pub(crate) fn set_horizon(&self, deadline: u64) {
        self.horizon.fetch_min(deadline, SeqCst);
    }

    /// Clears the horizon set by a sleeper that woke up.
    pub(crate) fn clear_horizon(&self, deadline: u64) {
        let _ = self
            .horizon
            .compare_exchange(deadline, NO_DEADLINE, SeqCst, Relaxed);
    }
}

/// The configured workers that have nothing to run (they search for work or sleep), one bit
/// each, so that a spawner finds one with a load or two (see `Runtime::start_on_idle`).
///
/// A hint for placement, not part of the wake-up protocol: a worker claimed through it gets its
/// greenlet by `Runtime::send_home`, whose push, fence and look at the sleeper's flag reach it
/// whatever it does by then.
pub(crate) struct IdleSet {
    words: Box<[AtomicU64]>,
}

impl IdleSet {
    /// Every one of the `workers` is idle: none has anything to run before it starts.
    pub(crate) fn new(workers: usize) -> IdleSet {
        let word = |w: usize| {
            let bits = (workers - w * 64).min(64);
            AtomicU64::new(if bits == 64 { !0 } else { (1 << bits) - 1 })
        };
        IdleSet {
            words: (0..workers.div_ceil(64)).map(word).collect(),
        }
    }

    /// Worker `index` has nothing to run.
    pub(crate) fn enter(&self, index: usize) {
        self.words[index / 64].fetch_or(1 << (index % 64), AcqRel);
    }

    /// Worker `index` found work. False if a spawner claimed it first (and hands it a
    /// greenlet, or has already).
    pub(crate) fn leave(&self, index: usize) -> bool {
        let (word, bit) = (&self.words[index / 64], 1u64 << (index % 64));
        word.load(Relaxed) & bit != 0 && word.fetch_and(!bit, AcqRel) & bit != 0
    }

    /// Claims any idle worker other than `from` (see `claim_other_if`).
    pub(crate) fn claim_other(&self, from: usize) -> Option<usize> {
        self.claim_other_if(from, |_| true)
    }

    /// Claims an idle worker other than `from` that `accept` takes, looking first at those
    /// after `from` (so that spawners spread their children); `None` if there is none. Workers
    /// refused stay in the set.
    pub(crate) fn claim_other_if(
        &self,
        from: usize,
        accept: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        let n = self.words.len();
        for step in 0..n {
            let w = (from / 64 + step) % n;
            let word = &self.words[w];
            // In `from`'s own word, rotated so that the bit after `from` comes first and
            // `from`'s own bit last (then masked out).
            let own = step == 0 && from < n * 64;
            let shift = if own { (from % 64) as u32 + 1 } else { 0 };
            let mut seen = word.load(Relaxed).rotate_right(shift);
            if own {
                seen &= !(1 << 63);
            }
            while seen != 0 {
                let index = (seen.trailing_zeros() + shift) % 64;
                let bit = 1u64 << index;
                if accept(w * 64 + index as usize) && word.fetch_and(!bit, AcqRel) & bit != 0 {
                    return Some(w * 64 + index as usize);
                }
                seen &= seen - 1;
            }
        }
        None
    }
}

#[cfg(all(test, not(loom)))]
mod idle_set_tests {
    use super::IdleSet;

    #[test]
    fn claim_other_takes_the_idle_workers_after_the_caller_first_and_never_the_caller() {
        let set = IdleSet::new(3);
        assert_eq!(set.claim_other(1), Some(2));
        assert_eq!(set.claim_other(1), Some(0));
        assert_eq!(set.claim_other(1), None, "worker 1 is the caller");
        set.enter(0);
        assert!(!set.leave(2), "claimed already");
        assert!(set.leave(0));
        assert_eq!(set.claim_other(2), Some(1), "worker 1 was idle all along");
        assert_eq!(set.claim_other(2), None);
    }

    #[test]
    fn claim_other_if_skips_the_workers_it_refuses() {
        let set = IdleSet::new(4);
        assert_eq!(set.claim_other_if(0, |i| i == 3), Some(3));
        assert_eq!(set.claim_other_if(0, |i| i == 3), None, "claimed already");
        assert_eq!(set.claim_other_if(0, |_| false), None);
        assert_eq!(set.claim_other(0), Some(1), "refused ones stay idle");
    }

    #[test]
    fn claim_other_crosses_words() {
        let set = IdleSet::new(130);
        for i in 0..130 {
            assert!(set.leave(i));
        }
        set.enter(3);
        set.enter(129);
        assert_eq!(set.claim_other(100), Some(129));
        assert_eq!(set.claim_other(100), Some(3));
        assert_eq!(set.claim_other(100), None);
        set.enter(70);
        assert_eq!(set.claim_other(70), None, "the caller only");
        // An extra worker (past the configured ones) may claim any of them.
        assert_eq!(set.claim_other(140), Some(70));
    }
}

/// loom models of the sleep/notify protocol: the real [`Idle`] and [`Sleeper`], driven by loom
/// threads that follow the worker's calls (`worker.rs`: `search`, then `sleep`: register, look
/// for work, sleep, unregister) and the producers' (`Runtime::push_remote`: push then
/// `notify_one`; `Runtime::send_home`: push, fence, `wake_worker`). Work is a counter standing for
/// the queues, pushed and taken with Relaxed operations, so that only the protocol's own fences
/// order it.
#[cfg(all(test, loom))]
mod loom_tests {
    use std::sync::{Arc, OnceLock};

    use loom::thread;

    use super::{Idle, Sleeper};
    use crate::io::Driver;
    use crate::loom::sync::atomic::{fence, AtomicUsize, Ordering::*};
    use crate::runtime::NO_DEADLINE;

    /// The IO driver the wake-ups are given (never used: the models sleep in `thread::park`).
    fn io() -> &'static Driver {
        static IO: OnceLock<Driver> = OnceLock::new();
        IO.get_or_init(|| Driver::new().expect("an IO driver"))
    }

    struct Rt {
        idle: Idle,
        sleepers: Vec<Sleeper>,
        /// Runnable work any worker may take (the injector).
        shared: AtomicUsize,
        /// Runnable work only worker 0 may take (its inbox).
        inbox: AtomicUsize,
    }

    impl Rt {
        fn new(workers: usize) -> Arc<Rt> {
            Arc::new(Rt {
                idle: Idle::new(workers),
                sleepers: (0..workers).map(|_| Sleeper::new()).collect(),
                shared: AtomicUsize::new(0),
                inbox: AtomicUsize::new(0),
            })
        }

        fn take(&self, index: usize) -> bool {
            let take_from = |q: &AtomicUsize| {
                q.fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1))
                    .is_ok()
            };
            (index == 0 && take_from(&self.inbox)) || take_from(&self.shared)
        }

        fn has_work(&self, index: usize) -> bool {
            (index == 0 && self.inbox.load(Relaxed) > 0) || self.shared.load(Relaxed) > 0
        }

        /// `Runtime::push_remote`.
        fn push_remote(&self) {
            self.shared.fetch_add(1, Relaxed);
            self.idle.notify_one(&self.sleepers, io());
        }

        /// `Runtime::send_home` to worker 0.
        fn send_home(&self) {
            self.inbox.fetch_add(1, Relaxed);
            fence(SeqCst);
            if self.sleepers[0].is_sleeping() {
                self.idle.wake_worker(0, &self.sleepers, io());
            }
        }

        /// A worker's loop until it has run `jobs` pieces of work: take, else search, else
        /// sleep (as `Worker::search` and `Worker::sleep` call the protocol).
        fn worker(&self, index: usize, jobs: usize) {
            let _ = self.sleepers[index].model_thread.set(thread::current());
            let mut done = 0;
            while done < jobs {
                if self.take(index) {
                    done += 1;
                    continue;
                }
                if self.idle.start_search() {
                    let found = self.take(index);
                    self.idle.end_search(found, &self.sleepers, io());
                    if found {
                        done += 1;
                        continue;
                    }
                }
                let sleeper = &self.sleepers[index];
                self.idle.register_sleeper(index, sleeper);
                if self.has_work(index) {
                    self.idle.unregister_sleeper(index, sleeper);
                    self.idle.notify_one(&self.sleepers, io());
                    continue;
                }
                self.idle.set_horizon(NO_DEADLINE);
                sleeper.sleep(NO_DEADLINE, || 0);
                self.idle.clear_horizon(NO_DEADLINE);
                self.idle.unregister_sleeper(index, sleeper);
            }
        }
    }

    /// Two workers out of work, a producer pushing two pieces of stealable work: both get run,
    /// whatever the interleaving (a stranded piece leaves a worker asleep for ever: loom reports
    /// the deadlock).
    #[test]
    fn loom_idle_push_remote_wakes_a_sleeper() {
        loom::model(|| {
            let rt = Rt::new(2);
            let workers: Vec<_> = (0..2)
                .map(|i| {
                    let rt = rt.clone();
                    thread::spawn(move || rt.worker(i, 1))
                })
                .collect();
            rt.push_remote();
            rt.push_remote();
            for w in workers {
                w.join().unwrap();
            }
            assert_eq!(rt.shared.load(Relaxed), 0);
        });
    }

    /// A started greenlet woken from another thread goes to its home's inbox: its home worker,
    /// going to sleep meanwhile, always runs it.
    #[test]
    fn loom_idle_send_home_wakes_the_home_worker() {
        loom::model(|| {
            let rt = Rt::new(1);
            let worker = {
                let rt = rt.clone();
                thread::spawn(move || rt.worker(0, 1))
            };
            rt.send_home();
            worker.join().unwrap();
            assert_eq!(rt.inbox.load(Relaxed), 0);
        });
    }
}
