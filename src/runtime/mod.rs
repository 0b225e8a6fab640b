//! The scheduler: worker threads running greenlets from work-stealing run queues.
//!
//! * One worker thread per core by default, each with a local FIFO run queue
//!   (`crossbeam_deque::Worker`), a one-slot *run next* for the greenlet the running one just
//!   woke (so ping-pong hand-offs skip the queue), and a timer heap.
//! * A global injector takes greenlets spawned or woken from outside the workers.
//! * An idle worker steals from the injector and the other workers, fires due timers, and then
//!   sleeps until woken or until the next deadline (see [`idle`]). An idle runtime uses no CPU.
//! * A monitor thread warns (through `log`) when one greenlet holds a worker for more than
//!   100 ms without a blocking call of this crate (see [`monitor`]).
//! * Fairness: every 61 ticks a worker looks at the injector before its own queue;
//!   the run-next slot is skipped after 16 hand-offs in a row; a greenlet that yields goes to the
//!   back of the queue.
//!
//! The runtime starts on first use and lives as long as the process.

mod idle;
mod monitor;
pub(crate) mod task;
mod timers;
mod worker;

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::Instant;

use crossbeam_deque::{Injector, Stealer};

use crate::config::{self, Resolved};
use crate::coroutine::overflow;
use crate::park::Ended;
use crate::JoinError;
pub(crate) use task::{Task, TaskRef};
use task::{CLAIMED, NEW};
pub(crate) use timers::TimerAction;
use timers::TimerHeap;

/// The process-wide runtime.
pub(crate) struct Runtime {
    injector: Injector<TaskRef>,
    stealers: Box<[Stealer<TaskRef>]>,
    workers: Box<[Shared]>,
    sleepers: Box<[idle::Sleeper]>,
    idle: idle::Idle,
    epoch: Instant,
    /// Round-robin choice of timer heap for timers added outside the workers.
    next_heap: AtomicUsize,
    /// When idle workers next give back unused stack memory (ns since the epoch; 0: not armed).
    next_trim: AtomicU64,
    pub(crate) config: Resolved,
    /// The IO driver, polled by idle workers (see [`crate::io::driver`]).
    pub(crate) io: crate::io::Driver,
    /// What the stall monitor watches (see [`monitor`]).
    monitor: monitor::Monitor,
}

/// What the other threads may touch of one worker.
struct Shared {
    timers: Mutex<TimerHeap>,
    /// Earliest deadline in `timers` (ns since the epoch), readable without the lock.
    next_timer: AtomicU64,
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// The runtime, started on first call.
pub(crate) fn get() -> &'static Runtime {
    RUNTIME.get_or_init(start)
}

fn start() -> Runtime {
    let config = config::resolve();
    overflow::install();
    let n = config.workers;
    let locals: Vec<_> = (0..n)
        .map(|_| crossbeam_deque::Worker::new_fifo())
        .collect();
    let stealers = locals.iter().map(|w| w.stealer()).collect();
    for (index, local) in locals.into_iter().enumerate() {
        let spawned = thread::Builder::new()
            .name(format!("greenlet-worker-{index}"))
            .spawn(move || {
                let rt = RUNTIME.wait();
                worker::run(rt, index, local);
            });
        if let Err(e) = spawned {
            panic!("greenlet: could not start worker thread {index}: {e}");
        }
    }
    let monitor = thread::Builder::new()
        .name("greenlet-monitor".into())
        .spawn(|| {
            let rt = RUNTIME.wait();
            rt.monitor.run(|| rt.idle.all_asleep());
        });
    if let Err(e) = monitor {
        log::error!("greenlet: could not start the stall monitor thread (running without): {e}");
    }
    log::debug!("greenlet: runtime started with {n} workers");
    Runtime {
        injector: Injector::new(),
        stealers,
        workers: (0..n)
            .map(|_| Shared {
                timers: Mutex::new(TimerHeap::new()),
                next_timer: AtomicU64::new(u64::MAX),
            })
            .collect(),
        sleepers: (0..n).map(|_| idle::Sleeper::new()).collect(),
        idle: idle::Idle::new(n),
        epoch: Instant::now(),
        next_heap: AtomicUsize::new(0),
        next_trim: AtomicU64::new(0),
        config,
        io: crate::io::Driver::new()
            .unwrap_or_else(|e| panic!("greenlet: could not create the IO poller: {e}")),
        monitor: monitor::Monitor::new(n),
    }
}

impl Runtime {
    /// Nanoseconds since the epoch.
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    fn instant_to_ns(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_nanos() as u64
    }

    /// The earliest deadline across every worker's timers.
    fn earliest_timer(&self) -> u64 {
        self.workers
            .iter()
            .map(|w| w.next_timer.load(SeqCst))
            .min()
            .unwrap_or(u64::MAX)
    }

    /// Queues a task from outside the workers.
    fn push_remote(&self, task: TaskRef) {
        self.injector.push(task);
        self.notify_one();
    }

    /// New work is visible: wakes a sleeping worker unless one is searching already.
    fn notify_one(&self) {
        self.idle.notify_one(&self.sleepers, &self.io);
    }

    /// Adds a timer to heap `index`.
    fn add_timer_to(&self, index: usize, at: u64, action: TimerAction) {
        let shared = &self.workers[index];
        let mut heap = shared.timers.lock().unwrap_or_else(|e| e.into_inner());
        let earliest = heap.push(at, action);
        shared.next_timer.store(earliest, SeqCst);
        drop(heap);
        self.idle.notify_timer(at, &self.sleepers, &self.io);
    }
}

/// How a task came to be runnable.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// Newly spawned: goes to the back of the queue.
    Spawned,
    /// Woken by an unpark: runs next when the waker is a greenlet on this worker.
    Woken,
}

/// Makes a new task runnable.
pub(crate) fn spawn(task: TaskRef) {
    schedule(task, Origin::Spawned);
}

fn schedule(task: TaskRef, origin: Origin) {
    let mut task = Some(task);
    worker::with_current(|w| {
        if let Some(w) = w {
            w.schedule(task.take().expect("task"), origin);
        }
    });
    if let Some(task) = task {
        get().push_remote(task);
    }
}

/// Queues a parked greenlet whose park the caller just ended.
///
/// # Safety
/// The caller ended the park out of PARKED (`park::Ended::Parked`), which makes it the owner of
/// the run reference the worker gave up into the token: `task` is that reference's pointer.
pub(crate) unsafe fn wake_parked(task: NonNull<Task>) {
    // SAFETY: see above: this takes back the reference the worker released with `into_raw`.
    let task = unsafe { TaskRef::from_raw(task.as_ptr()) };
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

/// Adds a timer: to the calling worker's heap, or round-robin from other threads.
pub(crate) fn add_timer(at: Instant, action: TimerAction) {
    let rt = get();
    let index = worker::with_current(|w| w.map(|w| w.index))
        .unwrap_or_else(|| rt.next_heap.fetch_add(1, Relaxed) % rt.workers.len());
    rt.add_timer_to(index, rt.instant_to_ns(at), action);
}

/// A pointer to the running greenlet's task, valid while that greenlet runs.
pub(crate) fn current_task_ptr() -> Option<NonNull<Task>> {
    worker::with_current(|w| w.and_then(|w| w.current.get()))
}

/// Called before the running greenlet blocks its whole worker thread (it parks while unwinding
/// a panic, see `park`): the greenlet it just woke moves from the run-next slot to the local
/// queue, and a sleeping worker is woken to steal the queue while this one is blocked.
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
