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

mod array;
mod error;
pub(crate) mod locked;
mod select;
mod select_macro;
mod timer;

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use array::ArrayChan;
use locked::{Fail, LockedChan, Wait};

#[doc(inline)]
pub use crate::{select, select_biased};
pub use error::{
    ReadyTimeoutError, RecvError, RecvTimeoutError, SelectTimeoutError, SendError,
    SendTimeoutError, TryReadyError, TryRecvError, TrySelectError, TrySendError,
};
pub use select::{Select, SelectedOperation};

/// A channel holding at most `cap` messages; `cap == 0` makes every send a rendezvous with a
/// receiver.
///
/// Any `cap` is accepted. Up to 65,536 the buffer is a ring allocated up front (one slot per
/// message of capacity); above that, memory grows with the messages actually queued, so
/// `bounded(usize::MAX)` is a channel that never fills rather than an allocation failure.
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
    let chan = Arc::new(match cap {
        Some(n) if (ARRAY_MIN_CAP..=ARRAY_MAX_CAP).contains(&n) => Flavor::Array(ArrayChan::new(n)),
        _ => Flavor::Locked(LockedChan::new(VecDeque::new(), cap)),
    });
    (Sender { chan: chan.clone() }, Receiver { chan })
}

/// From this capacity on, a bounded channel uses the lock-free ring.
///
/// With a tiny buffer nearly every operation finds it full or empty and must wake the other
/// side; there a direct hand-off under one lock wins (ping-pong over `bounded(3)`: 149 ns per
/// round trip against 279 for the ring at `bounded(4)`, on the project's 2-core machine). With
/// room to spare, most operations never wait, and the ring's lock-free fast path wins (16 x 16
/// MPMC through `bounded(1024)`: 17-27 ns per message, against 130-175 for the locked engine).
const ARRAY_MIN_CAP: usize = 4;

/// Up to this capacity a bounded channel uses the ring, whose slots are allocated up front.
/// Beyond it the locked engine takes over, whose buffer grows with what is queued: a huge
/// capacity (used as "no practical limit") must not reserve gigabytes, or overflow the
/// allocation size and panic, the moment the channel is made.
const ARRAY_MAX_CAP: usize = 1 << 16;

/// The two engines behind a channel: the lock-free ring for `bounded(n)` with
/// `ARRAY_MIN_CAP <= n <= ARRAY_MAX_CAP`, and the locked hand-off engine for small, zero
/// (rendezvous), huge and unbounded capacities.
// One per channel, behind an Arc: the variants' size difference costs nothing, and boxing the
// larger one would add an indirection to every operation.
#[allow(clippy::large_enum_variant)]
enum Flavor<T> {
    Array(ArrayChan<T>),
    Locked(LockedChan<T, VecDeque<T>>),
    /// Receive-only timer channels (`after`/`at`, `tick`): made only as `Flavor<Instant>`, with
    /// the identity as the function (which lets the generic code name a `T`).
    At(timer::At, fn(Instant) -> T),
    Tick(timer::Tick, fn(Instant) -> T),
    /// `never()`: nothing ever arrives, nothing disconnects.
    Never,
}

impl<T> Flavor<T> {
    #[track_caller]
    fn send(&self, value: T, wait: Wait) -> Result<(), (T, Fail)> {
        match self {
            Flavor::Array(c) => c.send(value, wait),
            Flavor::Locked(c) => c.send(value, wait),
            // No Sender of a timer channel exists.
            _ => Err((value, Fail::Disconnected)),
        }
    }

    #[track_caller]
    fn recv(&self, wait: Wait) -> Result<T, Fail> {
        match self {
            Flavor::Array(c) => c.recv(wait),
            Flavor::Locked(c) => c.recv(wait),
            Flavor::At(c, f) => c.recv(wait).map(f),
            Flavor::Tick(c, f) => c.recv(wait).map(f),
            Flavor::Never => Err(timer::never_recv(wait)),
        }
    }

    fn len(&self) -> usize {
        match self {
            Flavor::Array(c) => c.len(),
            Flavor::Locked(c) => c.len(),
            Flavor::At(c, _) => c.len(),
            Flavor::Tick(c, _) => c.len(),
            Flavor::Never => 0,
        }
    }

    fn capacity(&self) -> Option<usize> {
        match self {
            Flavor::Array(c) => Some(c.capacity()),
            Flavor::Locked(c) => c.capacity(),
            Flavor::At(..) | Flavor::Tick(..) => Some(1),
            Flavor::Never => Some(0),
        }
    }

    fn is_full(&self) -> bool {
        match self {
            Flavor::Array(c) => c.len() >= c.capacity(),
            Flavor::Locked(c) => c.is_full(),
            Flavor::At(c, _) => c.len() == 1,
            Flavor::Tick(c, _) => c.len() == 1,
            Flavor::Never => true,
        }
    }

    /// Whether a receive would not wait (a select's readiness).
    fn recv_ready(&self) -> bool {
        match self {
            Flavor::Array(c) => c.recv_ready(),
            Flavor::Locked(c) => c.recv_ready(),
            Flavor::At(c, _) => c.len() > 0,
            Flavor::Tick(c, _) => c.len() > 0,
            Flavor::Never => false,
        }
    }

    /// Whether a send would not wait (a select's readiness).
    fn send_ready(&self) -> bool {
        match self {
            Flavor::Array(c) => c.send_ready(),
            Flavor::Locked(c) => c.send_ready(),
            _ => false,
        }
    }

    fn add_sender(&self) {
        match self {
            Flavor::Array(c) => c.add_sender(),
            Flavor::Locked(c) => c.add_sender(),
            _ => {}
        }
    }

    fn add_receiver(&self) {
        match self {
            Flavor::Array(c) => c.add_receiver(),
            Flavor::Locked(c) => c.add_receiver(),
            _ => {}
        }
    }

    fn drop_sender(&self) {
        match self {
            Flavor::Array(c) => c.drop_sender(),
            Flavor::Locked(c) => c.drop_sender(),
            _ => {}
        }
    }

    fn drop_receiver(&self) {
        match self {
            Flavor::Array(c) => c.drop_receiver(),
            Flavor::Locked(c) => c.drop_receiver(),
            _ => {}
        }
    }
}

/// A channel that delivers the `Instant` `duration` from now, once; then nothing more. (A
/// `duration` too large to represent is a channel that never delivers.)
///
/// ```
/// use std::time::Duration;
/// let timeout = greenlet::channel::after(Duration::from_millis(10));
/// let (_tx, rx) = greenlet::channel::unbounded::<i32>();
/// greenlet::select! {
///     recv(rx) -> msg => panic!("unexpected {msg:?}"),
///     recv(timeout) -> at => assert!(at.is_ok()),
/// }
/// ```
pub fn after(duration: Duration) -> Receiver<Instant> {
    match crate::deadline::after(duration) {
        Some(when) => at(when),
        None => never(),
    }
}

/// A channel that delivers `when`, once, at `when`; then nothing more.
///
/// ```
/// use std::time::{Duration, Instant};
/// let when = Instant::now() + Duration::from_millis(5);
/// assert_eq!(greenlet::channel::at(when).recv(), Ok(when));
/// ```
pub fn at(when: Instant) -> Receiver<Instant> {
    Receiver {
        chan: Arc::new(Flavor::At(timer::At::new(when), std::convert::identity)),
    }
}

/// A channel that delivers an `Instant` every `duration` (the time it was due). Ticks nobody
/// takes are dropped: at most one waits.
///
/// ```
/// use std::time::Duration;
/// let ticker = greenlet::channel::tick(Duration::from_millis(2));
/// let first = ticker.recv().unwrap();
/// let second = ticker.recv().unwrap();
/// assert!(second >= first + Duration::from_millis(2));
/// ```
pub fn tick(duration: Duration) -> Receiver<Instant> {
    match crate::deadline::after(duration) {
        Some(first) => Receiver {
            chan: Arc::new(Flavor::Tick(
                timer::Tick::new(first, duration),
                std::convert::identity,
            )),
        },
        None => never(),
    }
}

/// A channel that never delivers anything and is never disconnected: a `select!` arm that is
/// switched off.
///
/// ```
/// use std::time::Duration;
/// let rx = greenlet::channel::never::<i32>();
/// assert!(rx.recv_timeout(Duration::from_millis(1)).is_err());
/// ```
pub fn never<T>() -> Receiver<T> {
    Receiver {
        chan: Arc::new(Flavor::Never),
    }
}

fn deadline(timeout: Duration) -> Wait {
    Wait::Until(crate::deadline::after(timeout))
}

/// The sending half of a channel. Clone it for more producers.
///
/// ```
/// let (tx, rx) = greenlet::channel::unbounded();
/// for id in 0..3 {
///     let tx = tx.clone(); // one per producer
///     greenlet::spawn(move || tx.send(id).unwrap());
/// }
/// drop(tx); // receivers stop once every sender is gone
/// let mut got: Vec<i32> = rx.iter().collect();
/// got.sort();
/// assert_eq!(got, [0, 1, 2]);
/// ```
pub struct Sender<T> {
    chan: Arc<Flavor<T>>,
}

/// The receiving half of a channel. Clone it for more consumers: each message goes to one.
///
/// ```
/// let (tx, rx) = greenlet::channel::bounded(8);
/// let workers: Vec<_> = (0..2)
///     .map(|_| {
///         let rx = rx.clone(); // each message goes to one of the clones
///         greenlet::spawn(move || rx.iter().count())
///     })
///     .collect();
/// for i in 0..100 {
///     tx.send(i).unwrap();
/// }
/// drop(tx);
/// let total: usize = greenlet::joinall(workers).into_iter().map(Result::unwrap).sum();
/// assert_eq!(total, 100);
/// ```
pub struct Receiver<T> {
    chan: Arc<Flavor<T>>,
}

/// What [`Sender`] and [`Receiver`] both tell about their channel (`$side` names the handle in
/// the examples).
macro_rules! channel_state_methods {
    ($side:literal) => {
        #[doc = concat!(
            "How many messages are buffered.\n\n```\n",
            "let (tx, rx) = greenlet::channel::bounded(4);\n",
            "tx.send(1).unwrap();\ntx.send(2).unwrap();\n",
            "assert_eq!(", $side, ".len(), 2);\n# drop((tx, rx));\n```"
        )]
        pub fn len(&self) -> usize {
            self.chan.len()
        }

        #[doc = concat!(
            "Whether no message is buffered.\n\n```\n",
            "let (tx, rx) = greenlet::channel::unbounded::<u8>();\n",
            "assert!(", $side, ".is_empty());\n# drop((tx, rx));\n```"
        )]
        pub fn is_empty(&self) -> bool {
            self.len() == 0
        }

        #[doc = concat!(
            "The capacity; `None` for an unbounded channel.\n\n```\n",
            "let (tx, rx) = greenlet::channel::bounded::<u8>(3);\n",
            "assert_eq!(", $side, ".capacity(), Some(3));\n",
            "let (tx, rx) = greenlet::channel::unbounded::<u8>();\n",
            "assert_eq!(", $side, ".capacity(), None);\n# drop((tx, rx));\n```"
        )]
        pub fn capacity(&self) -> Option<usize> {
            self.chan.capacity()
        }

        #[doc = concat!(
            "Whether the channel is full (a send would wait); always true for `bounded(0)`.\n\n",
            "```\nlet (tx, rx) = greenlet::channel::bounded(1);\n",
            "assert!(!", $side, ".is_full());\ntx.send(1).unwrap();\n",
            "assert!(", $side, ".is_full());\n# drop((tx, rx));\n```"
        )]
        pub fn is_full(&self) -> bool {
            self.chan.is_full()
        }

        /// The channel's identity, for `Select`.
        fn chan_addr(&self) -> usize {
            Arc::as_ptr(&self.chan) as *const () as usize
        }
    };
}

impl<T> Sender<T> {
    /// Sends a message, waiting while the channel is full (for a receiver when `cap == 0`).
    /// Fails, handing the message back, when every receiver is gone.
    ///
    /// ```
    /// let (tx, rx) = greenlet::channel::bounded(0); // rendezvous
    /// let receiver = greenlet::spawn(move || rx.recv().unwrap());
    /// tx.send("hand-off").unwrap(); // waits until the receiver takes it
    /// assert_eq!(receiver.join().unwrap(), "hand-off");
    /// ```
    #[track_caller]
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.chan
            .send(value, Wait::Until(None))
            .map_err(|(v, _)| SendError(v))
    }

    /// Sends a message if that needs no waiting (for `bounded(0)`: if a receiver is waiting).
    ///
    /// ```
    /// use greenlet::channel::{bounded, TrySendError};
    /// let (tx, _rx) = bounded(1);
    /// assert_eq!(tx.try_send(1), Ok(()));
    /// assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
    /// ```
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.chan
            .send(value, Wait::Never)
            .map_err(|(v, why)| match why {
                Fail::Disconnected => TrySendError::Disconnected(v),
                _ => TrySendError::Full(v),
            })
    }

    /// Sends a message, waiting at most `timeout` for room.
    ///
    /// ```
    /// use std::time::Duration;
    /// use greenlet::channel::{bounded, SendTimeoutError};
    /// let (tx, _rx) = bounded(0); // nobody receives
    /// let r = tx.send_timeout("hello", Duration::from_millis(5));
    /// assert_eq!(r, Err(SendTimeoutError::Timeout("hello")));
    /// ```
    #[track_caller]
    pub fn send_timeout(&self, value: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        self.chan
            .send(value, deadline(timeout))
            .map_err(|(v, why)| match why {
                Fail::Disconnected => SendTimeoutError::Disconnected(v),
                _ => SendTimeoutError::Timeout(v),
            })
    }

    /// Sends a message, waiting until `deadline` at most for room.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use greenlet::channel::{bounded, SendTimeoutError};
    /// let (tx, _rx) = bounded(0); // nobody receives
    /// let r = tx.send_deadline(1, Instant::now() + Duration::from_millis(5));
    /// assert_eq!(r, Err(SendTimeoutError::Timeout(1)));
    /// ```
    pub fn send_deadline(&self, value: T, deadline: Instant) -> Result<(), SendTimeoutError<T>> {
        self.chan
            .send(value, Wait::Until(Some(deadline)))
            .map_err(|(v, why)| match why {
                Fail::Disconnected => SendTimeoutError::Disconnected(v),
                _ => SendTimeoutError::Timeout(v),
            })
    }

    /// Whether `self` and `other` send on the same channel.
    ///
    /// ```
    /// let (tx, _rx) = greenlet::channel::unbounded::<i32>();
    /// let (other, _) = greenlet::channel::unbounded::<i32>();
    /// assert!(tx.same_channel(&tx.clone()));
    /// assert!(!tx.same_channel(&other));
    /// ```
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }

    /// Completes a select's send with what it reserved (see `locked::Reservation`).
    #[track_caller]
    fn send_reserved(&self, value: T, r: locked::Reservation) -> Result<(), SendError<T>> {
        let sent = match &*self.chan {
            Flavor::Locked(c) => c.send_reserved(value, r),
            other => other.send(value, Wait::Until(None)),
        };
        sent.map_err(|(v, _)| SendError(v))
    }

    channel_state_methods!("tx");
}

impl<T> Receiver<T> {
    /// Receives a message, waiting until one arrives. Fails once every sender is gone and the
    /// channel is empty.
    ///
    /// ```
    /// let (tx, rx) = greenlet::channel::unbounded();
    /// greenlet::spawn(move || tx.send(42).unwrap());
    /// assert_eq!(rx.recv(), Ok(42)); // waits for the message
    /// assert!(rx.recv().is_err()); // then the sender is gone
    /// ```
    #[track_caller]
    pub fn recv(&self) -> Result<T, RecvError> {
        self.chan.recv(Wait::Until(None)).map_err(|_| RecvError)
    }

    /// Receives a message if one is ready.
    ///
    /// ```
    /// use greenlet::channel::{unbounded, TryRecvError};
    /// let (tx, rx) = unbounded::<i32>();
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// drop(tx);
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    /// ```
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.chan.recv(Wait::Never).map_err(|why| match why {
            Fail::Disconnected => TryRecvError::Disconnected,
            _ => TryRecvError::Empty,
        })
    }

    /// Receives a message, waiting at most `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use greenlet::channel::{bounded, RecvTimeoutError};
    /// let (_tx, rx) = bounded::<i32>(1);
    /// assert_eq!(rx.recv_timeout(Duration::from_millis(5)), Err(RecvTimeoutError::Timeout));
    /// ```
    #[track_caller]
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.chan.recv(deadline(timeout)).map_err(|why| match why {
            Fail::Disconnected => RecvTimeoutError::Disconnected,
            _ => RecvTimeoutError::Timeout,
        })
    }

    /// Receives a message, waiting until `deadline` at most.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use greenlet::channel::{bounded, RecvTimeoutError};
    /// let (_tx, rx) = bounded::<i32>(1);
    /// let r = rx.recv_deadline(Instant::now() + Duration::from_millis(5));
    /// assert_eq!(r, Err(RecvTimeoutError::Timeout));
    /// ```
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        self.chan
            .recv(Wait::Until(Some(deadline)))
            .map_err(|why| match why {
                Fail::Disconnected => RecvTimeoutError::Disconnected,
                _ => RecvTimeoutError::Timeout,
            })
    }

    /// Whether `self` and `other` receive from the same channel (every [`never()`] channel is the
    /// same).
    ///
    /// ```
    /// let (_tx, rx) = greenlet::channel::unbounded::<i32>();
    /// assert!(rx.same_channel(&rx.clone()));
    /// assert!(greenlet::channel::never::<i32>().same_channel(&greenlet::channel::never()));
    /// ```
    pub fn same_channel(&self, other: &Receiver<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
            || matches!((&*self.chan, &*other.chan), (Flavor::Never, Flavor::Never))
    }

    /// A blocking iterator over received messages; ends when every sender is gone.
    ///
    /// ```
    /// let (tx, rx) = greenlet::channel::unbounded();
    /// greenlet::spawn(move || {
    ///     for i in 1..=3 {
    ///         tx.send(i).unwrap();
    ///     }
    /// });
    /// assert_eq!(rx.iter().sum::<i32>(), 6); // ends when the sender is dropped
    /// ```
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// A non-blocking iterator over the messages ready now.
    ///
    /// ```
    /// let (tx, rx) = greenlet::channel::unbounded();
    /// tx.send(1).unwrap();
    /// tx.send(2).unwrap();
    /// assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1, 2]); // never waits
    /// ```
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { rx: self }
    }

    channel_state_methods!("rx");
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.add_sender();
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.chan.add_receiver();
        Receiver {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.chan.drop_receiver();
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
///
/// ```
/// let (tx, rx) = greenlet::channel::unbounded();
/// tx.send('a').unwrap();
/// drop(tx);
/// let mut it = rx.iter();
/// assert_eq!(it.next(), Some('a'));
/// assert_eq!(it.next(), None);
/// ```
pub struct Iter<'a, T> {
    rx: &'a Receiver<T>,
}

/// An owning blocking iterator over a [`Receiver`]'s messages.
///
/// ```
/// let (tx, rx) = greenlet::channel::unbounded();
/// tx.send(1).unwrap();
/// drop(tx);
/// let all: Vec<i32> = rx.into_iter().collect();
/// assert_eq!(all, [1]);
/// ```
pub struct IntoIter<T> {
    rx: Receiver<T>,
}

/// A non-blocking iterator over a [`Receiver`]'s ready messages.
///
/// ```
/// let (_tx, rx) = greenlet::channel::unbounded::<i32>();
/// assert_eq!(rx.try_iter().next(), None); // empty: ends at once
/// ```
pub struct TryIter<'a, T> {
    rx: &'a Receiver<T>,
}

/// `Debug` (the name alone, as for the handles) and `Iterator` (`$next` on the receiver a step,
/// ending at its first error) for the receiver's iterators.
macro_rules! receiver_iterators {
    ($($name:ident<$($lt:lifetime,)? T> => $next:ident;)*) => {$(
        impl<T> fmt::Debug for $name<$($lt,)? T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }

        impl<T> Iterator for $name<$($lt,)? T> {
            type Item = T;
            #[track_caller]
            fn next(&mut self) -> Option<T> {
                self.rx.$next().ok()
            }
        }
    )*};
}

receiver_iterators! {
    Iter<'_, T> => recv;
    IntoIter<T> => recv;
    TryIter<'_, T> => try_recv;
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
