//! The channel error types, mirroring `std::sync::mpsc`'s.

use std::fmt;

/// `send` failed because every receiver is gone; the message is handed back.
///
/// ```
/// let (tx, rx) = greenlet::channel::unbounded();
/// drop(rx);
/// let err = tx.send("lost?").unwrap_err();
/// assert_eq!(err.0, "lost?"); // the value comes back
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SendError<T>(pub T);

/// Why `try_send` did not send; the message is handed back.
///
/// ```
/// use greenlet::channel::{bounded, TrySendError};
/// let (tx, rx) = bounded(1);
/// tx.try_send(1).unwrap();
/// assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
/// drop(rx);
/// assert_eq!(tx.try_send(3), Err(TrySendError::Disconnected(3)));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// The channel is full (or, for `bounded(0)`, no receiver is waiting).
    Full(T),
    /// Every receiver is gone.
    Disconnected(T),
}

/// Why `send_timeout` did not send; the message is handed back.
///
/// ```
/// use std::time::Duration;
/// use greenlet::channel::{bounded, SendTimeoutError};
/// let (tx, _rx) = bounded(0); // nobody receives
/// let r = tx.send_timeout(5, Duration::from_millis(2));
/// assert_eq!(r, Err(SendTimeoutError::Timeout(5)));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum SendTimeoutError<T> {
    /// The timeout passed with the channel still full.
    Timeout(T),
    /// Every receiver is gone.
    Disconnected(T),
}

/// `recv` failed: every sender is gone and the channel is empty.
///
/// ```
/// let (tx, rx) = greenlet::channel::unbounded::<i32>();
/// drop(tx);
/// assert_eq!(rx.recv(), Err(greenlet::channel::RecvError));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvError;

/// Why `try_recv` returned no message.
///
/// ```
/// use greenlet::channel::{unbounded, TryRecvError};
/// let (tx, rx) = unbounded::<i32>();
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
/// drop(tx);
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing is queued right now.
    Empty,
    /// Nothing is queued and every sender is gone.
    Disconnected,
}

/// Why `recv_timeout` returned no message.
///
/// ```
/// use std::time::Duration;
/// use greenlet::channel::{unbounded, RecvTimeoutError};
/// let (tx, rx) = unbounded::<i32>();
/// assert_eq!(rx.recv_timeout(Duration::from_millis(2)), Err(RecvTimeoutError::Timeout));
/// drop(tx);
/// assert_eq!(rx.recv_timeout(Duration::from_millis(2)), Err(RecvTimeoutError::Disconnected));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvTimeoutError {
    /// The timeout passed with nothing queued.
    Timeout,
    /// Nothing is queued and every sender is gone.
    Disconnected,
}

impl<T> SendTimeoutError<T> {
    /// The message that was not sent.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (tx, _rx) = greenlet::channel::bounded(0);
    /// let err = tx.send_timeout(String::from("kept"), Duration::from_millis(1)).unwrap_err();
    /// assert_eq!(err.into_inner(), "kept");
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            SendTimeoutError::Timeout(v) | SendTimeoutError::Disconnected(v) => v,
        }
    }
}

impl<T> TrySendError<T> {
    /// The message that was not sent.
    ///
    /// ```
    /// use greenlet::channel::bounded;
    /// let (tx, _rx) = bounded(1);
    /// tx.try_send(1).unwrap();
    /// assert_eq!(tx.try_send(2).unwrap_err().into_inner(), 2);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(v) | TrySendError::Disconnected(v) => v,
        }
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError { .. }")
    }
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Disconnected(_) => f.write_str("Disconnected(..)"),
        }
    }
}

impl<T> fmt::Debug for SendTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendTimeoutError::Timeout(_) => f.write_str("Timeout(..)"),
            SendTimeoutError::Disconnected(_) => f.write_str("Disconnected(..)"),
        }
    }
}

/// `Display` (the message of each case) and `Error` for the error types of this module.
macro_rules! error_messages {
    ($($ty:ident$(<$t:ident>)? { $($case:pat => $message:expr),+ $(,)? })*) => {
        $(
            impl$(<$t>)? fmt::Display for $ty$(<$t>)? {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str(match self {
                        $($case => $message),+
                    })
                }
            }

            impl$(<$t>)? std::error::Error for $ty$(<$t>)? {}
        )*
    };
}

const NO_RECEIVERS: &str = "sending on a channel whose receivers are all gone";
const NO_SENDERS: &str = "receiving on an empty channel whose senders are all gone";
const WOULD_BLOCK: &str = "all operations in select would block";
const SELECT_TIMED_OUT: &str = "timed out waiting on select";

error_messages! {
    SendError<T> {
        SendError(_) => NO_RECEIVERS,
    }
    TrySendError<T> {
        TrySendError::Full(_) => "sending on a full channel",
        TrySendError::Disconnected(_) => NO_RECEIVERS,
    }
    SendTimeoutError<T> {
        SendTimeoutError::Timeout(_) => "timed out sending on a full channel",
        SendTimeoutError::Disconnected(_) => NO_RECEIVERS,
    }
    RecvError {
        RecvError => NO_SENDERS,
    }
    TryRecvError {
        TryRecvError::Empty => "receiving on an empty channel",
        TryRecvError::Disconnected => NO_SENDERS,
    }
    RecvTimeoutError {
        RecvTimeoutError::Timeout => "timed out receiving on an empty channel",
        RecvTimeoutError::Disconnected => NO_SENDERS,
    }
    TrySelectError {
        TrySelectError => WOULD_BLOCK,
    }
    SelectTimeoutError {
        SelectTimeoutError => SELECT_TIMED_OUT,
    }
    TryReadyError {
        TryReadyError => WOULD_BLOCK,
    }
    ReadyTimeoutError {
        ReadyTimeoutError => SELECT_TIMED_OUT,
    }
}

impl<T> From<SendError<T>> for TrySendError<T> {
    fn from(e: SendError<T>) -> Self {
        TrySendError::Disconnected(e.0)
    }
}

impl<T> From<SendError<T>> for SendTimeoutError<T> {
    fn from(e: SendError<T>) -> Self {
        SendTimeoutError::Disconnected(e.0)
    }
}

impl From<RecvError> for TryRecvError {
    fn from(_: RecvError) -> Self {
        TryRecvError::Disconnected
    }
}

impl From<RecvError> for RecvTimeoutError {
    fn from(_: RecvError) -> Self {
        RecvTimeoutError::Disconnected
    }
}

impl<T> TrySendError<T> {
    /// Whether the send failed because the channel was full.
    ///
    /// ```
    /// let (tx, _rx) = greenlet::channel::bounded(0);
    /// assert!(tx.try_send(1).unwrap_err().is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        matches!(self, TrySendError::Full(_))
    }

    /// Whether the send failed because every receiver is gone.
    ///
    /// ```
    /// let (tx, rx) = greenlet::channel::bounded(1);
    /// drop(rx);
    /// assert!(tx.try_send(1).unwrap_err().is_disconnected());
    /// ```
    pub fn is_disconnected(&self) -> bool {
        matches!(self, TrySendError::Disconnected(_))
    }
}

impl<T> SendTimeoutError<T> {
    /// Whether the send timed out.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (tx, _rx) = greenlet::channel::bounded(0);
    /// assert!(tx.send_timeout(1, Duration::ZERO).unwrap_err().is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, SendTimeoutError::Timeout(_))
    }

    /// Whether the send failed because every receiver is gone.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (tx, rx) = greenlet::channel::bounded(0);
    /// drop(rx);
    /// assert!(tx.send_timeout(1, Duration::ZERO).unwrap_err().is_disconnected());
    /// ```
    pub fn is_disconnected(&self) -> bool {
        matches!(self, SendTimeoutError::Disconnected(_))
    }
}

impl TryRecvError {
    /// Whether nothing was queued (the senders may send more).
    ///
    /// ```
    /// let (_tx, rx) = greenlet::channel::unbounded::<u8>();
    /// assert!(rx.try_recv().unwrap_err().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        matches!(self, TryRecvError::Empty)
    }

    /// Whether every sender is gone and nothing is queued.
    ///
    /// ```
    /// let (tx, rx) = greenlet::channel::unbounded::<u8>();
    /// drop(tx);
    /// assert!(rx.try_recv().unwrap_err().is_disconnected());
    /// ```
    pub fn is_disconnected(&self) -> bool {
        matches!(self, TryRecvError::Disconnected)
    }
}

impl RecvTimeoutError {
    /// Whether the receive timed out.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (_tx, rx) = greenlet::channel::unbounded::<u8>();
    /// assert!(rx.recv_timeout(Duration::ZERO).unwrap_err().is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, RecvTimeoutError::Timeout)
    }

    /// Whether every sender is gone and nothing is queued.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (tx, rx) = greenlet::channel::unbounded::<u8>();
    /// drop(tx);
    /// assert!(rx.recv_timeout(Duration::ZERO).unwrap_err().is_disconnected());
    /// ```
    pub fn is_disconnected(&self) -> bool {
        matches!(self, RecvTimeoutError::Disconnected)
    }
}

/// [`Select::try_select`](super::Select::try_select) found no operation ready.
///
/// ```
/// let (_tx, rx) = greenlet::channel::unbounded::<i32>();
/// let mut sel = greenlet::channel::Select::new();
/// sel.recv(&rx);
/// assert_eq!(sel.try_select().unwrap_err(), greenlet::channel::TrySelectError);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrySelectError;

/// [`Select::select_timeout`](super::Select::select_timeout) timed out with no operation ready.
///
/// ```
/// use std::time::Duration;
/// let (_tx, rx) = greenlet::channel::unbounded::<i32>();
/// let mut sel = greenlet::channel::Select::new();
/// sel.recv(&rx);
/// assert!(sel.select_timeout(Duration::from_millis(1)).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelectTimeoutError;

/// [`Select::try_ready`](super::Select::try_ready) found no operation ready.
///
/// ```
/// let (_tx, rx) = greenlet::channel::unbounded::<i32>();
/// let mut sel = greenlet::channel::Select::new();
/// sel.recv(&rx);
/// assert_eq!(sel.try_ready(), Err(greenlet::channel::TryReadyError));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TryReadyError;

/// [`Select::ready_timeout`](super::Select::ready_timeout) timed out with no operation ready.
///
/// ```
/// use std::time::Duration;
/// let (_tx, rx) = greenlet::channel::unbounded::<i32>();
/// let mut sel = greenlet::channel::Select::new();
/// sel.recv(&rx);
/// assert!(sel.ready_timeout(Duration::from_millis(1)).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadyTimeoutError;
