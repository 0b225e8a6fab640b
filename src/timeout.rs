//! Deadlines around any blocking code: [`with_timeout`].

use std::fmt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::Duration;

use crate::park::{TimeoutFrame, TimeoutUnwind};

/// The error of [`with_timeout`]: the deadline passed while the closure was blocked.
///
/// ```
/// use std::time::Duration;
/// let r = greenlet::with_timeout(Duration::from_millis(5), || greenlet::sleep(Duration::from_secs(60)));
/// assert_eq!(r, Err(greenlet::Timeout));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Timeout;

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("timed out")
    }
}

impl std::error::Error for Timeout {}

/// Runs `f`, giving up when `d` has passed: the blocking call of this crate that `f` is parked in
/// (or the next one it makes) unwinds to here, running destructors inside `f`, and the result is
/// `Err(Timeout)`. If `f` never blocks, it runs to its end and the result is `Ok`.
///
/// Timeouts nest: the one that expires first fires, and only its `with_timeout` returns `Err`.
/// Works inside greenlets and on plain threads.
///
/// ```
/// use std::time::Duration;
/// use greenlet::{sleep, with_timeout, Timeout};
///
/// let slow = with_timeout(Duration::from_millis(20), || sleep(Duration::from_secs(10)));
/// assert_eq!(slow, Err(Timeout));
/// let fast = with_timeout(Duration::from_secs(10), || 42);
/// assert_eq!(fast, Ok(42));
/// ```
///
/// `f` must let the unwind pass: a `catch_unwind` inside it that swallows the payload stops the
/// timeout (and a kill) from reaching its target.
pub fn with_timeout<T>(d: Duration, f: impl FnOnce() -> T) -> Result<T, Timeout> {
    let Some(deadline) = crate::deadline::after(d) else {
        return Ok(f());
    };
    let frame = TimeoutFrame::push(deadline);
    // AssertUnwindSafe: an unwind that is not this frame's timeout is resumed unchanged, and for
    // our own the caller asked to abandon `f` and its state.
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(value) => Ok(value),
        Err(payload) => match payload.downcast::<TimeoutUnwind>() {
            Ok(timeout) if frame.owns(&timeout) => Err(Timeout),
            Ok(other_frame) => resume_unwind(other_frame),
            Err(other) => resume_unwind(other),
        },
    }
}
