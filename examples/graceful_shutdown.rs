//! Graceful shutdown: an HTTP server that, on SIGTERM or SIGINT, stops accepting, lets the
//! requests in flight finish within a grace period, kills the rest, and exits 0.
//!
//!     cargo run --release --example graceful_shutdown [ADDR] [GRACE_MS]
//!         (defaults 127.0.0.1:8080 and 5000)
//!     curl http://127.0.0.1:8080/slow &      # answered although SIGTERM comes meanwhile
//!     curl http://127.0.0.1:8080/hang &      # never answered: killed after the grace period
//!     kill -TERM <pid>                        # or Ctrl-C
//!
//! Paths: `/slow` answers after 200 ms, `/hang` never does, anything else at once. `main` waits
//! for the signal with `Signals::recv`, which parks it while the workers serve.

use std::io::Write;
use std::time::Duration;

use greenlet::net::{StreamServer, TcpListener, TcpStream};
use greenlet::signal::Signals;

mod common;
use common::read_request_path;

fn handle(conn: TcpStream) {
    let Some(path) = read_request_path(&conn) else {
        return;
    };
    println!("handling {path}");
    let body = match path.as_str() {
        "/slow" => {
            greenlet::sleep(Duration::from_millis(200));
            "slow but done\n"
        }
        "/hang" => loop {
            greenlet::sleep(Duration::from_secs(3600));
        },
        _ => "hello\n",
    };
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = (&conn).write_all(response.as_bytes());
    println!("answered {path}");
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8080".into());
    let grace = Duration::from_millis(args.next().map_or(5000, |g| g.parse().expect("GRACE_MS")));

    // Catch the signals before serving, so that an early one is not lost.
    let signals = Signals::new([libc::SIGTERM, libc::SIGINT])?;
    let listener = TcpListener::bind(addr.as_str())?;
    println!(
        "graceful_shutdown listening on http://{}/",
        listener.local_addr()?
    );
    let server = StreamServer::new(listener, |conn, _peer| handle(conn)).start();

    let sig = signals.recv();
    let name = if sig == libc::SIGTERM {
        "SIGTERM"
    } else {
        "SIGINT"
    };
    println!(
        "{name}: no new connections; waiting up to {grace:?} for {} running",
        server.connections()
    );
    server.stop();
    if server.wait_handlers(Some(grace)) {
        println!("every handler finished");
    } else {
        println!(
            "grace period over: killing {} handlers",
            server.connections()
        );
        server.kill_handlers();
    }
    println!("bye");
    Ok(())
}
