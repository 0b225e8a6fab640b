//! greenlet::block_on: futures polled from greenlets and plain threads, woken from anywhere.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use greenlet::{block_on, sleep, spawn, with_timeout, GreenletId, Timeout};

/// A counter with a waiting future: `reached(n)` is ready once `bump` was called `n` times.
#[derive(Default)]
struct Gate {
    state: Mutex<(u64, Option<Waker>)>,
}

impl Gate {
    fn bump(&self) {
        let waker = {
            let mut s = self.state.lock().unwrap();
            s.0 += 1;
            s.1.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn reached(self: &Arc<Self>, n: u64) -> Reached {
        Reached {
            gate: self.clone(),
            n,
        }
    }
}

struct Reached {
    gate: Arc<Gate>,
    n: u64,
}

impl Future for Reached {
    type Output = u64;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u64> {
        let mut s = self.gate.state.lock().unwrap();
        if s.0 >= self.n {
            Poll::Ready(s.0)
        } else {
            s.1 = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

/// A future that never completes and records its drop.
struct Forever(Arc<AtomicBool>, Option<Waker>);

impl Future for Forever {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.1 = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Forever {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

#[test]
fn woken_from_another_os_thread_in_a_greenlet_and_on_a_plain_thread() {
    for in_greenlet in [true, false] {
        let gate = Arc::new(Gate::default());
        let g = gate.clone();
        let waker_thread = thread::spawn(move || {
            thread::sleep(Duration::from_millis(5));
            g.bump();
        });
        let fut = gate.reached(1);
        let got = if in_greenlet {
            spawn(move || block_on(fut)).join().unwrap()
        } else {
            block_on(fut)
        };
        assert_eq!(got, 1);
        waker_thread.join().unwrap();
    }
}

#[test]
fn woken_from_another_greenlet() {
    let gate = Arc::new(Gate::default());
    let fut = gate.reached(3);
    let waiter = spawn(move || block_on(fut));
    let g = gate.clone();
    let bumper = spawn(move || {
        for _ in 0..3 {
            sleep(Duration::from_millis(1));
            g.bump();
        }
    });
    assert_eq!(waiter.join().unwrap(), 3);
    bumper.join().unwrap();
}

/// Wakes itself `left` times during its polls (before returning Pending), then is ready.
struct SelfWaking {
    left: u32,
    polls: u32,
}

impl Future for SelfWaking {
    type Output = u32;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
        self.polls += 1;
        if self.left == 0 {
            return Poll::Ready(self.polls);
        }
        self.left -= 1;
        // Woken before it returns Pending, and through a clone, and twice.
        cx.waker().wake_by_ref();
        let clone = cx.waker().clone();
        clone.wake();
        Poll::Pending
    }
}

#[test]
fn woken_before_it_returns_pending() {
    assert_eq!(block_on(SelfWaking { left: 5, polls: 0 }), 6);
    let g = spawn(|| {
        block_on(SelfWaking {
            left: 100,
            polls: 0,
        })
    });
    assert_eq!(g.join().unwrap(), 101);
    // Woken by another thread racing the poll: spawned from inside the poll.
    for _ in 0..200 {
        let gate = Arc::new(Gate::default());
        let g2 = gate.clone();
        let racer = Racing {
            gate: gate.clone(),
            started: None,
        };
        let got = spawn(move || block_on(racer)).join().unwrap();
        assert_eq!(got, 1);
        drop(g2);
    }
}

/// Starts a thread that bumps the gate during the first poll, then waits for the bump.
struct Racing {
    gate: Arc<Gate>,
    started: Option<thread::JoinHandle<()>>,
}

impl Future for Racing {
    type Output = u64;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u64> {
        let mut s = self.gate.state.lock().unwrap();
        if s.0 >= 1 {
            drop(s);
            if let Some(t) = self.started.take() {
                t.join().unwrap();
            }
            return Poll::Ready(1);
        }
        s.1 = Some(cx.waker().clone());
        drop(s);
        if self.started.is_none() {
            let gate = self.gate.clone();
            self.started = Some(thread::spawn(move || gate.bump()));
        }
        Poll::Pending
    }
}

#[test]
fn many_wakes_from_many_threads_lose_nothing() {
    // Four threads bump 25,000 times each, waking the registered waker each time; the future
    // must end exactly when the count reaches 100,000, however the wakes interleave with its
    // polls and parks.
    let gate = Arc::new(Gate::default());
    let fut = gate.reached(100_000);
    let waiter = spawn(move || block_on(fut));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let g = gate.clone();
            thread::spawn(move || {
                for _ in 0..25_000 {
                    g.bump();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(
        waiter.wait_timeout(Duration::from_secs(20)),
        "the last wake-up was lost"
    );
    assert_eq!(waiter.join().unwrap(), 100_000);
}

#[test]
fn round_trips_between_greenlets_and_threads() {
    // 20,000 one-shot hand-offs: each waits in block_on for the other side's wake.
    const ROUNDS: u64 = 20_000;
    let ping = Arc::new(Gate::default());
    let pong = Arc::new(Gate::default());
    let (pi, po) = (ping.clone(), pong.clone());
    let greenlet_side = spawn(move || {
        for i in 1..=ROUNDS {
            block_on(pi.reached(i));
            po.bump();
        }
    });
    for i in 1..=ROUNDS {
        ping.bump();
        // A lost wake-up on either side would leave this waiting: fail instead of hanging.
        let got = with_timeout(Duration::from_secs(10), || block_on(pong.reached(i)));
        assert_eq!(got, Ok(i), "round {i}: a wake-up was lost");
    }
    greenlet_side.join().unwrap();
}

#[test]
fn kill_during_block_on_drops_the_future_in_the_greenlet() {
    let dropped = Arc::new(AtomicBool::new(false));
    let parked = Arc::new(AtomicUsize::new(0));
    let dropped_in: Arc<Mutex<Option<Option<GreenletId>>>> = Arc::default();
    let (d, p, w) = (dropped.clone(), parked.clone(), dropped_in.clone());
    let g = spawn(move || {
        p.fetch_add(1, SeqCst);
        block_on(async move {
            let _where = DropsWhere(w);
            Forever(d, None).await
        });
    });
    while parked.load(SeqCst) == 0 {
        sleep(Duration::from_millis(1));
    }
    sleep(Duration::from_millis(5));
    let id = g.id();
    g.kill();
    assert!(g.join().unwrap_err().is_killed());
    assert!(dropped.load(SeqCst), "the future was not dropped");
    assert_eq!(
        *dropped_in.lock().unwrap(),
        Some(Some(id)),
        "dropped elsewhere"
    );
}

/// Records in which greenlet it is dropped.
struct DropsWhere(Arc<Mutex<Option<Option<GreenletId>>>>);

impl Drop for DropsWhere {
    fn drop(&mut self) {
        *self.0.lock().unwrap() = Some(greenlet::current());
    }
}

#[test]
fn with_timeout_interrupts_block_on_in_a_greenlet_and_on_a_thread() {
    for in_greenlet in [true, false] {
        let dropped = Arc::new(AtomicBool::new(false));
        let d = dropped.clone();
        let run = move || with_timeout(Duration::from_millis(10), || block_on(Forever(d, None)));
        let r = if in_greenlet {
            spawn(run).join().unwrap()
        } else {
            run()
        };
        assert_eq!(r, Err(Timeout));
        assert!(dropped.load(SeqCst));
    }
}

#[test]
fn a_waker_kept_after_block_on_returned_is_harmless() {
    let kept: Arc<Mutex<Option<Waker>>> = Arc::default();
    let k = kept.clone();
    let value = block_on(std::future::poll_fn(move |cx| {
        *k.lock().unwrap() = Some(cx.waker().clone());
        Poll::Ready(5)
    }));
    assert_eq!(value, 5);
    let waker = kept.lock().unwrap().take().unwrap();
    for _ in 0..10 {
        waker.wake_by_ref();
    }
    // The next wait of this thread is not disturbed by it.
    let gate = Arc::new(Gate::default());
    let g = gate.clone();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(5));
        g.bump();
    });
    waker.wake();
    assert_eq!(block_on(gate.reached(1)), 1);
    t.join().unwrap();
}

#[test]
fn a_future_polled_once_per_wake_not_spinning() {
    // A pending future is not polled again until it is woken.
    let polls = Arc::new(AtomicU64::new(0));
    let gate = Arc::new(Gate::default());
    let (p, g) = (polls.clone(), gate.clone());
    let waiter = spawn(move || {
        let mut inner = g.reached(2);
        block_on(std::future::poll_fn(move |cx| {
            p.fetch_add(1, SeqCst);
            Pin::new(&mut inner).poll(cx)
        }))
    });
    sleep(Duration::from_millis(20));
    assert_eq!(polls.load(SeqCst), 1, "polled without a wake");
    gate.bump();
    while polls.load(SeqCst) < 2 {
        sleep(Duration::from_millis(1));
    }
    sleep(Duration::from_millis(20));
    assert_eq!(polls.load(SeqCst), 2, "polled without a wake");
    gate.bump();
    assert_eq!(waiter.join().unwrap(), 2);
    assert_eq!(polls.load(SeqCst), 3);
}
