//! Runtime configuration: [`Config`], [`configure`] and the `GREENLET_*` environment variables.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::coroutine::stack::{self, DEFAULT_STACK_SIZE, MAX_STACK_SIZE, MIN_STACK_SIZE};

/// Settings for the runtime, applied with [`configure`] before first use.
///
/// Unset fields come from the environment (`GREENLET_WORKERS`, `GREENLET_STACK_SIZE`), then from
/// the defaults: one worker per core and a [`DEFAULT_STACK_SIZE`]
/// stack.
///
/// ```
/// let config = greenlet::Config::default().workers(2).stack_size(128 << 10);
/// // Ok the first time, before any greenlet runs; Err(AlreadyStarted) later.
/// let _ = greenlet::configure(config);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    workers: Option<usize>,
    stack_size: Option<usize>,
}

impl Config {
    /// The number of worker threads; 0 means one per core (the default). At most
    /// [`MAX_WORKERS`]: a larger count is lowered to it, with a logged warning.
    ///
    /// ```
    /// // In a program's main, before anything else of the crate runs:
    /// let _ = greenlet::configure(greenlet::Config::default().workers(4));
    /// ```
    pub fn workers(mut self, n: usize) -> Config {
        self.workers = Some(n);
        self
    }

    /// The default stack size of new greenlets, in bytes (rounded up to whole pages; clamped to
    /// [`MIN_STACK_SIZE`]..=[`MAX_STACK_SIZE`] with
    /// a logged warning).
    ///
    /// ```
    /// let _ = greenlet::configure(greenlet::Config::default().stack_size(128 << 10));
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Config {
        self.stack_size = Some(bytes);
        self
    }
}

/// The most worker threads the runtime starts (Go caps `GOMAXPROCS` at the same figure): a
/// mistyped `GREENLET_WORKERS=1000000` should not try to start a million threads.
pub const MAX_WORKERS: usize = 1024;

/// [`configure`] was called after the runtime had started.
///
/// ```
/// greenlet::spawn(|| ()).join().unwrap(); // the runtime is running now
/// let late = greenlet::configure(greenlet::Config::default().workers(1));
/// assert_eq!(late, Err(greenlet::AlreadyStarted));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlreadyStarted;

impl fmt::Display for AlreadyStarted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the greenlet runtime has already started: call greenlet::configure first in main, \
             before anything spawns or blocks",
        )
    }
}

impl std::error::Error for AlreadyStarted {}

/// The settings in force once the runtime starts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Resolved {
    pub(crate) workers: usize,
    pub(crate) stack_size: usize,
}

struct State {
    started: bool,
    config: Config,
}

static STATE: Mutex<State> = Mutex::new(State {
    started: false,
    config: Config {
        workers: None,
        stack_size: None,
    },
});
static STARTED: AtomicBool = AtomicBool::new(false);

/// Sets the runtime's configuration. Must come before the first call that spawns or blocks;
/// wins over the `GREENLET_WORKERS` and `GREENLET_STACK_SIZE` environment variables.
///
/// ```
/// use greenlet::{configure, Config};
/// // In a doc test other code may have started the runtime already, so both answers are fine.
/// match configure(Config::default().workers(2)) {
///     Ok(()) => println!("two workers"),
///     Err(e) => println!("{e}"),
/// }
/// ```
pub fn configure(c: Config) -> Result<(), AlreadyStarted> {
    let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
    if state.started {
        return Err(AlreadyStarted);
    }
    state.config = c;
    Ok(())
}

/// Records the first use: from now on `configure` fails.
pub(crate) fn mark_used() {
    if !STARTED.load(Ordering::Acquire) {
        STATE.lock().unwrap_or_else(|e| e.into_inner()).started = true;
        STARTED.store(true, Ordering::Release);
    }
}

/// Fixes the configuration for good: `configure`, then the environment, then the defaults.
pub(crate) fn resolve() -> Resolved {
    let config = {
        let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
        state.started = true;
        state.config.clone()
    };
    STARTED.store(true, Ordering::Release);
    let workers = config
        .workers
        .filter(|&n| n > 0)
        .or_else(|| env_value("GREENLET_WORKERS", parse_count))
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        });
    let workers = clamp_workers(workers);
    let requested = config
        .stack_size
        .or_else(|| env_value("GREENLET_STACK_SIZE", parse_size))
        .unwrap_or(DEFAULT_STACK_SIZE);
    let clamped = requested.clamp(MIN_STACK_SIZE, MAX_STACK_SIZE);
    if clamped != requested {
        log::warn!("greenlet: stack size {requested} is out of range, using {clamped} bytes");
    }
    Resolved {
        workers,
        stack_size: stack::round_to_pages(clamped),
    }
}

/// Lowers a worker count above [`MAX_WORKERS`] to it, with a warning.
fn clamp_workers(n: usize) -> usize {
    if n > MAX_WORKERS {
        log::warn!("greenlet: {n} workers is more than {MAX_WORKERS}, using {MAX_WORKERS}");
        MAX_WORKERS
    } else {
        n
    }
}

/// Reads and parses an environment variable; a bad value is logged and ignored.
fn env_value(name: &str, parse: fn(&str) -> Option<usize>) -> Option<usize> {
    let raw = std::env::var(name).ok()?;
    let value = parse(raw.trim());
    if value.is_none() {
        log::warn!("greenlet: ignoring {name}={raw:?}: not a valid value");
    }
    value
}

fn parse_count(s: &str) -> Option<usize> {
    s.parse().ok().filter(|&n| n > 0)
}

/// Bytes, with an optional K/KB/KiB or M/MB/MiB suffix (binary units).
pub(crate) fn parse_size(s: &str) -> Option<usize> {
    let lower = s.to_ascii_lowercase();
    let (digits, unit) = match lower.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => lower.split_at(i),
        None => (lower.as_str(), ""),
    };
    let n: usize = digits.parse().ok()?;
    let mult = match unit.trim() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        _ => return None,
    };
    n.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::{clamp_workers, parse_size, MAX_WORKERS};

    #[test]
    fn worker_counts_are_capped() {
        assert_eq!(clamp_workers(1), 1);
        assert_eq!(clamp_workers(MAX_WORKERS), MAX_WORKERS);
        assert_eq!(clamp_workers(MAX_WORKERS + 1), MAX_WORKERS);
        assert_eq!(clamp_workers(usize::MAX), MAX_WORKERS);
    }

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("65536"), Some(65536));
        assert_eq!(parse_size("64k"), Some(65536));
        assert_eq!(parse_size("64KiB"), Some(65536));
        assert_eq!(parse_size("1M"), Some(1 << 20));
        assert_eq!(parse_size("12 parsecs"), None);
        assert_eq!(parse_size(""), None);
    }
}
