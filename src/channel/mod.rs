//! Message passing between greenlets: multi-producer, multi-consumer channels, like Go's `chan`
//! and gevent's `Channel`.
//!
//! [`bounded`] holds at most `cap` messages (`send` waits while it is full); [`unbounded`] never
//! fills. `bounded(0)` is a rendezvous: `send` waits until a receiver is there to take the
//! message. When every [`Sender`] is gone, receivers drain what is queued and then get
//! `Disconnected`; when every [`Receiver`] is gone, `send` hands the message back in
//! [`SendError`]. Nothing sent is lost or delivered twice, even when a waiting sender or receiver
//! is killed or times out.
//!
//! ```
//! let (tx, rx) = greenlet::channel::bounded(16);
//! let producer = greenlet::spawn(move || {
//!     for i in 0..100 {
//!         tx.send(i).unwrap();
//!     }
//! });
//! let total: i32 = rx.iter().sum(); // ends when the producer drops `tx`
//! producer.join().unwrap();
//! assert_eq!(total, 4950);
//! ```

mod error;

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::park::WaitQueue;

pub use error::{
    RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError,
};

/// A channel holding at most `cap` messages; `cap == 0` makes every send a rendezvous with a
/// receiver.
///
/// ```
/// let (tx, rx) = greenlet::channel::bounded(1);
/// tx.send("ping").unwrap();
/// assert!(tx.try_send("full").is_err());
/// assert_eq!(rx.recv().unwrap(), "ping");
/// ```
pub fn bounded<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    new_channel(Some(cap))
}

/// A channel with no capacity limit: `send` never waits.
///
/// ```
/// let (tx, rx) = greenlet::channel::unbounded();
/// for i in 0..1000 {
///     tx.send(i).unwrap();
/// }
/// drop(tx);
/// assert_eq!(rx.iter().count(), 1000);
/// ```
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    new_channel(None)
}

fn new_channel<T>(cap: Option<usize>) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            cap,
            senders: 1,
            receivers: 1,
            waiting_receivers: 0,
        }),
        not_empty: WaitQueue::new(),
        not_full: WaitQueue::new(),
    });
    (Sender { chan: chan.clone() }, Receiver { chan })
}

struct Chan<T> {
    state: Mutex<State<T>>,
    /// Receivers waiting for a message (or for disconnection).
    not_empty: WaitQueue,
    /// Senders waiting for room, a receiver (rendezvous), or disconnection.
    not_full: WaitQueue,
}

struct State<T> {
    queue: VecDeque<T>,
    cap: Option<usize>,
    senders: usize,
    receivers: usize,
    /// Receivers blocked in a receive right now: a rendezvous send may hand each one a message.
    waiting_receivers: usize,
}

impl<T> State<T> {
    /// Whether a send can deliver now.
    fn has_room(&self) -> bool {
        match self.cap {
            None => true,
            Some(0) => self.queue.len() < self.waiting_receivers,
            Some(cap) => self.queue.len() < cap,
        }
    }
}

impl<T> Chan<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // No user code runs under this lock.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends, waiting until `deadline` for room.
    fn send(&self, value: T, deadline: Option<Instant>) -> Result<(), SendTimeoutError<T>> {
        let mut value = Some(value);
        let mut disconnected = false;
        let ready = self.not_full.wait_until(deadline, || {
            let mut s = self.lock();
            if s.receivers == 0 {
                disconnected = true;
                return true;
            }
            if !s.has_room() {
                return false;
            }
            s.queue.push_back(value.take().expect("sent once"));
            true
        });
        match value {
            None => {
                self.not_empty.notify_one();
                Ok(())
            }
            Some(v) if disconnected => Err(SendTimeoutError::Disconnected(v)),
            Some(v) => {
                debug_assert!(!ready);
                Err(SendTimeoutError::Timeout(v))
            }
        }
    }

    /// Receives, waiting until `deadline` for a message.
    fn recv(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        if let Some(v) = self.try_take() {
            return Ok(v);
        }
        // Announce this receiver so that rendezvous senders may proceed.
        self.lock().waiting_receivers += 1;
        self.not_full.notify_one();
        let guard = WaitingReceiver(self);
        let mut got = None;
        let mut disconnected = false;
        self.not_empty.wait_until(deadline, || {
            let mut s = self.lock();
            got = s.queue.pop_front();
            if got.is_none() && s.senders == 0 {
                disconnected = true;
            }
            got.is_some() || disconnected
        });
        drop(guard);
        match got {
            Some(v) => {
                self.not_full.notify_one();
                Ok(v)
            }
            None if disconnected => Err(RecvTimeoutError::Disconnected),
            None => Err(RecvTimeoutError::Timeout),
        }
    }

    fn try_take(&self) -> Option<T> {
        let v = self.lock().queue.pop_front();
        if v.is_some() {
            self.not_full.notify_one();
        }
        v
    }
}

/// Removes a receiver from `waiting_receivers` however it leaves (message, timeout, unwind).
struct WaitingReceiver<'a, T>(&'a Chan<T>);

impl<T> Drop for WaitingReceiver<'_, T> {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.waiting_receivers -= 1;
        // A rendezvous message handed to this receiver but not taken goes to the next receiver.
        if s.cap == Some(0) && s.queue.len() > s.waiting_receivers {
            drop(s);
            self.0.not_empty.notify_one();
        }
    }
}

/// The sending half of a channel. Clone it for more producers.
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving half of a channel. Clone it for more consumers: each message goes to one.
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
}

impl<T> Sender<T> {
    /// Sends a message, waiting while the channel is full (for a receiver when `cap == 0`).
    /// Fails, handing the message back, when every receiver is gone.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.chan
            .send(value, None)
            .map_err(|e| SendError(e.into_inner()))
    }

    /// Sends a message if that needs no waiting.
    ///
    /// ```
    /// use greenlet::channel::{bounded, TrySendError};
    /// let (tx, _rx) = bounded(1);
    /// assert_eq!(tx.try_send(1), Ok(()));
    /// assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
    /// ```
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let mut s = self.chan.lock();
        if s.receivers == 0 {
            return Err(TrySendError::Disconnected(value));
        }
        if !s.has_room() {
            return Err(TrySendError::Full(value));
        }
        s.queue.push_back(value);
        drop(s);
        self.chan.not_empty.notify_one();
        Ok(())
    }

    /// Sends a message, waiting at most `timeout` for room.
    pub fn send_timeout(&self, value: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        self.chan.send(value, Instant::now().checked_add(timeout))
    }

    /// How many messages are queued.
    pub fn len(&self) -> usize {
        self.chan.lock().queue.len()
    }

    /// Whether no message is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The capacity; `None` for an unbounded channel.
    pub fn capacity(&self) -> Option<usize> {
        self.chan.lock().cap
    }
}

impl<T> Receiver<T> {
    /// Receives a message, waiting until one arrives. Fails once every sender is gone and the
    /// channel is empty.
    pub fn recv(&self) -> Result<T, RecvError> {
        self.chan.recv(None).map_err(|_| RecvError)
    }

    /// Receives a message if one is queued.
    ///
    /// ```
    /// use greenlet::channel::{unbounded, TryRecvError};
    /// let (tx, rx) = unbounded::<i32>();
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// drop(tx);
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    /// ```
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        if let Some(v) = self.chan.try_take() {
            return Ok(v);
        }
        if self.chan.lock().senders == 0 {
            // A sender may have pushed and then dropped in between: look once more.
            return self.chan.try_take().ok_or(TryRecvError::Disconnected);
        }
        Err(TryRecvError::Empty)
    }

    /// Receives a message, waiting at most `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use greenlet::channel::{bounded, RecvTimeoutError};
    /// let (_tx, rx) = bounded::<i32>(1);
    /// assert_eq!(rx.recv_timeout(Duration::from_millis(5)), Err(RecvTimeoutError::Timeout));
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.chan.recv(Instant::now().checked_add(timeout))
    }

    /// A blocking iterator over received messages; ends when every sender is gone.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// How many messages are queued.
    pub fn len(&self) -> usize {
        self.chan.lock().queue.len()
    }

    /// Whether no message is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The capacity; `None` for an unbounded channel.
    pub fn capacity(&self) -> Option<usize> {
        self.chan.lock().cap
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.lock().senders += 1;
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.chan.lock().receivers += 1;
        Receiver {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut s = self.chan.lock();
        s.senders -= 1;
        if s.senders == 0 {
            drop(s);
            self.chan.not_empty.notify_all();
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut s = self.chan.lock();
        s.receivers -= 1;
        if s.receivers == 0 {
            drop(s);
            self.chan.not_full.notify_all();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

/// A blocking iterator over a [`Receiver`]'s messages.
pub struct Iter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

/// An owning blocking iterator over a [`Receiver`]'s messages.
pub struct IntoIter<T> {
    rx: Receiver<T>,
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;
    fn into_iter(self) -> IntoIter<T> {
        IntoIter { rx: self }
    }
}
