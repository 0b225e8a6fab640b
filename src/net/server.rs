//! [`StreamServer`]: gevent's `StreamServer`, one greenlet per accepted connection, over any
//! [`Listener`] (TCP or Unix).

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use super::{Listener, TcpListener};
use crate::pool::{Group, Pool};
use crate::{Greenlet, JoinError};

type Handler<L> = dyn Fn(<L as Listener>::Stream, <L as Listener>::Addr) + Send + Sync + 'static;

/// Serves a listener: each accepted connection is handed to `handler` in a greenlet of its own.
///
/// [`with_pool(n)`](StreamServer::with_pool) caps the connections handled at once (the accept
/// loop waits for a free slot; further clients wait in the listen backlog).
/// [`serve_forever`](StreamServer::serve_forever) runs the accept loop in the caller;
/// [`start`](StreamServer::start) runs it in a greenlet and returns a [`ServerHandle`] to stop it.
///
/// The listener is a [`TcpListener`] (the default type parameter) or a
/// [`UnixListener`](super::UnixListener) (or any [`Listener`]); the handler gets the
/// listener's stream type and the peer's address.
///
/// ```
/// use std::io::{Read, Write};
/// use greenlet::net::{StreamServer, TcpListener, TcpStream};
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let server = StreamServer::new(listener, |mut conn: TcpStream, peer| {
///     let _ = write!(conn, "hello {}\n", peer.ip());
/// })
/// .with_pool(100)
/// .start();
///
/// let mut reply = String::new();
/// TcpStream::connect(addr)?.read_to_string(&mut reply)?;
/// assert_eq!(reply, "hello 127.0.0.1\n");
/// server.stop();
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// Over a Unix socket:
///
/// ```
/// use std::io::{Read, Write};
/// use greenlet::net::{StreamServer, UnixListener, UnixStream};
///
/// let path = std::env::temp_dir().join(format!("greenlet-server-doc-{}", std::process::id()));
/// # let _ = std::fs::remove_file(&path);
/// let server = StreamServer::new(UnixListener::bind(&path)?, |mut conn: UnixStream, _peer| {
///     let _ = conn.write_all(b"hello over a unix socket\n");
/// })
/// .start();
/// let mut reply = String::new();
/// UnixStream::connect(&path)?.read_to_string(&mut reply)?;
/// assert_eq!(reply, "hello over a unix socket\n");
/// server.stop();
/// std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct StreamServer<L: Listener = TcpListener> {
    listener: L,
    handler: Arc<Handler<L>>,
    pool: Option<usize>,
}

/// The connections a server is handling.
#[derive(Clone)]
enum Handlers {
    Capped(Pool),
    Open(Group),
}

impl Handlers {
    fn spawn(&self, f: impl FnOnce() + Send + 'static) {
        match self {
            Handlers::Capped(p) => drop(p.spawn(f)),
            Handlers::Open(g) => drop(g.spawn(f)),
        }
    }

    fn len(&self) -> usize {
        match self {
            Handlers::Capped(p) => p.len(),
            Handlers::Open(g) => g.len(),
        }
    }

    fn join(&self) {
        match self {
            Handlers::Capped(p) => p.join(),
            Handlers::Open(g) => g.join(),
        }
    }

    fn kill(&self) {
        match self {
            Handlers::Capped(p) => p.kill(),
            Handlers::Open(g) => g.kill(),
        }
    }
}

impl<L: Listener> StreamServer<L> {
    /// A server that will call `handler(connection, peer_address)` for each connection.
    ///
    /// ```
    /// use std::io::Write;
    /// use greenlet::net::{StreamServer, TcpListener};
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let server = StreamServer::new(listener, |mut conn, _peer| {
    ///     let _ = conn.write_all(b"+OK\r\n");
    /// });
    /// let handle = server.start();
    /// handle.stop();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new<H>(listener: L, handler: H) -> StreamServer<L>
    where
        H: Fn(L::Stream, L::Addr) + Send + Sync + 'static,
    {
        StreamServer {
            listener,
            handler: Arc::new(handler),
            pool: None,
        }
    }

    /// Handles at most `n` connections at once (`n = 0` is taken as 1).
    ///
    /// ```
    /// use greenlet::net::{StreamServer, TcpListener};
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// // At most 1,000 connections served at once; more wait in the listen backlog.
    /// let server = StreamServer::new(listener, |_conn, _peer| {}).with_pool(1000);
    /// # drop(server);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn with_pool(mut self, n: usize) -> StreamServer<L> {
        self.pool = Some(n.max(1));
        self
    }

    /// The address the server listens on.
    ///
    /// ```
    /// use greenlet::net::{StreamServer, TcpListener};
    /// let server = StreamServer::new(TcpListener::bind("127.0.0.1:0")?, |_conn, _peer| {});
    /// assert!(server.local_addr()?.port() != 0); // the port the system chose
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_addr(&self) -> io::Result<L::Addr> {
        self.listener.local_addr()
    }

    fn handlers(&self) -> Handlers {
        match self.pool {
            Some(n) => Handlers::Capped(Pool::new(n)),
            None => Handlers::Open(Group::new()),
        }
    }

    /// Accepts and serves connections in the calling greenlet or thread until a fatal accept
    /// error, which it returns. Transient errors (a connection reset before it was accepted, out
    /// of file descriptors) are logged and retried after a pause.
    ///
    /// ```
    /// use std::io::Read;
    /// use greenlet::net::{StreamServer, TcpListener, TcpStream};
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// // A program's main would call serve_forever() itself; here it runs in a greenlet we can kill.
    /// let server = greenlet::spawn(move || {
    ///     StreamServer::new(listener, |conn, _peer| drop(conn)).serve_forever()
    /// });
    /// let mut buf = Vec::new();
    /// TcpStream::connect(addr)?.read_to_end(&mut buf)?; // served: closed at once
    /// server.kill();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn serve_forever(self) -> io::Result<()> {
        let handlers = self.handlers();
        accept_loop(&self.listener, &self.handler, &handlers, None)
    }

    /// Serves in a new greenlet; the handle stops it.
    ///
    /// ```
    /// use std::io::{BufRead, BufReader, Write};
    /// use greenlet::net::{StreamServer, TcpListener, TcpStream};
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// let handle = StreamServer::new(listener, |conn, _peer| {
    ///     // A line echo server: one greenlet per connection.
    ///     let mut reader = BufReader::new(&conn);
    ///     let mut line = String::new();
    ///     while reader.read_line(&mut line).unwrap_or(0) > 0 {
    ///         if (&conn).write_all(line.as_bytes()).is_err() {
    ///             break;
    ///         }
    ///         line.clear();
    ///     }
    /// })
    /// .start();
    /// let mut client = TcpStream::connect(addr)?;
    /// client.write_all(b"ping\n")?;
    /// let mut reply = String::new();
    /// BufReader::new(&client).read_line(&mut reply)?;
    /// assert_eq!(reply, "ping\n");
    /// handle.stop();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn start(self) -> ServerHandle<L> {
        let handlers = self.handlers();
        let addr = self.listener.local_addr().ok();
        let stopping = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let handlers = handlers.clone();
            let stopping = stopping.clone();
            crate::Builder::new()
                .name("StreamServer")
                .spawn(move || {
                    accept_loop(&self.listener, &self.handler, &handlers, Some(&stopping))
                })
                .unwrap_or_else(|e| {
                    // Spawning only fails on bad Builder settings, and these are fixed.
                    unreachable!("spawning the accept loop: {e}")
                })
        };
        ServerHandle {
            acceptor,
            stopping,
            handlers,
            addr,
        }
    }
}

/// The accept loop shared by `serve_forever` and `start`.
fn accept_loop<L: Listener>(
    listener: &L,
    handler: &Arc<Handler<L>>,
    handlers: &Handlers,
    stopping: Option<&AtomicBool>,
) -> io::Result<()> {
    // This loop parks in `accept` (or in a full pool's `spawn`) and never spins, so its
    // handlers may be placed for balance rather than on whichever worker is idle.
    crate::runtime::balance_children_of_current();
    let mut pause = Duration::from_millis(5);
    loop {
        match listener.accept() {
            Ok((conn, peer)) => {
                pause = Duration::from_millis(5);
                if stopping.is_some_and(|s| s.load(SeqCst)) {
                    return Ok(());
                }
                let handler = handler.clone();
                handlers.spawn(move || handler(conn, peer));
            }
            Err(e) if is_transient(&e) => {
                log::warn!("greenlet: StreamServer accept failed ({e}); retrying in {pause:?}");
                crate::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(1));
            }
            Err(e) if is_per_connection(&e) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Errors of one connection that died before it was accepted.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::PermissionDenied
    ) || e.raw_os_error() == Some(libc::EPROTO)
}

/// Resource exhaustion that passes when connections close.
fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Controls a server started with [`StreamServer::start`]. Dropping it leaves the server
/// running (like a detached greenlet).
///
/// ```
/// use greenlet::net::{StreamServer, TcpListener};
/// let handle = StreamServer::new(TcpListener::bind("127.0.0.1:0")?, |_c, _p| {}).start();
/// assert!(handle.is_running());
/// handle.stop();
/// assert!(!handle.is_running());
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct ServerHandle<L: Listener = TcpListener> {
    acceptor: Greenlet<io::Result<()>>,
    stopping: Arc<AtomicBool>,
    handlers: Handlers,
    addr: Option<L::Addr>,
}

impl<L: Listener> ServerHandle<L> {
    /// Stops accepting: once it returns, the listening socket is closed and no new connection
    /// will be served. Handlers already running go on to their end (see
    /// [`wait_handlers`](ServerHandle::wait_handlers)).
    ///
    /// ```
    /// use greenlet::net::{StreamServer, TcpListener, TcpStream};
    /// let handle = StreamServer::new(TcpListener::bind("127.0.0.1:0")?, |_c, _p| {}).start();
    /// let addr = handle.local_addr().unwrap();
    /// handle.stop();
    /// assert!(TcpStream::connect(addr).is_err()); // nobody listens any more
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stop(&self) {
        self.stopping.store(true, SeqCst);
        self.acceptor.kill();
        self.acceptor.wait();
    }

    /// Waits until every running handler has returned, or `timeout` passes (`None`: no limit).
    /// True when none is left.
    ///
    /// ```
    /// use std::time::Duration;
    /// use greenlet::net::{StreamServer, TcpListener, TcpStream};
    /// let handle = StreamServer::new(TcpListener::bind("127.0.0.1:0")?, |_conn, _peer| {
    ///     greenlet::sleep(Duration::from_millis(10)); // a slow request
    /// })
    /// .start();
    /// let _client = TcpStream::connect(handle.local_addr().unwrap())?;
    /// handle.stop(); // no new connections...
    /// assert!(handle.wait_handlers(Some(Duration::from_secs(5)))); // ...and the running one finished
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn wait_handlers(&self, timeout: Option<Duration>) -> bool {
        match timeout {
            None => {
                self.handlers.join();
                true
            }
            Some(d) => crate::with_timeout(d, || self.handlers.join()).is_ok(),
        }
    }

    /// Kills every running handler and waits until they are gone.
    ///
    /// ```
    /// use std::time::Duration;
    /// use greenlet::net::{StreamServer, TcpListener, TcpStream};
    /// let handle = StreamServer::new(TcpListener::bind("127.0.0.1:0")?, |_conn, _peer| {
    ///     greenlet::sleep(Duration::from_secs(3600)); // would never end
    /// })
    /// .start();
    /// let _client = TcpStream::connect(handle.local_addr().unwrap())?;
    /// while handle.connections() == 0 {
    ///     greenlet::sleep(Duration::from_millis(1));
    /// }
    /// handle.stop();
    /// handle.kill_handlers();
    /// assert_eq!(handle.connections(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn kill_handlers(&self) {
        self.handlers.kill();
    }

    /// How many connections are being handled now.
    ///
    /// ```
    /// use greenlet::net::{StreamServer, TcpListener};
    /// let handle = StreamServer::new(TcpListener::bind("127.0.0.1:0")?, |_c, _p| {}).start();
    /// assert_eq!(handle.connections(), 0);
    /// handle.stop();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connections(&self) -> usize {
        self.handlers.len()
    }

    /// The address the server listens (or listened) on.
    ///
    /// ```
    /// use greenlet::net::{StreamServer, TcpListener};
    /// let handle = StreamServer::new(TcpListener::bind("127.0.0.1:0")?, |_c, _p| {}).start();
    /// println!("listening on {}", handle.local_addr().unwrap());
    /// handle.stop();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_addr(&self) -> Option<L::Addr> {
        self.addr.clone()
    }

    /// Whether the accept loop still runs.
    ///
    /// ```
    /// use greenlet::net::{StreamServer, TcpListener};
    /// let handle = StreamServer::new(TcpListener::bind("127.0.0.1:0")?, |_c, _p| {}).start();
    /// assert!(handle.is_running());
    /// handle.stop();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_running(&self) -> bool {
        !self.acceptor.is_finished()
    }

    /// Waits until the accept loop ends, as `serve_forever` would: only a fatal accept error
    /// ends it, and `join` returns that error.
    ///
    /// ```
    /// use greenlet::net::{StreamServer, TcpListener};
    /// let handle = StreamServer::new(TcpListener::bind("127.0.0.1:0")?, |_c, _p| {}).start();
    /// handle.stop();
    /// handle.join()?; // stopped, not failed: Ok
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn join(self) -> io::Result<()> {
        match self.acceptor.join() {
            Ok(r) => r,
            Err(JoinError::Killed) => Ok(()),
            Err(JoinError::Panicked(p)) => std::panic::resume_unwind(p.into_inner()),
        }
    }
}

impl<L: Listener + fmt::Debug> fmt::Debug for StreamServer<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamServer")
            .field("listener", &self.listener)
            .field("pool", &self.pool)
            .finish()
    }
}

impl<L: Listener> fmt::Debug for ServerHandle<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandle")
            .field("addr", &self.addr)
            .field("running", &self.is_running())
            .field("connections", &self.connections())
            .finish()
    }
}
