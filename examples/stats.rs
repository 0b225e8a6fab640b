//! Watching a running server: an echo server under load from client greenlets, and a greenlet
//! that prints `greenlet::stats()` once a second, the way a dashboard or a log line would.
//!
//!     cargo run --release --example stats [SECONDS] [CLIENTS]
//!
//! Defaults: 3 seconds, 50 clients. Send the process SIGUSR1 while it runs with
//! `GREENLET_DUMP_SIGNAL=USR1` set to see every greenlet and what it waits on.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenlet::net::{StreamServer, TcpListener, TcpStream};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(3);
    let clients: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(50);

    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = StreamServer::new(listener, |mut conn: TcpStream, _peer| {
        let mut buf = [0; 64];
        while let Ok(n @ 1..) = conn.read(&mut buf) {
            if conn.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    })
    .start();

    let stop = Arc::new(AtomicBool::new(false));
    let round_trips = Arc::new(AtomicU64::new(0));
    let load: Vec<_> = (0..clients)
        .map(|_| {
            let (stop, round_trips) = (stop.clone(), round_trips.clone());
            greenlet::spawn(move || -> std::io::Result<()> {
                let mut conn = TcpStream::connect(addr)?;
                let mut reply = [0; 64];
                while !stop.load(Relaxed) {
                    conn.write_all(&[7; 64])?;
                    conn.read_exact(&mut reply)?;
                    round_trips.fetch_add(1, Relaxed);
                }
                Ok(())
            })
        })
        .collect();

    // The dashboard: one line a second.
    let start = Instant::now();
    let mut last = 0;
    for second in 1..=seconds {
        greenlet::sleep(Duration::from_secs(second).saturating_sub(start.elapsed()));
        let s = greenlet::stats();
        let done = round_trips.load(Relaxed);
        println!(
            "t={second}s round_trips/s={} live={} parked={} runnable={} parks={} io_wakeups={} \
             steals={} workers={}+{} stalls={}",
            done - last,
            s.live,
            s.parked,
            s.runnable,
            s.parks,
            s.io_wakeups,
            s.steals,
            s.workers,
            s.extra_workers,
            s.stalls,
        );
        last = done;
    }
    stop.store(true, Relaxed);
    for client in greenlet::joinall(load) {
        client.expect("client greenlet")?;
    }
    server.stop();
    println!("total round trips: {}", round_trips.load(Relaxed));
    Ok(())
}
