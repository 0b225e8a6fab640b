//! [`Barrier`]: wait until `n` greenlets have arrived.

use std::fmt;
use std::time::{Duration, Instant};

use crate::park::{park_in, SpinLock, WaitList, Wake};

/// A rendezvous of `n` parties, like `std::sync::Barrier` and `threading.Barrier`.
///
/// The `n`-th call to [`wait`](Barrier::wait) releases all `n` (exactly one of them is the
/// leader), and the barrier is ready for the next round. A waiter that is killed or times out
/// leaves its round, which then still needs `n` arrivals.
///
/// ```
/// use std::sync::Arc;
/// let barrier = Arc::new(greenlet::sync::Barrier::new(5));
/// let parties: Vec<_> = (0..5)
///     .map(|_| {
///         let b = barrier.clone();
///         greenlet::spawn(move || b.wait().is_leader())
///     })
///     .collect();
/// let leaders = greenlet::joinall(parties).into_iter().filter(|r| *r.as_ref().unwrap()).count();
/// assert_eq!(leaders, 1);
/// ```
pub struct Barrier {
    n: usize,
    state: SpinLock<State>,
}

struct State {
    arrived: usize,
    generation: u64,
    waiters: WaitList,
}

fn waiters(s: &mut State) -> &mut WaitList {
    &mut s.waiters
}

/// What [`Barrier::wait`] returns.
///
/// ```
/// use std::sync::Arc;
/// let barrier = Arc::new(greenlet::sync::Barrier::new(3));
/// let parties: Vec<_> = (0..3)
///     .map(|_| {
///         let b = barrier.clone();
///         greenlet::spawn(move || b.wait().is_leader())
///     })
///     .collect();
/// let leaders = greenlet::joinall(parties).into_iter().filter(|r| *r.as_ref().unwrap()).count();
/// assert_eq!(leaders, 1); // exactly one per generation
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult(bool);

impl BarrierWaitResult {
    /// True for exactly one party of each round: the one whose arrival released it.
    ///
    /// ```
    /// let barrier = greenlet::sync::Barrier::new(1);
    /// assert!(barrier.wait().is_leader()); // a party of one leads every generation
    /// ```
    pub fn is_leader(&self) -> bool {
        self.0
    }
}

impl Barrier {
    /// A barrier for `n` parties (`0` behaves like `1`, as in std).
    ///
    /// ```
    /// let barrier = greenlet::sync::Barrier::new(2);
    /// # let _ = barrier;
    /// ```
    pub fn new(n: usize) -> Barrier {
        Barrier {
            n: n.max(1),
            state: SpinLock::new(State {
                arrived: 0,
                generation: 0,
                waiters: WaitList::waiting_on(&"Barrier::wait"),
            }),
        }
    }

    /// Waits until `n` parties have called `wait` in this round.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let barrier = Arc::new(greenlet::sync::Barrier::new(2));
    /// let b = barrier.clone();
    /// let other = greenlet::spawn(move || b.wait());
    /// barrier.wait(); // returns when both have arrived
    /// other.join().unwrap();
    /// ```
    #[track_caller]
    pub fn wait(&self) -> BarrierWaitResult {
        crate::deadline::untimed(self.wait_until(None))
    }

    /// Like [`wait`](Barrier::wait) for at most `timeout`; `None` if the round did not fill in
    /// time (this party then leaves the round).
    ///
    /// ```
    /// use std::time::Duration;
    /// let barrier = greenlet::sync::Barrier::new(2);
    /// // Nobody else comes: give up after 5 ms.
    /// assert!(barrier.wait_timeout(Duration::from_millis(5)).is_none());
    /// ```
    #[track_caller]
    pub fn wait_timeout(&self, timeout: Duration) -> Option<BarrierWaitResult> {
        self.wait_until(crate::deadline::after(timeout))
    }

    #[track_caller]
    fn wait_until(&self, deadline: Option<Instant>) -> Option<BarrierWaitResult> {
        let mut s = self.state.lock();
        s.arrived += 1;
        if s.arrived >= self.n {
            s.arrived = 0;
            s.generation += 1;
            let round = s.waiters.wake_all();
            drop(s);
            drop(round); // the round's other parties run again, after the lock
            return Some(BarrierWaitResult(true));
        }
        let mut leave = Leave {
            barrier: self,
            generation: s.generation,
            armed: true,
        };
        let wake = park_in(&self.state, s, waiters, (), deadline);
        if wake == Wake::Unparked {
            leave.armed = false;
            return Some(BarrierWaitResult(false));
        }
        None
    }
}

/// Takes a party that stops waiting (timeout, kill) out of its round's count.
struct Leave<'a> {
    barrier: &'a Barrier,
    generation: u64,
    armed: bool,
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        if self.armed {
            let mut s = self.barrier.state.lock();
            if s.generation == self.generation {
                s.arrived -= 1;
            }
        }
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier").field("n", &self.n).finish()
    }
}
