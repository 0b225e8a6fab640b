//! Calling futures-based libraries from greenlets with `greenlet::block_on`: `async-channel`
//! (an async MPMC channel) and `futures-lite` (combinators and streams), neither of which needs
//! a runtime of its own. `block_on` polls a future in the calling greenlet and parks only that
//! greenlet while the future is pending; a wake from any thread, another executor's included,
//! unparks it.
//!
//! A future that needs another runtime's reactor (tokio's sockets and timers) is run on that
//! runtime instead: spawn it there and `block_on` its join handle (see `greenlet::block_on`).
//!
//!     cargo run --release --example futures_interop

use std::time::Duration;

use futures_lite::{future, StreamExt};
use greenlet::{block_on, joinall, spawn, with_timeout};

fn main() {
    // An async producer on a plain OS thread, run by another executor (futures-lite's), feeds
    // greenlets that each wait in block_on(rx.recv()).
    let (tx, rx) = async_channel::bounded::<u64>(4);
    let producer = std::thread::spawn(move || {
        future::block_on(async move {
            for i in 1..=100 {
                tx.send(i).await.expect("the consumers are there");
            }
        }); // dropping `tx` closes the channel: the consumers' recv then fails
    });
    let consumers: Vec<_> = (0..4)
        .map(|_| {
            let rx = rx.clone();
            spawn(move || {
                let mut sum = 0;
                while let Ok(item) = block_on(rx.recv()) {
                    sum += item;
                }
                sum
            })
        })
        .collect();
    let total: u64 = joinall(consumers).into_iter().map(Result::unwrap).sum();
    producer.join().unwrap();
    println!("4 greenlets consumed an async producer thread: sum {total}");

    // Greenlets on both sides of a rendezvous-like bounded(1) channel: the sender's
    // backpressure and the receiver's wait both park greenlets only.
    let (tx, rx) = async_channel::bounded::<(usize, u32)>(1);
    let senders: Vec<_> = (0..3)
        .map(|id| {
            let tx = tx.clone();
            spawn(move || {
                for n in 0..50 {
                    block_on(tx.send((id, n))).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let mut last = [None::<u32>; 3];
    let mut in_order = true;
    let mut count = 0;
    while let Ok((id, n)) = block_on(rx.recv()) {
        in_order &= last[id].is_none_or(|prev| prev < n);
        last[id] = Some(n);
        count += 1;
    }
    joinall(senders);
    println!("3 sending greenlets, {count} messages, in order per sender: {in_order}");

    // futures-lite's combinators: wait for two channels at once.
    let (tx_a, rx_a) = async_channel::unbounded::<u32>();
    let (tx_b, rx_b) = async_channel::unbounded::<&str>();
    spawn(move || {
        greenlet::sleep(Duration::from_millis(5));
        block_on(tx_b.send("b")).unwrap();
        block_on(tx_a.send(1)).unwrap();
    });
    let (a, b) = block_on(future::zip(rx_a.recv(), rx_b.recv()));
    println!("zip of two receives: ({}, {:?})", a.unwrap(), b.unwrap());

    // Streams: an async_channel::Receiver is a Stream. (`send_blocking` blocks the calling
    // thread: fine on this plain thread, but inside a greenlet it would stall the worker, so
    // greenlets use block_on(tx.send(..)) as above.)
    let (tx, rx) = async_channel::unbounded::<u32>();
    for i in 1..=5 {
        tx.send_blocking(i).unwrap();
    }
    drop(tx);
    let doubled: Vec<u32> = block_on(rx.map(|x| x * 2).filter(|x| *x > 2).collect());
    println!("stream: {doubled:?}");

    // gevent.Timeout around a future: the pending recv is dropped, the channel stays usable.
    let (tx, rx) = async_channel::unbounded::<u32>();
    let waited = with_timeout(Duration::from_millis(20), || block_on(rx.recv()));
    println!("with_timeout around a pending recv: {waited:?}");
    tx.send_blocking(5).unwrap();
    println!("the receiver still works: {:?}", block_on(rx.recv()));
}
