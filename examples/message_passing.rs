//! Message passing: a pipe from producer to consumer (multiprocessing.Pipe), both directions,
//! and a queue with several consumers.
//!
//!     cargo run --release --example message_passing

use greenlet::queue::Queue;
use greenlet::{channel, joinall, spawn};

fn main() {
    // process_produce / process_consume: a one-way pipe; None is the done signal.
    let (send, recv) = channel::unbounded::<Option<i32>>();
    let consumer = spawn(move || {
        while let Ok(Some(item)) = recv.recv() {
            println!("got an item: {item}");
        }
    });
    for i in 0..10 {
        send.send(Some(i)).unwrap();
    }
    send.send(None).unwrap(); // done signal
    consumer.join().unwrap();

    // A duplex pipe: two channels, one each way (Pipe(duplex=True)).
    let (to_worker, worker_in) = channel::bounded::<i32>(0);
    let (worker_out, from_worker) = channel::bounded::<i32>(0);
    let worker = spawn(move || {
        for n in worker_in {
            worker_out.send(n * n).unwrap();
        }
    });
    for n in 1..=5 {
        to_worker.send(n).unwrap();
        println!("{n} squared is {}", from_worker.recv().unwrap());
    }
    drop(to_worker);
    worker.join().unwrap();

    // A queue shared by several consumers: each item goes to exactly one of them.
    let queue = Queue::unbounded();
    let consumers: Vec<_> = (0..3)
        .map(|c| {
            let queue = queue.clone();
            spawn(move || {
                let mut mine = 0;
                while let Some(item) = queue.get() {
                    mine += item;
                }
                println!("consumer {c} summed its share");
                mine
            })
        })
        .collect();
    for i in 1..=100 {
        queue.put(Some(i));
    }
    for _ in 0..3 {
        queue.put(None); // one stop signal per consumer
    }
    let total: i32 = joinall(consumers).into_iter().map(Result::unwrap).sum();
    println!("total: {total}");
}
