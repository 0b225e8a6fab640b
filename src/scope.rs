//! Scoped greenlets: [`scope`] spawns greenlets that borrow from the caller's stack, like
//! `std::thread::scope`.
//!
//! # The protocol
//!
//! A [`Scope`] counts the greenlets whose function has not finished (`Running::count`). A spawn
//! counts itself in *before* it creates the greenlet, and the count goes down only when the
//! function's job (the closure and everything it borrows) is gone: after the function returned,
//! panicked or was killed, or when it is dropped without ever running (killed before it
//! started, or a spawn that failed). The result goes into a `Packet` that both the handle and
//! the scope hold; the scope keeps one per spawn, whatever happens to the handles.
//!
//! [`scope`] returns, or unwinds, only once the count is zero, on every path:
//!
//! * the body returns: wait for the count to reach zero (parking the caller only);
//! * the body panics: the same wait, then the body's panic goes on (std's rule);
//! * the caller is killed or an enclosing `with_timeout` expires (in the body, or while it
//!   waits): every greenlet of the scope is killed, and the caller waits for the count to reach
//!   zero with its `with_timeout` deadlines held back (`park::HoldTimeouts`) and a kill caught
//!   (a greenlet is killed once), then the interrupt goes on unwinding;
//! * anything else that would unwind out of the scope's own code first waits, in a guard.
//!
//! Then it drops the results nobody joined, in the caller's context; a panic nobody observed
//! through `join` makes `scope` panic, as std's does.
//!
//! # Why the lifetime erasure is sound
//!
//! The runtime runs `'static` closures only, so [`Scope::spawn`] erases the lifetime of its job
//! (see the `SAFETY` comment there). Nothing with the erased lifetime is touched once the count
//! is zero (the job is gone, and the scope has emptied every packet), and the count reaches zero
//! before `scope` returns. Unlike a design that counts handles, a leaked handle
//! (`mem::forget`) changes nothing: it owns no job, and the scope keeps its own reference to the
//! packet.

use std::any::Any;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::mem::{self, ManuallyDrop};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use crate::park::{HoldTimeouts, KillUnwind, SpinLock, TimeoutUnwind, WaitQueue};
use crate::runtime::{self, TaskRef};
use crate::{Builder, Greenlet, GreenletId, JoinError};

/// Spawns greenlets that may borrow from the caller, and joins them all before it returns.
///
/// Like [`std::thread::scope`]: `f` gets a [`Scope`] to [`spawn`](Scope::spawn) greenlets on;
/// they may borrow anything that outlives the call (locals of the caller included), because
/// every one of them has finished when `scope` returns. The caller parks meanwhile (a plain
/// thread blocks).
///
/// - If `f` panics, `scope` first waits for the greenlets, then the panic goes on.
/// - If a greenlet panicked and nobody [`join`](ScopedGreenlet::join)ed it, `scope` panics once
///   all have finished, as std's does (a panic observed through `join` is the caller's to
///   handle).
/// - If the caller is [killed](crate::Greenlet::kill) or an enclosing
///   [`with_timeout`](crate::with_timeout) expires (while `f` runs or while `scope` waits), the
///   greenlets still running are killed and waited for, then the kill or timeout goes on
///   unwinding.
///
/// ```
/// let mut counts = [0u32; 4];
/// let words = vec!["apple", "banana", "cherry"];
/// greenlet::scope(|s| {
///     for (slot, word) in counts.iter_mut().zip(&words) {
///         // Each greenlet borrows one slot mutably and one word: no Arc, no clone.
///         s.spawn(move || *slot = word.len() as u32);
///     }
///     let total = s.spawn(|| words.iter().map(|w| w.len()).sum::<usize>());
///     assert_eq!(total.join().unwrap(), 17);
/// });
/// assert_eq!(counts, [5, 6, 6, 0]);
/// ```
///
/// A greenlet may not borrow what dies before the scope ends:
///
/// ```compile_fail
/// greenlet::scope(|s| {
///     let local = vec![1, 2, 3];
///     s.spawn(|| local.len()); // error: `local` does not live long enough
/// });
/// ```
pub fn scope<'env, F, T>(f: F) -> T
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T,
{
    let scope = Scope {
        running: Arc::new(Running {
            count: AtomicUsize::new(0),
            registered: AtomicU64::new(0),
            changed: WaitQueue::waiting_on(&"scope"),
        }),
        members: ManuallyDrop::new(SpinLock::new(Vec::new())),
        scope: PhantomData,
        env: PhantomData,
    };
    // Waits for the count if anything unwinds out of the code below before it did.
    let _backstop = Backstop(&scope.running);
    let body = catch_unwind(AssertUnwindSafe(|| f(&scope)));
    scope.finish(body)
}

/// A scope to spawn greenlets in; see [`scope`].
///
/// ```
/// let data = vec![1, 2, 3];
/// let sum = greenlet::scope(|s: &greenlet::Scope<'_, '_>| {
///     let a = s.spawn(|| data[0] + data[1]);
///     let b = s.spawn(|| data[2]);
///     a.join().unwrap() + b.join().unwrap()
/// });
/// assert_eq!(sum, 6);
/// ```
pub struct Scope<'scope, 'env: 'scope> {
    running: Arc<Running>,
    /// One entry per spawn: its result slot, and its task once spawned. Emptied by `finish`;
    /// `ManuallyDrop` so that the scope's drop does not need 'scope alive (dropck), which lets
    /// `scope` lend it to the body for 'scope (if `finish` never ran, the entries leak).
    members: ManuallyDrop<SpinLock<Vec<Member<'scope>>>>,
    /// Invariant over 'scope, so that the compiler cannot shrink it below the scope's own
    /// lifetime (which would let a greenlet borrow something that dies first).
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

/// What the greenlets of a scope share with it, in an `Arc`: the last one to finish notifies
/// through it after the scope may already have returned.
struct Running {
    /// Jobs not finished (or dropped) yet, spawns in flight included.
    count: AtomicUsize,
    /// Bumped at each task registration: lets the kill loop see greenlets spawned meanwhile.
    registered: AtomicU64,
    /// Notified when `count` reaches zero and when a task is registered.
    changed: WaitQueue,
}

impl Running {
    fn is_idle(&self) -> bool {
        self.count.load(SeqCst) == 0
    }

    /// Parks until no job is left (interruptible by a kill or a `with_timeout`).
    #[track_caller]
    fn wait_idle(&self) {
        self.changed.wait_until(None, || self.is_idle());
    }
}

/// One spawn of a scope.
struct Member<'scope> {
    result: Arc<dyn Unjoined + 'scope>,
    task: Option<TaskRef>,
}

/// A greenlet's result slot, typed: what the scope drops if nobody took it.
trait Unjoined: Send + Sync {
    /// Drops the result if it is still there (outside the slot's lock); true if it was a panic.
    fn drop_unjoined(&self) -> bool;
}

/// The result of a scoped greenlet: written by its job, taken by `join` or by the scope.
struct Packet<T> {
    result: SpinLock<Option<Result<T, Box<dyn Any + Send>>>>,
}

impl<T: Send> Unjoined for Packet<T> {
    fn drop_unjoined(&self) -> bool {
        let left = self.result.lock().take();
        matches!(left, Some(Err(_)))
    }
}

/// Counts a job out of its scope when dropped.
struct Counted(Arc<Running>);

impl Drop for Counted {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, SeqCst) == 1 {
            self.0.changed.notify_all();
        }
    }
}

/// What a scoped greenlet runs. Fields drop in order: the function, the packet, then the count
/// (so that nothing borrowed is left once the scope sees the count fall).
struct Job<F, T> {
    f: F,
    packet: Arc<Packet<T>>,
    counted: Counted,
}

impl<F, T> Job<F, T>
where
    F: FnOnce() -> T,
{
    fn run(self) {
        let Job { f, packet, counted } = self;
        let kill = match catch_unwind(AssertUnwindSafe(f)) {
            // A kill stays a kill: the greenlet's join reports it.
            Err(payload) if payload.is::<KillUnwind>() => Some(payload),
            outcome => {
                *packet.result.lock() = Some(outcome);
                None
            }
        };
        drop(packet);
        // From here on nothing of the scope's lifetime is touched.
        drop(counted);
        if let Some(payload) = kill {
            resume_unwind(payload);
        }
    }
}

/// If the scope's own code unwinds before every job is gone, waits for them first (a park
/// during an unwind blocks the thread, and ignores kills and timeouts).
struct Backstop<'a>(&'a Arc<Running>);

impl Drop for Backstop<'_> {
    fn drop(&mut self) {
        if !self.0.is_idle() {
            self.0.wait_idle();
        }
    }
}

fn is_interrupt(payload: &(dyn Any + Send)) -> bool {
    payload.is::<KillUnwind>() || payload.is::<TimeoutUnwind>()
}

/// Drops a value that is no longer wanted; a panic in its destructor is swallowed (and its
/// payload leaked, so that it cannot panic in turn).
fn discard<V>(value: V) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(value))) {
        mem::forget(payload);
    }
}

impl<'scope, 'env> Scope<'scope, 'env> {
    /// Spawns a greenlet in the scope. It may borrow anything that outlives the scope; the
    /// scope joins it before [`scope`] returns (if the handle did not already).
    ///
    /// # Panics
    /// If the runtime cannot spawn the greenlet (as [`spawn`](crate::spawn) does).
    ///
    /// ```
    /// let mut hits = 0;
    /// let names = ["a", "b"];
    /// greenlet::scope(|s| {
    ///     s.spawn(|| {
    ///         for _ in names {
    ///             hits += 1; // a mutable borrow of the caller's local
    ///         }
    ///     });
    /// });
    /// assert_eq!(hits, 2);
    /// ```
    #[track_caller]
    pub fn spawn<F, T>(&'scope self, f: F) -> ScopedGreenlet<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        self.spawn_with(Builder::new(), f)
            .unwrap_or_else(|e| panic!("failed to spawn a scoped greenlet: {e}"))
    }

    #[track_caller]
    fn spawn_with<F, T>(
        &'scope self,
        builder: Builder,
        f: F,
    ) -> io::Result<ScopedGreenlet<'scope, T>>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        let packet = Arc::new(Packet {
            result: SpinLock::new(None),
        });
        // Counted in before the greenlet exists: the scope cannot finish while it may run.
        self.running.count.fetch_add(1, SeqCst);
        let job = Job {
            f,
            packet: packet.clone(),
            counted: Counted(self.running.clone()),
        };
        let index = {
            let mut members = self.members.lock();
            members.push(Member {
                result: packet.clone(),
                task: None,
            });
            members.len() - 1
        };
        let main: Box<dyn FnOnce() + Send + 'scope> = Box::new(move || job.run());
        // SAFETY: the runtime needs a `'static` closure; this one borrows for 'scope (through
        // `F`, and `T` in the packet). Nothing of it is used once 'scope may have ended:
        // * `main` runs at most once, on the greenlet; whether it runs or is dropped unrun (a
        //   kill before the start, a failed spawn), the job's `Counted` is its last part to go
        //   (explicitly last in `Job::run`, by field order in a drop), so the scope's count
        //   falls only after `F`, its captures and the job's packet reference are gone;
        // * `scope` neither returns nor unwinds before the count is zero (see `finish` and
        //   `Backstop`, and the module docs for every path), and it empties every packet of
        //   the scope before it returns, so no `T` outlives it;
        // * what may outlive 'scope is 'static or never touched: the task keeps an empty
        //   `Option` where `main` was and a `()` or `JoinError` result, and a leaked handle or
        //   packet is never used again. Handles do not take part in the count, so
        //   `mem::forget` of one cannot end the wait early (it only leaks memory);
        // * 'scope is invariant (see `Scope`), so it is the lifetime of the `scope` call itself.
        let main: Box<dyn FnOnce() + Send + 'static> = unsafe { mem::transmute(main) };
        // On an error `main` is dropped unrun, which counts the job out.
        let greenlet = builder.spawn(main)?;
        if let Some(member) = self.members.lock().get_mut(index) {
            member.task = Some(greenlet.task().clone());
        }
        self.running.registered.fetch_add(1, SeqCst);
        self.running.changed.notify_all();
        Ok(ScopedGreenlet {
            greenlet,
            packet,
            scope: PhantomData,
        })
    }

    /// Joins everything (see the module docs) and returns the body's value or unwinds.
    fn finish<T>(&self, body: std::thread::Result<T>) -> T {
        let (mut value, mut unwind) = match body {
            Ok(v) => (Some(v), None),
            Err(payload) => (None, Some(payload)),
        };
        let interrupted = |u: &Option<Box<dyn Any + Send>>| u.as_deref().is_some_and(is_interrupt);
        if !interrupted(&unwind) {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| self.running.wait_idle())) {
                // A kill or a timeout while waiting: it takes over from a body's panic.
                if let Some(old) = unwind.replace(payload) {
                    discard(old);
                }
            }
        }
        if interrupted(&unwind) {
            self.kill_all(&mut unwind);
        }
        // Every job is gone: nothing of the scope's lifetime runs any more.
        let (unobserved_panic, drop_panic) = self.drop_unjoined();
        if let Some(payload) = unwind {
            if let Some(v) = value.take() {
                discard(v);
            }
            if let Some(p) = drop_panic {
                discard(p);
            }
            resume_unwind(payload);
        }
        if let Some(payload) = drop_panic {
            resume_unwind(payload);
        }
        if unobserved_panic {
            panic!("a scoped greenlet panicked");
        }
        value.expect("the body returned")
    }

    /// Kills every greenlet of the scope (those spawned meanwhile too) and waits until all are
    /// over, undisturbed by timeouts; a kill of the caller arriving now replaces `unwind`.
    #[track_caller]
    fn kill_all(&self, unwind: &mut Option<Box<dyn Any + Send>>) {
        let _hold = HoldTimeouts::new();
        loop {
            let seen = self.running.registered.load(SeqCst);
            let tasks: Vec<TaskRef> = self
                .members
                .lock()
                .iter()
                .filter_map(|m| m.task.clone())
                .collect();
            for task in &tasks {
                // Killing a greenlet that has not started drops its function here: a panic in
                // a destructor there must not stop the cleanup.
                if let Err(payload) = catch_unwind(AssertUnwindSafe(|| runtime::kill(task))) {
                    discard(payload);
                }
            }
            drop(tasks);
            let settled = || self.running.is_idle() || self.running.registered.load(SeqCst) != seen;
            while let Err(payload) = catch_unwind(AssertUnwindSafe(|| {
                self.running.changed.wait_until(None, settled)
            })) {
                // Only a kill can interrupt this park (timeouts are held); it comes once.
                if payload.is::<KillUnwind>() {
                    if let Some(old) = unwind.replace(payload) {
                        discard(old);
                    }
                } else {
                    discard(payload);
                }
            }
            if self.running.is_idle() {
                return;
            }
        }
    }

    /// Drops every result nobody joined; returns whether one was a panic, and the first panic
    /// of a destructor there.
    fn drop_unjoined(&self) -> (bool, Option<Box<dyn Any + Send>>) {
        let members = mem::take(&mut *self.members.lock());
        let mut panicked = false;
        let mut drop_panic = None;
        for member in members {
            match catch_unwind(AssertUnwindSafe(|| member.result.drop_unjoined())) {
                Ok(was_panic) => panicked |= was_panic,
                Err(payload) if drop_panic.is_none() => drop_panic = Some(payload),
                Err(payload) => discard(payload),
            }
        }
        (panicked, drop_panic)
    }
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("running", &self.running.count.load(SeqCst))
            .finish_non_exhaustive()
    }
}

impl Builder {
    /// Spawns a scoped greenlet with this builder's name and stack size (like std's
    /// `Builder::spawn_scoped`). Fails with `InvalidInput` if the stack size is out of range.
    ///
    /// ```
    /// let label = String::from("borrowed");
    /// greenlet::scope(|s| {
    ///     let g = greenlet::Builder::new()
    ///         .name("scoped")
    ///         .spawn_scoped(s, || label.len())
    ///         .unwrap();
    ///     assert_eq!(g.name(), Some("scoped"));
    ///     assert_eq!(g.join().unwrap(), 8);
    /// });
    /// ```
    #[track_caller]
    pub fn spawn_scoped<'scope, 'env, F, T>(
        self,
        scope: &'scope Scope<'scope, 'env>,
        f: F,
    ) -> io::Result<ScopedGreenlet<'scope, T>>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        scope.spawn_with(self, f)
    }
}

/// A handle to a greenlet spawned in a [`Scope`]: join it, kill it. Dropping it leaves the
/// greenlet to the scope, which joins it before [`scope`] returns.
///
/// ```
/// let text = "hello";
/// greenlet::scope(|s| {
///     let g = s.spawn(|| text.to_uppercase());
///     assert_eq!(g.join().unwrap(), "HELLO");
/// });
/// ```
pub struct ScopedGreenlet<'scope, T> {
    greenlet: Greenlet<()>,
    packet: Arc<Packet<T>>,
    scope: PhantomData<&'scope ()>,
}

impl<T> ScopedGreenlet<'_, T> {
    /// Waits for the greenlet to end and returns its value, or why there is none (a panic
    /// returned here is observed: it no longer makes [`scope`] panic).
    ///
    /// ```
    /// greenlet::scope(|s| {
    ///     let g = s.spawn(|| panic!("handled"));
    ///     assert!(g.join().unwrap_err().is_panic());
    /// }); // no panic here: the join observed it
    /// ```
    #[track_caller]
    pub fn join(self) -> Result<T, JoinError> {
        self.greenlet.join()?;
        let outcome = self.packet.result.lock().take();
        match outcome.expect("a scoped greenlet that returned left its result") {
            Ok(value) => Ok(value),
            Err(payload) => Err(JoinError::Panicked(crate::PanicPayload::new(payload))),
        }
    }

    /// Whether the greenlet has ended (returned, panicked or was killed).
    ///
    /// ```
    /// greenlet::scope(|s| {
    ///     let g = s.spawn(|| greenlet::sleep(std::time::Duration::from_millis(5)));
    ///     assert!(!g.is_finished());
    ///     while !g.is_finished() {
    ///         greenlet::sleep(std::time::Duration::from_millis(1));
    ///     }
    /// });
    /// ```
    pub fn is_finished(&self) -> bool {
        self.greenlet.is_finished()
    }

    /// Asks the greenlet to stop, like [`Greenlet::kill`]; returns at once.
    ///
    /// ```
    /// greenlet::scope(|s| {
    ///     let g = s.spawn(|| greenlet::sleep(std::time::Duration::from_secs(3600)));
    ///     g.kill();
    ///     assert!(g.join().unwrap_err().is_killed());
    /// });
    /// ```
    pub fn kill(&self) {
        self.greenlet.kill();
    }

    /// The greenlet's id.
    ///
    /// ```
    /// greenlet::scope(|s| {
    ///     let g = s.spawn(greenlet::current);
    ///     let id = g.id();
    ///     assert_eq!(g.join().unwrap(), Some(id));
    /// });
    /// ```
    pub fn id(&self) -> GreenletId {
        self.greenlet.id()
    }

    /// The name given with [`Builder::name`] (through [`Builder::spawn_scoped`]), if any.
    ///
    /// ```
    /// greenlet::scope(|s| assert_eq!(s.spawn(|| ()).name(), None));
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.greenlet.name()
    }
}

impl<T> fmt::Debug for ScopedGreenlet<'_, T> {
    /// The greenlet's own `Debug`, wrapped: `ScopedGreenlet(Greenlet { id: .., .. })`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ScopedGreenlet")
            .field(&self.greenlet)
            .finish()
    }
}
