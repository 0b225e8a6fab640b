//! A one-item slot that any thread may fill and one owner empties: the front of a worker's
//! inbox (see `Inbox` in the runtime), so that the common cross-worker wake-up (one greenlet at
//! a time, as between a parent and its child on two workers) moves one cache line from the
//! waker to the worker, where a queue's push and steal move three or four.
//!
//! The protocol: a pusher moves `state` from EMPTY to WRITING (only one can), writes the item,
//! and stores FULL (Release); a pusher that finds the slot taken gets its item back and uses the
//! queue. Either way it then sets `pending`, the owner's one-load "news?" flag. The owner clears
//! `pending` (Acquire), and if it sees FULL (Acquire) takes the item and stores EMPTY (Release),
//! which the next pusher's Acquire pairs with. A slot seen WRITING is left alone: its pusher
//! sets `pending` again when done. The loom model below checks that every item pushed comes
//! out exactly once.

use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{AtomicBool, AtomicU8, Ordering::*};

const EMPTY: u8 = 0;
const WRITING: u8 = 1;
const FULL: u8 = 2;

/// The slot and the owner's news flag, on one cache line.
#[repr(align(64))]
pub(crate) struct Mailbox<T> {
    /// Set after every push (to the slot or the queue beside it), cleared by the owner before
    /// it looks.
    pending: AtomicBool,
    /// [`EMPTY`], [`WRITING`] (a pusher owns `item`) or [`FULL`].
    state: AtomicU8,
    item: UnsafeCell<Option<T>>,
}

// SAFETY: `item` is written only by the one pusher that moved `state` from EMPTY to WRITING, and
// read only by the owner after it saw FULL (Release/Acquire on `state`), which moves it back to
// EMPTY (Release) before the next pusher's Acquire. One thread at a time touches it; the item
// moves between threads, hence `T: Send`.
unsafe impl<T: Send> Sync for Mailbox<T> {}

impl<T> Mailbox<T> {
    pub(crate) fn new() -> Mailbox<T> {
        Mailbox {
            pending: AtomicBool::new(false),
            state: AtomicU8::new(EMPTY),
            item: UnsafeCell::new(None),
        }
    }

    /// Puts `item` in the slot if it is empty; hands it back otherwise (the caller queues it and
    /// then calls [`notify`](Self::notify) all the same).
    pub(crate) fn put(&self, item: T) -> Result<(), T> {
        if self
            .state
            .compare_exchange(EMPTY, WRITING, Acquire, Relaxed)
            .is_err()
        {
            return Err(item);
        }
        // SAFETY: moving the state out of EMPTY made this thread the slot's only user until it
        // stores FULL (see the module docs).
        self.item.with_mut(|p| unsafe { *p = Some(item) });
        self.state.store(FULL, Release);
        Ok(())
    }

    /// Tells the owner there is news (after every push, to the slot or the queue).
    ///
    /// A read-modify-write, not a store: the owner's Acquire swap reads the last of several
    /// pushers' flags, and only an RMW keeps the earlier pushers in that release sequence. With
    /// a plain store, the owner could clear the flag synchronised with one pusher only, miss
    /// another's queued item, and never look again (the loom model below finds it).
    pub(crate) fn notify(&self) {
        self.pending.swap(true, Release);
    }

    /// Whether there is news since the owner last cleared the flag (one plain load).
    pub(crate) fn pending(&self) -> bool {
        self.pending.load(Relaxed)
    }

    /// Clears the news flag before the owner looks (Acquire: every push whose flag this clears
    /// is visible to the look; later pushes set it again).
    pub(crate) fn clear_pending(&self) {
        self.pending.swap(false, Acquire);
    }

    /// Takes the item (owner only); `None` if the slot is empty or being written.
    pub(crate) fn take(&self) -> Option<T> {
        if self.state.load(Acquire) != FULL {
            return None;
        }
        // SAFETY: FULL, seen with Acquire, hands the slot to the owner (the only caller of
        // `take`) until it stores EMPTY below (see the module docs).
        let item = self.item.with_mut(|p| unsafe { (*p).take() });
        self.state.store(EMPTY, Release);
        item
    }

    /// Whether the slot is empty, not even being written (SeqCst: a sleeping owner's last look
    /// pairs with the waker's fence, see `Runtime::send_home`).
    pub(crate) fn is_empty(&self) -> bool {
        self.state.load(SeqCst) == EMPTY
    }
}

/// loom model: two pushers and the owner. Every item comes out exactly once, from the slot or
/// from the "queue" a pusher falls back to (an atomic bit per item here).
#[cfg(all(test, loom))]
mod loom_tests {
    use std::sync::Arc;

    use loom::sync::atomic::{AtomicUsize, Ordering::*};
    use loom::thread;

    use super::Mailbox;

    #[test]
    fn loom_mailbox_hands_every_item_over_once() {
        loom::model(|| {
            let mail = Arc::new(Mailbox::<usize>::new());
            let queued = Arc::new(AtomicUsize::new(0));
            let pushers: Vec<_> = [1usize, 2]
                .into_iter()
                .map(|item| {
                    let (mail, queued) = (mail.clone(), queued.clone());
                    thread::spawn(move || {
                        if let Err(item) = mail.put(item) {
                            queued.fetch_or(item, Release);
                        }
                        mail.notify();
                    })
                })
                .collect();
            // The owner's look at its inbox: the flag, then the slot, then the queue.
            let look = |seen: &mut usize| {
                if !mail.pending() {
                    return;
                }
                mail.clear_pending();
                if let Some(item) = mail.take() {
                    assert_eq!(*seen & item, 0, "item {item} taken twice");
                    *seen |= item;
                }
                let from_queue = queued.swap(0, Acquire);
                assert_eq!(*seen & from_queue, 0, "an item both queued and taken");
                *seen |= from_queue;
            };
            let mut seen = 0usize;
            // One look while the pushers may be anywhere in their push...
            look(&mut seen);
            for p in pushers {
                p.join().unwrap();
            }
            // ...and one after both are done, which must find whatever the first left.
            look(&mut seen);
            assert_eq!(seen, 3, "an item was lost");
            assert!(mail.is_empty());
        });
    }
}
