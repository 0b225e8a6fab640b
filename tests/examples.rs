//! The runnable examples: servers are started on a free port and talked to as real clients
//! would; the others are run and their key output lines checked. `cargo test` builds the
//! examples before it runs this.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

mod common;
use common::{assert_contains, assert_echoed};

fn example(name: &str) -> Command {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().join("examples");
    let path: PathBuf = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run through `cargo test`, which builds the examples",
        path.display()
    );
    Command::new(path)
}

/// Runs an example to its end (within a minute) and returns its stdout.
fn run(name: &str, args: &[&str]) -> String {
    let mut child = example(name)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{name} failed: {status}\n{out}");
    out
}

/// A server example listening on a free port; killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(name: &str) -> Server {
        Server::start_with(name, &[])
    }

    /// Starts `name` with `127.0.0.1:0` and then `args`.
    fn start_with(name: &str, args: &[&str]) -> Server {
        let mut child = example(name)
            .arg("127.0.0.1:0")
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        // "... listening on ADDR" or "... listening on http://ADDR/"
        let addr = line
            .rsplit(' ')
            .next()
            .unwrap()
            .trim()
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .unwrap_or_else(|e| panic!("{name} printed {line:?}: {e}"));
        Server { child, addr }
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn echo_server_echoes_for_many_clients() {
    let server = Server::start("echo_server");
    let clients: Vec<_> = (0..50)
        .map(|i| {
            let mut s = server.connect();
            std::thread::spawn(move || {
                for round in 0..20 {
                    assert_echoed(&mut s, format!("client {i} round {round}\n").as_bytes());
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
}

#[test]
fn http_hello_keep_alive_pipelining_and_bad_requests() {
    let server = Server::start("http_hello");
    let mut s = server.connect();
    let request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    // keep-alive: several requests on one connection, two of them pipelined
    s.write_all(request.as_bytes()).unwrap();
    s.write_all(format!("{request}{request}").as_bytes())
        .unwrap();
    let response =
        "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!";
    let mut buf = vec![0; response.len() * 3];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(String::from_utf8(buf).unwrap(), response.repeat(3));
    // Connection: close is honoured
    s.write_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut rest = String::new();
    s.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, response);
    // garbage gets a 400 and a close, and the server lives on
    let mut bad = server.connect();
    bad.write_all(b"NONSENSE\r\n\r\n").unwrap();
    let mut reply = String::new();
    bad.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    let mut again = server.connect();
    again.write_all(request.as_bytes()).unwrap();
    let mut buf = vec![0; response.len()];
    again.read_exact(&mut buf).unwrap();
    assert_eq!(buf, response.as_bytes());
}

/// Sends RESP commands and reads the expected number of reply bytes.
fn redis_roundtrip(s: &mut TcpStream, send: &[u8], expect: &str) {
    s.write_all(send).unwrap();
    let mut buf = vec![0; expect.len()];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(String::from_utf8_lossy(&buf), expect);
}

fn resp(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    out
}

#[test]
fn redis_server_speaks_resp2() {
    let server = Server::start("redis_server");
    let mut s = server.connect();
    redis_roundtrip(&mut s, &resp(&["PING"]), "+PONG\r\n");
    redis_roundtrip(&mut s, &resp(&["ECHO", "hi there"]), "$8\r\nhi there\r\n");
    redis_roundtrip(&mut s, &resp(&["SET", "greeting", "hello"]), "+OK\r\n");
    redis_roundtrip(&mut s, &resp(&["GET", "greeting"]), "$5\r\nhello\r\n");
    redis_roundtrip(&mut s, &resp(&["GET", "missing"]), "$-1\r\n");
    redis_roundtrip(&mut s, &resp(&["INCR", "n"]), ":1\r\n");
    redis_roundtrip(&mut s, &resp(&["INCR", "n"]), ":2\r\n");
    redis_roundtrip(
        &mut s,
        &resp(&["INCR", "greeting"]),
        "-ERR value is not an integer or out of range\r\n",
    );
    redis_roundtrip(
        &mut s,
        &resp(&["EXISTS", "greeting", "n", "missing"]),
        ":2\r\n",
    );
    redis_roundtrip(&mut s, &resp(&["DEL", "greeting", "missing"]), ":1\r\n");
    redis_roundtrip(
        &mut s,
        &resp(&["GET"]),
        "-ERR wrong number of arguments for 'get' command\r\n",
    );
    // inline commands, as typed into telnet
    redis_roundtrip(&mut s, b"PING\r\n", "+PONG\r\n");
    // pipelining: 100 commands in one write, answered in order
    let mut batch = Vec::new();
    let mut expect = String::new();
    for i in 0..100 {
        batch.extend_from_slice(&resp(&["SET", &format!("k{i}"), &i.to_string()]));
        batch.extend_from_slice(&resp(&["GET", &format!("k{i}")]));
        expect.push_str(&format!("+OK\r\n${}\r\n{i}\r\n", i.to_string().len()));
    }
    redis_roundtrip(&mut s, &batch, &expect);
    // a command split across writes
    let cmd = resp(&["ECHO", "split"]);
    s.write_all(&cmd[..7]).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    redis_roundtrip(&mut s, &cmd[7..], "$5\r\nsplit\r\n");
}

#[test]
fn redis_server_rejects_malformed_input_and_survives() {
    let server = Server::start("redis_server");
    for garbage in [
        &b"*abc\r\n"[..],
        b"*1\r\n$-5\r\n",
        b"*1\r\n+PING\r\n",
        b"*2\r\n$3\r\nGETxx\r\n",
        b"*99999999999\r\n",
    ] {
        let mut s = server.connect();
        s.write_all(garbage).unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap(); // the server closes after the error
        assert!(
            reply.starts_with("-ERR Protocol error"),
            "{:?} -> {reply:?}",
            String::from_utf8_lossy(garbage)
        );
    }
    // An over-long line without CRLF is refused rather than buffered forever.
    let mut s = server.connect();
    let _ = s.write_all(&vec![b'*'; 100 * 1024]);
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    assert!(reply.starts_with("-ERR Protocol error"), "{reply:?}");
    // Still serving.
    let mut s = server.connect();
    redis_roundtrip(&mut s, &resp(&["PING"]), "+PONG\r\n");
}

#[test]
fn downloads_greenlets_beat_sequential() {
    let out = run("downloads", &["30", "20"]);
    let seconds = |prefix: &str| -> f64 {
        let line = out.lines().find(|l| l.starts_with(prefix)).unwrap();
        assert!(line.contains("30 URLs"), "{line}");
        line.split(" in ")
            .nth(1)
            .unwrap()
            .trim_end_matches(" s")
            .parse()
            .unwrap()
    };
    let sequential = seconds("sequential:");
    let concurrent = seconds("greenlets:");
    // 30 x 20 ms one after another is at least 0.6 s; overlapped they take about one delay.
    assert!(sequential >= 0.6, "{out}");
    assert!(concurrent < sequential / 3.0, "{out}");
}

#[test]
fn futures_interop_runs_futures_based_libraries_through_block_on() {
    check_lines(
        "futures_interop",
        &[
            "4 greenlets consumed an async producer thread: sum 5050",
            "3 sending greenlets, 150 messages, in order per sender: true",
            "zip of two receives: (1, \"b\")",
            "stream: [4, 6, 8, 10]",
            "with_timeout around a pending recv: Err(Timeout)",
            "the receiver still works: Ok(5)",
        ],
    );
}

#[test]
fn stats_prints_the_counters_once_a_second_while_a_server_runs() {
    let out = run("stats", &["2", "10"]);
    let lines: Vec<_> = out.lines().filter(|l| l.starts_with("t=")).collect();
    assert_eq!(lines.len(), 2, "{out}");
    for line in lines {
        assert!(line.contains("live=") && line.contains("parks="), "{line}");
        assert!(
            !line.contains("round_trips/s=0 "),
            "the server served: {line}"
        );
    }
    assert!(out.contains("total round trips"), "{out}");
}

#[test]
fn tour_runs() {
    let out = run("tour", &[]);
    assert!(!out.is_empty());
}

/// Runs a seed-twin example, checks that each of `lines` appears in its output, and returns the
/// output for further checks.
fn check_lines(name: &str, lines: &[&str]) -> String {
    let out = run(name, &[]);
    for line in lines {
        assert!(
            out.lines().any(|l| l == *line),
            "{name}: no line {line:?} in:\n{out}"
        );
    }
    out
}

#[test]
fn seed_examples_print_what_the_originals_print() {
    check_lines(
        "spawn_join",
        &[
            "1 from MainThread",
            "adder(2, 2) = 4",
            "Hello",
            "I live!",
            "lambda result: 3",
            "joinall results: [3, 100, 4]",
        ],
    );
    check_lines("race_condition", &["count is 2 (with a Mutex: always 2)"]);
    check_lines(
        "producer_consumer",
        &[
            "item is [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]",
            "got an item: 9",
            "all items processed",
            "producer is done",
        ],
    );
    check_lines(
        "message_passing",
        &["got an item: 9", "5 squared is 25", "total: 5050"],
    );
    check_lines(
        "barrier",
        &["counters: [10, 10]", "0 of 4 passed a barrier of 5"],
    );
    check_lines(
        "lock",
        &[
            "items first seen: 10 (10 items, 4 workers)",
            "try_lock while held: false",
            "try_lock when free: true",
            "counter: 10000",
        ],
    );
}

#[test]
fn seed_examples_from_the_later_notes() {
    check_lines(
        "pool_map",
        &[
            "map: [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]",
            "map_async ready: [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]",
            "imap_unordered: [30, 60, 90]",
            "Thread 5: finishing",
            "executor ran 6 items, at most 3 at once",
        ],
    );
    check_lines(
        "subprocess",
        &[
            "ls exit code: Some(0)",
            "stdout: HELLO FROM A GREENLET",
            "stderr: a warning",
            "retcode = 3",
        ],
    );
    check_lines(
        "scheduler",
        &[
            "events pending: 3",
            "first ran (due at +100 ms)",
            "third (enterabs) ran (due at +300 ms)",
            "all events ran, 3 of 3 no earlier than due",
            "cancelled event: Killed",
        ],
    );
    let mut events = vec!["A: Hey wait for me, I have to do something", "Ok, I'm done"];
    events.extend(["Countdown is running", "Countdown starting", "T-minus 1"]);
    let out = check_lines("events", &events);
    assert_eq!(out.matches("It's about time").count(), 5, "{out}");
    check_lines(
        "terminate",
        &[
            "10",
            "join after kill: Killed",
            "killed countdown cleaned up",
            "Main thread terminate",
        ],
    );
    check_lines(
        "periodic_timer",
        &[
            "T-minus 10",
            "T-minus 1",
            "Counting 0",
            "Counting 4",
            "timer stopped",
        ],
    );
    let working: Vec<String> = (0..10).map(|n| format!("Working {n}")).collect();
    let mut semaphore: Vec<&str> = working.iter().map(String::as_str).collect();
    semaphore.extend([
        "10 workers waiting, releasing one permit",
        "all 10 workers done, permits left: 1",
        "12 users of a semaphore of 3: at most 3 at once",
    ]);
    check_lines("semaphore", &semaphore);
    check_lines(
        "priority_queue",
        &[
            "waiting getter got: wake-up call",
            r#"hand-made queue order: ["high", "high, second", "medium", "low"]"#,
            r#"queue::PriorityQueue order: ["fire alarm", "email", "sweep"]"#,
        ],
    );
    check_lines(
        "deadlock_avoidance",
        &[
            "locks taken in the order given: deadlocked, broken by a timeout: true",
            "Thread-1 took both locks 10000 times",
            "Thread-2 took both locks 10000 times",
            "nested acquire against the order: Lock Order Violation",
            "nested acquire in order: ok",
        ],
    );
    check_lines(
        "cpu_parallel",
        &[
            "p1: Count value 1",
            "p2: Count value 20",
            "p1 and p2 joined",
        ],
    );
    check_lines(
        "try_queue",
        &[
            "put 2: true",
            "put 3: false",
            "get: 10 (passed through func)",
            "get: empty, default -1",
            "get with no default: None",
            "polled [0, 1, 2, 3, 4] without ever waiting on the queue",
        ],
    );
}

/// Reads lines of a child's output until one starts with `prefix`; every line read is kept.
fn read_until(out: &mut impl BufRead, seen: &mut Vec<String>, prefix: &str) {
    loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "output ended before {prefix:?}: {seen:?}"
        );
        let found = line.starts_with(prefix);
        seen.push(line.trim_end().to_string());
        if found {
            return;
        }
    }
}

#[test]
fn graceful_shutdown_on_sigterm_finishes_running_requests_and_kills_the_rest() {
    let mut child = example("graceful_shutdown")
        .args(["127.0.0.1:0", "3000"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    read_until(&mut out, &mut seen, "graceful_shutdown listening on");
    let addr: SocketAddr = seen[0]
        .rsplit(' ')
        .next()
        .unwrap()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let request = |path: &str| {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .unwrap();
        std::thread::spawn(move || {
            let mut reply = String::new();
            s.read_to_string(&mut reply).map(|_| reply)
        })
    };
    let quick = request("/");
    let reply = quick.join().unwrap().unwrap();
    assert!(reply.ends_with("hello\n"), "{reply}");
    read_until(&mut out, &mut seen, "answered /");
    let hang = request("/hang");
    read_until(&mut out, &mut seen, "handling /hang");
    let slow = request("/slow");
    read_until(&mut out, &mut seen, "handling /slow");

    // SAFETY: kill only sends a signal to the example's process.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}\n{seen:?}\n{rest}");

    // The running request finished; the hanging one was killed (closed without an answer).
    let reply = slow.join().unwrap().unwrap();
    assert!(reply.ends_with("slow but done\n"), "{reply}");
    assert_eq!(hang.join().unwrap().unwrap(), "");
    assert_contains(
        &rest,
        &[
            "SIGTERM: no new connections",
            "answered /slow",
            "grace period over: killing 1 handlers",
        ],
    );
    assert!(rest.ends_with("bye\n"), "{rest}");
    assert!(TcpStream::connect(addr).is_err(), "still listening");
}

/// A rustls client over a greenlet `TcpStream` that trusts `cert`: sends `msg` as a line and
/// returns the echoed line.
fn tls_roundtrip(addr: SocketAddr, cert: Vec<u8>, msg: &str) -> Result<String, String> {
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(cert))
        .map_err(|e| e.to_string())?;
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let tcp = greenlet::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut tls = BufReader::new(rustls::StreamOwned::new(conn, tcp));
    tls.get_mut()
        .write_all(format!("{msg}\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    tls.read_line(&mut line).map_err(|e| e.to_string())?;
    Ok(line)
}

#[test]
fn tls_echo_serves_rustls_clients_over_greenlet_sockets() {
    let cert_path = std::env::temp_dir().join(format!("greenlet-tls-{}.der", std::process::id()));
    let server = Server::start_with("tls_echo", &[cert_path.to_str().unwrap()]);
    let cert = std::fs::read(&cert_path).unwrap();
    let addr = server.addr;
    // Twenty TLS clients at once, each in a greenlet of this process.
    let clients: Vec<_> = (0..20)
        .map(|i| {
            let cert = cert.clone();
            greenlet::spawn(move || tls_roundtrip(addr, cert, &format!("secret {i}")))
        })
        .collect();
    for (i, r) in greenlet::joinall(clients).into_iter().enumerate() {
        assert_eq!(r.unwrap().unwrap(), format!("secret {i}\n"));
    }
    // A client that trusts another certificate refuses the server.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let err = greenlet::spawn(move || tls_roundtrip(addr, other.cert.der().to_vec(), "x"))
        .join()
        .unwrap()
        .unwrap_err();
    assert!(err.contains("certificate"), "{err}");
    // The example's own client mode.
    let out = run(
        "tls_echo",
        &[
            "client",
            &addr.to_string(),
            cert_path.to_str().unwrap(),
            "one",
            "two",
        ],
    );
    assert_eq!(out, "one\ntwo\n");
    drop(server);
    let _ = std::fs::remove_file(&cert_path);
}

#[test]
fn ws_chat_broadcasts_between_tungstenite_clients() {
    use tungstenite::Message;
    let server = Server::start("ws_chat");
    let connect = || {
        let (mut ws, _) = tungstenite::client(format!("ws://{}/", server.addr), server.connect())
            .expect("handshake");
        let welcome = ws.read().unwrap();
        (ws, welcome)
    };
    let next = |ws: &mut tungstenite::WebSocket<TcpStream>| match ws.read().unwrap() {
        Message::Text(t) => t.to_string(),
        other => panic!("unexpected {other:?}"),
    };
    let (mut a, welcome) = connect();
    assert_eq!(welcome, Message::text("welcome, user 1"));
    let (mut b, _) = connect();
    assert_eq!(next(&mut a), "user 2 joined");
    let (mut c, _) = connect();
    assert_eq!(next(&mut a), "user 3 joined");
    assert_eq!(next(&mut b), "user 3 joined");
    a.send(Message::text("hello, room")).unwrap();
    assert_eq!(next(&mut b), "user 1: hello, room");
    assert_eq!(next(&mut c), "user 1: hello, room");
    c.send(Message::text("bye")).unwrap();
    assert_eq!(next(&mut a), "user 3: bye");
    assert_eq!(next(&mut b), "user 3: bye");
    c.close(None).unwrap();
    assert_eq!(next(&mut a), "user 3 left");
    assert_eq!(next(&mut b), "user 3 left");
}
