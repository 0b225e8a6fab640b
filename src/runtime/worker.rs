//! One worker thread: its loop, its queues and its view of the shared runtime.
//!
//! A worker runs greenlets from four sources, all but the stealable queue its own:
//!
//! * `run_next`: the greenlet that the running one just woke on this worker (its home);
//! * `runq`: the started greenlets homed here that are runnable, in FIFO order, interleaved with
//!   *markers* (`None`) that stand for "the next greenlet of the stealable queue": a spawn pushes
//!   the new greenlet onto the stealable queue and a marker onto `runq`, so that spawned and
//!   started greenlets take turns in the order they became runnable, while other workers can
//!   still steal the ones not yet started (a marker whose greenlet was stolen finds the next one,
//!   or nothing);
//! * `local`: the stealable queue of greenlets not yet started (`crossbeam_deque::Worker`);
//! * the inbox (in [`super::Shared`]): started greenlets homed here that other threads woke, and
//!   new greenlets that a spawner handed to this worker while it was idle (`start_on_idle`);
//!   the worker moves them to `runq` at every tick.
//!
//! One exception to the FIFO order: greenlets that a firing of this worker's timers woke go
//! ahead of the run queue (`WorkerCtx::move_ahead`), within a fairness bound. They were started
//! and hold a stack; what they overtake may not be started yet, and finishing first is what keeps
//! a burst of sleepers from needing a stack each at once.
//!
//! A worker that runs out of work first watches its inbox for a few microseconds (a greenlet on
//! another worker often answers that soon), then marks itself idle (`IdleSet`), searches the
//! other workers, and sleeps.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::ptr::{self, NonNull};
use std::sync::atomic::Ordering::*;
use std::sync::Arc;
use std::thread;

use crossbeam_deque::{Steal, Worker};

use super::monitor::Watch;
use super::stats::{bump, WorkerCounters};
use super::task::{BALANCED, BALANCES_CHILDREN, NEW, STARTED};
use super::{Origin, Runtime, Task, TaskRef, TimerAction, NO_DEADLINE};
use crate::coroutine::{overflow, stack, Coroutine, Stack, Suspend};
use crate::{JoinError, PanicPayload};

/// Fire due timers every this many ticks even while the local queue is busy.
const TIMER_INTERVAL: u32 = 64;
/// Capacity of the buffer of due timers kept between two firings.
const EXPIRED_KEEP: usize = 4096;
/// Look at the injector and the IO poller first every this many ticks (Go uses 61 too).
const GLOBAL_INTERVAL: u32 = 61;
/// At most this many run-next hand-offs in a row before the run queue gets a turn.
const MAX_STREAK: u32 = 16;
/// Timer wake-ups that may go ahead of the run queue per greenlet popped from the rest of it
/// (see `WorkerCtx::move_ahead`): under overload the rest keeps about a fifth of the worker.
const AHEAD_PER_POP: u32 = 4;
/// The most credit for going ahead that a worker saves up while its timers are quiet.
const AHEAD_BURST: u32 = 4096;
/// How many more started greenlets one worker must host than another to count as busier (see
/// [`Placement`]).
const SPREAD_MARGIN: u64 = 2;

/// Which idle worker may take a [`BALANCED`] greenlet not yet started, by how many started
/// greenlets it (`theirs`) and the worker handing it over (`mine`) host.
///
/// By default any idle worker takes a new greenlet: a child leaves its parent's worker, so that
/// a parent that spins after waking it cannot strand it there (issue 14). But a greenlet stays
/// on the worker it starts on, so the children of an accept loop, long-lived connection
/// handlers, then all land on whichever worker is idle at each spawn (55-62 of 64 in
/// `tests/net.rs`; up to 100 of 100 `wrk` connections on one worker of two), and that worker's
/// connections wait while the acceptor's worker idles. Children of a spawner marked with
/// `runtime::balance_children_of_current` (the `StreamServer` accept loop, which parks in
/// `accept` and never spins) are [`BALANCED`] instead: they go where fewer greenlets live,
/// keeping the workers within [`SPREAD_MARGIN`] of each other.
struct Placement;

/// A [`Placement`] rule: whether an idle worker hosting `theirs` started greenlets may take one
/// from a worker hosting `mine`.
pub(super) type Hosts = fn(u64, u64) -> bool;

impl Placement {
    /// An idle worker takes it unless it hosts clearly more.
    fn not_busier(theirs: u64, mine: u64) -> bool {
        theirs < mine + SPREAD_MARGIN
    }

    /// An idle worker takes it only if it hosts clearly fewer.
    fn lighter(theirs: u64, mine: u64) -> bool {
        theirs + SPREAD_MARGIN <= mine
    }
}

/// Rounds of stealing before an idle worker sleeps.
const SEARCH_ROUNDS: u32 = 32;
/// Spin-loop hints between two search rounds, in the first half of the rounds (the second half
/// yields the thread instead).
const SEARCH_SPINS: u32 = 64;
/// How long a worker that may not search watches its inbox before it sleeps (see
/// `WorkerCtx::await_inbox`).
const INBOX_SPIN_NS: u64 = 20_000;
/// How long a worker that ran out of work watches its inbox before it goes idle.
const REPLY_SPIN_NS: u64 = 3_000;
/// The run queue's room (in entries) that an idle worker keeps after a burst (see
/// `WorkerCtx::shrink_runq`).
const RUNQ_KEEP: usize = 4096;
/// Attempts to take the IO poller, when a busy worker holds it, before sleeping without it.
const POLLER_RETRIES: u32 = 16;
/// A worker that sleeps without the poller while nobody blocks in it retries this often.
const POLLER_RETRY_NS: u64 = 1_000_000;

/// The worker's own state; lives on the worker thread's stack for the life of the process.
pub(crate) struct WorkerCtx {
    pub(crate) index: usize,
    rt: &'static Runtime,
    /// What this worker publishes for the stall monitor.
    watch: &'static Watch,
    /// This worker's inbox (in the shared part of the runtime).
    inbox: &'static super::Inbox,
    /// Greenlets not yet started; other workers steal from it.
    local: Worker<TaskRef>,
    /// Started greenlets homed here, and markers for `local` (see the module docs).
    runq: RefCell<VecDeque<Option<TaskRef>>>,
    run_next: Cell<Option<TaskRef>>,
    /// The greenlet being resumed right now (null between greenlets).
    pub(crate) current: Cell<Option<NonNull<Task>>>,
    stacks: RefCell<Vec<Stack>>,
    tick: Cell<u32>,
    streak: Cell<u32>,
    expired: Cell<Vec<TimerAction>>,
    /// Timer wake-ups moved ahead of the run queue (see `WorkerCtx::move_ahead`).
    ahead: Ahead,
}

/// The fairness state of `WorkerCtx::move_ahead`.
struct Ahead {
    /// Entries at the front of the run queue that were moved ahead and not yet popped.
    left: Cell<u32>,
    /// How many more may go ahead: earned by pops from the rest of the run queue
    /// ([`AHEAD_PER_POP`] each), at most [`AHEAD_BURST`].
    credit: Cell<u32>,
    /// A batch on its way to the front (kept to reuse its allocation).
    batch: RefCell<Vec<Option<TaskRef>>>,
}

impl Ahead {
    fn new() -> Ahead {
        Ahead {
            left: Cell::new(0),
            credit: Cell::new(AHEAD_BURST),
            batch: RefCell::new(Vec::new()),
        }
    }

    /// Accounts for one entry popped from the front of the run queue.
    #[inline(always)]
    fn popped(&self) {
        let left = self.left.get();
        if left != 0 {
            self.left.set(left - 1);
        } else {
            let credit = self.credit.get();
            if credit < AHEAD_BURST {
                self.credit.set((credit + AHEAD_PER_POP).min(AHEAD_BURST));
            }
        }
    }
}

thread_local! {
    static WORKER: Cell<*const WorkerCtx> = const { Cell::new(ptr::null()) };
}

/// Calls `f` with this thread's worker, if it is one.
///
/// `#[inline(never)]`: the compiler must not cache the thread-local's address across a greenlet
/// switch (a coroutine's code may in principle be resumed by another thread; the placement rule
/// makes that not happen for started greenlets, but this function does not rely on it).
#[inline(never)]
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&WorkerCtx>) -> R) -> R {
    let p = WORKER.with(Cell::get);
    // SAFETY: WORKER is set by `run` to a WorkerCtx that lives until the thread exits (it never
    // does), and only ever read on that same thread.
    f(unsafe { p.as_ref() })
}

/// The worker thread's body.
pub(super) fn run(rt: &'static Runtime, index: usize, local: Worker<TaskRef>) {
    overflow::ensure_altstack();
    let ctx = WorkerCtx {
        index,
        rt,
        watch: &rt.monitor.watches[index],
        inbox: &rt.workers[index].inbox,
        local,
        runq: RefCell::new(VecDeque::new()),
        run_next: Cell::new(None),
        current: Cell::new(None),
        stacks: RefCell::new(Vec::with_capacity(stack::LOCAL_CACHE)),
        tick: Cell::new(0),
        streak: Cell::new(0),
        expired: Cell::new(Vec::new()),
        ahead: Ahead::new(),
    };
    WORKER.with(|w| w.set(&ctx));
    loop {
        while let Some(task) = ctx.next_task() {
            ctx.run_task(task);
        }
        if let Some(task) = ctx.idle() {
            ctx.run_task(task);
        }
    }
}

impl WorkerCtx {
    /// Out of work: waits for some (watching the inbox, searching, sleeping), with this worker
    /// marked idle meanwhile so that spawners may hand it a new greenlet. `None`: back to the
    /// queues (woken, or an extra worker back from retirement).
    ///
    /// Kept out of line: the loop in [`run`] stays small, with the hot paths inlined.
    #[inline(never)]
    fn idle(&self) -> Option<TaskRef> {
        let rt = self.rt;
        // Only the configured workers take new greenlets from spawners (extra ones retire).
        let regular = self.index < rt.regular;
        // A greenlet homed here that talks with one on another worker is woken again within
        // about a round trip: watch the inbox that long before searching the other workers
        // (whose shared counters the other worker would then wait on). The worker enters the
        // idle set only after that watch: the set is one word that every worker writes, and
        // two writes per cross-worker wake-up would move its cache line back and forth.
        if let Some(task) = self.await_inbox(REPLY_SPIN_NS) {
            return Some(task);
        }
        self.shrink_runq();
        // Idle from here until work turns up: a spawner may hand this worker a new greenlet
        // (`Runtime::start_on_idle`), found in the inbox.
        if regular {
            rt.idle_set.enter(self.index);
        }
        let found = self.search();
        if found.is_none() {
            if self.may_retire() {
                rt.retire(self.index);
                return None;
            }
            self.sleep();
        }
        if regular && !rt.idle_set.leave(self.index) && found.is_some() {
            // A spawner claimed this worker while it found other work: the greenlet handed
            // here must not wait behind that work (which may compute for long).
            self.offer_handed();
        }
        found
    }

    /// Gives back the run queue's buffer after a burst, once the queue is empty: a million
    /// spawns queue a million markers (16 bytes each), and a `VecDeque` keeps its largest
    /// buffer for good (`park 1000000` counted it in every parked greenlet's bytes).
    fn shrink_runq(&self) {
        let mut runq = self.runq.borrow_mut();
        if runq.capacity() > RUNQ_KEEP && runq.is_empty() {
            runq.shrink_to(RUNQ_KEEP);
        }
    }

    /// This worker's counters.
    #[inline]
    pub(super) fn counters(&self) -> &WorkerCounters {
        &self.rt.counters[self.index]
    }

    /// Whether this is an extra worker that holds nothing: no greenlet homed here, queued here
    /// or waiting on one of its timers (see `Runtime::retire`).
    fn may_retire(&self) -> bool {
        self.index >= self.rt.regular
            && self.counters().homed.load(Relaxed) == 0
            && self.local.is_empty()
            && self.inbox.is_empty()
            && self.runq.borrow().iter().all(Option::is_none)
            && self.rt.workers[self.index].next_timer.load(Acquire) == NO_DEADLINE
    }

    /// The next task from this worker's own sources, without stealing.
    fn next_task(&self) -> Option<TaskRef> {
        let tick = self.tick.get().wrapping_add(1);
        self.tick.set(tick);
        if tick % TIMER_INTERVAL == 0 {
            super::advance_coarse();
            self.fire_own_timers();
            self.counters()
                .queued
                .store(self.runq.borrow().len() as u64, Relaxed);
        }
        if tick % GLOBAL_INTERVAL == 0 {
            self.poll_io();
            if let Some(t) = self.pop_shared() {
                return Some(t);
            }
        }
        self.drain_inbox();
        if let Some(t) = self.run_next.take() {
            // The streak limit is for fairness towards queued greenlets: with none queued, a
            // ping-pong pair keeps the worker.
            if self.streak.get() < MAX_STREAK || self.nothing_queued() {
                self.streak.set(self.streak.get() + 1);
                return Some(t);
            }
            self.runq.borrow_mut().push_back(Some(t));
        }
        self.streak.set(0);
        self.pop_own().or_else(|| self.pop_shared())
    }

    /// Whether the run queue is empty (every greenlet in `local` has a marker there).
    fn nothing_queued(&self) -> bool {
        self.runq.borrow().is_empty()
    }

    /// A greenlet not yet started, about to start here: an idle worker takes it instead (with
    /// `hosts`, one that it accepts, see [`Placement`]); `None` if one did.
    #[cold]
    fn start_elsewhere(&self, task: TaskRef, hosts: Option<Hosts>) -> Option<TaskRef> {
        self.rt.start_on_idle(self.index, task, hosts)
    }

    /// Starts loading what the next greenlets of the run queue touch first, while the one just
    /// popped runs: the record on the next one's stack (its task was hinted one pop earlier)
    /// and the task of the one after. Greenlets woken in a burst (a timer batch, a broadcast)
    /// sit on as many stacks, each a page the TLB and the caches no longer hold: `perf` on
    /// 100,000 sleepers put 15 % of the samples on the first load from a resumed record.
    #[inline(always)]
    fn prefetch_queued(&self) {
        let runq = self.runq.borrow();
        if let Some(Some(next)) = runq.front() {
            // SAFETY: a started greenlet in this worker's run queue is one whose run reference
            // this worker holds, and only the holder touches the coroutine slot; nothing else
            // borrows it during this call.
            if let Some(coroutine) = unsafe { next.header.coroutine() }.as_ref() {
                coroutine.prefetch();
            }
        }
        if let Some(Some(after)) = runq.get(1) {
            crate::coroutine::prefetch(std::ptr::from_ref(&after.header).cast());
        }
    }

    /// The next greenlet of the run queue (a marker takes the next one not yet started).
    #[inline(always)]
    fn pop_own(&self) -> Option<TaskRef> {
        loop {
            let next = self.runq.borrow_mut().pop_front();
            if next.is_some() {
                self.ahead.popped();
                self.prefetch_queued();
            }
            match next {
                Some(Some(t)) => return Some(t),
                Some(None) => {
                    if let Some(t) = self.local.pop() {
                        let balanced = t.header.placed(BALANCED);
                        let handed = if self.nothing_queued() {
                            // The last runnable greenlet here: an idle worker takes it, as at
                            // spawn (one may have become idle since).
                            let hosts: Option<Hosts> = if balanced {
                                Some(Placement::not_busier)
                            } else {
                                None
                            };
                            self.start_elsewhere(t, hosts)
                        } else if balanced {
                            // More queued, which stealing spreads; but an idle worker that
                            // hosts clearly fewer takes a balanced one.
                            self.start_elsewhere(t, Some(Placement::lighter))
                        } else {
                            Some(t)
                        };
                        match handed {
                            None => continue,
                            Some(t) => return Some(t),
                        }
                    }
                    // Stolen meanwhile: the marker is stale.
                }
                // Markers are added with every push to `local`, so an empty run queue normally
                // means an empty `local`; look anyway.
                None => return self.local.pop(),
            }
        }
    }

    /// Moves the greenlets other threads woke into the run queue.
    fn drain_inbox(&self) {
        let inbox = self.inbox;
        if !inbox.pending() {
            return;
        }
        inbox.clear_pending();
        let mut runq = self.runq.borrow_mut();
        let mut woken = 0;
        for t in inbox
            .take_slot()
            .into_iter()
            .chain(std::iter::from_fn(|| inbox.steal()))
        {
            // A greenlet not yet started was handed here by `Runtime::start_on_idle`.
            woken += u64::from(t.header.life.load(Relaxed) != NEW);
            runq.push_back(Some(t));
        }
        // Everything in the inbox but the handed new greenlets was woken from a park.
        let parked = &self.counters().parked;
        parked.store(parked.load(Relaxed).saturating_sub(woken), Relaxed);
    }

    /// Moves the greenlets not yet started that spawners handed to this worker's inbox onto its
    /// stealable queue, where idle workers may take them, and wakes one.
    fn offer_handed(&self) {
        self.drain_inbox();
        let mut runq = self.runq.borrow_mut();
        let mut offered = 0;
        for slot in runq.iter_mut() {
            if let Some(t) = slot.take_if(|t| t.header.life.load(Relaxed) == NEW) {
                self.local.push(t);
                offered += 1;
            }
        }
        drop(runq);
        if offered > 0 {
            self.rt.notify_one();
        }
    }

    /// Runs `steal` (a batch steal into `local`), then adds a run-queue marker for every greenlet
    /// the batch moved into `local`.
    fn steal_into_local<R>(&self, steal: impl FnOnce(&Worker<TaskRef>) -> R) -> R {
        let before = self.local.len();
        let stolen = steal(&self.local);
        let added = self.local.len().saturating_sub(before);
        if added > 0 {
            let mut runq = self.runq.borrow_mut();
            for _ in 0..added {
                runq.push_back(None);
            }
        }
        stolen
    }

    /// From the global injector (taking a batch).
    fn pop_shared(&self) -> Option<TaskRef> {
        loop {
            match self.steal_into_local(|local| self.rt.injector.steal_batch_and_pop(local)) {
                Steal::Success(t) => return Some(t),
                Steal::Empty => return None,
                Steal::Retry => {}
            }
        }
    }

    /// Half of another worker's greenlets not yet started, starting the round at a varying
    /// victim.
    fn steal_others(&self) -> Option<TaskRef> {
        let n = self.rt.workers.len();
        let start = self.tick.get() as usize;
        for i in 0..n {
            let victim = (start + i) % n;
            if victim == self.index {
                continue;
            }
            let stealer = &self.rt.workers[victim].stealer;
            loop {
                match self.steal_into_local(|local| stealer.steal_batch_and_pop(local)) {
                    Steal::Success(t) => {
                        bump(&self.counters().steals, 1);
                        return Some(t);
                    }
                    Steal::Empty => break,
                    Steal::Retry => {}
                }
            }
        }
        None
    }

    /// One pass over every source of work: timers, inbox, injector, IO events (if `io`), other
    /// workers.
    fn find_work(&self, io: bool) -> Option<TaskRef> {
        self.fire_own_timers();
        self.drain_inbox();
        if let Some(t) = self.pop_own() {
            return Some(t);
        }
        if let Some(t) = self.pop_shared() {
            return Some(t);
        }
        if io && self.poll_io() > 0 {
            self.drain_inbox();
            if let Some(t) = self.pop_own() {
                return Some(t);
            }
        }
        if let Some(t) = self.steal_others() {
            return Some(t);
        }
        if self.fire_others_timers() > 0 {
            return self.pop_own();
        }
        None
    }

    /// Takes the IO events that are ready now, if no other thread is polling; returns how many
    /// registrations became ready (their greenlets are queued at their homes).
    fn poll_io(&self) -> usize {
        let io = &self.rt.io;
        if !io.has_sources() {
            return 0;
        }
        io.poll(Some(std::time::Duration::ZERO)).unwrap_or(0)
    }

    /// Looks for work for a little while before the worker sleeps.
    fn search(&self) -> Option<TaskRef> {
        let idle = &self.rt.idle;
        if !idle.start_search() {
            return self
                .find_work(true)
                .or_else(|| self.await_inbox(INBOX_SPIN_NS));
        }
        let mut found = None;
        for round in 0..SEARCH_ROUNDS {
            // IO is polled (a syscall) on the first round only; new IO events after that wake
            // the worker blocked in the poller, or this one once it sleeps in it.
            found = self.find_work(round == 0);
            if found.is_some() {
                break;
            }
            if round < SEARCH_ROUNDS / 2 {
                // Between two rounds, a greenlet homed here may be woken: look at once.
                for _ in 0..SEARCH_SPINS {
                    if self.inbox.pending() {
                        break;
                    }
                    std::hint::spin_loop();
                }
            } else {
                thread::yield_now();
            }
        }
        idle.end_search(found.is_some(), &self.rt.sleepers, &self.rt.io);
        found
    }

    /// Watches this worker's inbox for a little while (a worker that may not search, because
    /// others do, before it sleeps): a greenlet homed here that another worker's greenlet
    /// talks to is woken within about a round trip, far sooner than a sleep and a wake-up
    /// would take (tens of microseconds on a virtual machine).
    fn await_inbox(&self, spin_ns: u64) -> Option<TaskRef> {
        let until = super::precise_now() + spin_ns;
        loop {
            for _ in 0..SEARCH_SPINS {
                if self.inbox.pending() {
                    self.drain_inbox();
                    return self.pop_own();
                }
                std::hint::spin_loop();
            }
            if super::precise_now() >= until {
                return None;
            }
        }
    }

    /// Registers as a sleeper, checks once more, and blocks until woken or the next timer.
    fn sleep(&self) {
        let rt = self.rt;
        let sleeper = &rt.sleepers[self.index];
        // Registering sets this worker's sleeping flag and issues a SeqCst fence before the
        // re-check below (see `Runtime::send_home` and `idle`).
        rt.idle.register_sleeper(self.index, sleeper);
        if self.has_work() {
            rt.idle.unregister_sleeper(self.index, sleeper);
            // Pushes made while this worker searched skipped their wake-ups (a searcher would
            // find them), and its search ended before they landed: this look found them, but
            // there may be more than this worker takes. Pass the wake-up on, as a searcher
            // that finds work does (the idle loom model `loom_idle_push_remote_wakes_a_sleeper`
            // strands the second of two pushes without this).
            rt.notify_one();
            // The monitor may have seen every worker registered as asleep just now and parked.
            rt.monitor.worker_awake();
            return;
        }
        let deadline = rt.earliest_timer().min(self.trim_stacks());
        rt.idle.set_horizon(deadline);
        // Sleep in the IO poller if no other thread does; otherwise plainly. A busy worker
        // holds the poller only for a non-blocking poll: wait for it a little rather than leave
        // nobody watching IO while every other worker is busy.
        let mut polled = false;
        for _ in 0..POLLER_RETRIES {
            polled = sleeper.sleep_polling(deadline, || rt.now(), &rt.io);
            if polled || rt.io.poller_blocked() || self.has_work() {
                break;
            }
            thread::yield_now();
        }
        if !polled {
            let retry = if rt.io.poller_blocked() || !rt.io.has_sources() {
                deadline
            } else {
                deadline.min(rt.now() + POLLER_RETRY_NS)
            };
            sleeper.sleep(retry, || rt.now());
        }
        rt.idle.clear_horizon(deadline);
        rt.idle.unregister_sleeper(self.index, sleeper);
        super::advance_coarse();
        rt.monitor.worker_awake();
        if polled && rt.io.has_sources() {
            // Back from the poller: hand the poller to a sleeping worker, so that IO keeps
            // being watched while this worker runs (Go's netpoller does the same).
            rt.notify_one();
        }
    }

    /// Gives back the memory of stacks that stayed unused for a whole trim interval (one worker
    /// per interval does it). Returns when the next step is due, [`NO_DEADLINE`] if none is.
    fn trim_stacks(&self) -> u64 {
        let rt = self.rt;
        if !stack::holds_memory() {
            return NO_DEADLINE;
        }
        let now = rt.now();
        let interval = stack::TRIM_INTERVAL.as_nanos() as u64;
        let due = rt.next_trim.load(Acquire);
        if due == 0 {
            // First sight of released stacks: the first step is one interval away.
            let _ = rt
                .next_trim
                .compare_exchange(0, now + interval, AcqRel, Acquire);
        } else if due <= now
            && rt
                .next_trim
                .compare_exchange(due, now + interval, AcqRel, Acquire)
                .is_ok()
            && !stack::trim_idle()
        {
            rt.next_trim.store(0, Release);
            return NO_DEADLINE;
        }
        match rt.next_trim.load(Acquire) {
            0 => NO_DEADLINE,
            due => due,
        }
    }

    /// Whether anything this worker could run is waiting (the re-check before sleeping).
    fn has_work(&self) -> bool {
        let rt = self.rt;
        !rt.injector.is_empty()
            || !self.inbox.is_empty()
            || rt.workers.iter().any(|w| !w.stealer.is_empty())
            || rt.earliest_timer() <= rt.now()
    }

    /// Fires this worker's due timers; returns how many fired.
    fn fire_own_timers(&self) -> usize {
        let next = self.rt.workers[self.index].next_timer.load(Acquire);
        if next == NO_DEADLINE {
            return 0;
        }
        let now = self.rt.now();
        if next > now {
            return 0;
        }
        let queued = self.runq.borrow().len();
        if self.ahead.credit.get() == 0 && queued > self.ahead.left.get() as usize {
            // Timer wake-ups have used up their turns ahead of the rest of the run queue:
            // fire again once the rest has run a little (see `move_ahead`).
            return 0;
        }
        let fired = self.fire_wheel(self.index, now, false);
        self.move_ahead(queued);
        fired
    }

    /// Moves the greenlets that a firing of this worker's timers queued (the run queue's
    /// entries past `queued`) ahead of the rest of the run queue: behind those moved ahead
    /// before and not yet run, in the order they fired.
    ///
    /// Each of them was started and has waited for its deadline; the rest of the queue may
    /// hold greenlets not yet started. Running the woken ones first finishes what was started
    /// before starting more: a burst of spawned sleepers then needs far fewer stacks at once
    /// (100,000 sleepers of 10 ms: half the page faults and peak memory, see PERFORMANCE.md).
    /// It breaks no promise of `yield_now`: every greenlet runnable before a yield still runs
    /// before the yielder, since the moved ones only go ahead of it.
    ///
    /// Fairness: going ahead spends credit, which pops from the rest of the queue earn
    /// ([`AHEAD_PER_POP`] each, up to [`AHEAD_BURST`]). A batch always goes ahead whole (a
    /// wake-up left at the back would wait behind every greenlet queued before it, holding its
    /// stack all that time), but once the credit is spent the worker fires its timers again
    /// only after the rest has run: while timers fire non-stop the rest keeps about one pop in
    /// five, and the timers are late rather than the rest starved.
    fn move_ahead(&self, queued: usize) {
        let ahead = &self.ahead;
        let mut runq = self.runq.borrow_mut();
        let woken = runq.len().saturating_sub(queued);
        let left = ahead.left.get() as usize;
        // Nothing to overtake (only moved entries before the batch), nothing woken, or a
        // `spawn_later` whose delay passed queued a marker, which stands for the oldest
        // greenlet of the stealable queue, not for this one: FIFO order then. A batch left in
        // place is not counted in `left` and spends no credit (it overtook nobody); popping it
        // earns credit like the rest of the queue, which at most lets later batches overtake
        // as many greenlets as it held.
        if queued <= left || woken == 0 || runq.range(queued..).any(Option::is_none) {
            return;
        }
        let mut batch = ahead.batch.borrow_mut();
        batch.extend(runq.drain(queued..));
        // [moved before | rest] + batch -> [moved before | batch | rest]
        runq.rotate_left(left);
        for t in batch.drain(..).rev() {
            runq.push_front(t);
        }
        runq.rotate_right(left);
        ahead
            .left
            .set(u32::try_from(left + woken).unwrap_or(u32::MAX));
        let credit = ahead.credit.get();
        ahead
            .credit
            .set(credit.saturating_sub(u32::try_from(woken).unwrap_or(u32::MAX)));
    }

    /// Fires due timers that other (busy) workers have not reached: their greenlets are queued
    /// at their homes, and greenlets whose `spawn_later` delay passed become stealable here.
    fn fire_others_timers(&self) -> usize {
        let now = self.rt.now();
        let mut fired = 0;
        for (i, w) in self.rt.workers.iter().enumerate() {
            if i != self.index && w.next_timer.load(Acquire) <= now {
                fired += self.fire_wheel(i, now, true);
            }
        }
        fired
    }

    /// Takes every due timer out of wheel `index` in one pass under its lock (or none, if
    /// `only_try` and the lock is busy), then fires them after unlocking.
    fn fire_wheel(&self, index: usize, now: u64, only_try: bool) -> usize {
        let shared = &self.rt.workers[index];
        let mut due = self.expired.take();
        {
            let mut timers = if only_try {
                match shared.timers.try_lock() {
                    Ok(t) => t,
                    Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
                    Err(std::sync::TryLockError::WouldBlock) => {
                        self.expired.set(due);
                        return 0;
                    }
                }
            } else {
                crate::park::lock(&shared.timers)
            };
            timers.expire(now, &mut due);
            shared.next_timer.store(timers.next(), SeqCst);
        }
        let fired = due.len();
        for action in due.drain(..) {
            action.fire();
        }
        if due.capacity() > EXPIRED_KEEP {
            // A burst's buffer is not kept for ever.
            due = Vec::new();
        }
        self.expired.set(due);
        fired
    }

    /// Queues a started greenlet homed on this worker (see `runtime::schedule`). Returns
    /// `None`: the task is queued (the signature fits `runtime::schedule`).
    pub(super) fn schedule_home(&self, task: TaskRef, origin: Origin) -> Option<TaskRef> {
        if origin == Origin::Woken {
            let parked = &self.counters().parked;
            parked.store(parked.load(Relaxed).saturating_sub(1), Relaxed);
        }
        if origin == Origin::Woken && self.current.get().is_some() {
            if let Some(prev) = self.run_next.replace(Some(task)) {
                self.runq.borrow_mut().push_back(Some(prev));
            }
        } else {
            // Only this worker can run it, and this worker is awake (it is running this code).
            self.runq.borrow_mut().push_back(Some(task));
        }
        None
    }

    /// Places a greenlet not yet started: with an idle worker if there is one and this worker's
    /// stealable queue is empty (see `Runtime::start_on_idle`), otherwise on that queue with
    /// its run-queue marker, waking a sleeper when the queue was empty (pushing onto a
    /// non-empty queue makes no new work visible).
    pub(super) fn schedule_new(&self, task: TaskRef) -> Option<TaskRef> {
        // SAFETY: `current` is the greenlet running on this worker (the spawner), alive while
        // it runs.
        let spawner = self.current.get().map(|p| unsafe { p.as_ref() });
        let hosts: Option<Hosts> = if spawner.is_some_and(|p| p.header.placed(BALANCES_CHILDREN)) {
            task.header.place(BALANCED);
            Some(Placement::not_busier)
        } else {
            None
        };
        let was_empty = self.local.is_empty();
        // Only the first of a batch is handed over: once the queue holds greenlets, idle
        // workers take them by halves, cheaper than one hand-off each.
        let task = if was_empty {
            self.rt.start_on_idle(self.index, task, hosts)?
        } else {
            task
        };
        self.local.push(task);
        self.runq.borrow_mut().push_back(None);
        if was_empty {
            self.rt.notify_one();
        }
        None
    }

    /// Before this worker's thread blocks (see `runtime::worker_blocks`): greenlets not yet
    /// started are offered to the other workers. Started ones stay: they are homed here.
    pub(super) fn lend_queue(&self) {
        if !self.local.is_empty() {
            self.rt.notify_one();
        }
    }

    /// Runs a task until it yields, parks or finishes.
    fn run_task(&self, task: TaskRef) {
        let h = &task.header;
        match h.life.load(Acquire) {
            NEW => {
                if h.life
                    .compare_exchange(NEW, STARTED, AcqRel, Acquire)
                    .is_err()
                    || !self.start(&task)
                {
                    return;
                }
            }
            STARTED => {}
            _ => return, // killed before it started
        }
        debug_assert_eq!(h.home(), Some(self.index), "a greenlet runs on its home");
        self.current.set(Some(NonNull::from(&*task)));
        // SAFETY: this worker holds the task's run reference (see `task`), so it alone touches
        // the coroutine.
        let coroutine = unsafe { h.coroutine() }
            .as_mut()
            .expect("a started greenlet has a coroutine");
        h.stamp();
        self.watch.enter(h.id, h.registry_key());
        let reason = coroutine.resume();
        self.watch.leave();
        self.current.set(None);
        match reason {
            Some(Suspend::Yield) => {
                // A yield lets every runnable greenlet go first: those woken from other threads,
                // and those still in the global injector (spawned from plain threads), which
                // would otherwise wait up to GLOBAL_INTERVAL ticks.
                self.drain_inbox();
                if !self.rt.injector.is_empty() {
                    let _ = self.steal_into_local(|local| self.rt.injector.steal_batch(local));
                }
                self.runq.borrow_mut().push_back(Some(task));
            }
            Some(Suspend::Park) => {
                if h.park.mark_parked() {
                    // Parked: the run reference now lives in the park token, and whoever ends
                    // the park takes it back (`runtime::wake_parked`).
                    let counters = self.counters();
                    bump(&counters.parks, 1);
                    bump(&counters.parked, 1);
                    let _ = TaskRef::into_raw(task);
                } else {
                    // The park ended while the greenlet was suspending: requeue it now.
                    self.runq.borrow_mut().push_back(Some(task));
                }
            }
            None => self.finish(&task),
        }
    }

    /// Gives a task that won NEW → STARTED its stack and coroutine, and makes this worker its
    /// home; false if it could not start.
    fn start(&self, task: &TaskRef) -> bool {
        let h = &task.header;
        let stack = match stack::alloc(h.stack_size(), &mut self.stacks.borrow_mut()) {
            Ok(s) => s,
            Err(e) => {
                let msg = format!("greenlet {}: could not allocate its stack: {e}", h.id);
                log::error!("{msg}");
                task.body
                    .abort(JoinError::Panicked(PanicPayload::new(Box::new(msg))));
                h.complete();
                bump(&self.counters().finished, 1);
                return false;
            }
        };
        h.set_home(self.index);
        bump(&self.counters().homed, 1);
        let ptr: *const Task = Arc::as_ptr(task);
        let coroutine = Coroutine::new(stack, h.id, h.name(), move || {
            // SAFETY: the task owns this coroutine and outlives it; whichever worker resumes the
            // coroutine holds an Arc of the task meanwhile.
            let task = unsafe { &*ptr };
            let _locals = crate::local::DropAtEnd::new(task.header.id);
            task.body.run(&task.header);
        });
        // SAFETY: this worker won NEW → STARTED; nobody else touches the slot.
        unsafe { *h.coroutine() = Some(coroutine) };
        true
    }

    /// Returns a finished greenlet's stack and publishes its result.
    fn finish(&self, task: &TaskRef) {
        let h = &task.header;
        // SAFETY: the coroutine has returned on this worker; nothing else touches the slot.
        let coroutine = unsafe { h.coroutine() }
            .take()
            .expect("a finished greenlet has a coroutine");
        stack::release(coroutine.into_stack(), &mut self.stacks.borrow_mut());
        h.complete();
        let counters = self.counters();
        bump(&counters.finished, 1);
        counters
            .homed
            .store(counters.homed.load(Relaxed).saturating_sub(1), Relaxed);
    }
}
