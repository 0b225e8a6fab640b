//! An HTTP/1.1 "Hello, World!" server with keep-alive, one greenlet per connection.
//!
//!     cargo run --release --example http_hello [ADDR]      (default 127.0.0.1:8080)
//!     curl http://127.0.0.1:8080/
//!     wrk -t2 -c100 -d10s http://127.0.0.1:8080/
//!
//! Every request gets the same 13-byte body. Requests that arrive together (pipelining) are
//! answered with one write. `GREENLET_WORKERS` sets the number of worker threads.

use std::io::{Read, Write};
use std::net::SocketAddr;

use greenlet::net::{StreamServer, TcpListener, TcpStream};

const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nServer: greenlet\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";
const BAD_REQUEST: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
/// Larger request heads are refused (431 in spirit; we just answer 400 and close).
const MAX_HEAD: usize = 64 * 1024;

/// What one complete request at the front of the buffer looks like.
struct Request {
    /// Bytes the request takes up, body included.
    len: usize,
    close: bool,
}

/// Parses the request at the front of `buf`: `Ok(None)` if it is not all there yet.
fn parse(buf: &[u8]) -> Result<Option<Request>, ()> {
    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() > MAX_HEAD {
            Err(())
        } else {
            Ok(None)
        };
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| ())?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().ok_or(())?;
    let mut parts = request_line.split(' ');
    let (Some(_method), Some(_path), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(());
    };
    let mut close = version == "HTTP/1.0";
    let mut body = 0usize;
    for line in lines {
        let (name, value) = line.split_once(':').ok_or(())?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            body = value.parse().map_err(|_| ())?;
        } else if name.eq_ignore_ascii_case("connection") {
            if value.eq_ignore_ascii_case("close") {
                close = true;
            } else if value.eq_ignore_ascii_case("keep-alive") {
                close = false;
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(()); // chunked request bodies are not supported by this example
        }
    }
    let len = head_end + 4 + body;
    Ok((buf.len() >= len).then_some(Request { len, close }))
}

fn serve(mut conn: TcpStream, _peer: SocketAddr) {
    let _ = conn.set_nodelay(true);
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let mut out = Vec::with_capacity(4096);
    loop {
        let n = match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut used = 0;
        let mut close = false;
        loop {
            match parse(&buf[used..]) {
                Ok(Some(req)) => {
                    used += req.len;
                    out.extend_from_slice(RESPONSE);
                    if req.close {
                        close = true;
                        break;
                    }
                }
                Ok(None) => break,
                Err(()) => {
                    out.extend_from_slice(BAD_REQUEST);
                    close = true;
                    break;
                }
            }
        }
        buf.drain(..used);
        if !out.is_empty() {
            if conn.write_all(&out).is_err() {
                return;
            }
            out.clear();
        }
        if close {
            return;
        }
    }
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let listener = TcpListener::bind(&addr)?;
    println!("http_hello listening on http://{}/", listener.local_addr()?);
    StreamServer::new(listener, serve).serve_forever()
}
