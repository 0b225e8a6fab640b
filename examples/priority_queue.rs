//! Priority queues: the Condition-based priority queue built by hand (a heap, a counter to keep
//! equal priorities in order, a condition variable for waiting getters), and the ready-made
//! `greenlet::queue::PriorityQueue`.
//!
//!     cargo run --release --example priority_queue

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Duration;

use greenlet::sync::{Condvar, Mutex};
use greenlet::{queue, sleep, spawn};

/// `heapq` of `(-priority, count, item)`: the highest priority first, then first in, first out.
struct PriorityQueue<T> {
    queue: Mutex<Heap<T>>,
    cv: Condvar,
}

/// `self._queue` and `self._count`, guarded together.
struct Heap<T> {
    heap: BinaryHeap<(i32, Reverse<u64>, Entry<T>)>,
    count: u64,
}

/// Wraps the item so the heap orders by priority and count only.
struct Entry<T>(T);

impl<T> PartialEq for Entry<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl<T> Eq for Entry<T> {}
impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Entry<T> {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl<T> PriorityQueue<T> {
    fn new() -> Self {
        PriorityQueue {
            queue: Mutex::new(Heap {
                heap: BinaryHeap::new(),
                count: 0,
            }),
            cv: Condvar::new(),
        }
    }

    fn put(&self, item: T, priority: i32) {
        let mut q = self.queue.lock();
        let count = q.count;
        q.heap.push((priority, Reverse(count), Entry(item)));
        q.count += 1;
        self.cv.notify_one();
    }

    fn get(&self) -> T {
        let mut q = self.queue.lock();
        loop {
            if let Some((_, _, Entry(item))) = q.heap.pop() {
                return item;
            }
            q = self.cv.wait(q);
        }
    }
}

fn main() {
    let q = Arc::new(PriorityQueue::new());
    // A getter that waits before anything is put.
    let first = {
        let q = q.clone();
        spawn(move || q.get())
    };
    sleep(Duration::from_millis(20));
    q.put("wake-up call", 1);
    println!("waiting getter got: {}", first.join().unwrap());

    q.put("low", 1);
    q.put("high", 5);
    q.put("medium", 3);
    q.put("high, second", 5);
    let order: Vec<_> = (0..4).map(|_| q.get()).collect();
    println!("hand-made queue order: {order:?}");

    // greenlet::queue::PriorityQueue: the greatest item first, like BinaryHeap; put
    // (priority, item) pairs to order by priority.
    let pq = queue::PriorityQueue::unbounded();
    for (priority, job) in [(1, "sweep"), (5, "fire alarm"), (3, "email")] {
        pq.put((priority, job));
    }
    let jobs: Vec<_> = std::iter::from_fn(|| pq.try_get())
        .map(|(_, job)| job)
        .collect();
    println!("queue::PriorityQueue order: {jobs:?}");
}
