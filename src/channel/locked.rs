//! The engine under channels and queues: a buffer and two lists of parked waiters under one lock,
//! with direct hand-off.
//!
//! * A sender that finds a parked receiver writes the message into the receiver's slot (on the
//!   receiver's stack) and claims its park; a receiver that finds a parked sender takes the
//!   message out of the sender's slot the same way. Otherwise messages go through the buffer.
//! * A successful claim is the hand-off (see `park::waitlist`): if it fails (that waiter timed
//!   out or was killed a moment ago), the message goes back and the next waiter is tried. So a
//!   message is never lost, never delivered twice, and never consumed by a cancelled receiver.
//!   The claimed waiter is woken after the lock is released (`Wakeup`), never under it.
//! * The buffer is any [`Store`]: FIFO for channels and `Queue`, a stack for `LifoQueue`.
//!   Capacity `Some(0)` is a rendezvous: only hand-offs, no buffer. (No heap: ordering one runs
//!   the user's `Ord`, which must not run under this spin lock; see `queue::priority`.)
//!
//! This engine serves rendezvous, small-capacity and unbounded channels and two queues: there
//! nearly every operation waits or wakes someone, and a direct hand-off under one lock is the
//! cheapest way to do that. Bounded channels with room to spare use the lock-free ring of
//! `channel::array` instead (crossbeam-channel splits its flavours the same way).

use std::collections::VecDeque;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::Instant;

use crate::park::{
    park_in_then, BoxedNode, Parker, SpinGuard, SpinLock, Unparker, WaitList, Waiter, Wake, Wakeup,
};
use crate::queue::unfinished::{self, HasUnfinished, Unfinished};

/// Where buffered messages wait, and in which order they come out.
pub(crate) trait Store<T> {
    fn put(&mut self, value: T);
    fn take(&mut self) -> Option<T>;
    fn count(&self) -> usize;
    /// Empties the store without running user code (no `Ord`), for [`drop_each`].
    fn take_all(&mut self) -> Vec<T>;
}

/// The two stores differ only in the end `take` comes from: each `store!` line names the type,
/// the method that adds at the back and the one that takes from the front (FIFO) or the back
/// (LIFO). `Vec::from` of a `Vec` is the `Vec` itself.
macro_rules! store {
    ($buffer:ident, $put:ident, $take:ident) => {
        impl<T> Store<T> for $buffer<T> {
            fn put(&mut self, value: T) {
                self.$put(value)
            }
            fn take(&mut self) -> Option<T> {
                self.$take()
            }
            fn count(&self) -> usize {
                self.len()
            }
            fn take_all(&mut self) -> Vec<T> {
                Vec::from(std::mem::take(self))
            }
        }
    };
}

store!(VecDeque, push_back, pop_front); // FIFO: channels and `Queue`
store!(Vec, push, pop); // LIFO: `LifoQueue`

/// Drops every message of `messages`, each on its own, with no lock held, like
/// crossbeam-channel: a `Drop` that panics does not keep the others from being dropped, and does
/// not abort the process (a second panic while the first unwinds would). The first panic
/// resumes once every message is gone; later ones are swallowed (their hook has printed them).
/// If the caller is already unwinding (a handle dropped during a panic), all are swallowed, since
/// resuming from a destructor then would abort.
pub(crate) fn drop_each<T>(messages: impl IntoIterator<Item = T>) {
    let mut first = None;
    for message in messages {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(message))) {
            first.get_or_insert(payload);
        }
    }
    if let Some(payload) = first {
        if !std::thread::panicking() {
            resume_unwind(payload);
        }
    }
}

/// A parked waiter's message slot, on the waiter's own stack; or, for a select that only
/// watches (`watch`), no slot at all: such a waiter is woken, never handed a message.
pub(crate) struct Slot<T> {
    ptr: *mut Option<T>,
    /// A select's sender (it has no message until it is chosen) or a `Select::ready` receiver:
    /// wake it and go on, as if it were not there.
    watch: bool,
    /// A receiver a select's send has reserved (see [`LockedChan::try_reserve_send`]): every
    /// other sender passes it by.
    reserved: bool,
}

// SAFETY: a slot is only dereferenced under the engine's lock, while its waiter is parked and its
// entry is in a wait list (it is removed, under the same lock, before the waiter's frame ends:
// see `park_in`, and `channel::select` for a select's slots). The value inside is a T: Send
// moving between threads.
unsafe impl<T: Send> Send for Slot<T> {}

impl<T> Slot<T> {
    fn of(slot: &mut Option<T>) -> Slot<T> {
        Slot {
            ptr: slot,
            watch: false,
            reserved: false,
        }
    }

    /// # Safety
    /// Under the engine's lock, for a waiter just popped from its list, not a watcher.
    unsafe fn put(&self, value: T) {
        // SAFETY: the caller holds the engine's lock for a waiter it just popped, whose slot
        // outlives its wait (it takes its entry out under the same lock before it returns), so
        // the pointer is valid and nobody else reaches the slot meanwhile.
        unsafe { *self.ptr = Some(value) };
    }

    /// # Safety
    /// As for `put`.
    unsafe fn take(&self) -> Option<T> {
        // SAFETY: as for `put`.
        unsafe { (*self.ptr).take() }
    }

    /// Hands `value` to the receiver `w`: into its slot, then claims its park (the hand-off;
    /// the caller wakes it after unlocking). `Err`: that receiver is leaving (timed out or
    /// killed a moment ago), and the message comes back for the next one.
    ///
    /// # Safety
    /// As for `put`: under the engine's lock, `w` a receiver just taken out of its list.
    unsafe fn hand_to(w: Waiter<Slot<T>>, value: T) -> Result<Wakeup, T> {
        // SAFETY: the caller's contract.
        unsafe { w.payload.put(value) };
        let slot = w.payload;
        match w.unparker.claim() {
            Some(wakeup) => Ok(wakeup),
            // SAFETY: as above; the leaving receiver looks at its slot only after it has taken
            // the lock we hold.
            None => Err(unsafe { slot.take() }.expect("slot filled above")),
        }
    }

    /// Takes the message of the sender `w` and claims its park (the caller wakes it after
    /// unlocking). `None`: that sender is leaving, and keeps its message.
    ///
    /// # Safety
    /// As for `put`: under the engine's lock, `w` a sender just taken out of its list.
    unsafe fn take_from(w: Waiter<Slot<T>>) -> Option<(T, Wakeup)> {
        // SAFETY: the caller's contract.
        let value = unsafe { w.payload.take() }.expect("a parked sender has a message");
        let slot = w.payload;
        match w.unparker.claim() {
            Some(wakeup) => Some((value, wakeup)),
            None => {
                // SAFETY: as above; the leaving sender gets its message back.
                unsafe { slot.put(value) };
                None
            }
        }
    }
}

/// What a select's send reserved (see [`LockedChan::try_reserve_send`]).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Reservation {
    /// The parked receiver with this ticket.
    Receiver(u64),
    /// One place in the buffer.
    Room,
    /// Nothing was needed: the channel is unbounded, or disconnected.
    Nothing,
}

/// How long an operation may wait.
#[derive(Clone, Copy)]
pub(crate) enum Wait {
    /// Not at all (`try_*`).
    Never,
    /// Until this deadline, or for ever (`None`).
    Until(Option<Instant>),
}

/// Why an operation did not complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fail {
    /// Full (send) or empty (receive) and not allowed to wait.
    WouldBlock,
    Timeout,
    Disconnected,
}

pub(crate) struct State<T, S> {
    items: S,
    cap: Option<usize>,
    receivers: WaitList<Slot<T>>,
    senders: WaitList<Slot<T>>,
    senders_alive: usize,
    receivers_alive: usize,
    /// Items put and not yet marked done (`Queue::task_done`).
    tasks: Unfinished,
    /// Buffer room promised to selects' sends (see [`LockedChan::try_reserve_send`]).
    reserved_room: usize,
}

impl<T, S: Store<T>> State<T, S> {
    /// Claims the first selecting sender still parked (not `except`'s own registration): room
    /// freed up, or a receiver is about to park. `Some`: one was claimed, to wake after
    /// unlocking; it has chosen to send here.
    fn claim_one_watching_sender(&mut self, except: Option<&Parker>) -> Option<Wakeup> {
        while let Some(w) = self
            .senders
            .pop_where(|w| w.payload.watch && !except.is_some_and(|p| p.owns(&w.unparker)))
        {
            if let Some(wakeup) = w.unparker.claim() {
                return Some(wakeup);
            }
        }
        None
    }

    /// Whether a receive would not wait: a message is buffered, a sender is parked (a selecting
    /// one not `except`'s included: waking it chooses its send), or every sender is gone.
    fn recv_ready(&self, except: Option<&Parker>) -> bool {
        self.items.count() > 0
            || self.senders_alive == 0
            || self
                .senders
                .any(|w| !except.is_some_and(|p| p.owns(&w.unparker)))
    }

    /// Whether a send would not wait: there is room, a receiver (not `except`'s) is parked, or
    /// every receiver is gone.
    fn send_ready(&self, except: Option<&Parker>) -> bool {
        self.receivers_alive == 0
            || self.has_room()
            || self
                .receivers
                .any(|w| !w.payload.watch && !except.is_some_and(|p| p.owns(&w.unparker)))
    }

    /// Whether a send can go into the buffer now.
    fn has_room(&self) -> bool {
        match self.cap {
            None => true,
            Some(cap) => self.items.count() + self.reserved_room < cap,
        }
    }
}

impl<T, S> HasUnfinished for State<T, S> {
    fn unfinished(&mut self) -> &mut Unfinished {
        &mut self.tasks
    }
}

pub(crate) struct LockedChan<T, S> {
    state: SpinLock<State<T, S>>,
    /// `S::take_all`, kept here so that `Drop` needs no `Store` bound (a `Drop` impl may not add
    /// bounds the struct lacks, and the struct has none so that queue types need none).
    take_all: fn(&mut S) -> Vec<T>,
}

impl<T, S: Store<T>> LockedChan<T, S> {
    pub(crate) fn new(items: S, cap: Option<usize>) -> LockedChan<T, S> {
        LockedChan {
            state: SpinLock::new(State {
                items,
                cap,
                receivers: WaitList::waiting_on(&"channel recv"),
                senders: WaitList::waiting_on(&"channel send"),
                senders_alive: 1,
                receivers_alive: 1,
                tasks: Unfinished::new(),
                reserved_room: 0,
            }),
            take_all: S::take_all,
        }
    }

    /// Sends `value`, waiting as `wait` allows; hands it back on failure.
    #[track_caller]
    pub(crate) fn send(&self, value: T, wait: Wait) -> Result<(), (T, Fail)> {
        self.send_locked(self.state.lock(), value, wait)
    }

    #[track_caller]
    fn send_locked(
        &self,
        mut s: SpinGuard<'_, State<T, S>>,
        value: T,
        wait: Wait,
    ) -> Result<(), (T, Fail)> {
        if s.receivers_alive == 0 {
            return Err((value, Fail::Disconnected));
        }
        let mut value = value;
        // Every wake-up claimed here runs after the lock is released (the explicit `drop(s)`
        // before each return: `s`, a parameter, would otherwise outlive `watchers`).
        // (An `Option`: the common case, no watcher, costs one test.)
        let mut watchers: Option<Vec<Wakeup>> = None;
        while let Some(w) = s.receivers.pop_where(|w| !w.payload.reserved) {
            if w.payload.watch {
                // A `Select::ready` waiting to hear that a receive would not block.
                let wakeup = w.unparker.claim();
                watchers.get_or_insert_with(Vec::new).extend(wakeup);
                continue;
            }
            // SAFETY: under the lock, for a receiver just popped (see `Slot`).
            match unsafe { Slot::hand_to(w, value) } {
                Ok(wakeup) => {
                    s.tasks.add();
                    drop(s);
                    wakeup.wake();
                    drop(watchers);
                    return Ok(());
                }
                // That receiver left (timeout, kill): try the next one.
                Err(back) => value = back,
            }
        }
        if s.has_room() {
            s.items.put(value);
            s.tasks.add();
            drop(s);
            drop(watchers);
            return Ok(());
        }
        let Wait::Until(deadline) = wait else {
            drop(s);
            drop(watchers);
            return Err((value, Fail::WouldBlock));
        };
        let parked = self.park_with_slot(
            s,
            |s| &mut s.senders,
            Some(value),
            deadline,
            || drop(watchers),
        );
        match parked {
            (Wake::Unparked, None) => Ok(()),
            // Woken with the message still here: every receiver is gone.
            (Wake::Unparked, Some(v)) => Err((v, Fail::Disconnected)),
            (Wake::TimedOut, Some(v)) => Err((v, Fail::Timeout)),
            (Wake::TimedOut, None) => unreachable!("a timed-out sender keeps its message"),
        }
    }

    /// Parks in `list` (the senders or the receivers) with a message slot on this frame that
    /// holds `slot` (a sender's message; nothing for a receiver), runs `registered` once the
    /// waiter is in the list and the lock released, and returns how the park ended with what
    /// the slot holds then.
    #[track_caller]
    fn park_with_slot(
        &self,
        s: SpinGuard<'_, State<T, S>>,
        list: fn(&mut State<T, S>) -> &mut WaitList<Slot<T>>,
        mut slot: Option<T>,
        deadline: Option<Instant>,
        registered: impl FnOnce(),
    ) -> (Wake, Option<T>) {
        let wake = park_in_then(
            &self.state,
            s,
            list,
            Slot::of(&mut slot),
            deadline,
            registered,
        );
        (wake, slot)
    }

    /// Receives a message, waiting as `wait` allows.
    #[track_caller]
    pub(crate) fn recv(&self, wait: Wait) -> Result<T, Fail> {
        let mut s = self.state.lock();
        if let Some(v) = s.items.take() {
            // Room freed: move a parked sender's message into the buffer, or else promise the
            // room to a selecting sender (which passes it on if it sends elsewhere).
            let wakeup = loop {
                let Some(w) = s.senders.pop_where(|w| !w.payload.watch) else {
                    break s.claim_one_watching_sender(None);
                };
                // SAFETY: under the lock, for a sender just popped (see `Slot`).
                if let Some((moved, wakeup)) = unsafe { Slot::take_from(w) } {
                    s.items.put(moved);
                    s.tasks.add();
                    break Some(wakeup);
                }
            };
            drop(s);
            drop(wakeup); // after the lock
            return Ok(v);
        }
        // Empty buffer (always, for a rendezvous): take straight from a parked sender.
        while let Some(w) = s.senders.pop_where(|w| !w.payload.watch) {
            // SAFETY: under the lock, for a sender just popped (see `Slot`).
            if let Some((v, wakeup)) = unsafe { Slot::take_from(w) } {
                s.tasks.add();
                drop(s);
                wakeup.wake();
                return Ok(v);
            }
        }
        if s.senders_alive == 0 {
            return Err(Fail::Disconnected);
        }
        // A selecting sender has no message until it is chosen: waking one chooses its send
        // (see `channel::select`), and it comes to hand its message to the receiver parked
        // below. So even a receive that may not wait waits for that one.
        let woke_sender = s.claim_one_watching_sender(None);
        let deadline = match wait {
            Wait::Until(deadline) => deadline,
            Wait::Never if woke_sender.is_some() => None,
            Wait::Never => return Err(Fail::WouldBlock),
        };
        let parked = self.park_with_slot(
            s,
            |s| &mut s.receivers,
            None,
            deadline,
            || drop(woke_sender),
        );
        match parked {
            (Wake::Unparked, Some(v)) => Ok(v),
            // Woken with nothing: every sender is gone.
            (Wake::Unparked, None) => Err(Fail::Disconnected),
            (Wake::TimedOut, _) => Err(Fail::Timeout),
        }
    }

    /// Whether a receive would complete without waiting (see `channel::select`).
    pub(crate) fn recv_ready(&self) -> bool {
        self.state.lock().recv_ready(None)
    }

    /// Whether a send would complete without waiting (see `channel::select`).
    pub(crate) fn send_ready(&self) -> bool {
        self.state.lock().send_ready(None)
    }

    /// Registers a select's receive: one that takes a message handed into `slot`, or, with
    /// `slot` null, a watcher that is only woken. `None`: a receive is ready now, nothing was
    /// registered.
    ///
    /// # Safety
    /// A non-null `slot` stays valid until [`unregister_recv`](Self::unregister_recv) returns.
    pub(crate) unsafe fn register_recv(
        &self,
        parker: &Parker,
        unparker: Unparker,
        slot: *mut Option<T>,
    ) -> Option<BoxedNode<Slot<T>>> {
        let mut s = self.state.lock();
        if s.recv_ready(Some(parker)) {
            return None;
        }
        let watch = slot.is_null();
        let entry = Slot {
            ptr: slot,
            watch,
            reserved: false,
        };
        let node = BoxedNode::new();
        // SAFETY: a fresh heap node, which stays put; `unregister_recv` (the one way the select
        // gives it back) unlinks it under this lock before freeing it.
        unsafe { s.receivers.push(node.node(), unparker, entry) };
        Some(node)
    }

    /// Takes a select's receive registration out (if no sender popped it) and frees its node.
    pub(crate) fn unregister_recv(&self, node: BoxedNode<Slot<T>>) {
        let mut s = self.state.lock();
        // SAFETY: pushed into this list by `register_recv`.
        let entry = unsafe { s.receivers.unlink_boxed(node) };
        drop(s);
        drop(entry);
    }

    /// Registers a select's send, as a watcher (it has no message until chosen). `None`: a
    /// send is ready now, nothing was registered.
    pub(crate) fn register_send(
        &self,
        parker: &Parker,
        unparker: Unparker,
    ) -> Option<BoxedNode<Slot<T>>> {
        let mut s = self.state.lock();
        if s.send_ready(Some(parker)) {
            return None;
        }
        let slot = Slot {
            ptr: std::ptr::null_mut(),
            watch: true,
            reserved: false,
        };
        let node = BoxedNode::new();
        // SAFETY: as in `register_recv`, with `unregister_send`.
        unsafe { s.senders.push(node.node(), unparker, slot) };
        // `Select::ready` receivers waiting here now find a sender: let them look.
        let mut watchers = Vec::new();
        while let Some(w) = s
            .receivers
            .pop_where(|w| w.payload.watch && !parker.owns(&w.unparker))
        {
            watchers.extend(w.unparker.claim());
        }
        drop(s);
        drop(watchers); // after the lock
        Some(node)
    }

    /// Takes a select's send registration out and frees its node; false if a receiver (or the
    /// last receiver's departure) popped it: if that woke the select, its send was chosen.
    pub(crate) fn unregister_send(&self, node: BoxedNode<Slot<T>>) -> bool {
        let mut s = self.state.lock();
        // SAFETY: pushed into this list by `register_send`.
        let entry = unsafe { s.senders.unlink_boxed(node) };
        drop(s);
        entry.is_some()
    }

    /// A selecting sender woken here that did not send here hands the wake-up on to the next
    /// selecting sender, if a send would still not wait.
    pub(crate) fn pass_on_send(&self) {
        let mut s = self.state.lock();
        if s.send_ready(None) {
            let wakeup = s.claim_one_watching_sender(None);
            drop(s);
            drop(wakeup); // after the lock
        }
    }

    /// A select's send found ready: reserves what it needs (a parked receiver, kept in its list
    /// and passed by every other sender, or buffer room) so that completing it later with
    /// [`send_reserved`](Self::send_reserved) does not wait. `None`: a send would wait.
    pub(crate) fn try_reserve_send(&self) -> Option<Reservation> {
        let mut s = self.state.lock();
        if s.receivers_alive == 0 {
            return Some(Reservation::Nothing); // the send fails: nothing to reserve
        }
        while let Some(w) = s
            .receivers
            .find_mut(|w| !w.payload.watch && !w.payload.reserved)
        {
            // A select's receiver is reserved by passing its gate: nothing else can win it.
            if w.unparker.is_waiting() && w.unparker.pass_gate() {
                w.payload.reserved = true;
                return Some(Reservation::Receiver(w.ticket()));
            }
            // That receiver is leaving (timed out, killed, or chosen elsewhere): as a send
            // would, drop its entry.
            let ticket = w.ticket();
            drop(s.receivers.remove(ticket));
        }
        if s.cap.is_none() {
            return Some(Reservation::Nothing); // unbounded: a send never waits
        }
        if s.has_room() {
            s.reserved_room += 1;
            return Some(Reservation::Room);
        }
        None
    }

    /// Completes a send reserved by [`try_reserve_send`](Self::try_reserve_send). Waits only if
    /// a reserved receiver left in between (timed out or killed).
    #[track_caller]
    pub(crate) fn send_reserved(
        &self,
        value: T,
        reservation: Reservation,
    ) -> Result<(), (T, Fail)> {
        let mut s = self.state.lock();
        let mut value = value;
        match reservation {
            Reservation::Receiver(ticket) => {
                if let Some(w) = s.receivers.remove(ticket) {
                    // SAFETY: under the lock, for a receiver just taken out of its list.
                    match unsafe { Slot::hand_to(w, value) } {
                        Ok(wakeup) => {
                            s.tasks.add();
                            drop(s);
                            wakeup.wake();
                            return Ok(());
                        }
                        // That receiver timed out or was killed meanwhile.
                        Err(back) => value = back,
                    }
                }
            }
            Reservation::Room => s.reserved_room -= 1,
            Reservation::Nothing => {}
        }
        self.send_locked(s, value, Wait::Until(None))
    }

    /// Gives up a reservation whose operation was never completed.
    pub(crate) fn cancel_reservation(&self, reservation: Reservation) {
        let mut s = self.state.lock();
        match reservation {
            Reservation::Receiver(ticket) => {
                let Some(w) = s.receivers.find_mut(|w| w.ticket() == ticket) else {
                    return;
                };
                if w.unparker.is_select() {
                    // Its gate is passed: wake it empty-handed; it tries again.
                    let wakeup = s.receivers.remove(ticket).and_then(|w| w.unparker.claim());
                    drop(s);
                    drop(wakeup); // after the lock
                } else {
                    w.payload.reserved = false;
                }
            }
            Reservation::Room => s.reserved_room -= 1,
            Reservation::Nothing => {}
        }
    }

    /// Whether the buffer is at capacity (always, for a rendezvous).
    pub(crate) fn is_full(&self) -> bool {
        let s = self.state.lock();
        s.cap.is_some_and(|cap| s.items.count() >= cap)
    }

    /// Messages in the buffer.
    pub(crate) fn len(&self) -> usize {
        self.state.lock().items.count()
    }

    pub(crate) fn capacity(&self) -> Option<usize> {
        self.state.lock().cap
    }

    pub(crate) fn add_sender(&self) {
        self.state.lock().senders_alive += 1;
    }

    pub(crate) fn add_receiver(&self) {
        self.state.lock().receivers_alive += 1;
    }

    /// The last sender gone: parked receivers wake up empty-handed (Disconnected).
    pub(crate) fn drop_sender(&self) {
        let mut s = self.state.lock();
        s.senders_alive -= 1;
        if s.senders_alive == 0 {
            let receivers = s.receivers.wake_all();
            drop(s);
            drop(receivers); // after the lock
        }
    }

    /// The last receiver gone: parked senders wake up with their message (Disconnected), and
    /// what is queued, which nobody can receive any more, is dropped now (after unlocking: a
    /// message's `Drop` may park or panic; see [`drop_each`]) rather than with the last sender.
    pub(crate) fn drop_receiver(&self) {
        let discarded = {
            let mut s = self.state.lock();
            s.receivers_alive -= 1;
            if s.receivers_alive != 0 {
                return;
            }
            let senders = s.senders.wake_all();
            ((self.take_all)(&mut s.items), senders)
        };
        let (discarded, senders) = discarded;
        drop(senders); // after the lock
        drop_each(discarded);
    }

    /// Marks one received item done; false if none was outstanding.
    pub(crate) fn task_done(&self) -> bool {
        unfinished::task_done(&self.state)
    }

    /// Waits until every item put has been marked done.
    #[track_caller]
    pub(crate) fn join(&self, deadline: Option<Instant>) -> bool {
        unfinished::join(&self.state, deadline)
    }
}

impl<T, S> Drop for LockedChan<T, S> {
    /// The last handle is gone: drops what is still queued one message at a time (see
    /// [`drop_each`]), so a message whose `Drop` panics propagates that panic from the handle's
    /// drop instead of aborting the process while the store's own drop unwinds.
    fn drop(&mut self) {
        let messages = (self.take_all)(&mut self.state.lock().items);
        drop_each(messages);
    }
}
