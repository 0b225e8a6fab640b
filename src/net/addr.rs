//! Cooperative name resolution: [`ToSocketAddrs`] and [`lookup_host`].
//!
//! `getaddrinfo` blocks its thread (for seconds when a name server is slow), so a host name is
//! resolved on the [thread pool](crate::threadpool) while only the calling greenlet parks, as Go's
//! cgo resolver and tokio do. An IP literal needs no resolution and takes a fast path on the
//! caller, with no thread hop.
//!
//! # Why a trait of our own
//!
//! `std::net::ToSocketAddrs` offers one method, which resolves on the calling thread. Its
//! arguments are usually borrowed (`&str`), so they cannot be sent to a pool thread as they are,
//! and a generic `T: std::net::ToSocketAddrs` cannot say whether it holds a literal or a name
//! without resolving it. So this module's [`ToSocketAddrs`] is implemented for every type std
//! implements its trait for (the same set, the same parsing rules), and each impl turns its value
//! into either addresses (a literal: done) or an owned host name and port (sent to the pool).
//! Code that passes a `&str`, a `String`, a `SocketAddr`, an `(IpAddr, u16)`, a `(&str, u16)` or
//! a `&[SocketAddr]` to std compiles unchanged against this crate. The trait is sealed: a type
//! of your own that implements std's trait can be resolved first (on the pool:
//! `threadpool::apply(move || addr.to_socket_addrs().map(Vec::from_iter))`) and its addresses
//! passed as a slice. This is tokio's design (`tokio::net::ToSocketAddrs`), for the same reason.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::vec;

/// Addresses that sockets of this crate can bind or connect to: like
/// [`std::net::ToSocketAddrs`], and implemented for the same types, but a host name is resolved
/// on the thread pool (the greenlet parks; no worker blocks) and an IP literal on the spot.
///
/// ```
/// use std::net::{Ipv4Addr, SocketAddr};
/// use greenlet::net::{TcpListener, TcpStream};
///
/// let listener = TcpListener::bind("127.0.0.1:0")?; // a literal: no resolution at all
/// let port = listener.local_addr()?.port();
/// let by_name = TcpStream::connect(("localhost", port))?; // resolved on the thread pool
/// let by_string = TcpStream::connect(format!("127.0.0.1:{port}"))?;
/// let by_tuple = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
/// let by_slice = TcpStream::connect(&[listener.local_addr()?][..])?;
/// # drop((by_name, by_string, by_tuple, by_slice));
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait ToSocketAddrs: sealed::Sealed {}

pub(crate) mod sealed {
    use super::*;

    /// What an address argument stands for.
    #[derive(Debug)]
    pub enum Target {
        /// Addresses known without any lookup.
        Addrs(vec::IntoIter<SocketAddr>),
        /// A host name (and port) to resolve.
        Name(String, u16),
    }

    /// The hidden half of [`ToSocketAddrs`](super::ToSocketAddrs).
    pub trait Sealed {
        /// The addresses, or the owned name to resolve (so that it can move to a pool thread).
        fn target(&self) -> io::Result<Target>;
    }
}

use sealed::{Sealed, Target};

fn one(a: impl Into<SocketAddr>) -> io::Result<Target> {
    Ok(Target::Addrs(vec![a.into()].into_iter()))
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what.to_string())
}

/// A literal IP address and port, or a host name to resolve (std's rules for `(&str, u16)`).
fn host_port(host: &str, port: u16) -> io::Result<Target> {
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return one((ip, port));
    }
    if let Ok(ip) = host.parse::<Ipv6Addr>() {
        return one((ip, port));
    }
    Ok(Target::Name(host.to_owned(), port))
}

/// `"addr:port"`, `"[v6addr]:port"` or `"host:port"` (std's rules for `str`).
fn host_and_port(s: &str) -> io::Result<Target> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return one(addr);
    }
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| invalid("invalid socket address (expected host:port)"))?;
    let port: u16 = port.parse().map_err(|_| invalid("invalid port value"))?;
    Ok(Target::Name(host.to_owned(), port))
}

/// Implements the trait for types whose value is already an address.
macro_rules! literal {
    ($($t:ty),*) => {$(
        impl ToSocketAddrs for $t {}
        impl Sealed for $t {
            fn target(&self) -> io::Result<Target> {
                one(*self)
            }
        }
    )*};
}

literal!(
    SocketAddr,
    SocketAddrV4,
    SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16)
);

impl ToSocketAddrs for [SocketAddr] {}
impl Sealed for [SocketAddr] {
    fn target(&self) -> io::Result<Target> {
        Ok(Target::Addrs(Vec::from(self).into_iter()))
    }
}

impl ToSocketAddrs for str {}
impl Sealed for str {
    fn target(&self) -> io::Result<Target> {
        host_and_port(self)
    }
}

impl ToSocketAddrs for String {}
impl Sealed for String {
    fn target(&self) -> io::Result<Target> {
        host_and_port(self)
    }
}

impl ToSocketAddrs for (&str, u16) {}
impl Sealed for (&str, u16) {
    fn target(&self) -> io::Result<Target> {
        host_port(self.0, self.1)
    }
}

impl ToSocketAddrs for (String, u16) {}
impl Sealed for (String, u16) {
    fn target(&self) -> io::Result<Target> {
        host_port(&self.0, self.1)
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {}
impl<T: ToSocketAddrs + ?Sized> Sealed for &T {
    fn target(&self) -> io::Result<Target> {
        (**self).target()
    }
}

/// Resolves `host` to its socket addresses without blocking a worker: a host name is looked up
/// on the [thread pool](crate::threadpool) while the calling greenlet parks (on a plain thread,
/// the thread waits); an IP literal is returned at once. An unknown host is an error (whose
/// message names it), never a panic. Honours [`Greenlet::kill`](crate::Greenlet::kill) and
/// [`with_timeout`](crate::with_timeout): the caller unwinds at once and the lookup finishes
/// on its pool thread.
///
/// ```
/// let addrs: Vec<_> = greenlet::net::lookup_host("localhost:80")?.collect();
/// assert!(addrs.iter().any(|a| a.ip().is_loopback() && a.port() == 80));
///
/// let err = greenlet::net::lookup_host(("no-such-host.invalid", 80)).unwrap_err();
/// assert!(err.to_string().contains("no-such-host.invalid"));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn lookup_host(host: impl ToSocketAddrs) -> io::Result<vec::IntoIter<SocketAddr>> {
    resolve(&host)
}

/// The addresses `addr` stands for (see [`lookup_host`]).
pub(crate) fn resolve<A: ToSocketAddrs + ?Sized>(
    addr: &A,
) -> io::Result<vec::IntoIter<SocketAddr>> {
    match addr.target()? {
        Target::Addrs(addrs) => Ok(addrs),
        Target::Name(host, port) => crate::threadpool::apply(move || {
            std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
                .map_err(|e| io::Error::new(e.kind(), format!("failed to look up {host}: {e}")))
        }),
    }
}
