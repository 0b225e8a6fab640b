//! [`UdpSocket`]: std's UDP socket whose receives and sends park the greenlet.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use super::socket::{socket_methods, std_impls, Socket};
use super::{each_addr, ToSocketAddrs};
use crate::io::Direction;

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
    inner: Arc<Socket<std::net::UdpSocket>>,
}

impl UdpSocket {
    /// Binds to `addr` (the first of its addresses that works). A host name is resolved on the
    /// thread pool (see [`ToSocketAddrs`](super::ToSocketAddrs)).
    ///
    /// ```
    /// let socket = greenlet::net::UdpSocket::bind("127.0.0.1:0")?;
    /// assert!(socket.local_addr()?.port() > 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        each_addr(addr, |a| UdpSocket::from_std(std::net::UdpSocket::bind(a)?))
    }

    socket_methods!(
        UdpSocket,
        std::net::UdpSocket,
        SocketAddr,
        "let std_socket = std::net::UdpSocket::bind(\"127.0.0.1:0\")?;",
        "let s = greenlet::net::UdpSocket::bind(\"127.0.0.1:0\")?;",
        "s.recv_from(&mut [0; 8])"
    );

    #[track_caller]
    fn read_op<R>(&self, op: impl FnMut(&std::net::UdpSocket) -> io::Result<R>) -> io::Result<R> {
        self.inner.do_io(Direction::Read, op, |_| false)
    }

    #[track_caller]
    fn write_op<R>(&self, op: impl FnMut(&std::net::UdpSocket) -> io::Result<R>) -> io::Result<R> {
        self.inner.do_io(Direction::Write, op, |_| false)
    }

    /// Sets the default peer: `send` goes there and `recv` takes datagrams from it only. A host
    /// name is resolved on the thread pool.
    ///
    /// ```
    /// use greenlet::net::UdpSocket;
    /// let (a, b) = (UdpSocket::bind("127.0.0.1:0")?, UdpSocket::bind("127.0.0.1:0")?);
    /// a.connect(b.local_addr()?)?; // send/recv now talk to b only
    /// assert_eq!(a.peer_addr()?, b.local_addr()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        each_addr(addr, |a| self.std().connect(a))
    }

    /// Sends a datagram to the connected peer.
    ///
    /// ```
    /// use greenlet::net::UdpSocket;
    /// let (a, b) = (UdpSocket::bind("127.0.0.1:0")?, UdpSocket::bind("127.0.0.1:0")?);
    /// a.connect(b.local_addr()?)?;
    /// a.send(b"hello")?;
    /// let mut buf = [0; 16];
    /// let (n, from) = b.recv_from(&mut buf)?;
    /// assert_eq!((&buf[..n], from), (&b"hello"[..], a.local_addr()?));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[track_caller]
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.write_op(|s| s.send(buf))
    }

    /// Receives a datagram from the connected peer.
    ///
    /// ```
    /// use greenlet::net::UdpSocket;
    /// let (a, b) = (UdpSocket::bind("127.0.0.1:0")?, UdpSocket::bind("127.0.0.1:0")?);
    /// b.connect(a.local_addr()?)?;
    /// a.send_to(b"x", b.local_addr()?)?;
    /// let mut buf = [0; 4];
    /// assert_eq!(b.recv(&mut buf)?, 1); // parks until a datagram comes
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[track_caller]
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_op(|s| s.recv(buf))
    }

    /// Sends a datagram to `addr` (its first address; a host name is resolved on the thread pool
    /// at each call, as std resolves it at each call).
    ///
    /// ```
    /// use greenlet::net::UdpSocket;
    /// let (a, b) = (UdpSocket::bind("127.0.0.1:0")?, UdpSocket::bind("127.0.0.1:0")?);
    /// assert_eq!(a.send_to(b"ping", b.local_addr()?)?, 4);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[track_caller]
    pub fn send_to(&self, buf: &[u8], addr: impl ToSocketAddrs) -> io::Result<usize> {
        let addr = super::addr::resolve(&addr)?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to send to"))?;
        self.write_op(|s| s.send_to(buf, addr))
    }

    /// Receives a datagram and the address it came from.
    ///
    /// ```
    /// use greenlet::net::UdpSocket;
    /// let server = UdpSocket::bind("127.0.0.1:0")?;
    /// let server_addr = server.local_addr()?;
    /// greenlet::spawn(move || -> std::io::Result<()> {
    ///     let mut buf = [0; 64];
    ///     let (n, peer) = server.recv_from(&mut buf)?; // an echo server of one datagram
    ///     server.send_to(&buf[..n], peer)?;
    ///     Ok(())
    /// });
    /// let client = UdpSocket::bind("127.0.0.1:0")?;
    /// client.send_to(b"echo", server_addr)?;
    /// let mut buf = [0; 64];
    /// let (n, from) = client.recv_from(&mut buf)?;
    /// assert_eq!((&buf[..n], from), (&b"echo"[..], server_addr));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[track_caller]
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.read_op(|s| s.recv_from(buf))
    }

    /// Receives a datagram without removing it from the queue.
    ///
    /// ```
    /// use greenlet::net::UdpSocket;
    /// let (a, b) = (UdpSocket::bind("127.0.0.1:0")?, UdpSocket::bind("127.0.0.1:0")?);
    /// a.send_to(b"hi", b.local_addr()?)?;
    /// let mut buf = [0; 8];
    /// let (n, _) = b.peek_from(&mut buf)?;
    /// assert_eq!(b.recv_from(&mut buf)?.0, n); // the same datagram again
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[track_caller]
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.read_op(|s| s.peek_from(buf))
    }

    /// Sets `SO_BROADCAST`.
    ///
    /// ```
    /// let socket = greenlet::net::UdpSocket::bind("127.0.0.1:0")?;
    /// socket.set_broadcast(true)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.std().set_broadcast(on)
    }

    /// Sets `IP_TTL`.
    ///
    /// ```
    /// let socket = greenlet::net::UdpSocket::bind("127.0.0.1:0")?;
    /// socket.set_ttl(16)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.std().set_ttl(ttl)
    }
}

std_impls!(UdpSocket, std::net::UdpSocket, local_addr);
