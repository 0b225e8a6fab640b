//! net: TCP, UDP and StreamServer, with kill, timeouts and many concurrent connections.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenlet::net::{StreamServer, TcpListener, TcpStream, UdpSocket};
use greenlet::sync::Event;
use greenlet::{joinall, spawn, with_timeout};

mod common;

fn echo(mut conn: TcpStream, _peer: SocketAddr) {
    let mut buf = [0u8; 4096];
    loop {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if conn.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

/// A listener on a free port of 127.0.0.1, and its address.
fn local_listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

fn echo_server() -> (greenlet::net::ServerHandle, SocketAddr) {
    let (listener, addr) = local_listener();
    (StreamServer::new(listener, echo).start(), addr)
}

#[test]
fn echo_1000_concurrent_clients_nothing_lost_or_reordered() {
    let (server, addr) = echo_server();
    let clients: Vec<_> = (0..1000u32)
        .map(|c| {
            spawn(move || {
                let mut conn = TcpStream::connect(addr).unwrap();
                let mut expected = Vec::new();
                let mut got = Vec::new();
                for round in 0..20u32 {
                    let msg = format!("client {c} message {round};");
                    conn.write_all(msg.as_bytes()).unwrap();
                    expected.extend_from_slice(msg.as_bytes());
                    let mut buf = vec![0; msg.len()];
                    conn.read_exact(&mut buf).unwrap();
                    got.extend_from_slice(&buf);
                }
                conn.shutdown(Shutdown::Write).unwrap();
                let mut rest = Vec::new();
                conn.read_to_end(&mut rest).unwrap();
                assert!(rest.is_empty());
                assert_eq!(got, expected);
                got.len()
            })
        })
        .collect();
    let total: usize = joinall(clients).into_iter().map(Result::unwrap).sum();
    assert!(total > 1000 * 20 * 20);
    server.stop();
    assert!(server.wait_handlers(Some(Duration::from_secs(10))));
}

#[test]
fn plain_thread_client_and_bulk_transfer() {
    let (server, addr) = echo_server();
    // A plain thread (the test thread) uses the same types; a large write exercises partial
    // writes and write readiness.
    let conn = TcpStream::connect(addr).unwrap();
    let data: Vec<u8> = (0..4_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let writer = {
        let conn = conn.try_clone().unwrap();
        let data = data.clone();
        spawn(move || {
            (&conn).write_all(&data).unwrap();
            conn.shutdown(Shutdown::Write).unwrap();
        })
    };
    let mut got = Vec::new();
    (&conn).read_to_end(&mut got).unwrap();
    writer.join().unwrap();
    assert_eq!(got.len(), data.len());
    assert!(got == data);
    server.stop();
}

#[test]
fn read_timeout_is_timed_out_and_stream_stays_usable() {
    let (listener, addr) = local_listener();
    let go = Arc::new(Event::new());
    let server = {
        let go = go.clone();
        spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            go.wait();
            conn.write_all(b"late").unwrap();
        })
    };
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    assert_eq!(
        conn.read_timeout().unwrap(),
        Some(Duration::from_millis(50))
    );
    let start = Instant::now();
    let mut buf = [0; 4];
    let err = conn.read(&mut buf).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert!(start.elapsed() >= Duration::from_millis(50));
    go.set();
    conn.set_read_timeout(None).unwrap();
    conn.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"late");
    server.join().unwrap();
    assert_eq!(
        conn.set_read_timeout(Some(Duration::ZERO))
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
}

#[test]
fn peer_close_reads_zero() {
    let (listener, addr) = local_listener();
    let server = spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.write_all(b"bye").unwrap();
        // dropped: closes
    });
    let mut conn = TcpStream::connect(addr).unwrap();
    let mut got = Vec::new();
    conn.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"bye");
    assert_eq!(conn.read(&mut [0; 8]).unwrap(), 0);
    server.join().unwrap();
}

#[test]
fn connect_refused_is_an_error() {
    // Bind, learn the port, close: nobody listens there now.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let err = spawn(move || TcpStream::connect(addr).unwrap_err())
        .join()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
}

#[test]
fn killed_while_blocked_in_read() {
    let (listener, addr) = local_listener();
    let dropped = Arc::new(AtomicUsize::new(0));
    struct Guard(Arc<AtomicUsize>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
        }
    }
    let accepted = Arc::new(Event::new());
    let reader = {
        let dropped = dropped.clone();
        let accepted = accepted.clone();
        spawn(move || {
            let _guard = Guard(dropped);
            let (mut conn, _) = listener.accept().unwrap();
            accepted.set();
            let mut buf = [0; 8];
            let _ = conn.read(&mut buf); // nobody writes
            unreachable!("the read returned");
        })
    };
    let _client = TcpStream::connect(addr).unwrap();
    accepted.wait();
    greenlet::sleep(Duration::from_millis(20)); // let it park in read (a kill before works too)
    assert!(!reader.is_finished());
    reader.kill();
    assert!(reader.join().unwrap_err().is_killed());
    assert_eq!(dropped.load(SeqCst), 1);
}

#[test]
fn with_timeout_interrupts_accept_read_and_connect() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    // accept, in a greenlet and on this plain thread
    assert!(
        spawn(move || with_timeout(Duration::from_millis(30), || listener.accept()).is_err())
            .join()
            .unwrap()
    );
    let (listener, addr2) = local_listener();
    assert!(with_timeout(Duration::from_millis(30), || listener.accept()).is_err());
    // read
    let client = TcpStream::connect(addr2).unwrap();
    let (server_side, _) = listener.accept().unwrap();
    assert!(with_timeout(Duration::from_millis(30), || (&client).read(&mut [0; 4])).is_err());
    // the stream is still fine afterwards
    (&server_side).write_all(b"ok").unwrap();
    let mut buf = [0; 2];
    (&client).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ok");
    // connect to an address that never answers (TEST-NET-1, RFC 5737): either the timeout
    // interrupts it or the host has no route (or a firewall rejects it) and it fails at once.
    let blackhole: SocketAddr = "192.0.2.1:9".parse().unwrap();
    let start = Instant::now();
    match with_timeout(Duration::from_millis(50), || TcpStream::connect(blackhole)) {
        Err(_) => assert!(start.elapsed() >= Duration::from_millis(50)),
        Ok(r) => assert!(r.is_err()),
    }
    match TcpStream::connect_timeout(&blackhole, Duration::from_millis(50)) {
        Err(e) => assert!(
            matches!(
                e.kind(),
                ErrorKind::TimedOut
                    | ErrorKind::NetworkUnreachable
                    | ErrorKind::HostUnreachable
                    | ErrorKind::ConnectionRefused
            ),
            "{e:?}"
        ),
        Ok(_) => panic!("connected to a black hole"),
    }
}

#[test]
fn udp_send_recv_and_timeout() {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    let echo = spawn(move || {
        let mut buf = [0; 64];
        for _ in 0..100 {
            let (n, from) = b.recv_from(&mut buf).unwrap();
            b.send_to(&buf[..n], from).unwrap();
        }
    });
    a.connect(b_addr).unwrap();
    assert_eq!(a.peer_addr().unwrap(), b_addr);
    for i in 0..100u32 {
        a.send(&i.to_le_bytes()).unwrap();
        let mut buf = [0; 4];
        assert_eq!(a.recv(&mut buf).unwrap(), 4);
        assert_eq!(u32::from_le_bytes(buf), i);
    }
    echo.join().unwrap();
    a.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    assert_eq!(a.recv(&mut [0; 4]).unwrap_err().kind(), ErrorKind::TimedOut);
    assert_ne!(a_addr, b_addr);
}

#[test]
fn stream_server_pool_cap_is_enforced() {
    let (listener, addr) = local_listener();
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let server = {
        let (running, peak) = (running.clone(), peak.clone());
        StreamServer::new(listener, move |mut conn: TcpStream, _| {
            let now = running.fetch_add(1, SeqCst) + 1;
            peak.fetch_max(now, SeqCst);
            greenlet::sleep(Duration::from_millis(5));
            running.fetch_sub(1, SeqCst);
            conn.write_all(b"done").unwrap();
        })
        .with_pool(4)
        .start()
    };
    let clients: Vec<_> = (0..40)
        .map(|_| {
            spawn(move || {
                let mut s = String::new();
                TcpStream::connect(addr)
                    .unwrap()
                    .read_to_string(&mut s)
                    .unwrap();
                s
            })
        })
        .collect();
    for r in joinall(clients) {
        assert_eq!(r.unwrap(), "done");
    }
    assert_eq!(
        peak.load(SeqCst),
        4,
        "4 handlers at most, and the cap was reached"
    );
    server.stop();
}

#[test]
fn stop_lets_running_handlers_finish_and_refuses_new_connections() {
    let (listener, addr) = local_listener();
    let release = Arc::new(Event::new());
    let server = {
        let release = release.clone();
        StreamServer::new(listener, move |mut conn: TcpStream, _| {
            release.wait();
            conn.write_all(b"finished").unwrap();
        })
        .start()
    };
    let in_flight = spawn(move || {
        let mut s = String::new();
        let mut c = TcpStream::connect(addr).unwrap();
        c.read_to_string(&mut s).unwrap();
        s
    });
    while server.connections() == 0 {
        greenlet::sleep(Duration::from_millis(1));
    }
    server.stop();
    assert!(!server.is_running());
    // The listener is closed: new connections are refused.
    assert_eq!(
        TcpStream::connect(addr).unwrap_err().kind(),
        ErrorKind::ConnectionRefused
    );
    assert_eq!(server.connections(), 1);
    release.set();
    assert_eq!(in_flight.join().unwrap(), "finished");
    assert!(server.wait_handlers(Some(Duration::from_secs(10))));
    assert_eq!(server.connections(), 0);
}

/// Raises the soft open-file limit towards `want` (up to the hard limit).
fn raise_fd_limit(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write only the struct passed by reference.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < want {
            lim.rlim_cur = want.min(lim.rlim_max);
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
            }
        }
        lim.rlim_cur
    }
}

const MANY: usize = 10_000;

/// The client side of `ten_thousand_concurrent_connections`, run in a child process (each
/// process then needs only one descriptor per connection). Does nothing unless asked to.
#[test]
#[ignore = "helper: run by ten_thousand_concurrent_connections in a child process"]
fn many_clients_helper() {
    let Ok(addr) = std::env::var("GREENLET_TEST_MANY_CLIENTS") else {
        return;
    };
    let addr: SocketAddr = addr.parse().unwrap();
    assert!(raise_fd_limit(MANY as u64 + 256) >= MANY as u64 + 256);
    let all_open = Arc::new(greenlet::sync::Barrier::new(MANY + 1));
    let release = Arc::new(Event::new());
    let clients: Vec<_> = (0..MANY)
        .map(|i| {
            let (release, all_open) = (release.clone(), all_open.clone());
            spawn(move || {
                let mut conn = TcpStream::connect(addr).unwrap();
                conn.write_all(&[i as u8]).unwrap();
                let mut b = [0u8; 1];
                conn.read_exact(&mut b).unwrap();
                assert_eq!(b[0], i as u8);
                all_open.wait();
                release.wait();
            })
        })
        .collect();
    all_open.wait();
    println!("all {MANY} connected");
    // Hold every connection until the parent closes our stdin.
    let mut rest = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut rest);
    release.set();
    for r in joinall(clients) {
        r.unwrap();
    }
}

#[test]
fn ten_thousand_concurrent_connections() {
    use std::io::BufRead;
    assert!(
        raise_fd_limit(MANY as u64 + 256) >= MANY as u64 + 256,
        "this test needs an open-file limit of {} (ulimit -n)",
        MANY + 256
    );
    let (listener, addr) = local_listener();
    let server = StreamServer::new(listener, |mut conn: TcpStream, _| {
        let mut b = [0u8; 1];
        // Answer one byte, then hold the connection until the client closes it.
        if conn.read_exact(&mut b).is_ok() && conn.write_all(&b).is_ok() {
            let _ = conn.read(&mut b);
        }
    })
    .start();
    let mut child = greenlet::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "many_clients_helper",
            "--ignored",
            "--nocapture",
            "-q",
        ])
        .env("GREENLET_TEST_MANY_CLIENTS", addr.to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let connected = lines.find(|l| l.as_ref().map_or(true, |l| l.starts_with("all ")));
    assert_eq!(connected.unwrap().unwrap(), format!("all {MANY} connected"));
    // Every connection has made its round trip and is still open, here in one process.
    assert_eq!(server.connections(), MANY);
    drop(child.stdin.take()); // let the clients go
    assert!(child.wait().unwrap().success());
    server.stop();
    assert!(server.wait_handlers(Some(Duration::from_secs(30))));
    assert_eq!(server.connections(), 0);
}

#[test]
fn huge_durations_mean_no_deadline_never_a_panic() {
    let (server, addr) = echo_server();
    for huge in [
        Duration::MAX,
        Duration::from_secs(u64::MAX),
        Duration::new(u64::MAX / 2, 0),
    ] {
        // In a greenlet and on this plain thread alike.
        let g = spawn(move || {
            let mut conn = TcpStream::connect_timeout(&addr, huge).unwrap();
            conn.set_read_timeout(Some(huge)).unwrap();
            conn.set_write_timeout(Some(huge)).unwrap();
            conn.write_all(b"ping").unwrap();
            let mut buf = [0; 4];
            conn.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"ping");
            conn.read_timeout().unwrap()
        });
        let read_timeout = g.join().unwrap();
        assert!(read_timeout.unwrap() >= Duration::from_secs(100 * 365 * 86_400));
        let mut conn = TcpStream::connect_timeout(&addr, huge).unwrap();
        conn.set_read_timeout(Some(huge)).unwrap();
        conn.write_all(b"pong").unwrap();
        let mut buf = [0; 4];
        conn.read_exact(&mut buf).unwrap();

        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        udp.set_read_timeout(Some(huge)).unwrap();
        udp.set_write_timeout(Some(huge)).unwrap();
        udp.send_to(b"x", udp.local_addr().unwrap()).unwrap();
        assert_eq!(udp.recv_from(&mut buf).unwrap().0, 1);
        // A huge wait on handlers returns once they are done (none are left after stop).
        assert!(with_timeout(huge, || 7).is_ok());
    }
    assert_eq!(
        TcpStream::connect_timeout(&addr, Duration::MAX)
            .unwrap()
            .read_timeout()
            .unwrap(),
        None
    );
    let conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::MAX)).unwrap();
    assert_eq!(conn.read_timeout().unwrap(), Some(Duration::MAX));
    drop(conn);
    server.stop();
    assert!(server.wait_handlers(Some(Duration::MAX)));
}

/// A server's connections spread over the workers: its accept loop's handlers are placed by how
/// many greenlets each worker hosts, not handed to whichever worker is idle when a connection
/// arrives (which put 55-62 of 64 long-lived handlers on one worker of two). In a child process
/// with two workers: the count is of every greenlet a worker hosts, so other tests' greenlets
/// would skew it.
#[test]
fn a_servers_long_lived_connections_spread_over_the_workers() {
    common::child_tests_pass(
        &["server_connections_child"],
        &[("SERVER_CONNECTIONS_CHILD", "1"), ("GREENLET_WORKERS", "2")],
    );
}

#[test]
fn server_connections_child() {
    if std::env::var("SERVER_CONNECTIONS_CHILD").is_err() {
        return;
    }
    const CONNECTIONS: usize = 64;
    let done = Arc::new(Event::new());
    let homes = Arc::new(std::sync::Mutex::new(Vec::new()));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = {
        let (done, homes) = (done.clone(), homes.clone());
        StreamServer::new(listener, move |_conn: TcpStream, _| {
            homes.lock().unwrap().push(std::thread::current().id());
            done.wait();
        })
        .start()
    };
    let mut clients = Vec::new();
    for _ in 0..CONNECTIONS {
        clients.push(std::net::TcpStream::connect(addr).unwrap());
        std::thread::sleep(Duration::from_micros(200));
    }
    let t0 = Instant::now();
    while homes.lock().unwrap().len() < CONNECTIONS {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "handlers did not start"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let homes = std::mem::take(&mut *homes.lock().unwrap());
    done.set();
    drop(clients);
    server.stop();
    let mut per_thread = std::collections::HashMap::new();
    for id in homes {
        *per_thread.entry(id).or_insert(0usize) += 1;
    }
    let most = per_thread.values().copied().max().unwrap();
    assert!(
        most <= CONNECTIONS * 3 / 4,
        "{most} of {CONNECTIONS} connection handlers started on one worker: {per_thread:?}"
    );
}
