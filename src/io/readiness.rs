//! [`ScheduledIo`]: what the driver knows about one registered file descriptor, and who waits
//! on it.
//!
//! Registrations are edge-triggered, so readiness is cached here: the driver sets a direction's
//! bit when an event arrives, and an operation clears it only when the OS said `WouldBlock`. Each
//! event also bumps a tick, and a clear names the tick it saw before its syscall: a clear based on
//! a stale tick does nothing, so an event that lands between the syscall and the clear is never
//! lost (the scheme of tokio's `ScheduledIo`).

use std::sync::atomic::{AtomicUsize, Ordering::*};
use std::time::Instant;

use crate::park::WaitQueue;

/// Which half of a descriptor an operation uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

impl Direction {
    /// The bit an operation clears on `WouldBlock`.
    fn bit(self) -> usize {
        match self {
            Direction::Read => READABLE,
            Direction::Write => WRITABLE,
        }
    }

    /// The bits that let an operation try its syscall: ready, or closed for good.
    fn mask(self) -> usize {
        match self {
            Direction::Read => READABLE | READ_CLOSED,
            Direction::Write => WRITABLE | WRITE_CLOSED,
        }
    }
}

pub(crate) const READABLE: usize = 0b0001;
pub(crate) const WRITABLE: usize = 0b0010;
/// The peer closed its half (or the socket hung up): sticky, never cleared, since no further
/// edge will come and every later read returns at once (end of file or an error).
pub(crate) const READ_CLOSED: usize = 0b0100;
pub(crate) const WRITE_CLOSED: usize = 0b1000;
const READY_MASK: usize = READABLE | WRITABLE | READ_CLOSED | WRITE_CLOSED;
const TICK_SHIFT: u32 = 4;

/// A snapshot of one direction's readiness: whether it is ready, and at which tick.
#[derive(Clone, Copy)]
pub(crate) struct Snapshot {
    pub(crate) ready: bool,
    tick: usize,
}

/// The readiness and the waiters of one registration.
pub(crate) struct ScheduledIo {
    /// Bits 0-1: READABLE, WRITABLE. Bits 2..: the tick, bumped by every event.
    state: AtomicUsize,
    readers: WaitQueue,
    writers: WaitQueue,
    /// Tells a slab slot's successive owners apart (events for an old owner are dropped).
    pub(crate) generation: u32,
}

impl ScheduledIo {
    /// A registration that starts out ready both ways, so that the first operation tries its
    /// syscall before it ever waits.
    pub(crate) fn new(generation: u32) -> ScheduledIo {
        ScheduledIo {
            state: AtomicUsize::new(READABLE | WRITABLE),
            readers: WaitQueue::waiting_on(&"IO read"),
            writers: WaitQueue::waiting_on(&"IO write"),
            generation,
        }
    }

    pub(crate) fn snapshot(&self, dir: Direction) -> Snapshot {
        let s = self.state.load(Acquire);
        Snapshot {
            ready: s & dir.mask() != 0,
            tick: s >> TICK_SHIFT,
        }
    }

    /// Marks `dir` not ready, unless an event arrived since `seen` was taken.
    pub(crate) fn clear(&self, dir: Direction, seen: Snapshot) {
        let mut s = self.state.load(Acquire);
        while s >> TICK_SHIFT == seen.tick && s & dir.bit() != 0 {
            match self
                .state
                .compare_exchange_weak(s, s & !dir.bit(), AcqRel, Acquire)
            {
                Ok(_) => return,
                Err(actual) => s = actual,
            }
        }
    }

    /// Records an event (readiness bits) and wakes the waiters it concerns.
    pub(crate) fn set_ready(&self, bits: usize) {
        let bits = bits & READY_MASK;
        let _ = self.state.fetch_update(AcqRel, Acquire, |s| {
            let tick = (s >> TICK_SHIFT).wrapping_add(1);
            Some((tick << TICK_SHIFT) | (s & READY_MASK) | bits)
        });
        if bits & Direction::Read.mask() != 0 {
            self.readers.notify_all();
        }
        if bits & Direction::Write.mask() != 0 {
            self.writers.notify_all();
        }
    }

    /// Parks the caller until `dir` is ready or `deadline` passes (false: it passed first).
    #[track_caller]
    pub(crate) fn wait(&self, dir: Direction, deadline: Option<Instant>) -> bool {
        let queue = match dir {
            Direction::Read => &self.readers,
            Direction::Write => &self.writers,
        };
        queue.wait_until(deadline, || self.state.load(Acquire) & dir.mask() != 0)
    }
}
