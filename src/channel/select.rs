//! Waiting on several channel operations at once: [`Select`], [`SelectedOperation`] and the
//! engine under the `select!` macros (crossbeam-channel 0.5's API).
//!
//! # The protocol
//!
//! A select runs in rounds. Each round first *tries* every operation without waiting, starting
//! at a random one (`select!`, [`Select::new`]) or at the first ([`select_biased!`],
//! [`Select::new_biased`]). A receive that is ready takes its message then and there (or finds
//! the channel disconnected); a send that is ready is only reported, and sends when the caller
//! completes it with [`SelectedOperation::send`] (crossbeam's API hands over the message only
//! then).
//!
//! If nothing is ready and the select may wait, it begins **one** park and registers an
//! unparker for it with every channel, each behind the same gate (`park::select`): whichever
//! registration fires first wins the park, the others fail as if their waiter had left. A
//! registration reports "ready already" when it finds, under the channel's lock or after its
//! fence, that the operation would not wait; the select then closes the gate itself and starts
//! a new round. After the park, every registration is withdrawn (under each channel's lock), and:
//!
//! * a *locked* channel (rendezvous, small, unbounded) hands a receive its message directly,
//!   into a slot the select owns: the winning registration completed the operation;
//! * every other wake-up carries nothing (a ring channel's notification, a selecting sender
//!   woken because a receiver arrived or room freed up): the select tries that operation first
//!   in the next round. If it completes another one instead, or gives up, it **passes the
//!   wake-up on** to that channel's next waiter, so that a plain `recv` waiting behind it is not
//!   stranded (house rule 3).
//!
//! Timeouts, kills and `with_timeout` unwind out of the park; the registrations are withdrawn by
//! a guard, and since the park ended without the gate, no channel handed anything over: nothing
//! is lost. Timer channels (`after`, `tick`) register nothing: their next delivery time is one
//! more deadline of the park.

use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use super::error::{
    ReadyTimeoutError, RecvError, SelectTimeoutError, SendError, TryReadyError, TrySelectError,
};
use super::locked::Reservation;
use super::{Flavor, Receiver, Sender};
use crate::park::{self, BoxedNode, Parker, Selection, Unparker, Wake};

/// A message of some type `T`, boxed, with the type erased (a select's receive took it; the
/// caller's [`SelectedOperation::recv`] names the type again).
pub(crate) struct Erased {
    ptr: NonNull<()>,
    drop_box: unsafe fn(NonNull<()>),
}

impl Erased {
    fn new<T>(value: T) -> Erased {
        unsafe fn drop_box<T>(ptr: NonNull<()>) {
            // SAFETY: `ptr` came from `Box::<T>::into_raw` in `Erased::new::<T>`, once.
            drop(unsafe { Box::from_raw(ptr.cast::<T>().as_ptr()) });
        }
        Erased {
            ptr: NonNull::from(Box::leak(Box::new(value))).cast(),
            drop_box: drop_box::<T>,
        }
    }

    /// # Safety
    /// `T` is the type this was made with.
    unsafe fn into_inner<T>(self) -> T {
        let ptr = self.ptr.cast::<T>();
        std::mem::forget(self);
        // SAFETY: made by `Erased::new::<T>` (the caller's contract), and `forget` above makes
        // this the only owner.
        *unsafe { Box::from_raw(ptr.as_ptr()) }
    }
}

impl Drop for Erased {
    fn drop(&mut self) {
        // SAFETY: `drop_box` was made for this pointer's type, and this is its only owner.
        unsafe { (self.drop_box)(self.ptr) }
    }
}

/// What a ready operation came to.
pub(crate) enum Outcome {
    /// A receive took this message.
    Message(Erased),
    /// A receive found the channel empty and every sender gone.
    Disconnected,
    /// A send would not wait (or the channel is disconnected); or, for `ready()`, any operation
    /// would not wait.
    Ready,
    /// A send on a locked channel, with what it reserved so that it will not wait.
    Reserved(Reservation),
}

/// A select's registration with one channel.
#[derive(Default)]
pub(crate) struct Reg {
    /// The registration's node in the channel's wait list, untyped: a `BoxedNode<()>` for an
    /// array channel, a `BoxedNode<Slot<T>>` for a locked one (see [`Reg::hold`]).
    node: Option<NonNull<u8>>,
    /// A locked channel's receive: the boxed `Option<T>` the sender hands its message into.
    slot: Option<Erased>,
}

impl Reg {
    /// Keeps the node of a registration made (`Some`); false if the operation was ready and
    /// nothing was registered.
    fn hold<P>(&mut self, node: Option<BoxedNode<P>>) -> bool {
        self.node = node.map(BoxedNode::into_erased);
        self.node.is_some()
    }

    /// The node kept by [`hold`](Reg::hold), if any.
    ///
    /// # Safety
    /// `P` is the type `hold` was given: a handle's flavor, which decides it, never changes.
    unsafe fn take<P>(&mut self) -> Option<BoxedNode<P>> {
        // SAFETY: the caller's contract; `take` leaves `None` behind, so it is taken back once.
        self.node
            .take()
            .map(|p| unsafe { BoxedNode::from_erased(p) })
    }
}

/// One side of a channel, as a select sees it: implemented by [`Sender`] and [`Receiver`].
pub(crate) trait Handle {
    /// The channel's identity (its shared state's address).
    fn chan(&self) -> usize;
    /// Tries the operation without waiting; `take`: a receive takes its message.
    fn attempt(&self, take: bool) -> Option<Outcome>;
    /// Registers `unparker`; false (and nothing registered) if the operation is ready already.
    fn register(&self, parker: &Parker, unparker: Unparker, reg: &mut Reg, take: bool) -> bool;
    /// Withdraws the registration; a message handed over meanwhile comes back.
    fn unregister(&self, reg: &mut Reg) -> Option<Outcome>;
    /// Passes on a wake-up this registration consumed and did not use.
    fn pass_on(&self);
    /// When a timer channel's next message is due.
    fn deadline(&self) -> Option<Instant>;
    /// Gives up what a selected send reserved and never used.
    fn cancel(&self, _reservation: Reservation) {}
}

impl<T: Send> Handle for Receiver<T> {
    fn chan(&self) -> usize {
        self.chan_addr()
    }

    fn attempt(&self, take: bool) -> Option<Outcome> {
        if !take {
            return self.chan.recv_ready().then_some(Outcome::Ready);
        }
        match self.try_recv() {
            Ok(v) => Some(Outcome::Message(Erased::new(v))),
            Err(super::TryRecvError::Disconnected) => Some(Outcome::Disconnected),
            Err(super::TryRecvError::Empty) => None,
        }
    }

    fn register(&self, parker: &Parker, unparker: Unparker, reg: &mut Reg, take: bool) -> bool {
        match &*self.chan {
            Flavor::Array(c) => reg.hold(c.register_recv(unparker)),
            Flavor::Locked(c) => {
                let slot = take.then(|| Erased::new(None::<T>));
                let ptr = slot
                    .as_ref()
                    .map_or(std::ptr::null_mut(), |s| s.ptr.cast::<Option<T>>().as_ptr());
                // SAFETY: the slot is a box owned by `reg`, freed only after `unregister` has
                // taken the registration out under the channel's lock.
                let node = unsafe { c.register_recv(parker, unparker, ptr) };
                reg.slot = slot;
                reg.hold(node)
            }
            Flavor::At(..) | Flavor::Tick(..) | Flavor::Never => !self.chan.recv_ready(),
        }
    }

    fn unregister(&self, reg: &mut Reg) -> Option<Outcome> {
        match &*self.chan {
            Flavor::Array(c) => {
                // SAFETY: an array channel's registration holds a `BoxedNode<()>`.
                c.unregister_recv(unsafe { reg.take() }?);
                None
            }
            Flavor::Locked(c) => {
                // SAFETY: a locked channel's registration holds a `BoxedNode<Slot<T>>`.
                c.unregister_recv(unsafe { reg.take() }?);
                let slot = reg.slot.take()?;
                // SAFETY: the slot was made as an `Option<T>` in `register`, and the channel no
                // longer refers to it (the registration is out of its list).
                let handed = unsafe { slot.into_inner::<Option<T>>() };
                handed.map(|v| Outcome::Message(Erased::new(v)))
            }
            _ => None,
        }
    }

    fn pass_on(&self) {
        if let Flavor::Array(c) = &*self.chan {
            c.pass_on_recv();
        }
    }

    fn deadline(&self) -> Option<Instant> {
        match &*self.chan {
            Flavor::At(c, _) => c.deadline(),
            Flavor::Tick(c, _) => c.deadline(),
            _ => None,
        }
    }
}

impl<T: Send> Handle for Sender<T> {
    fn chan(&self) -> usize {
        self.chan_addr()
    }

    fn attempt(&self, take: bool) -> Option<Outcome> {
        match &*self.chan {
            Flavor::Locked(c) if take => c.try_reserve_send().map(Outcome::Reserved),
            _ => self.chan.send_ready().then_some(Outcome::Ready),
        }
    }

    fn register(&self, parker: &Parker, unparker: Unparker, reg: &mut Reg, _take: bool) -> bool {
        match &*self.chan {
            Flavor::Array(c) => reg.hold(c.register_send(unparker)),
            Flavor::Locked(c) => reg.hold(c.register_send(parker, unparker)),
            _ => false,
        }
    }

    fn unregister(&self, reg: &mut Reg) -> Option<Outcome> {
        match &*self.chan {
            // SAFETY: an array channel's registration holds a `BoxedNode<()>`.
            Flavor::Array(c) => _ = c.unregister_send(unsafe { reg.take() }?),
            // Popped: a receiver came (and parked to wait for this select's message), room
            // freed up, or every receiver left. The select tries this send first next.
            // SAFETY: a locked channel's registration holds a `BoxedNode<Slot<T>>`.
            Flavor::Locked(c) => _ = c.unregister_send(unsafe { reg.take() }?),
            _ => {}
        }
        None
    }

    fn pass_on(&self) {
        match &*self.chan {
            Flavor::Array(c) => c.pass_on_send(),
            Flavor::Locked(c) => c.pass_on_send(),
            _ => {}
        }
    }

    fn deadline(&self) -> Option<Instant> {
        None
    }

    fn cancel(&self, reservation: Reservation) {
        if let Flavor::Locked(c) = &*self.chan {
            c.cancel_reservation(reservation);
        }
    }
}

/// One operation of a [`Select`].
#[derive(Clone, Copy)]
struct Entry<'a> {
    handle: &'a (dyn Handle + Sync + 'a),
    index: usize,
    chan: usize,
}

/// How long a select may wait.
#[derive(Clone, Copy)]
enum Until {
    Never,
    Deadline(Option<Instant>),
}

/// Withdraws every registration of a round, however the round ends (an unwind included).
struct Round<'r, 'a> {
    ops: &'r [Entry<'a>],
    regs: Vec<Reg>,
}

impl Round<'_, '_> {
    /// Withdraws everything; returns the message handed to operation `pos`, if any.
    fn withdraw(&mut self) -> Vec<Option<Outcome>> {
        self.ops
            .iter()
            .zip(self.regs.iter_mut())
            .map(|(op, reg)| op.handle.unregister(reg))
            .collect()
    }
}

impl Drop for Round<'_, '_> {
    fn drop(&mut self) {
        // Dropping a message here could only happen on an unwind, and none is ever handed over
        // then (see the module docs); still, nothing is leaked.
        for (op, reg) in self.ops.iter().zip(self.regs.iter_mut()) {
            drop(op.handle.unregister(reg));
        }
    }
}

/// Runs a select over `ops`; `take`: receives take their messages (select), or not (ready).
/// Returns the position in `ops` of the operation that is ready, and what it came to.
#[track_caller]
fn run(ops: &[Entry<'_>], biased: bool, until: Until, take: bool) -> Option<(usize, Outcome)> {
    let n = ops.len();
    let start = if biased || n < 2 { 0 } else { random(n) };
    // The registration whose wake-up this select consumed and has not used yet.
    let mut woken_by: Option<usize> = None;
    let mut second_pass = false;
    loop {
        // A round: try every operation, the one that woke us first.
        let order = woken_by.into_iter().chain((0..n).map(|k| (start + k) % n));
        for pos in order {
            if let Some(outcome) = ops[pos].handle.attempt(take) {
                if let Some(w) = woken_by {
                    if w != pos || !take {
                        ops[w].handle.pass_on();
                    }
                }
                return Some((pos, outcome));
            }
        }
        let deadline = match until {
            Until::Never => None,
            Until::Deadline(d) => {
                if d.is_some_and(|d| d <= Instant::now()) {
                    None
                } else {
                    Some(d)
                }
            }
        };
        let Some(deadline) = deadline else {
            // Giving up. One more full pass first, as crossbeam's registration re-check does:
            // a single pass can see every channel empty at the moment it looks although one
            // always held a message (another party takes from the channel tried second after
            // sending to the one tried first). A second pass that starts after the first ended
            // sees that message: a select that fails was, at some instant, truly not ready.
            if !second_pass {
                second_pass = true;
                continue;
            }
            if let Some(w) = woken_by {
                ops[w].handle.pass_on();
            }
            return None;
        };
        // Any wake-up consumed earlier found its operation taken by someone else: spent.
        woken_by = None;

        let selection = Selection::new();
        let parker = park::prepare_for(&"channel select");
        let mut round = Round {
            ops,
            regs: (0..n).map(|_| Reg::default()).collect(),
        };
        let mut ready = false;
        // In the same order as the tries: whichever registration a channel finds first in its
        // list is the one it fires, so this keeps a fair select fair.
        for pos in (0..n).map(|k| (start + k) % n) {
            let unparker = parker.select_unparker(&selection, pos);
            if !ops[pos]
                .handle
                .register(&parker, unparker, &mut round.regs[pos], take)
            {
                ready = true;
                break;
            }
        }
        if ready && selection.abort().is_ok() {
            // Nothing can fire any more: withdraw and start a new round.
            drop(round);
            drop(parker);
            continue;
        }
        // Otherwise a registration passed the gate first: its wake-up is on its way.
        let wake_at = ops
            .iter()
            .filter_map(|op| op.handle.deadline())
            .chain(deadline)
            .min();
        let wake = parker.park(wake_at);
        let mut handed = round.withdraw();
        drop(round);
        if wake == Wake::Unparked {
            if let Some(pos) = selection.chosen() {
                if let Some(outcome) = handed[pos].take() {
                    return Some((pos, outcome));
                }
                woken_by = Some(pos);
            }
        }
    }
}

/// A small per-thread xorshift generator: where a fair select starts looking.
fn random(n: usize) -> usize {
    use std::cell::Cell;
    use std::num::Wrapping;
    thread_local! {
        static STATE: Cell<Wrapping<u32>> = const { Cell::new(Wrapping(0x9E37_79B9)) };
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        s.set(x);
        ((x.0 as u64 * n as u64) >> 32) as usize
    })
}

/// Waits on several channel operations and completes the first that is ready: the dynamic
/// form of [`select!`](crate::select!), for a number of operations known only at run time.
///
/// Add operations with [`send`](Select::send) and [`recv`](Select::recv) (each returns the
/// operation's index), then call [`select`](Select::select) (or `try_select`,
/// `select_timeout`, `select_deadline`): it returns a [`SelectedOperation`], which must be
/// completed with the same channel. [`ready`](Select::ready) and its variants only say which
/// operation is ready, without performing it. A send or a receive on a disconnected channel is
/// ready (it completes with an error).
///
/// When several operations are ready, one is picked at random ([`Select::new_biased`]: the
/// first added). A select that must wait parks the greenlet (or blocks the thread).
///
/// ```
/// use greenlet::channel::{unbounded, Select};
///
/// let (tx1, rx1) = unbounded::<i32>();
/// let (tx2, rx2) = unbounded::<&str>();
/// greenlet::spawn(move || tx2.send("hello").unwrap());
///
/// let mut sel = Select::new();
/// let a = sel.recv(&rx1);
/// let b = sel.recv(&rx2);
/// let oper = sel.select(); // parks until one is ready
/// match oper.index() {
///     i if i == a => println!("{:?}", oper.recv(&rx1)),
///     i if i == b => assert_eq!(oper.recv(&rx2), Ok("hello")),
///     _ => unreachable!(),
/// }
/// # drop(tx1);
/// ```
pub struct Select<'a> {
    ops: Vec<Entry<'a>>,
    next_index: usize,
    biased: bool,
}

impl<'a> Select<'a> {
    /// An empty select that picks at random among ready operations.
    ///
    /// ```
    /// let mut sel = greenlet::channel::Select::new();
    /// assert!(sel.try_select().is_err()); // no operation: never ready
    /// ```
    pub fn new() -> Select<'a> {
        Select {
            ops: Vec::new(),
            next_index: 0,
            biased: false,
        }
    }

    /// An empty select that picks the first added among ready operations.
    ///
    /// ```
    /// let (tx, rx) = greenlet::channel::unbounded();
    /// tx.send(1).unwrap();
    /// tx.send(2).unwrap();
    /// let mut sel = greenlet::channel::Select::new_biased();
    /// let first = sel.recv(&rx);
    /// let _second = sel.recv(&rx);
    /// let oper = sel.select();
    /// assert_eq!(oper.index(), first); // both ready: the first wins
    /// assert_eq!(oper.recv(&rx), Ok(1));
    /// ```
    pub fn new_biased() -> Select<'a> {
        Select {
            biased: true,
            ..Select::new()
        }
    }

    fn add(&mut self, handle: &'a (dyn Handle + Sync + 'a)) -> usize {
        let index = self.next_index;
        self.next_index += 1;
        self.ops.push(Entry {
            handle,
            index,
            chan: handle.chan(),
        });
        index
    }

    /// Adds a send on `s`; returns its index.
    ///
    /// ```
    /// let (tx, rx) = greenlet::channel::bounded(1);
    /// let mut sel = greenlet::channel::Select::new();
    /// let i = sel.send(&tx);
    /// let oper = sel.select();
    /// assert_eq!(oper.index(), i);
    /// oper.send(&tx, 7).unwrap();
    /// assert_eq!(rx.recv(), Ok(7));
    /// ```
    pub fn send<T: Send>(&mut self, s: &'a Sender<T>) -> usize {
        self.add(s)
    }

    /// Adds a receive on `r`; returns its index.
    ///
    /// ```
    /// let (tx, rx) = greenlet::channel::unbounded();
    /// tx.send("hi").unwrap();
    /// let mut sel = greenlet::channel::Select::new();
    /// let i = sel.recv(&rx);
    /// let oper = sel.select();
    /// assert_eq!(oper.index(), i);
    /// assert_eq!(oper.recv(&rx), Ok("hi"));
    /// ```
    pub fn recv<T: Send>(&mut self, r: &'a Receiver<T>) -> usize {
        self.add(r)
    }

    /// Removes the operation with `index` (as returned by `send` or `recv`).
    ///
    /// # Panics
    /// If there is no such operation (never added, or removed already).
    ///
    /// ```
    /// let (tx, rx) = greenlet::channel::unbounded::<i32>();
    /// let mut sel = greenlet::channel::Select::new();
    /// let i = sel.recv(&rx);
    /// let j = sel.send(&tx);
    /// sel.remove(j);
    /// assert!(sel.try_select().is_err()); // only the receive is left, and nothing is queued
    /// # let _ = i;
    /// ```
    pub fn remove(&mut self, index: usize) {
        assert!(
            index < self.next_index,
            "index out of bounds; {} >= {}",
            index,
            self.next_index,
        );
        let pos = self
            .ops
            .iter()
            .position(|op| op.index == index)
            .expect("no operation with this index (it was removed already)");
        self.ops.swap_remove(pos);
    }

    #[track_caller]
    fn select_inner(&self, until: Until) -> Option<SelectedOperation<'a>> {
        let (pos, outcome) = run(&self.ops, self.biased, until, true)?;
        let op = self.ops[pos];
        Some(SelectedOperation {
            index: op.index,
            chan: op.chan,
            handle: op.handle,
            outcome: Some(outcome),
            _marker: PhantomData,
        })
    }

    #[track_caller]
    fn ready_inner(&self, until: Until) -> Option<usize> {
        let (pos, _) = run(&self.ops, self.biased, until, false)?;
        Some(self.ops[pos].index)
    }

    /// Selects an operation that is ready now, if there is one.
    ///
    /// ```
    /// let (tx, rx) = greenlet::channel::unbounded::<i32>();
    /// let mut sel = greenlet::channel::Select::new();
    /// sel.recv(&rx);
    /// assert!(sel.try_select().is_err());
    /// tx.send(1).unwrap();
    /// assert_eq!(sel.try_select().unwrap().recv(&rx), Ok(1));
    /// ```
    #[track_caller]
    pub fn try_select(&mut self) -> Result<SelectedOperation<'a>, TrySelectError> {
        self.select_inner(Until::Never).ok_or(TrySelectError)
    }

    /// Waits until an operation is ready and selects it.
    ///
    /// With no operation at all, waits for ever (until killed or timed out by
    /// [`with_timeout`](crate::with_timeout)).
    ///
    /// ```
    /// let (tx, rx) = greenlet::channel::bounded(0);
    /// greenlet::spawn(move || tx.send(5).unwrap());
    /// let mut sel = greenlet::channel::Select::new();
    /// sel.recv(&rx);
    /// assert_eq!(sel.select().recv(&rx), Ok(5));
    /// ```
    #[track_caller]
    pub fn select(&mut self) -> SelectedOperation<'a> {
        crate::deadline::untimed(self.select_inner(Until::Deadline(None)))
    }

    /// Waits at most `timeout` for an operation to be ready.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (_tx, rx) = greenlet::channel::unbounded::<i32>();
    /// let mut sel = greenlet::channel::Select::new();
    /// sel.recv(&rx);
    /// assert!(sel.select_timeout(Duration::from_millis(5)).is_err());
    /// ```
    #[track_caller]
    pub fn select_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<SelectedOperation<'a>, SelectTimeoutError> {
        self.select_inner(Until::Deadline(crate::deadline::after(timeout)))
            .ok_or(SelectTimeoutError)
    }

    /// Waits until `deadline` at most for an operation to be ready.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let (_tx, rx) = greenlet::channel::unbounded::<i32>();
    /// let mut sel = greenlet::channel::Select::new();
    /// sel.recv(&rx);
    /// let deadline = Instant::now() + Duration::from_millis(5);
    /// assert!(sel.select_deadline(deadline).is_err());
    /// ```
    #[track_caller]
    pub fn select_deadline(
        &mut self,
        deadline: Instant,
    ) -> Result<SelectedOperation<'a>, SelectTimeoutError> {
        self.select_inner(Until::Deadline(Some(deadline)))
            .ok_or(SelectTimeoutError)
    }

    /// The index of an operation that is ready now (it is not performed).
    ///
    /// ```
    /// let (tx, rx) = greenlet::channel::unbounded::<i32>();
    /// let mut sel = greenlet::channel::Select::new();
    /// let i = sel.recv(&rx);
    /// assert!(sel.try_ready().is_err());
    /// tx.send(1).unwrap();
    /// assert_eq!(sel.try_ready(), Ok(i));
    /// assert_eq!(rx.try_recv(), Ok(1)); // still there: ready() performs nothing
    /// ```
    #[track_caller]
    pub fn try_ready(&mut self) -> Result<usize, TryReadyError> {
        self.ready_inner(Until::Never).ok_or(TryReadyError)
    }

    /// Waits until an operation is ready and returns its index (it is not performed: another
    /// party may get there first, so the operation itself may still have to wait).
    ///
    /// ```
    /// let (tx, rx) = greenlet::channel::unbounded();
    /// greenlet::spawn(move || tx.send(3).unwrap());
    /// let mut sel = greenlet::channel::Select::new();
    /// let i = sel.recv(&rx);
    /// assert_eq!(sel.ready(), i);
    /// assert_eq!(rx.recv(), Ok(3));
    /// ```
    #[track_caller]
    pub fn ready(&mut self) -> usize {
        crate::deadline::untimed(self.ready_inner(Until::Deadline(None)))
    }

    /// Waits at most `timeout` for an operation to be ready; returns its index.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (_tx, rx) = greenlet::channel::unbounded::<i32>();
    /// let mut sel = greenlet::channel::Select::new();
    /// sel.recv(&rx);
    /// assert!(sel.ready_timeout(Duration::from_millis(5)).is_err());
    /// ```
    #[track_caller]
    pub fn ready_timeout(&mut self, timeout: Duration) -> Result<usize, ReadyTimeoutError> {
        self.ready_inner(Until::Deadline(crate::deadline::after(timeout)))
            .ok_or(ReadyTimeoutError)
    }

    /// Waits until `deadline` at most for an operation to be ready; returns its index.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let (_tx, rx) = greenlet::channel::unbounded::<i32>();
    /// let mut sel = greenlet::channel::Select::new();
    /// sel.recv(&rx);
    /// assert!(sel.ready_deadline(Instant::now() + Duration::from_millis(5)).is_err());
    /// ```
    #[track_caller]
    pub fn ready_deadline(&mut self, deadline: Instant) -> Result<usize, ReadyTimeoutError> {
        self.ready_inner(Until::Deadline(Some(deadline)))
            .ok_or(ReadyTimeoutError)
    }
}

impl Clone for Select<'_> {
    fn clone(&self) -> Self {
        Select {
            ops: self.ops.clone(),
            next_index: self.next_index,
            biased: self.biased,
        }
    }
}

impl Default for Select<'_> {
    fn default() -> Self {
        Select::new()
    }
}

impl fmt::Debug for Select<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Select")
            .field("operations", &self.ops.len())
            .field("biased", &self.biased)
            .finish()
    }
}

/// The operation a [`Select`] picked. Complete it with [`send`](SelectedOperation::send) or
/// [`recv`](SelectedOperation::recv) on the same channel it was added with.
///
/// # Panics
/// Dropping it without completing it panics (as crossbeam-channel's does): a receive it holds
/// would be lost.
///
/// ```
/// let (tx, rx) = greenlet::channel::unbounded();
/// tx.send(10).unwrap();
/// let mut sel = greenlet::channel::Select::new();
/// sel.recv(&rx);
/// let oper = sel.select();
/// assert_eq!(oper.index(), 0);
/// assert_eq!(oper.recv(&rx), Ok(10));
/// ```
#[must_use = "a selected operation must be completed with `send` or `recv`"]
pub struct SelectedOperation<'a> {
    index: usize,
    chan: usize,
    handle: &'a (dyn Handle + Sync + 'a),
    /// `None` once completed.
    outcome: Option<Outcome>,
    /// Not Send: a message taken for this thread's caller stays with it.
    _marker: PhantomData<(&'a (), *const ())>,
}

impl<'a> SelectedOperation<'a> {
    /// The index of the operation (as `Select::send`/`recv` returned it).
    ///
    /// ```
    /// let (tx, _rx) = greenlet::channel::unbounded::<i32>();
    /// let mut sel = greenlet::channel::Select::new();
    /// let i = sel.send(&tx);
    /// let oper = sel.select();
    /// assert_eq!(oper.index(), i);
    /// oper.send(&tx, 1).unwrap();
    /// ```
    pub fn index(&self) -> usize {
        self.index
    }

    /// Completes a selected send. Fails, handing `msg` back, if every receiver is gone. (If
    /// another sender took the room between the select and this call, this waits for room.)
    ///
    /// # Panics
    /// If `s` is not the sender the operation was added with.
    ///
    /// ```
    /// let (tx, rx) = greenlet::channel::bounded(1);
    /// let mut sel = greenlet::channel::Select::new();
    /// sel.send(&tx);
    /// sel.select().send(&tx, "sent").unwrap();
    /// assert_eq!(rx.recv(), Ok("sent"));
    /// ```
    #[track_caller]
    pub fn send<T>(mut self, s: &Sender<T>, msg: T) -> Result<(), SendError<T>> {
        assert!(
            s.chan_addr() == self.chan,
            "passed a sender that wasn't selected"
        );
        match self.outcome.take() {
            Some(Outcome::Reserved(r)) => s.send_reserved(msg, r),
            _ => s.send(msg),
        }
    }

    /// Completes a selected receive: the message it took, or `RecvError` if the channel was
    /// empty and disconnected.
    ///
    /// # Panics
    /// If `r` is not the receiver the operation was added with.
    ///
    /// ```
    /// let (tx, rx) = greenlet::channel::unbounded::<i32>();
    /// drop(tx);
    /// let mut sel = greenlet::channel::Select::new();
    /// sel.recv(&rx);
    /// assert!(sel.select().recv(&rx).is_err()); // disconnected: ready, with an error
    /// ```
    #[track_caller]
    pub fn recv<T>(mut self, r: &Receiver<T>) -> Result<T, RecvError> {
        assert!(
            r.chan_addr() == self.chan,
            "passed a receiver that wasn't selected"
        );
        match self.outcome.take() {
            // SAFETY: the message was taken from this very channel (same shared state), whose
            // messages are `T`s.
            Some(Outcome::Message(m)) => Ok(unsafe { m.into_inner::<T>() }),
            Some(Outcome::Disconnected) => Err(RecvError),
            _ => r.recv(),
        }
    }
}

impl fmt::Debug for SelectedOperation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelectedOperation")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl Drop for SelectedOperation<'_> {
    fn drop(&mut self) {
        if let Some(outcome) = self.outcome.take() {
            if let Outcome::Reserved(r) = outcome {
                self.handle.cancel(r);
            } else {
                drop(outcome);
            }
            if !std::thread::panicking() {
                panic!("dropped `SelectedOperation` without completing the operation");
            }
        }
    }
}
