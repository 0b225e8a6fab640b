//! One park, several registrations: the waiting half of `channel::Select`.
//!
//! A selector parks once (one generation of its [`ParkCell`](super::ParkCell) token) but
//! registers an unparker in the wait list of every channel it selects over. Each of those
//! unparkers carries the same [`Selection`] and its own operation index. Firing one first
//! passes the *gate*: a compare-and-swap of the selection from `OPEN` to its index. Only the
//! firer that passed the gate goes on to the token's compare-and-swap, so of all the
//! registrations at most one can end the park as `Unparked`, and when one does, the gate names
//! it. Every other firer fails at the gate, exactly as if it had met a waiter that left: a
//! locked channel takes its message back, a wait queue moves on to its next waiter.
//!
//! The token still has the last word: a timer or a kill ends the park without the gate, and a
//! firer that passed the gate may still lose the token's CAS to them. So the selector trusts
//! the gate only when its park returned `Unparked`.
//!
//! The selector may also close the gate itself ([`Selection::abort`]) when it finds, while
//! registering, that an operation is ready already: once closed, no registration can fire, and
//! the selector withdraws them all and tries again. If the gate was passed first, a firer is on
//! its way to the token and the selector must park to receive that wake-up (it comes at once).

use std::sync::atomic::{AtomicUsize, Ordering::*};
use std::sync::Arc;

use super::{Parker, Unparker};

/// Nobody passed the gate yet.
const OPEN: usize = usize::MAX;
/// The selector closed the gate itself.
const ABORTED: usize = usize::MAX - 1;

/// The gate shared by the registrations of one select.
pub(crate) struct Selection {
    chosen: AtomicUsize,
}

impl Selection {
    pub(crate) fn new() -> Arc<Selection> {
        Arc::new(Selection {
            chosen: AtomicUsize::new(OPEN),
        })
    }

    /// Passes the gate for operation `index`; false if another registration (or the selector)
    /// passed it first. Passing again as the same `index` succeeds: a channel that reserved a
    /// registration (passed its gate, entry kept in its list and skipped by everyone else, see
    /// `channel::locked`) fires it later.
    pub(crate) fn pass(&self, index: usize) -> bool {
        match self.chosen.compare_exchange(OPEN, index, AcqRel, Acquire) {
            Ok(_) => true,
            Err(chosen) => chosen == index,
        }
    }

    /// Closes the gate for every registration. `Err(index)`: registration `index` passed it
    /// first and is about to end (or has ended) the park.
    pub(crate) fn abort(&self) -> Result<(), usize> {
        match self.chosen.compare_exchange(OPEN, ABORTED, AcqRel, Acquire) {
            Ok(_) => Ok(()),
            Err(index) => Err(index),
        }
    }

    /// The registration that passed the gate, if one did.
    pub(crate) fn chosen(&self) -> Option<usize> {
        match self.chosen.load(Acquire) {
            OPEN | ABORTED => None,
            index => Some(index),
        }
    }
}

impl Parker {
    /// An unparker for this park that must pass `selection`'s gate as operation `index` before
    /// it may end the park. Holds a reference to the context, like [`Parker::unparker`].
    pub(crate) fn select_unparker(&self, selection: &Arc<Selection>, index: usize) -> Unparker {
        let mut unparker = self.unparker();
        unparker.gate = Some((selection.clone(), index));
        unparker
    }

    /// Whether `unparker` was made for this very park (a selector must not pair with itself).
    pub(crate) fn owns(&self, unparker: &Unparker) -> bool {
        unparker.gen == self.gen && std::ptr::eq(unparker.target.cell(), self.cell())
    }
}

impl Unparker {
    /// Whether this unparker belongs to a select's registration.
    pub(crate) fn is_select(&self) -> bool {
        self.gate.is_some()
    }

    /// Passes the gate, if this unparker has one; false if it is closed. (A channel passes it
    /// ahead of firing to reserve a select's registration.)
    pub(crate) fn pass_gate(&self) -> bool {
        match &self.gate {
            None => true,
            Some((selection, index)) => selection.pass(*index),
        }
    }
}
