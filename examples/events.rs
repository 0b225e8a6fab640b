//! Events: gevent's setter with five waiters, and the started-event a thread sets to say it is
//! running. An `Event` wakes every waiter when set and stays set.
//!
//!     cargo run --release --example events

use std::sync::Arc;
use std::time::Duration;

use greenlet::sync::Event;
use greenlet::{joinall, sleep, spawn};

fn setter(evt: &Event) {
    // After a while, wake every greenlet waiting on evt (the original waits 3 s).
    println!("A: Hey wait for me, I have to do something");
    sleep(Duration::from_millis(300));
    println!("Ok, I'm done");
    evt.set();
}

fn waiter(evt: &Event) {
    println!("I'll wait for you");
    evt.wait(); // parks this greenlet until set
    println!("It's about time");
}

/// The countdown that says when it has started (ticks of 50 ms instead of 5 s).
fn countdown(mut n: u32, started_evt: &Event) {
    started_evt.set();
    println!("Countdown starting");
    while n > 0 {
        println!("T-minus {n}");
        n -= 1;
        sleep(Duration::from_millis(50));
    }
}

fn main() {
    let evt = Arc::new(Event::new());
    let mut greenlets = Vec::new();
    let e = evt.clone();
    greenlets.push(spawn(move || setter(&e)));
    for _ in 0..5 {
        let e = evt.clone();
        greenlets.push(spawn(move || waiter(&e)));
    }
    joinall(greenlets);

    let started_evt = Arc::new(Event::new());
    println!("Launching countdown");
    let e = started_evt.clone();
    let t = spawn(move || countdown(5, &e));
    // Wait for the greenlet to start.
    started_evt.wait();
    println!("Countdown is running");
    // A Python program waits for its non-daemon threads at exit; here, join says so.
    t.join().unwrap();
}
