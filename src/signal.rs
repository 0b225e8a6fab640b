//! Unix signals as values a greenlet waits for: [`Signals`].
//!
//! A signal handler may do almost nothing (only async-signal-safe calls), so the handler that
//! [`signal-hook`](https://docs.rs/signal-hook) installs records the signal in a per-signal slot
//! and writes a byte to a self-pipe (a Unix socket pair). The pipe's read end is registered with
//! the crate's IO driver like any socket: [`Signals::recv`] drains the pipe, collects the
//! recorded signals, and parks until the pipe is readable when there are none. A signal that
//! arrives before anyone waits is kept in its slot (and its byte in the pipe) until the next
//! `recv` or `try_recv`: it is never lost.
//!
//! This is the construction of `signal-hook-mio` (whose `Signals` is a mio event source over
//! the same `signal_hook::iterator::backend`), built on the backend directly because the
//! driver registers descriptors, and because waiting from `&self` in several greenlets needs
//! the pending set behind a lock.
//!
//! As with every self-pipe scheme, the same signal delivered several times before it is
//! collected is reported once. The process's reaction to a signal is replaced by the handler
//! from [`Signals::new`] on, for as long as the process lives (signal-hook does not restore the
//! default action when the `Signals` is dropped; the signal is then ignored).

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::Mutex;
use std::time::Duration;

use signal_hook::iterator::backend::SignalDelivery;
use signal_hook::iterator::exfiltrator::SignalOnly;

use crate::io::{Direction, Source};
use crate::park::lock;

/// A set of Unix signals to wait for: [`recv`](Signals::recv) parks the greenlet (on a plain
/// thread, blocks it) until one of them arrives, and returns its number.
///
/// Signals that can not be handled (`SIGKILL`, `SIGSTOP`) or must not be (`SIGSEGV`, `SIGILL`,
/// `SIGFPE`: see `signal_hook::consts::FORBIDDEN`), and numbers that name no signal, are an
/// `InvalidInput` error. `Signals` is `Send + Sync`: several greenlets may wait on one (each
/// signal goes to one of them), and `&Signals` is an iterator too.
///
/// ```
/// use greenlet::signal::Signals;
///
/// let signals = Signals::new([libc::SIGUSR1, libc::SIGUSR2])?;
/// // SAFETY: raise only sends a signal to this process.
/// unsafe { libc::raise(libc::SIGUSR2) }; // arrives before anyone waits: kept
/// assert_eq!(signals.recv(), libc::SIGUSR2);
/// assert_eq!(signals.try_recv(), None);
///
/// assert!(Signals::new([libc::SIGKILL]).is_err());
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// A graceful shutdown waits for `SIGTERM` or `SIGINT` in `main` while greenlets serve (see
/// `examples/graceful_shutdown.rs`):
///
/// ```no_run
/// use greenlet::signal::Signals;
/// let signals = Signals::new([libc::SIGTERM, libc::SIGINT])?;
/// // ... start the servers ...
/// let sig = signals.recv(); // main parks here; the workers keep serving
/// eprintln!("signal {sig}: shutting down");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Signals {
    source: Source<Pipe>,
}

/// The self-pipe's read end (its descriptor, for the driver) and what the handlers recorded.
struct Pipe {
    fd: RawFd,
    state: Mutex<State>,
}

struct State {
    delivery: SignalDelivery<UnixStream, SignalOnly>,
    /// Collected from the slots, not yet returned.
    queued: VecDeque<i32>,
}

impl AsRawFd for Pipe {
    fn as_raw_fd(&self) -> RawFd {
        self.fd
    }
}

impl Pipe {
    /// The next signal: one already collected, or else the ones recorded since the last look.
    fn take(&self) -> Option<i32> {
        let mut state = lock(&self.state);
        if state.queued.is_empty() {
            let pending: Vec<i32> = state.delivery.pending().collect();
            state.queued.extend(pending);
        }
        state.queued.pop_front()
    }
}

/// Checks that `sig` names a signal that may be handled (signal-hook panics otherwise).
fn check(sig: i32) -> io::Result<()> {
    if signal_hook::consts::FORBIDDEN.contains(&sig) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "signal {sig} cannot be waited for (SIGKILL and SIGSTOP cannot be caught; \
                 SIGSEGV, SIGILL and SIGFPE must not be)"
            ),
        ));
    }
    if sig < 1 || sig > libc::SIGRTMAX() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{sig} is not a signal number (1..={})", libc::SIGRTMAX()),
        ));
    }
    Ok(())
}

impl Signals {
    /// Starts catching `signals` (numbers such as `libc::SIGTERM`); from now on each of them is
    /// recorded for [`recv`](Signals::recv) instead of taking its default action.
    ///
    /// ```
    /// let signals = greenlet::signal::Signals::new([libc::SIGHUP])?;
    /// assert!(greenlet::signal::Signals::new([libc::SIGSTOP]).is_err());
    /// assert!(greenlet::signal::Signals::new([0]).is_err());
    /// # drop(signals);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new<I, S>(signals: I) -> io::Result<Signals>
    where
        I: IntoIterator<Item = S>,
        S: std::borrow::Borrow<i32>,
    {
        let signals: Vec<i32> = signals.into_iter().map(|s| *s.borrow()).collect();
        for &sig in &signals {
            check(sig)?;
        }
        let (read, write) = UnixStream::pair()?;
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        let fd = read.as_raw_fd();
        let delivery = SignalDelivery::with_pipe(read, write, SignalOnly, &signals)?;
        let source = Source::new(Pipe {
            fd,
            state: Mutex::new(State {
                delivery,
                queued: VecDeque::new(),
            }),
        });
        source.register()?;
        Ok(Signals { source })
    }

    /// Catches one more signal (the same rules as [`new`](Signals::new)).
    ///
    /// ```
    /// let signals = greenlet::signal::Signals::new([libc::SIGUSR1])?;
    /// signals.add_signal(libc::SIGWINCH)?;
    /// assert!(signals.add_signal(libc::SIGKILL).is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn add_signal(&self, sig: i32) -> io::Result<()> {
        check(sig)?;
        let handle = lock(&self.source.get_ref().state).delivery.handle();
        handle.add_signal(sig)
    }

    /// Waits until one of the signals arrives and returns its number. Honours
    /// [`Greenlet::kill`](crate::Greenlet::kill) and [`with_timeout`](crate::with_timeout).
    ///
    /// ```
    /// let signals = greenlet::signal::Signals::new([libc::SIGUSR1])?;
    /// let waiter = greenlet::spawn(move || signals.recv());
    /// greenlet::sleep(std::time::Duration::from_millis(10));
    /// // SAFETY: raise only sends a signal to this process.
    /// unsafe { libc::raise(libc::SIGUSR1) };
    /// assert_eq!(waiter.join().unwrap(), libc::SIGUSR1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[track_caller]
    pub fn recv(&self) -> i32 {
        self.wait(None)
            .expect("a wait without a timeout ends with a signal")
    }

    /// Like [`recv`](Signals::recv), giving up after `timeout` (`None` then). A duration too
    /// long to be a deadline waits forever.
    ///
    /// ```
    /// use std::time::Duration;
    /// let signals = greenlet::signal::Signals::new([libc::SIGUSR2])?;
    /// assert_eq!(signals.recv_timeout(Duration::from_millis(5)), None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[track_caller]
    pub fn recv_timeout(&self, timeout: Duration) -> Option<i32> {
        self.wait(Some(timeout))
    }

    #[track_caller]
    fn wait(&self, timeout: Option<Duration>) -> Option<i32> {
        let got = self.source.do_io(
            Direction::Read,
            timeout,
            |pipe| pipe.take().ok_or_else(|| io::ErrorKind::WouldBlock.into()),
            |_| false,
        );
        match got {
            Ok(sig) => Some(sig),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => None,
            // Registered in `new`, so the driver cannot fail here, and `take` only says
            // WouldBlock, which do_io waits out.
            Err(e) => unreachable!("waiting for a signal: {e}"),
        }
    }

    /// A signal that has arrived, if any, without waiting.
    ///
    /// ```
    /// let signals = greenlet::signal::Signals::new([libc::SIGUSR1])?;
    /// assert_eq!(signals.try_recv(), None);
    /// // SAFETY: raise only sends a signal to this process.
    /// unsafe { libc::raise(libc::SIGUSR1) };
    /// assert_eq!(signals.try_recv(), Some(libc::SIGUSR1));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_recv(&self) -> Option<i32> {
        self.source.get_ref().take()
    }
}

/// Each item waits for the next signal ([`Signals::recv`]); the iterator never ends.
///
/// ```
/// let signals = greenlet::signal::Signals::new([libc::SIGUSR1])?;
/// // SAFETY: raise only sends a signal to this process.
/// unsafe { libc::raise(libc::SIGUSR1) };
/// for sig in &signals {
///     assert_eq!(sig, libc::SIGUSR1);
///     break;
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
impl Iterator for &Signals {
    type Item = i32;
    #[track_caller]
    fn next(&mut self) -> Option<i32> {
        Some(self.recv())
    }
}

/// Each item waits for the next signal ([`Signals::recv`]); the iterator never ends.
///
/// ```
/// let mut signals = greenlet::signal::Signals::new([libc::SIGUSR2])?;
/// // SAFETY: raise only sends a signal to this process.
/// unsafe { libc::raise(libc::SIGUSR2) };
/// assert_eq!(signals.next(), Some(libc::SIGUSR2));
/// # Ok::<(), std::io::Error>(())
/// ```
impl Iterator for Signals {
    type Item = i32;
    #[track_caller]
    fn next(&mut self) -> Option<i32> {
        Some(self.recv())
    }
}

impl fmt::Debug for Signals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signals")
            .field("fd", &self.source.get_ref().fd)
            .finish()
    }
}
