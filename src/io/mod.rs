//! Readiness-based IO on `mio`: the driver that turns epoll events into unparks, and the
//! [`Source`] wrapper every cooperative socket and pipe is built on.
//!
//! An operation first tries its non-blocking syscall; only on `WouldBlock` does the caller park,
//! until the driver reports the descriptor ready in that direction (or a timeout, a kill or an
//! enclosing `with_timeout` ends the wait). See [`driver`] for who polls and when.

pub(crate) mod driver;
mod readiness;
mod source;

pub(crate) use driver::Driver;
pub(crate) use readiness::Direction;
pub(crate) use source::Source;
