//! The receive-only timer channels: [`after`](super::after)/[`at`](super::at) deliver one
//! `Instant` at a deadline, [`tick`](super::tick) one every period, [`never`](super::never)
//! nothing, ever (crossbeam-channel's `at`, `tick` and `never` flavours).
//!
//! Nothing is queued and nobody is woken: a message "arrives" when the clock passes its
//! delivery time. A receive that must wait parks with that time as its deadline, and a select
//! over a timer channel parks with the earliest delivery time among its operations as one of its
//! deadlines (see `channel::select`), then tries again. So these channels need no wait list.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::{Duration, Instant};

use super::locked::{Fail, Wait};
use crate::park::{self, SpinLock};

/// Parks the caller until `deadline` (for ever if `None`): nothing but the clock can end a
/// timer channel's wait.
#[track_caller]
fn sleep_until(deadline: Option<Instant>) {
    park::sleep_until(&"channel recv", deadline);
}

/// One message, at `when`.
pub(crate) struct At {
    when: Instant,
    received: AtomicBool,
}

impl At {
    pub(crate) fn new(when: Instant) -> At {
        At {
            when,
            received: AtomicBool::new(false),
        }
    }

    pub(crate) fn try_recv(&self) -> Result<Instant, Fail> {
        if self.received.load(SeqCst) || Instant::now() < self.when {
            return Err(Fail::WouldBlock);
        }
        if self.received.swap(true, SeqCst) {
            Err(Fail::WouldBlock)
        } else {
            Ok(self.when)
        }
    }

    #[track_caller]
    pub(crate) fn recv(&self, wait: Wait) -> Result<Instant, Fail> {
        let deadline = match wait {
            Wait::Never => return self.try_recv(),
            Wait::Until(d) => d,
        };
        if !self.received.load(SeqCst) {
            if deadline.is_some_and(|d| d < self.when) {
                sleep_until(deadline);
                return Err(Fail::Timeout);
            }
            sleep_until(Some(self.when));
            if let Ok(when) = self.try_recv() {
                return Ok(when);
            }
        }
        // Taken by another receiver: nothing more ever comes.
        sleep_until(deadline);
        Err(Fail::Timeout)
    }

    pub(crate) fn len(&self) -> usize {
        usize::from(!self.received.load(SeqCst) && Instant::now() >= self.when)
    }

    /// When a receive may next succeed.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        (!self.received.load(SeqCst)).then_some(self.when)
    }
}

/// A message every `period`; ticks nobody received are dropped (at most one waits).
pub(crate) struct Tick {
    /// When the next tick is due; `None` once that is past what `Instant` can represent.
    next: SpinLock<Option<Instant>>,
    period: Duration,
}

impl Tick {
    pub(crate) fn new(first: Instant, period: Duration) -> Tick {
        Tick {
            next: SpinLock::new(Some(first)),
            period,
        }
    }

    pub(crate) fn try_recv(&self) -> Result<Instant, Fail> {
        let mut next = self.next.lock();
        match *next {
            Some(due) if due <= Instant::now() => {
                *next = Instant::now().checked_add(self.period);
                Ok(due)
            }
            _ => Err(Fail::WouldBlock),
        }
    }

    #[track_caller]
    pub(crate) fn recv(&self, wait: Wait) -> Result<Instant, Fail> {
        let deadline = match wait {
            Wait::Never => return self.try_recv(),
            Wait::Until(d) => d,
        };
        let due = {
            let mut next = self.next.lock();
            match *next {
                Some(due) if deadline.is_none_or(|d| due <= d) => {
                    *next = due.max(Instant::now()).checked_add(self.period);
                    Some(due)
                }
                _ => None,
            }
        };
        match due {
            Some(due) => {
                sleep_until(Some(due));
                Ok(due)
            }
            None => {
                sleep_until(deadline);
                Err(Fail::Timeout)
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        usize::from(self.next.lock().is_some_and(|due| due <= Instant::now()))
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        *self.next.lock()
    }
}

/// Never a message: a receive waits until its deadline.
#[track_caller]
pub(crate) fn never_recv(wait: Wait) -> Fail {
    if let Wait::Until(deadline) = wait {
        sleep_until(deadline);
        Fail::Timeout
    } else {
        Fail::WouldBlock
    }
}
