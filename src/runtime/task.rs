//! The task: one heap allocation per greenlet holding its scheduling state, its function until
//! it starts, a pointer to its coroutine while it runs, and its result once it ends.
//!
//! Every greenlet, queued, running or parked, holds one, so the header is kept small (96
//! bytes; a unit test guards it): what only the running greenlet needs lives at the top of its
//! stack (the coroutine and its `Local` values, see [`crate::coroutine`]), what few greenlets
//! use is boxed on first use (the `with_timeout` frames, the joiners' queue, the name).
//!
//! Three state words drive it:
//!
//! * `life`: `NEW` → `STARTED` → `DONE`, or `NEW` → `CLAIMED` → `DONE` when it is killed before it
//!   ever ran. Whoever wins the CAS out of `NEW` owns the function.
//! * `home`: the worker the greenlet started on, where it runs for the rest of its life (the
//!   placement rule, see [`crate::runtime`]); `NO_HOME` until it starts.
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
//!
//! # Who drops the result
//!
//! A result (or a panic payload) is a user value whose `Drop` may panic or park, so it must be
//! dropped where that is allowed: by the [`Greenlet`](crate::Greenlet) handle's owner (`join`,
//! or dropping the handle), or, for a detached greenlet, by the greenlet itself before it ends,
//! where a panic is caught and logged. Never by whoever happens to drop the last reference to the
//! task: that may be a worker's scheduling loop, or code holding the timer lock. The `result`
//! word decides, with one read-modify-write on each side: the body sets `STORED` after writing
//! the result, the handle sets `DETACHED` when it is dropped; whoever sets its bit second drops
//! the result. So dropping a `TaskRef` never runs user code.

use std::any::Any;
use std::cell::UnsafeCell;
use std::panic::Location;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;

use std::ptr::NonNull;

use super::registry::{Key, REGISTRY};
use crate::coroutine::{stack, Coroutine};
use crate::park::{KillUnwind, LazyWaitQueue, ParkCell, WaitQueue};
use crate::JoinError;

pub(crate) const NEW: u8 = 0;
pub(crate) const STARTED: u8 = 1;
pub(crate) const CLAIMED: u8 = 2;
pub(crate) const DONE: u8 = 3;

/// `registry_key` of a task not (or no longer) in the registry.
const UNREGISTERED: u64 = u64::MAX;

/// `home` of a greenlet that has not started.
pub(crate) const NO_HOME: u32 = u32::MAX;

/// `placement` bits: placed by how many greenlets each worker hosts (see `worker::Placement`).
pub(crate) const BALANCED: u8 = 1;
/// `placement` bits: the greenlets it spawns are [`BALANCED`].
pub(crate) const BALANCES_CHILDREN: u8 = 2;

/// `result` bits: the body has stored the result.
const STORED: u8 = 1;
/// `result` bits: the handle is gone (dropped, or consumed by `join`).
const DETACHED: u8 = 2;

/// A greenlet: the untyped header and a body that knows the function and result types.
pub(crate) struct Task<B: ?Sized = dyn Runnable> {
    pub(crate) header: Header,
    pub(crate) body: B,
}

/// The scheduler's reference to a task.
pub(crate) type TaskRef = Arc<Task>;

/// `repr(C)` keeps what every switch touches (the state words, the pointer to the coroutine, the
/// park cell's kill flag and token) in the first cache line of the allocation.
#[repr(C)]
pub(crate) struct Header {
    pub(crate) life: AtomicU8,
    /// Who drops the result: `STORED` and `DETACHED` bits (see the module docs).
    result: AtomicU8,
    /// The size class of its stack (`stack::class_id`): one byte where a size took eight.
    stack_class: u8,
    /// How the scheduler places it and its children ([`BALANCED`], [`BALANCES_CHILDREN`] bits;
    /// see `worker::Placement`). Set before the task is queued (its own bit) or by the task
    /// itself (its children's bit).
    placement: AtomicU8,
    /// The worker this greenlet runs on once started ([`NO_HOME`] before).
    home: AtomicU32,
    coroutine: UnsafeCell<Option<Coroutine>>,
    pub(crate) park: ParkCell,
    /// Made by the first joiner that has to wait: most greenlets end before anyone joins.
    joiners: LazyWaitQueue,
    pub(crate) id: u64,
    /// Where the greenlet was spawned and its name, if any (for dumps and reports): one word.
    origin: Origin,
    /// Its key in the registry of live tasks (see [`super::registry`]), as bits.
    registry_key: AtomicU64,
}

// SAFETY: every field but `coroutine` is Sync on its own. `coroutine` is touched
// only by the worker that holds the run reference (see the module docs) and runs or finishes the
// task, or by the worker that won `life` NEW → STARTED (holding it too), so accesses are never
// concurrent; the run reference moves between threads through Release/Acquire operations (run
// queues, the park token), which orders them.
unsafe impl Sync for Header {}

impl Header {
    pub(crate) fn new(
        id: u64,
        name: Option<Box<str>>,
        stack_size: usize,
        spawned_at: &'static Location<'static>,
    ) -> Header {
        Header {
            origin: Origin::new(spawned_at, name),
            registry_key: AtomicU64::new(UNREGISTERED),
            life: AtomicU8::new(NEW),
            result: AtomicU8::new(0),
            home: AtomicU32::new(NO_HOME),
            park: ParkCell::new(),
            joiners: LazyWaitQueue::new(),
            id,
            stack_class: stack::class_id(stack_size),
            placement: AtomicU8::new(0),
            coroutine: UnsafeCell::new(None),
        }
    }

    /// The greenlet's name, if it was given one.
    pub(crate) fn name(&self) -> Option<&str> {
        self.origin.name()
    }

    /// Where the greenlet was spawned.
    pub(crate) fn spawned_at(&self) -> &'static Location<'static> {
        self.origin.at()
    }

    /// Whether `bit` ([`BALANCED`], [`BALANCES_CHILDREN`]) is set.
    #[inline]
    pub(crate) fn placed(&self, bit: u8) -> bool {
        self.placement.load(Ordering::Relaxed) & bit != 0
    }

    /// Sets `bit`: for [`BALANCED`] before the task is queued (the queue's push publishes it),
    /// for [`BALANCES_CHILDREN`] by the running greenlet itself.
    pub(crate) fn place(&self, bit: u8) {
        self.placement.fetch_or(bit, Ordering::Relaxed);
    }

    /// The size of its stack (a class size).
    pub(crate) fn stack_size(&self) -> usize {
        stack::class_of_id(self.stack_class)
    }

    /// The coroutine slot.
    ///
    /// # Safety
    /// Only the worker that currently runs (or starts, or finishes) this task may call it.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn coroutine(&self) -> &mut Option<Coroutine> {
        // SAFETY: the caller is the one worker running this task (see above); a task is run by
        // one worker at a time (its run reference), so no other reference to the slot exists.
        unsafe { &mut *self.coroutine.get() }
    }

    /// Enters the task in the registry of live tasks; it leaves it when dropped.
    pub(crate) fn register(task: &TaskRef) {
        task.header.stamp();
        if let Some(key) = REGISTRY.insert(task.header.id, NonNull::from(&task.header)) {
            task.header
                .registry_key
                .store(key.to_bits(), Ordering::Release);
        }
    }

    /// The task's registry key (for the stall monitor to find it again).
    pub(crate) fn registry_key(&self) -> u64 {
        self.registry_key.load(Ordering::Relaxed)
    }

    /// Records that the greenlet entered a new state now (spawned, resumed, woken; a park
    /// records itself): see [`crate::dump`].
    #[inline]
    pub(crate) fn stamp(&self) {
        self.park.site.stamp(super::coarse_now());
    }

    /// The greenlet's home worker, if it has started.
    ///
    /// Relaxed is enough: the home is stored before the greenlet first runs, and whoever reads it
    /// to queue the greenlet got the greenlet's run reference through an Acquire operation (a
    /// run queue, the park token) that follows that store.
    #[inline]
    pub(crate) fn home(&self) -> Option<usize> {
        match self.home.load(Ordering::Relaxed) {
            NO_HOME => None,
            h => Some(h as usize),
        }
    }

    /// Records the worker the greenlet starts on. Called once, by that worker, before the first
    /// resume.
    pub(crate) fn set_home(&self, worker: usize) {
        self.home.store(worker as u32, Ordering::Relaxed);
    }

    /// The result has been stored; true if the handle is gone, so the caller must drop it.
    fn result_stored(&self) -> bool {
        self.result.fetch_or(STORED, Ordering::AcqRel) & DETACHED != 0
    }

    /// The handle is gone; true if the result was stored already, so the caller must drop it.
    pub(crate) fn handle_dropped(&self) -> bool {
        self.result.fetch_or(DETACHED, Ordering::AcqRel) & STORED != 0
    }

    pub(crate) fn is_done(&self) -> bool {
        self.life.load(Ordering::Acquire) == DONE
    }

    /// Publishes the result (already stored by the body) and wakes every joiner.
    pub(crate) fn complete(&self) {
        // Release publishes the result; notify_all's SeqCst fence orders this store before its
        // check for waiters (see WaitQueue).
        self.life.store(DONE, Ordering::Release);
        crate::dump::on_end(self.id);
        self.joiners.notify_all();
    }

    /// The queue of those who wait for the greenlet to end (made now if nobody waited yet).
    pub(crate) fn joiners(&self) -> &WaitQueue {
        self.joiners.get(&"join")
    }

    /// Waits until the task is done or `deadline` passes; true when done.
    #[track_caller]
    pub(crate) fn wait_done(&self, deadline: Option<Instant>) -> bool {
        // Most joins come after the end: they need no queue (and must not make one, a malloc
        // and a free per join).
        if self.is_done() {
            return true;
        }
        self.joiners().wait_until(deadline, || self.is_done())
    }
}

impl Drop for Header {
    /// Leaves the registry before the task's memory goes (readers hold the shard's lock).
    fn drop(&mut self) {
        let key = *self.registry_key.get_mut();
        if key != UNREGISTERED {
            REGISTRY.remove(Key::from_bits(key));
        }
    }
}

/// Where a greenlet was spawned, and its name if it was given one, in one word. An unnamed
/// greenlet (most) points straight at its spawn site; a named one at a box that holds both,
/// with the pointer's low bit set (a `Location` and the box are aligned to 8 bytes, so that bit
/// of their addresses is always clear).
struct Origin(*const u8);

/// What a named greenlet's [`Origin`] points at.
struct Named {
    at: &'static Location<'static>,
    name: Box<str>,
}

const NAMED: usize = 1;
const _: () = assert!(std::mem::align_of::<Location<'static>>() > NAMED);
const _: () = assert!(std::mem::align_of::<Named>() > NAMED);

// SAFETY: an `Origin` owns what it points at, or borrows a `&'static Location`; both are
// immutable once made and Send + Sync (`Location` and `Box<str>` are).
unsafe impl Send for Origin {}
// SAFETY: as above.
unsafe impl Sync for Origin {}

impl Origin {
    fn new(at: &'static Location<'static>, name: Option<Box<str>>) -> Origin {
        match name {
            None => Origin(std::ptr::from_ref(at).cast()),
            Some(name) => {
                let named = Box::into_raw(Box::new(Named { at, name }));
                // The tag keeps the pointer's provenance (`wrapping_add`, not an integer).
                Origin(named.cast::<u8>().cast_const().wrapping_add(NAMED))
            }
        }
    }

    /// The box of a named greenlet's origin.
    fn named(&self) -> Option<&Named> {
        if self.0.addr() & NAMED == 0 {
            return None;
        }
        // SAFETY: a tagged pointer is the box made in `new` plus the tag; it lives until the
        // drop, which `&self` outlives.
        Some(unsafe { &*self.0.wrapping_sub(NAMED).cast::<Named>() })
    }

    fn name(&self) -> Option<&str> {
        self.named().map(|n| &*n.name)
    }

    fn at(&self) -> &'static Location<'static> {
        match self.named() {
            Some(named) => named.at,
            // SAFETY: an untagged pointer came from the `&'static Location` given to `new`.
            None => unsafe { &*self.0.cast::<Location<'static>>() },
        }
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        if self.0.addr() & NAMED != 0 {
            // SAFETY: made by `Box::into_raw` in `new` (the tag taken off), dropped once here.
            drop(unsafe { Box::from_raw(self.0.wrapping_sub(NAMED).cast::<Named>().cast_mut()) });
        }
    }
}

/// The typed part of a task, seen by the scheduler.
pub(crate) trait Runnable: Send + Sync + 'static {
    /// Runs the function to its end, on the greenlet's own stack, and stores its result (or
    /// drops it, if the handle is gone). Never unwinds. Called once, by the worker that won
    /// `life` NEW → STARTED.
    fn run(&self, header: &Header);
    /// Stores `err` as the result and drops the function without running it (a panic in the
    /// function's destructor is contained and logged). Called once, by whoever won the CAS out
    /// of NEW.
    fn abort(&self, err: JoinError);
    /// Moves the stored result (if any) into `*out`.
    ///
    /// # Safety
    /// `out` points at an `Option<Result<T, JoinError>>` of this body's own `T`, and the caller
    /// has exclusive access to the result (see `Body`'s Sync impl): the one handle, after the
    /// task is done.
    unsafe fn take_result_into(&self, out: *mut ());
}

/// The typed part: the function until it runs, then its result until the handle takes it, in
/// one cell (a task holds one or the other, never both: 16 bytes less than two cells for the
/// common closure of two `Arc`s, a 144-byte allocation instead of 160).
pub(crate) struct Body<F, T> {
    stage: UnsafeCell<Stage<F, T>>,
}

enum Stage<F, T> {
    /// Not started: the function.
    Pending(F),
    /// Running, or ended with its result taken (or dropped, detached).
    Empty,
    /// Ended: the result, until the handle takes it.
    Done(Result<T, JoinError>),
}

impl<F, T> Body<F, T> {
    pub(crate) fn new(f: F) -> Body<F, T> {
        Body {
            stage: UnsafeCell::new(Stage::Pending(f)),
        }
    }

    /// Swaps `next` in and returns what the cell held.
    ///
    /// # Safety
    /// The caller has exclusive access to the cell (see the Sync impl).
    unsafe fn replace(&self, next: Stage<F, T>) -> Stage<F, T> {
        // SAFETY: the caller's contract.
        unsafe { std::ptr::replace(self.stage.get(), next) }
    }
}

// SAFETY: the function is taken exactly once, by the winner of the CAS out of `life == NEW`
// (run or abort). The result is written once, before `life` becomes DONE with a Release store,
// and read only after an Acquire load sees DONE, by the one `Greenlet<T>` handle (join takes it
// by value), or by the greenlet itself when the handle is gone (the `result` bits decide). F
// and T are Send, so moving them to whichever thread does this is fine.
unsafe impl<F: Send, T: Send> Sync for Body<F, T> {}

impl<F, T> Runnable for Body<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    fn run(&self, header: &Header) {
        // SAFETY: see the Sync impl: this worker won NEW → STARTED.
        let Stage::Pending(f) = (unsafe { self.replace(Stage::Empty) }) else {
            unreachable!("a greenlet's function runs once");
        };
        let result = catch_unwind(AssertUnwindSafe(f)).map_err(panic_to_error);
        // SAFETY: written once, before `complete` publishes it; read by the handle only after
        // `life` is DONE, or below by this greenlet itself. The cell is `Empty`: nothing is
        // dropped.
        unsafe { self.replace(Stage::Done(result)) };
        if header.result_stored() {
            // Detached: nobody will join. Drop the value here, inside the greenlet, where a
            // panicking or parking destructor is allowed (see the module docs).
            // SAFETY: the handle is gone, so nobody else touches the result.
            let result = unsafe { self.replace(Stage::Empty) };
            drop_contained(header.id, "its result", result);
        }
    }

    fn abort(&self, err: JoinError) {
        // SAFETY: see the Sync impl: the caller won the CAS out of NEW, so the cell holds the
        // function, which is dropped below, outside the cell.
        let f = unsafe { self.replace(Stage::Done(Err(err))) };
        drop_contained(0, "the function of a greenlet killed before it started", f);
    }

    unsafe fn take_result_into(&self, out: *mut ()) {
        // SAFETY: the caller alone reaches the result cell now (its contract).
        let result = match unsafe { self.replace(Stage::Empty) } {
            Stage::Done(result) => Some(result),
            _ => None,
        };
        // SAFETY: the caller's contract: `out` has this body's result type (the cast only
        // re-types the pointee). `*out` is overwritten without a drop: it holds a `None` (see
        // `Greenlet::take`).
        unsafe { out.cast::<Option<Result<T, JoinError>>>().write(result) };
    }
}

/// Drops `value`, catching and logging a panic of its destructor.
fn drop_contained<V>(id: u64, what: &str, value: V) {
    if catch_unwind(AssertUnwindSafe(move || drop(value))).is_err() {
        if id == 0 {
            log::error!("greenlet: {what} panicked while dropped");
        } else {
            log::error!("greenlet {id}: {what} panicked while dropped (its handle was dropped)");
        }
    }
}

/// A kill unwinds with a private payload; anything else is the user's panic.
fn panic_to_error(payload: Box<dyn Any + Send>) -> JoinError {
    if payload.is::<KillUnwind>() {
        JoinError::Killed
    } else {
        JoinError::Panicked(crate::PanicPayload::new(payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every task carries a header: what it costs is memory per greenlet, parked or queued
    /// (`benches/workloads park` reports it). Grows only with a reason.
    #[test]
    fn the_header_stays_small() {
        let size = std::mem::size_of::<Header>();
        assert!(size <= 96, "Header is {size} bytes");
    }

    /// The function and the result share one cell: a greenlet that captures two `Arc`s and
    /// returns `()` (a parked waiter in `benches/workloads park`) takes 24 bytes of body, not
    /// 40, and its whole task (with the `Arc`'s counts) fits a 144-byte malloc chunk.
    #[test]
    fn the_body_holds_the_function_or_the_result() {
        let (a, b) = (Arc::new(1u8), Arc::new(2u8));
        let f = move || drop((a, b));
        fn size_of_body<F: FnOnce()>(_: &F) -> usize {
            std::mem::size_of::<Task<Body<F, ()>>>()
        }
        let task = size_of_body(&f);
        assert!(task <= 96 + 24, "Task is {task} bytes");
    }

    /// The one cell holds the function, then the result until the handle takes it; a killed
    /// body drops its function and holds `Killed`; a detached body drops its own result.
    #[test]
    fn the_body_hands_over_its_result_once() {
        let take = |body: &dyn Runnable| {
            let mut out: Option<Result<String, JoinError>> = None;
            // SAFETY: `out` has the body's result type and nobody else touches the body.
            unsafe { body.take_result_into(std::ptr::from_mut(&mut out).cast()) };
            out
        };
        let header = Header::new(1, None, 1 << 16, Location::caller());
        let word = String::from("done");
        let body = Body::new(move || word);
        body.run(&header);
        assert_eq!(take(&body).unwrap().unwrap(), "done");
        assert!(take(&body).is_none());

        let held = Arc::new(());
        let h = held.clone();
        let killed = Body::new(move || {
            drop(h);
            String::new()
        });
        killed.abort(JoinError::Killed);
        assert_eq!(Arc::strong_count(&held), 1, "the function was dropped");
        assert!(matches!(take(&killed), Some(Err(JoinError::Killed))));

        let header = Header::new(2, None, 1 << 16, Location::caller());
        assert!(!header.handle_dropped());
        let kept = held.clone();
        let detached = Body::new(move || kept);
        detached.run(&header);
        assert_eq!(
            Arc::strong_count(&held),
            1,
            "the detached result was dropped"
        );
    }

    #[test]
    fn a_header_keeps_its_stack_size_and_name() {
        for size in [stack::MIN_STACK_SIZE, 256 << 10, stack::MAX_STACK_SIZE] {
            let h = Header::new(1, Some("n".into()), size, Location::caller());
            assert_eq!(h.stack_size(), size);
            assert_eq!(h.name(), Some("n"));
            assert_eq!(h.spawned_at().file(), file!());
        }
        let unnamed = Header::new(3, None, 1 << 20, Location::caller());
        assert_eq!(unnamed.spawned_at().file(), file!());
        assert_eq!(
            Header::new(2, None, 1 << 20, Location::caller()).name(),
            None
        );
    }
}
