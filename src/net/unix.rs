//! [`UnixListener`], [`UnixStream`] and [`UnixDatagram`]: std's Unix domain sockets whose
//! blocking calls park the greenlet.
//!
//! Like the TCP and UDP types, each wraps the std socket in non-blocking mode, registered with
//! the IO driver on first use. A Unix `connect` either completes at once or fails with
//! `WouldBlock` when the listener's backlog is full: then the caller sleeps briefly
//! (cooperatively) and tries again, where std would block the thread.

use std::io;
use std::net::Shutdown;
use std::os::unix::net::{self, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::listen;
use super::socket::{listener_methods, socket_methods, std_impls, stream_io, Socket};
use crate::io::{Direction, Source};

/// A Unix socket server, listening for connections on a path; `accept` parks the greenlet.
///
/// Like [`std::os::unix::net::UnixListener`] (dropping it does not remove the socket file, as
/// in std). The listen backlog is 4096, as for [`TcpListener`](super::TcpListener). Serve one
/// with [`StreamServer`](super::StreamServer) as you would a TCP listener.
///
/// ```
/// use std::io::{Read, Write};
/// use greenlet::net::{UnixListener, UnixStream};
///
/// let path = std::env::temp_dir().join(format!("greenlet-unix-doc-{}", std::process::id()));
/// # let _ = std::fs::remove_file(&path);
/// let listener = UnixListener::bind(&path)?;
/// let server = greenlet::spawn(move || -> std::io::Result<()> {
///     let (mut conn, _peer) = listener.accept()?;
///     let mut buf = [0; 5];
///     conn.read_exact(&mut buf)?;
///     conn.write_all(&buf) // echo it back
/// });
/// let mut client = UnixStream::connect(&path)?;
/// client.write_all(b"hello")?;
/// let mut reply = [0; 5];
/// client.read_exact(&mut reply)?;
/// assert_eq!(&reply, b"hello");
/// server.join().unwrap()?;
/// std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixListener {
    source: Source<net::UnixListener>,
}

impl UnixListener {
    /// Binds to `path` (which must not exist yet) and listens.
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("greenlet-bind-doc-{}", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let listener = greenlet::net::UnixListener::bind(&path)?;
    /// assert_eq!(listener.local_addr()?.as_pathname(), Some(path.as_path()));
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        UnixListener::bind_addr(&SocketAddr::from_pathname(path)?)
    }

    /// Binds to `addr` (a path, or on Linux an abstract name) and listens.
    ///
    /// ```
    /// use std::os::linux::net::SocketAddrExt;
    /// use std::os::unix::net::SocketAddr;
    /// let name = format!("greenlet-abstract-doc-{}", std::process::id());
    /// let addr = SocketAddr::from_abstract_name(name.as_bytes())?; // no file to clean up
    /// let listener = greenlet::net::UnixListener::bind_addr(&addr)?;
    /// let client = greenlet::net::UnixStream::connect_addr(&addr)?;
    /// # drop((listener, client));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind_addr(addr: &SocketAddr) -> io::Result<UnixListener> {
        let listener = net::UnixListener::bind_addr(addr)?;
        listen(&listener)?;
        UnixListener::from_std(listener)
    }

    listener_methods!(
        UnixListener,
        net::UnixListener,
        UnixStream,
        SocketAddr,
        "use std::os::linux::net::SocketAddrExt;\n\
         let name = format!(\"greenlet-doc-{}\", std::process::id());\n\
         let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;\n\
         let std_listener = std::os::unix::net::UnixListener::bind_addr(&addr)?;",
        "use std::os::linux::net::SocketAddrExt;\n\
         let name = format!(\"greenlet-doc-{}\", std::process::id());\n\
         let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;\n\
         let l = greenlet::net::UnixListener::bind_addr(&addr)?;",
        "greenlet::net::UnixStream::connect_addr(&addr)"
    );
}

std_impls!(UnixListener, net::UnixListener, local_addr);

/// A Unix stream connection; reads, writes and connecting park the greenlet.
///
/// Like [`std::os::unix::net::UnixStream`], with `Read` and `Write` for the stream and for
/// `&UnixStream`, read and write timeouts that fail with [`io::ErrorKind::TimedOut`], and a
/// closed peer seen as `Ok(0)` on read. Clones made with [`try_clone`](UnixStream::try_clone)
/// share the socket, its timeouts included.
///
/// ```
/// use std::io::{Read, Write};
/// use greenlet::net::UnixStream;
///
/// let (mut a, mut b) = UnixStream::pair()?;
/// let echo = greenlet::spawn(move || {
///     let mut buf = [0; 4];
///     b.read_exact(&mut buf).unwrap(); // parks until a writes
///     b.write_all(&buf).unwrap();
/// });
/// a.write_all(b"ping")?;
/// let mut reply = [0; 4];
/// a.read_exact(&mut reply)?;
/// assert_eq!(&reply, b"ping");
/// echo.join().unwrap();
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct UnixStream {
    inner: Arc<Socket<net::UnixStream>>,
}

impl UnixStream {
    /// Connects to the socket at `path`. If the listener's backlog is full, waits (parking) and
    /// tries again.
    ///
    /// ```
    /// use greenlet::net::{UnixListener, UnixStream};
    /// let path = std::env::temp_dir().join(format!("greenlet-conn-doc-{}", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let listener = UnixListener::bind(&path)?;
    /// let stream = UnixStream::connect(&path)?;
    /// assert_eq!(stream.peer_addr()?.as_pathname(), Some(path.as_path()));
    /// # drop((stream, listener));
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[track_caller]
    pub fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        UnixStream::connect_addr(&SocketAddr::from_pathname(path)?)
    }

    /// Connects to `addr` (a path, or on Linux an abstract name), like
    /// [`connect`](UnixStream::connect).
    ///
    /// ```
    /// use std::os::linux::net::SocketAddrExt;
    /// use std::os::unix::net::SocketAddr;
    /// let name = format!("greenlet-cabstract-doc-{}", std::process::id());
    /// let addr = SocketAddr::from_abstract_name(name.as_bytes())?;
    /// let listener = greenlet::net::UnixListener::bind_addr(&addr)?;
    /// let stream = greenlet::net::UnixStream::connect_addr(&addr)?;
    /// # drop((stream, listener));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[track_caller]
    pub fn connect_addr(addr: &SocketAddr) -> io::Result<UnixStream> {
        let mut pause = Duration::from_micros(100);
        loop {
            match mio::net::UnixStream::connect_addr(addr) {
                Ok(s) => return Ok(UnixStream::wrap(s.into())),
                // The listener's backlog is full: no descriptor to wait on, so back off.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    crate::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// A pair of connected streams (`socketpair`), e.g. to talk between two greenlets or with a
    /// child process.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// let (mut a, mut b) = greenlet::net::UnixStream::pair()?;
    /// a.write_all(b"hi")?;
    /// let mut buf = [0; 2];
    /// b.read_exact(&mut buf)?;
    /// assert_eq!(&buf, b"hi");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = net::UnixStream::pair()?;
        Ok((UnixStream::from_std(a)?, UnixStream::from_std(b)?))
    }

    socket_methods!(
        UnixStream,
        net::UnixStream,
        SocketAddr,
        "let (std_socket, peer) = std::os::unix::net::UnixStream::pair()?;\n\
         # drop(peer);",
        "let (s, _peer) = greenlet::net::UnixStream::pair()?;",
        "(&s).read(&mut [0; 8])"
    );

    /// Shuts down the read half, the write half or both (the peer reads end-of-file after a
    /// write shutdown).
    ///
    /// ```
    /// use std::io::Read;
    /// use std::net::Shutdown;
    /// let (a, mut b) = greenlet::net::UnixStream::pair()?;
    /// a.shutdown(Shutdown::Write)?;
    /// assert_eq!(b.read(&mut [0; 8])?, 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.std().shutdown(how)
    }
}

stream_io!(UnixStream);

std_impls!(UnixStream, net::UnixStream, local_addr, peer_addr);

/// A Unix datagram socket; `recv` and `send` park the greenlet until the socket is ready.
///
/// Like [`std::os::unix::net::UnixDatagram`]. Read and write timeouts fail with
/// [`io::ErrorKind::TimedOut`]. Clones share the socket.
///
/// ```
/// use greenlet::net::UnixDatagram;
///
/// let (a, b) = UnixDatagram::pair()?;
/// let receiver = greenlet::spawn(move || {
///     let mut buf = [0; 16];
///     let n = b.recv(&mut buf).unwrap(); // parks until a datagram comes
///     buf[..n].to_vec()
/// });
/// a.send(b"ping")?;
/// assert_eq!(receiver.join().unwrap(), b"ping");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct UnixDatagram {
    inner: Arc<Socket<net::UnixDatagram>>,
}

impl UnixDatagram {
    /// A socket bound to `path` (which must not exist yet).
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("greenlet-dbind-doc-{}", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let socket = greenlet::net::UnixDatagram::bind(&path)?;
    /// assert_eq!(socket.local_addr()?.as_pathname(), Some(path.as_path()));
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        UnixDatagram::from_std(net::UnixDatagram::bind(path)?)
    }

    /// A socket bound to `addr` (a path, or on Linux an abstract name).
    ///
    /// ```
    /// use std::os::linux::net::SocketAddrExt;
    /// use std::os::unix::net::SocketAddr;
    /// let name = format!("greenlet-dabstract-doc-{}", std::process::id());
    /// let addr = SocketAddr::from_abstract_name(name.as_bytes())?;
    /// let socket = greenlet::net::UnixDatagram::bind_addr(&addr)?;
    /// # drop(socket);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind_addr(addr: &SocketAddr) -> io::Result<UnixDatagram> {
        UnixDatagram::from_std(net::UnixDatagram::bind_addr(addr)?)
    }

    /// A socket bound to no address (it can send, and receive once connected).
    ///
    /// ```
    /// let socket = greenlet::net::UnixDatagram::unbound()?;
    /// assert!(socket.local_addr()?.is_unnamed());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn unbound() -> io::Result<UnixDatagram> {
        UnixDatagram::from_std(net::UnixDatagram::unbound()?)
    }

    /// A pair of connected sockets (`socketpair`).
    ///
    /// ```
    /// let (a, b) = greenlet::net::UnixDatagram::pair()?;
    /// a.send(b"x")?;
    /// assert_eq!(b.recv(&mut [0; 4])?, 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = net::UnixDatagram::pair()?;
        Ok((UnixDatagram::from_std(a)?, UnixDatagram::from_std(b)?))
    }

    /// Sets the default peer: `send` goes there and `recv` takes datagrams from it only.
    ///
    /// ```
    /// use greenlet::net::UnixDatagram;
    /// let path = std::env::temp_dir().join(format!("greenlet-dconn-doc-{}", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let server = UnixDatagram::bind(&path)?;
    /// let client = UnixDatagram::unbound()?;
    /// client.connect(&path)?;
    /// client.send(b"hello")?;
    /// assert_eq!(server.recv(&mut [0; 16])?, 5);
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[track_caller]
    pub fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        self.std().connect(path)
    }

    /// Sets the default peer to `addr` (a path, or on Linux an abstract name).
    ///
    /// ```
    /// use std::os::linux::net::SocketAddrExt;
    /// use std::os::unix::net::SocketAddr;
    /// use greenlet::net::UnixDatagram;
    /// let name = format!("greenlet-dcabstract-doc-{}", std::process::id());
    /// let addr = SocketAddr::from_abstract_name(name.as_bytes())?;
    /// let server = UnixDatagram::bind_addr(&addr)?;
    /// let client = UnixDatagram::unbound()?;
    /// client.connect_addr(&addr)?;
    /// client.send(b"hi")?;
    /// assert_eq!(server.recv(&mut [0; 8])?, 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[track_caller]
    pub fn connect_addr(&self, addr: &SocketAddr) -> io::Result<()> {
        self.std().connect_addr(addr)
    }

    /// Sends a datagram to the connected peer.
    ///
    /// ```
    /// let (a, b) = greenlet::net::UnixDatagram::pair()?;
    /// assert_eq!(a.send(b"hello")?, 5);
    /// # drop(b);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[track_caller]
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner
            .do_io(Direction::Write, |s| s.send(buf), |_| false)
    }

    /// Receives a datagram from the connected peer.
    ///
    /// ```
    /// let (a, b) = greenlet::net::UnixDatagram::pair()?;
    /// a.send(b"hello")?;
    /// let mut buf = [0; 16];
    /// let n = b.recv(&mut buf)?; // parks until a datagram comes
    /// assert_eq!(&buf[..n], b"hello");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[track_caller]
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner
            .do_io(Direction::Read, |s| s.recv(buf), |_| false)
    }

    /// Sends a datagram to the socket bound at `path`.
    ///
    /// ```
    /// use greenlet::net::UnixDatagram;
    /// let path = std::env::temp_dir().join(format!("greenlet-dsend-doc-{}", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let server = UnixDatagram::bind(&path)?;
    /// UnixDatagram::unbound()?.send_to(b"ping", &path)?;
    /// assert_eq!(server.recv(&mut [0; 8])?, 4);
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[track_caller]
    pub fn send_to(&self, buf: &[u8], path: impl AsRef<Path>) -> io::Result<usize> {
        let path = path.as_ref();
        self.inner
            .do_io(Direction::Write, |s| s.send_to(buf, path), |_| false)
    }

    /// Sends a datagram to `addr` (a path, or on Linux an abstract name).
    ///
    /// ```
    /// use std::os::linux::net::SocketAddrExt;
    /// use std::os::unix::net::SocketAddr;
    /// use greenlet::net::UnixDatagram;
    /// let name = format!("greenlet-dsabstract-doc-{}", std::process::id());
    /// let addr = SocketAddr::from_abstract_name(name.as_bytes())?;
    /// let server = UnixDatagram::bind_addr(&addr)?;
    /// UnixDatagram::unbound()?.send_to_addr(b"ping", &addr)?;
    /// assert_eq!(server.recv(&mut [0; 8])?, 4);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[track_caller]
    pub fn send_to_addr(&self, buf: &[u8], addr: &SocketAddr) -> io::Result<usize> {
        self.inner
            .do_io(Direction::Write, |s| s.send_to_addr(buf, addr), |_| false)
    }

    /// Receives a datagram and the address it came from.
    ///
    /// ```
    /// use greenlet::net::UnixDatagram;
    /// let dir = std::env::temp_dir();
    /// let (sp, cp) = (dir.join(format!("greenlet-drs-{}", std::process::id())),
    ///                 dir.join(format!("greenlet-drc-{}", std::process::id())));
    /// # let _ = (std::fs::remove_file(&sp), std::fs::remove_file(&cp));
    /// let server = UnixDatagram::bind(&sp)?;
    /// let client = UnixDatagram::bind(&cp)?;
    /// client.send_to(b"echo", &sp)?;
    /// let mut buf = [0; 16];
    /// let (n, from) = server.recv_from(&mut buf)?;
    /// assert_eq!((&buf[..n], from.as_pathname()), (&b"echo"[..], Some(cp.as_path())));
    /// std::fs::remove_file(&sp)?;
    /// std::fs::remove_file(&cp)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[track_caller]
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner
            .do_io(Direction::Read, |s| s.recv_from(buf), |_| false)
    }

    /// Shuts down the read half, the write half or both.
    ///
    /// ```
    /// use std::net::Shutdown;
    /// let (a, _b) = greenlet::net::UnixDatagram::pair()?;
    /// a.shutdown(Shutdown::Write)?;
    /// assert!(a.send(b"x").is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.std().shutdown(how)
    }

    socket_methods!(
        UnixDatagram,
        net::UnixDatagram,
        SocketAddr,
        "let std_socket = std::os::unix::net::UnixDatagram::unbound()?;",
        "let (s, _peer) = greenlet::net::UnixDatagram::pair()?;",
        "s.recv(&mut [0; 8])"
    );
}

std_impls!(UnixDatagram, net::UnixDatagram, local_addr);
