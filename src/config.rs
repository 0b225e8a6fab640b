//! Runtime configuration: [`Config`], [`configure`] and the `GREENLET_*` environment variables.
//!
//! Every setting has a `Config` method and an environment variable; `configure` wins over the
//! variable, which wins over the default. A variable whose value cannot be used is reported on
//! stderr and through `log` (a mistyped variable must not pass unnoticed), and ignored.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::coroutine::stack::{self, DEFAULT_STACK_SIZE, MAX_STACK_SIZE, MIN_STACK_SIZE};

/// Settings for the runtime, applied with [`configure`] before first use.
///
/// Unset fields come from the environment (see the crate docs, "Environment variables"), then
/// from the defaults: one worker per core, a [`DEFAULT_STACK_SIZE`] stack, deadlocks reported,
/// stalls reported after 100 ms, and as many extra workers as workers to stand in for blocked
/// ones.
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
    deadlock: Option<DeadlockPolicy>,
    deadlock_grace: Option<Duration>,
    stall_threshold: Option<Duration>,
    extra_workers: Option<usize>,
}

/// `Config`'s setters, which differ only in name, type and doc: each entry is a setting's doc
/// (with its example) and `name(argument: Type)`, and makes `pub fn name(self, argument: Type)
/// -> Config`, which stores `Some(argument)` in the field of that name and returns the config,
/// for chaining.
macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident($arg:ident: $ty:ty);)*) => {
        impl Config {
            $(
                $(#[$doc])*
                pub fn $name(mut self, $arg: $ty) -> Config {
                    self.$name = Some($arg);
                    self
                }
            )*
        }
    };
}

setters! {
    /// The number of worker threads; 0 means one per core (the default). At most
    /// [`MAX_WORKERS`]: a larger count is lowered to it, with a warning. Environment:
    /// `GREENLET_WORKERS`.
    ///
    /// ```
    /// // In a program's main, before anything else of the crate runs:
    /// let _ = greenlet::configure(greenlet::Config::default().workers(4));
    /// ```
    workers(n: usize);

    /// The default stack size of new greenlets, in bytes (rounded up to a power of two; clamped to
    /// [`MIN_STACK_SIZE`]..=[`MAX_STACK_SIZE`] with a warning). Environment:
    /// `GREENLET_STACK_SIZE` (bytes, or with a `K`/`M` suffix).
    ///
    /// ```
    /// let _ = greenlet::configure(greenlet::Config::default().stack_size(128 << 10));
    /// ```
    stack_size(bytes: usize);

    /// What to do when nothing inside the process can wake the blocked greenlets and threads
    /// any more (see [`DeadlockPolicy`]). Environment: `GREENLET_DEADLOCK=report|panic|off`.
    ///
    /// ```
    /// use greenlet::{Config, DeadlockPolicy};
    /// // Tests and batch jobs: fail loudly, as Go and gevent do.
    /// let _ = greenlet::configure(Config::default().deadlock(DeadlockPolicy::Panic));
    /// ```
    deadlock(policy: DeadlockPolicy);

    /// How long the runtime must stay deadlocked before it is reported (default 1 s).
    /// Environment: `GREENLET_DEADLOCK_GRACE_MS`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let _ = greenlet::configure(greenlet::Config::default().deadlock_grace(Duration::from_millis(200)));
    /// ```
    deadlock_grace(grace: Duration);

    /// How long one greenlet may hold its worker without a blocking call of this crate before
    /// the stall monitor reports it and extra workers may start (default 100 ms). Environment:
    /// `GREENLET_STALL_MS`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let _ = greenlet::configure(greenlet::Config::default().stall_threshold(Duration::from_millis(250)));
    /// ```
    stall_threshold(threshold: Duration);

    /// The most extra worker threads the runtime starts, while every worker is held by a
    /// blocking call or a long computation, to run the greenlets that have not started yet
    /// (default: as many as workers; 0 turns compensation off). Environment:
    /// `GREENLET_EXTRA_WORKERS`.
    ///
    /// ```
    /// let _ = greenlet::configure(greenlet::Config::default().extra_workers(8));
    /// ```
    extra_workers(n: usize);
}

/// What the runtime does when it is deadlocked: no greenlet is running or runnable, no timer is
/// pending, no socket, pipe or child process is registered with the IO poller and no
/// thread-pool job is running, while greenlets are parked or a plain thread is blocked in a call
/// of this crate. Nothing inside the process can wake them.
///
/// ```
/// use greenlet::DeadlockPolicy;
/// assert_eq!(DeadlockPolicy::default(), DeadlockPolicy::Report);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum DeadlockPolicy {
    /// Print a report (a line containing "deadlock", then the stuck greenlets: what each waits
    /// on and where) to stderr and through `log::error!`, once per episode, and keep waiting:
    /// an OS thread that does not use this crate might still wake them.
    #[default]
    Report,
    /// Report, then make the call a plain thread is blocked in (say `join` in `fn main`) panic
    /// with the report, so the program exits non-zero, as Go's "all goroutines are asleep" and
    /// gevent's `LoopExit` do.
    Panic,
    /// Say nothing.
    Off,
}

impl DeadlockPolicy {
    fn parse(s: &str) -> Option<DeadlockPolicy> {
        match s.to_ascii_lowercase().as_str() {
            "report" => Some(DeadlockPolicy::Report),
            "panic" => Some(DeadlockPolicy::Panic),
            "off" | "none" => Some(DeadlockPolicy::Off),
            _ => None,
        }
    }
}

/// The most worker threads the runtime starts (Go caps `GOMAXPROCS` at the same figure): a
/// mistyped `GREENLET_WORKERS=1000000` should not try to start a million threads.
pub const MAX_WORKERS: usize = 1024;

/// The default of [`Config::deadlock_grace`].
const DEFAULT_DEADLOCK_GRACE: Duration = Duration::from_secs(1);
/// The default of [`Config::stall_threshold`].
const DEFAULT_STALL_THRESHOLD: Duration = Duration::from_millis(100);

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
    pub(crate) deadlock: DeadlockPolicy,
    pub(crate) deadlock_grace: Duration,
    pub(crate) stall_threshold: Duration,
    pub(crate) extra_workers: usize,
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
        deadlock: None,
        deadlock_grace: None,
        stall_threshold: None,
        extra_workers: None,
    },
});
static STARTED: AtomicBool = AtomicBool::new(false);

/// Sets the runtime's configuration. Must come before the first call that spawns or blocks;
/// wins over the `GREENLET_*` environment variables.
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
    let mut state = crate::park::lock(&STATE);
    if state.started {
        return Err(AlreadyStarted);
    }
    state.config = c;
    Ok(())
}

/// Records the first use: from now on `configure` fails.
pub(crate) fn mark_used() {
    if !STARTED.load(Ordering::Acquire) {
        crate::park::lock(&STATE).started = true;
        STARTED.store(true, Ordering::Release);
    }
}

/// Fixes the configuration for good: `configure`, then the environment, then the defaults.
pub(crate) fn resolve() -> Resolved {
    let config = {
        let mut state = crate::park::lock(&STATE);
        state.started = true;
        state.config.clone()
    };
    STARTED.store(true, Ordering::Release);
    let workers = config
        .workers
        .or_else(|| env_value("GREENLET_WORKERS", parse_count))
        .filter(|&n| n > 0)
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
        warn(format_args!(
            "greenlet: stack size {requested} is out of range, using {clamped} bytes"
        ));
    }
    Resolved {
        workers,
        stack_size: stack::class_size(clamped),
        deadlock: config
            .deadlock
            .or_else(|| env_value("GREENLET_DEADLOCK", DeadlockPolicy::parse))
            .unwrap_or_default(),
        deadlock_grace: config
            .deadlock_grace
            .or_else(|| env_value("GREENLET_DEADLOCK_GRACE_MS", parse_millis))
            .unwrap_or(DEFAULT_DEADLOCK_GRACE),
        stall_threshold: config
            .stall_threshold
            .or_else(|| env_value("GREENLET_STALL_MS", parse_millis))
            .unwrap_or(DEFAULT_STALL_THRESHOLD),
        extra_workers: clamp_workers(
            config
                .extra_workers
                .or_else(|| env_value("GREENLET_EXTRA_WORKERS", parse_number))
                .unwrap_or(workers),
        ),
    }
}

/// A warning that must reach the user: through `log` when a logger takes warnings, otherwise
/// on stderr.
pub(crate) fn warn(message: fmt::Arguments<'_>) {
    if log::log_enabled!(log::Level::Warn) {
        log::warn!("{message}");
    } else {
        eprintln!("{message}");
    }
}

/// Lowers a worker count above [`MAX_WORKERS`] to it, with a warning.
fn clamp_workers(n: usize) -> usize {
    if n > MAX_WORKERS {
        warn(format_args!(
            "greenlet: {n} workers is more than {MAX_WORKERS}, using {MAX_WORKERS}"
        ));
        MAX_WORKERS
    } else {
        n
    }
}

/// How stack guard pages are made, from `GREENLET_STACK_GUARD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StackGuard {
    /// `MADV_GUARD_INSTALL` where the kernel has it (Linux 6.13+), else `mprotect`: the default.
    Auto,
    /// Always `mprotect`, which costs two memory mappings per stack: for tests and CI to run
    /// the fallback of older kernels on a new one.
    Mprotect,
}

impl StackGuard {
    fn parse(s: &str) -> Option<StackGuard> {
        match s.to_ascii_lowercase().as_str() {
            "auto" | "madvise" => Some(StackGuard::Auto),
            "mprotect" => Some(StackGuard::Mprotect),
            _ => None,
        }
    }
}

/// `GREENLET_STACK_GUARD`: `mprotect` forces the guard pages of older kernels, `auto` (or
/// `madvise`) is the default. Read when the first stack is mapped; a bad value is reported.
pub(crate) fn stack_guard_from_env() -> Option<StackGuard> {
    env_value("GREENLET_STACK_GUARD", StackGuard::parse)
}

/// Reads and parses an environment variable; a bad value is reported (stderr and `log`) and
/// ignored.
fn env_value<T>(name: &str, parse: fn(&str) -> Option<T>) -> Option<T> {
    let raw = std::env::var(name).ok()?;
    let value = parse(raw.trim());
    if value.is_none() {
        let message = format!(
            "greenlet: ignoring {name}={raw:?}: not a valid value (see the crate docs, \
             \"Environment variables\")"
        );
        log::warn!("{message}");
        eprintln!("{message}");
    }
    value
}

/// A worker count: 0 means one per core, as with [`Config::workers`].
fn parse_count(s: &str) -> Option<usize> {
    s.parse().ok()
}

fn parse_number(s: &str) -> Option<usize> {
    s.parse().ok()
}

fn parse_millis(s: &str) -> Option<Duration> {
    s.parse().ok().map(Duration::from_millis)
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
    use super::*;

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

    #[test]
    fn policies_and_counts_parse() {
        assert_eq!(DeadlockPolicy::parse("PANIC"), Some(DeadlockPolicy::Panic));
        assert_eq!(DeadlockPolicy::parse("off"), Some(DeadlockPolicy::Off));
        assert_eq!(DeadlockPolicy::parse("loud"), None);
        assert_eq!(parse_count("0"), Some(0)); // one per core, like Config::workers(0)
        assert_eq!(parse_count("-1"), None);
        assert_eq!(parse_millis("250"), Some(Duration::from_millis(250)));
        assert_eq!(StackGuard::parse("mprotect"), Some(StackGuard::Mprotect));
        assert_eq!(StackGuard::parse("Auto"), Some(StackGuard::Auto));
        assert_eq!(StackGuard::parse("pkeys"), None);
    }
}
