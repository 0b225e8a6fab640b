//! [`dump`]: every greenlet not yet finished, with what it waits on and where.
//!
//! Stackful greenlets make this cheap to know: each parked greenlet sits in one blocking call
//! of this crate, whose caller's location the call records (`#[track_caller]`) as it parks.
//! A dump reads the registry of live greenlets under short locks; it does not stop the runtime,
//! so it is a snapshot of states that may change as it is taken.
//!
//! Set `GREENLET_DUMP_SIGNAL=USR1` (or `SIGUSR1`, or a signal number) to have the dump printed
//! to stderr whenever the process receives that signal (`kill -USR1 <pid>`).
//!
//! Set `GREENLET_DUMP_BACKTRACE=1` to capture a backtrace of each greenlet as it parks, shown
//! with it in the dump. This is for debugging: capturing costs tens of microseconds per park
//! (measured: see PERFORMANCE.md), against a few nanoseconds for the wait site alone.

use std::backtrace::Backtrace;
use std::collections::HashMap;
use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use crate::GreenletId;

/// Every greenlet not yet finished, at one instant: returned by [`dump`].
///
/// `Display` prints a table, one line per greenlet; [`to_json`](Dump::to_json) an array of
/// objects with the same fields.
///
/// ```
/// use std::time::Duration;
/// let g = greenlet::Builder::new()
///     .name("napper")
///     .spawn(|| greenlet::sleep(Duration::from_secs(60)))
///     .unwrap();
/// while !greenlet::dump().iter().any(|i| i.id == g.id() && i.state == greenlet::GreenletState::Parked) {
///     greenlet::sleep(Duration::from_millis(1));
/// }
/// let dump = greenlet::dump();
/// let napper = dump.iter().find(|i| i.id == g.id()).unwrap();
/// assert_eq!(napper.name.as_deref(), Some("napper"));
/// assert_eq!(napper.waiting_on, Some("sleep"));
/// assert!(dump.to_string().contains("napper"));
/// assert!(dump.to_json().starts_with('['));
/// g.kill();
/// ```
#[derive(Debug, Clone, Default)]
pub struct Dump {
    greenlets: Vec<GreenletInfo>,
}

/// One greenlet in a [`Dump`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GreenletInfo {
    /// Its id.
    pub id: GreenletId,
    /// Its name, if it was given one ([`Builder::name`](crate::Builder::name)).
    pub name: Option<String>,
    /// What it is doing.
    pub state: GreenletState,
    /// Where it was spawned.
    pub spawned_at: &'static Location<'static>,
    /// Where the blocking call it is parked in was called from (parked greenlets only).
    pub waiting_at: Option<&'static Location<'static>>,
    /// What it is parked in: `"sleep"`, `"channel recv"`, `"join"`, `"TcpStream read"`, ...
    /// (parked greenlets only).
    pub waiting_on: Option<&'static str>,
    /// How long it has been in this state (to within a few tens of milliseconds).
    pub in_state_for: Duration,
    /// Its stack when it parked, with `GREENLET_DUMP_BACKTRACE=1` (parked greenlets only).
    pub backtrace: Option<Arc<Backtrace>>,
}

/// What a greenlet is doing, in a [`Dump`].
///
/// ```
/// assert_eq!(greenlet::GreenletState::Parked.to_string(), "parked");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GreenletState {
    /// Spawned, waiting for a worker to start it (or for its `spawn_later` delay).
    NotStarted,
    /// Ready to run, queued on its worker.
    Runnable,
    /// Running on a worker now.
    Running,
    /// Parked in a blocking call of this crate.
    Parked,
}

impl GreenletState {
    fn as_str(self) -> &'static str {
        match self {
            GreenletState::NotStarted => "not started",
            GreenletState::Runnable => "runnable",
            GreenletState::Running => "running",
            GreenletState::Parked => "parked",
        }
    }
}

impl fmt::Display for GreenletState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every greenlet not yet finished, at this instant: id, name, state, what it waits on and
/// where, where it was spawned, and for how long it has been in that state. Greenlets are
/// listed by id. Empty if the runtime has not started.
///
/// ```
/// use std::time::Duration;
/// let napper = greenlet::spawn(|| greenlet::sleep(Duration::from_secs(60)));
/// let parked = |d: &greenlet::Dump| d.iter().any(|g| g.id == napper.id() && g.waiting_on.is_some());
/// while !parked(&greenlet::dump()) {
///     greenlet::sleep(Duration::from_millis(1));
/// }
/// let dump = greenlet::dump();
/// let info = dump.iter().find(|g| g.id == napper.id()).unwrap();
/// assert_eq!(info.waiting_on, Some("sleep"));
/// assert!(info.waiting_at.unwrap().file().ends_with(".rs")); // the caller of sleep
/// println!("{dump}"); // a table, one line per greenlet
/// napper.kill();
/// ```
pub fn dump() -> Dump {
    let mut greenlets = crate::runtime::snapshot();
    greenlets.sort_by_key(|g| g.id);
    Dump { greenlets }
}

impl Dump {
    /// The greenlets, by id.
    ///
    /// ```
    /// let g = greenlet::spawn(|| greenlet::sleep(std::time::Duration::from_secs(60)));
    /// assert!(greenlet::dump().iter().any(|i| i.id == g.id()));
    /// g.kill();
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = &GreenletInfo> + '_ {
        self.greenlets.iter()
    }

    /// How many greenlets the dump lists.
    ///
    /// ```
    /// let _ = greenlet::dump().len();
    /// ```
    pub fn len(&self) -> usize {
        self.greenlets.len()
    }

    /// Whether the dump lists no greenlet.
    ///
    /// ```
    /// let d = greenlet::dump();
    /// assert_eq!(d.is_empty(), d.len() == 0);
    /// ```
    pub fn is_empty(&self) -> bool {
        self.greenlets.is_empty()
    }

    /// The dump as a JSON array of objects with the fields of [`GreenletInfo`] (`in_state_for`
    /// in milliseconds as `in_state_for_ms`; locations as `"file:line:column"` strings; absent
    /// values as `null`).
    ///
    /// ```
    /// let g = greenlet::Builder::new().name("j\"son").spawn(|| greenlet::sleep(std::time::Duration::from_secs(60))).unwrap();
    /// let json = greenlet::dump().to_json();
    /// assert!(json.contains(r#""name":"j\"son""#));
    /// g.kill();
    /// ```
    pub fn to_json(&self) -> String {
        let mut out = String::from("[");
        for (i, g) in self.greenlets.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&format!("{{\"id\":{},\"name\":", g.id.as_u64()));
            push_json_opt(&mut out, g.name.as_deref());
            out.push_str(",\"state\":");
            push_json_str(&mut out, g.state.as_str());
            out.push_str(",\"waiting_on\":");
            push_json_opt(&mut out, g.waiting_on);
            out.push_str(",\"waiting_at\":");
            push_json_opt(&mut out, g.waiting_at.map(|l| l.to_string()).as_deref());
            out.push_str(",\"spawned_at\":");
            push_json_str(&mut out, &g.spawned_at.to_string());
            out.push_str(&format!(
                ",\"in_state_for_ms\":{}}}",
                g.in_state_for.as_millis()
            ));
        }
        out.push(']');
        out
    }
}

fn push_json_opt(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => push_json_str(out, s),
        None => out.push_str("null"),
    }
}

fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

impl fmt::Display for Dump {
    /// A table: id, name, state, time in state, what it waits on and where, where it was
    /// spawned.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:>8}  {:<16}  {:<11}  {:>9}  {:<24}  {:<32}  spawned at",
            "id", "name", "state", "for", "waiting on", "at"
        )?;
        for g in &self.greenlets {
            writeln!(
                f,
                "{:>8}  {:<16}  {:<11}  {:>9}  {:<24}  {:<32}  {}",
                g.id,
                g.name.as_deref().unwrap_or("-"),
                g.state.as_str(),
                format!("{} ms", g.in_state_for.as_millis()),
                g.waiting_on.unwrap_or("-"),
                g.waiting_at.map_or("-".to_string(), |l| l.to_string()),
                g.spawned_at
            )?;
            if let Some(bt) = &g.backtrace {
                writeln!(f, "{bt}")?;
            }
        }
        Ok(())
    }
}

impl<'a> IntoIterator for &'a Dump {
    type Item = &'a GreenletInfo;
    type IntoIter = std::slice::Iter<'a, GreenletInfo>;
    fn into_iter(self) -> Self::IntoIter {
        self.greenlets.iter()
    }
}

impl GreenletInfo {
    pub(crate) fn new(
        id: u64,
        name: Option<String>,
        state: GreenletState,
        spawned_at: &'static Location<'static>,
        wait: Option<(Option<&'static str>, Option<&'static Location<'static>>)>,
        in_state_for: Duration,
    ) -> GreenletInfo {
        let (waiting_on, waiting_at) = wait.unwrap_or((None, None));
        let backtrace = if wait.is_some() && BACKTRACES.load(Relaxed) {
            crate::park::lock(&PARK_BACKTRACES).get(&id).cloned()
        } else {
            None
        };
        GreenletInfo {
            backtrace,
            id: GreenletId::from_u64(id),
            name,
            state,
            spawned_at,
            waiting_at,
            waiting_on,
            in_state_for,
        }
    }
}

/// Whether parks capture backtraces (`GREENLET_DUMP_BACKTRACE`).
static BACKTRACES: AtomicBool = AtomicBool::new(false);
/// The backtrace of each greenlet's last park, by id, while backtraces are on.
static PARK_BACKTRACES: LazyLock<Mutex<HashMap<u64, Arc<Backtrace>>>> =
    LazyLock::new(Default::default);

/// Reads `GREENLET_DUMP_BACKTRACE` (called once, when the runtime starts).
pub(crate) fn read_backtrace_switch() {
    let on = std::env::var("GREENLET_DUMP_BACKTRACE").is_ok_and(|v| v != "0" && !v.is_empty());
    BACKTRACES.store(on, Relaxed);
}

/// Called as greenlet `id` parks: captures its backtrace if backtraces are on.
#[inline]
pub(crate) fn on_park(id: u64) {
    if BACKTRACES.load(Relaxed) {
        let bt = Arc::new(Backtrace::force_capture());
        crate::park::lock(&PARK_BACKTRACES).insert(id, bt);
    }
}

/// Called as greenlet `id` ends: forgets its backtrace.
#[inline]
pub(crate) fn on_end(id: u64) {
    if BACKTRACES.load(Relaxed) {
        crate::park::lock(&PARK_BACKTRACES).remove(&id);
    }
}

/// Reads `GREENLET_DUMP_SIGNAL` and, if set, starts a thread that prints [`dump`] to stderr
/// each time the process receives that signal. The thread is an OS thread of its own, so a
/// dump comes even when every worker is held. Called once, when the runtime starts.
pub(crate) fn watch_signal() {
    let Ok(raw) = std::env::var("GREENLET_DUMP_SIGNAL") else {
        return;
    };
    let Some(sig) = parse_signal(raw.trim()) else {
        crate::config::warn(format_args!(
            "greenlet: ignoring GREENLET_DUMP_SIGNAL={raw:?}: not a signal that can be caught \
             (use a name such as USR1 or SIGUSR1, or a number)"
        ));
        return;
    };
    let mut signals = match signal_hook::iterator::Signals::new([sig]) {
        Ok(s) => s,
        Err(e) => {
            crate::config::warn(format_args!(
                "greenlet: cannot watch signal {sig} for dumps: {e}"
            ));
            return;
        }
    };
    let spawned = std::thread::Builder::new()
        .name("greenlet-dump".into())
        .spawn(move || {
            for _ in signals.forever() {
                eprintln!("greenlet: dump on signal {sig}\n{}", dump());
            }
        });
    if let Err(e) = spawned {
        crate::config::warn(format_args!(
            "greenlet: could not start the dump signal thread: {e}"
        ));
    }
}

/// `USR1`, `SIGUSR1` or a number; `None` for anything else or a signal that cannot be caught.
fn parse_signal(s: &str) -> Option<i32> {
    const NAMES: &[(&str, i32)] = &[
        ("USR1", libc::SIGUSR1),
        ("USR2", libc::SIGUSR2),
        ("HUP", libc::SIGHUP),
        ("INT", libc::SIGINT),
        ("QUIT", libc::SIGQUIT),
        ("TERM", libc::SIGTERM),
        ("WINCH", libc::SIGWINCH),
        ("PWR", libc::SIGPWR),
        ("URG", libc::SIGURG),
    ];
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let sig = match name.parse::<i32>() {
        Ok(n) => n,
        Err(_) => NAMES.iter().find(|(n, _)| *n == name)?.1,
    };
    let catchable =
        (1..=libc::SIGRTMAX()).contains(&sig) && !signal_hook::consts::FORBIDDEN.contains(&sig);
    catchable.then_some(sig)
}

#[cfg(test)]
mod tests {
    use super::parse_signal;

    #[test]
    fn signal_names_and_numbers_parse() {
        assert_eq!(parse_signal("USR1"), Some(libc::SIGUSR1));
        assert_eq!(parse_signal("sigusr2"), Some(libc::SIGUSR2));
        assert_eq!(parse_signal("10"), Some(10));
        assert_eq!(parse_signal("KILL"), None);
        assert_eq!(parse_signal("9"), None);
        assert_eq!(parse_signal("0"), None);
        assert_eq!(parse_signal("BOGUS"), None);
    }
}
