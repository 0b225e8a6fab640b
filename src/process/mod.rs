//! Child processes, like `std::process` (and gevent's `subprocess`), where waiting for the
//! child and reading or writing its pipes park the greenlet instead of blocking the worker.
//!
//! Waiting uses a pidfd (Linux 5.3 and later) registered with the IO driver, so no thread sits
//! in `waitpid`; on older kernels the wait polls the child with a short sleep in between.
//!
//! # Who reaps a child
//!
//! No child is left a zombie, on any path:
//! - [`Command::output`] and [`Command::status`] own their child. If they do not return its
//!   result (a [`kill`](crate::Greenlet::kill) or a [`with_timeout`](crate::with_timeout)
//!   interrupts them, or reading its output fails), they kill the child (SIGKILL) and reap it
//!   before they unwind or return: when `with_timeout` returns `Err`, the process is gone.
//! - [`Child::wait`] and its siblings do not kill the child when they are interrupted: the caller
//!   holds the [`Child`] and decides.
//! - Dropping a [`Child`] that has not been waited for kills it if it was spawned with
//!   [`Command::kill_on_drop`]`(true)`, and in every case leaves it to a reaper greenlet that waits
//!   (cooperatively, on the pidfd) until it exits and collects its status. A child dropped without
//!   `kill_on_drop` runs on to its natural end, as in std; unlike std, it does not then stay a
//!   zombie until the parent exits (tokio reaps such orphans too).
//!
//! ```
//! use greenlet::process::Command;
//!
//! let out = Command::new("echo").arg("hello from a child").output()?;
//! assert!(out.status.success());
//! assert_eq!(out.stdout, b"hello from a child\n");
//! # Ok::<(), std::io::Error>(())
//! ```

mod pipe;

use std::ffi::OsStr;
use std::fmt;
use std::io::{self, Read};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::time::{Duration, Instant};

pub use pipe::{ChildStderr, ChildStdin, ChildStdout};
pub use std::process::{ExitStatus, Output, Stdio};

use crate::io::{Direction, Source};
use crate::{Greenlet, JoinError};

/// A process builder, like [`std::process::Command`]; the process it starts is a [`Child`]
/// whose waits and pipes are cooperative.
///
/// ```
/// use std::io::{Read, Write};
/// use greenlet::process::{Command, Stdio};
///
/// // communicate(): feed the child's stdin, read its stdout
/// let mut child = Command::new("tr")
///     .arg("a-z")
///     .arg("A-Z")
///     .stdin(Stdio::piped())
///     .stdout(Stdio::piped())
///     .spawn()?;
/// child.stdin.take().unwrap().write_all(b"shout\n")?; // dropped: the child sees EOF
/// let mut out = String::new();
/// child.stdout.take().unwrap().read_to_string(&mut out)?;
/// assert_eq!(out, "SHOUT\n");
/// assert!(child.wait()?.success());
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Command {
    inner: std::process::Command,
    /// Which streams the caller configured: `output` pipes the others, for that call only.
    set: [bool; 3],
    kill_on_drop: bool,
}

impl Command {
    /// A command running `program`, with std's defaults (inherited environment, directory and
    /// standard streams).
    ///
    /// ```
    /// let status = greenlet::process::Command::new("true").status()?;
    /// assert!(status.success());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command {
            inner: std::process::Command::new(program),
            set: [false; 3],
            kill_on_drop: false,
        }
    }

    /// Adds an argument.
    ///
    /// ```
    /// let out = greenlet::process::Command::new("echo").arg("hello").output()?;
    /// assert_eq!(out.stdout, b"hello\n");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.inner.arg(arg);
        self
    }

    /// Adds arguments.
    ///
    /// ```
    /// let out = greenlet::process::Command::new("printf").args(["%s-%s", "a", "b"]).output()?;
    /// assert_eq!(out.stdout, b"a-b");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.inner.args(args);
        self
    }

    /// Sets an environment variable for the child.
    ///
    /// ```
    /// let out = greenlet::process::Command::new("sh")
    ///     .args(["-c", "echo $GREETING"])
    ///     .env("GREETING", "hi")
    ///     .output()?;
    /// assert_eq!(out.stdout, b"hi\n");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn env(&mut self, key: impl AsRef<OsStr>, val: impl AsRef<OsStr>) -> &mut Command {
        self.inner.env(key, val);
        self
    }

    /// Sets several environment variables for the child.
    ///
    /// ```
    /// let out = greenlet::process::Command::new("sh")
    ///     .args(["-c", "echo $A$B"])
    ///     .envs([("A", "1"), ("B", "2")])
    ///     .output()?;
    /// assert_eq!(out.stdout, b"12\n");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.inner.envs(vars);
        self
    }

    /// Removes an environment variable for the child.
    ///
    /// ```
    /// let out = greenlet::process::Command::new("sh")
    ///     .args(["-c", "echo ${HOME:-unset}"])
    ///     .env_remove("HOME")
    ///     .output()?;
    /// assert_eq!(out.stdout, b"unset\n");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.inner.env_remove(key);
        self
    }

    /// Starts the child with an empty environment (plus what `env` adds).
    ///
    /// ```
    /// let out = greenlet::process::Command::new("/bin/sh")
    ///     .args(["-c", "echo ${HOME:-unset}"])
    ///     .env("GREETING", "kept")
    ///     .env_clear()
    ///     .output()?;
    /// assert_eq!(out.stdout, b"unset\n"); // neither the parent's HOME nor GREETING
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn env_clear(&mut self) -> &mut Command {
        self.inner.env_clear();
        self
    }

    /// Sets the child's working directory.
    ///
    /// ```
    /// let out = greenlet::process::Command::new("pwd").current_dir("/").output()?;
    /// assert_eq!(out.stdout, b"/\n");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.inner.current_dir(dir);
        self
    }

    /// Configures the child's standard input.
    ///
    /// ```
    /// use std::io::Write;
    /// use greenlet::process::{Command, Stdio};
    /// let mut child = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
    /// child.stdin.take().unwrap().write_all(b"fed in")?; // dropped: closed
    /// assert_eq!(child.wait_with_output()?.stdout, b"fed in");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.inner.stdin(cfg);
        self.set[0] = true;
        self
    }

    /// Configures the child's standard output.
    ///
    /// ```
    /// use std::io::Read;
    /// use greenlet::process::{Command, Stdio};
    /// let mut child = Command::new("echo").arg("out").stdout(Stdio::piped()).spawn()?;
    /// let mut text = String::new();
    /// child.stdout.take().unwrap().read_to_string(&mut text)?; // parks, not blocks
    /// child.wait()?;
    /// assert_eq!(text, "out\n");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.inner.stdout(cfg);
        self.set[1] = true;
        self
    }

    /// Configures the child's standard error.
    ///
    /// ```
    /// use greenlet::process::{Command, Stdio};
    /// let out = Command::new("sh").args(["-c", "echo oops >&2"]).stderr(Stdio::piped()).output()?;
    /// assert_eq!(out.stderr, b"oops\n");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.inner.stderr(cfg);
        self.set[2] = true;
        self
    }

    /// Starts the child.
    ///
    /// ```
    /// let mut child = greenlet::process::Command::new("sleep").arg("0.01").spawn()?;
    /// assert!(child.wait()?.success());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spawn(&mut self) -> io::Result<Child> {
        let mut child = Child::from(self.inner.spawn()?);
        child.kill_on_drop = self.kill_on_drop;
        Ok(child)
    }

    /// Whether dropping the [`Child`]s this command spawns kills them (SIGKILL) if they are
    /// still running; off by default, as in std (tokio's name). Either way a dropped child is
    /// reaped once it exits, without blocking a worker (see the [module docs](self)).
    ///
    /// ```
    /// use greenlet::process::Command;
    /// let child = Command::new("sleep").arg("60").kill_on_drop(true).spawn()?;
    /// let pid = child.id() as i32;
    /// drop(child); // killed now, reaped in the background
    /// # for _ in 0..10_000 {
    /// #     // SAFETY: signal 0 only checks that the process exists.
    /// #     if unsafe { libc::kill(pid, 0) } != 0 { break }
    /// #     greenlet::sleep(std::time::Duration::from_millis(1));
    /// # }
    /// # assert_ne!(unsafe { libc::kill(pid, 0) }, 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn kill_on_drop(&mut self, kill: bool) -> &mut Command {
        self.kill_on_drop = kill;
        self
    }

    /// Runs the child to its end and collects its output. Standard output and error are
    /// captured and standard input is empty, unless configured otherwise.
    ///
    /// The call owns the child: if it is interrupted (a kill, a `with_timeout`) or fails before
    /// the child's end, it kills the child and reaps it before it unwinds or returns.
    ///
    /// ```
    /// let out = greenlet::process::Command::new("ls").arg("/").output()?;
    /// assert!(out.status.success());
    /// assert!(!out.stdout.is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[track_caller]
    pub fn output(&mut self) -> io::Result<Output> {
        // Capture what the caller did not configure, for this call only.
        let capture: [fn() -> Stdio; 3] = [Stdio::null, Stdio::piped, Stdio::piped];
        for (i, set) in STREAM_SETTERS.iter().enumerate() {
            if !self.set[i] {
                set(&mut self.inner, capture[i]());
            }
        }
        let child = self.inner.spawn();
        // Back to the defaults for later `spawn` and `status` calls.
        for (i, set) in STREAM_SETTERS.iter().enumerate() {
            if !self.set[i] {
                set(&mut self.inner, Stdio::inherit());
            }
        }
        Owned(&mut Child::from(child?)).0.collect_output()
    }

    /// Runs the child to its end and returns its exit status.
    ///
    /// The call owns the child: if it is interrupted (a kill, a `with_timeout`), it kills the
    /// child and reaps it before it unwinds.
    ///
    /// ```
    /// use std::time::Duration;
    /// use greenlet::process::Command;
    /// let status = Command::new("sh").args(["-c", "exit 3"]).status()?;
    /// assert_eq!(status.code(), Some(3));
    /// // Interrupted: the child is killed and reaped before with_timeout returns.
    /// let late = greenlet::with_timeout(Duration::from_millis(10), || {
    ///     Command::new("sleep").arg("60").status()
    /// });
    /// assert!(late.is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[track_caller]
    pub fn status(&mut self) -> io::Result<ExitStatus> {
        Owned(&mut self.spawn()?).0.wait()
    }
}

/// std's setters of the child's stdin, stdout and stderr, in the order of `Command::set`.
const STREAM_SETTERS: [fn(&mut std::process::Command, Stdio) -> &mut std::process::Command; 3] = [
    std::process::Command::stdin::<Stdio>,
    std::process::Command::stdout::<Stdio>,
    std::process::Command::stderr::<Stdio>,
];

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

/// A running (or finished) child process, like [`std::process::Child`].
///
/// Waiting parks the greenlet; killing the waiting greenlet does not kill the child. Dropping a
/// `Child` does not wait for it; it kills it only if it was spawned with
/// [`Command::kill_on_drop`], and a reaper greenlet collects its status once it exits, so that
/// it does not stay a zombie (see the [module docs](self)).
///
/// ```
/// use std::time::Instant;
/// use greenlet::process::Command;
/// // Ten children waited for by ten greenlets at once: about 0.1 s, not 1 s.
/// let start = Instant::now();
/// let waits: Vec<_> = (0..10)
///     .map(|_| greenlet::spawn(|| Command::new("sleep").arg("0.1").spawn()?.wait()))
///     .collect();
/// for w in greenlet::joinall(waits) {
///     assert!(w.unwrap()?.success());
/// }
/// assert!(start.elapsed().as_secs_f64() < 5.0);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Child {
    /// The child's stdin, if it was piped.
    pub stdin: Option<ChildStdin>,
    /// The child's stdout, if it was piped.
    pub stdout: Option<ChildStdout>,
    /// The child's stderr, if it was piped.
    pub stderr: Option<ChildStderr>,
    inner: std::process::Child,
    /// Readable once the child exits; `None` where pidfds are not available.
    pidfd: Option<Source<OwnedFd>>,
    /// Kill the child when this handle is dropped before the child was reaped.
    kill_on_drop: bool,
}

impl From<std::process::Child> for Child {
    /// Takes over a child started by std (its pipes become cooperative).
    fn from(mut inner: std::process::Child) -> Child {
        let pidfd = match pidfd_open(inner.id()) {
            Ok(fd) => Some(Source::new(fd)),
            Err(e) => {
                log::debug!("greenlet: no pidfd ({e}); waits for children poll");
                None
            }
        };
        Child {
            stdin: inner.stdin.take().map(ChildStdin::new),
            stdout: inner.stdout.take().map(ChildStdout::new),
            stderr: inner.stderr.take().map(ChildStderr::new),
            inner,
            pidfd,
            kill_on_drop: false,
        }
    }
}

/// A pidfd for `pid`: a descriptor that becomes readable when the process exits.
fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open(2) takes two integers and passes no memory; it returns a new
    // descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just opened this descriptor for us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

impl Child {
    /// The child's process id.
    ///
    /// ```
    /// let mut child = greenlet::process::Command::new("true").spawn()?;
    /// assert!(child.id() > 0);
    /// child.wait()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn id(&self) -> u32 {
        self.inner.id()
    }

    /// Sends SIGKILL to the child (an error if it was already reaped, as in std).
    ///
    /// ```
    /// let mut child = greenlet::process::Command::new("sleep").arg("60").spawn()?;
    /// child.kill()?;
    /// assert!(!child.wait()?.success());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn kill(&mut self) -> io::Result<()> {
        self.inner.kill()
    }

    /// The exit status if the child has exited, without waiting.
    ///
    /// ```
    /// let mut child = greenlet::process::Command::new("sleep").arg("60").spawn()?;
    /// assert!(child.try_wait()?.is_none()); // still running
    /// child.kill()?;
    /// child.wait()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.inner.try_wait()
    }

    /// Waits for the child to exit. Closes the child's stdin first (as std does), so a child
    /// reading it to its end can finish.
    ///
    /// ```
    /// let mut child = greenlet::process::Command::new("sh").args(["-c", "exit 7"]).spawn()?;
    /// assert_eq!(child.wait()?.code(), Some(7)); // parks this greenlet only
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[track_caller]
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        Ok(self
            .wait_for(None)?
            .expect("a wait without timeout ends with a status"))
    }

    /// Waits at most `timeout`; `Ok(None)` if the child is still running then.
    ///
    /// ```
    /// use std::time::Duration;
    /// use greenlet::process::Command;
    ///
    /// let mut child = Command::new("sleep").arg("10").spawn()?;
    /// assert!(child.wait_timeout(Duration::from_millis(20))?.is_none());
    /// child.kill()?;
    /// assert!(child.wait_timeout(Duration::from_secs(10))?.is_some());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[track_caller]
    pub fn wait_timeout(&mut self, timeout: Duration) -> io::Result<Option<ExitStatus>> {
        drop(self.stdin.take());
        self.wait_for(Some(timeout))
    }

    #[track_caller]
    fn wait_for(&mut self, timeout: Option<Duration>) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.inner.try_wait()? {
            return Ok(Some(status));
        }
        let inner = &mut self.inner;
        let Some(pidfd) = &self.pidfd else {
            return poll_wait(inner, timeout);
        };
        let exited = pidfd.do_io(
            Direction::Read,
            timeout,
            |_| match inner.try_wait()? {
                Some(status) => Ok(status),
                None => Err(io::ErrorKind::WouldBlock.into()),
            },
            |_| false,
        );
        match exited {
            Ok(status) => Ok(Some(status)),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Waits for the child to exit and collects what it writes to its piped stdout and stderr
    /// (both read at once, so neither pipe can fill up and stall the child).
    ///
    /// ```
    /// use greenlet::process::{Command, Stdio};
    /// let child = Command::new("echo").arg("captured").stdout(Stdio::piped()).spawn()?;
    /// let out = child.wait_with_output()?;
    /// assert_eq!(out.stdout, b"captured\n");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[track_caller]
    pub fn wait_with_output(mut self) -> io::Result<Output> {
        self.collect_output()
    }

    #[track_caller]
    fn collect_output(&mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        let stderr = self.stderr.take().map(|mut e| {
            KillOnDrop(Some(crate::spawn(move || {
                let mut v = Vec::new();
                e.read_to_end(&mut v).map(|_| v)
            })))
        });
        let mut stdout = Vec::new();
        if let Some(mut o) = self.stdout.take() {
            o.read_to_end(&mut stdout)?;
        }
        let stderr = match stderr {
            Some(mut reader) => match reader.0.take().expect("joined once").join() {
                Ok(r) => r?,
                Err(JoinError::Panicked(p)) => std::panic::resume_unwind(p.into_inner()),
                Err(JoinError::Killed) => {
                    return Err(io::Error::other("the stderr reader was killed"))
                }
            },
            None => Vec::new(),
        };
        let status = self.wait()?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }
}

/// How long an owning call waits, blocking its thread, for a child it killed to be reaped
/// (SIGKILL cannot be caught: the child is gone within microseconds unless the kernel holds it
/// in an uninterruptible sleep). Past this, the reaper greenlet of [`Child`]'s drop takes over.
const REAP_WAIT: Duration = Duration::from_secs(1);

/// A child owned by `Command::output`/`status`. Dropped with the child not yet reaped (an unwind
/// out of an interrupted wait, or an error return), it kills and reaps the child; after a
/// successful wait the child is reaped already and the drop does nothing.
struct Owned<'a>(&'a mut Child);

impl Drop for Owned<'_> {
    fn drop(&mut self) {
        let child = &mut *self.0;
        if matches!(child.inner.try_wait(), Ok(None)) {
            let _ = child.inner.kill();
            child.reap_blocking(REAP_WAIT);
        }
    }
}

impl Child {
    /// Reaps an exiting child, blocking the thread (not parking: this runs during unwinds, when
    /// an interrupted park would unwind again) for up to `limit`.
    fn reap_blocking(&mut self, limit: Duration) {
        let start = Instant::now();
        let mut pause = Duration::from_micros(20);
        while let Ok(None) = self.inner.try_wait() {
            if start.elapsed() >= limit {
                log::warn!(
                    "greenlet: child {} did not exit within {limit:?} of SIGKILL; a reaper \
                     greenlet will collect it",
                    self.id()
                );
                return;
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(5));
        }
    }
}

impl Drop for Child {
    /// Kills the child if `kill_on_drop` asked for it, and hands a child not yet reaped to a
    /// reaper greenlet, which waits for its exit cooperatively and reaps it.
    fn drop(&mut self) {
        if !matches!(self.inner.try_wait(), Ok(None)) {
            return; // reaped (or no longer ours to reap)
        }
        if self.kill_on_drop {
            let _ = self.inner.kill();
        }
        let orphan = Orphan {
            pid: self.id() as libc::pid_t,
            pidfd: self.pidfd.take(),
        };
        if let Err(e) = crate::Builder::new()
            .name("child reaper")
            .spawn(move || orphan.reap())
        {
            log::error!("greenlet: could not start a reaper for a dropped child: {e}");
        }
    }
}

/// A dropped child not yet reaped. Its pid cannot be reused before it is reaped, and nobody else
/// reaps it (its `std::process::Child` is gone), so waiting on the pid is safe.
struct Orphan {
    pid: libc::pid_t,
    pidfd: Option<Source<OwnedFd>>,
}

impl Orphan {
    /// Waits until the child exits (parking on its pidfd, or polling) and reaps it.
    #[track_caller]
    fn reap(self) {
        let reaped = || -> io::Result<bool> {
            let mut status = 0;
            // SAFETY: waitpid writes only to `status`, a local; WNOHANG never blocks.
            match unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) } {
                0 => Ok(false),
                -1 => match io::Error::last_os_error() {
                    e if e.kind() == io::ErrorKind::Interrupted => Ok(false),
                    e => Err(e), // ECHILD: reaped by someone else; nothing left to do
                },
                _ => Ok(true),
            }
        };
        let result = match &self.pidfd {
            Some(pidfd) => pidfd.do_io(
                Direction::Read,
                None,
                |_| match reaped()? {
                    true => Ok(()),
                    false => Err(io::ErrorKind::WouldBlock.into()),
                },
                |_| false,
            ),
            None => {
                let mut pause = Duration::from_millis(1);
                loop {
                    match reaped() {
                        Ok(false) => {}
                        done => break done.map(drop),
                    }
                    crate::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(100));
                }
            }
        };
        if let Err(e) = result {
            log::debug!("greenlet: reaping dropped child {}: {e}", self.pid);
        }
    }
}

/// Kills a helper greenlet if its owner unwinds before joining it.
struct KillOnDrop<T>(Option<Greenlet<T>>);

impl<T> Drop for KillOnDrop<T> {
    fn drop(&mut self) {
        if let Some(g) = &self.0 {
            g.kill();
        }
    }
}

/// Waits by polling, for kernels without pidfds.
#[track_caller]
fn poll_wait(
    child: &mut std::process::Child,
    timeout: Option<Duration>,
) -> io::Result<Option<ExitStatus>> {
    let deadline = timeout.and_then(crate::deadline::after);
    let mut pause = Duration::from_micros(500);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let mut nap = pause;
        if let Some(d) = deadline {
            let now = Instant::now();
            if now >= d {
                return Ok(None);
            }
            nap = nap.min(d - now);
        }
        crate::sleep(nap);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("id", &self.id())
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .finish()
    }
}
