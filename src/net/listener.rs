//! [`Listener`]: what [`TcpListener`] and [`UnixListener`] have in common, so that
//! [`StreamServer`](super::StreamServer) and [`Incoming`] serve either; and the listen backlog
//! both use.

use std::fmt;
use std::io;
use std::os::fd::AsRawFd;

use super::{TcpListener, TcpStream, UnixListener, UnixStream};

/// The listen backlog: enough for a thousand clients connecting at once (std's 128 is not).
const BACKLOG: libc::c_int = 4096;

/// Raises the listen backlog of a bound, listening socket to [`BACKLOG`] (capped by the
/// system's `net.core.somaxconn`). std listens with 128; listening again raises it.
pub(crate) fn listen(socket: &impl AsRawFd) -> io::Result<()> {
    // SAFETY: `listen` only reads its two integer arguments; the fd is owned by `socket`,
    // which the caller keeps alive across the call.
    if unsafe { libc::listen(socket.as_raw_fd(), BACKLOG) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A listening socket whose `accept` parks the greenlet: [`TcpListener`], [`UnixListener`], or
/// a type of your own (for example one that wraps accepted connections in TLS), to serve with
/// [`StreamServer`](super::StreamServer).
///
/// ```
/// use std::io::Write;
/// use greenlet::net::{Listener, UnixListener, UnixStream};
///
/// fn greet_one<L: Listener>(listener: &L) -> std::io::Result<L::Stream> {
///     let (conn, peer) = listener.accept()?;
///     println!("a client from {peer:?}");
///     Ok(conn)
/// }
/// let path = std::env::temp_dir().join(format!("greenlet-listener-doc-{}", std::process::id()));
/// # let _ = std::fs::remove_file(&path);
/// let listener = UnixListener::bind(&path)?;
/// let client = UnixStream::connect(&path)?;
/// let mut conn = greet_one(&listener)?;
/// conn.write_all(b"hello")?;
/// # drop(client);
/// std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait Listener: Send + Sync + 'static {
    /// The connection `accept` returns.
    type Stream: Send + 'static;
    /// The address of a peer, and of the listener.
    type Addr: Clone + fmt::Debug + Send + Sync + 'static;

    /// Waits for a connection (parking the greenlet) and returns it with the peer's address.
    fn accept(&self) -> io::Result<(Self::Stream, Self::Addr)>;

    /// The address this listener is bound to.
    fn local_addr(&self) -> io::Result<Self::Addr>;
}

impl Listener for TcpListener {
    type Stream = TcpStream;
    type Addr = std::net::SocketAddr;

    fn accept(&self) -> io::Result<(TcpStream, std::net::SocketAddr)> {
        TcpListener::accept(self)
    }

    fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        TcpListener::local_addr(self)
    }
}

impl Listener for UnixListener {
    type Stream = UnixStream;
    type Addr = std::os::unix::net::SocketAddr;

    fn accept(&self) -> io::Result<(UnixStream, std::os::unix::net::SocketAddr)> {
        UnixListener::accept(self)
    }

    fn local_addr(&self) -> io::Result<std::os::unix::net::SocketAddr> {
        UnixListener::local_addr(self)
    }
}

/// The iterator of [`TcpListener::incoming`] and [`UnixListener::incoming`]: each item is the
/// next accepted connection; it never returns `None`.
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
pub struct Incoming<'a, L: Listener = TcpListener> {
    listener: &'a L,
}

impl<'a, L: Listener> Incoming<'a, L> {
    pub(crate) fn new(listener: &'a L) -> Incoming<'a, L> {
        Incoming { listener }
    }
}

impl<L: Listener> Iterator for Incoming<'_, L> {
    type Item = io::Result<L::Stream>;
    fn next(&mut self) -> Option<io::Result<L::Stream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}
