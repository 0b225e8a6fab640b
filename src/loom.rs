//! The synchronisation primitives of the crate's lock-free protocols, from std normally and from
//! [loom](https://docs.rs/loom) under `cfg(loom)` (as tokio's `src/loom/` and crossbeam's
//! `crossbeam_loom` do).
//!
//! The protocol files (the park token, the wait queue, idle/notify, the channel ring) take their
//! atomics, fences, locks and thread hooks from here, so that the loom models (`loom_tests`
//! modules beside the code, run by `RUSTFLAGS="--cfg loom" cargo test --release --lib loom`)
//! check the very code the runtime runs. Without `cfg(loom)` everything here is a plain re-export
//! of std: no cost.
//!
//! Under `cfg(loom)` these types work only inside `loom::model`: the runtime itself (greenlets,
//! workers) is not run under loom, only the protocol cores, driven by loom threads.

#[cfg(not(loom))]
pub(crate) mod sync {
    pub(crate) use std::sync::{Mutex, MutexGuard};

    pub(crate) mod atomic {
        pub(crate) use std::sync::atomic::*;
    }
}

#[cfg(loom)]
pub(crate) mod sync {
    pub(crate) use ::loom::sync::{Mutex, MutexGuard};

    pub(crate) mod atomic {
        pub(crate) use ::loom::sync::atomic::*;
    }
}

/// Locks a mutex of the runtime's bookkeeping. No user code runs under these locks, so a
/// poisoned one (a bug of ours that panicked while holding it) is used as it is: the one
/// poison-ignoring lock of the crate (`park::lock` is this, for the std mutexes that never go
/// under loom).
pub(crate) fn lock<T>(m: &sync::Mutex<T>) -> sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Threads as the park layer sees them: the handle it unparks, blocking, yielding, and the
/// per-thread context (under loom, each loom thread is a context of its own).
pub(crate) mod thread {
    #[cfg(loom)]
    pub(crate) use ::loom::{
        thread::{current, park, yield_now, Thread},
        thread_local,
    };
    pub(crate) use std::thread::panicking;
    #[cfg(not(loom))]
    pub(crate) use std::{
        thread::{current, park, park_timeout, yield_now, Thread},
        thread_local,
    };

    /// loom has no timed park: a timed park is modelled as a spurious wake-up (which every
    /// caller must handle anyway), so the models explore the "woke early" paths.
    #[cfg(loom)]
    pub(crate) fn park_timeout(_: std::time::Duration) {
        ::loom::thread::yield_now();
    }
}

/// A cell whose accesses loom checks for data races (`with_mut` hands out the raw pointer, as
/// loom's own `UnsafeCell` does); std's `UnsafeCell` normally.
pub(crate) mod cell {
    #[cfg(loom)]
    pub(crate) use ::loom::cell::UnsafeCell;

    #[cfg(not(loom))]
    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    #[cfg(not(loom))]
    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(value: T) -> UnsafeCell<T> {
            UnsafeCell(std::cell::UnsafeCell::new(value))
        }

        /// Runs `f` with a pointer to the value; the caller upholds what dereferencing needs.
        #[inline]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

/// Busy-wait hints: under loom a spin is a yield, so that a spinning thread lets the others run.
pub(crate) mod hint {
    #[cfg(loom)]
    pub(crate) use ::loom::hint::spin_loop;
    #[cfg(not(loom))]
    pub(crate) use std::hint::spin_loop;
}

/// An `AtomicBool` with a `const` constructor, for the types that need one (`WaitQueue::new`,
/// which `Event::new` calls in `const` context). std's own normally; under loom, loom's, made on
/// first use (loom atomics cannot be made in `const` context, and exist only inside a model).
#[cfg(not(loom))]
pub(crate) type ConstAtomicBool = std::sync::atomic::AtomicBool;

#[cfg(loom)]
pub(crate) struct ConstAtomicBool {
    atomic: std::sync::OnceLock<::loom::sync::atomic::AtomicBool>,
    initial: bool,
}

#[cfg(loom)]
impl ConstAtomicBool {
    pub(crate) const fn new(initial: bool) -> ConstAtomicBool {
        ConstAtomicBool {
            atomic: std::sync::OnceLock::new(),
            initial,
        }
    }
}

#[cfg(loom)]
impl std::ops::Deref for ConstAtomicBool {
    type Target = ::loom::sync::atomic::AtomicBool;

    fn deref(&self) -> &Self::Target {
        self.atomic
            .get_or_init(|| ::loom::sync::atomic::AtomicBool::new(self.initial))
    }
}
