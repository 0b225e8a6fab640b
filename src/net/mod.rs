//! Cooperative sockets: TCP, UDP and a greenlet-per-connection server, like `gevent.socket` and
//! `gevent.server`.
//!
//! Each type mirrors its `std::net` namesake, but a call that would block (accept, connect, read,
//! write) parks only the calling greenlet while the worker runs others; the IO driver (epoll via
//! `mio`) wakes it when the socket is ready. On a plain thread the same calls block the thread.
//! Every blocking call honours [`with_timeout`](crate::with_timeout) and
//! [`Greenlet::kill`](crate::Greenlet::kill); socket timeouts fail with
//! [`io::ErrorKind::TimedOut`].
//!
//! Host names given to a constructor (`TcpStream::connect("example.com:80")`) are resolved on
//! the thread pool, as [`lookup_host`] does, so no worker blocks in `getaddrinfo`; IP literals
//! need no lookup. See [`ToSocketAddrs`].
//!
//! ```
//! use std::io::{Read, Write};
//! use greenlet::net::{StreamServer, TcpListener, TcpStream};
//!
//! // An echo server: one greenlet per connection.
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! let server = StreamServer::new(listener, |mut conn: TcpStream, _peer| {
//!     let mut buf = [0; 1024];
//!     while let Ok(n @ 1..) = conn.read(&mut buf) {
//!         if conn.write_all(&buf[..n]).is_err() {
//!             break;
//!         }
//!     }
//! })
//! .start();
//!
//! let clients: Vec<_> = (0..10)
//!     .map(|i| {
//!         greenlet::spawn(move || {
//!             let mut conn = TcpStream::connect(addr).unwrap();
//!             let msg = format!("hello {i}");
//!             conn.write_all(msg.as_bytes()).unwrap();
//!             let mut reply = vec![0; msg.len()];
//!             conn.read_exact(&mut reply).unwrap();
//!             assert_eq!(reply, msg.as_bytes());
//!         })
//!     })
//!     .collect();
//! for r in greenlet::joinall(clients) {
//!     r.unwrap();
//! }
//! server.stop();
//! # Ok::<(), std::io::Error>(())
//! ```

mod addr;
mod server;
mod tcp;
mod udp;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

pub use addr::{lookup_host, ToSocketAddrs};
pub use server::{ServerHandle, StreamServer};
pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;

/// Runs `f` on each address of `addr` (resolved without blocking a worker) until one succeeds;
/// the last error otherwise.
fn each_addr<T>(
    addr: impl ToSocketAddrs,
    mut f: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for a in addr::resolve(&addr)? {
        match f(a) {
            Ok(t) => return Ok(t),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )
    }))
}

/// Logs the (practically impossible) failure to make an owned socket non-blocking.
fn set_nonblocking<S: std::os::fd::AsRawFd>(s: &S, result: io::Result<()>) {
    if let Err(e) = result {
        log::error!(
            "greenlet: could not make fd {} non-blocking ({e}); its calls will block a worker",
            s.as_raw_fd()
        );
    }
}

/// Read and write timeouts, in nanoseconds (0: none; `u64::MAX`: 584 years or more, read back
/// as `Duration::MAX`). Any timeout too long for a deadline means no deadline (`deadline::after`).
struct Timeouts {
    read: AtomicU64,
    write: AtomicU64,
}

impl Timeouts {
    fn new() -> Timeouts {
        Timeouts {
            read: AtomicU64::new(0),
            write: AtomicU64::new(0),
        }
    }

    fn encode(timeout: Option<Duration>) -> io::Result<u64> {
        match timeout {
            None => Ok(0),
            Some(d) if d.is_zero() => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout (use None for no timeout)",
            )),
            Some(d) => Ok(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1)),
        }
    }

    fn decode(ns: u64) -> Option<Duration> {
        match ns {
            0 => None,
            u64::MAX => Some(Duration::MAX),
            ns => Some(Duration::from_nanos(ns)),
        }
    }

    fn set_read(&self, t: Option<Duration>) -> io::Result<()> {
        self.read.store(Timeouts::encode(t)?, Relaxed);
        Ok(())
    }

    fn set_write(&self, t: Option<Duration>) -> io::Result<()> {
        self.write.store(Timeouts::encode(t)?, Relaxed);
        Ok(())
    }

    fn read(&self) -> Option<Duration> {
        Timeouts::decode(self.read.load(Relaxed))
    }

    fn write(&self) -> Option<Duration> {
        Timeouts::decode(self.write.load(Relaxed))
    }
}
