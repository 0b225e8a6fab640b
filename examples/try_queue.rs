//! Non-blocking queue access: the "if-try" helpers that check `empty()`/`full()` and then call
//! `get_nowait()`/`put_nowait()`. `try_get` and `try_put` do both in one step, so the check can
//! never go stale between the two calls and no exception handling is needed.
//!
//!     cargo run --release --example try_queue

use greenlet::queue::Queue;
use greenlet::spawn;

/// Queue_Iftry_Get: the next item passed through `func`, or `default` when the queue is empty.
fn queue_iftry_get<T, R>(
    get_queue: &Queue<T>,
    default: Option<R>,
    func: impl FnOnce(T) -> R,
) -> Option<R> {
    get_queue.try_get().map(func).or(default)
}

/// Queue_Iftry_Put: true if the value went in, false if the queue was full.
fn queue_iftry_put<T>(put_queue: &Queue<T>, value: T) -> bool {
    put_queue.try_put(value).is_ok()
}

fn main() {
    let q = Queue::bounded(2);
    for value in 1..=3 {
        println!("put {value}: {}", queue_iftry_put(&q, value));
    }
    println!("queue holds {} of {:?}", q.len(), q.capacity());

    for _ in 0..3 {
        match queue_iftry_get(&q, Some(-1), |v| v * 10) {
            Some(-1) => println!("get: empty, default -1"),
            Some(v) => println!("get: {v} (passed through func)"),
            None => println!("get: nothing"),
        }
    }
    // No default and no func: the plain try_get.
    println!("get with no default: {:?}", q.try_get());

    // A poller that never waits: it takes what is there and otherwise goes on with other work.
    let producer = {
        let q = q.clone();
        spawn(move || {
            for i in 0..5 {
                q.put(i); // waits while the queue is full
            }
        })
    };
    let mut got = Vec::new();
    while got.len() < 5 {
        match q.try_get() {
            Some(v) => got.push(v),
            None => greenlet::yield_now(), // "other work"
        }
    }
    producer.join().unwrap();
    println!("polled {got:?} without ever waiting on the queue");
}
