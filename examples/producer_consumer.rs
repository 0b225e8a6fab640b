//! Producer and consumer: busy-waiting on a flag, then a Queue with task_done/join, then a
//! channel whose disconnect replaces the sentinel value.
//!
//!     cargo run --release --example producer_consumer

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use greenlet::queue::Queue;
use greenlet::{channel, spawn, yield_now};

fn main() {
    // Non-synchronized: the consumer spins until the producer raises a flag. In a greenlet the
    // spin must yield, or it would hold its worker (Python's `while ...: pass` holds the GIL).
    let items = Arc::new(Mutex::new(Vec::new()));
    let go = Arc::new(AtomicBool::new(false));
    let consumer = {
        let (items, go) = (items.clone(), go.clone());
        spawn(move || {
            while !go.load(SeqCst) {
                yield_now(); // busy waiting: works, but burns CPU
            }
            println!("item is {:?}", items.lock().unwrap());
        })
    };
    for i in 0..10 {
        items.lock().unwrap().push(i);
    }
    go.store(true, SeqCst);
    consumer.join().unwrap();

    // Synchronized: queue.get() parks the consumer; queue.join() waits for every task_done.
    let queue = Queue::unbounded();
    {
        let queue = queue.clone();
        // A "daemon" consumer: never joined; it is parked in get() when main ends.
        spawn(move || loop {
            println!("got an item: {}", queue.get());
            queue.task_done();
        });
    }
    for i in 0..10 {
        queue.put(i);
    }
    queue.join();
    println!("all items processed");

    // The sentinel (None = done) becomes channel disconnect: dropping the sender ends the
    // consumer's loop after it has drained what was sent.
    let (tx, rx) = channel::unbounded();
    let consumer = spawn(move || {
        for item in rx {
            println!("got an item: {item}");
        }
        println!("producer is done");
    });
    for i in 0..10 {
        tx.send(i).unwrap();
    }
    drop(tx);
    consumer.join().unwrap();
}
