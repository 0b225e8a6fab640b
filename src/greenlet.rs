//! Spawning greenlets and waiting for them: [`spawn`], [`Builder`], [`Greenlet`], [`joinall`].

use std::cell::Cell;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::coroutine::stack;
use crate::runtime::task::{Body, Header};
use crate::runtime::{self, Task, TaskRef, TimerAction};
use crate::JoinError;

/// A greenlet's identity: unique for the life of the process.
///
/// ```
/// let g = greenlet::spawn(|| greenlet::current());
/// let id = g.id();
/// assert_eq!(g.join().unwrap(), Some(id));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GreenletId(u64);

impl GreenletId {
    pub(crate) fn from_u64(id: u64) -> GreenletId {
        GreenletId(id)
    }

    /// The id as a number.
    ///
    /// ```
    /// let a = greenlet::spawn(|| ()).id();
    /// let b = greenlet::spawn(|| ()).id();
    /// assert_ne!(a.as_u64(), b.as_u64());
    /// ```
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for GreenletId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A handle to a spawned greenlet: join it, wait for it, kill it.
///
/// Dropping the handle detaches the greenlet: it runs on to its end. A `Greenlet<T>` is `Send`
/// and `Sync` for `T: Send`, so one may be joined from another greenlet or thread.
///
/// ```
/// use std::time::Duration;
/// let g = greenlet::spawn(|| {
///     greenlet::sleep(Duration::from_millis(5));
///     "done"
/// });
/// assert!(!g.is_finished());
/// assert_eq!(g.join().unwrap(), "done");
/// ```
pub struct Greenlet<T> {
    /// A task whose body returns a `T` (made so by `spawn_task`); the handle holds nothing else
    /// (its typed `take` is a method of the body), so a million kept for a `joinall` cost 16 MB.
    task: TaskRef,
    /// Send + Sync exactly when `T: Send`, like the value the handle will hand over.
    _result: PhantomData<Mutex<T>>,
}

impl<T> Greenlet<T> {
    /// Takes the result out of the task's body.
    ///
    /// # Safety
    /// This handle may take the result: the task is done and the handle is being consumed
    /// (`join`), or the handle won `handle_dropped` with the result stored.
    unsafe fn take(&self) -> Option<Result<T, JoinError>> {
        let mut out: Option<Result<T, JoinError>> = None;
        // SAFETY: the task's body returns a `T` (this handle was made for it in `spawn_task`),
        // so `out` has the type `take_result_into` writes; the caller's contract gives this
        // handle the result.
        unsafe { self.task.body.take_result_into((&raw mut out).cast()) };
        out
    }
}

// Unwind safe: the handle only reads state the runtime publishes whole (the result is written
// once, before the greenlet is marked done), so an unwind in the handle's owner cannot observe a
// half-made result. This lets a handle cross `catch_unwind`, which std's `JoinHandle` cannot.
impl<T> std::panic::UnwindSafe for Greenlet<T> {}
impl<T> std::panic::RefUnwindSafe for Greenlet<T> {}

impl<T> Greenlet<T> {
    /// Waits for the greenlet to end and returns its value, or why there is none.
    ///
    /// ```
    /// let g = greenlet::spawn(|| 6 * 7);
    /// assert_eq!(g.join().unwrap(), 42);
    /// ```
    #[track_caller]
    pub fn join(self) -> Result<T, JoinError> {
        self.wait();
        // SAFETY: the task is done (wait returned), and `self` is its one handle, consumed here.
        unsafe { self.take() }.expect("a finished greenlet has a result")
    }

    /// Waits for the greenlet to end, leaving its value in place for [`join`](Greenlet::join).
    ///
    /// ```
    /// let g = greenlet::spawn(|| "done");
    /// g.wait();
    /// assert!(g.is_finished());
    /// ```
    #[track_caller]
    pub fn wait(&self) {
        self.check_not_self();
        self.task.header.wait_done(None);
    }

    /// Waits at most `d`; true when the greenlet has ended.
    ///
    /// ```
    /// use std::time::Duration;
    /// let g = greenlet::spawn(|| greenlet::sleep(Duration::from_secs(10)));
    /// assert!(!g.wait_timeout(Duration::from_millis(10)));
    /// g.kill();
    /// assert!(g.wait_timeout(Duration::from_secs(5)));
    /// ```
    #[track_caller]
    pub fn wait_timeout(&self, d: Duration) -> bool {
        self.check_not_self();
        self.task.header.wait_done(crate::deadline::after(d))
    }

    /// Whether the greenlet has ended (returned, panicked or was killed).
    ///
    /// ```
    /// let g = greenlet::spawn(|| 1);
    /// g.wait();
    /// assert!(g.is_finished());
    /// ```
    pub fn is_finished(&self) -> bool {
        self.task.header.is_done()
    }

    /// Asks the greenlet to stop and returns at once. A greenlet that has not started never
    /// runs; one parked in a blocking call of this crate unwinds from it (its destructors run);
    /// one computing is stopped at its next blocking call or yield. [`join`](Greenlet::join) then
    /// returns `Err(JoinError::Killed)`. Killing a finished greenlet does nothing.
    ///
    /// ```
    /// use std::time::Duration;
    /// let g = greenlet::spawn(|| greenlet::sleep(Duration::from_secs(60)));
    /// g.kill();
    /// assert!(g.join().unwrap_err().is_killed());
    /// ```
    pub fn kill(&self) {
        runtime::kill(&self.task);
    }

    /// The greenlet's id.
    ///
    /// ```
    /// let g = greenlet::spawn(greenlet::current);
    /// let id = g.id();
    /// assert_eq!(g.join().unwrap(), Some(id));
    /// ```
    pub fn id(&self) -> GreenletId {
        GreenletId(self.task.header.id)
    }

    /// The name given with [`Builder::name`], if any.
    ///
    /// ```
    /// let named = greenlet::Builder::new().name("fetcher").spawn(|| ()).unwrap();
    /// assert_eq!(named.name(), Some("fetcher"));
    /// assert_eq!(greenlet::spawn(|| ()).name(), None);
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.task.header.name()
    }

    /// The task behind the handle (for `pool`).
    pub(crate) fn task(&self) -> &TaskRef {
        &self.task
    }

    fn check_not_self(&self) {
        if current().map(GreenletId::as_u64) == Some(self.task.header.id) {
            panic!(
                "greenlet {} tried to wait for itself, which would wait forever",
                self.task.header.id
            );
        }
    }
}

impl<T> Drop for Greenlet<T> {
    /// Detaches the greenlet. If it has already finished, its result is dropped here (in the
    /// caller); if not, the greenlet drops it itself when it ends (see `runtime::task`).
    fn drop(&mut self) {
        if self.task.header.handle_dropped() {
            // SAFETY: this handle won `handle_dropped` with the result stored, so the body no
            // longer touches it.
            drop(unsafe { self.take() });
        }
    }
}

/// Ready once the greenlet has ended (see [`wait_any`](crate::wait_any)).
impl<T> crate::wait::Sealed for Greenlet<T> {
    fn ready_since(&self, _: u64) -> bool {
        self.is_finished()
    }
    fn waiters(&self) -> crate::wait::Waiters<'_> {
        crate::wait::waiters(self.task.header.joiners())
    }
}

impl<T> fmt::Debug for Greenlet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Greenlet")
            .field("id", &self.task.header.id)
            .field("name", &self.name())
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Configures a greenlet before spawning it: its name and its stack size.
///
/// ```
/// let g = greenlet::Builder::new()
///     .name("worker")
///     .stack_size(64 << 10)
///     .spawn(|| 1 + 1)
///     .unwrap();
/// assert_eq!(g.name(), Some("worker"));
/// assert_eq!(g.join().unwrap(), 2);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    /// A builder with no name and the default stack size.
    ///
    /// ```
    /// let g = greenlet::Builder::new().spawn(|| 7).unwrap();
    /// assert_eq!(g.join().unwrap(), 7);
    /// ```
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the greenlet (shown by [`Greenlet::name`] and in stack overflow reports).
    ///
    /// ```
    /// let g = greenlet::Builder::new().name("parser").spawn(|| ()).unwrap();
    /// assert_eq!(g.name(), Some("parser"));
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// The greenlet's stack size in bytes, from
    /// [`MIN_STACK_SIZE`](crate::MIN_STACK_SIZE) to [`MAX_STACK_SIZE`](crate::MAX_STACK_SIZE);
    /// rounded up to a power of two (stacks are pooled by size). Only touched pages use memory.
    /// A size out of range makes [`spawn`](Builder::spawn) fail.
    ///
    /// ```
    /// // A deep recursion wants a bigger stack than the default.
    /// fn depth(n: u32) -> u32 {
    ///     if n == 0 { 0 } else { 1 + depth(n - 1) }
    /// }
    /// let g = greenlet::Builder::new()
    ///     .stack_size(4 << 20)
    ///     .spawn(|| depth(10_000))
    ///     .unwrap();
    /// assert_eq!(g.join().unwrap(), 10_000);
    /// // Out of range: an error, not a panic.
    /// assert!(greenlet::Builder::new().stack_size(usize::MAX).spawn(|| ()).is_err());
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// Spawns the greenlet. Fails with `InvalidInput` if the stack size is out of range, and
    /// with `OutOfMemory` if no stack can be had: memory, address space or memory mappings
    /// (`vm.max_map_count`) ran out; the message says which and how to raise the limit.
    ///
    /// ```
    /// let g = greenlet::Builder::new().name("adder").spawn(|| 2 + 2).unwrap();
    /// assert_eq!(g.join().unwrap(), 4);
    /// let err = greenlet::Builder::new().stack_size(1 << 60).spawn(|| ()).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    /// ```
    #[track_caller]
    pub fn spawn<F, T>(self, f: F) -> io::Result<Greenlet<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.spawn_inner(None, f)
    }

    /// Spawns the greenlet to start no earlier than `delay` from now (see [`spawn_later`]).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let start = Instant::now();
    /// let g = greenlet::Builder::new()
    ///     .name("later")
    ///     .spawn_later(Duration::from_millis(5), move || start.elapsed())
    ///     .unwrap();
    /// assert!(g.join().unwrap() >= Duration::from_millis(5));
    /// ```
    #[track_caller]
    pub fn spawn_later<F, T>(self, delay: Duration, f: F) -> io::Result<Greenlet<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.spawn_inner(Some(delay), f)
    }

    #[track_caller]
    fn spawn_inner<F, T>(self, delay: Option<Duration>, f: F) -> io::Result<Greenlet<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let stack_size = self.stack_size.map(stack::validate).transpose()?;
        spawn_task(f, self.name.map(String::into_boxed_str), stack_size, delay)
    }
}

/// Spawns a greenlet running `f` and returns its handle.
///
/// # Panics
///
/// If no stack can be had (memory, address space or memory mappings ran out), with a message
/// that says which and what to do; [`Builder::spawn`] returns that as an error instead.
///
/// ```
/// let g = greenlet::spawn(|| "hello from a greenlet");
/// assert_eq!(g.join().unwrap(), "hello from a greenlet");
/// ```
#[track_caller]
pub fn spawn<F, T>(f: F) -> Greenlet<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    // A `match`, not a closure: `panic!` here reports the caller's location (track_caller).
    match spawn_task(f, None, None, None) {
        Ok(handle) => handle,
        Err(e) => panic!("{e}"),
    }
}

/// Spawns a greenlet that starts no earlier than `delay` from now. Until then it holds no
/// stack; killing it meanwhile means it never runs.
///
/// # Panics
///
/// Like [`spawn`], if no stack can be had.
///
/// ```
/// use std::time::{Duration, Instant};
/// let t0 = Instant::now();
/// let g = greenlet::spawn_later(Duration::from_millis(20), move || t0.elapsed());
/// assert!(g.join().unwrap() >= Duration::from_millis(20));
/// ```
#[track_caller]
pub fn spawn_later<F, T>(delay: Duration, f: F) -> Greenlet<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    // A `match`, not a closure: `panic!` here reports the caller's location (track_caller).
    match spawn_task(f, None, None, Some(delay)) {
        Ok(handle) => handle,
        Err(e) => panic!("{e}"),
    }
}

/// Joins every greenlet, in input order, and returns their results in that order.
///
/// ```
/// let handles: Vec<_> = (0..10).map(|i| greenlet::spawn(move || i * i)).collect();
/// let squares: Vec<i32> = greenlet::joinall(handles).into_iter().map(Result::unwrap).collect();
/// assert_eq!(squares[9], 81);
/// ```
#[track_caller]
pub fn joinall<T>(greenlets: impl IntoIterator<Item = Greenlet<T>>) -> Vec<Result<T, JoinError>> {
    greenlets.into_iter().map(Greenlet::join).collect()
}

/// The running greenlet's id; `None` on a plain thread.
///
/// ```
/// assert_eq!(greenlet::current(), None); // a doc test runs on a plain thread
/// assert!(greenlet::spawn(greenlet::current).join().unwrap().is_some());
/// ```
pub fn current() -> Option<GreenletId> {
    runtime::current_task_ptr().map(|t| {
        // SAFETY: the pointer is the running greenlet's own task, alive while it runs.
        GreenletId(unsafe { t.as_ref() }.header.id)
    })
}

#[track_caller]
fn spawn_task<F, T>(
    f: F,
    name: Option<Box<str>>,
    stack_size: Option<usize>,
    delay: Option<Duration>,
) -> io::Result<Greenlet<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let rt = runtime::get();
    let stack_size = stack_size.unwrap_or(rt.config.stack_size);
    // Before anything is allocated: when stacks run out, the caller gets the error (the
    // greenlet's stack itself is taken when it starts, see `coroutine::stack`).
    stack::ensure_available(stack_size)?;
    let start_at = delay.map(crate::deadline::after);
    let task = Arc::new(Task {
        header: Header::new(next_id(), name, stack_size, Location::caller()),
        body: Body::new(f),
    });
    let task: TaskRef = task;
    Header::register(&task);
    runtime::count_spawn();
    let handle = Greenlet {
        task: task.clone(),
        _result: PhantomData,
    };
    match start_at {
        None => runtime::spawn(task),
        Some(Some(at)) => runtime::add_timer(at, TimerAction::Start(task)),
        // A delay beyond the end of time: it never starts (it can still be killed).
        Some(None) => drop(task),
    }
    Ok(handle)
}

/// Ids come from a global counter in blocks of 1024 per thread, so spawning does not contend.
#[inline(never)]
fn next_id() -> u64 {
    const BLOCK: u64 = 1024;
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static RANGE: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
    }
    RANGE.with(|r| {
        let (mut next, mut end) = r.get();
        if next == end {
            next = NEXT.fetch_add(BLOCK, Ordering::Relaxed);
            end = next + BLOCK;
        }
        r.set((next + 1, end));
        next
    })
}
