//! [`Source`]: a non-blocking file descriptor whose operations park instead of blocking.

use std::io;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::readiness::{Direction, ScheduledIo};
use crate::park::lock;
use crate::runtime;

/// An IO object (in non-blocking mode) and its registration with the driver, made on first use.
pub(crate) struct Source<S: AsRawFd> {
    io: S,
    registration: OnceLock<(usize, Arc<ScheduledIo>)>,
    registering: Mutex<()>,
}

impl<S: AsRawFd> Source<S> {
    /// Wraps `io`, which the caller has put in non-blocking mode.
    pub(crate) fn new(io: S) -> Source<S> {
        Source {
            io,
            registration: OnceLock::new(),
            registering: Mutex::new(()),
        }
    }

    /// The wrapped object, for calls that never block.
    pub(crate) fn get_ref(&self) -> &S {
        &self.io
    }

    fn scheduled(&self) -> io::Result<&ScheduledIo> {
        if let Some((_, io)) = self.registration.get() {
            return Ok(io);
        }
        let _guard = lock(&self.registering);
        if self.registration.get().is_none() {
            let registered = runtime::get().io.register(self.io.as_raw_fd())?;
            let _ = self.registration.set(registered);
        }
        Ok(&self.registration.get().expect("registered above").1)
    }

    /// Registers the descriptor with the driver now rather than at the first wait, so that a
    /// failure (out of descriptors or memory) surfaces here.
    pub(crate) fn register(&self) -> io::Result<()> {
        self.scheduled().map(drop)
    }

    /// Runs the non-blocking `op` until it does not return `WouldBlock`, parking the caller
    /// until `dir` is ready in between. `timeout` bounds the whole call (then `TimedOut`).
    /// `drained(&result)` says a success emptied the kernel buffer (a short read or write), so
    /// that the next call parks without a futile syscall.
    #[track_caller]
    pub(crate) fn do_io<R>(
        &self,
        dir: Direction,
        timeout: Option<Duration>,
        mut op: impl FnMut(&S) -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> io::Result<R> {
        let sched = self.scheduled()?;
        // Fixed at the first wait; `Some(None)`: a timeout too long to have a deadline.
        let mut deadline: Option<Option<Instant>> = None;
        loop {
            let seen = sched.snapshot(dir);
            if seen.ready {
                match op(&self.io) {
                    Ok(r) => {
                        if drained(&r) {
                            sched.clear(dir, seen);
                        }
                        return Ok(r);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => sched.clear(dir, seen),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            }
            if let Some(t) = timeout {
                let at = *deadline.get_or_insert_with(|| crate::deadline::after(t));
                if !sched.wait(dir, at) {
                    return Err(timed_out(dir));
                }
            } else {
                sched.wait(dir, None);
            }
        }
    }
}

fn timed_out(dir: Direction) -> io::Error {
    let what = match dir {
        Direction::Read => "read timed out (set_read_timeout)",
        Direction::Write => "write timed out (set_write_timeout)",
    };
    io::Error::new(io::ErrorKind::TimedOut, what)
}

impl<S: AsRawFd> Drop for Source<S> {
    fn drop(&mut self) {
        if let Some((key, _)) = self.registration.get() {
            runtime::get().io.deregister(self.io.as_raw_fd(), *key);
        }
    }
}
