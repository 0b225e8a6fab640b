//! Unix domain sockets: listener, stream, datagram, and StreamServer over a Unix listener, with
//! kill and timeouts. Each test uses its own socket path, removed when it ends.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::Shutdown;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use greenlet::net::{StreamServer, UnixDatagram, UnixListener, UnixStream};
use greenlet::{joinall, spawn, with_timeout};

mod common;
use common::assert_echoed;

/// A socket path unique to this process and test, removed on drop.
struct TempPath(PathBuf);

impl TempPath {
    fn new(test: &str) -> TempPath {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "greenlet-test-{}-{test}-{}.sock",
            std::process::id(),
            N.fetch_add(1, SeqCst)
        ));
        let _ = std::fs::remove_file(&path);
        TempPath(path)
    }
}

impl AsRef<Path> for TempPath {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn echo_with_200_concurrent_clients() {
    let path = TempPath::new("echo");
    let listener = UnixListener::bind(&path).unwrap();
    assert_eq!(
        listener.local_addr().unwrap().as_pathname(),
        Some(path.0.as_path())
    );
    let server = spawn(move || {
        for conn in listener.incoming().take(200) {
            let mut conn = conn.unwrap();
            spawn(move || {
                let mut buf = [0; 64];
                while let Ok(n @ 1..) = conn.read(&mut buf) {
                    conn.write_all(&buf[..n]).unwrap();
                }
            });
        }
    });
    let clients: Vec<_> = (0..200)
        .map(|i| {
            let p = path.0.clone();
            spawn(move || {
                let mut conn = UnixStream::connect(&p).unwrap();
                assert_eq!(conn.peer_addr().unwrap().as_pathname(), Some(p.as_path()));
                assert_echoed(&mut conn, format!("hello {i}").as_bytes());
            })
        })
        .collect();
    for r in joinall(clients) {
        r.unwrap();
    }
    server.join().unwrap();
}

#[test]
fn plain_thread_stream_and_bulk_transfer_through_a_pair() {
    let (a, mut b) = UnixStream::pair().unwrap();
    let data: Vec<u8> = (0..2_000_000u32).map(|i| i as u8).collect();
    let expected = data.clone();
    let writer = spawn(move || {
        (&a).write_all(&data).unwrap();
        a.shutdown(Shutdown::Write).unwrap();
    });
    let mut got = Vec::new();
    b.read_to_end(&mut got).unwrap(); // this plain thread blocks; the writer parks
    assert_eq!(got, expected);
    writer.join().unwrap();
}

#[test]
fn read_timeout_kill_and_with_timeout() {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    let err = (&a).read(&mut [0; 4]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    // Still usable after the timeout.
    (&b).write_all(b"ok").unwrap();
    let mut buf = [0; 2];
    (&a).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ok");
    a.set_read_timeout(None).unwrap();

    let reader = a.try_clone().unwrap();
    let g = spawn(move || (&reader).read(&mut [0; 4]));
    greenlet::sleep(Duration::from_millis(10));
    g.kill();
    assert!(g.join().unwrap_err().is_killed());

    let path = TempPath::new("accept-timeout");
    let listener = UnixListener::bind(&path).unwrap();
    assert!(with_timeout(Duration::from_millis(10), || listener.accept()).is_err());
    drop(b);
    assert_eq!((&a).read(&mut [0; 4]).unwrap(), 0, "a closed peer reads 0");
}

#[test]
fn datagrams_by_path_connected_and_paired() {
    let (sp, cp) = (TempPath::new("dgram-server"), TempPath::new("dgram-client"));
    let server = UnixDatagram::bind(&sp).unwrap();
    let client = UnixDatagram::bind(&cp).unwrap();
    let echo = spawn(move || {
        let mut buf = [0; 64];
        for _ in 0..3 {
            let (n, from) = server.recv_from(&mut buf).unwrap();
            server
                .send_to(&buf[..n], from.as_pathname().unwrap())
                .unwrap();
        }
    });
    for msg in [&b"one"[..], b"two", b"three"] {
        client.send_to(msg, &sp).unwrap();
        let mut buf = [0; 64];
        let (n, from) = client.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from.as_pathname()), (msg, Some(sp.0.as_path())));
    }
    echo.join().unwrap();

    let unbound = UnixDatagram::unbound().unwrap();
    assert!(unbound.local_addr().unwrap().is_unnamed());
    unbound.connect(&cp).unwrap();
    unbound.send(b"hi").unwrap();
    assert_eq!(client.recv(&mut [0; 8]).unwrap(), 2);

    let (a, b) = UnixDatagram::pair().unwrap();
    b.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
    assert_eq!(b.recv(&mut [0; 8]).unwrap_err().kind(), ErrorKind::TimedOut);
    let g = spawn(move || {
        let mut buf = [0; 8];
        b.set_read_timeout(None).unwrap();
        let n = b.recv(&mut buf).unwrap();
        buf[..n].to_vec()
    });
    greenlet::sleep(Duration::from_millis(5));
    a.send(b"late").unwrap();
    assert_eq!(g.join().unwrap(), b"late");
}

#[test]
fn stream_server_serves_a_unix_listener() {
    let path = TempPath::new("server");
    let served = std::sync::Arc::new(AtomicUsize::new(0));
    let s = served.clone();
    let server = StreamServer::new(UnixListener::bind(&path).unwrap(), move |conn, peer| {
        assert!(peer.is_unnamed());
        s.fetch_add(1, SeqCst);
        let mut line = String::new();
        BufReader::new(&conn).read_line(&mut line).unwrap();
        (&conn).write_all(line.to_uppercase().as_bytes()).unwrap();
    })
    .with_pool(10)
    .start();
    assert_eq!(
        server.local_addr().unwrap().as_pathname(),
        Some(path.0.as_path())
    );
    let clients: Vec<_> = (0..20)
        .map(|i| {
            let p = path.0.clone();
            spawn(move || {
                let mut conn = UnixStream::connect(p).unwrap();
                conn.write_all(format!("client {i}\n").as_bytes()).unwrap();
                let mut reply = String::new();
                conn.read_to_string(&mut reply).unwrap();
                assert_eq!(reply, format!("CLIENT {i}\n"));
            })
        })
        .collect();
    for r in joinall(clients) {
        r.unwrap();
    }
    assert_eq!(served.load(SeqCst), 20);
    server.stop();
    assert!(server.wait_handlers(Some(Duration::from_secs(10))));
    assert!(
        UnixStream::connect(&path).is_err(),
        "still accepting after stop"
    );
}

#[test]
fn connecting_to_nothing_is_an_error() {
    let path = TempPath::new("nobody");
    assert_eq!(
        UnixStream::connect(&path).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let listener = UnixListener::bind(&path).unwrap();
    // Binding the same path twice fails, as in std.
    assert!(UnixListener::bind(&path).is_err());
    drop(listener);
}
