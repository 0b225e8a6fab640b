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

use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Mutex, OnceLock};
use std::thread::Thread;

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
    pub(crate) fn wake(&self, io: &Driver) {
        self.notified.store(true, SeqCst);
        if self.polling.load(SeqCst) {
            io.wake();
        } else if let Some(t) = self.thread.get() {
            t.unpark();
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
                std::thread::park();
            } else {
                let n = now();
                if n >= deadline {
                    return;
                }
                std::thread::park_timeout(std::time::Duration::from_nanos(deadline - n));
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
            let mut s = self.sleepers.lock().unwrap_or_else(|e| e.into_inner());
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
            let mut s = self.sleepers.lock().unwrap_or_else(|e| e.into_inner());
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
        let mut s = self.sleepers.lock().unwrap_or_else(|e| e.into_inner());
        s.push(index);
        self.num_sleeping.fetch_add(1, SeqCst);
        sleeper.sleeping.store(true, SeqCst);
        drop(s);
        fence(SeqCst);
    }

    /// Removes worker `index` from the sleepers if a waker has not already done so.
    pub(crate) fn unregister_sleeper(&self, index: usize, sleeper: &Sleeper) {
        let mut s = self.sleepers.lock().unwrap_or_else(|e| e.into_inner());
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
