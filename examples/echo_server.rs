//! A TCP echo server: one greenlet per connection, plain blocking-style reads and writes.
//!
//!     cargo run --release --example echo_server [ADDR]      (default 127.0.0.1:7000)
//!
//! gevent's `StreamServer(('127.0.0.1', 7000), echo).serve_forever()`. Try it with
//! `nc 127.0.0.1 7000`. `GREENLET_WORKERS` sets the number of worker threads.

use std::io::{Read, Write};
use std::net::SocketAddr;

use greenlet::net::{StreamServer, TcpListener, TcpStream};

fn echo(mut conn: TcpStream, _peer: SocketAddr) {
    let _ = conn.set_nodelay(true);
    let mut buf = [0u8; 16 * 1024];
    loop {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return, // peer closed, or the connection failed
            Ok(n) => {
                if conn.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7000".into());
    let listener = TcpListener::bind(&addr)?;
    println!("echo server listening on {}", listener.local_addr()?);
    StreamServer::new(listener, echo).serve_forever()
}
