//! [`Semaphore`]: a counter of permits, handed to waiters in FIFO order.
//!
//! The count and the wait list live under one spin lock. A released permit goes straight to the
//! first waiter still parked (the park's winner-takes-all token decides: a waiter whose deadline
//! or kill won its park is skipped), so the count is non-zero only while nobody waits, and a
//! waiter that returns without a permit took none with it. Permits are borrowed
//! ([`SemaphorePermit`]) or hold an `Arc` of the semaphore ([`OwnedSemaphorePermit`], to move into
//! a spawned greenlet); both give their permit back when dropped.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::park::{park_in, SpinLock, WaitList, Wake};

/// A counting semaphore for greenlets, like `threading.Semaphore` / `gevent.lock.Semaphore`.
///
/// A released permit goes straight to the longest waiter, so waiters are served in order and
/// none starves; a waiter that times out or is killed takes no permit with it.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use greenlet::sync::Semaphore;
///
/// let sem = Arc::new(Semaphore::new(2));
/// let inside = Arc::new(AtomicUsize::new(0));
/// let workers: Vec<_> = (0..10)
///     .map(|_| {
///         let (sem, inside) = (sem.clone(), inside.clone());
///         greenlet::spawn(move || {
///             let _permit = sem.acquire();
///             assert!(inside.fetch_add(1, Ordering::SeqCst) < 2);
///             greenlet::sleep(std::time::Duration::from_millis(1));
///             inside.fetch_sub(1, Ordering::SeqCst);
///         })
///     })
///     .collect();
/// greenlet::joinall(workers);
/// assert_eq!(sem.available_permits(), 2);
/// ```
pub struct Semaphore {
    state: SpinLock<State>,
}

struct State {
    permits: usize,
    waiters: WaitList,
}

fn waiters(s: &mut State) -> &mut WaitList {
    &mut s.waiters
}

impl Semaphore {
    /// A semaphore with `permits` permits.
    ///
    /// ```
    /// let s = greenlet::sync::Semaphore::new(2);
    /// assert_eq!(s.available_permits(), 2);
    /// ```
    pub const fn new(permits: usize) -> Semaphore {
        Semaphore {
            state: SpinLock::new(State {
                permits,
                waiters: WaitList::waiting_on(&"Semaphore::acquire"),
            }),
        }
    }

    /// Takes a permit, waiting as long as it takes; it returns when the permit is dropped.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    /// // At most two greenlets inside at once.
    /// let sem = Arc::new(greenlet::sync::Semaphore::new(2));
    /// let inside = Arc::new(AtomicUsize::new(0));
    /// let users: Vec<_> = (0..6)
    ///     .map(|_| {
    ///         let (sem, inside) = (sem.clone(), inside.clone());
    ///         greenlet::spawn(move || {
    ///             let _permit = sem.acquire();
    ///             assert!(inside.fetch_add(1, SeqCst) < 2);
    ///             greenlet::sleep(std::time::Duration::from_millis(1));
    ///             inside.fetch_sub(1, SeqCst);
    ///         })
    ///     })
    ///     .collect();
    /// assert!(greenlet::joinall(users).iter().all(Result::is_ok));
    /// ```
    #[track_caller]
    pub fn acquire(&self) -> SemaphorePermit<'_> {
        crate::deadline::untimed(self.acquire_until(None))
    }

    /// Takes a permit if one is free now.
    ///
    /// ```
    /// let s = greenlet::sync::Semaphore::new(1);
    /// let p = s.try_acquire().unwrap();
    /// assert!(s.try_acquire().is_none());
    /// drop(p);
    /// assert!(s.try_acquire().is_some());
    /// ```
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.try_take().then(|| SemaphorePermit { sem: self })
    }

    /// Takes a permit, waiting at most `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let sem = greenlet::sync::Semaphore::new(1);
    /// let held = sem.acquire();
    /// assert!(sem.acquire_timeout(Duration::from_millis(5)).is_none());
    /// drop(held);
    /// assert!(sem.acquire_timeout(Duration::from_millis(5)).is_some());
    /// ```
    #[track_caller]
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<SemaphorePermit<'_>> {
        self.acquire_until(crate::deadline::after(timeout))
    }

    #[track_caller]
    fn acquire_until(&self, deadline: Option<Instant>) -> Option<SemaphorePermit<'_>> {
        self.take_until(deadline)
            .then(|| SemaphorePermit { sem: self })
    }

    /// Takes a permit (counted down, or handed over by a releaser); false if `deadline` passed.
    /// Callers make the permit with a lazy `then(|| ..)`: a permit built eagerly and dropped on
    /// failure would release a permit never taken.
    #[track_caller]
    fn take_until(&self, deadline: Option<Instant>) -> bool {
        let mut s = self.state.lock();
        // Released permits go to waiters first, so a free permit means nobody waits.
        if s.permits > 0 {
            s.permits -= 1;
            return true;
        }
        park_in(&self.state, s, waiters, (), deadline) == Wake::Unparked
    }

    /// Takes a permit if one is free now.
    fn try_take(&self) -> bool {
        let mut s = self.state.lock();
        if s.permits == 0 {
            return false;
        }
        s.permits -= 1;
        true
    }

    /// Takes a permit that holds an `Arc` of the semaphore, waiting as long as it takes: it is
    /// `'static` and `Send`, so it can move into a spawned greenlet (like tokio's
    /// `Semaphore::acquire_owned`). The permit is given back when dropped.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use greenlet::sync::Semaphore;
    /// // At most two downloads at once; the caller waits for a permit before it spawns.
    /// let sem = Arc::new(Semaphore::new(2));
    /// let jobs: Vec<_> = (0..6)
    ///     .map(|i| {
    ///         let permit = sem.acquire_owned();
    ///         greenlet::spawn(move || {
    ///             greenlet::sleep(std::time::Duration::from_millis(1));
    ///             drop(permit); // the next spawn may go on
    ///             i
    ///         })
    ///     })
    ///     .collect();
    /// let done: Vec<i32> = greenlet::joinall(jobs).into_iter().map(Result::unwrap).collect();
    /// assert_eq!(done, [0, 1, 2, 3, 4, 5]);
    /// assert_eq!(sem.available_permits(), 2);
    /// ```
    #[track_caller]
    pub fn acquire_owned(self: &Arc<Self>) -> OwnedSemaphorePermit {
        crate::deadline::untimed(self.acquire_owned_until(None))
    }

    /// Takes an owned permit if one is free now (see [`acquire_owned`](Semaphore::acquire_owned)).
    ///
    /// ```
    /// use std::sync::Arc;
    /// let sem = Arc::new(greenlet::sync::Semaphore::new(1));
    /// let permit = sem.try_acquire_owned().unwrap();
    /// assert!(sem.try_acquire_owned().is_none());
    /// let holder = greenlet::spawn(move || drop(permit));
    /// holder.join().unwrap();
    /// assert!(sem.try_acquire_owned().is_some());
    /// ```
    pub fn try_acquire_owned(self: &Arc<Self>) -> Option<OwnedSemaphorePermit> {
        self.try_take().then(|| OwnedSemaphorePermit::new(self))
    }

    /// Takes an owned permit, waiting at most `timeout` (see
    /// [`acquire_owned`](Semaphore::acquire_owned)).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// let sem = Arc::new(greenlet::sync::Semaphore::new(1));
    /// let held = sem.acquire_owned();
    /// assert!(sem.acquire_owned_timeout(Duration::from_millis(5)).is_none());
    /// drop(held);
    /// assert!(sem.acquire_owned_timeout(Duration::from_millis(5)).is_some());
    /// ```
    #[track_caller]
    pub fn acquire_owned_timeout(
        self: &Arc<Self>,
        timeout: Duration,
    ) -> Option<OwnedSemaphorePermit> {
        self.acquire_owned_until(crate::deadline::after(timeout))
    }

    #[track_caller]
    fn acquire_owned_until(
        self: &Arc<Self>,
        deadline: Option<Instant>,
    ) -> Option<OwnedSemaphorePermit> {
        self.take_until(deadline)
            .then(|| OwnedSemaphorePermit::new(self))
    }

    /// How many permits are free now.
    ///
    /// ```
    /// let s = greenlet::sync::Semaphore::new(3);
    /// let _p = s.acquire();
    /// assert_eq!(s.available_permits(), 2);
    /// ```
    pub fn available_permits(&self) -> usize {
        self.state.lock().permits
    }

    /// Adds `n` permits: each goes to a waiter if one is parked, else to the count, which
    /// saturates at `usize::MAX` (so `add_permits(usize::MAX)` makes a semaphore that never
    /// blocks, and costs no more than waking the current waiters).
    ///
    /// ```
    /// let s = greenlet::sync::Semaphore::new(0);
    /// s.add_permits(2); // like calling release() twice
    /// assert_eq!(s.available_permits(), 2);
    /// ```
    pub fn add_permits(&self, n: usize) {
        let mut woken = Vec::new();
        {
            let mut s = self.state.lock();
            let mut left = n;
            // `wake_one` is None once the list is empty; nobody waits while permits are free.
            while left > 0 {
                let Some(wakeup) = s.waiters.wake_one() else {
                    break;
                };
                woken.push(wakeup);
                left -= 1;
            }
            s.permits = s.permits.saturating_add(left);
        }
        // The permits' new holders run once these drop, after the state lock.
        drop(woken);
    }

    /// How many greenlets or threads wait for a permit.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let s = Arc::new(greenlet::sync::Semaphore::new(1));
    /// let held = s.acquire();
    /// let s2 = s.clone();
    /// let waiter = greenlet::spawn(move || drop(s2.acquire()));
    /// while s.waiting() == 0 {
    ///     greenlet::sleep(std::time::Duration::from_millis(1));
    /// }
    /// assert_eq!(s.waiting(), 1);
    /// drop(held);
    /// waiter.join().unwrap();
    /// assert_eq!(s.waiting(), 0);
    /// ```
    pub fn waiting(&self) -> usize {
        self.state.lock().waiters.len()
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("permits", &self.available_permits())
            .finish()
    }
}

/// A permit of a [`Semaphore`]; gives it back when dropped.
///
/// ```
/// let s = greenlet::sync::Semaphore::new(1);
/// {
///     let _permit = s.acquire();
///     assert_eq!(s.available_permits(), 0);
/// } // released here
/// assert_eq!(s.available_permits(), 1);
/// ```
#[must_use = "the permit is given back as soon as it is dropped"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
}

impl SemaphorePermit<'_> {
    /// Keeps the permit taken for good (it is not given back).
    ///
    /// ```
    /// let s = greenlet::sync::Semaphore::new(2);
    /// s.acquire().forget(); // the permit is gone for good
    /// assert_eq!(s.available_permits(), 1);
    /// ```
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.sem.add_permits(1);
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit").finish_non_exhaustive()
    }
}

/// A permit of a [`Semaphore`] that owns an `Arc` of it (from
/// [`acquire_owned`](Semaphore::acquire_owned)): `'static` and `Send`, so it moves into a spawned
/// greenlet or thread. Gives the permit back when dropped.
///
/// ```
/// use std::sync::Arc;
/// let sem = Arc::new(greenlet::sync::Semaphore::new(1));
/// let permit = sem.acquire_owned();
/// let worker = greenlet::spawn(move || {
///     let _permit = permit; // held for the greenlet's whole run
///     greenlet::sleep(std::time::Duration::from_millis(5));
/// });
/// assert_eq!(sem.available_permits(), 0);
/// worker.join().unwrap();
/// assert_eq!(sem.available_permits(), 1);
/// ```
#[must_use = "the permit is given back as soon as it is dropped"]
pub struct OwnedSemaphorePermit {
    sem: Arc<Semaphore>,
    /// 1, or 0 once forgotten.
    permits: usize,
}

impl OwnedSemaphorePermit {
    fn new(sem: &Arc<Semaphore>) -> OwnedSemaphorePermit {
        OwnedSemaphorePermit {
            sem: sem.clone(),
            permits: 1,
        }
    }

    /// The semaphore the permit belongs to.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let sem = Arc::new(greenlet::sync::Semaphore::new(1));
    /// let permit = sem.acquire_owned();
    /// assert!(Arc::ptr_eq(permit.semaphore(), &sem));
    /// ```
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.sem
    }

    /// Keeps the permit taken for good (it is not given back).
    ///
    /// ```
    /// use std::sync::Arc;
    /// let sem = Arc::new(greenlet::sync::Semaphore::new(2));
    /// sem.acquire_owned().forget();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn forget(mut self) {
        self.permits = 0;
    }
}

impl Drop for OwnedSemaphorePermit {
    fn drop(&mut self) {
        if self.permits > 0 {
            self.sem.add_permits(self.permits);
        }
    }
}

impl fmt::Debug for OwnedSemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSemaphorePermit")
            .field("semaphore", &self.sem)
            .finish()
    }
}
