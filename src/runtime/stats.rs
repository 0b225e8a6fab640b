//! Runtime counters: cheap to keep, summed on read by [`crate::stats`].
//!
//! Each worker owns a [`WorkerCounters`] on a cache line of its own and updates it with plain
//! load-and-store pairs (no locked instruction: only the owner writes). Events that happen off
//! the workers (spawns from plain threads, kills of greenlets that never started, IO wake-ups,
//! stall and deadlock reports) go to [`Global`] with atomic adds; they are rare or batched.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Adds `n` to a counter that only the calling thread writes.
#[inline]
pub(crate) fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
}

/// Declares a struct of the runtime's counters (and gauges): every field an `AtomicU64` with its
/// doc, all zero at the start, read by `runtime::stats`. A field is written as its doc and name.
macro_rules! counters {
    ($(#[$attr:meta])* struct $name:ident { $($(#[$doc:meta])* $field:ident,)* }) => {
        $(#[$attr])*
        #[derive(Default)]
        pub(crate) struct $name {
            $($(#[$doc])* pub(crate) $field: AtomicU64,)*
        }
    };
}

counters! {
    /// What one worker counts. Aligned so that neighbours' writes never share its line.
    #[repr(align(128))]
    struct WorkerCounters {
        /// Greenlets spawned by greenlets running on this worker.
        spawned,
        /// Greenlets that ended on this worker (returned, panicked, killed while running).
        finished,
        /// Parks of greenlets homed here.
        parks,
        /// Greenlets homed here that are parked right now (parks minus wake-ups).
        parked,
        /// Greenlets not yet started that this worker took from others (and the injector).
        steals,
        /// Started greenlets homed here that are not finished.
        homed,
        /// Length of the run queue at the last scheduling tick.
        queued,
    }
}

counters! {
    /// Counters of events that happen off the workers.
    struct Global {
        /// Greenlets spawned from plain threads.
        spawned,
        /// Greenlets that ended without running on a worker (killed before they started, or their
        /// stack could not be allocated).
        finished,
        /// Registrations made ready by the IO poller.
        io_wakeups,
        /// Stalls the monitor reported (a greenlet holding its worker too long).
        stalls,
        /// Deadlock reports.
        deadlocks,
        /// Extra workers started to compensate for blocked ones, in all.
        compensations,
    }
}

impl Global {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }
}
