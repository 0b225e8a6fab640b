//! A short tour of greenlet: what spawn, joinall, sleep, kill and with_timeout do.
//!
//!     cargo run --release --example tour

use std::sync::Arc;
use std::time::{Duration, Instant};

use greenlet::sync::Event;
use greenlet::{joinall, sleep, spawn, spawn_later, with_timeout, Builder, JoinError};

fn main() {
    let t0 = Instant::now();
    let at = move || format!("{:>4} ms", t0.elapsed().as_millis());

    println!("1. spawn + joinall: three greenlets sleep 100, 200 and 300 ms side by side");
    let jobs: Vec<_> = [3u64, 1, 2]
        .into_iter()
        .map(|n| {
            spawn(move || {
                sleep(Duration::from_millis(100 * n)); // parks this greenlet only
                n
            })
        })
        .collect();
    let results: Vec<u64> = joinall(jobs).into_iter().map(Result::unwrap).collect();
    println!(
        "   results in spawn order: {results:?}, all done at {}",
        at()
    );

    println!("2. ten thousand greenlets sleeping 100 ms at once");
    let start = Instant::now();
    let sleepers: Vec<_> = (0..10_000)
        .map(|_| spawn(|| sleep(Duration::from_millis(100))))
        .collect();
    joinall(sleepers);
    println!("   took {:?} (parking, not threads)", start.elapsed());

    println!("3. an Event wakes five waiters");
    let ready = Arc::new(Event::new());
    let waiters: Vec<_> = (0..5)
        .map(|i| {
            let ready = ready.clone();
            spawn(move || {
                ready.wait();
                i
            })
        })
        .collect();
    sleep(Duration::from_millis(20));
    ready.set();
    let woken: Vec<i32> = joinall(waiters).into_iter().map(Result::unwrap).collect();
    println!("   woken: {woken:?}");

    println!("4. kill: a greenlet parked in a long sleep unwinds at once");
    let sleeper = Builder::new()
        .name("sleepy")
        .spawn(|| sleep(Duration::from_secs(3600)))
        .unwrap();
    sleep(Duration::from_millis(10));
    sleeper.kill();
    match sleeper.join() {
        Err(JoinError::Killed) => println!("   'sleepy' was killed at {}", at()),
        other => println!("   unexpected: {other:?}"),
    }

    println!("5. with_timeout: give up on a blocking call");
    let late = with_timeout(Duration::from_millis(50), || {
        sleep(Duration::from_secs(10));
        "never"
    });
    println!("   with_timeout(50 ms, sleep 10 s) = {late:?}");
    let nested = with_timeout(Duration::from_secs(1), || {
        with_timeout(Duration::from_millis(20), || sleep(Duration::from_secs(10)))
    });
    println!("   nested, inner shorter = {nested:?}");

    println!("6. spawn_later and a panic that stays inside its greenlet");
    let later = spawn_later(Duration::from_millis(30), at);
    println!("   spawn_later(30 ms) ran at {}", later.join().unwrap());
    // Rust's panic hook still reports the panic (here shortened to one line).
    std::panic::set_hook(Box::new(|info| eprintln!("   (panic hook) {info}")));
    let boom = spawn(|| -> () { panic!("boom") });
    println!(
        "   the panicking greenlet: {:?}",
        boom.join().map_err(|e| e.to_string())
    );
    println!("done in {}", at());
}
