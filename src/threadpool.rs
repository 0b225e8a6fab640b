//! Blocking work on a pool of OS threads, while the calling greenlet parks: gevent's
//! `threadpool.apply`.
//!
//! A blocking call (a file read, a DNS lookup, a blocking database driver, CPU work that must
//! not hold up a worker) run directly in a greenlet would stall its whole worker thread. Wrap it
//! in [`apply`]: the call runs on a pool thread and only the calling greenlet waits.
//!
//! The pool starts threads on demand, up to [`max_threads`] (default 16, or the
//! `GREENLET_THREADPOOL_SIZE` environment variable); further jobs queue. A thread idle for 10
//! seconds exits.

use std::collections::VecDeque;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::{Condvar, Mutex, OnceLock};
use std::thread;
use std::time::Duration;

use crate::park::lock;

const DEFAULT_THREADS: usize = 16;
const IDLE_EXIT: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send + 'static>;

struct Pool {
    state: Mutex<State>,
    work: Condvar,
    max: usize,
}

struct State {
    jobs: VecDeque<Job>,
    threads: usize,
    idle: usize,
}

static POOL: OnceLock<Pool> = OnceLock::new();

/// The pool, if it has been made.
fn static_pool() -> Option<&'static Pool> {
    POOL.get()
}

fn pool() -> &'static Pool {
    POOL.get_or_init(|| Pool {
        state: Mutex::new(State {
            jobs: VecDeque::new(),
            threads: 0,
            idle: 0,
        }),
        work: Condvar::new(),
        max: std::env::var("GREENLET_THREADPOOL_SIZE")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or(DEFAULT_THREADS),
    })
}

/// Whether no job is queued or running (the deadlock detector's question: could a job still
/// wake somebody?). True before the pool is first used.
pub(crate) fn is_idle() -> bool {
    static_pool().is_none_or(|pool| {
        let state = lock(&pool.state);
        state.jobs.is_empty() && state.idle == state.threads
    })
}

/// The most threads the pool runs at once.
///
/// ```
/// assert!(greenlet::threadpool::max_threads() >= 1);
/// ```
pub fn max_threads() -> usize {
    pool().max
}

/// Runs `f` on a pool thread and returns its result; the calling greenlet parks meanwhile (on a
/// plain thread, the thread blocks). A panic in `f` resumes in the caller.
///
/// If the caller is killed or its [`with_timeout`](crate::with_timeout) expires, it unwinds at
/// once; `f` still runs to its end on its thread, and its result is dropped there.
///
/// ```
/// use greenlet::threadpool;
///
/// // A blocking call that would stall a worker thread if made directly in a greenlet.
/// let g = greenlet::spawn(|| {
///     threadpool::apply(|| {
///         std::thread::sleep(std::time::Duration::from_millis(10));
///         std::fs::metadata("Cargo.toml").map(|m| m.is_file()).unwrap_or(false)
///     })
/// });
/// assert!(g.join().unwrap());
/// ```
#[track_caller]
pub fn apply<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    // A one-slot channel carries the result (or the panic). If the caller is gone (killed or
    // timed out), the send fails on the pool thread and the result is dropped there.
    let (tx, rx) = crate::channel::bounded(1);
    submit(Box::new(move || {
        let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
    }));
    match rx.recv().expect("every job sends its result") {
        Ok(v) => v,
        Err(payload) => resume_unwind(payload),
    }
}

fn submit(job: Job) {
    let pool = pool();
    let mut state = lock(&pool.state);
    state.jobs.push_back(job);
    // More queued jobs than idle threads to take them: start one more thread, if allowed.
    let start = state.jobs.len() > state.idle && state.threads < pool.max;
    if start {
        state.threads += 1;
    }
    let idle = state.idle > 0;
    drop(state);
    if idle {
        pool.work.notify_one();
    }
    if start {
        let spawned = thread::Builder::new()
            .name("greenlet-threadpool".into())
            .spawn(|| run(self::pool()));
        if let Err(e) = spawned {
            log::error!("greenlet: could not start a threadpool thread: {e}");
            lock(&pool.state).threads -= 1;
            // The job stays queued for the threads that exist; with none, run it here rather
            // than leave the caller waiting forever.
            run_queued_here(pool);
        }
    }
}

/// Runs the queued jobs on the calling thread when no pool thread could be started at all.
fn run_queued_here(pool: &Pool) {
    loop {
        let job = {
            let mut state = lock(&pool.state);
            if state.threads > 0 {
                return;
            }
            match state.jobs.pop_front() {
                Some(j) => j,
                None => return,
            }
        };
        job();
    }
}

/// A pool thread: runs jobs until it has been idle for `IDLE_EXIT`.
fn run(pool: &'static Pool) {
    let mut state = lock(&pool.state);
    loop {
        if let Some(job) = state.jobs.pop_front() {
            drop(state);
            job(); // catches its own panics
            state = lock(&pool.state);
            continue;
        }
        state.idle += 1;
        let (s, timeout) = pool
            .work
            .wait_timeout(state, IDLE_EXIT)
            .unwrap_or_else(|e| e.into_inner());
        state = s;
        state.idle -= 1;
        if timeout.timed_out() && state.jobs.is_empty() {
            state.threads -= 1;
            return;
        }
    }
}
