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
//! One worker thread per core (change it with [`configure`] or `GREENLET_WORKERS`). A greenlet
//! runs on the worker that started it for its whole life (its *home*): new greenlets go to
//! whichever worker is idle, idle workers steal greenlets that have not started yet, and a
//! wake-up sends a greenlet back home. Idle workers sleep, using no CPU, when there is nothing
//! to do. See "Soundness" below for why greenlets do not move once started.
//!
//! # Stacks
//!
//! Each greenlet gets a [`DEFAULT_STACK_SIZE`] (256 KiB) stack when it first runs, taken from a
//! pool and given back when it ends; a greenlet not yet started holds none. The stack is address
//! space: only the pages a greenlet touches use memory (a parked greenlet typically uses one 4 KiB
//! page). Change the size per greenlet with [`Builder::stack_size`], or for all with
//! [`Config::stack_size`] or `GREENLET_STACK_SIZE` (bytes, or with a `K`/`M` suffix); sizes are
//! rounded up to a power of two. When no stack can be had (memory, address space or memory
//! mappings ran out), [`Builder::spawn`] returns an error that says which limit and how to raise
//! it, and [`spawn`] panics with it in the caller.
//!
//! A stack overflow hits a guard page; the process then prints which greenlet overflowed (its
//! name or id) and its stack size, and aborts. Guard pages are installed with
//! `MADV_GUARD_INSTALL` on Linux 6.13 and later, so that 64 stacks share one memory mapping and
//! hundreds of thousands of greenlets fit under the default `vm.max_map_count`. Older kernels
//! need `mprotect`, two mappings per stack, which caps a process near 32,000 live greenlets
//! unless `vm.max_map_count` is raised (`sysctl -w vm.max_map_count=262144`);
//! `GREENLET_STACK_GUARD=mprotect` makes a new kernel behave that way, for tests.
//!
//! # From gevent, from threading
//!
//! | Python | greenlet |
//! |---|---|
//! | `gevent.spawn(f, *args)`, `Thread(target=f, args=...).start()`, `Process(...).start()` | [`spawn`]`(move \|\| f(args))` |
//! | `gevent.spawn_later(s, f)`, `sched.enter(delay, prio, f)` | [`spawn_later`] |
//! | `g.join()`, `g.get()`, `t.join()` | [`Greenlet::join`] (the value, or why there is none) |
//! | `gevent.joinall(gs)` | [`joinall`] |
//! | `gevent.wait(objs, count=1)`, `gevent.iwait(objs)` | [`wait_any`], [`iwait`] (over greenlets, events, async results) |
//! | `g.ready()`, `not t.is_alive()` | [`Greenlet::is_finished`] |
//! | `g.kill()` | [`Greenlet::kill`] |
//! | `gevent.sleep(s)`, `gevent.sleep(0)` | [`sleep()`], [`yield_now`] |
//! | `gevent.Timeout(s)`, `gevent.with_timeout(s, f)` | [`with_timeout`] |
//! | `gevent.getcurrent()`, `threading.current_thread()` | [`current`] |
//! | `Event` (gevent.event, threading) | [`sync::Event`] |
//! | `gevent.event.AsyncResult`, `concurrent.futures.Future` | [`sync::AsyncResult`] |
//! | `Lock` (gevent.lock, threading), `with lock:` | [`sync::Mutex`] (the guard unlocks on drop) |
//! | `lock.acquire(blocking=False)` | [`sync::Mutex::try_lock`] |
//! | `threading.Condition` | [`sync::Condvar`] with a [`sync::Mutex`] |
//! | `Semaphore`, `BoundedSemaphore` | [`sync::Semaphore`] (the permit releases on drop) |
//! | `threading.Barrier` | [`sync::Barrier`] |
//! | `gevent.queue.Queue`, `queue.Queue` (`put_nowait`, `get_nowait`, `task_done`, `join`) | [`queue::Queue`] (`try_put`, `try_get`, `task_done`, `join`) |
//! | `PriorityQueue`, `LifoQueue` | [`queue::PriorityQueue`], [`queue::LifoQueue`] |
//! | Go's `select`, `time.After`, `time.Tick` | [`channel::select!`], [`channel::Select`], [`channel::after`], [`channel::tick`] |
//! | `gevent.queue.Channel`, `multiprocessing.Pipe`, sentinel values | [`channel::bounded`]`(0)`, [`channel::unbounded`]; dropping every sender ends the receivers' loops |
//! | `gevent.pool.Pool`, `multiprocessing.Pool`, `ThreadPoolExecutor` | [`pool::Pool`] (`map`, `imap_unordered`) |
//! | `gevent.pool.Group` | [`pool::Group`] |
//! | `gevent.local.local`, `threading.local` | [`local::Local`] |
//! | `gevent.socket`, `gevent.server.StreamServer` | [`net::TcpStream`], [`net::TcpListener`], [`net::UdpSocket`], [`net::StreamServer`] |
//! | `gevent.threadpool`, `loop.run_in_executor` | [`threadpool::apply`] |
//! | `gevent.subprocess`, `subprocess.run`, `Popen.communicate` | [`process::Command`], [`process::Child::wait_with_output`] |
//!
//! The `examples/` folder has a greenlet twin of each classic threading, multiprocessing and
//! gevent program (`spawn_join`, `race_condition`, `producer_consumer`, `events`,
//! `periodic_timer`, `deadlock_avoidance`, ...) and three servers (`echo_server`, `http_hello`,
//! `redis_server`).
//!
//! # What differs from gevent
//!
//! - **No monkey patching.** `std::thread::sleep`, `std::net` and blocking file IO block the
//!   whole worker thread, and every greenlet queued on it waits. Use this crate's [`sleep()`],
//!   [`net`] sockets, [`process`] and, for any other blocking call, [`threadpool::apply`]. A
//!   monitor thread logs a warning (through the `log` crate) naming any greenlet that holds its
//!   worker for more than 100 ms without a blocking call of this crate.
//! - **Parallel, not just concurrent.** Greenlets run on one worker thread per core at once, so
//!   CPU-bound greenlets use every core (no GIL, no need for processes) and shared data needs a
//!   lock or an atomic: between two statements another greenlet may run, on another core.
//! - **One home per greenlet.** A greenlet that computes for long without a blocking call of
//!   this crate (or that calls a blocking OS function) holds its worker, and the greenlets
//!   homed on that worker wait for it, even if other workers are idle (greenlets not yet
//!   started are taken by the idle workers, and extra workers step in while every worker is
//!   held). The stall monitor names such a greenlet after 100 ms. In particular, a greenlet
//!   must not spin-wait (poll a flag or `try_recv` in a loop without a blocking call) for
//!   another greenlet: if that one lives on the same worker (a child spawned before the
//!   spinner's last park usually does), it never runs. Wait on an [`sync::Event`] or a
//!   channel, or call [`yield_now`] in the loop.
//! - **Kill and timeouts unwind.** [`Greenlet::kill`] and [`with_timeout`] stop a greenlet by
//!   unwinding it out of its current blocking call, running destructors on the way (gevent raises
//!   `GreenletExit` or `Timeout` there). The crate therefore needs `panic = "unwind"` (the
//!   default); with `panic = "abort"` a kill or timeout aborts the process. Code inside a
//!   greenlet must let these unwinds pass: a `catch_unwind` that swallows every payload would
//!   also swallow a kill.
//! - **Errors are values.** A panic in a greenlet is caught and returned by `join` as
//!   [`JoinError::Panicked`]; it never takes down other greenlets. Timeouts and closed channels
//!   are `Result`s, not exceptions.
//! - **The end of `main` ends the program**, greenlets included (there are no non-daemon
//!   greenlets): join what must finish.
//!
//! # Soundness: thread-locals, locks and blocking calls
//!
//! Safe code cannot cause undefined behaviour through this crate. Rust code assumes that the
//! thread does not change between two lines of one function; so a greenlet that has started
//! runs on one worker thread for its whole life, and nothing it keeps across a blocking call
//! (an `Rc` from a `thread_local!` such as `rand::thread_rng()`, a `RefCell` borrow, a
//! `std::sync::MutexGuard`) is ever reached from two threads. Only greenlets that have not
//! started yet move between workers: a new greenlet starts on an idle worker when there is one,
//! otherwise idle workers steal it before it starts. What to know:
//!
//! - A `thread_local!` is shared by every greenlet homed on the same worker: for a value per
//!   greenlet use [`local::Local`].
//! - A `std::sync::MutexGuard` held across a blocking call of this crate keeps other greenlets
//!   of the same worker from the lock (they block the thread): hold [`sync::Mutex`] guards
//!   across blocking calls instead.
//! - Blocking OS calls (`std::thread::sleep`, `std::fs`, `std::net`, a blocking database
//!   driver) hold the worker; use this crate's [`sleep()`], [`fs`], [`net`], [`process`], or
//!   [`threadpool::apply`] for anything else.
//! - A loop that polls for another greenlet's work without a blocking call (a flag, `try_recv`)
//!   holds its worker too, and starves the greenlets homed there: wait on an
//!   [`Event`](sync::Event) or a channel, or call [`yield_now`] in the loop.
//!
//! # Diagnostics
//!
//! - [`dump`] lists every greenlet not yet finished: state, what it waits on and where (the
//!   crate's blocking functions record their caller), where it was spawned, and for how long.
//!   `GREENLET_DUMP_SIGNAL=USR1` prints it to stderr when the process gets that signal.
//! - A deadlock (nothing in the process can wake the parked greenlets or blocked threads) is
//!   reported after a second, or makes the blocked call panic: see [`DeadlockPolicy`].
//! - A greenlet that holds its worker for more than 100 ms is reported by name, with where it
//!   was spawned and where it last resumed; extra workers run the greenlets waiting to start.
//! - [`stats`] returns the runtime's counters.
//!
//! Reports go through the `log` crate when a logger takes them, and to stderr otherwise.
//!
//! # Environment variables
//!
//! Each setting of [`Config`] has a variable; [`configure`] wins over it. A value that cannot
//! be used is reported on stderr (and through `log`) and ignored.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `GREENLET_WORKERS` | worker threads; 0 = one per core ([`Config::workers`]) | one per core |
//! | `GREENLET_STACK_SIZE` | stack size of new greenlets, bytes or with a `K`/`M` suffix ([`Config::stack_size`]) | 256K |
//! | `GREENLET_STACK_GUARD` | `mprotect` makes stack guard pages the way kernels before 6.13 need (two memory mappings per stack; for tests and CI), `auto` uses `MADV_GUARD_INSTALL` where the kernel has it | `auto` |
//! | `GREENLET_DEADLOCK` | `report`, `panic` or `off` ([`Config::deadlock`]) | `report` |
//! | `GREENLET_DEADLOCK_GRACE_MS` | how long a deadlock lasts before it is reported ([`Config::deadlock_grace`]) | 1000 |
//! | `GREENLET_STALL_MS` | how long a greenlet may hold its worker before it is reported ([`Config::stall_threshold`]) | 100 |
//! | `GREENLET_EXTRA_WORKERS` | the most extra workers started while every worker is held ([`Config::extra_workers`]) | as many as workers |
//! | `GREENLET_DUMP_SIGNAL` | print [`dump`] to stderr on this signal (`USR1`, `SIGUSR1` or a number) | off |
//! | `GREENLET_THREADPOOL_SIZE` | threads of [`threadpool`] | 16 |

#![deny(missing_docs)]
#![deny(
    missing_debug_implementations,
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks
)]

mod block_on;
mod config;
mod coroutine;
mod deadline;
mod dump;
mod greenlet;
mod io;
mod join_error;
mod loom;
mod park;
mod runtime;
mod scope;
mod sleep;
mod stats;
mod timeout;
mod wait;

pub mod channel;
pub mod fs;
pub mod local;
pub mod net;
pub mod pool;
pub mod process;
pub mod queue;
pub mod signal;
pub mod sync;
pub mod threadpool;

pub use crate::block_on::block_on;
pub use crate::config::{configure, AlreadyStarted, Config, DeadlockPolicy, MAX_WORKERS};
pub use crate::coroutine::stack::{DEFAULT_STACK_SIZE, MAX_STACK_SIZE, MIN_STACK_SIZE};
pub use crate::dump::{dump, Dump, GreenletInfo, GreenletState};
pub use crate::greenlet::{current, joinall, spawn, spawn_later, Builder, Greenlet, GreenletId};
pub use crate::join_error::{JoinError, PanicPayload};
pub use crate::scope::{scope, Scope, ScopedGreenlet};
pub use crate::sleep::{sleep, yield_now};
pub use crate::stats::{stats, Stats};
pub use crate::timeout::{with_timeout, Timeout};
pub use crate::wait::{iwait, wait_any, wait_any_timeout, Waitable};

/// The README's examples, run as doc tests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
