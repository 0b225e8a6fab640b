//! What the server examples share: the connection loop of a request-response protocol whose
//! clients may pipeline, that is send several requests without waiting for the answers
//! (`http_hello`, `redis_server`: all the requests a read brought are answered with one write),
//! reading the path of a plain HTTP request (`downloads`, `graceful_shutdown`), and binding the
//! address given on the command line.
//!
//! Each of those examples includes this with `mod common;` and uses what it needs.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};

use std::net::SocketAddr;

use greenlet::net::{TcpListener, TcpStream};

/// Binds the address given as the program's first argument, or `default`, and prints what
/// `announce` makes of the address it got (port 0 picks a free one).
pub fn listen(
    default: &str,
    announce: impl Fn(SocketAddr) -> String,
) -> std::io::Result<TcpListener> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| default.into());
    let listener = TcpListener::bind(&addr)?;
    println!("{}", announce(listener.local_addr()?));
    Ok(listener)
}

/// What the protocol made of the bytes at the front of the buffer.
pub enum Step {
    /// The request is not all there yet: read more.
    Incomplete,
    /// A request of `len` bytes was answered; `close`: end the connection once the answers so
    /// far are written.
    Answered { len: usize, close: bool },
    /// The bytes do not make a valid request (its error answer is written): end the
    /// connection once the answers so far are written.
    Invalid,
}

/// Serves `conn` until the peer closes it, it fails, or `answer` says to close: reads (at most
/// `chunk` bytes at a time), calls `answer` on the unanswered bytes for each request they hold
/// (it appends its answer to its second argument), then writes all the answers at once.
pub fn serve_pipelined(
    mut conn: TcpStream,
    chunk: usize,
    mut answer: impl FnMut(&[u8], &mut Vec<u8>) -> Step,
) {
    let _ = conn.set_nodelay(true);
    let mut buf = Vec::with_capacity(chunk);
    let mut read = vec![0u8; chunk];
    let mut out = Vec::with_capacity(chunk);
    loop {
        let n = match conn.read(&mut read) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&read[..n]);
        let mut used = 0;
        let mut close = false;
        while !close {
            match answer(&buf[used..], &mut out) {
                Step::Incomplete => break,
                Step::Answered { len, close: last } => {
                    used += len;
                    close = last;
                }
                Step::Invalid => close = true,
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

/// Reads an HTTP request head from `conn` and returns the path of its request line (`/` if it
/// has none), or `None` if the connection failed before a request line came.
pub fn read_request_path(conn: &TcpStream) -> Option<String> {
    let mut reader = BufReader::new(conn);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    // Skip the rest of the request head (the headers, up to the blank line).
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    Some(request_line.split(' ').nth(1).unwrap_or("/").to_string())
}
