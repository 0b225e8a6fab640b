//! The bounded flavour for `bounded(n)` with `4 <= n <= 65,536` (see `channel::new_channel`):
//! a lock-free ring buffer with parking only at the edges.
//!
//! The ring is the classic bounded MPMC queue of stamped slots (Dmitry Vyukov's design, in the
//! shape crossbeam-channel's array flavour gives it): `head` and `tail` each pack a lap and an
//! index; a slot's stamp says whether it is ready to be written (stamp == tail) or read
//! (stamp == head + 1). Senders and receivers claim positions with one CAS and never block each
//! other while the buffer is neither full nor empty.
//!
//! Only a sender that finds the ring full, or a receiver that finds it empty, touches a
//! [`WaitQueue`]: it registers, tries once more, and parks. After every successful push or pop
//! the other side is notified, which costs a fence and a load when nobody waits. Notifications
//! carry nothing (the woken party retries), so a waiter that times out or is killed consumes
//! nothing: no message is lost or taken by a cancelled receiver.

use crate::loom::sync::atomic::{fence, AtomicUsize, Ordering::*};
use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::time::Instant;

use super::locked::{drop_each, Fail, Wait};
use crate::park::{Backoff, BoxedNode, Unparker, WaitQueue};

/// Keeps `head` and `tail` on cache lines of their own.
#[repr(align(128))]
struct Padded<T>(T);

struct Slot<T> {
    stamp: AtomicUsize,
    value: UnsafeCell<MaybeUninit<T>>,
}

pub(crate) struct ArrayChan<T> {
    head: Padded<AtomicUsize>,
    tail: Padded<AtomicUsize>,
    buffer: Box<[Slot<T>]>,
    cap: usize,
    /// Added to a position to go one lap further (a power of two above every index).
    one_lap: usize,
    senders_waiting: WaitQueue,
    receivers_waiting: WaitQueue,
    senders_alive: AtomicUsize,
    receivers_alive: AtomicUsize,
}

// SAFETY: a slot's value is written only by the sender that claimed its position with a CAS on
// `tail` and read only by the receiver that claimed it with a CAS on `head`; the stamp's
// Release/Acquire orders the write before the read. Values are T: Send moving between threads.
unsafe impl<T: Send> Send for ArrayChan<T> {}
// SAFETY: as above: every access to a slot's value is claimed by one party through the CAS on
// `head` or `tail`, so sharing the channel never gives two parties the same value at once.
unsafe impl<T: Send> Sync for ArrayChan<T> {}

// Unwind safety, like crossbeam-channel's: a slot is written or read whole by the one party that
// claimed it, and no user code runs in between, so an unwind cannot expose a torn message.
impl<T> std::panic::UnwindSafe for ArrayChan<T> {}
impl<T> std::panic::RefUnwindSafe for ArrayChan<T> {}

impl<T> ArrayChan<T> {
    pub(crate) fn new(cap: usize) -> ArrayChan<T> {
        assert!(cap >= 1, "the array flavour needs a capacity of at least 1");
        let one_lap = (cap + 1).next_power_of_two();
        let buffer = (0..cap)
            .map(|i| Slot {
                stamp: AtomicUsize::new(i),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect();
        ArrayChan {
            head: Padded(AtomicUsize::new(0)),
            tail: Padded(AtomicUsize::new(0)),
            buffer,
            cap,
            one_lap,
            senders_waiting: WaitQueue::waiting_on(&"channel send"),
            receivers_waiting: WaitQueue::waiting_on(&"channel recv"),
            senders_alive: AtomicUsize::new(1),
            receivers_alive: AtomicUsize::new(1),
        }
    }

    /// The position after `pos`: the next index, or index 0 of the next lap.
    fn next(&self, pos: usize) -> usize {
        let index = pos & (self.one_lap - 1);
        let lap = pos & !(self.one_lap - 1);
        if index + 1 < self.cap {
            pos + 1
        } else {
            lap.wrapping_add(self.one_lap)
        }
    }

    /// Pushes if there is room.
    fn try_push(&self, value: T) -> Result<(), T> {
        let mut backoff = Backoff::new();
        let mut tail = self.tail.0.load(Relaxed);
        loop {
            let slot = &self.buffer[tail & (self.one_lap - 1)];
            let stamp = slot.stamp.load(Acquire);
            if stamp == tail {
                // The slot is free in this lap: claim the position.
                match self
                    .tail
                    .0
                    .compare_exchange_weak(tail, self.next(tail), SeqCst, Relaxed)
                {
                    Ok(_) => {
                        // SAFETY: the CAS made this sender the only writer of the slot for this
                        // lap; receivers read it only after the stamp below.
                        unsafe { (*slot.value.get()).write(value) };
                        slot.stamp.store(tail + 1, Release);
                        return Ok(());
                    }
                    Err(t) => tail = t,
                }
            } else if stamp.wrapping_add(self.one_lap) == tail + 1 {
                // The slot still holds last lap's value: full, unless a receiver is mid-read.
                fence(SeqCst);
                let head = self.head.0.load(Relaxed);
                if head.wrapping_add(self.one_lap) == tail {
                    return Err(value);
                }
                backoff.snooze();
                tail = self.tail.0.load(Relaxed);
            } else {
                // Another sender moved on meanwhile.
                backoff.snooze();
                tail = self.tail.0.load(Relaxed);
            }
        }
    }

    /// Pops if there is a value.
    fn try_pop(&self) -> Option<T> {
        let mut backoff = Backoff::new();
        let mut head = self.head.0.load(Relaxed);
        loop {
            let slot = &self.buffer[head & (self.one_lap - 1)];
            let stamp = slot.stamp.load(Acquire);
            if head + 1 == stamp {
                // The slot holds this lap's value: claim the position.
                match self
                    .head
                    .0
                    .compare_exchange_weak(head, self.next(head), SeqCst, Relaxed)
                {
                    Ok(_) => {
                        // SAFETY: the CAS made this receiver the only reader of the slot for this
                        // lap, and the Acquire load of the stamp saw the sender's write.
                        let value = unsafe { (*slot.value.get()).assume_init_read() };
                        slot.stamp.store(head.wrapping_add(self.one_lap), Release);
                        return Some(value);
                    }
                    Err(h) => head = h,
                }
            } else if stamp == head {
                // The slot is free: empty, unless a sender is mid-write.
                fence(SeqCst);
                let tail = self.tail.0.load(Relaxed);
                if tail == head {
                    return None;
                }
                backoff.snooze();
                head = self.head.0.load(Relaxed);
            } else {
                backoff.snooze();
                head = self.head.0.load(Relaxed);
            }
        }
    }

    #[track_caller]
    pub(crate) fn send(&self, value: T, wait: Wait) -> Result<(), (T, Fail)> {
        if self.receivers_alive.load(SeqCst) == 0 {
            return Err((value, Fail::Disconnected));
        }
        let value = match self.try_push(value) {
            Ok(()) => {
                self.pushed();
                return Ok(());
            }
            Err(v) => v,
        };
        let Wait::Until(deadline) = wait else {
            return Err((value, Fail::WouldBlock));
        };
        let mut pending = Some(value);
        let mut disconnected = false;
        self.senders_waiting.wait_until(deadline, || {
            if self.receivers_alive.load(SeqCst) == 0 {
                disconnected = true;
                return true;
            }
            match self.try_push(pending.take().expect("pending message")) {
                Ok(()) => true,
                Err(v) => {
                    pending = Some(v);
                    false
                }
            }
        });
        match pending {
            None => {
                self.pushed();
                Ok(())
            }
            Some(v) if disconnected => Err((v, Fail::Disconnected)),
            Some(v) => Err((v, Fail::Timeout)),
        }
    }

    /// After a successful push: wakes a waiting receiver. If the last receiver went while this
    /// sender pushed (it checked `receivers_alive` before), nobody will take the message: drop
    /// it, with whatever else is left, as `drop_receiver` does. Both sides read or write
    /// `receivers_alive` and the ring's positions with SeqCst operations, so either this load
    /// sees 0 or that discard finds the message.
    fn pushed(&self) {
        if self.receivers_alive.load(SeqCst) == 0 {
            self.discard_all();
            return;
        }
        self.receivers_waiting.notify_one_after_rmw();
    }

    #[track_caller]
    pub(crate) fn recv(&self, wait: Wait) -> Result<T, Fail> {
        if let Some(v) = self.try_pop() {
            self.senders_waiting.notify_one_after_rmw();
            return Ok(v);
        }
        let deadline: Option<Instant> = match wait {
            Wait::Until(d) => d,
            Wait::Never => {
                return if self.senders_alive.load(SeqCst) == 0 {
                    // A last message may have landed just before the disconnection.
                    self.try_pop().ok_or(Fail::Disconnected)
                } else {
                    Err(Fail::WouldBlock)
                };
            }
        };
        let mut got = None;
        let mut disconnected = false;
        self.receivers_waiting.wait_until(deadline, || {
            got = self.try_pop();
            if got.is_some() {
                return true;
            }
            if self.senders_alive.load(SeqCst) == 0 {
                got = self.try_pop();
                disconnected = got.is_none();
                return true;
            }
            false
        });
        match got {
            Some(v) => {
                self.senders_waiting.notify_one_after_rmw();
                Ok(v)
            }
            None if disconnected => Err(Fail::Disconnected),
            None => Err(Fail::Timeout),
        }
    }

    /// Messages in the ring.
    pub(crate) fn len(&self) -> usize {
        loop {
            let tail = self.tail.0.load(SeqCst);
            let head = self.head.0.load(SeqCst);
            if self.tail.0.load(SeqCst) == tail {
                let hix = head & (self.one_lap - 1);
                let tix = tail & (self.one_lap - 1);
                return if hix < tix {
                    tix - hix
                } else if hix > tix {
                    self.cap - hix + tix
                } else if tail == head {
                    0
                } else {
                    self.cap
                };
            }
        }
    }

    /// Whether a receive would not wait: a message is in the ring, or every sender is gone
    /// (see `channel::select`).
    pub(crate) fn recv_ready(&self) -> bool {
        self.len() > 0 || self.senders_alive.load(SeqCst) == 0
    }

    /// Whether a send would not wait: there is room, or every receiver is gone.
    pub(crate) fn send_ready(&self) -> bool {
        self.len() < self.cap || self.receivers_alive.load(SeqCst) == 0
    }

    /// Registers a select's receive (a wake-up only: the select then tries again). `None`: a
    /// receive is ready now (checked after registering, so no notification can be missed) and
    /// nothing stays registered.
    pub(crate) fn register_recv(&self, unparker: Unparker) -> Option<BoxedNode<()>> {
        register_unless(&self.receivers_waiting, unparker, || self.recv_ready())
    }

    /// As [`register_recv`](Self::register_recv), for a send.
    pub(crate) fn register_send(&self, unparker: Unparker) -> Option<BoxedNode<()>> {
        register_unless(&self.senders_waiting, unparker, || self.send_ready())
    }

    /// Takes a receive registration out; false if a notifier popped it.
    pub(crate) fn unregister_recv(&self, node: BoxedNode<()>) -> bool {
        self.receivers_waiting.unregister(node)
    }

    /// Takes a send registration out; false if a notifier popped it.
    pub(crate) fn unregister_send(&self, node: BoxedNode<()>) -> bool {
        self.senders_waiting.unregister(node)
    }

    /// A select woken by a push that did not receive here hands the wake-up on.
    pub(crate) fn pass_on_recv(&self) {
        std::sync::atomic::fence(SeqCst);
        self.receivers_waiting.notify_one_after_rmw();
    }

    /// A select woken by a pop that did not send here hands the wake-up on.
    pub(crate) fn pass_on_send(&self) {
        std::sync::atomic::fence(SeqCst);
        self.senders_waiting.notify_one_after_rmw();
    }

    pub(crate) fn capacity(&self) -> usize {
        self.cap
    }

    pub(crate) fn add_sender(&self) {
        self.senders_alive.fetch_add(1, SeqCst);
    }

    pub(crate) fn add_receiver(&self) {
        self.receivers_alive.fetch_add(1, SeqCst);
    }

    pub(crate) fn drop_sender(&self) {
        if self.senders_alive.fetch_sub(1, SeqCst) == 1 {
            self.receivers_waiting.notify_all();
        }
    }

    /// The last receiver gone: waiting senders wake up and fail, and the messages in the ring,
    /// which nobody can receive any more, are dropped now rather than with the last sender
    /// (like crossbeam's `discard_all_messages`).
    pub(crate) fn drop_receiver(&self) {
        if self.receivers_alive.fetch_sub(1, SeqCst) == 1 {
            self.senders_waiting.notify_all();
            self.discard_all();
        }
    }

    /// Drops every message in the ring (see [`drop_each`]). `try_pop` waits out a push in
    /// progress, so a sender that claimed a slot before this began has its message dropped here.
    /// One that pushes after it sees `receivers_alive == 0` and discards again (see `send`).
    fn discard_all(&self) {
        drop_each(std::iter::from_fn(|| self.try_pop()));
    }
}

/// Registers a select's wake-up on `waiting`, unless `ready` holds once it is registered
/// (checked after registering, so that no notification can be missed; then nothing stays
/// registered and the answer is `None`).
fn register_unless(
    waiting: &WaitQueue,
    unparker: Unparker,
    ready: impl Fn() -> bool,
) -> Option<BoxedNode<()>> {
    let node = waiting.register_node(unparker);
    if ready() {
        waiting.unregister(node);
        return None;
    }
    Some(node)
}

impl<T> Drop for ArrayChan<T> {
    /// Drops the messages still in the ring, one at a time: a panicking `Drop` propagates from
    /// the last handle's drop, after the other messages are dropped too (see [`drop_each`]).
    fn drop(&mut self) {
        drop_each(std::iter::from_fn(|| self.try_pop()));
    }
}

/// loom models of the ring: the real `ArrayChan`, with its non-blocking `send` and `recv` (a
/// blocking one parks, which is the wait queue's model), from loom threads. At most one thread
/// at a time waits for another's progress (loom cannot get through two spinning at once).
#[cfg(all(test, loom))]
mod loom_tests {
    use std::sync::Arc;

    use loom::thread;

    use super::ArrayChan;
    use crate::channel::locked::{Fail, Wait};

    type Chan = ArrayChan<Arc<usize>>;

    fn new_chan(cap: usize) -> Arc<Chan> {
        let chan = ArrayChan::new(cap);
        chan.senders_waiting.loom_init();
        chan.receivers_waiting.loom_init();
        Arc::new(chan)
    }

    /// Sends `value`, yielding while the ring is full.
    fn send(chan: &Chan, mut value: Arc<usize>) {
        loop {
            match chan.send(value, Wait::Never) {
                Ok(()) => return,
                Err((v, Fail::WouldBlock)) => value = v,
                Err((_, fail)) => panic!("send failed: {fail:?}"),
            }
            thread::yield_now();
        }
    }

    /// Receives one message, yielding while the ring is empty.
    fn recv(chan: &Chan) -> usize {
        loop {
            match chan.recv(Wait::Never) {
                Ok(v) => return *v,
                Err(Fail::WouldBlock) => thread::yield_now(),
                Err(fail) => panic!("recv failed: {fail:?}"),
            }
        }
    }

    /// Two senders race for the tail of a ring of two slots while a receiver takes both
    /// messages: each arrives exactly once.
    #[test]
    fn loom_ring_two_senders_race_for_the_tail() {
        loom::model(|| {
            let chan = new_chan(2);
            chan.add_sender();
            let senders: Vec<_> = (0..2)
                .map(|i| {
                    let chan = chan.clone();
                    thread::spawn(move || send(&chan, Arc::new(i)))
                })
                .collect();
            let mut got = [recv(&chan), recv(&chan)];
            for s in senders {
                s.join().unwrap();
            }
            got.sort_unstable();
            assert_eq!(got, [0, 1]);
        });
    }

    /// One sender, three messages through a ring of two slots (the positions wrap a lap; the
    /// sender meets a full ring, the receiver an empty one): in order, none lost or doubled,
    /// and the one left in the ring is dropped once with it.
    #[test]
    fn loom_ring_wraps_a_lap_in_order() {
        loom::model(|| {
            let chan = new_chan(2);
            let messages: Vec<Arc<usize>> = (0..4).map(Arc::new).collect();
            let sender = {
                let chan = chan.clone();
                let messages = messages.clone();
                thread::spawn(move || {
                    for m in messages {
                        send(&chan, m);
                    }
                })
            };
            let got = [recv(&chan), recv(&chan), recv(&chan)];
            sender.join().unwrap();
            assert_eq!(got, [0, 1, 2]);
            drop(chan);
            for m in &messages {
                assert_eq!(
                    Arc::strong_count(m),
                    1,
                    "message {m} leaked or dropped twice"
                );
            }
        });
    }

    /// Two receivers race for the head of a full ring while the sender pushes a third
    /// message as soon as a slot frees: every message is taken by exactly one of them.
    #[test]
    fn loom_ring_two_receivers_race_for_the_head() {
        loom::model(|| {
            let chan = new_chan(2);
            chan.add_receiver();
            send(&chan, Arc::new(0));
            send(&chan, Arc::new(1));
            let receivers: Vec<_> = (0..2)
                .map(|_| {
                    let chan = chan.clone();
                    thread::spawn(move || recv(&chan))
                })
                .collect();
            send(&chan, Arc::new(2));
            let mut got: Vec<usize> = receivers.into_iter().map(|r| r.join().unwrap()).collect();
            got.push(recv(&chan));
            got.sort_unstable();
            assert_eq!(got, [0, 1, 2]);
        });
    }
}
