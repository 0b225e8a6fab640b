//! The IO driver: one `mio::Poll` shared by all workers, polled by whichever worker is idle.
//!
//! * Registrations live in a slab; an event's token is the slot's key plus the registration's
//!   generation, so a late event for a closed socket never reaches the slot's next owner.
//! * At most one thread polls at a time (a `try_lock`): an idle worker blocks in `epoll_wait`
//!   with its next timer as timeout, a busy worker polls without blocking every few dozen ticks
//!   and whenever its own queue runs dry. The others never wait for the poller.
//! * A `mio::Waker` pulls the blocked poller out when new work or an earlier timer arrives.
//!
//! Why one shared poller rather than one per worker: a greenlet moves between workers, so a
//! per-worker poller either follows it (an `epoll_ctl` per migration) or wakes it from a worker
//! that is not running it, and an idle worker could not see the events queued on a busy
//! worker's poller. With one poller every idle worker can take every event, and an event batch
//! lands on one worker's queue where the others steal from it. The cost, a lock taken once per
//! poll, not per event, does not show in the `echo` benchmark.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering::*};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use slab::Slab;

use super::readiness::{ScheduledIo, READABLE, READ_CLOSED, WRITABLE, WRITE_CLOSED};
use crate::park::lock;

const WAKER: Token = Token(usize::MAX);
const EVENTS: usize = 1024;
const KEY_BITS: u32 = 32;

/// The process-wide driver (one per runtime).
pub(crate) struct Driver {
    poller: Mutex<Poller>,
    registry: Registry,
    waker: Waker,
    sources: Mutex<Slab<Arc<ScheduledIo>>>,
    /// How many registrations are live: a busy worker skips its poll when there are none.
    live: AtomicUsize,
    next_generation: AtomicU32,
    /// True while a thread blocks in the poller (a poll with a timeout other than zero).
    blocked: AtomicBool,
}

/// What only the polling thread touches.
struct Poller {
    poll: Poll,
    events: Events,
    ready: Vec<(Arc<ScheduledIo>, usize)>,
}

impl Driver {
    pub(crate) fn new() -> io::Result<Driver> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        Ok(Driver {
            poller: Mutex::new(Poller {
                poll,
                events: Events::with_capacity(EVENTS),
                ready: Vec::with_capacity(EVENTS),
            }),
            registry,
            waker,
            sources: Mutex::new(Slab::new()),
            live: AtomicUsize::new(0),
            next_generation: AtomicU32::new(0),
            blocked: AtomicBool::new(false),
        })
    }

    /// Registers `fd` for both directions, edge-triggered. Returns its slab key and state.
    pub(crate) fn register(&self, fd: RawFd) -> io::Result<(usize, Arc<ScheduledIo>)> {
        let generation = self.next_generation.fetch_add(1, Relaxed);
        let io = Arc::new(ScheduledIo::new(generation));
        let key = lock(&self.sources).insert(io.clone());
        if key >= 1 << KEY_BITS {
            lock(&self.sources).remove(key);
            return Err(io::Error::other("greenlet: too many registered sockets"));
        }
        let token = Token(((generation as usize) << KEY_BITS) | key);
        if let Err(e) = self.registry.register(
            &mut SourceFd(&fd),
            token,
            Interest::READABLE | Interest::WRITABLE,
        ) {
            lock(&self.sources).remove(key);
            return Err(e);
        }
        self.live.fetch_add(1, Relaxed);
        Ok((key, io))
    }

    /// Removes a registration made by [`register`](Driver::register); call before closing `fd`.
    pub(crate) fn deregister(&self, fd: RawFd, key: usize) {
        if let Err(e) = self.registry.deregister(&mut SourceFd(&fd)) {
            log::debug!("greenlet: deregistering fd {fd}: {e}");
        }
        lock(&self.sources).remove(key);
        self.live.fetch_sub(1, Relaxed);
    }

    /// Whether any descriptor is registered.
    pub(crate) fn has_sources(&self) -> bool {
        self.live.load(Relaxed) != 0
    }

    /// Polls for events, blocking up to `timeout` (`None`: until an event or a wake-up), and
    /// wakes their waiters. Returns `None` at once if another thread is polling, otherwise how
    /// many registrations became ready.
    pub(crate) fn poll(&self, timeout: Option<Duration>) -> Option<usize> {
        let mut guard = self.poller.try_lock().ok()?;
        let poller = &mut *guard;
        let blocking = timeout != Some(Duration::ZERO);
        if blocking {
            self.blocked.store(true, SeqCst);
        }
        let polled = poller.poll.poll(&mut poller.events, timeout);
        if blocking {
            self.blocked.store(false, SeqCst);
        }
        if let Err(e) = polled {
            if e.kind() != io::ErrorKind::Interrupted {
                log::error!("greenlet: polling for IO events failed: {e}");
            }
            return Some(0);
        }
        {
            let sources = lock(&self.sources);
            for event in poller.events.iter() {
                let token = event.token();
                if token == WAKER {
                    continue;
                }
                let key = token.0 & ((1 << KEY_BITS) - 1);
                let generation = (token.0 >> KEY_BITS) as u32;
                let Some(io) = sources.get(key) else { continue };
                if io.generation != generation {
                    continue;
                }
                let mut bits = 0;
                if event.is_readable() || event.is_error() {
                    bits |= READABLE;
                }
                if event.is_read_closed() {
                    bits |= READ_CLOSED;
                }
                if event.is_writable() || event.is_error() {
                    bits |= WRITABLE;
                }
                if event.is_write_closed() {
                    bits |= WRITE_CLOSED;
                }
                if bits != 0 {
                    poller.ready.push((io.clone(), bits));
                }
            }
        }
        let n = poller.ready.len();
        crate::runtime::count_io_wakeups(n);
        for (io, bits) in poller.ready.drain(..) {
            io.set_ready(bits);
        }
        Some(n)
    }

    /// Whether a thread is blocked in [`poll`](Driver::poll) now, watching every registration.
    pub(crate) fn poller_blocked(&self) -> bool {
        self.blocked.load(SeqCst)
    }

    /// Makes a blocked [`poll`](Driver::poll) return.
    pub(crate) fn wake(&self) {
        if let Err(e) = self.waker.wake() {
            log::error!("greenlet: waking the IO poller failed: {e}");
        }
    }
}
