//! The scheduler: worker threads running greenlets, each started greenlet on its home worker.
//!
//! # Where a greenlet runs: the placement rule
//!
//! Rust code assumes that the thread does not change between two lines of one function: a
//! `thread_local!` holding an `Rc` (`rand::thread_rng()` hands one out), a `RefCell` borrowed
//! from one, a `std::sync::MutexGuard`, all rely on it. A greenlet that kept such a value across
//! a park and resumed on another worker thread would share it with the greenlets of the first
//! thread, from two threads at once: undefined behaviour from safe code. So:
//!
//! * **A greenlet that has started runs on one worker for its whole life: its home.** It is
//!   recorded when the greenlet first runs (`Header::home`), and every later wake-up queues the
//!   greenlet there ([`schedule`]: on this worker if it is the home, otherwise in the home's
//!   inbox, waking the home worker if it sleeps).
//! * **Only greenlets that have not started move.** They wait in a worker's stealable queue (or
//!   the global injector) and idle workers steal them; the worker that starts one becomes its
//!   home. New greenlets therefore spread over the idle workers, and CPU-bound batches use
//!   every core.
//! * **A new greenlet starts on an idle worker when there is one.** A spawn on a worker hands
//!   the child to an idle worker (one searching for work or asleep; see
//!   [`Runtime::start_on_idle`]), and so does a worker about to start, as its last runnable
//!   greenlet, one spawned on it. Left on the parent's worker, a child would start there the
//!   moment its parent parks, before any idle worker could steal it, and stay homed for life
//!   next to a parent that may later hold that worker while it computes (the parent that
//!   wakes its child and then polls for the child's answer without parking would wait for
//!   ever). The price: a parent and a child that talk sit on two workers and pay a
//!   cross-worker wake-up per message (see `worker::await_inbox`, which keeps it short).
//!   The exception: the children of a spawner that never spins after a spawn (a
//!   `StreamServer`'s accept loop) are placed by how many greenlets each worker hosts, so that
//!   a server's connections do not all land on the worker that was idle when they arrived
//!   (see `worker::Placement`).
//!
//! [`schedule`] is the one place that decides; everything that makes a greenlet runnable (a
//! spawn, an unpark, a timer, an IO event, a kill) goes through it. The price: a greenlet whose
//! home worker is held by another greenlet (one that computes without a blocking call, or makes
//! a blocking OS call) waits, even if other workers are idle; the stall monitor names the
//! culprit. A runnable greenlet still never waits for a busy worker while its own worker is
//! idle: a woken greenlet goes to its home, never into the waker's run-next slot when the waker
//! runs on another worker.
//!
//! # The pieces
//!
//! * One worker thread per core by default, each with a stealable FIFO of greenlets not yet
//!   started (`crossbeam_deque::Worker`), an owner-only run queue of started greenlets, a
//!   one-slot *run next* for the greenlet the running one just woke on the same worker (so
//!   ping-pong hand-offs skip the queue), an inbox for greenlets woken by other threads, and a
//!   timing wheel (see [`time`]).
//! * A global injector takes greenlets spawned from outside the workers.
//! * An idle worker drains its inbox, steals greenlets not yet started from the injector and the
//!   other workers, fires due timers, polls IO, and then sleeps until woken or until the next
//!   deadline (see [`idle`]). An idle runtime uses no CPU.
//! * A monitor thread warns (through `log`) when one greenlet holds a worker for more than
//!   100 ms without a blocking call of this crate (see [`monitor`]).
//! * Fairness: every 61 ticks a worker looks at the injector and the IO poller before its own
//!   queue; the run-next slot is skipped after 16 hand-offs in a row; a greenlet that yields
//!   goes to the back of the queue, behind greenlets spawned before it yielded.
//!
//! # Rules for the internals
//!
//! 1. No user code (Drop, Clone, Ord, closures, their panics) runs under an internal lock or
//!    uncaught on a scheduling loop. A worker resumes greenlets and nothing else of the user's:
//!    a greenlet's result is dropped by its handle or, detached, inside the greenlet
//!    ([`task`]), so dropping a task reference anywhere runs no user code.
//! 2. A runnable greenlet gets a core whenever one is idle, within the placement rule: a
//!    started greenlet is queued at its home and the home is woken; a greenlet not yet started
//!    is stealable by every worker.
//! 3. A wake-up that a waiter consumed is acted on or passed on (the park token hands each park
//!    exactly one outcome; the primitives pass a wake-up on when a waiter leaves).
//!
//! The runtime starts on first use and lives as long as the process.

mod idle;
mod mailbox;
mod monitor;
pub(crate) mod registry;
pub(crate) mod stats;
pub(crate) mod task;
mod time;
mod worker;

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Arc, Condvar, LazyLock, Mutex, OnceLock};
use std::thread;
use std::time::Instant;

use crossbeam_deque::{Injector, Stealer};

use crate::config::{self, Resolved};
use crate::coroutine::overflow;
use crate::park::Ended;
use crate::JoinError;
pub(crate) use task::{Task, TaskRef};
use task::{CLAIMED, NEW};
use time::Timers;
pub(crate) use time::{TimerAction, TimerKey};

/// "No deadline", in the runtime's nanoseconds since its epoch.
pub(crate) const NO_DEADLINE: u64 = u64::MAX;

/// The runtime's clock starts here (first use of the crate's clock).
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);
/// A coarse copy of the clock, for stamps on hot paths (one load instead of a clock read):
/// advanced by the workers every `TIMER_INTERVAL` ticks and when they wake, and by the monitor
/// every check (25 ms) while any worker is awake.
static COARSE_NS: AtomicU64 = AtomicU64::new(0);

/// Nanoseconds since the epoch, coarse (see [`COARSE_NS`]).
#[inline]
pub(crate) fn coarse_now() -> u64 {
    COARSE_NS.load(Relaxed)
}

/// Nanoseconds since the epoch, read from the clock.
pub(crate) fn precise_now() -> u64 {
    EPOCH.elapsed().as_nanos() as u64
}

/// Reads the clock and advances the coarse copy; returns the reading.
fn advance_coarse() -> u64 {
    let now = precise_now();
    COARSE_NS.fetch_max(now, Relaxed);
    now
}

/// The process-wide runtime.
pub(crate) struct Runtime {
    injector: Injector<TaskRef>,
    /// Every worker slot: the configured workers first, then the extra ones (see [`monitor`]:
    /// compensation), which run only while every worker is held.
    workers: Box<[Shared]>,
    /// How many of `workers` are the configured ones.
    regular: usize,
    /// The stealable queues of extra slots whose thread has never started.
    spare: Mutex<Vec<(usize, crossbeam_deque::Worker<TaskRef>)>>,
    /// Each extra slot's state ([`EXTRA_IDLE`], [`EXTRA_ACTIVE`], [`EXTRA_RETIRED`]).
    extra: Box<[std::sync::atomic::AtomicU8]>,
    /// How many workers the monitor sees held by one greenlet past the stall threshold.
    stalled: AtomicUsize,
    /// Per-worker counters (see [`stats`]).
    counters: Box<[stats::WorkerCounters]>,
    /// Counters of events off the workers.
    global: stats::Global,
    sleepers: Box<[idle::Sleeper]>,
    idle: idle::Idle,
    /// The configured workers with nothing to run (see [`Runtime::start_on_idle`]).
    idle_set: idle::IdleSet,
    epoch: Instant,
    /// Round-robin choice of timer wheel for timers added outside the workers.
    next_heap: AtomicUsize,
    /// When idle workers next give back unused stack memory (ns since the epoch; 0: not armed).
    next_trim: AtomicU64,
    pub(crate) config: Resolved,
    /// The IO driver, polled by idle workers (see [`crate::io::driver`]).
    pub(crate) io: crate::io::Driver,
    /// What the stall monitor watches (see [`monitor`]).
    monitor: monitor::Monitor,
}

/// An extra slot whose thread has never started.
const EXTRA_IDLE: u8 = 0;
/// An extra slot whose thread runs greenlets.
const EXTRA_ACTIVE: u8 = 1;
/// An extra slot whose thread waits to be called back (it holds no greenlet).
const EXTRA_RETIRED: u8 = 2;

/// What the other threads may touch of one worker.
struct Shared {
    /// Steals from the worker's queue of greenlets not yet started.
    stealer: Stealer<TaskRef>,
    /// Started greenlets homed on this worker, made runnable by other threads.
    inbox: Inbox,
    timers: Mutex<Timers>,
    /// Earliest deadline in `timers` (ns since the epoch), readable without the lock.
    next_timer: AtomicU64,
}

/// A worker's inbox: other threads push, only the worker pops. The first push goes into a
/// one-greenlet slot (see [`mailbox`]), the others into the queue while the slot is full.
struct Inbox {
    mail: mailbox::Mailbox<TaskRef>,
    queue: Injector<TaskRef>,
}

impl Inbox {
    fn new() -> Inbox {
        Inbox {
            mail: mailbox::Mailbox::new(),
            queue: Injector::new(),
        }
    }

    fn push(&self, task: TaskRef) {
        if let Err(task) = self.mail.put(task) {
            self.queue.push(task);
        }
        self.mail.notify();
    }

    /// Whether the owner has news since it last cleared the flag (one plain load).
    fn pending(&self) -> bool {
        self.mail.pending()
    }

    /// Clears the news flag before a drain.
    fn clear_pending(&self) {
        self.mail.clear_pending();
    }

    /// Takes the greenlet in the slot (owner only).
    fn take_slot(&self) -> Option<TaskRef> {
        self.mail.take()
    }

    /// Takes the next greenlet of the queue behind the slot (owner only).
    fn steal(&self) -> Option<TaskRef> {
        loop {
            match self.queue.steal() {
                crossbeam_deque::Steal::Success(t) => return Some(t),
                crossbeam_deque::Steal::Empty => return None,
                crossbeam_deque::Steal::Retry => {}
            }
        }
    }

    /// Whether nothing waits here, or is being pushed (the sleep re-check in `worker::sleep`).
    fn is_empty(&self) -> bool {
        self.mail.is_empty() && self.queue.is_empty()
    }

    /// How many greenlets wait here (a snapshot, for stats).
    fn len(&self) -> usize {
        usize::from(!self.mail.is_empty()) + self.queue.len()
    }
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();
/// Serialises start-up attempts (a failed one leaves nothing behind, and a later call retries).
static STARTING: Mutex<()> = Mutex::new(());

/// The runtime, started on first call.
///
/// # Panics
/// If the runtime cannot start (no IO poller, no worker thread): see [`try_get`].
#[inline]
pub(crate) fn get() -> &'static Runtime {
    if let Some(rt) = RUNTIME.get() {
        return rt;
    }
    match try_get() {
        Ok(rt) => rt,
        Err(e) => panic!("greenlet: could not start the runtime: {e}"),
    }
}

/// The runtime, started on first call; an error if it cannot start, in which case no thread of
/// it is left running and the next call tries again.
#[inline]
pub(crate) fn try_get() -> io::Result<&'static Runtime> {
    match RUNTIME.get() {
        Some(rt) => Ok(rt),
        None => start_once(),
    }
}

/// The slow path of [`try_get`], out of line: starting builds the runtime in a frame of several
/// kilobytes, which every greenlet calling [`get`] would otherwise reserve, and fault in, on its
/// stack.
#[cold]
#[inline(never)]
fn start_once() -> io::Result<&'static Runtime> {
    let _starting = crate::park::lock(&STARTING);
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    start()
}

/// Whether worker threads may enter the runtime: `None` while it is being built.
type Gate = Arc<(Mutex<Option<bool>>, Condvar)>;

fn open_gate(gate: &Gate, go: bool) {
    *crate::park::lock(&gate.0) = Some(go);
    gate.1.notify_all();
}

fn wait_gate(gate: &Gate) -> bool {
    let mut state = crate::park::lock(&gate.0);
    loop {
        if let Some(go) = *state {
            return go;
        }
        state = gate.1.wait(state).unwrap_or_else(|e| e.into_inner());
    }
}

fn start() -> io::Result<&'static Runtime> {
    let config = config::resolve();
    overflow::install();
    let n = config.workers;
    let slots = n + config.extra_workers;
    let io = crate::io::Driver::new()
        .map_err(|e| io::Error::new(e.kind(), format!("could not create the IO poller: {e}")))?;
    let mut locals: Vec<_> = (0..slots)
        .map(|_| crossbeam_deque::Worker::new_fifo())
        .collect();
    let workers = locals
        .iter()
        .map(|w| Shared {
            stealer: w.stealer(),
            inbox: Inbox::new(),
            timers: Mutex::new(Timers::new()),
            next_timer: AtomicU64::new(NO_DEADLINE),
        })
        .collect();
    let spare: Vec<_> = (n..slots).zip(locals.split_off(n)).collect();
    // The threads wait at the gate until the runtime is in place; if one cannot be started,
    // the others are told to leave and nothing of this attempt keeps running.
    let gate: Gate = Arc::new((Mutex::new(None), Condvar::new()));
    let mut threads = Vec::with_capacity(n);
    for (index, local) in locals.into_iter().enumerate() {
        let g = gate.clone();
        let spawned = thread::Builder::new()
            .name(format!("greenlet-worker-{index}"))
            .spawn(move || {
                if wait_gate(&g) {
                    let rt = RUNTIME
                        .get()
                        .expect("the gate opens once the runtime is set");
                    worker::run(rt, index, local);
                }
            });
        match spawned {
            Ok(t) => threads.push(t),
            Err(e) => {
                open_gate(&gate, false);
                for t in threads {
                    let _ = t.join();
                }
                return Err(io::Error::new(
                    e.kind(),
                    format!("could not start worker thread {index} of {n}: {e}"),
                ));
            }
        }
    }
    let rt = Runtime {
        injector: Injector::new(),
        workers,
        regular: n,
        spare: Mutex::new(spare),
        extra: (n..slots)
            .map(|_| std::sync::atomic::AtomicU8::new(EXTRA_IDLE))
            .collect(),
        stalled: AtomicUsize::new(0),
        counters: (0..slots)
            .map(|_| stats::WorkerCounters::default())
            .collect(),
        global: stats::Global::default(),
        sleepers: (0..slots).map(|_| idle::Sleeper::new()).collect(),
        idle: idle::Idle::new(n),
        idle_set: idle::IdleSet::new(n),
        epoch: *EPOCH,
        next_heap: AtomicUsize::new(0),
        next_trim: AtomicU64::new(0),
        config,
        io,
        monitor: monitor::Monitor::new(slots),
    };
    for (sleeper, t) in rt.sleepers.iter().zip(&threads) {
        let _ = sleeper.thread.set(t.thread().clone());
    }
    if RUNTIME.set(rt).is_err() {
        unreachable!("the runtime starts once, under STARTING");
    }
    open_gate(&gate, true);
    let monitor = thread::Builder::new()
        .name("greenlet-monitor".into())
        .spawn(|| monitor::run(RUNTIME.wait()));
    if let Err(e) = monitor {
        log::error!("greenlet: could not start the stall monitor thread (running without): {e}");
    }
    crate::dump::watch_signal();
    crate::dump::read_backtrace_switch();
    log::debug!("greenlet: runtime started with {n} workers");
    Ok(RUNTIME.get().expect("set above"))
}

impl Runtime {
    /// Starts an extra worker (a retired one comes back, or a new thread starts); false when
    /// every extra slot is in use or the thread cannot be started.
    fn start_extra(&'static self) -> bool {
        for (i, state) in self.extra.iter().enumerate() {
            if state
                .compare_exchange(EXTRA_RETIRED, EXTRA_ACTIVE, SeqCst, SeqCst)
                .is_ok()
            {
                self.idle.add_worker();
                if let Some(t) = self.sleepers[self.regular + i].thread.get() {
                    t.unpark();
                }
                return true;
            }
        }
        let Some((index, local)) = crate::park::lock(&self.spare).pop() else {
            return false;
        };
        self.extra[index - self.regular].store(EXTRA_ACTIVE, SeqCst);
        self.idle.add_worker();
        let spawned = thread::Builder::new()
            .name(format!("greenlet-extra-{index}"))
            .spawn(move || {
                let rt = RUNTIME
                    .get()
                    .expect("extra workers start after the runtime");
                let _ = rt.sleepers[index].thread.set(thread::current());
                worker::run(rt, index, local);
            });
        if let Err(e) = spawned {
            log::error!("greenlet: could not start an extra worker thread: {e}");
            self.idle.remove_worker();
            self.extra[index - self.regular].store(EXTRA_IDLE, SeqCst);
            return false;
        }
        true
    }

    /// Called by an extra worker with nothing to do and no greenlet homed on it: if no worker
    /// is stalled any more, it retires and blocks until [`start_extra`](Self::start_extra)
    /// calls it back. Returns once it is active again (at once if it may not retire).
    fn retire(&self, index: usize) {
        if self.stalled.load(SeqCst) != 0 {
            return;
        }
        let state = &self.extra[index - self.regular];
        if state
            .compare_exchange(EXTRA_ACTIVE, EXTRA_RETIRED, SeqCst, SeqCst)
            .is_err()
        {
            return;
        }
        self.idle.remove_worker();
        log::debug!("greenlet: extra worker {index} retired");
        while state.load(SeqCst) != EXTRA_ACTIVE {
            thread::park();
        }
    }

    /// Nanoseconds since the epoch.
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// `at` in nanoseconds since the epoch, saturating to [`NO_DEADLINE`] past 584 years.
    fn instant_to_ns(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(NO_DEADLINE)
    }

    /// The earliest deadline across every worker's timers.
    fn earliest_timer(&self) -> u64 {
        self.workers
            .iter()
            .map(|w| w.next_timer.load(SeqCst))
            .min()
            .unwrap_or(NO_DEADLINE)
    }

    /// Queues a task that has not started from outside the workers.
    fn push_remote(&self, task: TaskRef) {
        self.injector.push(task);
        self.notify_one();
    }

    /// Queues a started task in its home worker's inbox, from another thread, and wakes that
    /// worker if it sleeps.
    ///
    /// The push, a SeqCst fence, then the look at the sleeper's flag; the worker sets its flag,
    /// fences, then looks at its inbox (`worker::sleep`): one of the two sees the other.
    fn send_home(&self, home: usize, task: TaskRef) {
        self.workers[home].inbox.push(task);
        fence(SeqCst);
        if self.sleepers[home].is_sleeping() {
            self.idle.wake_worker(home, &self.sleepers, &self.io);
        }
    }

    /// Hands a greenlet not yet started to an idle worker (a configured one, searching for work
    /// or asleep), which starts it and becomes its home; gives the greenlet back if no worker
    /// is idle.
    ///
    /// This is how a child leaves its parent's worker while there is an idle one (see the
    /// placement rule): left on the parent's queue, it would start there as soon as the parent
    /// parks, before any idle worker could steal it, and be homed for life on a worker that
    /// the parent may then hold for as long as it computes.
    ///
    /// `from` is the calling worker. A claimed worker gets the greenlet in its inbox, which it
    /// drains before it runs anything else once back from its search or its sleep.
    ///
    /// With `hosts`, only to an idle worker that it accepts, given how many started greenlets
    /// that worker and this one host (see `Placement` in `worker`); without, to any (and no
    /// other worker's counter is read).
    fn start_on_idle(
        &self,
        from: usize,
        task: TaskRef,
        hosts: Option<worker::Hosts>,
    ) -> Option<TaskRef> {
        let claimed = match hosts {
            None => self.idle_set.claim_other(from),
            Some(hosts) => {
                let homed = |i: usize| self.counters[i].homed.load(Relaxed);
                let mine = homed(from);
                self.idle_set
                    .claim_other_if(from, |i| hosts(homed(i), mine))
            }
        };
        match claimed {
            Some(index) => {
                self.send_home(index, task);
                None
            }
            None => Some(task),
        }
    }

    /// New stealable work is visible: wakes a sleeping worker unless one is searching already.
    fn notify_one(&self) {
        self.idle.notify_one(&self.sleepers, &self.io);
    }

    /// Adds a timer to wheel `index`; `None` for a deadline past the clock's range (no timer).
    fn add_timer_to(&self, index: usize, at: u64, action: TimerAction) -> Option<TimerKey> {
        if at == NO_DEADLINE {
            return None;
        }
        let shared = &self.workers[index];
        let mut timers = crate::park::lock(&shared.timers);
        let key = timers.insert(index, at, action);
        let before = shared.next_timer.load(Relaxed);
        let next = timers.next();
        if next != before {
            shared.next_timer.store(next, SeqCst);
        }
        drop(timers);
        // A sleeper sleeps until the earliest published deadline at most; one not earlier than
        // this wheel's (already published) next cannot be missed (see `idle`).
        if next < before {
            self.idle.notify_timer(next, &self.sleepers, &self.io);
        }
        Some(key)
    }

    /// Takes a timer out of its wheel (O(1)); what it held is dropped after unlocking.
    fn cancel_timer(&self, key: TimerKey) {
        let shared = &self.workers[key.worker];
        let mut timers = crate::park::lock(&shared.timers);
        let action = timers.cancel(key);
        if action.is_some() {
            let next = timers.next();
            if next != shared.next_timer.load(Relaxed) {
                shared.next_timer.store(next, SeqCst);
            }
        }
        drop(timers);
        drop(action);
    }

    /// Timers pending over every wheel.
    fn timer_count(&self) -> usize {
        self.workers
            .iter()
            .map(|w| crate::park::lock(&w.timers).len())
            .sum()
    }
}

/// How a task came to be runnable.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// Newly spawned (or its `spawn_later` delay passed).
    Spawned,
    /// Woken by an unpark: runs next when the waker is a greenlet on its home worker.
    Woken,
}

/// Starts the runtime if it has not started (for the deadlock detector); an error to start it
/// is left for the next call that needs the runtime to report.
pub(crate) fn ensure_started() {
    let _ = try_get();
}

/// Counts a spawn: on the worker's own counter, or the global one from a plain thread.
pub(crate) fn count_spawn() {
    let on_worker =
        worker::with_current(|w| w.map(|w| stats::bump(&w.counters().spawned, 1)).is_some());
    if !on_worker {
        stats::Global::add(&get().global.spawned, 1);
    }
}

/// The IO poller made `n` registrations ready.
pub(crate) fn count_io_wakeups(n: usize) {
    if n > 0 {
        if let Some(rt) = RUNTIME.get() {
            stats::Global::add(&rt.global.io_wakeups, n as u64);
        }
    }
}

/// A plain thread blocks in the crate with no deadline: the monitor looks for a deadlock.
pub(crate) fn thread_blocked() {
    if let Some(rt) = RUNTIME.get() {
        rt.monitor.poke();
    }
}

/// What [`crate::stats`] reports.
pub(crate) fn stats() -> crate::Stats {
    let Some(rt) = RUNTIME.get() else {
        return crate::Stats::default();
    };
    let sum = |f: fn(&stats::WorkerCounters) -> &AtomicU64| -> u64 {
        rt.counters.iter().map(|c| f(c).load(Relaxed)).sum()
    };
    let g = &rt.global;
    let spawned = sum(|c| &c.spawned) + g.spawned.load(Relaxed);
    let finished = sum(|c| &c.finished) + g.finished.load(Relaxed);
    let queued = rt.injector.len()
        + rt.workers
            .iter()
            .map(|w| w.stealer.len() + w.inbox.len())
            .sum::<usize>();
    crate::Stats {
        workers: rt.regular,
        extra_workers: rt.idle.active().saturating_sub(rt.regular),
        live: spawned.saturating_sub(finished),
        spawned,
        runnable: queued as u64 + sum(|c| &c.queued),
        parked: sum(|c| &c.parked),
        steals: sum(|c| &c.steals),
        parks: sum(|c| &c.parks),
        io_wakeups: g.io_wakeups.load(Relaxed),
        stalls: g.stalls.load(Relaxed),
        deadlocks: g.deadlocks.load(Relaxed),
        timers: rt.timer_count() as u64,
        compensations: g.compensations.load(Relaxed),
    }
}

/// What [`crate::dump`] lists: every greenlet not yet finished. Empty before the runtime starts.
pub(crate) fn snapshot() -> Vec<crate::GreenletInfo> {
    use crate::GreenletState;
    let Some(rt) = RUNTIME.get() else {
        return Vec::new();
    };
    let now = coarse_now().max(advance_coarse());
    let running: Vec<u64> = rt.monitor.watches.iter().map(|w| w.running()).collect();
    let mut out = Vec::new();
    registry::REGISTRY.for_each(|h| {
        let state = match h.life.load(Acquire) {
            NEW => GreenletState::NotStarted,
            task::STARTED if h.park.is_parked() => GreenletState::Parked,
            task::STARTED if running.contains(&h.id) => GreenletState::Running,
            task::STARTED => GreenletState::Runnable,
            _ => return, // finished (or finishing)
        };
        let site = &h.park.site;
        let wait = (state == GreenletState::Parked).then(|| (site.what(), site.at()));
        out.push(crate::GreenletInfo::new(
            h.id,
            h.name().map(str::to_owned),
            state,
            h.spawned_at(),
            wait,
            std::time::Duration::from_nanos(now.saturating_sub(site.since())),
        ));
    });
    out
}

/// Makes a new task runnable.
pub(crate) fn spawn(task: TaskRef) {
    schedule(task, Origin::Spawned);
}

/// The placement rule (see the module docs): where a runnable greenlet is queued.
///
/// * Started: at its home. On the home worker itself, the run-next slot (woken by the greenlet
///   running there) or the run queue; from any other thread, the home's inbox, waking the home
///   worker if it sleeps.
/// * Not started: handed to an idle worker if there is one (see [`Runtime::start_on_idle`]);
///   otherwise on the calling worker's stealable queue, or the global injector from a plain
///   thread; either way idle workers may take it.
fn schedule(task: TaskRef, origin: Origin) {
    let home = task.header.home();
    // On a worker that may queue it itself (its home, or any worker for a new greenlet), it
    // does; otherwise the task comes back out of the closure.
    let task = worker::with_current(move |w| match (w, home) {
        (Some(w), Some(h)) if h == w.index => w.schedule_home(task, origin),
        (Some(w), None) => w.schedule_new(task),
        _ => Some(task),
    });
    let Some(task) = task else { return };
    let rt = get();
    match home {
        Some(h) => rt.send_home(h, task),
        None => rt.push_remote(task),
    }
}

/// Queues a parked greenlet whose park the caller just ended.
///
/// # Safety
/// The caller ended the park out of PARKED (`park::Ended::Parked`), which makes it the owner of
/// the run reference the worker gave up into the token: `task` is that reference's pointer.
pub(crate) unsafe fn wake_parked(task: NonNull<Task>) {
    // SAFETY: see above: this takes back the reference the worker released with `into_raw`.
    wake_task(unsafe { TaskRef::from_raw(task.as_ptr()) });
}

/// Queues a greenlet whose park ended, given its run reference (see [`crate::park::Wakeup`]).
pub(crate) fn wake_task(task: TaskRef) {
    task.header.stamp();
    schedule(task, Origin::Woken);
}

/// Kills a task: one that has not started completes at once with `Killed`; one that runs is
/// asked to unwind at its next blocking call, and interrupted if it is parked now.
pub(crate) fn kill(task: &TaskRef) {
    let h = &task.header;
    if h.life
        .compare_exchange(NEW, CLAIMED, AcqRel, Acquire)
        .is_ok()
    {
        task.body.abort(JoinError::Killed);
        h.complete();
        stats::Global::add(&get().global.finished, 1);
        return;
    }
    if h.is_done() || h.life.load(Acquire) == CLAIMED {
        return;
    }
    if h.park.request_kill() == Ended::Parked {
        // SAFETY: the kill ended the park out of PARKED: the run reference is ours now.
        unsafe { wake_parked(NonNull::from(&**task)) };
    }
}

/// Adds a timer: to the calling worker's wheel, or round-robin from other threads. A deadline
/// past the clock's range is no timer (the action is dropped).
pub(crate) fn add_timer(at: Instant, action: TimerAction) {
    let _ = add_cancellable_timer(at, action);
}

/// [`add_timer`], returning the timer's key for [`cancel_timer`] (`None`: no timer was added).
pub(crate) fn add_cancellable_timer(at: Instant, action: TimerAction) -> Option<TimerKey> {
    let rt = get();
    let index = worker::with_current(|w| w.map(|w| w.index))
        .unwrap_or_else(|| rt.next_heap.fetch_add(1, Relaxed) % rt.workers.len());
    rt.add_timer_to(index, rt.instant_to_ns(at), action)
}

/// Whether `at` has passed, for a park about to add a timer: by the coarse clock when that
/// tells (a deadline it has passed has passed, and one more than a tick ahead of it is seldom
/// due already), by the precise clock only for deadlines within a tick of the coarse one. A
/// rare wrong "no" costs a timer that fires at once, never an early wake-up.
pub(crate) fn deadline_passed(at: Instant) -> bool {
    let at = u64::try_from(at.saturating_duration_since(*EPOCH).as_nanos()).unwrap_or(NO_DEADLINE);
    let coarse = coarse_now();
    at <= coarse || (at - coarse <= time::TICK_NS && at <= precise_now())
}

/// Cancels a timer that has not fired; nothing if it has.
pub(crate) fn cancel_timer(key: TimerKey) {
    get().cancel_timer(key);
}

/// A pointer to the running greenlet's task, valid while that greenlet runs.
pub(crate) fn current_task_ptr() -> Option<NonNull<Task>> {
    worker::with_current(|w| w.and_then(|w| w.current.get()))
}

/// Marks the running greenlet as one whose children are placed by how many greenlets each
/// worker hosts, not handed to whichever worker is idle (see `worker::Placement`). For spawners
/// that never spin after a spawn, such as a server's accept loop; no-op on a plain thread.
pub(crate) fn balance_children_of_current() {
    if let Some(task) = current_task_ptr() {
        // SAFETY: the running greenlet's own task, alive while it runs.
        unsafe { task.as_ref() }
            .header
            .place(task::BALANCES_CHILDREN);
    }
}

/// Called before the running greenlet blocks its whole worker thread (it parks while unwinding
/// a panic, see `park`): greenlets not yet started that wait on this worker are offered to the
/// others. (Started ones are homed here and wait for the thread to come back.)
pub(crate) fn worker_blocks() {
    worker::with_current(|w| {
        if let Some(w) = w {
            w.lend_queue();
        }
    })
}

/// Yields the running greenlet: it goes behind the others in its worker's queue.
pub(crate) fn yield_greenlet() {
    crate::coroutine::suspend(crate::coroutine::Suspend::Yield);
}
