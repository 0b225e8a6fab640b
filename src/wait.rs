//! Waiting on several things at once: [`wait_any`] and [`iwait`] over [`Waitable`]s (greenlets,
//! events, async results), like `gevent.wait(objects, count=1)` and `gevent.iwait`.
//!
//! # The protocol
//!
//! Every waitable has a condition (finished; set, or set since the wait began) and a
//! [`WaitQueue`] that is notified, with `notify_all`, after the condition becomes true. A multi-waiter checks every condition;
//! if none holds it begins one park and registers an unparker for it on *every* object's queue
//! (each registration ends with a SeqCst fence), checks again, and parks. Whichever object
//! notifies first ends the park; the other unparkers then fail their CAS and are harmless. On
//! the way out, however the park ended (woken, timed out, killed, an expiring `with_timeout`), the
//! registrations are dropped, which withdraws them from the other queues.
//!
//! No wake-up is lost: a notifier changes the condition and then looks for waiters, the waiter
//! registers and then re-checks the condition (SeqCst on both sides), so one sees the other. And
//! none is stolen: these queues wake *everyone* (`notify_all`), so a wake-up this waiter consumes
//! was not owed to anybody else; it is acted on by re-checking every condition.

use std::time::{Duration, Instant};

use crate::park::{self, WaitQueue, Wake};

/// Something [`wait_any`] and [`iwait`] can wait for: a [`Greenlet`](crate::Greenlet) (ready
/// when finished), a [`sync::Event`](crate::sync::Event) (ready when set) or a
/// [`sync::AsyncResult`](crate::sync::AsyncResult) (ready once set).
///
/// An event counts as ready if it was set at any moment since the wait began (since
/// [`iwait`] was called, for that iterator), even if cleared again before the waiter ran, as
/// [`Event::wait`](crate::sync::Event::wait) does.
///
/// Sealed: the crate implements it for these types only.
///
/// ```
/// use greenlet::{sync::Event, Waitable};
/// let e = Event::new();
/// let g = greenlet::spawn(|| 1);
/// let objects: [&dyn Waitable; 2] = [&e, &g];
/// assert_eq!(greenlet::wait_any(&objects), 1); // the greenlet finishes; the event stays clear
/// ```
pub trait Waitable: sealed::Sealed {}

impl<W: sealed::Sealed + ?Sized> Waitable for W {}

pub(crate) mod sealed {
    /// The hooks of a [`Waitable`](super::Waitable).
    pub trait Sealed {
        /// A snapshot of the state, taken when a wait begins (see `ready_since`).
        fn mark(&self) -> u64 {
            0
        }
        /// Whether the condition holds now, or held at some moment after `mark` was taken.
        fn ready_since(&self, mark: u64) -> bool;
        /// The queue notified (with `notify_all`) after the condition becomes true.
        fn waiters(&self) -> Waiters<'_>;
    }

    /// A waitable's wait queue, opaque outside the crate.
    pub struct Waiters<'a>(pub(crate) &'a crate::park::WaitQueue);

    impl std::fmt::Debug for Waiters<'_> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Waiters").finish_non_exhaustive()
        }
    }
}

pub(crate) use sealed::{Sealed, Waiters};

/// Waits until one of `objects` is ready and returns its index (the lowest, if several are).
/// Returns at once if one is ready already. Like `gevent.wait(objects, count=1)`.
///
/// Works inside a greenlet (parks it) and on a plain thread (blocks it); a kill or an expiring
/// [`with_timeout`](crate::with_timeout) interrupts it like any blocking call.
///
/// # Panics
/// If `objects` is empty: nothing could ever be ready, so the call would wait for ever.
/// (gevent's `wait([])` returns an empty list; an index cannot say "none".)
///
/// ```
/// use std::time::Duration;
/// let slow = greenlet::spawn(|| greenlet::sleep(Duration::from_secs(60)));
/// let fast = greenlet::spawn(|| greenlet::sleep(Duration::from_millis(5)));
/// assert_eq!(greenlet::wait_any(&[&slow, &fast]), 1);
/// slow.kill();
/// ```
#[track_caller]
pub fn wait_any(objects: &[&dyn Waitable]) -> usize {
    assert!(
        !objects.is_empty(),
        "wait_any: no objects to wait for (an empty slice would wait for ever)"
    );
    let marks = marks(objects);
    crate::deadline::untimed(wait_first(objects, &marks, &|_| true, None))
}

/// [`wait_any`] for at most `timeout`: `None` if nothing was ready by then. An empty slice
/// returns `None` after `timeout` (gevent's `wait([], timeout)`).
///
/// ```
/// use std::time::Duration;
/// let e = greenlet::sync::Event::new();
/// assert_eq!(greenlet::wait_any_timeout(&[&e], Duration::from_millis(5)), None);
/// e.set();
/// assert_eq!(greenlet::wait_any_timeout(&[&e], Duration::from_millis(5)), Some(0));
/// ```
#[track_caller]
pub fn wait_any_timeout(objects: &[&dyn Waitable], timeout: Duration) -> Option<usize> {
    let marks = marks(objects);
    wait_first(objects, &marks, &|_| true, crate::deadline::after(timeout))
}

/// The indices of `objects` in the order they become ready, each once; the iterator ends when
/// all have been yielded. Objects ready already come first, in slice order. Like `gevent.iwait`.
/// An empty slice yields nothing.
///
/// Each `next` waits like [`wait_any`] (parks a greenlet, blocks a plain thread, is interrupted
/// by a kill or an expiring [`with_timeout`](crate::with_timeout)).
///
/// ```
/// use std::time::Duration;
/// let jobs: Vec<_> = [30, 10, 20]
///     .into_iter()
///     .map(|ms| greenlet::spawn(move || greenlet::sleep(Duration::from_millis(ms))))
///     .collect();
/// let objects: Vec<&dyn greenlet::Waitable> = jobs.iter().map(|g| g as _).collect();
/// let order: Vec<usize> = greenlet::iwait(&objects).collect();
/// assert_eq!(order.len(), 3); // most likely [1, 2, 0]: as they finish
/// ```
pub fn iwait<'a>(objects: &'a [&'a dyn Waitable]) -> impl Iterator<Item = usize> + 'a {
    IWait {
        objects,
        marks: marks(objects),
        yielded: vec![false; objects.len()],
        left: objects.len(),
    }
}

/// The iterator behind [`iwait`].
struct IWait<'a> {
    objects: &'a [&'a dyn Waitable],
    /// Each object's state when `iwait` was called.
    marks: Vec<u64>,
    yielded: Vec<bool>,
    left: usize,
}

impl Iterator for IWait<'_> {
    type Item = usize;

    #[track_caller]
    fn next(&mut self) -> Option<usize> {
        if self.left == 0 {
            return None;
        }
        let yielded = &self.yielded;
        let i = wait_first(self.objects, &self.marks, &|i| !yielded[i], None)?;
        self.yielded[i] = true;
        self.left -= 1;
        Some(i)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

/// Each object's state as a wait begins.
fn marks(objects: &[&dyn Waitable]) -> Vec<u64> {
    objects.iter().map(|o| o.mark()).collect()
}

/// The lowest index of a ready object among those `wanted`.
fn first_ready(
    objects: &[&dyn Waitable],
    marks: &[u64],
    wanted: &dyn Fn(usize) -> bool,
) -> Option<usize> {
    (0..objects.len()).find(|&i| wanted(i) && objects[i].ready_since(marks[i]))
}

/// Waits until an object among those `wanted` is ready, or `deadline` passes (`None`).
#[track_caller]
fn wait_first(
    objects: &[&dyn Waitable],
    marks: &[u64],
    wanted: &dyn Fn(usize) -> bool,
    deadline: Option<Instant>,
) -> Option<usize> {
    loop {
        if let Some(i) = first_ready(objects, marks, wanted) {
            return Some(i);
        }
        let parker = park::prepare_for(&"wait_any");
        // Registered on every queue (withdrawn from all when dropped, unwinds included).
        let registrations: Vec<_> = (0..objects.len())
            .filter(|&i| wanted(i))
            .map(|i| objects[i].waiters().0.register(parker.unparker()))
            .collect();
        if let Some(i) = first_ready(objects, marks, wanted) {
            return Some(i); // the parker, dropped unused, is retired
        }
        let wake = parker.park(deadline);
        drop(registrations);
        if wake == Wake::TimedOut {
            return first_ready(objects, marks, wanted);
        }
    }
}

/// A queue's hook for the implementations in `greenlet`, `sync::event` and `sync::async_result`.
pub(crate) fn waiters(queue: &WaitQueue) -> Waiters<'_> {
    Waiters(queue)
}
