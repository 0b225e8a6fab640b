//! [`TcpListener`] and [`TcpStream`]: std's TCP types whose blocking calls park the greenlet.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use super::{each_addr, set_nonblocking, Timeouts, ToSocketAddrs};
use crate::io::{Direction, Source};

/// The listen backlog: enough for a thousand clients connecting at once (std's 128 is not).
const BACKLOG: libc::c_int = 4096;

/// A TCP socket server, listening for connections; `accept` parks the greenlet.
///
/// Like [`std::net::TcpListener`], but accepting parks only the calling greenlet (on a plain
/// thread it blocks the thread). The listen backlog is 4096 (capped by the system's
/// `net.core.somaxconn`), so bursts of connections are not refused.
///
/// ```
/// use std::io::{Read, Write};
/// use greenlet::net::{TcpListener, TcpStream};
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let server = greenlet::spawn(move || -> std::io::Result<()> {
///     let (mut conn, _peer) = listener.accept()?;
///     let mut buf = [0; 5];
///     conn.read_exact(&mut buf)?;
///     conn.write_all(&buf) // echo it back
/// });
/// let mut client = TcpStream::connect(addr)?;
/// client.write_all(b"hello")?;
/// let mut reply = [0; 5];
/// client.read_exact(&mut reply)?;
/// assert_eq!(&reply, b"hello");
/// server.join().unwrap()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TcpListener {
    source: Source<std::net::TcpListener>,
}

impl TcpListener {
    /// Binds to `addr` (the first of its addresses that works) and listens. A host name is
    /// resolved on the thread pool (see [`ToSocketAddrs`](super::ToSocketAddrs)).
    ///
    /// ```
    /// let listener = greenlet::net::TcpListener::bind("127.0.0.1:0")?; // port 0: any free port
    /// assert!(listener.local_addr()?.port() > 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        each_addr(addr, |a| {
            let listener = std::net::TcpListener::bind(a)?;
            // std listens with a backlog of 128; listening again raises it (Linux allows it).
            // SAFETY: `listen` only reads its two integer arguments; the fd is owned by
            // `listener`, which lives across the call.
            if unsafe { libc::listen(listener.as_raw_fd(), BACKLOG) } != 0 {
                return Err(io::Error::last_os_error());
            }
            TcpListener::from_std(listener)
        })
    }

    /// Wraps a listener bound with the standard library (it is put in non-blocking mode).
    ///
    /// ```
    /// let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let listener = greenlet::net::TcpListener::from_std(std_listener)?;
    /// # drop(listener);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        Ok(TcpListener {
            source: Source::new(listener),
        })
    }

    /// Waits for a connection and returns it with the peer's address.
    ///
    /// ```
    /// use greenlet::net::{TcpListener, TcpStream};
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// let client = greenlet::spawn(move || TcpStream::connect(addr));
    /// let (conn, peer) = listener.accept()?; // parks until a client connects
    /// assert_eq!(peer, client.join().unwrap()?.local_addr()?);
    /// # drop(conn);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, addr) = self
            .source
            .do_io(Direction::Read, None, |l| l.accept(), |_| false)?;
        Ok((TcpStream::from_std(stream)?, addr))
    }

    /// An endless iterator over incoming connections, like std's.
    ///
    /// ```no_run
    /// # use greenlet::net::TcpListener;
    /// let listener = TcpListener::bind("127.0.0.1:7000")?;
    /// for conn in listener.incoming() {
    ///     let conn = conn?;
    ///     greenlet::spawn(move || drop(conn));
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The address this listener is bound to.
    ///
    /// ```
    /// let listener = greenlet::net::TcpListener::bind("127.0.0.1:0")?;
    /// assert!(listener.local_addr()?.ip().is_loopback());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.source.get_ref().local_addr()
    }

    /// Sets `IP_TTL` on the socket.
    ///
    /// ```
    /// let listener = greenlet::net::TcpListener::bind("127.0.0.1:0")?;
    /// listener.set_ttl(64)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.source.get_ref().set_ttl(ttl)
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    ///
    /// ```
    /// let listener = greenlet::net::TcpListener::bind("127.0.0.1:0")?;
    /// assert!(listener.take_error()?.is_none());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.source.get_ref().take_error()
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("addr", &self.local_addr().ok())
            .field("fd", &self.source.get_ref().as_raw_fd())
            .finish()
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.source.get_ref().as_raw_fd()
    }
}

impl AsFd for TcpListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.source.get_ref().as_fd()
    }
}

impl From<std::net::TcpListener> for TcpListener {
    /// Wraps a std listener (see [`TcpListener::from_std`]).
    fn from(l: std::net::TcpListener) -> TcpListener {
        set_nonblocking(&l, l.set_nonblocking(true));
        TcpListener {
            source: Source::new(l),
        }
    }
}

/// The iterator of [`TcpListener::incoming`]; it never returns `None`.
///
/// ```
/// let listener = greenlet::net::TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// greenlet::spawn(move || greenlet::net::TcpStream::connect(addr));
/// let first = listener.incoming().next().unwrap()?; // never None: accepts for ever
/// # drop(first);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;
    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

/// A TCP connection; reads, writes and connecting park the greenlet.
///
/// Like [`std::net::TcpStream`], with `Read` and `Write` for the stream and for `&TcpStream`
/// (so one greenlet can read while another writes), read and write timeouts that fail with
/// [`io::ErrorKind::TimedOut`], and a closed peer seen as `Ok(0)` on read. Clones made with
/// [`try_clone`](TcpStream::try_clone) share the socket, its timeouts included.
///
/// ```
/// use std::io::{BufRead, BufReader, Write};
/// use greenlet::net::{TcpListener, TcpStream};
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// greenlet::spawn(move || {
///     let (mut conn, _) = listener.accept().unwrap();
///     conn.write_all(b"+OK ready\r\n").unwrap();
/// });
/// let conn = TcpStream::connect(addr)?;
/// let mut line = String::new();
/// BufReader::new(&conn).read_line(&mut line)?;
/// assert_eq!(line, "+OK ready\r\n");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct TcpStream {
    inner: Arc<StreamInner>,
}

struct StreamInner {
    source: Source<std::net::TcpStream>,
    timeouts: Timeouts,
}

impl TcpStream {
    /// Connects to `addr` (each of its addresses in turn until one accepts). A host name is
    /// resolved on the thread pool, an IP literal on the spot (see
    /// [`ToSocketAddrs`](super::ToSocketAddrs)).
    ///
    /// ```
    /// use greenlet::net::{TcpListener, TcpStream};
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect(listener.local_addr()?)?; // parks until connected
    /// assert_eq!(stream.peer_addr()?, listener.local_addr()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        each_addr(addr, |a| TcpStream::connect_addr(a, None))
    }

    /// Connects to `addr`, failing with `TimedOut` if it takes longer than `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use greenlet::net::{TcpListener, TcpStream};
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect_timeout(&listener.local_addr()?, Duration::from_secs(1))?;
    /// # drop(stream);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        TcpStream::connect_addr(*addr, Some(timeout))
    }

    fn connect_addr(addr: SocketAddr, timeout: Option<Duration>) -> io::Result<TcpStream> {
        // A non-blocking connect: EINPROGRESS, then writable once the handshake is over.
        let stream = TcpStream::wrap(mio::net::TcpStream::connect(addr)?.into());
        let connected = stream.inner.source.do_io(
            Direction::Write,
            timeout,
            |s| {
                if let Some(e) = s.take_error()? {
                    return Err(e);
                }
                match s.peer_addr() {
                    Ok(_) => Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                        Err(io::ErrorKind::WouldBlock.into())
                    }
                    Err(e) => Err(e),
                }
            },
            |_| false,
        );
        match connected {
            Ok(()) => Ok(stream),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connecting to {addr} timed out"),
            )),
            Err(e) => Err(e),
        }
    }

    /// Wraps a connected std stream (it is put in non-blocking mode).
    ///
    /// ```
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let std_stream = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// let stream = greenlet::net::TcpStream::from_std(std_stream)?; // now cooperative
    /// # drop(stream);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        Ok(TcpStream::wrap(stream))
    }

    fn wrap(stream: std::net::TcpStream) -> TcpStream {
        TcpStream {
            inner: Arc::new(StreamInner {
                source: Source::new(stream),
                timeouts: Timeouts::new(),
            }),
        }
    }

    fn std(&self) -> &std::net::TcpStream {
        self.inner.source.get_ref()
    }

    /// The remote address.
    ///
    /// ```
    /// use greenlet::net::{TcpListener, TcpStream};
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect(listener.local_addr()?)?;
    /// assert_eq!(stream.peer_addr()?, listener.local_addr()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.std().peer_addr()
    }

    /// The local address.
    ///
    /// ```
    /// use greenlet::net::{TcpListener, TcpStream};
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect(listener.local_addr()?)?;
    /// let (_conn, peer) = listener.accept()?;
    /// assert_eq!(stream.local_addr()?, peer);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.std().local_addr()
    }

    /// Shuts down the read half, the write half or both (the peer reads end-of-file after a
    /// write shutdown).
    ///
    /// ```
    /// use std::io::Read;
    /// use std::net::Shutdown;
    /// use greenlet::net::{TcpListener, TcpStream};
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let client = TcpStream::connect(listener.local_addr()?)?;
    /// let (mut conn, _) = listener.accept()?;
    /// client.shutdown(Shutdown::Write)?; // the peer reads end of stream
    /// assert_eq!(conn.read(&mut [0; 8])?, 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.std().shutdown(how)
    }

    /// Sets `TCP_NODELAY` (disables Nagle's algorithm: small writes go out at once).
    ///
    /// ```
    /// use greenlet::net::{TcpListener, TcpStream};
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect(listener.local_addr()?)?;
    /// stream.set_nodelay(true)?; // send small writes at once
    /// assert!(stream.nodelay()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.std().set_nodelay(nodelay)
    }

    /// Whether `TCP_NODELAY` is set.
    ///
    /// ```
    /// use greenlet::net::{TcpListener, TcpStream};
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect(listener.local_addr()?)?;
    /// assert!(!stream.nodelay()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn nodelay(&self) -> io::Result<bool> {
        self.std().nodelay()
    }

    /// Sets `IP_TTL`.
    ///
    /// ```
    /// use greenlet::net::{TcpListener, TcpStream};
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// TcpStream::connect(listener.local_addr()?)?.set_ttl(32)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.std().set_ttl(ttl)
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    ///
    /// ```
    /// use greenlet::net::{TcpListener, TcpStream};
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// assert!(TcpStream::connect(listener.local_addr()?)?.take_error()?.is_none());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.std().take_error()
    }

    /// Bounds each read: one that waits longer fails with `TimedOut`. `None` waits forever;
    /// `Some(Duration::ZERO)` is an `InvalidInput` error, as in std.
    ///
    /// ```
    /// use std::io::{ErrorKind, Read};
    /// use std::time::Duration;
    /// use greenlet::net::{TcpListener, TcpStream};
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let mut stream = TcpStream::connect(listener.local_addr()?)?;
    /// stream.set_read_timeout(Some(Duration::from_millis(5)))?;
    /// let err = stream.read(&mut [0; 8]).unwrap_err(); // the peer says nothing
    /// assert_eq!(err.kind(), ErrorKind::TimedOut);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.timeouts.set_read(timeout)
    }

    /// Bounds each write, like [`set_read_timeout`](TcpStream::set_read_timeout).
    ///
    /// ```
    /// use std::time::Duration;
    /// use greenlet::net::{TcpListener, TcpStream};
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect(listener.local_addr()?)?;
    /// stream.set_write_timeout(Some(Duration::from_secs(1)))?;
    /// assert_eq!(stream.write_timeout()?, Some(Duration::from_secs(1)));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.timeouts.set_write(timeout)
    }

    /// The read timeout.
    ///
    /// ```
    /// use greenlet::net::{TcpListener, TcpStream};
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// assert_eq!(TcpStream::connect(listener.local_addr()?)?.read_timeout()?, None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.inner.timeouts.read())
    }

    /// The write timeout.
    ///
    /// ```
    /// use greenlet::net::{TcpListener, TcpStream};
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// assert_eq!(TcpStream::connect(listener.local_addr()?)?.write_timeout()?, None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.inner.timeouts.write())
    }

    /// Another handle to the same connection (shared socket and timeouts). Never fails; the
    /// `io::Result` matches std.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use greenlet::net::{TcpListener, TcpStream};
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect(listener.local_addr()?)?;
    /// let (mut conn, _) = listener.accept()?;
    /// let mut writer = stream.try_clone()?; // one greenlet writes...
    /// greenlet::spawn(move || writer.write_all(b"ping"));
    /// let mut buf = [0; 4];
    /// conn.read_exact(&mut buf)?; // ...while another may read
    /// assert_eq!(&buf, b"ping");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        Ok(self.clone())
    }

    /// Reads without removing the data from the socket's queue.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use greenlet::net::{TcpListener, TcpStream};
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let mut client = TcpStream::connect(listener.local_addr()?)?;
    /// let (mut conn, _) = listener.accept()?;
    /// client.write_all(b"GET")?;
    /// let mut buf = [0; 3];
    /// assert_eq!(conn.peek(&mut buf)?, 3); // looked at, still there
    /// conn.read_exact(&mut buf)?;
    /// assert_eq!(&buf, b"GET");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.source.do_io(
            Direction::Read,
            self.inner.timeouts.read(),
            |s| s.peek(buf),
            |_| false,
        )
    }
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let len = buf.len();
        self.inner.source.do_io(
            Direction::Read,
            self.inner.timeouts.read(),
            |mut s| s.read(buf),
            // A short read emptied the socket: the next read waits for the next event.
            |&n| n > 0 && n < len,
        )
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.inner.source.do_io(
            Direction::Read,
            self.inner.timeouts.read(),
            |mut s| s.read_vectored(bufs),
            |_| false,
        )
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let len = buf.len();
        self.inner.source.do_io(
            Direction::Write,
            self.inner.timeouts.write(),
            |mut s| s.write(buf),
            |&n| n < len,
        )
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.inner.source.do_io(
            Direction::Write,
            self.inner.timeouts.write(),
            |mut s| s.write_vectored(bufs),
            |_| false,
        )
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&*self).read_vectored(bufs)
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("addr", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .field("fd", &self.std().as_raw_fd())
            .finish()
    }
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.std().as_raw_fd()
    }
}

impl AsFd for TcpStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.std().as_fd()
    }
}

impl From<std::net::TcpStream> for TcpStream {
    /// Wraps a std stream (see [`TcpStream::from_std`]).
    fn from(s: std::net::TcpStream) -> TcpStream {
        set_nonblocking(&s, s.set_nonblocking(true));
        TcpStream::wrap(s)
    }
}
