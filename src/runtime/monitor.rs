//! The monitor thread: stall reports, compensation for held workers, deadlock detection.
//!
//! Greenlets are cooperative: one that makes a blocking OS call (`std::thread::sleep`,
//! `std::fs`, a blocking database driver) or computes for a long time without a blocking call
//! of this crate holds its worker thread, and every greenlet homed on that worker waits. The
//! monitor watches, like Go's `sysmon`:
//!
//! * **Stalls.** Each worker publishes, with plain stores, a count of the greenlets it has
//!   resumed and which one it runs now ([`Watch`]). That is all the hot path pays. Every
//!   [`CHECK_INTERVAL`] the monitor looks; a worker whose count has not moved for the stall
//!   threshold while a greenlet runs on it is reported: the greenlet's name and id, where it
//!   was spawned and where it last resumed. The report repeats, backing off (4× the time each
//!   time), while the stall lasts, and a last line says when it ends. Reports go through `log`
//!   when a logger takes them, to stderr otherwise: nobody misses them.
//! * **Compensation.** When every worker is held past the threshold and greenlets that have
//!   not started wait in a queue, the monitor starts an extra worker (up to
//!   `Config::extra_workers`), as Go hands off a P stuck in a syscall. By the placement rule an
//!   extra worker takes only greenlets not yet started; the ones it starts are homed on it. It
//!   retires when no worker is stalled and no greenlet is homed on it (`Runtime::retire`).
//! * **Deadlocks.** When every worker sleeps, nothing can stall. If moreover nothing inside the
//!   process can wake anybody (no timer pending, no IO source registered, no thread-pool job)
//!   while greenlets are parked or a plain thread is blocked in the crate, and that lasts for
//!   the grace period with no switch anywhere, the monitor reports a deadlock (see
//!   [`crate::DeadlockPolicy`]), once per episode. Otherwise it parks, using no CPU, until a
//!   worker wakes or a plain thread blocks.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::sync::{Arc, OnceLock};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use super::registry::{Key, REGISTRY};
use super::stats::Global;
use super::{Runtime, NO_DEADLINE};
use crate::config::{warn, DeadlockPolicy};
use crate::park::{blocked_threads, fail_blocked_threads, BlockedThread};

/// How often the monitor looks while any worker is awake.
const CHECK_INTERVAL: Duration = Duration::from_millis(25);
/// A stall is reported again when it has lasted this many times as long as at the last report.
const REPORT_BACKOFF: u32 = 4;

/// What one worker publishes for the monitor. Aligned to its own cache lines: the worker writes
/// it on every switch, and a neighbour's writes must not bounce the line.
#[repr(align(128))]
pub(crate) struct Watch {
    /// Greenlets resumed so far (written by the worker only).
    switches: AtomicU64,
    /// The id of the greenlet running now; 0 between greenlets.
    running: AtomicU64,
    /// The running greenlet's registry key (to find its name and sites).
    key: AtomicU64,
}

impl Watch {
    fn new() -> Watch {
        Watch {
            switches: AtomicU64::new(0),
            running: AtomicU64::new(0),
            key: AtomicU64::new(0),
        }
    }

    /// The worker is about to resume greenlet `id` (registered under `key`).
    #[inline]
    pub(crate) fn enter(&self, id: u64, key: u64) {
        // Only this worker writes `switches`: a load and a store, no locked instruction.
        self.switches
            .store(self.switches.load(Relaxed).wrapping_add(1), Relaxed);
        self.key.store(key, Relaxed);
        self.running.store(id, Relaxed);
    }

    /// The greenlet the worker resumed has suspended or finished.
    #[inline]
    pub(crate) fn leave(&self) {
        self.running.store(0, Relaxed);
    }

    /// The id of the greenlet running on this worker now (0: none).
    pub(crate) fn running(&self) -> u64 {
        self.running.load(Relaxed)
    }
}

/// The monitor's shared state.
pub(crate) struct Monitor {
    pub(crate) watches: Box<[Watch]>,
    /// True while the monitor thread is parked (or about to park) because every worker sleeps.
    parked: AtomicBool,
    thread: OnceLock<Thread>,
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
            self.poke();
        }
    }

    /// Wakes the monitor thread (a worker woke, or a plain thread blocked).
    pub(crate) fn poke(&self) {
        self.parked.store(false, SeqCst);
        if let Some(t) = self.thread.get() {
            t.unpark();
        }
    }
}

/// What the monitor remembers of one worker between two looks.
#[derive(Clone)]
struct Seen {
    switches: u64,
    greenlet: u64,
    key: u64,
    since: Instant,
    /// When the stall was last reported (None: not reported).
    reported: Option<Duration>,
    /// Who holds the worker, as first reported (the greenlet may be gone at the end).
    who: Option<String>,
}

impl Seen {
    fn stalled(&self, now: Instant, threshold: Duration) -> bool {
        self.greenlet != 0 && now.duration_since(self.since) >= threshold
    }
}

/// The monitor thread's body.
pub(crate) fn run(rt: &'static Runtime) {
    let monitor = &rt.monitor;
    let _ = monitor.thread.set(thread::current());
    let threshold = rt.config.stall_threshold;
    let mut seen: Vec<Option<Seen>> = vec![None; monitor.watches.len()];
    let mut deadlock = DeadlockWatch::default();
    loop {
        if rt.idle.all_asleep() {
            // The stalls reported so far have ended (every worker sleeps): say so.
            let now = Instant::now();
            for (index, s) in seen.iter().enumerate() {
                if let Some(s) = s.as_ref().filter(|s| s.reported.is_some()) {
                    report_end(index, s, now);
                }
            }
            monitor.parked.store(true, SeqCst);
            if rt.idle.all_asleep() {
                deadlock.idle(rt);
            }
            monitor.parked.store(false, SeqCst);
            seen.fill(None);
            rt.stalled.store(0, SeqCst);
        }
        thread::sleep(CHECK_INTERVAL);
        super::advance_coarse();
        let now = Instant::now();
        let mut stalled = 0;
        for (index, (watch, seen)) in monitor.watches.iter().zip(seen.iter_mut()).enumerate() {
            let before = seen.take();
            let first_report = before.as_ref().is_none_or(|b| b.reported.is_none());
            let next = look(index, watch, before, now, threshold);
            if let Some(s) = next.as_ref().filter(|s| s.stalled(now, threshold)) {
                if first_report && s.reported.is_some() {
                    Global::add(&rt.global.stalls, 1);
                }
                stalled += 1;
            }
            *seen = next;
        }
        rt.stalled.store(stalled, SeqCst);
        if stalled > 0 && stalled >= rt.idle.active() && has_unstarted(rt) && rt.start_extra() {
            Global::add(&rt.global.compensations, 1);
            log::debug!(
                "greenlet: every worker is held; started an extra worker for the greenlets \
                 waiting to start"
            );
        }
    }
}

/// Whether greenlets that have not started wait in a queue (the only ones an extra worker may
/// take).
fn has_unstarted(rt: &Runtime) -> bool {
    !rt.injector.is_empty() || rt.workers.iter().any(|w| !w.stealer.is_empty())
}

/// One look at one worker: reports a greenlet that has held it past the threshold (again,
/// backing off, while it lasts), and the end of such a stall.
fn look(
    index: usize,
    watch: &Watch,
    before: Option<Seen>,
    now: Instant,
    threshold: Duration,
) -> Option<Seen> {
    let switches = watch.switches.load(Relaxed);
    let greenlet = watch.running.load(Relaxed);
    let key = watch.key.load(Relaxed);
    match before {
        Some(mut s) if s.switches == switches && s.greenlet == greenlet && greenlet != 0 => {
            let held = now.duration_since(s.since);
            let due = match s.reported {
                None => threshold,
                Some(last) => last * REPORT_BACKOFF,
            };
            if held >= due {
                let who = s
                    .who
                    .get_or_insert_with(|| describe(s.key, s.greenlet))
                    .clone();
                report_stall(index, &who, &s, held);
                s.reported = Some(held);
            }
            Some(s)
        }
        _ => {
            if let Some(s) = before.as_ref().filter(|s| s.reported.is_some()) {
                report_end(index, s, now);
            }
            Some(Seen {
                switches,
                greenlet,
                key,
                since: now,
                reported: None,
                who: None,
            })
        }
    }
}

/// "greenlet 'name' (id 7, spawned at src/main.rs:10)", as far as the registry still knows it.
fn describe(key: u64, id: u64) -> String {
    REGISTRY
        .with(Key::from_bits(key), id, |h| {
            let name = h.name().map(|n| format!("'{n}' ")).unwrap_or_default();
            format!("greenlet {name}(id {id}, spawned at {})", h.spawned_at())
        })
        .unwrap_or_else(|| format!("greenlet {id}"))
}

/// Where the greenlet last resumed from: its last park, if any.
fn last_resumed(key: u64, id: u64) -> Option<String> {
    REGISTRY
        .with(Key::from_bits(key), id, |h| {
            let site = &h.park.site;
            Some(format!(
                "{} at {}",
                site.what()?,
                site.at().map_or("?".to_string(), |at| at.to_string())
            ))
        })
        .flatten()
}

fn report_end(index: usize, s: &Seen, now: Instant) {
    let who = s.who.clone().unwrap_or_else(|| describe(s.key, s.greenlet));
    warn(format_args!(
        "greenlet: {who} released worker {index} after about {} ms",
        now.duration_since(s.since).as_millis()
    ));
}

fn report_stall(index: usize, who: &str, s: &Seen, held: Duration) {
    let resumed = match last_resumed(s.key, s.greenlet) {
        Some(site) => format!(" It last resumed from {site}."),
        None => String::new(),
    };
    warn(format_args!(
        "greenlet: {who} has held worker {index} for {} ms without a blocking call of this \
         crate: every greenlet homed on that worker waits meanwhile.{resumed} Run blocking OS \
         calls (std::thread::sleep, std::fs, blocking drivers) with greenlet::threadpool::apply \
         or greenlet::fs, and call greenlet::yield_now now and then in long computations.",
        held.as_millis()
    ));
}

/// The deadlock detector's memory: the episode already reported.
#[derive(Default)]
struct DeadlockWatch {
    /// The signature of the last reported episode.
    reported: Option<Signature>,
}

/// What identifies one quiescent episode: no switch anywhere, the same blocked threads.
#[derive(Clone, PartialEq, Eq)]
struct Signature {
    switches: u64,
    parked: u64,
    threads: Vec<String>,
}

impl DeadlockWatch {
    /// Every worker sleeps: checks for a deadlock (after the grace period), then parks until a
    /// worker wakes or a plain thread blocks.
    fn idle(&mut self, rt: &'static Runtime) {
        let policy = rt.config.deadlock;
        let Some(first) = (policy != DeadlockPolicy::Off)
            .then(|| candidate(rt))
            .flatten()
        else {
            thread::park();
            return;
        };
        if self.reported.as_ref() == Some(&first.0) {
            thread::park(); // this episode was reported already
            return;
        }
        thread::park_timeout(rt.config.deadlock_grace);
        if !rt.idle.all_asleep() || !rt.monitor.parked.load(SeqCst) {
            return; // something happened
        }
        let Some((signature, threads)) = candidate(rt) else {
            return;
        };
        if signature != first.0 {
            return; // still moving: look again
        }
        let report = deadlock_report(&threads);
        Global::add(&rt.global.deadlocks, 1);
        log::error!("{report}");
        eprintln!("{report}");
        if policy == DeadlockPolicy::Panic {
            fail_blocked_threads(&threads, Arc::from(report));
        }
        self.reported = Some(signature);
    }
}

/// The current state, if it looks deadlocked: every worker asleep, no timer, no IO source, no
/// thread-pool job, and somebody parked or blocked.
fn candidate(rt: &Runtime) -> Option<(Signature, Vec<BlockedThread>)> {
    if !rt.idle.all_asleep()
        || rt.earliest_timer() != NO_DEADLINE
        || rt.io.has_sources()
        || !crate::threadpool::is_idle()
    {
        return None;
    }
    let parked: u64 = rt.counters.iter().map(|c| c.parked.load(Relaxed)).sum();
    let threads = blocked_threads();
    if parked == 0 && threads.is_empty() {
        return None;
    }
    let switches = rt
        .monitor
        .watches
        .iter()
        .map(|w| w.switches.load(Relaxed))
        .sum();
    let signature = Signature {
        switches,
        parked,
        threads: threads
            .iter()
            .map(|t| format!("{}@{:?}", t.name, t.at))
            .collect(),
    };
    Some((signature, threads))
}

/// The report: a first line with "deadlock", then the stuck greenlets and threads.
fn deadlock_report(threads: &[BlockedThread]) -> String {
    let dump = crate::dump();
    let mut report = format!(
        "greenlet: deadlock: every greenlet is asleep and nothing in this process can wake \
         them (no greenlet runnable, no timer pending, no socket, pipe or child process \
         watched, no thread-pool job running): {} greenlet(s) parked, {} thread(s) blocked \
         (set GREENLET_DEADLOCK=panic to fail, =off to silence)\n",
        dump.iter().count(),
        threads.len()
    );
    let now = super::precise_now();
    for t in threads {
        report.push_str(&format!(
            "  thread '{}' blocked in {} at {} for {} ms\n",
            t.name,
            t.what.unwrap_or("a blocking call"),
            t.at.map_or("?".to_string(), |a| a.to_string()),
            now.saturating_sub(t.since) / 1_000_000
        ));
    }
    report.push_str(&dump.to_string());
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stall_is_reported_then_again_backing_off_and_a_busy_worker_never() {
        let threshold = Duration::from_millis(100);
        let watch = Watch::new();
        let t0 = Instant::now();
        watch.enter(7, u64::MAX);
        let s = look(0, &watch, None, t0, threshold).unwrap();
        assert_eq!(s.reported, None);
        let s = look(0, &watch, Some(s), t0 + threshold / 2, threshold).unwrap();
        assert_eq!(s.reported, None, "not yet past the threshold");
        let s = look(0, &watch, Some(s), t0 + threshold, threshold).unwrap();
        assert_eq!(s.reported, Some(threshold));
        assert!(s.who.is_some());
        // Not again before 4x as long...
        let s = look(0, &watch, Some(s), t0 + 3 * threshold, threshold).unwrap();
        assert_eq!(s.reported, Some(threshold));
        // ...then again.
        let s = look(0, &watch, Some(s), t0 + 4 * threshold, threshold).unwrap();
        assert_eq!(s.reported, Some(4 * threshold));
        assert_eq!(s.greenlet, 7);
        // Switching again starts a new watch.
        watch.leave();
        watch.enter(8, u64::MAX);
        let s = look(0, &watch, Some(s), t0 + 5 * threshold, threshold).unwrap();
        assert_eq!(s.reported, None);
        assert_eq!(s.greenlet, 8);
        // A worker between greenlets is never flagged, however long it stays there.
        watch.leave();
        let s = look(0, &watch, Some(s), t0 + 6 * threshold, threshold).unwrap();
        let s = look(0, &watch, Some(s), t0 + 90 * threshold, threshold).unwrap();
        assert_eq!(s.reported, None);
        assert!(!s.stalled(t0 + 90 * threshold, threshold));
    }
}
