//! Deadlines: "this long from now", where a duration too large to represent means no deadline.
//!
//! Every call of the crate that takes a timeout turns it into a deadline here, so that
//! `Duration::MAX` (or any duration past the end of `Instant`'s range) waits for ever instead of
//! panicking on `Instant + Duration` overflow (API.md, "Next", precisions).

use std::time::{Duration, Instant};

/// The instant `d` from now; `None` when that is past what `Instant` can represent, which every
/// caller treats as "no deadline".
///
/// ```ignore
/// assert!(after(Duration::from_secs(1)).is_some());
/// assert_eq!(after(Duration::MAX), None);
/// ```
#[inline]
pub(crate) fn after(d: Duration) -> Option<Instant> {
    Instant::now().checked_add(d)
}

/// The outcome of a wait that had no deadline. Every blocking call with a `_timeout` twin is
/// that twin's wait with no deadline, which ends only with its outcome: `None` here would be a
/// bug of the primitive, reported at the caller's line.
#[inline]
#[track_caller]
pub(crate) fn untimed<T>(outcome: Option<T>) -> T {
    outcome.expect("a wait without a deadline ends with its outcome")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_durations_mean_no_deadline() {
        assert!(after(Duration::from_millis(1)).is_some());
        assert_eq!(after(Duration::MAX), None);
        assert_eq!(after(Duration::from_secs(u64::MAX)), None);
    }
}
