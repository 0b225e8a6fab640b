//! Stackful green threads in the style of gevent, on a work-stealing scheduler.
//!
//! Spawn a function, join the handles, sleep, wait: plain blocking-style code, no `async`.
//! Each greenlet has a stack of its own; a blocking call parks only that greenlet, and the
//! worker thread runs others meanwhile.
//!
//! ```
//! use std::time::Duration;
//! use greenlet::{joinall, sleep, spawn, with_timeout};
//!
//! // gevent.spawn(fetch, n) for each job, then gevent.joinall(jobs)
//! let jobs: Vec<_> = (1..=3)
//!     .map(|n| {
//!         spawn(move || {
//!             sleep(Duration::from_millis(10 * n)); // parks this greenlet only
//!             n * 100
//!         })
//!     })
//!     .collect();
//! let results: Vec<u64> = joinall(jobs).into_iter().map(Result::unwrap).collect();
//! assert_eq!(results, [100, 200, 300]);
//!
//! // gevent.Timeout: give up on a blocking call
//! let late = with_timeout(Duration::from_millis(10), || sleep(Duration::from_secs(5)));
//! assert!(late.is_err());
//!
//! // greenlet.kill(): stop a greenlet parked in a blocking call
//! let forever = spawn(|| sleep(Duration::from_secs(3600)));
//! forever.kill();
//! assert!(forever.join().unwrap_err().is_killed());
//! ```
//!
//! Every blocking function works both inside a greenlet (it parks the greenlet) and on a plain
//! thread such as `fn main` or a `#[test]` (it blocks the thread), so no set-up call is needed:
//! the runtime starts on first use.
//!
//! # The runtime
//!
//! One worker thread per core (change it with [`configure`] or `GREENLET_WORKERS`). Each worker
//! has a local run queue; idle workers steal from busy ones and sleep, using no CPU, when there
//! is nothing to do. Greenlets may move between workers at any blocking call.
//!
//! # Stacks
//!
//! Each greenlet gets a [`DEFAULT_STACK_SIZE`] (256 KiB) stack when it first runs, taken from a
//! pool and given back when it ends; a greenlet not yet started holds none. The stack is address
//! space: only the pages a greenlet touches use memory (a parked greenlet typically uses one 4 KiB
//! page). Change the size per greenlet with [`Builder::stack_size`], or for all with
//! [`Config::stack_size`] or `GREENLET_STACK_SIZE` (bytes, or with a `K`/`M` suffix).
//!
//! A stack overflow hits a guard page; the process then prints which greenlet overflowed (its
//! name or id) and its stack size, and aborts. Guard pages are installed with
//! `MADV_GUARD_INSTALL` on Linux 6.13 and later, so that 64 stacks share one memory mapping and
//! hundreds of thousands of greenlets fit under the default `vm.max_map_count`.
//!
//! # Kill and timeouts unwind
//!
//! [`Greenlet::kill`] and [`with_timeout`] stop a greenlet by unwinding it out of its current
//! blocking call, running destructors on the way. The crate therefore needs `panic = "unwind"`
//! (the default); with `panic = "abort"` a kill or timeout aborts the process. Code inside a
//! greenlet must let these unwinds pass: a `catch_unwind` that swallows every payload would also
//! swallow a kill.
//!
//! # Thread-locals and migration
//!
//! A greenlet may resume on a different worker thread after any blocking call. Do not keep a
//! reference to a thread-local, or a `std::sync::MutexGuard`, across a blocking call of this
//! crate; re-read thread-locals afterwards. Blocking OS calls (`std::thread::sleep`, blocking
//! file or socket IO) stall the whole worker: use this crate's `sleep`, [`net`] sockets and
//! [`threadpool::apply`] instead (there is no monkey patching).

#![warn(missing_docs)]

mod config;
mod coroutine;
mod greenlet;
mod io;
mod park;
mod runtime;
mod sleep;
mod timeout;

pub mod channel;
pub mod local;
pub mod net;
pub mod pool;
pub mod process;
pub mod queue;
pub mod sync;
pub mod threadpool;

pub use crate::config::{configure, AlreadyStarted, Config};
pub use crate::coroutine::stack::{DEFAULT_STACK_SIZE, MAX_STACK_SIZE, MIN_STACK_SIZE};
pub use crate::greenlet::{
    current, joinall, spawn, spawn_later, Builder, Greenlet, GreenletId, JoinError,
};
pub use crate::sleep::{sleep, yield_now};
pub use crate::timeout::{with_timeout, Timeout};

/// The README's examples, run as doc tests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
