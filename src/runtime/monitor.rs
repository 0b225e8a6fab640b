//! The stall monitor: a warning, through `log`, when one greenlet holds a worker too long.
//!
//! Greenlets are cooperative: one that makes a blocking OS call (`std::thread::sleep`,
//! `std::fs`, a blocking database driver) or computes for a long time without a blocking call
//! of this crate holds its worker thread, and every greenlet queued on that worker waits. The
//! monitor names the culprit, like Go's `sysmon` notices a goroutine that runs too long:
//!
//! * Each worker publishes, with plain stores, a count of the greenlets it has resumed and the
//!   id of the one it runs now ([`Watch`]). That is all the hot path pays.
//! * A monitor thread reads them every [`CHECK_INTERVAL`]. A worker whose count has not moved
//!   for [`STALL_THRESHOLD`] while a greenlet runs on it gets one warning naming that greenlet;
//!   an informational line follows when the worker switches again.
//! * When every worker sleeps, nothing can stall: the monitor parks, and the first worker to
//!   wake unparks it. An idle runtime stays at zero CPU.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::sync::OnceLock;
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// How long a greenlet may hold its worker before the monitor warns.
const STALL_THRESHOLD: Duration = Duration::from_millis(100);
/// How often the monitor looks while any worker is awake.
const CHECK_INTERVAL: Duration = Duration::from_millis(25);

/// What one worker publishes for the monitor. Aligned to its own cache lines: the worker writes
/// it on every switch, and a neighbour's writes must not bounce the line.
#[repr(align(128))]
pub(crate) struct Watch {
    /// Greenlets resumed so far (written by the worker only).
    switches: AtomicU64,
    /// The id of the greenlet running now; 0 between greenlets.
    running: AtomicU64,
}

impl Watch {
    fn new() -> Watch {
        Watch {
            switches: AtomicU64::new(0),
            running: AtomicU64::new(0),
        }
    }

    /// The worker is about to resume greenlet `id`.
    #[inline]
    pub(crate) fn enter(&self, id: u64) {
        // Only this worker writes `switches`: a load and a store, no locked instruction.
        self.switches
            .store(self.switches.load(Relaxed).wrapping_add(1), Relaxed);
        self.running.store(id, Relaxed);
    }

    /// The greenlet the worker resumed has suspended or finished.
    #[inline]
    pub(crate) fn leave(&self) {
        self.running.store(0, Relaxed);
    }
}

/// The monitor's shared state.
pub(crate) struct Monitor {
    pub(crate) watches: Box<[Watch]>,
    /// True while the monitor thread is parked (or about to park) because every worker sleeps.
    parked: AtomicBool,
    thread: OnceLock<Thread>,
}

/// What the monitor remembers of one worker between two looks.
#[derive(Clone, Copy)]
struct Seen {
    switches: u64,
    greenlet: u64,
    since: Instant,
    warned: bool,
}

impl Monitor {
    pub(crate) fn new(workers: usize) -> Monitor {
        Monitor {
            watches: (0..workers).map(|_| Watch::new()).collect(),
            parked: AtomicBool::new(false),
            thread: OnceLock::new(),
        }
    }

    /// Called by a worker that has just left its sleep: wakes the monitor if it parked.
    ///
    /// The count of sleepers drops (a SeqCst read-modify-write, by this worker or its waker)
    /// before this load; the monitor stores `parked` before it reads that count (SeqCst):
    /// either the monitor sees an awake worker and stays up, or this sees it parked.
    pub(crate) fn worker_awake(&self) {
        if self.parked.load(SeqCst) {
            self.parked.store(false, SeqCst);
            if let Some(t) = self.thread.get() {
                t.unpark();
            }
        }
    }

    /// The monitor thread's body. `all_asleep` tells whether every worker sleeps now.
    pub(crate) fn run(&self, all_asleep: impl Fn() -> bool) {
        let _ = self.thread.set(thread::current());
        let mut seen: Vec<Option<Seen>> = vec![None; self.watches.len()];
        loop {
            if all_asleep() {
                self.parked.store(true, SeqCst);
                if all_asleep() {
                    // Woken by `worker_awake` (or spuriously: then look once and come back).
                    thread::park();
                }
                self.parked.store(false, SeqCst);
                seen.fill(None);
            }
            thread::sleep(CHECK_INTERVAL);
            let now = Instant::now();
            for (index, (watch, seen)) in self.watches.iter().zip(seen.iter_mut()).enumerate() {
                *seen = look(index, watch, *seen, now);
            }
        }
    }
}

/// One look at one worker: warns when the same greenlet has held it past the threshold.
fn look(index: usize, watch: &Watch, before: Option<Seen>, now: Instant) -> Option<Seen> {
    let switches = watch.switches.load(Relaxed);
    let greenlet = watch.running.load(Relaxed);
    match before {
        Some(mut s) if s.switches == switches && s.greenlet == greenlet && greenlet != 0 => {
            let held = now.duration_since(s.since);
            if !s.warned && held >= STALL_THRESHOLD {
                log::warn!(
                    "greenlet {greenlet} has held worker {index} for {} ms without a blocking \
                     call of this crate: every greenlet queued on that worker waits meanwhile. \
                     Run blocking OS calls (std::thread::sleep, std::fs, blocking drivers) with \
                     greenlet::threadpool::apply, and call greenlet::yield_now now and then in \
                     long computations.",
                    held.as_millis()
                );
                s.warned = true;
            }
            Some(s)
        }
        _ => {
            if let Some(s) = before.filter(|s| s.warned) {
                log::info!(
                    "greenlet {} released worker {index} after about {} ms",
                    s.greenlet,
                    now.duration_since(s.since).as_millis()
                );
            }
            Some(Seen {
                switches,
                greenlet,
                since: now,
                warned: false,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_stuck_on_one_greenlet_is_flagged_once_and_a_busy_one_never() {
        let watch = Watch::new();
        let t0 = Instant::now();
        watch.enter(7);
        let s = look(0, &watch, None, t0).unwrap();
        assert!(!s.warned);
        let s = look(0, &watch, Some(s), t0 + STALL_THRESHOLD / 2).unwrap();
        assert!(!s.warned, "not yet past the threshold");
        let s = look(0, &watch, Some(s), t0 + STALL_THRESHOLD).unwrap();
        assert!(s.warned);
        assert_eq!(s.greenlet, 7);
        // Switching again starts a new watch.
        watch.leave();
        watch.enter(8);
        let s = look(0, &watch, Some(s), t0 + 3 * STALL_THRESHOLD).unwrap();
        assert!(!s.warned);
        assert_eq!(s.greenlet, 8);
        // A worker between greenlets is never flagged, however long it stays there.
        watch.leave();
        let s = look(0, &watch, Some(s), t0 + 4 * STALL_THRESHOLD).unwrap();
        let s = look(0, &watch, Some(s), t0 + 9 * STALL_THRESHOLD).unwrap();
        assert!(!s.warned);
    }
}
