//! The body of [`PriorityQueue`](super::PriorityQueue): a `BinaryHeap` under this crate's
//! [`Mutex`], counted by two [`Semaphore`]s.
//!
//! Keeping a heap in order runs the user's `Ord`, and no user code may run under an internal spin
//! lock (a greenlet that parks there wedges every greenlet spinning on the lock; on a single
//! worker, for ever). So the heap does not live in the channel engine, whose wait lists and
//! hand-offs sit under a spin lock, but under a greenlet-aware [`Mutex`]: an `Ord` that parks
//! makes other putters and getters park too, and one that panics unlocks the mutex on the way
//! out, which has no poisoning to clear. The heap stays consistent through such a panic
//! (`BinaryHeap` guarantees it keeps every element, only perhaps out of order), and the counts
//! are kept in step with it whatever happens:
//!
//! * `items` holds one permit per element in the heap that no getter has claimed yet. A getter
//!   takes a permit (waiting there while the queue is empty), then pops under the mutex. A
//!   `BinaryHeap::pop` removes one element even when `Ord` panics (that element is dropped), so
//!   the permit is spent either way; killed while waiting for the mutex, the getter gives it back.
//! * `room` (bounded queues) holds one permit per free place. A putter takes one first (waiting
//!   there while the queue is full), then pushes; a `push` keeps its element even when `Ord`
//!   panics, so the item is counted either way, and the panic then propagates from `put`.
//!
//! Task tracking (`task_done`, `join`) counts under a spin lock of its own, where no user code
//! runs. Kills and timeouts interrupt only the semaphore and mutex waits: nothing is consumed by a
//! putter or getter that gives up.

use std::collections::BinaryHeap;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Instant;

use super::unfinished::{self, Unfinished};
use crate::channel::locked::{drop_each, Wait};
use crate::park::SpinLock;
use crate::sync::{Mutex, Semaphore, SemaphorePermit};

pub(super) struct Heap<T> {
    shared: Arc<Shared<T>>,
}

struct Shared<T> {
    heap: Mutex<BinaryHeap<T>>,
    /// Elements in the heap (a snapshot for `len`, updated under `heap`).
    len: AtomicUsize,
    items: Semaphore,
    room: Option<Semaphore>,
    cap: Option<usize>,
    tasks: SpinLock<Unfinished>,
    /// Empties the heap (`mem::take`, which needs `T: Ord`), for `Drop`, which may not ask for
    /// a bound the struct lacks.
    take_all: fn(&mut BinaryHeap<T>) -> Vec<T>,
}

impl<T> Drop for Shared<T> {
    /// The last handle is gone: drops the items one at a time, so that one whose `Drop` panics
    /// propagates from the handle's drop instead of aborting (see `channel::locked::drop_each`).
    fn drop(&mut self) {
        drop_each((self.take_all)(self.heap.get_mut()));
    }
}

/// Takes a permit, waiting as `wait` allows.
#[track_caller]
fn acquire(sem: &Semaphore, wait: Wait) -> Option<SemaphorePermit<'_>> {
    match wait {
        Wait::Never => sem.try_acquire(),
        Wait::Until(None) => Some(sem.acquire()),
        Wait::Until(Some(deadline)) => {
            sem.acquire_timeout(deadline.saturating_duration_since(Instant::now()))
        }
    }
}

impl<T: Ord> Heap<T> {
    pub(super) fn new(cap: Option<usize>) -> Heap<T> {
        Heap {
            shared: Arc::new(Shared {
                heap: Mutex::new(BinaryHeap::new()),
                len: AtomicUsize::new(0),
                items: Semaphore::new(0),
                room: cap.map(Semaphore::new),
                cap,
                tasks: SpinLock::new(Unfinished::new()),
                take_all: |heap| std::mem::take(heap).into_vec(),
            }),
        }
    }

    #[track_caller]
    pub(super) fn put(&self, item: T) {
        if self.put_wait(item, Wait::Until(None)).is_err() {
            unreachable!("a put with no deadline waits until it succeeds");
        }
    }

    #[track_caller]
    pub(super) fn put_wait(&self, item: T, wait: Wait) -> Result<(), T> {
        let s = &*self.shared;
        let room = match &s.room {
            Some(room) => match acquire(room, wait) {
                Some(permit) => Some(permit),
                None => return Err(item),
            },
            None => None,
        };
        // Killed while waiting here: the room permit goes back and the item is dropped.
        let mut heap = s.heap.lock();
        let pushed = catch_unwind(AssertUnwindSafe(|| heap.push(item)));
        s.len.store(heap.len(), SeqCst);
        drop(heap);
        // The item is in the heap, even if Ord panicked: count it.
        if let Some(permit) = room {
            permit.forget();
        }
        s.tasks.lock().add();
        s.items.add_permits(1);
        match pushed {
            Ok(()) => Ok(()),
            Err(payload) => resume_unwind(payload),
        }
    }

    #[track_caller]
    pub(super) fn get(&self) -> T {
        self.get_wait(Wait::Until(None))
            .expect("a get with no deadline waits until it succeeds")
    }

    #[track_caller]
    pub(super) fn get_wait(&self, wait: Wait) -> Option<T> {
        let s = &*self.shared;
        let permit = acquire(&s.items, wait)?;
        // Killed while waiting here: the item permit goes back.
        let mut heap = s.heap.lock();
        let popped = catch_unwind(AssertUnwindSafe(|| heap.pop()));
        s.len.store(heap.len(), SeqCst);
        drop(heap);
        // One element left the heap, even if Ord panicked (it was dropped then).
        permit.forget();
        if let Some(room) = &s.room {
            room.add_permits(1);
        }
        match popped {
            Ok(item) => Some(item.expect("an item permit stands for an element in the heap")),
            Err(payload) => resume_unwind(payload),
        }
    }
}

impl<T> Heap<T> {
    /// Marks one item done; false if none was outstanding.
    pub(super) fn task_done(&self) -> bool {
        unfinished::task_done(&self.shared.tasks)
    }

    /// Waits until every item put has been marked done; false on timeout.
    #[track_caller]
    pub(super) fn join(&self, deadline: Option<Instant>) -> bool {
        unfinished::join(&self.shared.tasks, deadline)
    }

    pub(super) fn len(&self) -> usize {
        self.shared.len.load(SeqCst)
    }

    pub(super) fn capacity(&self) -> Option<usize> {
        self.shared.cap
    }
}

impl<T> Clone for Heap<T> {
    fn clone(&self) -> Self {
        Heap {
            shared: self.shared.clone(),
        }
    }
}
