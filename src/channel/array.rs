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

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering::*};
use std::time::Instant;

use super::locked::{Fail, Wait};
use crate::park::{Unparker, WaitQueue};

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
            senders_waiting: WaitQueue::new(),
            receivers_waiting: WaitQueue::new(),
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
        let mut spins = 0u32;
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
                std::sync::atomic::fence(SeqCst);
                let head = self.head.0.load(Relaxed);
                if head.wrapping_add(self.one_lap) == tail {
                    return Err(value);
                }
                backoff(&mut spins);
                tail = self.tail.0.load(Relaxed);
            } else {
                // Another sender moved on meanwhile.
                backoff(&mut spins);
                tail = self.tail.0.load(Relaxed);
            }
        }
    }

    /// Pops if there is a value.
    fn try_pop(&self) -> Option<T> {
        let mut spins = 0u32;
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
                std::sync::atomic::fence(SeqCst);
                let tail = self.tail.0.load(Relaxed);
                if tail == head {
                    return None;
                }
                backoff(&mut spins);
                head = self.head.0.load(Relaxed);
            } else {
                backoff(&mut spins);
                head = self.head.0.load(Relaxed);
            }
        }
    }

    pub(crate) fn send(&self, value: T, wait: Wait) -> Result<(), (T, Fail)> {
        if self.receivers_alive.load(SeqCst) == 0 {
            return Err((value, Fail::Disconnected));
        }
        let value = match self.try_push(value) {
            Ok(()) => {
                self.receivers_waiting.notify_one();
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
                self.receivers_waiting.notify_one();
                Ok(())
            }
            Some(v) if disconnected => Err((v, Fail::Disconnected)),
            Some(v) => Err((v, Fail::Timeout)),
        }
    }

    pub(crate) fn recv(&self, wait: Wait) -> Result<T, Fail> {
        if let Some(v) = self.try_pop() {
            self.senders_waiting.notify_one();
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
                self.senders_waiting.notify_one();
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
    pub(crate) fn register_recv(&self, unparker: Unparker) -> Option<u64> {
        let ticket = self.receivers_waiting.register(unparker);
        if self.recv_ready() {
            self.receivers_waiting.unregister(ticket);
            return None;
        }
        Some(ticket)
    }

    /// As [`register_recv`](Self::register_recv), for a send.
    pub(crate) fn register_send(&self, unparker: Unparker) -> Option<u64> {
        let ticket = self.senders_waiting.register(unparker);
        if self.send_ready() {
            self.senders_waiting.unregister(ticket);
            return None;
        }
        Some(ticket)
    }

    /// Takes a receive registration out; false if a notifier popped it.
    pub(crate) fn unregister_recv(&self, ticket: u64) -> bool {
        self.receivers_waiting.unregister(ticket)
    }

    /// Takes a send registration out; false if a notifier popped it.
    pub(crate) fn unregister_send(&self, ticket: u64) -> bool {
        self.senders_waiting.unregister(ticket)
    }

    /// A select woken by a push that did not receive here hands the wake-up on.
    pub(crate) fn pass_on_recv(&self) {
        std::sync::atomic::fence(SeqCst);
        self.receivers_waiting.notify_one();
    }

    /// A select woken by a pop that did not send here hands the wake-up on.
    pub(crate) fn pass_on_send(&self) {
        std::sync::atomic::fence(SeqCst);
        self.senders_waiting.notify_one();
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

    pub(crate) fn drop_receiver(&self) {
        if self.receivers_alive.fetch_sub(1, SeqCst) == 1 {
            self.senders_waiting.notify_all();
        }
    }
}

impl<T> Drop for ArrayChan<T> {
    fn drop(&mut self) {
        // Drop the messages still in the ring.
        while self.try_pop().is_some() {}
    }
}

/// Spins briefly, then yields the thread: a competing CAS or a write in progress ends within
/// nanoseconds, unless its thread was preempted.
fn backoff(spins: &mut u32) {
    if *spins < 6 {
        for _ in 0..(1 << *spins) {
            std::hint::spin_loop();
        }
    } else {
        std::thread::yield_now();
    }
    *spins += 1;
}
