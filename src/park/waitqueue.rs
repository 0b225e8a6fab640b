//! A wait queue for conditions kept outside any lock: the [`WaitList`] with a mutex of its own.
//!
//! Used where the state is a single atomic (a greenlet's end, an Event's flag). A waiter checks
//! its condition, registers, re-checks, and parks; a notifier changes the state first, then calls
//! [`WaitQueue::notify_all`]. Either the waiter's re-check sees the new state, or the notifier sees
//! the registration (SeqCst fences on both sides): no wake-up is lost.

use std::ptr::{self, NonNull};
use std::time::Instant;

use super::spinlock::SpinLock;
use super::waitlist::{BoxedNode, Node, WaitList};
use super::{prepare_for, Unparker, Wake};
use crate::loom::sync::atomic::{fence, AtomicPtr, Ordering::Relaxed, Ordering::SeqCst};
use crate::loom::ConstAtomicBool;

pub(crate) struct WaitQueue {
    waiters: SpinLock<WaitList>,
    /// True while `waiters` may be non-empty: lets notifiers skip the lock when nobody waits.
    nonempty: ConstAtomicBool,
    /// What its waiters wait on (also in `waiters`; here to read without the lock).
    what: &'static &'static str,
}

impl WaitQueue {
    /// A queue whose waiters show in [`dump`](crate::dump) as waiting on `what`.
    pub(crate) const fn waiting_on(what: &'static &'static str) -> WaitQueue {
        WaitQueue {
            waiters: SpinLock::new(WaitList::waiting_on(what)),
            nonempty: ConstAtomicBool::new(false),
            what,
        }
    }

    /// Parks the caller until `ready()` holds or `deadline` passes; returns the last `ready()`.
    ///
    /// `ready` must read state that notifiers change before they notify. A wake-up here carries
    /// nothing: `ready` decides. Recorded as a wait on the queue's label at the caller's
    /// location (`#[track_caller]`).
    #[track_caller]
    pub(crate) fn wait_until(
        &self,
        deadline: Option<Instant>,
        mut ready: impl FnMut() -> bool,
    ) -> bool {
        loop {
            if ready() {
                return true;
            }
            let parker = prepare_for(self.what);
            // The waiter's place in the list, in this frame; the registration takes it out
            // before the frame ends (on an unwind too).
            let mut node = Node::new();
            let registration = Registration {
                queue: self,
                node: NonNull::from(&mut node),
            };
            {
                let mut w = self.waiters.lock();
                // SAFETY: the node is this frame's, reached only through the registration's
                // pointer from here on, and the registration unlinks it before the frame ends.
                unsafe { w.push(registration.node, parker.unparker(), ()) };
                self.nonempty.store(true, SeqCst);
            }
            fence(SeqCst);
            if ready() {
                return true;
            }
            let wake = parker.park(deadline);
            drop(registration);
            if wake == Wake::TimedOut {
                return ready();
            }
        }
    }

    /// Under loom: makes the queue's atomics now, on the calling thread. (Made on first use
    /// otherwise, so that `new` stays `const`, which loom would see as unsynchronised with the
    /// threads the queue is then shared with.)
    #[cfg(all(test, loom))]
    pub(crate) fn loom_init(&self) {
        self.waiters.loom_init();
        let _ = self.nonempty.load(SeqCst);
    }

    /// Wakes the first waiter still parked; false if there was none.
    ///
    /// Unlike [`notify_all`](WaitQueue::notify_all) this issues no fence of its own: the caller
    /// must have published its change with a SeqCst read-modify-write (the ring's CAS on its
    /// head or tail). That RMW precedes the load of `nonempty` in the SeqCst order, which is all
    /// the registration/re-check pair needs, and it saves a full fence on every message.
    pub(crate) fn notify_one_after_rmw(&self) -> bool {
        if !self.nonempty.load(SeqCst) {
            return false;
        }
        let wakeup = {
            let mut w = self.waiters.lock();
            let wakeup = w.wake_one();
            self.nonempty.store(!w.is_empty(), SeqCst);
            wakeup
        };
        // Dropped after the lock: the waiter runs again.
        wakeup.is_some()
    }

    /// Wakes every waiter; returns how many were still parked.
    pub(crate) fn notify_all(&self) -> usize {
        fence(SeqCst);
        if !self.nonempty.load(SeqCst) {
            return 0;
        }
        let wakeups = {
            let mut w = self.waiters.lock();
            // Claimed under the lock, woken after it. `nonempty` is cleared only once every
            // node is unlinked: a waiter that then sees it false frees its node without the
            // lock (see `withdraw`).
            let wakeups = w.wake_all();
            self.nonempty.store(false, SeqCst);
            wakeups
        };
        wakeups.len()
    }
}

impl WaitQueue {
    /// Registers `unparker` to be fired by the next notification, for a waiter that waits on
    /// several queues at once with one park (`crate::wait`): dropping the result withdraws it.
    /// The SeqCst fence inside makes the caller's re-check of its condition, after this returns,
    /// see any change whose notification missed the registration (as in `wait_until`).
    pub(crate) fn register(&self, unparker: Unparker) -> BoxedRegistration<'_> {
        BoxedRegistration {
            queue: self,
            node: Some(self.register_node(unparker)),
        }
    }

    /// [`register`](WaitQueue::register) for a select (see `channel::select`), which keeps the
    /// node and withdraws it with [`unregister`](WaitQueue::unregister), learning whether a
    /// notifier took it first. The caller re-checks its condition after this.
    pub(crate) fn register_node(&self, unparker: Unparker) -> BoxedNode<()> {
        let node = BoxedNode::new();
        let mut w = self.waiters.lock();
        // SAFETY: a fresh heap node, which stays put; `unregister` (the one way its holder
        // gives it back) unlinks it under this lock before freeing it.
        unsafe { w.push(node.node(), unparker, ()) };
        self.nonempty.store(true, SeqCst);
        drop(w);
        fence(SeqCst);
        node
    }

    /// Takes the registration out and frees its node; false if a notifier popped it already.
    pub(crate) fn unregister(&self, node: BoxedNode<()>) -> bool {
        let mut w = self.waiters.lock();
        // SAFETY: the node was pushed into this queue's list by `register_node`.
        let found = unsafe { w.unlink_boxed(node) }.is_some();
        if w.is_empty() {
            self.nonempty.store(false, SeqCst);
        }
        found
    }

    /// Takes the waiter whose node is `node` out, if no notifier popped it. With `nonempty`
    /// false the list was drained after the node was pushed: every unlinking is done before
    /// that store (see `notify_all`), so the lock is not needed to know the node is out.
    ///
    /// # Safety
    /// `node` was pushed into this queue's list, and stays valid during the call.
    unsafe fn withdraw(&self, node: NonNull<Node<()>>) {
        if !self.nonempty.load(SeqCst) {
            // Drained: our entry is gone. (Read without the lock: the unlinking came before
            // the store this load saw, which loom checks here.)
            #[cfg(any(debug_assertions, loom))]
            {
                // SAFETY: out of every list, so only its owner, this thread, touches it now.
                let linked = unsafe { Node::is_linked(node) };
                assert!(!linked, "a drained queue's node is out");
            }
            return;
        }
        let mut w = self.waiters.lock();
        // SAFETY: the caller's contract.
        let waiter = unsafe { w.unlink(node) };
        if w.is_empty() {
            self.nonempty.store(false, SeqCst);
        }
        drop(w);
        drop(waiter); // after the lock
    }
}

/// A [`WaitQueue`] made on first use: one word until somebody waits.
///
/// For queues that most owners never wait on, and that every one of many objects carries: a
/// task's joiners (a greenlet that nobody joins before it ends, or that is joined after it ended,
/// never needs its queue). The queue is boxed by the first waiter (a lost race frees its box) and
/// lives as long as the `LazyWaitQueue`.
///
/// The notifier's side needs no queue: [`notify_all`](LazyWaitQueue::notify_all) issues the
/// SeqCst fence first and then looks for the queue. A waiter installs the queue before it
/// registers and re-checks (the fence in `wait_until`), so either the notifier's look comes after
/// that fence in the SeqCst order and finds the queue and its waiter, or the waiter's re-check
/// comes after the notifier's fence and sees the changed state.
pub(crate) struct LazyWaitQueue {
    queue: AtomicPtr<WaitQueue>,
}

impl LazyWaitQueue {
    pub(crate) fn new() -> LazyWaitQueue {
        LazyWaitQueue {
            queue: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// The queue, made now if nobody has waited yet. `what` labels its waiters in
    /// [`dump`](crate::dump) (kept by the queue, not here: a word less in every owner); every
    /// call on one `LazyWaitQueue` passes the same label.
    pub(crate) fn get(&self, what: &'static &'static str) -> &WaitQueue {
        let mut queue = self.queue.load(SeqCst);
        if queue.is_null() {
            let new = Box::into_raw(Box::new(WaitQueue::waiting_on(what)));
            // Under loom the queue's atomics are made here, before it is published.
            #[cfg(all(test, loom))]
            // SAFETY: made just above, not shared yet.
            unsafe { &*new }.loom_init();
            queue = match self
                .queue
                .compare_exchange(ptr::null_mut(), new, SeqCst, SeqCst)
            {
                Ok(_) => new,
                Err(winner) => {
                    // SAFETY: `new` was made above and never shared: the exchange failed.
                    drop(unsafe { Box::from_raw(new) });
                    winner
                }
            };
        }
        // SAFETY: a non-null pointer came from `Box::into_raw` above (here or in another
        // thread, published by the SeqCst exchange) and is freed only by `drop`, which has
        // `&mut self`: it outlives this borrow of `self`.
        unsafe { &*queue }
    }

    /// Wakes every waiter; returns how many were still parked. The caller changed the state
    /// the waiters check before calling.
    pub(crate) fn notify_all(&self) -> usize {
        fence(SeqCst);
        let queue = self.queue.load(SeqCst);
        if queue.is_null() {
            return 0;
        }
        // SAFETY: as in `get`.
        unsafe { &*queue }.notify_all()
    }
}

impl Drop for LazyWaitQueue {
    fn drop(&mut self) {
        // `&mut self`: no other thread can race this load (a plain load, for loom's sake).
        let queue = self.queue.load(Relaxed);
        if !queue.is_null() {
            // SAFETY: made by `Box::into_raw` in `get`; `&mut self` means no borrow of it is left.
            drop(unsafe { Box::from_raw(queue) });
        }
    }
}

/// A queued waiter whose node is in the waiting frame; dropping it takes the waiter out of the
/// queue if it is still there.
struct Registration<'a> {
    queue: &'a WaitQueue,
    node: NonNull<Node<()>>,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        // SAFETY: the node, in `wait_until`'s frame, outlives this guard, and was pushed into
        // this queue's list (the push follows the guard's making with nothing between that
        // could unwind).
        unsafe { self.queue.withdraw(self.node) };
    }
}

/// A queued waiter whose node is on the heap (see [`WaitQueue::register`]); dropping it takes
/// the waiter out of the queue if it is still there.
pub(crate) struct BoxedRegistration<'a> {
    queue: &'a WaitQueue,
    node: Option<BoxedNode<()>>,
}

impl Drop for BoxedRegistration<'_> {
    fn drop(&mut self) {
        if let Some(node) = self.node.take() {
            // SAFETY: pushed into this queue's list by `register_node`, and valid until freed
            // just below.
            unsafe { self.queue.withdraw(node.node()) };
            // SAFETY: out of the list now: `withdraw` unlinked it under the lock, or saw the
            // queue drained after the push (every unlinking precedes that SeqCst store).
            unsafe { node.free_unlinked() };
        }
    }
}

/// loom models of the register/re-check/notify protocol, with the real `wait_until` and
/// `notify_*`: the waiters are loom threads, which park as plain-thread contexts.
#[cfg(all(test, loom))]
mod loom_tests {
    use std::sync::Arc;
    use std::time::Instant;

    use loom::thread;

    use super::WaitQueue;
    use crate::loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};

    /// A waiter checks a flag and parks while a notifier sets it and calls `notify_all`: the
    /// waiter always returns (a lost wake-up would leave it parked: loom reports a deadlock).
    #[test]
    fn loom_waitqueue_flag_and_notify_all() {
        loom::model(|| {
            let queue = Arc::new(WaitQueue::waiting_on(&"loom"));
            queue.loom_init();
            let flag = Arc::new(AtomicBool::new(false));
            let notifier = {
                let (queue, flag) = (queue.clone(), flag.clone());
                thread::spawn(move || {
                    flag.store(true, SeqCst);
                    queue.notify_all();
                })
            };
            assert!(queue.wait_until(None, || flag.load(SeqCst)));
            notifier.join().unwrap();
        });
    }

    /// A lazily made queue: two waiters race to make it while a notifier sets the flag and
    /// calls `notify_all`, which finds no queue, one, or one with waiters. Every waiter returns
    /// (a lost wake-up leaves one parked: loom reports a deadlock), and the loser of the race
    /// frees its queue (loom checks for leaks). The waiters are spawned threads: a waiter that
    /// returns on its re-check may still get the unpark its notifier claimed (harmless with std,
    /// whose next park returns early), which loom would deliver into a later `join`.
    #[test]
    fn loom_lazy_waitqueue_made_by_racing_waiters() {
        loom::model(|| {
            let lazy = Arc::new(super::LazyWaitQueue::new());
            let flag = Arc::new(AtomicBool::new(false));
            let waiter = {
                let (lazy, flag) = (lazy.clone(), flag.clone());
                thread::spawn(move || lazy.get(&"loom").wait_until(None, || flag.load(SeqCst)))
            };
            let waiter2 = {
                let (lazy, flag) = (lazy.clone(), flag.clone());
                thread::spawn(move || lazy.get(&"loom").wait_until(None, || flag.load(SeqCst)))
            };
            let notifier = {
                let (lazy, flag) = (lazy.clone(), flag.clone());
                thread::spawn(move || {
                    flag.store(true, SeqCst);
                    lazy.notify_all();
                })
            };
            assert!(waiter.join().unwrap());
            assert!(waiter2.join().unwrap());
            notifier.join().unwrap();
        });
    }

    /// Two permits handed out by `fetch_add` + `notify_one_after_rmw` (the ring's pattern: no fence of the
    /// notifier's own, its SeqCst read-modify-write orders it) to a waiter without deadline and
    /// one whose deadline has passed already. The timed-out one consumes no wake-up: the other
    /// always gets its permit.
    #[test]
    fn loom_waitqueue_notify_one_passes_on_a_timed_out_wakeup() {
        loom::model(|| {
            let queue = Arc::new(WaitQueue::waiting_on(&"loom"));
            queue.loom_init();
            let permits = Arc::new(AtomicUsize::new(0));
            let take = |permits: &AtomicUsize| {
                permits
                    .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
                    .is_ok()
            };
            let impatient = {
                let (queue, permits) = (queue.clone(), permits.clone());
                thread::spawn(move || queue.wait_until(Some(Instant::now()), || take(&permits)))
            };
            let notifier = {
                let (queue, permits) = (queue.clone(), permits.clone());
                thread::spawn(move || {
                    for _ in 0..2 {
                        permits.fetch_add(1, SeqCst);
                        // `notify_one_after_rmw` relies on this SeqCst read-modify-write preceding its
                        // SeqCst load of `nonempty` in the single total order (see its docs).
                        // loom models SeqCst accesses as AcqRel only (tokio-rs/loom#180), and
                        // without this fence reports a lost wake-up that C++20's model (and
                        // x86-64's locked RMW, ARMv8's stlxr/ldar) rules out; with it, the model
                        // checks the rest: the hand-off past a waiter that timed out.
                        crate::loom::sync::atomic::fence(SeqCst);
                        queue.notify_one_after_rmw();
                    }
                })
            };
            assert!(queue.wait_until(None, || take(&permits)));
            let impatient_got = impatient.join().unwrap();
            notifier.join().unwrap();
            let left = permits.load(SeqCst);
            assert_eq!(left + 1 + usize::from(impatient_got), 2);
        });
    }
}
