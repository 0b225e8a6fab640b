//! The `with_timeout` frames of one context: the deadlines of the `with_timeout` calls it is
//! inside, innermost last.
//!
//! Every task carries a park cell, and most greenlets never call `with_timeout`: the frames live
//! in a box made on the first push, so a cell pays one word for them (a `Vec` and a frame
//! counter in line cost four). The box stays until the cell goes, so a greenlet that calls
//! `with_timeout` in a loop allocates once.
//!
//! Only the owning context touches its frames (see `ParkCell`'s `Sync` impl).

use std::mem;
use std::time::Instant;

/// One `with_timeout` call: its deadline, and an id that names it in the unwind payload.
#[derive(Clone, Copy)]
pub(super) struct Frame {
    pub(super) id: u64,
    pub(super) deadline: Instant,
}

/// The frame stack and the counter that hands out frame ids (never reused within a context,
/// also across a `HoldTimeouts`, so a payload names exactly one frame).
#[derive(Default)]
struct Stack {
    list: Vec<Frame>,
    next_id: u64,
}

/// A context's frames, out of line (see the module docs).
pub(super) struct Frames(Option<Box<Stack>>);

impl Frames {
    pub(super) const fn new() -> Frames {
        Frames(None)
    }

    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(|s| s.list.is_empty())
    }

    /// The frames, outermost first.
    pub(super) fn iter(&self) -> impl Iterator<Item = &Frame> {
        self.0.iter().flat_map(|s| s.list.iter())
    }

    /// Pushes a frame for a `with_timeout` that ends at `deadline`; returns its id.
    pub(super) fn push(&mut self, deadline: Instant) -> u64 {
        let stack = self.0.get_or_insert_with(Box::default);
        let id = stack.next_id;
        stack.next_id += 1;
        stack.list.push(Frame { id, deadline });
        id
    }

    /// Removes the frame `id`, if it is still there.
    pub(super) fn remove(&mut self, id: u64) {
        if let Some(stack) = &mut self.0 {
            if let Some(pos) = stack.list.iter().rposition(|f| f.id == id) {
                stack.list.remove(pos);
            }
        }
    }

    /// Takes every frame out (the id counter stays), for a `HoldTimeouts`.
    pub(super) fn take(&mut self) -> Vec<Frame> {
        self.0
            .as_mut()
            .map(|s| mem::take(&mut s.list))
            .unwrap_or_default()
    }

    /// Puts back frames taken by [`take`](Frames::take), outside those pushed since.
    pub(super) fn restore(&mut self, outer: Vec<Frame>) {
        if outer.is_empty() {
            return;
        }
        let stack = self.0.get_or_insert_with(Box::default);
        let inner = mem::replace(&mut stack.list, outer);
        stack.list.extend(inner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_cell_without_frames_is_one_word() {
        assert_eq!(mem::size_of::<Frames>(), mem::size_of::<usize>());
    }

    #[test]
    fn ids_stay_unique_across_a_take_and_restore() {
        let now = Instant::now();
        let mut frames = Frames::new();
        assert!(frames.is_empty());
        let outer = frames.push(now + Duration::from_secs(1));
        let held = frames.take();
        assert!(frames.is_empty());
        let inner = frames.push(now);
        assert_ne!(inner, outer);
        frames.restore(held);
        let order: Vec<u64> = frames.iter().map(|f| f.id).collect();
        assert_eq!(order, [outer, inner]);
        frames.remove(inner);
        frames.remove(outer);
        assert!(frames.is_empty());
    }
}
