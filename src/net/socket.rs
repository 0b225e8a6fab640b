//! What every socket type of this module shares, written once: the [`Socket`] core (a
//! registered descriptor plus its read and write timeouts, whose operations park), and macros
//! for the public surface that is the same in each type (timeout accessors, `AsFd`/`AsRawFd`,
//! `Read`/`Write` for the type and its reference, `From` the std type).

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::io::{Direction, Source};

/// A non-blocking socket registered with the IO driver, and its read and write timeouts.
/// Handles share it through an `Arc` (`try_clone` shares timeouts too, as std's clones share
/// the socket's options).
pub(crate) struct Socket<S: AsRawFd> {
    source: Source<S>,
    timeouts: Timeouts,
}

impl<S: AsRawFd> Socket<S> {
    /// Wraps `io`, which the caller has put in non-blocking mode.
    pub(crate) fn new(io: S) -> Socket<S> {
        Socket {
            source: Source::new(io),
            timeouts: Timeouts::new(),
        }
    }

    /// A new socket behind an `Arc`, as the socket types hold it.
    pub(crate) fn shared(io: S) -> std::sync::Arc<Socket<S>> {
        std::sync::Arc::new(Socket::new(io))
    }

    pub(crate) fn get_ref(&self) -> &S {
        self.source.get_ref()
    }

    pub(crate) fn source(&self) -> &Source<S> {
        &self.source
    }

    pub(crate) fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }

    /// Runs `op` until it does not block, parking in between until `dir` is ready, within
    /// that direction's timeout (see `Source::do_io`).
    #[track_caller]
    pub(crate) fn do_io<R>(
        &self,
        dir: Direction,
        op: impl FnMut(&S) -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> io::Result<R> {
        let timeout = match dir {
            Direction::Read => self.timeouts.read(),
            Direction::Write => self.timeouts.write(),
        };
        self.source.do_io(dir, timeout, op, drained)
    }
}

impl<S: AsRawFd> Socket<S>
where
    for<'a> &'a S: Read + Write,
{
    #[track_caller]
    pub(crate) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let len = buf.len();
        // A short read emptied the socket: the next read waits for the next event.
        self.do_io(Direction::Read, |mut s| s.read(buf), |&n| n > 0 && n < len)
    }

    #[track_caller]
    pub(crate) fn read_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.do_io(Direction::Read, |mut s| s.read_vectored(bufs), |_| false)
    }

    #[track_caller]
    pub(crate) fn write(&self, buf: &[u8]) -> io::Result<usize> {
        let len = buf.len();
        self.do_io(Direction::Write, |mut s| s.write(buf), |&n| n < len)
    }

    #[track_caller]
    pub(crate) fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.do_io(Direction::Write, |mut s| s.write_vectored(bufs), |_| false)
    }
}

/// Read and write timeouts, in nanoseconds (0: none; `u64::MAX`: 584 years or more, read back
/// as `Duration::MAX`). Any timeout too long for a deadline means no deadline (`deadline::after`).
pub(crate) struct Timeouts {
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

    pub(crate) fn set_read(&self, t: Option<Duration>) -> io::Result<()> {
        self.read.store(Timeouts::encode(t)?, Relaxed);
        Ok(())
    }

    pub(crate) fn set_write(&self, t: Option<Duration>) -> io::Result<()> {
        self.write.store(Timeouts::encode(t)?, Relaxed);
        Ok(())
    }

    #[track_caller]
    pub(crate) fn read(&self) -> Option<Duration> {
        Timeouts::decode(self.read.load(Relaxed))
    }

    #[track_caller]
    pub(crate) fn write(&self) -> Option<Duration> {
        Timeouts::decode(self.write.load(Relaxed))
    }
}

/// Logs the (practically impossible) failure to make an owned socket non-blocking.
pub(crate) fn set_nonblocking<S: AsRawFd>(s: &S, result: io::Result<()>) {
    if let Err(e) = result {
        log::error!(
            "greenlet: could not make fd {} non-blocking ({e}); its calls will block a worker",
            s.as_raw_fd()
        );
    }
}

/// The methods every socket type with an `inner: Arc<Socket<$std>>` has in common: its private
/// `wrap` and `std`, `from_std`, the addresses, `take_error`, `try_clone` and the four timeout
/// accessors. Doc-test code: `$std_setup` makes a std socket `std_socket`, `$setup` a socket `s`
/// of the type, and `$read` is an expression that reads from `s` (nothing arrives).
macro_rules! socket_methods {
    ($ty:ident, $std:ty, $addr:ty, $std_setup:literal, $setup:literal, $read:literal) => {
        $crate::net::socket::wrap_methods!(
            $ty,
            $std,
            $std_setup,
            std_socket,
            inner: $crate::net::socket::Socket::shared
        );

        fn std(&self) -> &$std {
            self.inner.get_ref()
        }

        $crate::net::socket::addr_methods!($addr, $setup, s);

        /// The address of the connected peer (an error if not connected).
        ///
        /// ```
        #[doc = $setup]
        /// println!("peer: {:?}", s.peer_addr());
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn peer_addr(&self) -> io::Result<$addr> {
            self.std().peer_addr()
        }

        /// Another handle to the same socket (one greenlet may read while another writes); it
        /// shares the timeouts too. Never fails; the `io::Result` matches std.
        ///
        /// ```
        /// use std::os::fd::AsRawFd;
        #[doc = $setup]
        /// let other = s.try_clone()?;
        /// assert_eq!(other.as_raw_fd(), s.as_raw_fd()); // the same socket
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn try_clone(&self) -> io::Result<$ty> {
            Ok(self.clone())
        }

        /// Bounds each read: one that waits longer fails with `TimedOut`. `None` waits forever
        /// (so does a duration too long to be a deadline, up to `Duration::MAX`);
        /// `Some(Duration::ZERO)` is an `InvalidInput` error, as in std.
        ///
        /// ```
        /// use std::io::{ErrorKind, Read};
        /// use std::time::Duration;
        #[doc = $setup]
        /// s.set_read_timeout(Some(Duration::from_millis(5)))?;
        #[doc = concat!("let err = ", $read, ".unwrap_err(); // nothing comes")]
        /// assert_eq!(err.kind(), ErrorKind::TimedOut);
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn set_read_timeout(&self, timeout: Option<std::time::Duration>) -> io::Result<()> {
            self.inner.timeouts().set_read(timeout)
        }

        #[doc = concat!("Bounds each write, like [`set_read_timeout`](", stringify!($ty), "::set_read_timeout).")]
        ///
        /// ```
        /// use std::time::Duration;
        #[doc = $setup]
        /// s.set_write_timeout(Some(Duration::from_secs(1)))?;
        /// assert_eq!(s.write_timeout()?, Some(Duration::from_secs(1)));
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn set_write_timeout(&self, timeout: Option<std::time::Duration>) -> io::Result<()> {
            self.inner.timeouts().set_write(timeout)
        }

        /// The read timeout (`None`: reads wait forever).
        ///
        /// ```
        #[doc = $setup]
        /// assert_eq!(s.read_timeout()?, None);
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn read_timeout(&self) -> io::Result<Option<std::time::Duration>> {
            Ok(self.inner.timeouts().read())
        }

        /// The write timeout (`None`: writes wait forever).
        ///
        /// ```
        #[doc = $setup]
        /// assert_eq!(s.write_timeout()?, None);
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn write_timeout(&self) -> io::Result<Option<std::time::Duration>> {
            Ok(self.inner.timeouts().write())
        }
    };
}

/// The methods [`TcpListener`](super::TcpListener) and [`UnixListener`](super::UnixListener)
/// have in common (a `source: Source<$std>`). Doc-test code: `$std_setup` makes a bound std
/// listener `std_listener`, `$setup` a listener `l` of the type and its address `addr`, and
/// `$connect` is an expression that connects a client to `addr`.
macro_rules! listener_methods {
    ($ty:ident, $std:ty, $stream:ident, $addr:ty, $std_setup:literal, $setup:literal, $connect:literal) => {
        $crate::net::socket::wrap_methods!(
            $ty,
            $std,
            $std_setup,
            std_listener,
            source: $crate::io::Source::new
        );

        fn std(&self) -> &$std {
            self.source.get_ref()
        }

        /// Waits for a connection (parking the greenlet; on a plain thread, blocking it) and
        /// returns it with the peer's address.
        ///
        /// ```
        #[doc = $setup]
        #[doc = concat!("let client = greenlet::spawn(move || ", $connect, ");")]
        /// let (conn, peer) = l.accept()?; // parks until the client connects
        /// println!("a client from {peer:?}");
        /// # drop((conn, client.join()));
        /// # Ok::<(), std::io::Error>(())
        /// ```
        #[track_caller]
        pub fn accept(&self) -> io::Result<($stream, $addr)> {
            let (stream, addr) =
                self.source
                    .do_io($crate::io::Direction::Read, None, |l| l.accept(), |_| false)?;
            Ok(($stream::from_std(stream)?, addr))
        }

        /// An endless iterator over incoming connections, like std's (it never returns `None`).
        ///
        /// ```
        #[doc = $setup]
        #[doc = concat!("greenlet::spawn(move || ", $connect, ");")]
        /// let first = l.incoming().next().unwrap()?;
        /// # drop(first);
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn incoming(&self) -> $crate::net::Incoming<'_, $ty> {
            $crate::net::Incoming::new(self)
        }

        $crate::net::socket::addr_methods!($addr, $setup, l);
    };
}

/// `from_std` and the private `wrap` (`$field: $make(std_object)`). Doc-test code: `$std_setup`
/// makes the std object `$var`.
macro_rules! wrap_methods {
    ($ty:ident, $std:ty, $std_setup:literal, $var:ident, $field:ident: $make:path) => {
        /// Wraps a socket made with the standard library (it is put in non-blocking mode): its
        /// calls now park the greenlet.
        ///
        /// ```
        #[doc = $std_setup]
        #[doc = concat!("let wrapped = greenlet::net::", stringify!($ty), "::from_std(", stringify!($var), ")?;")]
        /// # drop(wrapped);
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn from_std(io: $std) -> io::Result<$ty> {
            io.set_nonblocking(true)?;
            Ok($ty::wrap(io))
        }

        fn wrap(io: $std) -> $ty {
            $ty { $field: $make(io) }
        }
    };
}

/// `local_addr` and `take_error`, for sockets and listeners (`$var`: the doc tests' object).
macro_rules! addr_methods {
    ($addr:ty, $setup:literal, $var:ident) => {
        /// The local address (the one this socket or listener is bound to).
        ///
        /// ```
        #[doc = $setup]
        #[doc = concat!("println!(\"local address: {:?}\", ", stringify!($var), ".local_addr()?);")]
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn local_addr(&self) -> io::Result<$addr> {
            self.std().local_addr()
        }

        /// Takes the pending socket error (`SO_ERROR`), if any.
        ///
        /// ```
        #[doc = $setup]
        #[doc = concat!("assert!(", stringify!($var), ".take_error()?.is_none());")]
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn take_error(&self) -> io::Result<Option<io::Error>> {
            self.std().take_error()
        }
    };
}

/// `AsRawFd` and `AsFd` for a type whose `$get(&self)` returns the wrapped std object.
macro_rules! fd_impls {
    ($ty:ty, $get:ident) => {
        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.$get().as_raw_fd()
            }
        }

        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.$get().as_fd()
            }
        }
    };
}

/// `Read` and `Write` for a stream type and for its shared reference (one greenlet may read
/// while another writes), through its `inner: Arc<Socket<_>>`.
macro_rules! stream_io {
    ($ty:ty) => {
        $crate::net::socket::stream_io!(@impl $ty);
        $crate::net::socket::stream_io!(@impl &$ty);
    };
    (@impl $ty:ty) => {
        impl std::io::Read for $ty {
            #[track_caller]
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.inner.read(buf)
            }
            #[track_caller]
            fn read_vectored(&mut self, bufs: &mut [std::io::IoSliceMut<'_>]) -> io::Result<usize> {
                self.inner.read_vectored(bufs)
            }
        }

        impl std::io::Write for $ty {
            #[track_caller]
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.inner.write(buf)
            }
            #[track_caller]
            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> io::Result<usize> {
                self.inner.write_vectored(bufs)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
    };
}

/// The trait impls every socket type has: `Debug` (the addresses named by `$field`, and the
/// descriptor), `AsRawFd`, `AsFd` and `From` its std type (through its `std` and `wrap`).
macro_rules! std_impls {
    ($ty:ident, $std:ty, $($field:ident),*) => {
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    $(.field(stringify!($field), &self.$field().ok()))*
                    .field("fd", &std::os::fd::AsRawFd::as_raw_fd(self))
                    .finish()
            }
        }

        $crate::net::socket::fd_impls!($ty, std);

        impl From<$std> for $ty {
            #[doc = concat!("Wraps a std socket (see [`", stringify!($ty), "::from_std`]).")]
            fn from(s: $std) -> $ty {
                $crate::net::socket::set_nonblocking(&s, s.set_nonblocking(true));
                $ty::wrap(s)
            }
        }
    };
}

pub(crate) use {
    addr_methods, fd_impls, listener_methods, socket_methods, std_impls, stream_io, wrap_methods,
};
