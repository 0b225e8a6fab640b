//! [`block_on`]: runs a future to its end from blocking-style code, parking only the caller.
//!
//! # The protocol
//!
//! The waker is an `Arc<Signal>` (`std::task::Wake`, so no hand-made vtable): a `notified` flag
//! and a slot for the [`Unparker`] of the caller's current park. The caller clears `notified`,
//! polls, and if the future is pending, registers an unparker in the slot and then re-reads
//! `notified` before it parks. A wake sets `notified`, then takes the unparker out of the slot
//! (under the slot's spin lock) and fires it after unlocking. Either the wake takes the
//! registered unparker, or it set the flag before the caller's registration and the caller's
//! re-read sees it (the lock orders the two): no wake-up is lost, whichever thread wakes, and
//! however often or early (before the poll returned, while parked, after `block_on` returned:
//! then it finds an empty slot). Unparkers are one-shot and stamped with their park, so a stale
//! one fired late wakes nothing.
//!
//! A future that wakes itself during its poll (a cooperative yield) is polled again after a
//! [`yield_now`](crate::yield_now), so that it lets the other greenlets of its worker run and a
//! kill or a timeout can land. A kill or an expired `with_timeout` unwinds out of the park;
//! the future is then dropped in the caller's context, like any local.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use crate::park::{self, SpinLock, Unparker};

/// Runs a future to completion and returns its output: inside a greenlet it parks only that
/// greenlet whenever the future is pending (the worker runs others meanwhile); on a plain
/// thread it blocks the thread.
///
/// The future is polled in the caller, with a [`Waker`] that unparks the caller; it may be
/// woken from any thread, any number of times. [`Greenlet::kill`](crate::Greenlet::kill) and
/// [`with_timeout`](crate::with_timeout) interrupt the wait (the future is dropped on the way
/// out).
///
/// ```
/// use std::future::Future;
/// use std::pin::Pin;
/// use std::sync::{Arc, Mutex};
/// use std::task::{Context, Poll, Waker};
///
/// /// Ready once another thread has filled it in.
/// #[derive(Default)]
/// struct Slot(Mutex<(Option<u32>, Option<Waker>)>);
/// struct Fill(Arc<Slot>);
/// impl Future for Fill {
///     type Output = u32;
///     fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
///         let mut s = self.0 .0.lock().unwrap();
///         match s.0 {
///             Some(v) => Poll::Ready(v),
///             None => {
///                 s.1 = Some(cx.waker().clone());
///                 Poll::Pending
///             }
///         }
///     }
/// }
///
/// let slot = Arc::new(Slot::default());
/// let s = slot.clone();
/// std::thread::spawn(move || {
///     let waker = {
///         let mut g = s.0.lock().unwrap();
///         g.0 = Some(42);
///         g.1.take()
///     };
///     if let Some(w) = waker {
///         w.wake();
///     }
/// });
/// let g = greenlet::spawn(move || greenlet::block_on(Fill(slot)));
/// assert_eq!(g.join().unwrap(), 42);
/// // Async blocks work too.
/// assert_eq!(greenlet::block_on(async { 1 + 1 }), 2);
/// ```
///
/// # Futures of other runtimes
///
/// A future that only needs its waker called (channels such as `async-channel` or
/// `futures::channel`, combinators, timers that run on a thread of their own, `async-io`'s
/// sockets, whose reactor has a thread of its own) runs here as it is. A future that needs a
/// runtime's reactor or context to be *polled* (tokio's sockets, timers and `spawn`, which
/// panic outside a tokio runtime) must run on that runtime: spawn it there and `block_on` the
/// join handle, which is an ordinary future woken from the runtime's threads:
///
/// ```ignore
/// let rt = tokio::runtime::Runtime::new()?;        // or a Handle to one running elsewhere
/// let handle = rt.spawn(async { tokio::net::TcpStream::connect(addr).await });
/// let stream = greenlet::block_on(handle)??;       // parks only this greenlet
/// ```
#[track_caller]
pub fn block_on<F: Future>(future: F) -> F::Output {
    let signal = Arc::new(Signal {
        notified: AtomicBool::new(false),
        parked: SpinLock::new(None),
    });
    let waker = Waker::from(signal.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        // Cleared before the poll: a wake from here on is either seen by this poll or leaves
        // the flag set for the wait below.
        signal.notified.store(false, SeqCst);
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        signal.wait();
    }
}

/// The state behind the waker.
struct Signal {
    /// Woken since the last poll began.
    notified: AtomicBool,
    /// The unparker of the park in progress, if any.
    parked: SpinLock<Option<Unparker>>,
}

impl Signal {
    /// Returns once woken (or at once if a wake came during the poll).
    #[track_caller]
    fn wait(&self) {
        if self.notified.load(SeqCst) {
            // The future woke itself: give the others a turn (and a kill or timeout its
            // chance), then poll again.
            crate::yield_now();
            return;
        }
        let parker = park::prepare_for(&"block_on");
        let unparker = parker.unparker();
        let stale = self.parked.lock().replace(unparker);
        let _clear = ClearOnDrop(self);
        drop(stale);
        // Re-read after registering: a wake that came before the registration set the flag.
        if self.notified.load(SeqCst) {
            return; // the parker retires unused
        }
        parker.park(None);
    }
}

/// Takes the unparker out of the slot when the wait ends, however it ends (a kill or a
/// timeout unwinds through here).
struct ClearOnDrop<'a>(&'a Signal);

impl Drop for ClearOnDrop<'_> {
    fn drop(&mut self) {
        let unparker = self.0.parked.lock().take();
        drop(unparker);
    }
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Already set: that wake (or the caller's own re-read) takes care of the park.
        if self.notified.swap(true, SeqCst) {
            return;
        }
        let unparker = self.parked.lock().take();
        if let Some(unparker) = unparker {
            unparker.unpark();
        }
    }
}
