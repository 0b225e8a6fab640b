//! Cooperative sockets: TCP, UDP, Unix domain sockets and a greenlet-per-connection server,
//! like `gevent.socket` and `gevent.server`.
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
mod listener;
mod server;
mod socket;
mod tcp;
mod udp;
mod unix;

use std::io;
use std::net::SocketAddr;

use listener::listen;

pub use addr::{lookup_host, ToSocketAddrs};
pub use listener::{Incoming, Listener};
pub use server::{ServerHandle, StreamServer};
pub use tcp::{TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixDatagram, UnixListener, UnixStream};

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
