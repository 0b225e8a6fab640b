//! Synchronisation primitives that park greenlets instead of blocking their worker threads.
//!
//! Every blocking method parks only the calling greenlet (or blocks the calling thread when
//! called from a plain thread), and honours [`kill`](crate::Greenlet::kill) and
//! [`with_timeout`](crate::with_timeout).

mod event;

pub use event::Event;
