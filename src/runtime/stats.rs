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

/// What one worker counts. Aligned so that neighbours' writes never share its line.
#[repr(align(128))]
#[derive(Default)]
pub(crate) struct WorkerCounters {
    /// Greenlets spawned by greenlets running on this worker.
    pub(crate) spawned: AtomicU64,
    /// Greenlets that ended on this worker (returned, panicked, killed while running).
    pub(crate) finished: AtomicU64,
    /// Parks of greenlets homed here.
    pub(crate) parks: AtomicU64,
    /// Greenlets homed here that are parked right now (parks minus wake-ups).
    pub(crate) parked: AtomicU64,
    /// Greenlets not yet started that this worker took from others (and the injector).
    pub(crate) steals: AtomicU64,
    /// Started greenlets homed here that are not finished.
    pub(crate) homed: AtomicU64,
    /// Length of the run queue at the last scheduling tick.
    pub(crate) queued: AtomicU64,
}

/// Counters of events that happen off the workers.
#[derive(Default)]
pub(crate) struct Global {
    /// Greenlets spawned from plain threads.
    pub(crate) spawned: AtomicU64,
    /// Greenlets that ended without running on a worker (killed before they started, or their
    /// stack could not be allocated).
    pub(crate) finished: AtomicU64,
    /// Registrations made ready by the IO poller.
    pub(crate) io_wakeups: AtomicU64,
    /// Stalls the monitor reported (a greenlet holding its worker too long).
    pub(crate) stalls: AtomicU64,
    /// Deadlock reports.
    pub(crate) deadlocks: AtomicU64,
    /// Extra workers started to compensate for blocked ones, in all.
    pub(crate) compensations: AtomicU64,
}

impl Global {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }
}
