//! An HTTP/1.1 "Hello, World!" server with keep-alive, one greenlet per connection.
//!
//!     cargo run --release --example http_hello [ADDR]      (default 127.0.0.1:8080)
//!     curl http://127.0.0.1:8080/
//!     wrk -t2 -c100 -d10s http://127.0.0.1:8080/
//!
//! Every request gets the same 13-byte body. Requests that arrive together (pipelining) are
//! answered with one write (the connection loop is in `examples/common`). `GREENLET_WORKERS`
//! sets the number of worker threads.

use std::net::SocketAddr;

use greenlet::net::{StreamServer, TcpStream};

mod common;
use common::{serve_pipelined, Step};

/// The response the peers' http workload fixes, byte for byte (so every runtime writes as much).
const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!";
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

fn serve(conn: TcpStream, _peer: SocketAddr) {
    serve_pipelined(conn, 4096, |buf, out| match parse(buf) {
        Ok(Some(req)) => {
            out.extend_from_slice(RESPONSE);
            Step::Answered {
                len: req.len,
                close: req.close,
            }
        }
        Ok(None) => Step::Incomplete,
        Err(()) => {
            out.extend_from_slice(BAD_REQUEST);
            Step::Invalid
        }
    })
}

fn main() -> std::io::Result<()> {
    let listener = common::listen("127.0.0.1:8080", |a| {
        format!("http_hello listening on http://{a}/")
    })?;
    StreamServer::new(listener, serve).serve_forever()
}
