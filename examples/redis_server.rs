//! A small Redis-compatible server (RESP2): PING, ECHO, SET, GET, DEL, EXISTS, INCR and a few
//! commands clients send on connect. One greenlet per connection; pipelined requests are
//! answered with one write (the connection loop is in `examples/common`).
//!
//!     cargo run --release --example redis_server [ADDR]     (default 127.0.0.1:6379)
//!     redis-cli -p 6379 set greeting hello
//!     redis-benchmark -p 6379 -t set,get -P 16 -q
//!
//! Malformed input gets a RESP error and the connection is closed, as Redis does.
//! `GREENLET_WORKERS` sets the number of worker threads.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use greenlet::net::{StreamServer, TcpStream};

mod common;
use common::{serve_pipelined, Step};

const MAX_INLINE: usize = 64 * 1024;
const MAX_BULK: usize = 512 * 1024 * 1024;
const MAX_ARGS: usize = 1024 * 1024;
const SHARDS: usize = 16;

struct Entry {
    value: Vec<u8>,
    expires: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|t| t > now)
    }
}

/// The keyspace, split in shards so that connections on different workers rarely contend.
/// A std mutex is right here: no blocking call happens while one is held.
struct Db {
    shards: Vec<Mutex<HashMap<Vec<u8>, Entry>>>,
    hasher: RandomState,
}

impl Db {
    fn new() -> Db {
        Db {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
        }
    }

    fn shard(&self, key: &[u8]) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, Entry>> {
        let i = self.hasher.hash_one(key) as usize % SHARDS;
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let mut shard = self.shard(key);
        match shard.get(key) {
            Some(e) if e.live(Instant::now()) => Some(e.value.clone()),
            Some(_) => {
                shard.remove(key);
                None
            }
            None => None,
        }
    }

    fn exists(&self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    fn del(&self, key: &[u8]) -> bool {
        self.shard(key)
            .remove(key)
            .is_some_and(|e| e.live(Instant::now()))
    }
}

/// A reply, written in RESP2.
enum Reply {
    Simple(&'static str),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Nil,
    EmptyArray,
    Array(Vec<Vec<u8>>),
}

impl Reply {
    fn write(self, out: &mut Vec<u8>) {
        match self {
            Reply::Simple(s) => out.extend_from_slice(format!("+{s}\r\n").as_bytes()),
            Reply::Error(e) => out.extend_from_slice(format!("-{e}\r\n").as_bytes()),
            Reply::Int(i) => out.extend_from_slice(format!(":{i}\r\n").as_bytes()),
            Reply::Bulk(b) => {
                out.extend_from_slice(format!("${}\r\n", b.len()).as_bytes());
                out.extend_from_slice(&b);
                out.extend_from_slice(b"\r\n");
            }
            Reply::Nil => out.extend_from_slice(b"$-1\r\n"),
            Reply::EmptyArray => out.extend_from_slice(b"*0\r\n"),
            Reply::Array(items) => {
                out.extend_from_slice(format!("*{}\r\n", items.len()).as_bytes());
                for item in items {
                    Reply::Bulk(item).write(out);
                }
            }
        }
    }
}

/// The outcome of parsing the front of the input buffer.
enum Parsed {
    /// A command and how many bytes it used (an empty command: a blank line or `*0`).
    Command(Vec<Vec<u8>>, usize),
    Incomplete,
    Invalid(String),
}

/// The line starting at `from`, without its CRLF, and where the next one starts.
fn line(buf: &[u8], from: usize) -> Option<(&[u8], usize)> {
    let rest = &buf[from..];
    let end = rest.windows(2).position(|w| w == b"\r\n")?;
    Some((&rest[..end], from + end + 2))
}

fn number(digits: &[u8]) -> Option<i64> {
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn parse(buf: &[u8]) -> Parsed {
    if buf.is_empty() {
        return Parsed::Incomplete;
    }
    if buf[0] != b'*' {
        return parse_inline(buf);
    }
    let Some((head, mut pos)) = line(buf, 0) else {
        return too_long(buf, "multibulk length");
    };
    let count = match number(&head[1..]) {
        Some(n) if n <= 0 => return Parsed::Command(Vec::new(), pos),
        Some(n) if n as u64 <= MAX_ARGS as u64 => n as usize,
        _ => return Parsed::Invalid("Protocol error: invalid multibulk length".into()),
    };
    let mut args = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        if pos >= buf.len() {
            return Parsed::Incomplete;
        }
        if buf[pos] != b'$' {
            return Parsed::Invalid(format!(
                "Protocol error: expected '$', got '{}'",
                char::from(buf[pos])
            ));
        }
        let Some((len_line, start)) = line(buf, pos) else {
            return too_long(&buf[pos..], "bulk length");
        };
        let len = match number(&len_line[1..]) {
            Some(n) if n >= 0 && n as u64 <= MAX_BULK as u64 => n as usize,
            _ => return Parsed::Invalid("Protocol error: invalid bulk length".into()),
        };
        if buf.len() < start + len + 2 {
            return Parsed::Incomplete;
        }
        if &buf[start + len..start + len + 2] != b"\r\n" {
            return Parsed::Invalid("Protocol error: bulk string not followed by CRLF".into());
        }
        args.push(buf[start..start + len].to_vec());
        pos = start + len + 2;
    }
    Parsed::Command(args, pos)
}

/// A line with no CRLF yet: wait for more, unless it is already too long to be valid.
fn too_long(buf: &[u8], what: &str) -> Parsed {
    if buf.len() > MAX_INLINE {
        Parsed::Invalid(format!("Protocol error: too big {what}"))
    } else {
        Parsed::Incomplete
    }
}

/// An inline command (`PING\r\n`, as typed into telnet): words separated by spaces.
fn parse_inline(buf: &[u8]) -> Parsed {
    let Some(end) = buf.iter().position(|&b| b == b'\n') else {
        return too_long(buf, "inline request");
    };
    let text = buf[..end].strip_suffix(b"\r").unwrap_or(&buf[..end]);
    let args = text
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    Parsed::Command(args, end + 1)
}

fn arity(name: &str) -> Reply {
    Reply::Error(format!(
        "ERR wrong number of arguments for '{name}' command"
    ))
}

/// Runs one command; `quit` is set when the client asked to close.
fn execute(db: &Db, args: &[Vec<u8>], quit: &mut bool) -> Reply {
    let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
    let argc = args.len();
    match name.as_str() {
        "ping" => match argc {
            1 => Reply::Simple("PONG"),
            2 => Reply::Bulk(args[1].clone()),
            _ => arity(&name),
        },
        "echo" if argc == 2 => Reply::Bulk(args[1].clone()),
        "get" if argc == 2 => db.get(&args[1]).map_or(Reply::Nil, Reply::Bulk),
        "set" if argc >= 3 => set(db, args),
        "del" if argc >= 2 => Reply::Int(args[1..].iter().filter(|k| db.del(k)).count() as i64),
        "exists" if argc >= 2 => {
            Reply::Int(args[1..].iter().filter(|k| db.exists(k)).count() as i64)
        }
        "incr" if argc == 2 => incr_by(db, &args[1], 1),
        "decr" if argc == 2 => incr_by(db, &args[1], -1),
        "incrby" if argc == 3 => match number(&args[2]) {
            Some(by) => incr_by(db, &args[1], by),
            None => Reply::Error("ERR value is not an integer or out of range".into()),
        },
        "dbsize" if argc == 1 => Reply::Int(
            db.shards
                .iter()
                .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len() as i64)
                .sum(),
        ),
        "flushall" | "flushdb" => {
            for s in &db.shards {
                s.lock().unwrap_or_else(|e| e.into_inner()).clear();
            }
            Reply::Simple("OK")
        }
        "select" if argc == 2 => match number(&args[1]) {
            Some(0) => Reply::Simple("OK"),
            _ => Reply::Error("ERR DB index is out of range".into()),
        },
        // What clients and benchmark tools send when they connect.
        "command" => Reply::EmptyArray,
        "config" if argc == 3 && args[1].eq_ignore_ascii_case(b"get") => {
            let param = args[2].to_ascii_lowercase();
            let value: &[u8] = match param.as_slice() {
                b"save" => b"",
                b"appendonly" => b"no",
                b"databases" => b"1",
                _ => return Reply::EmptyArray,
            };
            Reply::Array(vec![param.clone(), value.to_vec()])
        }
        "client" => Reply::Simple("OK"),
        "quit" => {
            *quit = true;
            Reply::Simple("OK")
        }
        "echo" | "get" | "set" | "del" | "exists" | "incr" | "decr" | "incrby" | "dbsize"
        | "select" | "config" => arity(&name),
        _ => {
            let first = args
                .get(1)
                .map(|a| format!("'{}' ", String::from_utf8_lossy(a)))
                .unwrap_or_default();
            Reply::Error(format!(
                "ERR unknown command '{}', with args beginning with: {first}",
                String::from_utf8_lossy(&args[0])
            ))
        }
    }
}

/// SET key value [NX|XX] [EX seconds|PX milliseconds]
fn set(db: &Db, args: &[Vec<u8>]) -> Reply {
    let (mut nx, mut xx, mut ttl) = (false, false, None);
    let mut i = 3;
    while i < args.len() {
        let opt = args[i].to_ascii_lowercase();
        match opt.as_slice() {
            b"nx" => nx = true,
            b"xx" => xx = true,
            b"ex" | b"px" => {
                let Some(n) = args.get(i + 1).and_then(|a| number(a)).filter(|&n| n > 0) else {
                    return Reply::Error("ERR invalid expire time in 'set' command".into());
                };
                ttl = Some(if opt == b"ex" {
                    Duration::from_secs(n as u64)
                } else {
                    Duration::from_millis(n as u64)
                });
                i += 1;
            }
            _ => return Reply::Error("ERR syntax error".into()),
        }
        i += 1;
    }
    if nx && xx {
        return Reply::Error("ERR syntax error".into());
    }
    let now = Instant::now();
    let mut shard = db.shard(&args[1]);
    let present = shard.get(&args[1]).is_some_and(|e| e.live(now));
    if (nx && present) || (xx && !present) {
        return Reply::Nil;
    }
    shard.insert(
        args[1].clone(),
        Entry {
            value: args[2].clone(),
            expires: ttl.map(|t| now + t),
        },
    );
    Reply::Simple("OK")
}

fn incr_by(db: &Db, key: &[u8], by: i64) -> Reply {
    let now = Instant::now();
    let mut shard = db.shard(key);
    let entry = shard.get(key).filter(|e| e.live(now));
    let current = match entry {
        None => 0,
        Some(e) => match number(&e.value) {
            Some(n) => n,
            None => return Reply::Error("ERR value is not an integer or out of range".into()),
        },
    };
    let Some(next) = current.checked_add(by) else {
        return Reply::Error("ERR increment or decrement would overflow".into());
    };
    let expires = entry.and_then(|e| e.expires);
    shard.insert(
        key.to_vec(),
        Entry {
            value: next.to_string().into_bytes(),
            expires,
        },
    );
    Reply::Int(next)
}

fn serve(db: &Db, conn: TcpStream) {
    serve_pipelined(conn, 16 * 1024, |buf, out| match parse(buf) {
        Parsed::Incomplete => Step::Incomplete,
        Parsed::Command(args, len) => {
            let mut close = false;
            if !args.is_empty() {
                execute(db, &args, &mut close).write(out);
            }
            Step::Answered { len, close }
        }
        Parsed::Invalid(msg) => {
            Reply::Error(format!("ERR {msg}")).write(out);
            Step::Invalid
        }
    })
}

fn main() -> std::io::Result<()> {
    let listener = common::listen("127.0.0.1:6379", |a| {
        format!("redis_server listening on {a}")
    })?;
    let db = Arc::new(Db::new());
    StreamServer::new(listener, move |conn: TcpStream, _peer: SocketAddr| {
        serve(&db, conn)
    })
    .serve_forever()
}
