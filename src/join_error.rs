//! [`JoinError`]: why a greenlet has no value, and [`PanicPayload`], the panic it carries.
//!
//! `JoinError` is `Send + Sync + 'static` and implements [`std::error::Error`], so `?` carries it
//! into `Box<dyn Error + Send + Sync>` and `anyhow::Error`. A panic's payload is a
//! `Box<dyn Any + Send>`, which is not `Sync`; [`PanicPayload`] wraps it and hands out shared
//! references only to `Sync` contents, which is what makes sharing the wrapper sound.

use std::any::Any;
use std::fmt;

/// Why a greenlet did not return a value.
///
/// ```
/// use greenlet::JoinError;
/// let g = greenlet::spawn(|| panic!("boom"));
/// match g.join() {
///     Err(JoinError::Panicked(payload)) => assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom")),
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
///
/// It travels with `?` into boxed errors and error-handling crates:
///
/// ```
/// fn run() -> Result<u32, Box<dyn std::error::Error + Send + Sync>> {
///     let g = greenlet::spawn(|| -> u32 { panic!("disk full") });
///     Ok(g.join()?)
/// }
/// assert_eq!(run().unwrap_err().to_string(), "greenlet panicked: disk full");
/// ```
pub enum JoinError {
    /// The greenlet panicked; this is the panic's payload.
    Panicked(PanicPayload),
    /// The greenlet was killed with [`Greenlet::kill`](crate::Greenlet::kill).
    Killed,
}

impl JoinError {
    /// True for [`JoinError::Panicked`].
    ///
    /// ```
    /// let err = greenlet::spawn(|| panic!("oops")).join().unwrap_err();
    /// assert!(err.is_panic());
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(self, JoinError::Panicked(_))
    }

    /// True for [`JoinError::Killed`].
    ///
    /// ```
    /// let g = greenlet::spawn(|| greenlet::sleep(std::time::Duration::from_secs(60)));
    /// g.kill();
    /// assert!(g.join().unwrap_err().is_killed());
    /// ```
    pub fn is_killed(&self) -> bool {
        matches!(self, JoinError::Killed)
    }

    /// The panic message, when the payload is a string (as with `panic!("...")`).
    ///
    /// ```
    /// let err = greenlet::spawn(|| panic!("disk {} is full", 3)).join().unwrap_err();
    /// assert_eq!(err.panic_message(), Some("disk 3 is full"));
    /// ```
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            JoinError::Panicked(p) => p.message(),
            JoinError::Killed => None,
        }
    }

    /// The panic's payload, for [`std::panic::resume_unwind`]; `None` for a kill.
    ///
    /// ```
    /// let err = greenlet::spawn(|| std::panic::panic_any(7u8)).join().unwrap_err();
    /// let payload = err.into_panic().unwrap();
    /// assert_eq!(payload.downcast_ref::<u8>(), Some(&7));
    /// ```
    pub fn into_panic(self) -> Option<Box<dyn Any + Send>> {
        match self {
            JoinError::Panicked(p) => Some(p.into_inner()),
            JoinError::Killed => None,
        }
    }

    /// Re-raises a panic in the caller (like `std::panic::resume_unwind`); a kill becomes a panic
    /// with a message saying so.
    ///
    /// ```
    /// let caught = std::panic::catch_unwind(|| {
    ///     if let Err(e) = greenlet::spawn(|| panic!("inner")).join() {
    ///         e.resume(); // the greenlet's panic continues here
    ///     }
    /// });
    /// assert!(caught.is_err());
    /// ```
    pub fn resume(self) -> ! {
        match self {
            JoinError::Panicked(p) => std::panic::resume_unwind(p.into_inner()),
            JoinError::Killed => panic!("greenlet was killed"),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Panicked(p) => f.debug_tuple("Panicked").field(p).finish(),
            JoinError::Killed => f.write_str("Killed"),
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Panicked(_) => match self.panic_message() {
                Some(m) => write!(f, "greenlet panicked: {m}"),
                None => f.write_str("greenlet panicked"),
            },
            JoinError::Killed => f.write_str("greenlet was killed"),
        }
    }
}

impl std::error::Error for JoinError {}

/// The payload of a greenlet's panic, as [`std::panic::catch_unwind`] returns it, in a wrapper
/// that is `Sync` (so that [`JoinError`] is).
///
/// Read it with [`downcast_ref`](PanicPayload::downcast_ref) (for `Sync` types: `&str` and
/// `String`, what `panic!` produces, are), take it out with
/// [`into_inner`](PanicPayload::into_inner) to resume the panic, or change it in place with
/// [`downcast_mut`](PanicPayload::downcast_mut).
///
/// ```
/// use greenlet::JoinError;
/// match greenlet::spawn(|| panic!("bad input")).join() {
///     Err(JoinError::Panicked(p)) => {
///         assert!(p.is::<&str>());
///         assert_eq!(p.downcast_ref::<&str>(), Some(&"bad input"));
///         assert_eq!(p.message(), Some("bad input"));
///     }
///     _ => unreachable!(),
/// }
/// ```
pub struct PanicPayload(Box<dyn Any + Send>);

// SAFETY: `&PanicPayload` gives access to the payload only through `downcast_ref`, which
// requires the target type to be `Sync`, `is`, which only compares type ids (no access to the
// value), and `message`, which reads `&str`/`String` through `downcast_ref`. Every other access
// takes `&mut self` or `self`, which `Sync` does not share. So no `!Sync` value is ever reached
// from two threads at once (the reasoning of `std::sync::Exclusive`).
unsafe impl Sync for PanicPayload {}

// Unwind safe, like the handle that returns it: a payload is a finished value that nothing
// mutates behind the owner's back, so an unwind cannot leave it half-changed.
impl std::panic::UnwindSafe for PanicPayload {}
impl std::panic::RefUnwindSafe for PanicPayload {}

impl PanicPayload {
    pub(crate) fn new(payload: Box<dyn Any + Send>) -> PanicPayload {
        PanicPayload(payload)
    }

    /// Whether the payload is a `T`.
    ///
    /// ```
    /// let e = greenlet::spawn(|| std::panic::panic_any(1u32)).join().unwrap_err();
    /// let greenlet::JoinError::Panicked(p) = e else { unreachable!() };
    /// assert!(p.is::<u32>());
    /// ```
    pub fn is<T: Any>(&self) -> bool {
        self.0.is::<T>()
    }

    /// The payload as a `T`, if it is one. `T` must be `Sync`, since the wrapper may be shared
    /// between threads.
    ///
    /// ```
    /// let e = greenlet::spawn(|| panic!("{}", 42)).join().unwrap_err();
    /// let greenlet::JoinError::Panicked(p) = e else { unreachable!() };
    /// assert_eq!(p.downcast_ref::<String>().map(String::as_str), Some("42"));
    /// ```
    pub fn downcast_ref<T: Any + Sync>(&self) -> Option<&T> {
        self.0.downcast_ref::<T>()
    }

    /// The payload as a mutable `T`, if it is one.
    ///
    /// ```
    /// let e = greenlet::spawn(|| std::panic::panic_any(vec![1, 2])).join().unwrap_err();
    /// let greenlet::JoinError::Panicked(mut p) = e else { unreachable!() };
    /// p.downcast_mut::<Vec<i32>>().unwrap().push(3);
    /// assert_eq!(p.downcast_ref::<Vec<i32>>(), Some(&vec![1, 2, 3]));
    /// ```
    pub fn downcast_mut<T: Any>(&mut self) -> Option<&mut T> {
        self.0.downcast_mut::<T>()
    }

    /// The panic message, when the payload is a string (as with `panic!("...")`).
    ///
    /// ```
    /// let e = greenlet::spawn(|| panic!("no {}", "luck")).join().unwrap_err();
    /// let greenlet::JoinError::Panicked(p) = e else { unreachable!() };
    /// assert_eq!(p.message(), Some("no luck"));
    /// ```
    pub fn message(&self) -> Option<&str> {
        self.downcast_ref::<&str>()
            .copied()
            .or_else(|| self.downcast_ref::<String>().map(String::as_str))
    }

    /// The payload itself, for [`std::panic::resume_unwind`].
    ///
    /// ```
    /// let e = greenlet::spawn(|| panic!("again")).join().unwrap_err();
    /// let greenlet::JoinError::Panicked(p) = e else { unreachable!() };
    /// let resumed = std::panic::catch_unwind(|| std::panic::resume_unwind(p.into_inner()));
    /// assert!(resumed.is_err());
    /// ```
    pub fn into_inner(self) -> Box<dyn Any + Send> {
        self.0
    }
}

impl From<PanicPayload> for Box<dyn Any + Send> {
    fn from(p: PanicPayload) -> Box<dyn Any + Send> {
        p.0
    }
}

impl fmt::Debug for PanicPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.message() {
            Some(m) => fmt::Debug::fmt(m, f),
            None => f.write_str("<non-string payload>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync + 'static>() {}

    #[test]
    fn join_error_travels_across_threads() {
        assert_send_sync::<JoinError>();
        assert_send_sync::<PanicPayload>();
        let e: Box<dyn std::error::Error + Send + Sync> = Box::new(JoinError::Killed);
        assert_eq!(e.to_string(), "greenlet was killed");
    }
}
