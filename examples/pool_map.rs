//! Pools of workers: `multiprocessing.Pool(4).map(adder, range(10))`, the `map_async` style of
//! starting the work and waiting for it later, and `ThreadPoolExecutor(max_workers=3).map`, as
//! greenlet pools. A greenlet pool caps how many greenlets of the pool run at once; for work that
//! must block an OS thread (a C library, a blocking file system call) `threadpool::apply` is the
//! executor.
//!
//!     cargo run --release --example pool_map

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use greenlet::pool::Pool;
use greenlet::{sleep, spawn, threadpool};

fn adder(a: u64) -> u64 {
    a + a
}

fn main() {
    // pool1 = multiprocessing.Pool(processes=4); pool1.map(adder, range(10)): blocks until every
    // result is in, and returns them in input order.
    let pool1 = Pool::new(4);
    println!("map: {:?}", pool1.map(adder, 0..10));

    // results = pool1.map_async(adder, range(10)); results.wait(): start the map in a greenlet
    // of its own, do something else, then wait for it.
    let results = {
        let pool1 = pool1.clone();
        spawn(move || pool1.map(adder, 0..10))
    };
    println!("map_async started, ready: {}", results.is_finished());
    results.wait();
    println!("map_async ready: {:?}", results.join().unwrap());

    // imap_unordered: results as they finish; the slowest item comes last (30 ms apart, so that
    // the order holds on a loaded machine too).
    let order: Vec<u64> = pool1
        .imap_unordered(
            |ms: u64| {
                sleep(Duration::from_millis(ms));
                ms
            },
            [90, 30, 60],
        )
        .collect();
    println!("imap_unordered: {order:?}");

    // with ThreadPoolExecutor(max_workers=3) as executor: executor.map(thread_function, range(3))
    // A pool of three never runs more than three at once, however many items there are.
    let executor = Pool::new(3);
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (r, m) = (running.clone(), most.clone());
    executor.map(
        move |name: usize| {
            let now = r.fetch_add(1, SeqCst) + 1;
            m.fetch_max(now, SeqCst);
            println!("Thread {name}: starting");
            sleep(Duration::from_millis(20));
            println!("Thread {name}: finishing");
            r.fetch_sub(1, SeqCst);
        },
        0..6,
    );
    println!(
        "executor ran 6 items, at most {} at once",
        most.load(SeqCst)
    );

    // Blocking calls that have no cooperative version go to the OS-thread pool; the greenlet
    // parks meanwhile and the other greenlets go on running.
    let len = threadpool::apply(|| std::fs::read_dir(".").map(|d| d.count()).unwrap_or(0));
    println!("threadpool::apply listed {len} entries of the current directory");
}
