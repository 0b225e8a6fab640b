//! The lock inside every blocking primitive: a test-and-test-and-set spin lock.
//!
//! The primitives' critical sections are a few dozen instructions (push or pop a waiter, move a
//! message) and never park, so a waiter is better off spinning than sleeping in the kernel. What
//! a spin lock saves over `std::sync::Mutex` on the hot path is the release: a plain store
//! instead of a locked read-modify-write (the mutex must learn whether to wake a sleeper), and
//! the poison bookkeeping. That is one atomic instruction in every lock/unlock pair, four per
//! ping-pong round trip.
//!
//! A contended waiter backs off (`park::backoff`: spins, then yields its thread, then sleeps a
//! few microseconds between looks), so a holder that the OS preempted gets the CPU back instead
//! of being spun against for a whole time slice.
//! No fairness among lockers: the primitives themselves wake their waiters in FIFO order, and
//! the lock is held too briefly for lockers to starve.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicBool, Ordering::*};

/// Mutual exclusion for short critical sections that never block.
pub(crate) struct SpinLock<T> {
    #[cfg(not(loom))]
    locked: AtomicBool,
    /// Under loom the lock is a loom mutex, made on first use (`new` is `const`; see
    /// [`SpinLock::loom_init`]): loom cannot get through a spin loop that two threads run at
    /// once (it keeps scheduling the spinners), and what the models check is the protocols
    /// around the lock, not the lock.
    #[cfg(loom)]
    model: std::sync::OnceLock<::loom::sync::Mutex<()>>,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands out access to `value` to one thread at a time (see `lock`), so sharing
// a SpinLock is like sharing a Mutex: it needs only `T: Send`.
unsafe impl<T: Send> Sync for SpinLock<T> {}

// Unwind safety, as for `std::sync::Mutex`: the lock is held only inside the crate's own short
// critical sections, which run no user code, so an unwind never leaves a half-updated state
// behind it. Without these, every primitive built on the lock (Event, Semaphore, channels...)
// would lose `RefUnwindSafe`, and `catch_unwind` around code sharing one would not compile.
impl<T> std::panic::UnwindSafe for SpinLock<T> {}
impl<T> std::panic::RefUnwindSafe for SpinLock<T> {}

impl<T> SpinLock<T> {
    pub(crate) const fn new(value: T) -> SpinLock<T> {
        SpinLock {
            #[cfg(not(loom))]
            locked: AtomicBool::new(false),
            #[cfg(loom)]
            model: std::sync::OnceLock::new(),
            value: UnsafeCell::new(value),
        }
    }

    /// Under loom: makes the lock now, on the calling thread (made on first use otherwise,
    /// which loom would see as unsynchronised with the threads the lock is shared with).
    #[cfg(all(test, loom))]
    pub(crate) fn loom_init(&self) {
        self.model.get_or_init(Default::default);
    }

    /// Under loom: takes the model's mutex.
    #[cfg(loom)]
    pub(crate) fn lock(&self) -> SpinGuard<'_, T> {
        let held = self.model.get_or_init(Default::default).lock();
        SpinGuard {
            lock: self,
            _held: held.unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// Takes the lock, spinning (then yielding the thread) while another holder has it.
    #[cfg(not(loom))]
    #[inline]
    pub(crate) fn lock(&self) -> SpinGuard<'_, T> {
        if self
            .locked
            .compare_exchange_weak(false, true, Acquire, Relaxed)
            .is_err()
        {
            self.lock_contended();
        }
        SpinGuard { lock: self }
    }

    #[cfg(not(loom))]
    #[cold]
    fn lock_contended(&self) {
        let mut backoff = super::backoff::Backoff::new();
        loop {
            // Test before test-and-set: wait on a shared copy of the line, not by bouncing it.
            while self.locked.load(Relaxed) {
                backoff.snooze();
            }
            if self
                .locked
                .compare_exchange_weak(false, true, Acquire, Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }

    /// Takes the lock if it is free.
    #[cfg(all(test, not(loom)))]
    fn try_lock(&self) -> Option<SpinGuard<'_, T>> {
        self.locked
            .compare_exchange(false, true, Acquire, Relaxed)
            .ok()
            .map(|_| SpinGuard { lock: self })
    }
}

/// Access to a [`SpinLock`]'s value; unlocks when dropped (also during an unwind: a panic under
/// the lock, say in a user's `Ord` inside a priority queue, leaves the state as it was then).
pub(crate) struct SpinGuard<'a, T> {
    lock: &'a SpinLock<T>,
    #[cfg(loom)]
    _held: ::loom::sync::MutexGuard<'a, ()>,
}

impl<T> Deref for SpinGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while this thread holds the lock.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for SpinGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as for `deref`, and `&mut self` makes this the only access through the guard.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // Release: everything done under the lock happens-before the next holder's Acquire.
        #[cfg(not(loom))]
        self.lock.locked.store(false, Release);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn threads_hammering_one_lock_lose_no_increment() {
        const THREADS: usize = 4;
        const ROUNDS: usize = 200_000;
        let lock = Arc::new(SpinLock::new(0usize));
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let lock = lock.clone();
                std::thread::spawn(move || {
                    for _ in 0..ROUNDS {
                        // A read-modify-write in two steps: lost updates would show.
                        let mut g = lock.lock();
                        let v = *g;
                        std::hint::black_box(&v);
                        *g = v + 1;
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(*lock.lock(), THREADS * ROUNDS);
    }

    #[test]
    fn try_lock_fails_while_held_and_a_panic_releases() {
        let lock = SpinLock::new(1);
        let g = lock.lock();
        assert!(lock.try_lock().is_none());
        drop(g);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _g = lock.lock();
            panic!("under the lock");
        }));
        assert!(r.is_err());
        assert_eq!(*lock.try_lock().expect("released by the unwind"), 1);
    }
}
