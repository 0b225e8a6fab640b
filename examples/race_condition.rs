//! The lost update: a read, a yield, then a write. With a yield between read and write, two
//! greenlets read the same value and one increment is lost; a Mutex around the whole
//! read-modify-write fixes it.
//!
//!     cargo run --release --example race_condition

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;

use greenlet::sync::{Event, Mutex};
use greenlet::{sleep, spawn};
use std::time::Duration;

fn main() {
    // count = [0]; def inc(): temp = count[0]; sleep(0); count[0] = temp + 1
    let count = Arc::new(AtomicU64::new(0));
    let start = Arc::new(Event::new()); // both start together, like two threads started at once
    let inc = {
        let (count, start) = (count.clone(), start.clone());
        move || {
            start.wait();
            let temp = count.load(SeqCst);
            // A pause between read and write, like time.sleep(0) with the GIL: the other
            // greenlet reads meanwhile. (A millisecond rather than a bare yield, because
            // greenlets on two workers truly run in parallel and may not interleave at a yield.)
            sleep(Duration::from_millis(1));
            count.store(temp + 1, SeqCst);
        }
    };
    let other = spawn(inc.clone());
    let me = spawn(inc);
    start.set();
    me.join().unwrap();
    other.join().unwrap();
    // Both read 0 before either wrote (the yield lets the other one in), so this is usually 1.
    println!("count is {} (racy: 1 or 2)", count.load(SeqCst));

    // Fixed: the lock is held across the yield, so the second greenlet reads the first's write.
    let count = Arc::new(Mutex::new(0u64));
    let inc = {
        let count = count.clone();
        move || {
            let mut guard = count.lock();
            let temp = *guard;
            sleep(Duration::from_millis(1));
            *guard = temp + 1;
        }
    };
    let other = spawn(inc.clone());
    spawn(inc).join().unwrap();
    other.join().unwrap();
    println!("count is {} (with a Mutex: always 2)", *count.lock());
}
