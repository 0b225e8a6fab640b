//! Park and unpark: the one primitive every blocking call of the crate comes down to.
//!
//! An execution context (a greenlet, or a plain OS thread) parks until someone unparks it, a
//! deadline passes, or it is interrupted (killed, or an enclosing [`with_timeout`] expires).
//!
//! # The token
//!
//! Each context owns a [`ParkCell`] whose `token` word holds a generation and a status (a
//! [`Token`], laid out in `token.rs`). Every park starts a new generation in `WAITING`
//! ([`prepare_for`]) and hands out [`Unparker`]s stamped with it.
//! An unparker, a timer and a kill all try the same compare-and-swap from `(gen, WAITING)` to
//! `(gen, their status)`: exactly one wins, once, and only for that park. A stale unparker (from
//! an earlier park, or one whose waiter already timed out) fails the CAS and reports `false`, so a
//! primitive can hand its wake-up to another waiter instead of losing it.
//!
//! For a greenlet the same word also says whether it is *parked*: once the greenlet has
//! suspended, its worker sets the `PARKED` bit with a CAS that expects `(gen, WAITING)`, and
//! gives the greenlet's run reference up into the token (see `runtime::task`). Whoever ends the
//! park then finds the bit, clears it in the same CAS, and queues the greenlet. If the park ends
//! before the worker's CAS, that CAS fails and the worker requeues the greenlet itself. One word,
//! one winner: a wake-up can be neither lost nor doubled, whatever the interleaving.
//!
//! # Interrupts
//!
//! A kill, or the expiry of a `with_timeout` deadline, surfaces as an unwind out of the park
//! (`resume_unwind` with a private payload) that runs destructors on the way. An interrupt is
//! never delivered while the context is already unwinding a panic (that would abort the
//! process); it waits for the next park.
//!
//! # Parks during a panic
//!
//! Rust counts panics in flight per OS thread. A greenlet that suspended in the middle of an
//! unwind would leave that count raised for every other greenlet its worker runs meanwhile (they
//! would look as if they were panicking: shielded from kills, and a panic of theirs would be a
//! nested one). So a greenlet that parks while it unwinds (a destructor that sleeps, locks or
//! joins) parks as its worker *thread*: the thread blocks, nothing else runs on it until the
//! park ends, and the worker first hands its queued greenlets to the other workers. With a single
//! worker, such a destructor must not wait for another greenlet.
//!
//! [`with_timeout`]: crate::with_timeout

mod backoff;
mod frames;
mod hold;
#[cfg(all(test, loom))]
mod loom_tests;
mod select;
mod site;
mod spinlock;
mod token;
mod waitlist;
mod waitqueue;

use std::cell::UnsafeCell;
use std::panic::resume_unwind;
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::Instant;

use self::frames::{Frame, Frames};
use self::token::{AtomicToken, Status, Token};
use crate::coroutine::{self, Suspend};
use crate::loom::sync::atomic::{AtomicU8, Ordering::*};
use crate::loom::thread::{self, Thread};
use crate::runtime::{self, Task, TaskRef};

pub(crate) use backoff::Backoff;
pub(crate) use hold::HoldTimeouts;
pub(crate) use select::Selection;
pub(crate) use site::{blocked_threads, fail_blocked_threads, BlockedThread, Site};
pub(crate) use spinlock::{SpinGuard, SpinLock};
pub(crate) use waitlist::{lock, park_in, park_in_then, BoxedNode, WaitList, Waiter};
pub(crate) use waitqueue::{LazyWaitQueue, WaitQueue};

const KILL_NONE: u8 = 0;
const KILL_REQUESTED: u8 = 1;
const KILL_DELIVERED: u8 = 2;

/// The unwind payload of a kill. Caught where the greenlet started.
pub(crate) struct KillUnwind;

/// The unwind payload of an expired `with_timeout`: which context and which frame.
pub(crate) struct TimeoutUnwind {
    pub(crate) cell: usize,
    pub(crate) frame: u64,
}

/// What ending a park from outside found (see [`ParkCell::end_from_outside`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The park had already ended (or never began): nothing was done.
    Before,
    /// Ended while its context still runs (it has not suspended yet, or it is a thread).
    Running,
    /// Ended while the greenlet was parked: the caller now owns its run reference and must
    /// queue it (`runtime::wake_parked`).
    Parked,
}

/// How a park ended when it did not unwind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// An [`Unparker`] fired.
    Unparked,
    /// The park's own deadline passed.
    TimedOut,
}

/// The park state of one context. `repr(C)`: `kill` and `token` first, next to the task's hot
/// fields.
#[repr(C)]
pub(crate) struct ParkCell {
    kill: AtomicU8,
    token: AtomicToken,
    /// `with_timeout` frames, innermost last. Only the owning context touches them.
    frames: UnsafeCell<Frames>,
    /// Where and since when the context waits (for dumps and reports).
    pub(crate) site: Site,
}

// SAFETY: `token`, `kill` and `site` are atomics. `frames` is read and
// written only by the context that owns the cell (the greenlet itself, on whichever worker runs
// it, or the thread itself), never concurrently: the greenlet runs on one worker at a time and
// the hand-off between workers is Release/Acquire through the run queues.
unsafe impl Sync for ParkCell {}

impl ParkCell {
    pub(crate) fn new() -> ParkCell {
        ParkCell {
            token: AtomicToken::new(Token::IDLE),
            kill: AtomicU8::new(KILL_NONE),
            frames: UnsafeCell::new(Frames::new()),
            site: Site::new(),
        }
    }

    #[allow(clippy::mut_from_ref)]
    fn frames(&self) -> &mut Frames {
        // SAFETY: owner-only, see the Sync impl; callers never hold two of these at once.
        unsafe { &mut *self.frames.get() }
    }

    /// The earliest `with_timeout` deadline (the outermost on ties).
    fn earliest_frame(&self) -> Option<Frame> {
        let mut best: Option<Frame> = None;
        for f in self.frames().iter() {
            if best.is_none_or(|b| f.deadline < b.deadline) {
                best = Some(*f);
            }
        }
        best
    }

    /// Whether a kill or an expired timeout is waiting to be delivered.
    fn pending_interrupt(&self) -> bool {
        self.kill.load(Relaxed) == KILL_REQUESTED
            || (!self.frames().is_empty() && self.earliest_frame_expired().is_some())
    }

    fn earliest_frame_expired(&self) -> Option<Frame> {
        self.earliest_frame()
            .filter(|f| f.deadline <= Instant::now())
    }

    /// Unwinds with the pending interrupt, if any (not while already unwinding a panic).
    fn deliver_interrupts(&self) {
        if thread::panicking() {
            return;
        }
        if self.kill.load(SeqCst) == KILL_REQUESTED {
            self.deliver_kill();
        }
        if !self.frames().is_empty() {
            if let Some(frame) = self.earliest_frame_expired() {
                self.deliver_timeout(frame);
            }
        }
    }

    fn deliver_kill(&self) -> ! {
        self.kill.store(KILL_DELIVERED, SeqCst);
        resume_unwind(Box::new(KillUnwind))
    }

    fn deliver_timeout(&self, frame: Frame) -> ! {
        resume_unwind(Box::new(TimeoutUnwind {
            cell: self as *const ParkCell as usize,
            frame: frame.id,
        }))
    }

    /// Asks the owner to unwind at its next blocking call, and interrupts its current park.
    ///
    /// The kill flag is set before the token is read, and the worker that parks a greenlet sets
    /// PARKED before it reads the flag (both SeqCst read-modify-writes, then loads): either this
    /// call sees the park waiting, or the worker sees the flag and ends the park itself (see
    /// [`ParkCell::mark_parked`]). A kill that finds no park waits for the next one.
    pub(crate) fn request_kill(&self) -> Ended {
        if self
            .kill
            .compare_exchange(KILL_NONE, KILL_REQUESTED, SeqCst, SeqCst)
            .is_err()
        {
            return Ended::Before;
        }
        // Greenlet parks are never shielded: a greenlet unwinding a panic parks as its thread
        // (see the module docs), so only the token decides.
        let token = self.token.load(SeqCst);
        if !token.is_waiting() {
            return Ended::Before;
        }
        self.end_from_outside(token.gen(), Status::Killed)
    }

    /// Whether the context is a greenlet parked now (suspended in a park, its run reference in
    /// the token). A snapshot, for dumps.
    pub(crate) fn is_parked(&self) -> bool {
        self.token.load(Relaxed).is_parked()
    }

    /// The status of the park with generation `gen`, as seen now.
    fn status(&self, gen: u64) -> Status {
        let token = self.token.load(Acquire);
        if token.gen() == gen {
            token.status()
        } else {
            Status::Idle
        }
    }

    /// Moves the park `gen` from WAITING to `status`, as its own context (which runs, so the
    /// PARKED bit is clear); true if this call won.
    fn end_own(&self, gen: u64, status: Status) -> bool {
        let waiting = Token::waiting(gen);
        self.token
            .compare_exchange(waiting, waiting.ended(status), AcqRel, Relaxed)
            .is_ok()
    }

    /// Moves the park `gen` from WAITING to `status` from outside (an unparker, a timer, a kill),
    /// whether or not the greenlet is parked yet.
    ///
    /// Release publishes what the waker handed over (a message, a permit) to the woken context,
    /// which reads the token with Acquire; Acquire takes the run reference from the worker that
    /// set PARKED.
    fn end_from_outside(&self, gen: u64, status: Status) -> Ended {
        let waiting = Token::waiting(gen);
        let ended = waiting.ended(status);
        // Guess that the greenlet is parked (the usual case when one greenlet wakes another);
        // a wrong guess costs one more CAS.
        match self
            .token
            .compare_exchange(waiting.parked(), ended, AcqRel, Relaxed)
        {
            Ok(_) => Ended::Parked,
            Err(actual) if actual == waiting => {
                match self.token.compare_exchange(waiting, ended, AcqRel, Acquire) {
                    Ok(_) => Ended::Running,
                    // The worker set PARKED in between; nobody else can have ended the park
                    // without also clearing WAITING.
                    Err(now) if now == waiting.parked() => self.end_from_outside(gen, status),
                    Err(_) => Ended::Before,
                }
            }
            Err(_) => Ended::Before,
        }
    }

    /// Starts the next park of this (the caller's own) context, in `Waiting`; returns its
    /// generation.
    ///
    /// A plain store: the previous park has ended and the context runs, so no other party can
    /// write the token now (they only ever CAS a waiting token of their own generation). Release
    /// orders it before the registration of the unparkers, whose firers read it.
    fn begin(&self) -> u64 {
        let gen = self.token.load(Relaxed).next_gen();
        self.token.store(Token::waiting(gen), Release);
        gen
    }

    /// Called by a worker right after its greenlet suspended to park: marks it PARKED. True: it
    /// is parked, and its run reference now belongs to the token (the worker must give its own
    /// up without dropping it). False: the park has ended already (or a pending kill ended it
    /// now), and the worker must requeue the greenlet.
    pub(crate) fn mark_parked(&self) -> bool {
        let token = self.token.load(Acquire);
        if !token.is_waiting() {
            return false;
        }
        // Fails only if the park ended meanwhile: nobody else sets PARKED or a new generation.
        if self
            .token
            .compare_exchange(token, token.parked(), SeqCst, Relaxed)
            .is_err()
        {
            return false;
        }
        // A kill requested just before that CAS may have read the token before the park began
        // (see `request_kill`): end the park for it. If someone else ended it first, they took
        // the run reference and queue the greenlet.
        let killed_here = self.kill.load(SeqCst) == KILL_REQUESTED
            && self
                .token
                .compare_exchange(token.parked(), token.ended(Status::Killed), AcqRel, Relaxed)
                .is_ok();
        !killed_here
    }
}

/// A plain OS thread's context.
pub(crate) struct ThreadCtx {
    cell: ParkCell,
    thread: Thread,
    /// The report a deadlocked park panics with (see [`fail_blocked_threads`]).
    deadlock: std::sync::Mutex<Option<Arc<str>>>,
}

thread::thread_local! {
    static THREAD_CTX: Arc<ThreadCtx> = Arc::new(ThreadCtx {
        cell: ParkCell::new(),
        thread: thread::current(),
        deadlock: std::sync::Mutex::new(None),
    });
}

/// Who an [`Unparker`] wakes: a greenlet (through its task) or a plain thread.
enum Target {
    /// Holds a reference to the task: may be kept and fired at any time (timers, wait queues).
    Greenlet(TaskRef),
    /// Borrows the task: made by [`Parker::unparker_in_lock`], under that method's contract.
    Borrowed(NonNull<Task>),
    Thread(Arc<ThreadCtx>),
}

// SAFETY: `Greenlet` and `Thread` are Send on their own. A `Borrowed` pointer is to a `Task`,
// which is Send and Sync (an `Arc<Task>` crosses threads freely); its validity is not tied to a
// thread but to the lock contract of `Parker::unparker_in_lock`.
unsafe impl Send for Target {}

impl Target {
    fn task(&self) -> Option<NonNull<Task>> {
        match self {
            Target::Greenlet(task) => Some(NonNull::from(&**task)),
            Target::Borrowed(task) => Some(*task),
            Target::Thread(_) => None,
        }
    }

    fn cell(&self) -> &ParkCell {
        match self {
            Target::Greenlet(task) => &task.header.park,
            // SAFETY: see `Parker::unparker_in_lock`: the task is alive while this exists.
            Target::Borrowed(task) => unsafe { &task.as_ref().header.park },
            Target::Thread(t) => &t.cell,
        }
    }
}

/// The calling context, as its parker sees it.
enum Context {
    /// The running greenlet's own task: alive while it runs, so no reference count is taken.
    Greenlet(NonNull<Task>),
    Thread(Arc<ThreadCtx>),
}

impl Context {
    /// The context that parks now: the running greenlet, or the thread (a plain thread, or a
    /// worker whose greenlet is unwinding a panic: see the module docs).
    fn parking(panicking: bool) -> Context {
        match runtime::current_task_ptr() {
            Some(task) if !panicking => Context::Greenlet(task),
            _ => Context::thread(),
        }
    }

    fn current() -> Context {
        match runtime::current_task_ptr() {
            Some(task) => Context::Greenlet(task),
            None => Context::thread(),
        }
    }

    /// The calling OS thread's own context.
    fn thread() -> Context {
        crate::config::mark_used();
        Context::Thread(THREAD_CTX.with(Arc::clone))
    }

    fn cell(&self) -> &ParkCell {
        match self {
            // SAFETY: the running greenlet's own task outlives anything it parks on.
            Context::Greenlet(task) => unsafe { &task.as_ref().header.park },
            Context::Thread(t) => &t.cell,
        }
    }

    fn target(&self) -> Target {
        match self {
            Context::Greenlet(task) => {
                // SAFETY: `task` came from `Arc::as_ptr` of a task the worker keeps alive while
                // it runs; one more strong count makes an owned reference for the unparker.
                Target::Greenlet(unsafe {
                    Arc::increment_strong_count(task.as_ptr());
                    Arc::from_raw(task.as_ptr())
                })
            }
            Context::Thread(t) => Target::Thread(t.clone()),
        }
    }
}

/// Wakes one park of one context; any thread may fire it.
pub(crate) struct Unparker {
    target: Target,
    gen: u64,
    /// A select's registration: the gate to pass first, and this registration's index (see
    /// `park::select`).
    gate: Option<(Arc<Selection>, usize)>,
}

impl Unparker {
    /// Ends the park it was made for; false if that park already ended (or never began).
    pub(crate) fn unpark(self) -> bool {
        self.fire(Status::Unparked)
    }

    /// Ends the park with `TimedOut`; used by timers.
    pub(crate) fn time_out(self) -> bool {
        self.fire(Status::TimedOut)
    }

    /// Whether the park this unparker belongs to is still waiting.
    pub(crate) fn is_waiting(&self) -> bool {
        self.target.cell().status(self.gen) == Status::Waiting
    }

    fn fire(self, status: Status) -> bool {
        self.claim_with(status).map(Wakeup::wake).is_some()
    }

    /// Ends the park it was made for, like [`unpark`](Unparker::unpark), but leaves waking the
    /// context to the returned [`Wakeup`]: a primitive claims under its lock (the decision:
    /// exactly one outcome per park) and wakes after unlocking (the syscall or the queue push),
    /// as parking_lot and tokio's `WakeList` do. `None`: that park already ended.
    pub(crate) fn claim(self) -> Option<Wakeup> {
        self.claim_with(Status::Unparked)
    }

    fn claim_with(self, status: Status) -> Option<Wakeup> {
        if !self.pass_gate() {
            return None;
        }
        match self.target.cell().end_from_outside(self.gen, status) {
            Ended::Before => None,
            Ended::Running => Some(Wakeup(match self.target {
                Target::Thread(t) => Some(Waking::Thread(t)),
                // Not suspended yet: its own `park` sees the status and does not suspend.
                Target::Greenlet(_) | Target::Borrowed(_) => None,
            })),
            Ended::Parked => {
                let task = self
                    .target
                    .task()
                    .expect("only a greenlet parks with PARKED");
                // SAFETY: ending the park out of PARKED handed us the run reference, which the
                // worker gave up with `into_raw`; this takes it back, owned.
                Some(Wakeup(Some(Waking::Task(unsafe {
                    TaskRef::from_raw(task.as_ptr())
                }))))
            }
        }
    }
}

/// A claimed wake-up ([`Unparker::claim`]): the park has ended; this makes its context run
/// again. Owns what it needs (the greenlet's run reference, or the thread), so it may outlive
/// the lock it was claimed under. Dropping it wakes too: a claimed wake-up is never lost.
/// (`None`: the context had not suspended yet; it sees the outcome itself.)
#[must_use = "a claimed wake-up wakes its context when used or dropped"]
pub(crate) struct Wakeup(Option<Waking>);

enum Waking {
    /// A parked greenlet, with its run reference: queue it.
    Task(TaskRef),
    /// A plain thread (or a greenlet's worker parked as a thread): unpark it.
    Thread(Arc<ThreadCtx>),
}

impl Wakeup {
    /// Makes the context run again.
    pub(crate) fn wake(self) {
        drop(self);
    }
}

impl Drop for Wakeup {
    fn drop(&mut self) {
        match self.0.take() {
            Some(Waking::Task(task)) => runtime::wake_task(task),
            Some(Waking::Thread(t)) => t.thread.unpark(),
            None => {}
        }
    }
}

/// A park that has begun (its unparkers may fire) but not yet blocked. Used only by the
/// context that made it.
pub(crate) struct Parker {
    context: Context,
    cell: NonNull<ParkCell>,
    gen: u64,
    /// Begun while the context unwinds a panic: this park ignores kills and timeouts (they wait
    /// for the next park). Only ever true for a thread context (see the module docs).
    shielded: bool,
}

/// Begins a park of the calling context: from now on, unparkers made from the result can end it.
/// Register them where the wake-up will come from, then call [`Parker::park`].
///
/// Records what the context waits on (a short static label such as `"channel recv"`) and where
/// (the caller of the crate's blocking function: every function between it and here is
/// `#[track_caller]`), for dumps and reports.
#[track_caller]
pub(crate) fn prepare_for(what: &'static &'static str) -> Parker {
    let panicking = thread::panicking();
    let context = Context::parking(panicking);
    let cell = context.cell();
    let now = match context {
        Context::Greenlet(task) => {
            // SAFETY: the running greenlet's own task, alive while it runs.
            crate::dump::on_park(unsafe { task.as_ref() }.header.id);
            runtime::coarse_now()
        }
        Context::Thread(_) => runtime::precise_now(),
    };
    cell.site.record(what, std::panic::Location::caller(), now);
    let gen = cell.begin();
    let cell = NonNull::from(cell);
    Parker {
        context,
        cell,
        gen,
        shielded: panicking,
    }
}

impl Parker {
    /// An unparker for this park. It holds a reference to the context, so it may be kept for
    /// as long as wanted and fired from anywhere.
    pub(crate) fn unparker(&self) -> Unparker {
        Unparker {
            target: self.context.target(),
            gen: self.gen,
            gate: None,
        }
    }

    /// An unparker for this park that does not hold a reference to a greenlet (saving two
    /// atomic reference-count updates on every park).
    ///
    /// # Safety
    /// The caller registers it in a wait list protected by a lock, and:
    /// * it is fired or dropped only while that lock is held;
    /// * the waiter takes it out of the list under that lock before it returns from the wait,
    ///   unless this very unparker ended the park (see `waitlist::park_in`).
    ///
    /// Then the task is alive whenever the unparker is used: until its park ends, the task is
    /// running (it has not returned from the wait) or parked (its run reference is in the
    /// token); once the park ended another way, the waiter is still inside the wait, held up by
    /// the lock until it takes the entry out.
    pub(crate) unsafe fn unparker_in_lock(&self) -> Unparker {
        let target = match &self.context {
            Context::Greenlet(task) => Target::Borrowed(*task),
            Context::Thread(t) => Target::Thread(t.clone()),
        };
        Unparker {
            target,
            gen: self.gen,
            gate: None,
        }
    }

    fn cell(&self) -> &ParkCell {
        // SAFETY: the cell belongs to the calling context, which outlives its own parker.
        unsafe { self.cell.as_ref() }
    }

    /// Blocks until unparked or `deadline` passes. Unwinds on a kill or an expired enclosing
    /// `with_timeout` (unless the context is already unwinding a panic).
    pub(crate) fn park(self, deadline: Option<Instant>) -> Wake {
        let cell = self.cell();
        if deadline.is_none() && matches!(self.context, Context::Greenlet(_)) {
            // The common case, kept short: a greenlet (never shielded) waiting for another
            // party with no deadline of its own; an enclosing with_timeout sends it below.
            if cell.frames().is_empty() {
                if cell.kill.load(Relaxed) == KILL_REQUESTED
                    && cell.end_own(self.gen, Status::Killed)
                {
                    cell.deliver_kill();
                }
                self.block_greenlet(None);
                return self.resolve(None, None);
            }
        }
        let shielded = self.shielded;
        if !shielded
            && cell.kill.load(SeqCst) == KILL_REQUESTED
            && cell.end_own(self.gen, Status::Killed)
        {
            cell.deliver_kill();
        }
        let frame = if shielded {
            None
        } else {
            cell.earliest_frame()
        };
        let wake_at = match (deadline, frame) {
            (Some(d), Some(f)) => Some(d.min(f.deadline)),
            (d, f) => d.or(f.map(|f| f.deadline)),
        };
        match self.context {
            Context::Greenlet(_) => self.block_greenlet(wake_at),
            Context::Thread(_) => self.block_thread(wake_at),
        }
        self.resolve(deadline, frame)
    }

    fn block_greenlet(&self, wake_at: Option<Instant>) {
        let cell = self.cell();
        let mut timer = None;
        if let Some(at) = wake_at {
            if runtime::deadline_passed(at) {
                cell.end_own(self.gen, Status::TimedOut);
                return;
            }
            timer =
                runtime::add_cancellable_timer(at, runtime::TimerAction::Unpark(self.unparker()));
        }
        while cell.status(self.gen) == Status::Waiting {
            coroutine::suspend(Suspend::Park);
        }
        // Ended otherwise than by its timer (an unpark, a kill): the timer goes now, so that
        // the wheels hold only timers that can still fire.
        if let Some(key) = timer {
            if cell.status(self.gen) != Status::TimedOut {
                runtime::cancel_timer(key);
            }
        }
    }

    fn block_thread(&self, wake_at: Option<Instant>) {
        let cell = self.cell();
        if cell.status(self.gen) == Status::Waiting && runtime::current_task_ptr().is_some() {
            // A greenlet unwinding a panic: its worker thread is about to block.
            runtime::worker_blocks();
        }
        // A plain thread that may wait for ever is watched by the deadlock detector, which
        // needs the runtime (its monitor thread) running.
        let _blocked = match (&self.context, wake_at) {
            // (Not under loom: its models drive this path from loom threads, runtime-less.)
            (Context::Thread(ctx), None)
                if runtime::current_task_ptr().is_none() && !cfg!(loom) =>
            {
                runtime::ensure_started();
                let blocked = site::Blocked::new(ctx, self.gen);
                runtime::thread_blocked();
                Some(blocked)
            }
            _ => None,
        };
        while cell.status(self.gen) == Status::Waiting {
            match wake_at {
                None => thread::park(),
                Some(at) => {
                    let now = Instant::now();
                    if now >= at {
                        cell.end_own(self.gen, Status::TimedOut);
                    } else {
                        thread::park_timeout(at - now);
                    }
                }
            }
        }
    }

    /// Turns the final status into a return value or an unwind.
    fn resolve(&self, deadline: Option<Instant>, frame: Option<Frame>) -> Wake {
        let cell = self.cell();
        match cell.status(self.gen) {
            Status::Unparked => Wake::Unparked,
            Status::Killed => cell.deliver_kill(),
            Status::Deadlocked => self.deliver_deadlock(),
            _ => {
                // TIMED_OUT: the park's own deadline or an enclosing with_timeout. The earlier
                // one wins; on a tie the call returns and the timeout fires at the next park.
                match (deadline, frame) {
                    (Some(d), Some(f)) if f.deadline < d => cell.deliver_timeout(f),
                    (None, Some(f)) => cell.deliver_timeout(f),
                    _ => Wake::TimedOut,
                }
            }
        }
    }
}

impl Parker {
    /// The deadlock detector ended this thread's park: the blocked call panics with its report.
    fn deliver_deadlock(&self) -> ! {
        let report = match &self.context {
            Context::Thread(ctx) => lock(&ctx.deadlock).take(),
            Context::Greenlet(_) => None,
        };
        panic!(
            "{}",
            report
                .as_deref()
                .unwrap_or("greenlet: deadlock: nothing can wake this call")
        )
    }
}

impl Drop for Parker {
    /// A park abandoned before blocking (its condition became true) is retired, so that a late
    /// unparker fails instead of waking the context for nothing.
    fn drop(&mut self) {
        // After a park the status is final already: a plain load spares the locked CAS.
        if self.cell().status(self.gen) == Status::Waiting {
            self.cell().end_own(self.gen, Status::Idle);
        }
    }
}

impl ParkCell {
    /// Unwinds if a kill or an expired `with_timeout` is pending for this (the caller's own)
    /// context. Used by yield points that do not park.
    #[inline]
    pub(crate) fn check_interrupts(&self) {
        if self.pending_interrupt() {
            self.deliver_interrupts();
        }
    }
}

/// Parks the caller until `deadline` (for ever if `None`), recorded as waiting on `what`: the
/// one way to wait for the clock alone (`sleep`, timer channels). Nothing but the deadline ends
/// it (a stray unpark parks again); a kill or an expired `with_timeout` unwinds out of it.
#[track_caller]
pub(crate) fn sleep_until(what: &'static &'static str, deadline: Option<Instant>) {
    while prepare_for(what).park(deadline) != Wake::TimedOut {}
}

/// [`ParkCell::check_interrupts`] for the calling plain thread.
pub(crate) fn check_thread_interrupts() {
    THREAD_CTX.with(|t| t.cell.check_interrupts());
}

/// A `with_timeout` frame on the calling context; popped when dropped.
pub(crate) struct TimeoutFrame {
    context: Context,
    id: u64,
}

impl TimeoutFrame {
    pub(crate) fn push(deadline: Instant) -> TimeoutFrame {
        let context = Context::current();
        let cell = context.cell();
        let id = cell.frames().push(deadline);
        TimeoutFrame { context, id }
    }

    /// Whether `payload` is this frame's own timeout.
    pub(crate) fn owns(&self, payload: &TimeoutUnwind) -> bool {
        payload.cell == self.context.cell() as *const ParkCell as usize && payload.frame == self.id
    }
}

impl Drop for TimeoutFrame {
    fn drop(&mut self) {
        self.context.cell().frames().remove(self.id);
    }
}
