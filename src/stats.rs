//! [`stats`]: the runtime's counters, for a dashboard or a log line.

use crate::runtime;

/// A snapshot of the runtime's counters, from [`stats`]. Counters (`spawned`, `parks`, `steals`,
/// `io_wakeups`, `stalls`, `deadlocks`, `compensations`) only grow; gauges (`workers`,
/// `extra_workers`, `live`, `runnable`, `parked`, `timers`) describe the moment.
///
/// ```
/// let s = greenlet::stats();
/// println!("{s:?}");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Worker threads configured.
    pub workers: usize,
    /// Extra worker threads running now, standing in for workers held by a blocking call.
    pub extra_workers: usize,
    /// Greenlets spawned and not finished.
    pub live: u64,
    /// Greenlets spawned since the runtime started.
    pub spawned: u64,
    /// Greenlets waiting for a worker: not yet started, or woken and queued (approximate).
    pub runnable: u64,
    /// Greenlets parked in a blocking call now.
    pub parked: u64,
    /// Greenlets that idle workers took from others' queues (and the global queue).
    pub steals: u64,
    /// Parks of greenlets.
    pub parks: u64,
    /// Sockets, pipes and child processes the IO poller reported ready.
    pub io_wakeups: u64,
    /// Stalls reported: a greenlet that held its worker past the stall threshold.
    pub stalls: u64,
    /// Deadlocks reported.
    pub deadlocks: u64,
    /// Timers pending now: parks with a deadline (sleeps, timeouts) and `spawn_later` delays
    /// not yet passed. A timeout that ends early takes its timer with it.
    pub timers: u64,
    /// Extra workers started, in all.
    pub compensations: u64,
}

/// The runtime's counters now: cheap (per-worker counters summed on read). All zero before the
/// runtime starts.
///
/// ```
/// let before = greenlet::stats().spawned;
/// greenlet::spawn(|| ()).join().unwrap();
/// let after = greenlet::stats();
/// assert!(after.spawned > before);
/// assert!(after.workers >= 1);
/// ```
pub fn stats() -> Stats {
    runtime::stats()
}
