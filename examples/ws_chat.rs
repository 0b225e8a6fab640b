//! A WebSocket chat room: `tungstenite`, unchanged, over greenlet sockets. Every text message a
//! client sends goes to every other client, as `user N: text`; clients are told when others
//! join and leave.
//!
//!     cargo run --release --example ws_chat [ADDR]      (default 127.0.0.1:9001)
//!     websocat ws://127.0.0.1:9001/                     (in two terminals)
//!
//! One greenlet per client owns its `WebSocket`. It reads with a short read timeout on the
//! greenlet `TcpStream`; when a read times out (tungstenite keeps a partial frame buffered and
//! resumes it on the next read, as after `WouldBlock`), it sends what other clients posted to
//! its channel meanwhile. So one greenlet reads and writes its socket, and no lock is held
//! across a blocking call.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use greenlet::channel::{unbounded, Sender};
use greenlet::net::{StreamServer, TcpListener, TcpStream};
use tungstenite::{Message, WebSocket};

/// How long a client's greenlet waits for its socket before it looks at its channel.
const POLL: Duration = Duration::from_millis(10);

#[derive(Default)]
struct Room {
    members: Mutex<HashMap<usize, Sender<String>>>,
    next_id: AtomicUsize,
}

impl Room {
    /// Sends `text` to every member but `from`. The lock is held only to clone the senders.
    fn broadcast(&self, from: usize, text: &str) {
        let members: Vec<_> = {
            let members = self.members.lock().unwrap_or_else(|e| e.into_inner());
            let others = members.iter().filter(|(&id, _)| id != from);
            others.map(|(_, tx)| tx.clone()).collect()
        };
        for tx in members {
            let _ = tx.send(text.to_string());
        }
    }
}

fn chat(room: &Room, tcp: TcpStream) -> tungstenite::Result<()> {
    let mut ws: WebSocket<TcpStream> = tungstenite::accept(tcp.clone())
        .map_err(|e| io::Error::other(format!("handshake: {e}")))?;
    let id = room.next_id.fetch_add(1, Relaxed) + 1;
    let (tx, rx) = unbounded();
    room.members
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id, tx);
    ws.send(Message::text(format!("welcome, user {id}")))?;
    room.broadcast(id, &format!("user {id} joined"));
    tcp.set_read_timeout(Some(POLL))?;
    let result = loop {
        match ws.read() {
            Ok(Message::Text(text)) => room.broadcast(id, &format!("user {id}: {text}")),
            Ok(Message::Close(_)) => break Ok(()),
            Ok(_) => {} // binary, ping (answered by tungstenite), pong
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::TimedOut => {
                for text in rx.try_iter() {
                    ws.send(Message::text(text))?;
                }
            }
            Err(tungstenite::Error::ConnectionClosed) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    room.members
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&id);
    room.broadcast(id, &format!("user {id} left"));
    result
}

fn main() -> io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or("127.0.0.1:9001".into());
    let listener = TcpListener::bind(addr.as_str())?;
    println!("ws_chat listening on {}", listener.local_addr()?);
    let room = Arc::new(Room::default());
    StreamServer::new(listener, move |tcp, peer| {
        if let Err(e) = chat(&room, tcp) {
            eprintln!("{peer}: {e}");
        }
    })
    .serve_forever()
}
