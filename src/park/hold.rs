//! Holding `with_timeout` deadlines back while a context waits for a cleanup that must finish.
//!
//! Some waits must not be cut short. [`crate::scope`] may not return before every greenlet it
//! spawned has ended (they borrow from its caller's stack), also when its caller's
//! `with_timeout` has expired, which is what started the cleanup. But an expired frame stays on
//! the context until its `with_timeout` returns, so every park inside the cleanup would unwind
//! again at once. A [`HoldTimeouts`] guard takes the context's frames aside while it lives, so
//! parks inside it wait for their own condition only; it puts them back when dropped, and an
//! expired one then fires at the next park.
//!
//! Kills need no holding: a kill is delivered once per greenlet (`KILL_DELIVERED` is final), so
//! a cleanup loop that catches it waits undisturbed from then on.

use std::mem;

use super::{Context, Frame};

/// While alive, the calling context's `with_timeout` deadlines do not interrupt its parks.
/// Must be dropped by the context that made it (it is neither `Send` nor `Sync`).
pub(crate) struct HoldTimeouts {
    context: Context,
    held: Vec<Frame>,
}

impl HoldTimeouts {
    pub(crate) fn new() -> HoldTimeouts {
        let context = Context::current();
        let held = context.cell().frames().take();
        HoldTimeouts { context, held }
    }
}

impl Drop for HoldTimeouts {
    fn drop(&mut self) {
        // Frames pushed while held nest inside this guard, so they are gone again by now; the
        // outer ones go first anyway.
        let held = mem::take(&mut self.held);
        self.context.cell().frames().restore(held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::time::Duration;

    fn held_sleep_then_yield() -> (Result<(), crate::Timeout>, bool) {
        let slept = Cell::new(false);
        let r = crate::with_timeout(Duration::from_millis(5), || {
            let hold = HoldTimeouts::new();
            // Past the deadline, but held: this sleep runs to its end.
            crate::sleep(Duration::from_millis(20));
            slept.set(true);
            drop(hold);
            // Given back: the expired frame fires at the next park.
            crate::yield_now();
        });
        (r, slept.get())
    }

    #[test]
    fn held_timeouts_fire_at_the_first_park_after_the_hold() {
        assert_eq!(held_sleep_then_yield(), (Err(crate::Timeout), true));
        let in_greenlet = crate::spawn(held_sleep_then_yield).join().unwrap();
        assert_eq!(in_greenlet, (Err(crate::Timeout), true));
    }
}
