//! Cooperative DNS: host names resolve on the thread pool, IP literals on the spot, an unknown
//! host is an error. Tests that saturate the thread pool run one at a time (a lock).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use greenlet::net::{lookup_host, TcpListener, TcpStream, UdpSocket};
use greenlet::{spawn, threadpool, with_timeout};

mod common;
use common::serial;

/// Occupies every thread of the pool until dropped.
struct Saturated {
    release: Arc<(Mutex<bool>, Condvar)>,
    jobs: Vec<greenlet::Greenlet<()>>,
}

fn saturate_pool() -> Saturated {
    let release = Arc::new((Mutex::new(false), Condvar::new()));
    let started = Arc::new(AtomicUsize::new(0));
    let jobs = (0..threadpool::max_threads())
        .map(|_| {
            let (release, started) = (release.clone(), started.clone());
            spawn(move || {
                threadpool::apply(move || {
                    started.fetch_add(1, SeqCst);
                    let (lock, cv) = &*release;
                    let mut go = lock.lock().unwrap();
                    while !*go {
                        go = cv.wait(go).unwrap();
                    }
                })
            })
        })
        .collect();
    while started.load(SeqCst) < threadpool::max_threads() {
        std::thread::sleep(Duration::from_millis(1));
    }
    Saturated { release, jobs }
}

impl Drop for Saturated {
    fn drop(&mut self) {
        *self.release.0.lock().unwrap() = true;
        self.release.1.notify_all();
        for j in self.jobs.drain(..) {
            j.join().unwrap();
        }
    }
}

#[test]
fn localhost_resolves_in_a_greenlet_and_on_a_thread() {
    let _s = serial();
    let g = spawn(|| lookup_host("localhost:8080").map(|a| a.collect::<Vec<_>>()));
    let addrs = g.join().unwrap().unwrap();
    assert!(addrs.iter().all(|a| a.port() == 8080), "{addrs:?}");
    assert!(addrs.iter().any(|a| a.ip().is_loopback()), "{addrs:?}");
    let addrs: Vec<_> = lookup_host(("localhost".to_string(), 7)).unwrap().collect();
    assert!(addrs.iter().any(|a| a.ip().is_loopback() && a.port() == 7));
}

#[test]
fn constructors_resolve_host_names() {
    let _s = serial();
    let listener = TcpListener::bind("localhost:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let g = spawn(move || {
        // `localhost` may list ::1 first; the listener is on whichever came first for bind,
        // and connect tries each address in turn.
        let conn = TcpStream::connect(("localhost", port)).unwrap();
        conn.peer_addr().unwrap()
    });
    let (_conn, _) = listener.accept().unwrap();
    assert_eq!(g.join().unwrap().port(), port);

    let a = UdpSocket::bind("localhost:0").unwrap();
    let b = UdpSocket::bind(listener.local_addr().unwrap().ip().to_string() + ":0").unwrap();
    let b_port = b.local_addr().unwrap().port();
    a.connect(format!("localhost:{b_port}")).unwrap();
    a.send_to(b"hi", ("localhost", b_port)).unwrap();
    let mut buf = [0; 4];
    let (n, _) = b.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"hi");
}

#[test]
fn an_unknown_host_is_an_error_naming_it_not_a_panic_or_a_hang() {
    let _s = serial();
    let g = spawn(|| {
        let e = lookup_host("no-such-host.invalid:80").unwrap_err();
        assert!(e.to_string().contains("no-such-host.invalid"), "{e}");
        let e = TcpStream::connect(("no-such-host.invalid", 80)).unwrap_err();
        assert!(e.to_string().contains("no-such-host.invalid"), "{e}");
        assert!(UdpSocket::bind("no-such-host.invalid:0").is_err());
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        assert!(s.send_to(b"x", "no-such-host.invalid:9").is_err());
    });
    g.join().unwrap();
    assert!(TcpListener::bind("no-such-host.invalid:0").is_err());
}

#[test]
fn malformed_addresses_are_invalid_input() {
    let _s = serial();
    for bad in ["localhost", "localhost:http", "127.0.0.1:99999", ""] {
        let e = lookup_host(bad).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{bad}: {e}");
    }
}

#[test]
fn literals_take_the_fast_path_even_with_the_pool_saturated() {
    let _s = serial();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let busy = saturate_pool();
    // Every form of literal resolves without a pool thread (they are all busy).
    let g = spawn(move || {
        let port = addr.port();
        let v4 = Ipv4Addr::LOCALHOST;
        let literal: Vec<Vec<SocketAddr>> = vec![
            lookup_host(addr).unwrap().collect(),
            lookup_host(format!("127.0.0.1:{port}")).unwrap().collect(),
            lookup_host(("127.0.0.1", port)).unwrap().collect(),
            lookup_host((IpAddr::V4(v4), port)).unwrap().collect(),
            lookup_host((v4, port)).unwrap().collect(),
            lookup_host(SocketAddrV4::new(v4, port)).unwrap().collect(),
            lookup_host(&[addr][..]).unwrap().collect(),
        ];
        for addrs in literal {
            assert_eq!(addrs, [addr]);
        }
        let v6: Vec<_> = lookup_host("[::1]:5").unwrap().collect();
        assert_eq!(v6, [SocketAddr::from((Ipv6Addr::LOCALHOST, 5))]);
        TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
        UdpSocket::bind("127.0.0.1:0").unwrap();
    });
    g.join().unwrap();
    drop(busy);
    drop(listener);
}

#[test]
fn host_names_go_to_the_pool_and_the_worker_stays_free() {
    let _s = serial();
    let busy = saturate_pool();
    // The lookup queues behind the busy pool threads: the caller parks (with_timeout can end
    // it), while greenlets keep running. Resolved inline, it would have returned at once.
    let ticks = Arc::new(AtomicUsize::new(0));
    let t = ticks.clone();
    let ticker = spawn(move || loop {
        t.fetch_add(1, SeqCst);
        greenlet::sleep(Duration::from_millis(1));
    });
    let g = spawn(|| with_timeout(Duration::from_millis(100), || lookup_host("localhost:80")));
    assert!(g.join().unwrap().is_err(), "resolved without the pool");
    assert!(ticks.load(SeqCst) > 0);
    ticker.kill();
    drop(busy);
    // With the pool free again, the same lookup succeeds.
    assert!(spawn(|| lookup_host("localhost:80"))
        .join()
        .unwrap()
        .is_ok());
}
