//! Semaphores: ten workers waiting on a semaphore that starts at zero; one release lets the first
//! worker in, and each worker's release lets the next one in. Then a semaphore as a cap on how
//! many greenlets use a resource at once.
//!
//!     cargo run --release --example semaphore

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use greenlet::sync::Semaphore;
use greenlet::{joinall, sleep, spawn};

fn worker(n: usize, sema: &Semaphore) {
    // Wait to be signaled; the permit goes back (sema.release()) when it is dropped.
    let _permit = sema.acquire();
    // Do some work
    println!("Working {n}");
}

fn main() {
    // sema = threading.Semaphore(0): every worker waits.
    let sema = Arc::new(Semaphore::new(0));
    let nworkers = 10;
    let workers: Vec<_> = (0..nworkers)
        .map(|n| {
            let sema = sema.clone();
            spawn(move || worker(n, &sema))
        })
        .collect();
    while sema.waiting() < nworkers {
        sleep(Duration::from_millis(1)); // let them all reach acquire(), for a clear demo
    }
    println!("{} workers waiting, releasing one permit", sema.waiting());
    sema.add_permits(1); // sema.release()
    joinall(workers);
    println!(
        "all {nworkers} workers done, permits left: {}",
        sema.available_permits()
    );

    // A semaphore of 3 as a connection limit: 12 greenlets, never more than 3 inside.
    let limit = Arc::new(Semaphore::new(3));
    let inside = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let users: Vec<_> = (0..12)
        .map(|_| {
            let (limit, inside, most) = (limit.clone(), inside.clone(), most.clone());
            spawn(move || {
                let _permit = limit.acquire();
                most.fetch_max(inside.fetch_add(1, SeqCst) + 1, SeqCst);
                sleep(Duration::from_millis(10));
                inside.fetch_sub(1, SeqCst);
            })
        })
        .collect();
    joinall(users);
    println!(
        "12 users of a semaphore of 3: at most {} at once",
        most.load(SeqCst)
    );
}
