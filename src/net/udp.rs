//! [`UdpSocket`]: std's UDP socket whose receives and sends park the greenlet.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use super::{each_addr, set_nonblocking, Timeouts};
use crate::io::{Direction, Source};

/// A UDP socket; `recv` and `send` park the greenlet until the socket is ready.
///
/// Like [`std::net::UdpSocket`]. Read and write timeouts fail with
/// [`io::ErrorKind::TimedOut`]. Clones share the socket.
///
/// ```
/// use greenlet::net::UdpSocket;
///
/// let a = UdpSocket::bind("127.0.0.1:0")?;
/// let b = UdpSocket::bind("127.0.0.1:0")?;
/// let b_addr = b.local_addr()?;
/// let receiver = greenlet::spawn(move || {
///     let mut buf = [0; 16];
///     let (n, from) = b.recv_from(&mut buf).unwrap();
///     (buf[..n].to_vec(), from)
/// });
/// a.send_to(b"ping", b_addr)?;
/// let (data, from) = receiver.join().unwrap();
/// assert_eq!(data, b"ping");
/// assert_eq!(from, a.local_addr()?);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct UdpSocket {
    inner: Arc<UdpInner>,
}

struct UdpInner {
    source: Source<std::net::UdpSocket>,
    timeouts: Timeouts,
}

impl UdpSocket {
    /// Binds to `addr` (the first of its addresses that works).
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        each_addr(addr, |a| UdpSocket::from_std(std::net::UdpSocket::bind(a)?))
    }

    /// Wraps a std socket (it is put in non-blocking mode).
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        socket.set_nonblocking(true)?;
        Ok(UdpSocket::wrap(socket))
    }

    fn wrap(socket: std::net::UdpSocket) -> UdpSocket {
        UdpSocket {
            inner: Arc::new(UdpInner {
                source: Source::new(socket),
                timeouts: Timeouts::new(),
            }),
        }
    }

    fn std(&self) -> &std::net::UdpSocket {
        self.inner.source.get_ref()
    }

    fn read_op<R>(&self, op: impl FnMut(&std::net::UdpSocket) -> io::Result<R>) -> io::Result<R> {
        let timeout = self.inner.timeouts.read();
        self.inner
            .source
            .do_io(Direction::Read, timeout, op, |_| false)
    }

    fn write_op<R>(&self, op: impl FnMut(&std::net::UdpSocket) -> io::Result<R>) -> io::Result<R> {
        let timeout = self.inner.timeouts.write();
        self.inner
            .source
            .do_io(Direction::Write, timeout, op, |_| false)
    }

    /// Sets the default peer: `send` goes there and `recv` takes datagrams from it only.
    pub fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        each_addr(addr, |a| self.std().connect(a))
    }

    /// Sends a datagram to the connected peer.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.write_op(|s| s.send(buf))
    }

    /// Receives a datagram from the connected peer.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_op(|s| s.recv(buf))
    }

    /// Sends a datagram to `addr` (its first address).
    pub fn send_to(&self, buf: &[u8], addr: impl ToSocketAddrs) -> io::Result<usize> {
        let addr = addr
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to send to"))?;
        self.write_op(|s| s.send_to(buf, addr))
    }

    /// Receives a datagram and the address it came from.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.read_op(|s| s.recv_from(buf))
    }

    /// Receives a datagram without removing it from the queue.
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.read_op(|s| s.peek_from(buf))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.std().local_addr()
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.std().peer_addr()
    }

    /// Bounds each receive: one that waits longer fails with `TimedOut`. `None` waits
    /// forever; `Some(Duration::ZERO)` is an `InvalidInput` error, as in std.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.timeouts.set_read(timeout)
    }

    /// Bounds each send, like [`set_read_timeout`](UdpSocket::set_read_timeout).
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.timeouts.set_write(timeout)
    }

    /// The read timeout.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.inner.timeouts.read())
    }

    /// The write timeout.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.inner.timeouts.write())
    }

    /// Sets `SO_BROADCAST`.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.std().set_broadcast(on)
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.std().set_ttl(ttl)
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.std().take_error()
    }

    /// Another handle to the same socket. Never fails; the `io::Result` matches std.
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        Ok(self.clone())
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket")
            .field("addr", &self.local_addr().ok())
            .field("fd", &self.std().as_raw_fd())
            .finish()
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.std().as_raw_fd()
    }
}

impl AsFd for UdpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.std().as_fd()
    }
}

impl From<std::net::UdpSocket> for UdpSocket {
    /// Wraps a std socket (see [`UdpSocket::from_std`]).
    fn from(s: std::net::UdpSocket) -> UdpSocket {
        set_nonblocking(&s, s.set_nonblocking(true));
        UdpSocket::wrap(s)
    }
}
