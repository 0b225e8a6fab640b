//! CPU-bound work on every core: the multiprocessing countdowns. Python needs processes to get
//! past the GIL; greenlets run on one worker thread per core, so CPU-bound greenlets already run
//! in parallel. The second half measures it: the same countdowns one after the other, then one
//! greenlet each, and prints the speedup.
//!
//!     cargo run --release --example cpu_parallel

use std::hint::black_box;
use std::time::Instant;

use greenlet::{joinall, spawn};

fn countdown(name: &str, mut count: u32) {
    while count > 0 {
        println!("{name}: Count value {count}");
        count -= 1;
    }
}

/// A pure CPU countdown: nothing to print, nothing to wait for.
fn spin(count: u64) -> u64 {
    let mut n = count;
    let mut acc = 0u64;
    while n > 0 {
        acc = black_box(acc.wrapping_mul(31).wrapping_add(n));
        n -= 1;
    }
    acc
}

fn main() {
    // p1 = Process(target=countdown, args=(10,)); p2 = ... (20,); start both; join both.
    let p1 = spawn(|| countdown("p1", 10));
    let p2 = spawn(|| countdown("p2", 20));
    p1.join().unwrap();
    p2.join().unwrap();
    println!("p1 and p2 joined");

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let count = 300_000_000;

    let start = Instant::now();
    let sequential: Vec<u64> = (0..cores).map(|_| spin(count)).collect();
    let one_by_one = start.elapsed();

    let start = Instant::now();
    let greenlets: Vec<_> = (0..cores).map(|_| spawn(move || spin(count))).collect();
    let parallel: Vec<u64> = joinall(greenlets).into_iter().map(Result::unwrap).collect();
    let at_once = start.elapsed();

    assert_eq!(sequential, parallel);
    println!(
        "{cores} countdowns of {count}: one after another {:.2} s, as {cores} greenlets {:.2} s: speedup {:.1}x on {cores} cores",
        one_by_one.as_secs_f64(),
        at_once.as_secs_f64(),
        one_by_one.as_secs_f64() / at_once.as_secs_f64()
    );
}
