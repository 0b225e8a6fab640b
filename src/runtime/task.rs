//! The task: one heap allocation per greenlet holding its scheduling state, its function until
//! it starts, its coroutine while it runs, and its result once it ends.
//!
//! Two state words drive it:
//!
//! * `life`: `NEW` → `STARTED` → `DONE`, or `NEW` → `CLAIMED` → `DONE` when it is killed before it
//!   ever ran. Whoever wins the CAS out of `NEW` owns the function.
//! * the park token (`park`, see [`crate::park`]): which park is current, how it ended, and
//!   whether the greenlet is *parked* (suspended, with no queue or worker holding it).
//!
//! # The run reference
//!
//! Until a greenlet finishes, exactly one of its `Arc` references is its *run reference*: the
//! one that may resume it. It sits in a run queue, or with the worker running the greenlet, or
//! with the `spawn_later` timer before the start, or nowhere while the greenlet is parked: the
//! worker then gives it up into the park token (`Arc::into_raw`, the PARKED bit), and whoever
//! ends that park takes it back (`Arc::from_raw`) and queues the greenlet. Exactly one party
//! holds it at a time, so a greenlet sits in at most one queue and runs on at most one worker;
//! and a parked greenlet stays allocated, which is what lets a wait list unpark it through a
//! borrowed pointer (see `park::waitlist`).

use std::any::Any;
use std::cell::UnsafeCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::coroutine::Coroutine;
use crate::local::LocalMap;
use crate::park::{KillUnwind, ParkCell, WaitQueue};
use crate::JoinError;

pub(crate) const NEW: u8 = 0;
pub(crate) const STARTED: u8 = 1;
pub(crate) const CLAIMED: u8 = 2;
pub(crate) const DONE: u8 = 3;

/// A greenlet: the untyped header and a body that knows the function and result types.
pub(crate) struct Task<B: ?Sized = dyn Runnable> {
    pub(crate) header: Header,
    pub(crate) body: B,
}

/// The scheduler's reference to a task.
pub(crate) type TaskRef = Arc<Task>;

/// `repr(C)` keeps what every switch touches (the state words, the kill flag, the coroutine's
/// stack pointer) in the first cache line of the allocation.
#[repr(C)]
pub(crate) struct Header {
    pub(crate) life: AtomicU8,
    coroutine: UnsafeCell<Option<Coroutine>>,
    pub(crate) park: ParkCell,
    pub(crate) joiners: WaitQueue,
    pub(crate) id: u64,
    pub(crate) name: Option<Box<str>>,
    pub(crate) stack_size: usize,
    /// `Local` values of this greenlet; touched only by the greenlet itself.
    locals: UnsafeCell<Option<Box<LocalMap>>>,
}

// SAFETY: every field but `coroutine` and `locals` is Sync on its own. `coroutine` is touched
// only by the worker that holds the run reference (see the module docs) and runs or finishes the
// task, or by the worker that won `life` NEW → STARTED (holding it too), so accesses are never
// concurrent; the run reference moves between threads through Release/Acquire operations (run
// queues, the park token), which orders them. `locals` is touched only by the greenlet itself while it runs (same argument).
unsafe impl Sync for Header {}

impl Header {
    pub(crate) fn new(id: u64, name: Option<Box<str>>, stack_size: usize) -> Header {
        Header {
            life: AtomicU8::new(NEW),
            park: ParkCell::new(),
            joiners: WaitQueue::new(),
            id,
            name,
            stack_size,
            coroutine: UnsafeCell::new(None),
            locals: UnsafeCell::new(None),
        }
    }

    /// The greenlet's `Local` values.
    ///
    /// # Safety
    /// Only the greenlet itself, while it runs, may call it, and not while a previous result is
    /// in use.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn locals(&self) -> &mut Option<Box<LocalMap>> {
        &mut *self.locals.get()
    }

    /// Drops the greenlet's `Local` values, inside the greenlet, when its function has ended.
    /// A destructor that panics is contained (and logged): the greenlet has already finished.
    pub(crate) fn drop_locals(&self) {
        // SAFETY: called by the greenlet itself, after its function returned.
        while let Some(map) = unsafe { self.locals() }.take() {
            if catch_unwind(AssertUnwindSafe(move || drop(map))).is_err() {
                log::error!("greenlet {}: a Local value panicked while dropped", self.id);
            }
        }
    }

    /// The coroutine slot.
    ///
    /// # Safety
    /// Only the worker that currently runs (or starts, or finishes) this task may call it.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn coroutine(&self) -> &mut Option<Coroutine> {
        &mut *self.coroutine.get()
    }

    pub(crate) fn is_done(&self) -> bool {
        self.life.load(Ordering::Acquire) == DONE
    }

    /// Publishes the result (already stored by the body) and wakes every joiner.
    pub(crate) fn complete(&self) {
        // Release publishes the result; notify_all's SeqCst fence orders this store before its
        // check for waiters (see WaitQueue).
        self.life.store(DONE, Ordering::Release);
        self.joiners.notify_all();
    }

    /// Waits until the task is done or `deadline` passes; true when done.
    pub(crate) fn wait_done(&self, deadline: Option<Instant>) -> bool {
        self.joiners.wait_until(deadline, || self.is_done())
    }
}

/// The typed part of a task, seen by the scheduler.
pub(crate) trait Runnable: Send + Sync + 'static {
    /// Runs the function to its end, on the greenlet's own stack, and stores its result.
    /// Never unwinds. Called once, by the worker that won `life` NEW → STARTED.
    fn run(&self);
    /// Stores `err` as the result and drops the function without running it. Called once, by
    /// whoever won the CAS out of NEW.
    fn abort(&self, err: JoinError);
}

pub(crate) struct Body<F, T> {
    f: UnsafeCell<Option<F>>,
    result: UnsafeCell<Option<Result<T, JoinError>>>,
}

impl<F, T> Body<F, T> {
    pub(crate) fn new(f: F) -> Body<F, T> {
        Body {
            f: UnsafeCell::new(Some(f)),
            result: UnsafeCell::new(None),
        }
    }
}

// SAFETY: `f` is taken exactly once, by the winner of the CAS out of `life == NEW` (run or
// abort). `result` is written once, before `life` becomes DONE with a Release store, and read
// only after an Acquire load sees DONE, by the one `Greenlet<T>` handle (join takes it by value).
// F and T are Send, so moving them to whichever thread does this is fine.
unsafe impl<F: Send, T: Send> Sync for Body<F, T> {}

impl<F, T> Runnable for Body<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    fn run(&self) {
        // SAFETY: see the Sync impl: this worker won NEW → STARTED.
        let f = unsafe { (*self.f.get()).take() }.expect("greenlet function already taken");
        let result = catch_unwind(AssertUnwindSafe(f)).map_err(panic_to_error);
        // SAFETY: written once, before `complete` publishes it.
        unsafe { *self.result.get() = Some(result) };
    }

    fn abort(&self, err: JoinError) {
        // SAFETY: see the Sync impl: the caller won the CAS out of NEW.
        unsafe {
            drop((*self.f.get()).take());
            *self.result.get() = Some(Err(err));
        }
    }
}

/// Takes the result of a task whose body is a `Body<F, T>`.
///
/// # Safety
/// `task` must have been made as a `Task<Body<F, T>>` with these very `F` and `T`, be done
/// (`life` observed DONE with Acquire), and the caller must be its one `Greenlet<T>` handle.
pub(crate) unsafe fn take_result<F, T>(task: &Task) -> Option<Result<T, JoinError>> {
    let body = &(*(task as *const Task as *const Task<Body<F, T>>)).body;
    (*body.result.get()).take()
}

/// A kill unwinds with a private payload; anything else is the user's panic.
fn panic_to_error(payload: Box<dyn Any + Send>) -> JoinError {
    if payload.is::<KillUnwind>() {
        JoinError::Killed
    } else {
        JoinError::Panicked(payload)
    }
}
