//! The IO-bound case from the notes: fetch 100 URLs one after another, then all at once with
//! greenlets, and print both times.
//!
//!     cargo run --release --example downloads [COUNT] [DELAY_MS]     (default 100 URLs, 20 ms)
//!
//! The URLs are served by a deliberately slow local HTTP server (started here, on 127.0.0.1),
//! which waits DELAY_MS before each answer, like a distant web server. Sequentially the waits
//! add up; with a greenlet per URL they overlap, as with `gevent.spawn(fetch, url)` for each
//! URL followed by `gevent.joinall`.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use greenlet::net::{StreamServer, TcpListener, TcpStream};

mod common;
use common::read_request_path;

/// The slow server: reads the request line, waits, answers with a page naming the path.
fn slow_page(conn: TcpStream, delay: Duration) {
    let Some(path) = read_request_path(&conn) else {
        return;
    };
    greenlet::sleep(delay); // the slow part: parks only this connection's greenlet
    let body = format!("<html><body>page {path}</body></html>\n");
    let _ = write!(
        &conn,
        "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
}

/// Fetches `url` (http://host:port/path) with HTTP/1.0 and returns the body's size.
fn fetch(url: &str) -> std::io::Result<usize> {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut conn = TcpStream::connect(host)?;
    write!(conn, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n")?;
    let mut response = Vec::new();
    conn.read_to_end(&mut response)?;
    let body_start = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(response.len(), |p| p + 4);
    Ok(response.len() - body_start)
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let delay = Duration::from_millis(args.next().and_then(|a| a.parse().ok()).unwrap_or(20));

    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr: SocketAddr = listener.local_addr()?;
    let server = StreamServer::new(listener, move |conn, _| slow_page(conn, delay)).start();
    let urls: Vec<String> = (0..count)
        .map(|i| format!("http://{addr}/page/{i}"))
        .collect();

    // One after another: each download waits for the previous one.
    let start = Instant::now();
    let mut bytes = 0;
    for url in &urls {
        bytes += fetch(url)?;
    }
    let sequential = start.elapsed();
    println!(
        "sequential: {count} URLs, {bytes} bytes in {:.3} s",
        sequential.as_secs_f64()
    );

    // A greenlet per URL: the waits overlap.
    let start = Instant::now();
    let jobs: Vec<_> = urls
        .iter()
        .cloned()
        .map(|url| greenlet::spawn(move || fetch(&url)))
        .collect();
    let mut bytes = 0;
    for result in greenlet::joinall(jobs) {
        bytes += result.expect("a download greenlet panicked")?;
    }
    let concurrent = start.elapsed();
    println!(
        "greenlets:  {count} URLs, {bytes} bytes in {:.3} s",
        concurrent.as_secs_f64()
    );
    println!(
        "speedup: {:.1}x",
        sequential.as_secs_f64() / concurrent.as_secs_f64()
    );
    server.stop();
    Ok(())
}
