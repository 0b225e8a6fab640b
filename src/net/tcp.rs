//! [`TcpListener`] and [`TcpStream`]: std's TCP types whose blocking calls park the greenlet.

use std::io;
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use super::socket::{listener_methods, socket_methods, std_impls, stream_io, Socket};
use super::{each_addr, listen, ToSocketAddrs};
use crate::io::{Direction, Source};

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
            listen(&listener)?;
            TcpListener::from_std(listener)
        })
    }

    listener_methods!(
        TcpListener,
        std::net::TcpListener,
        TcpStream,
        SocketAddr,
        "let std_listener = std::net::TcpListener::bind(\"127.0.0.1:0\")?;",
        "let l = greenlet::net::TcpListener::bind(\"127.0.0.1:0\")?;\n\
         let addr = l.local_addr()?;",
        "greenlet::net::TcpStream::connect(addr)"
    );

    /// Sets `IP_TTL` on the socket.
    ///
    /// ```
    /// let listener = greenlet::net::TcpListener::bind("127.0.0.1:0")?;
    /// listener.set_ttl(64)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.std().set_ttl(ttl)
    }
}

std_impls!(TcpListener, std::net::TcpListener, local_addr);

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
    inner: Arc<Socket<std::net::TcpStream>>,
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
    #[track_caller]
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
    #[track_caller]
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        TcpStream::connect_addr(*addr, Some(timeout))
    }

    #[track_caller]
    fn connect_addr(addr: SocketAddr, timeout: Option<Duration>) -> io::Result<TcpStream> {
        // A non-blocking connect: EINPROGRESS, then writable once the handshake is over.
        let stream = TcpStream::wrap(mio::net::TcpStream::connect(addr)?.into());
        let connected = stream.inner.source().do_io(
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

    socket_methods!(
        TcpStream,
        std::net::TcpStream,
        SocketAddr,
        "let listener = std::net::TcpListener::bind(\"127.0.0.1:0\")?;\n\
         let std_socket = std::net::TcpStream::connect(listener.local_addr()?)?;",
        "let listener = greenlet::net::TcpListener::bind(\"127.0.0.1:0\")?;\n\
         let s = greenlet::net::TcpStream::connect(listener.local_addr()?)?;",
        "(&s).read(&mut [0; 8])"
    );

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
    #[track_caller]
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner
            .do_io(Direction::Read, |s| s.peek(buf), |_| false)
    }
}

stream_io!(TcpStream);

std_impls!(TcpStream, std::net::TcpStream, local_addr, peer_addr);
