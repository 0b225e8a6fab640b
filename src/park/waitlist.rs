//! The list of parked waiters every blocking primitive keeps under its own lock.
//!
//! A primitive checks its state and, if it must wait, registers in its [`WaitList`] in the same
//! critical section, then parks with [`park_in`]. A releaser pops a waiter under the lock and
//! unparks it. The rule every primitive relies on: **a successful unpark transfers ownership**
//! (of a permit, a lock, a message). Exactly one of unpark, timeout or kill wins a park, so a
//! waiter that returns [`Wake::Unparked`] got what it was handed, and one that timed out or was
//! killed got nothing: the releaser saw `unpark() == false` and moved on to the next waiter.
//!
//! Each entry may carry a payload, e.g. a pointer to the waiter's message slot.
//!
//! Because entries are fired, dropped and taken back only under the primitive's lock, the
//! unparkers of [`park_in`] borrow the waiting greenlet instead of counting a reference to it
//! (see `Parker::unparker_in_lock`): a park through a wait list touches no reference count.

use std::marker::PhantomPinned;
use std::mem::MaybeUninit;
use std::ptr::NonNull;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use super::spinlock::{SpinGuard, SpinLock};
use super::{prepare_for, Unparker, Wake, Wakeup};
use crate::loom::cell::UnsafeCell;

/// Wake-ups claimed under a primitive's lock ([`WaitList::wake_all`]); dropping them, after the
/// lock, makes their contexts run again. Like tokio's `WakeList` and parking_lot's unpark-after-
/// unlock: a lock is never held across a wake (a queue push on another worker, a futex call).
#[must_use = "the claimed waiters wake when this is dropped: drop it after unlocking"]
pub(crate) struct Wakeups(Vec<Wakeup>);

impl Wakeups {
    /// How many waiters were still parked (and are woken by dropping this).
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

/// Parked waiters in FIFO order. Lives inside the primitive's [`SpinLock`].
///
/// The list is intrusive, as parking_lot's queues and tokio's `Notify` are: each waiter brings
/// its own [`Node`] (in the frame that parks, or in a [`BoxedNode`] for a registration that
/// outlives its frame), so waiting allocates nothing, and a waiter that leaves early (a
/// timeout, a kill) takes itself out in O(1) wherever it is in the list. (A list kept in a
/// `VecDeque` moved every waiter behind the leaver: 400,000 waiters with scattered timeouts on
/// one `Event` spent 53 % of their time in `memmove`, 7.6 s for 1.1 s of waiting.)
///
/// Every node in the list, and every field of every node, is touched only under the lock that
/// guards the list. A node leaves the list in one of two ways, both under that lock: a
/// releaser unlinks it and moves its [`Waiter`] out ([`pop`](WaitList::pop) and the like), or
/// its owner takes it out ([`unlink`](WaitList::unlink)) before the node's memory goes.
pub(crate) struct WaitList<P = ()> {
    head: Option<NonNull<Node<P>>>,
    tail: Option<NonNull<Node<P>>>,
    len: usize,
    next_ticket: u64,
    /// What its waiters wait on, for dumps: "Mutex::lock", "channel recv", ...
    what: &'static &'static str,
}

// SAFETY: the list owns no node; it points at nodes whose owners keep them alive while linked,
// and it reads or writes them only through `&mut self`, that is under the lock that guards the
// list (see the type's docs). What moves between threads through it is the `Waiter<P>`s, which
// are Send when `P` is (an `Unparker` is Send).
unsafe impl<P: Send> Send for WaitList<P> {}

/// One parked waiter.
pub(crate) struct Waiter<P> {
    ticket: u64,
    pub(crate) unparker: Unparker,
    pub(crate) payload: P,
}

impl<P> Waiter<P> {
    /// The waiter's ticket (see [`WaitList::remove`]).
    pub(crate) fn ticket(&self) -> u64 {
        self.ticket
    }
}

/// A waiter's place in a [`WaitList`].
///
/// Its owner keeps it where it is while it is linked (it is `!Unpin`, and reached only through
/// the pointer given to [`push`](WaitList::push)). While linked it holds the [`Waiter`]; the
/// one who unlinks it moves the waiter out, so an unlinked node holds nothing to drop. Its
/// fields sit in a cell that loom checks, so the models see every access from every thread.
pub(crate) struct Node<P> {
    links: UnsafeCell<Links<P>>,
    _pinned: PhantomPinned,
}

struct Links<P> {
    prev: Option<NonNull<Node<P>>>,
    next: Option<NonNull<Node<P>>>,
    linked: bool,
    waiter: MaybeUninit<Waiter<P>>,
}

impl<P> Node<P> {
    /// A node in no list.
    pub(crate) fn new() -> Node<P> {
        Node {
            links: UnsafeCell::new(Links {
                prev: None,
                next: None,
                linked: false,
                waiter: MaybeUninit::uninit(),
            }),
            _pinned: PhantomPinned,
        }
    }

    /// The node's fields.
    ///
    /// # Safety
    /// `node` is valid, and the caller holds the lock of the list it is in (or it is in none
    /// and the caller owns it); the reference is dropped before either ends.
    unsafe fn links<'n>(node: NonNull<Node<P>>) -> &'n mut Links<P> {
        // SAFETY: the caller's contract: valid, and accessed by one thread at a time.
        unsafe { &mut *(*node.as_ptr()).links.with_mut(|p| p) }
    }

    /// Whether the node is in a list.
    ///
    /// # Safety
    /// As for [`links`](Node::links).
    pub(crate) unsafe fn is_linked(node: NonNull<Node<P>>) -> bool {
        // SAFETY: the caller's contract.
        unsafe { Node::links(node) }.linked
    }
}

/// A [`Node`] on the heap, for a registration that outlives the frame that made it (a
/// select's, a wait on several objects): one word, `Send`, moved freely while the node stays.
///
/// It is freed only by [`WaitList::unlink_boxed`] (after unlinking it under the list's lock) or
/// [`free_unlinked`](BoxedNode::free_unlinked); dropped any other way, it leaks.
pub(crate) struct BoxedNode<P>(NonNull<Node<P>>);

// SAFETY: the handle is an owning pointer to a heap node; the node's fields are touched only
// under the lock of the list it is in (or by the owner once it is in none), and what it holds
// is a `Waiter<P>`, Send when `P` is.
unsafe impl<P: Send> Send for BoxedNode<P> {}

impl<P> BoxedNode<P> {
    pub(crate) fn new() -> BoxedNode<P> {
        BoxedNode(NonNull::from(Box::leak(Box::new(Node::new()))))
    }

    /// The node, for [`WaitList::push`].
    pub(crate) fn node(&self) -> NonNull<Node<P>> {
        self.0
    }

    /// Frees the node of a registration that was never pushed, or that is known to be out of
    /// its list.
    ///
    /// # Safety
    /// The node is in no list, and whoever unlinked it is done with it: it unlinked it before
    /// an operation this thread has synchronised with (the lock, or a SeqCst flag stored
    /// after the unlinking).
    pub(crate) unsafe fn free_unlinked(self) {
        // SAFETY: made by `Box::leak` in `new`; by the contract nothing points at it any more
        // (unlinked nodes hold no waiter: nothing to drop but the box).
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }

    /// The handle as an untyped pointer, for a holder that does not know `P` (a select's
    /// registration); [`from_erased`](BoxedNode::from_erased) takes it back.
    pub(crate) fn into_erased(self) -> NonNull<u8> {
        self.0.cast()
    }

    /// # Safety
    /// `ptr` came from [`into_erased`](BoxedNode::into_erased) of a `BoxedNode<P>` with this
    /// very `P`, and is taken back once.
    pub(crate) unsafe fn from_erased(ptr: NonNull<u8>) -> BoxedNode<P> {
        BoxedNode(ptr.cast())
    }
}

impl<P> WaitList<P> {
    /// A list whose waiters show in [`dump`](crate::dump) as waiting on `what` (a short
    /// static label: "Mutex::lock", "channel recv").
    pub(crate) const fn waiting_on(what: &'static &'static str) -> WaitList<P> {
        WaitList {
            head: None,
            tail: None,
            len: 0,
            next_ticket: 0,
            what,
        }
    }

    /// What the waiters of this list wait on.
    pub(crate) fn what(&self) -> &'static &'static str {
        self.what
    }

    /// Links `node` at the back, holding a waiter made of `unparker` and `payload`; returns its
    /// ticket.
    ///
    /// # Safety
    /// `node` is valid, in no list, and stays where it is, used by nobody else, until it has
    /// left this list: popped by a releaser, or taken out with [`unlink`](WaitList::unlink)
    /// (or [`unlink_boxed`](WaitList::unlink_boxed)) under the list's lock. Its owner must do
    /// that before the node's memory goes, unless a releaser popped it first.
    pub(crate) unsafe fn push(
        &mut self,
        node: NonNull<Node<P>>,
        unparker: Unparker,
        payload: P,
    ) -> u64 {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        // SAFETY: the caller's contract: the node is valid and ours to link.
        let n = unsafe { Node::links(node) };
        debug_assert!(!n.linked, "a node is pushed into one list at a time");
        n.waiter.write(Waiter {
            ticket,
            unparker,
            payload,
        });
        n.linked = true;
        n.prev = self.tail;
        n.next = None;
        match self.tail {
            // SAFETY: a linked node (the tail) is valid while linked (`push`'s contract).
            Some(tail) => unsafe { Node::links(tail) }.next = Some(node),
            None => self.head = Some(node),
        }
        self.tail = Some(node);
        self.len += 1;
        ticket
    }

    /// Takes `node` out and moves its waiter out of it.
    ///
    /// # Safety
    /// `node` is linked in this list.
    unsafe fn take(&mut self, node: NonNull<Node<P>>) -> Waiter<P> {
        // SAFETY: a linked node is valid (`push`'s contract), and its neighbours too; each
        // reference to a node's fields ends before the next node's is made.
        unsafe {
            let n = Node::links(node);
            let (prev, next) = (n.prev.take(), n.next.take());
            n.linked = false;
            // Written by `push`, and read once: the node is unlinked now.
            let waiter = n.waiter.assume_init_read();
            match prev {
                Some(prev) => Node::links(prev).next = next,
                None => self.head = next,
            }
            match next {
                Some(next) => Node::links(next).prev = prev,
                None => self.tail = prev,
            }
            self.len -= 1;
            waiter
        }
    }

    /// Takes `node` out if it is still linked (no releaser popped it), with its waiter.
    ///
    /// # Safety
    /// `node` is valid, and if it is linked, it is linked in this list.
    pub(crate) unsafe fn unlink(&mut self, node: NonNull<Node<P>>) -> Option<Waiter<P>> {
        // SAFETY: the caller's contract.
        if unsafe { Node::is_linked(node) } {
            // SAFETY: linked, in this list.
            Some(unsafe { self.take(node) })
        } else {
            None
        }
    }

    /// [`unlink`](WaitList::unlink) for a boxed node, which is freed.
    ///
    /// # Safety
    /// If the node is linked, it is linked in this list.
    pub(crate) unsafe fn unlink_boxed(&mut self, node: BoxedNode<P>) -> Option<Waiter<P>> {
        // SAFETY: a boxed node is valid until freed; the caller's contract for the list.
        let waiter = unsafe { self.unlink(node.node()) };
        // SAFETY: out of the list now, and whoever unlinked it did so under the lock we hold.
        unsafe { node.free_unlinked() };
        waiter
    }

    /// The linked nodes, front to back (read under the lock, through `&self` or `&mut self`).
    fn nodes(&self) -> impl Iterator<Item = NonNull<Node<P>>> + '_ {
        // SAFETY: linked nodes are valid (`push`'s contract).
        std::iter::successors(self.head, |&n| unsafe { Node::links(n) }.next)
    }

    /// The waiter a linked node holds.
    ///
    /// # Safety
    /// `node` is linked in this list, and the reference does not outlive the borrow of the
    /// list (the node stays linked, and its owner away, while the list is borrowed).
    unsafe fn waiter(&self, node: NonNull<Node<P>>) -> &Waiter<P> {
        // SAFETY: linked nodes hold their waiter (written by `push`).
        unsafe { Node::links(node).waiter.assume_init_ref() }
    }

    /// Takes the first waiter out.
    pub(crate) fn pop(&mut self) -> Option<Waiter<P>> {
        let head = self.head?;
        // SAFETY: the head is linked in this list.
        Some(unsafe { self.take(head) })
    }

    /// Takes the waiter with `ticket` out, if it is still queued. A walk of the list: for rare
    /// paths (a cancelled reservation); a waiter's own exit uses [`unlink`](WaitList::unlink).
    pub(crate) fn remove(&mut self, ticket: u64) -> Option<Waiter<P>> {
        self.pop_where(|w| w.ticket == ticket)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Claims the first waiter that is still parked (each one popped on the way): its park has
    /// ended, and it runs again when the returned [`Wakeup`] is dropped, which the caller does
    /// after unlocking (the wake may queue a greenlet on another worker or make a syscall).
    /// `None` if no waiter was still parked.
    pub(crate) fn wake_one(&mut self) -> Option<Wakeup> {
        while let Some(w) = self.pop() {
            if let Some(wakeup) = w.unparker.claim() {
                return Some(wakeup);
            }
        }
        None
    }

    /// Takes out the first waiter that satisfies `pred`.
    pub(crate) fn pop_where(&mut self, pred: impl Fn(&Waiter<P>) -> bool) -> Option<Waiter<P>> {
        // SAFETY: the nodes walked are linked in this list, borrowed with it.
        let node = self.nodes().find(|&n| pred(unsafe { self.waiter(n) }))?;
        // SAFETY: found linked in this list just above.
        Some(unsafe { self.take(node) })
    }

    /// The first waiter that satisfies `pred`, left in place.
    pub(crate) fn find_mut(&mut self, pred: impl Fn(&Waiter<P>) -> bool) -> Option<&mut Waiter<P>> {
        // SAFETY: as in `pop_where`.
        let node = self.nodes().find(|&n| pred(unsafe { self.waiter(n) }))?;
        // SAFETY: linked in this list, which `&mut self` borrows for as long as the result
        // lives: no other reference to the node's waiter exists meanwhile.
        Some(unsafe { Node::links(node).waiter.assume_init_mut() })
    }

    /// Whether some queued waiter satisfies `pred`.
    pub(crate) fn any(&self, pred: impl Fn(&Waiter<P>) -> bool) -> bool {
        // SAFETY: as in `pop_where`.
        self.nodes().any(|n| pred(unsafe { self.waiter(n) }))
    }

    /// Claims every waiter still parked; they run again when the returned wake-ups are
    /// dropped, after the caller unlocks (see [`wake_one`](WaitList::wake_one)).
    pub(crate) fn wake_all(&mut self) -> Wakeups {
        let mut wakeups = Vec::with_capacity(self.len);
        while let Some(w) = self.pop() {
            wakeups.extend(w.unparker.claim());
        }
        Wakeups(wakeups)
    }
}

/// Locks a `std::sync::Mutex` that guards runtime bookkeeping (a pool's members, the blocking
/// thread pool, the stack pool), where a holder may block or allocate for longer than a spin
/// lock should wait. No user code runs under these locks, so poisoning carries no meaning and
/// is ignored. (`crate::loom::lock` is the same for the mutexes the loom models replace.)
pub(crate) fn lock<S>(m: &Mutex<S>) -> MutexGuard<'_, S> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Registers the caller in the wait list `list(state)` with `payload`, releases `guard`, and
/// parks until unparked or `deadline`.
///
/// `Wake::Unparked` means a releaser popped the entry and handed over what it promised. On
/// `Wake::TimedOut`, and on an unwind (kill, `with_timeout`), the entry is taken out of the list
/// again under the lock before this returns: nothing was handed over.
///
/// The park is recorded as waiting on the list's label, at the caller's location (every
/// function from the crate's public blocking call down to here is `#[track_caller]`).
#[track_caller]
pub(crate) fn park_in<'a, S, P>(
    mutex: &'a SpinLock<S>,
    guard: SpinGuard<'a, S>,
    list: fn(&mut S) -> &mut WaitList<P>,
    payload: P,
    deadline: Option<Instant>,
) -> Wake {
    park_in_then(mutex, guard, list, payload, deadline, || ())
}

/// [`park_in`] that runs `registered` after the waiter is in the list and the lock is released,
/// just before parking (a condition variable releases the user's mutex there).
#[track_caller]
pub(crate) fn park_in_then<'a, S, P>(
    mutex: &'a SpinLock<S>,
    mut guard: SpinGuard<'a, S>,
    list: fn(&mut S) -> &mut WaitList<P>,
    payload: P,
    deadline: Option<Instant>,
    registered: impl FnOnce(),
) -> Wake {
    let parker = prepare_for(list(&mut guard).what());
    // The waiter's place in the list: in this frame, which stays until the entry below has
    // taken it out (or a releaser popped it).
    let mut node = Node::new();
    let node = NonNull::from(&mut node);
    let mut entry = ListEntry {
        mutex,
        list,
        node,
        armed: true,
    };
    // SAFETY: the contract of `unparker_in_lock` holds for every wait list: the list lives
    // inside `mutex`'s state, so its entries are popped and fired (or dropped) only under that
    // lock, and `entry` takes the entry out under the same lock however the wait ends, except
    // when this unparker ended it (`Wake::Unparked`: the firer popped it). The same guard keeps
    // `push`'s contract: the node is this frame's, reached only through `node` from here on,
    // and `entry` unlinks it before the frame ends (on an unwind too).
    unsafe { list(&mut guard).push(node, parker.unparker_in_lock(), payload) };
    drop(guard);
    registered();
    let wake = parker.park(deadline);
    if wake == Wake::Unparked {
        // The releaser popped the entry before unparking: it is out of the list, and the
        // releaser was done with it before the unpark that this park has seen.
        entry.armed = false;
    }
    wake
}

/// Takes a waiter out of its list if it is still there, however the wait ends.
struct ListEntry<'a, S, P> {
    mutex: &'a SpinLock<S>,
    list: fn(&mut S) -> &mut WaitList<P>,
    node: NonNull<Node<P>>,
    armed: bool,
}

impl<S, P> Drop for ListEntry<'_, S, P> {
    fn drop(&mut self) {
        if self.armed {
            let mut state = self.mutex.lock();
            // SAFETY: the node lives in `park_in_then`'s frame, below this guard's; it was
            // pushed into this very list (if pushed at all: an unwind between the guard and the
            // push finds it unlinked).
            // The waiter (a borrowed unparker and a payload, neither with user code to run) is
            // dropped under the lock, as `unparker_in_lock` asks.
            drop(unsafe { (self.list)(&mut state).unlink(self.node) });
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::ptr::NonNull;

    use super::{BoxedNode, Node, WaitList};
    use crate::park::prepare_for;

    /// Links nodes in the frame and on the heap, takes some out from the middle, the ends and
    /// by predicate, and checks what stays, in order, after each step.
    #[test]
    fn nodes_leave_from_anywhere_and_the_rest_keep_their_order() {
        let parker = prepare_for(&"test");
        let mut list: WaitList<u32> = WaitList::waiting_on(&"test");
        let mut frame: Vec<Node<u32>> = (0..5).map(|_| Node::new()).collect();
        let frame: Vec<NonNull<Node<u32>>> = frame.iter_mut().map(NonNull::from).collect();
        let boxed: Vec<BoxedNode<u32>> = (0..3).map(|_| BoxedNode::new()).collect();
        let order = |list: &WaitList<u32>| {
            // SAFETY: the test keeps every linked node alive until it is out of the list.
            list.nodes()
                .map(|n| unsafe { list.waiter(n) }.payload)
                .collect::<Vec<_>>()
        };
        for (i, &n) in frame.iter().enumerate() {
            // SAFETY: the nodes stay in `frame`'s buffer, unmoved, until the end of the test,
            // and are all out of the list by then.
            unsafe { list.push(n, parker.unparker(), i as u32) };
        }
        for (i, n) in boxed.iter().enumerate() {
            // SAFETY: boxed nodes stay put; each is unlinked or freed below.
            unsafe { list.push(n.node(), parker.unparker(), 10 + i as u32) };
        }
        assert_eq!(order(&list), [0, 1, 2, 3, 4, 10, 11, 12]);
        assert_eq!(list.len(), 8);

        // SAFETY: each node was pushed into `list`.
        unsafe {
            assert_eq!(list.unlink(frame[2]).map(|w| w.payload), Some(2));
            assert!(
                list.unlink(frame[2]).is_none(),
                "a second unlink finds it out"
            );
            assert_eq!(list.unlink(frame[0]).map(|w| w.payload), Some(0));
        }
        assert_eq!(order(&list), [1, 3, 4, 10, 11, 12]);
        let mut boxed = boxed.into_iter();
        let (b10, b11, b12) = (
            boxed.next().unwrap(),
            boxed.next().unwrap(),
            boxed.next().unwrap(),
        );
        // SAFETY: pushed into `list`.
        let w12 = unsafe { list.unlink_boxed(b12) };
        assert_eq!(w12.map(|w| w.payload), Some(12));
        assert_eq!(order(&list), [1, 3, 4, 10, 11]);

        assert_eq!(
            list.pop_where(|w| w.payload == 10).map(|w| w.payload),
            Some(10)
        );
        assert_eq!(list.remove(4).map(|w| w.payload), Some(4), "by ticket");
        list.find_mut(|w| w.payload == 11).unwrap().payload = 111;
        assert!(list.any(|w| w.payload == 111));
        assert_eq!(order(&list), [1, 3, 111]);
        assert_eq!(list.pop().map(|w| w.payload), Some(1));
        assert_eq!(list.len(), 2);
        // Popped already: unlinking it again finds nothing, and frees the box.
        // SAFETY: pushed into `list` (and out of it by now).
        assert!(unsafe { list.unlink_boxed(b10) }.is_none());
        // The last two: the first claim of this one park wins, the other finds it ended.
        let wakeups = list.wake_all();
        assert_eq!(wakeups.len(), 1);
        assert!(list.is_empty());
        assert_eq!(list.len(), 0);
        // SAFETY: out of the list (woken).
        assert!(unsafe { list.unlink_boxed(b11) }.is_none());
        // The claimed park ends now, as woken (no park follows: the test also runs under Miri,
        // which runs no runtime).
        drop(wakeups);
    }
}
