//! Synchronisation primitives that park greenlets instead of blocking their worker threads:
//! the `threading` module's toolbox, gevent style.
//!
//! Every blocking method parks only the calling greenlet (or blocks the calling plain thread),
//! and honours [`kill`](crate::Greenlet::kill) and [`with_timeout`](crate::with_timeout): a
//! waiter that is interrupted leaves the primitive consistent (no permit, lock or value is lost
//! or handed to it). Locks and semaphores serve waiters in FIFO order. Each type is `Send + Sync`
//! (for `T: Send`); share it with `Arc` or a `static`.

mod async_result;
mod barrier;
mod condvar;
mod event;
mod mutex;
mod semaphore;

pub use async_result::AsyncResult;
pub use barrier::{Barrier, BarrierWaitResult};
pub use condvar::Condvar;
pub use event::Event;
pub use mutex::{Mutex, MutexGuard};
pub use semaphore::{OwnedSemaphorePermit, Semaphore, SemaphorePermit};
