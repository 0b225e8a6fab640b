//! A greenlet's body on a stack of its own, via `corosensei`.
//!
//! This layer knows nothing of scheduling. It offers three things:
//! [`Coroutine::new`] puts a function on a pooled [`Stack`], [`Coroutine::resume`] runs it until
//! it suspends or returns, and [`suspend`], called from inside the running coroutine, switches
//! back to whoever resumed it. While a coroutine runs, a thread-local points at its [`Running`]
//! record, which lets `suspend` find its way back and lets the overflow handler name the
//! greenlet whose stack ran out.

pub(crate) mod overflow;
pub(crate) mod stack;

use std::cell::{Cell, UnsafeCell};
use std::ptr::{self, NonNull};

use corosensei::{CoroutineResult, Yielder};

use crate::local::LocalMap;

pub(crate) use stack::Stack;

/// Why a coroutine gave control back to its scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Suspend {
    /// Still runnable: put it back in the run queue, behind the others.
    Yield,
    /// Waiting for an unpark; the scheduler must not run it until woken.
    Park,
}

/// What a running coroutine and the overflow handler need to know about it.
pub(crate) struct Running {
    /// Set when the body starts; the yielder lives at the top of the coroutine's own stack.
    yielder: Cell<*const Yielder<(), Suspend>>,
    guard_start: usize,
    stack_size: usize,
    id: u64,
    name: Option<(*const u8, usize)>,
    /// The greenlet's [`Local`](crate::local::Local) values: here rather than in its task,
    /// since only the code running on this coroutine touches them (see [`locals`]).
    locals: UnsafeCell<Option<Box<LocalMap>>>,
}

thread_local! {
    /// The coroutine running on this thread, if any. Plain data with a const initialiser, so
    /// reading it from the SIGSEGV handler is sound.
    static RUNNING: Cell<*const Running> = const { Cell::new(ptr::null()) };
}

/// The corosensei coroutine of a greenlet: its stack and its saved stack pointer.
type Inner = corosensei::Coroutine<(), Suspend, (), Stack>;

/// What lives in the reserved top bytes of a coroutine's own stack: a page that the coroutine
/// touches anyway, so none of it costs the task's heap allocation any bytes (and resuming reads
/// the saved stack pointer from the page it is about to use).
struct Record {
    running: Running,
    inner: Inner,
}

const _: () = assert!(std::mem::size_of::<Record>() <= stack::RESERVED);
const _: () = assert!(std::mem::align_of::<Record>() <= 16);

/// A greenlet body with its stack: one word, pointing at its [`Record`] at the top of that
/// stack.
///
/// The record holds the stack it lives in (`inner` owns the `Stack`, which is only its address
/// range): the memory stays mapped while the stack is out of the pool, that is until
/// [`into_stack`](Coroutine::into_stack) or the drop has moved `inner` out and released it.
pub(crate) struct Coroutine {
    record: NonNull<Record>,
}

// SAFETY: a corosensei coroutine is !Send because values on its stack might not be Send. Every
// value on a greenlet's stack was either moved in with the spawned closure (bounded by `Send`)
// or created by that closure's code; the closure cannot smuggle in `!Send` values from the
// spawning thread. What remains is the same hazard std threads avoid by never moving: a
// suspended stack holding a `!Send` value such as an `Rc` or a `MutexGuard`, or a reference to a
// thread-local, and then resuming on another worker. Values that are `!Send` only because of
// thread identity (`Rc`, `RefCell` borrows) stay coherent because the coroutine runs on one
// thread at a time and every switch is a full synchronisation (Acquire/Release through the run
// queues). The real limits are documented in the crate docs ("Thread-locals and migration"):
// thread-local addresses must not be kept across a blocking call, and std `MutexGuard`s must not
// be held across one. `Running` holds raw pointers used only by the thread that runs the
// coroutine. The record is reached only through this one owner.
unsafe impl Send for Coroutine {}

impl Coroutine {
    /// Places `body` on `stack`. `id` and `name` identify the greenlet in overflow reports;
    /// `name` must stay valid for the coroutine's lifetime.
    pub(crate) fn new<F>(stack: Stack, id: u64, name: Option<&str>, body: F) -> Coroutine
    where
        F: FnOnce() + 'static,
    {
        let record = stack.reserved().cast::<Record>();
        let running = Running {
            yielder: Cell::new(ptr::null()),
            guard_start: stack.guard_start(),
            stack_size: stack.size(),
            id,
            name: name.map(|n| (n.as_ptr(), n.len())),
            locals: UnsafeCell::new(None),
        };
        let inner = Inner::with_stack(stack, move |yielder, ()| {
            let running = RUNNING.with(Cell::get);
            // SAFETY: `resume` set RUNNING to this coroutine's record before switching here.
            unsafe { (*running).yielder.set(yielder as *const _) };
            body();
        });
        // SAFETY: the reserved bytes belong to this stack, are aligned and large enough (checked
        // above), and no code runs on them: corosensei's stack base is below them. Nothing was
        // there to drop (a stack's reserved bytes hold a record only while a coroutine owns it).
        unsafe { record.write(Record { running, inner }) };
        Coroutine {
            // SAFETY: `reserved` is derived from the stack's base address, never null.
            record: unsafe { NonNull::new_unchecked(record) },
        }
    }

    /// Asks the CPU to start loading the record, which [`resume`](Coroutine::resume) reads
    /// first: a greenlet that waited a while has its stack's page out of the TLB and its record
    /// out of the caches, and a worker that knows which greenlet runs next can overlap that miss
    /// with the greenlet it runs now. Only a hint: it reads nothing and cannot fault.
    #[inline]
    pub(crate) fn prefetch(&self) {
        let record = self.record.as_ptr().cast::<u8>();
        prefetch(record);
        prefetch(record.wrapping_add(64));
    }

    /// Runs the coroutine until it suspends (`Some(reason)`) or its body returns (`None`).
    ///
    /// The body must not panic: callers catch panics inside it.
    #[inline]
    pub(crate) fn resume(&mut self) -> Option<Suspend> {
        let record = self.record.as_ptr();
        // SAFETY: the record is alive until `into_stack` or the drop (see the type's docs), and
        // `&mut self` is the only way to it; the coroutine's own code reaches only `running`,
        // through RUNNING, while it runs inside this call.
        let (running, inner) = unsafe { (&raw const (*record).running, &mut (*record).inner) };
        let prev = RUNNING.with(|r| r.replace(running));
        let result = inner.resume(());
        RUNNING.with(|r| r.set(prev));
        match result {
            CoroutineResult::Yield(reason) => Some(reason),
            CoroutineResult::Return(()) => None,
        }
    }

    /// The stack of a coroutine whose body has returned.
    pub(crate) fn into_stack(self) -> Stack {
        self.take_inner().into_stack()
    }

    /// Moves the corosensei coroutine out of the record; the record's bytes are dead from here.
    fn take_inner(self) -> Inner {
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: the record is alive (see the type's docs) and this is its one owner, consumed
        // here: nothing reads the record's `inner` again (`ManuallyDrop` skips the drop).
        unsafe { ptr::read(&raw const (*this.record.as_ptr()).inner) }
    }
}

impl Drop for Coroutine {
    /// A coroutine dropped before its body returned: corosensei unwinds its stack, then the
    /// stack goes back to the pool, as when the coroutine lived in the task.
    fn drop(&mut self) {
        // SAFETY: as in `take_inner`: this is the record's one owner, and it is going away.
        drop(unsafe { ptr::read(&raw const (*self.record.as_ptr()).inner) });
    }
}

/// Hints the CPU to load the cache line at `p` (a no-op where no hint is wired up).
#[inline(always)]
pub(crate) fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it never faults, whatever the address, and changes no
    // memory; SSE, which the instruction belongs to, is part of every x86_64 target.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// The `Local` values' slot of the coroutine running on this thread; `None` outside one.
///
/// The slot lives in the coroutine's record, as long as its body runs; only code running on
/// the coroutine may use it (see `crate::local`).
pub(crate) fn locals() -> Option<NonNull<Option<Box<LocalMap>>>> {
    let running = RUNNING.with(Cell::get);
    // SAFETY: a non-null RUNNING points at the record of the coroutine executing this code,
    // alive while it runs; `UnsafeCell::get` makes no reference.
    NonNull::new(running.cast_mut())
        .map(|r| unsafe { NonNull::new_unchecked((*r.as_ptr()).locals.get()) })
}

/// Switches from the running coroutine back to the thread that resumed it.
///
/// `#[inline(never)]` on purpose: the thread may differ after the switch, and the thread-local is
/// read afresh on every call rather than from an address cached before a switch.
#[inline(never)]
pub(crate) fn suspend(reason: Suspend) {
    let running = RUNNING.with(Cell::get);
    assert!(
        !running.is_null(),
        "greenlet: suspend called outside a greenlet"
    );
    // SAFETY: RUNNING points at the record of the coroutine executing this code; its yielder was
    // set when the body started and lives on this coroutine's stack.
    let yielder = unsafe { &*(*running).yielder.get() };
    yielder.suspend(reason);
}
