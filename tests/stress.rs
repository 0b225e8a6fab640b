//! Stress tests of the wake-up paths the placement rule changed (wake-ups that cross workers go
//! to the home worker's inbox and wake it): each counts that nothing was lost or doubled over
//! a million operations or more.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use greenlet::channel;
use greenlet::sync::{Condvar, Mutex, Semaphore};
use greenlet::{joinall, spawn, with_timeout};

/// A ring of greenlets, each receiving from its left neighbour and sending to its right, with
/// several tokens in flight: a million hops, most of them waking a greenlet homed on another
/// worker. Every token makes exactly its hops, in order.
#[test]
fn a_million_hops_around_a_ring_of_greenlets_lose_and_double_nothing() {
    const NODES: usize = 64;
    const TOKENS: u64 = 16;
    const LAPS: u64 = 1_000;
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..NODES)
        .map(|_| channel::bounded::<(u64, u64)>(1))
        .unzip();
    let hops = Arc::new(AtomicU64::new(0));
    let mut nodes = Vec::new();
    for (i, rx) in receivers.into_iter().enumerate() {
        let tx = senders[(i + 1) % NODES].clone();
        let hops = hops.clone();
        nodes.push(spawn(move || {
            let mut last = vec![None::<u64>; TOKENS as usize];
            // Each token passes every node LAPS times; node 0 retires it after its last lap.
            for _ in 0..TOKENS * LAPS {
                let (token, step) = rx.recv().unwrap();
                let seen = &mut last[token as usize];
                assert!(seen.is_none_or(|s| step > s), "token {token} went back");
                *seen = Some(step);
                hops.fetch_add(1, SeqCst);
                if !(i == NODES - 1 && step + 1 == LAPS * NODES as u64) {
                    tx.send((token, step + 1)).unwrap();
                }
            }
        }));
    }
    for token in 0..TOKENS {
        senders[0].send((token, 0)).unwrap();
    }
    drop(senders);
    for r in joinall(nodes) {
        r.unwrap();
    }
    assert_eq!(hops.load(SeqCst), TOKENS * LAPS * NODES as u64);
}

/// A queue guarded by a greenlet Mutex and a Condvar, with consumers that wait with tiny
/// timeouts and are interrupted by `with_timeout`: a notification taken by a waiter that then
/// times out is passed on, so every item is consumed exactly once and none waits forever.
#[test]
fn condvar_handoffs_under_timeouts_consume_every_item_once() {
    const ITEMS: u64 = 200_000;
    const CONSUMERS: usize = 8;
    let shared = Arc::new((Mutex::new(VecDeque::<u64>::new()), Condvar::new()));
    let consumed = Arc::new(AtomicU64::new(0));
    let sum = Arc::new(AtomicU64::new(0));
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|c| {
            let (shared, consumed, sum) = (shared.clone(), consumed.clone(), sum.clone());
            spawn(move || {
                let mut round = 0u64;
                while consumed.load(SeqCst) < ITEMS {
                    round += 1;
                    let (queue, ready) = &*shared;
                    // Every third wait is also cut short from outside by with_timeout.
                    let got = with_timeout(Duration::from_micros(50 + (round % 7) * 10), || {
                        let mut q = queue.lock();
                        loop {
                            if let Some(item) = q.pop_front() {
                                return Some(item);
                            }
                            let (guard, timed_out) = ready
                                .wait_timeout(q, Duration::from_micros((c as u64 + round) % 40));
                            q = guard;
                            if timed_out && round % 3 != 0 {
                                return q.pop_front();
                            }
                        }
                    });
                    if let Ok(Some(item)) = got {
                        consumed.fetch_add(1, SeqCst);
                        sum.fetch_add(item, SeqCst);
                    }
                }
            })
        })
        .collect();
    let producer = {
        let shared = shared.clone();
        spawn(move || {
            let (queue, ready) = &*shared;
            for item in 1..=ITEMS {
                queue.lock().push_back(item);
                ready.notify_one();
                if item % 64 == 0 {
                    greenlet::yield_now();
                }
            }
        })
    };
    producer.join().unwrap();
    for r in joinall(consumers) {
        r.unwrap();
    }
    assert_eq!(consumed.load(SeqCst), ITEMS);
    assert_eq!(sum.load(SeqCst), ITEMS * (ITEMS + 1) / 2);
    assert!(shared.0.lock().is_empty());
}

/// Permits handed between greenlets and plain threads a million times, with waiters timing
/// out all along: no permit is lost or created.
#[test]
fn a_million_permit_handoffs_conserve_the_permits() {
    const PERMITS: usize = 3;
    const ROUNDS: usize = 1_000_000;
    let sem = Arc::new(Semaphore::new(PERMITS));
    let taken = Arc::new(AtomicUsize::new(0));
    let inside = Arc::new(AtomicUsize::new(0));
    let worker = |sem: Arc<Semaphore>, taken: Arc<AtomicUsize>, inside: Arc<AtomicUsize>| {
        move || {
            let mut i = 0u64;
            while taken.load(SeqCst) < ROUNDS {
                i += 1;
                let permit = if i % 5 == 0 {
                    sem.acquire_timeout(Duration::from_micros(i % 30))
                } else {
                    Some(sem.acquire())
                };
                if let Some(_permit) = permit {
                    let now = inside.fetch_add(1, SeqCst) + 1;
                    assert!(now <= PERMITS, "{now} holders of {PERMITS} permits");
                    taken.fetch_add(1, SeqCst);
                    inside.fetch_sub(1, SeqCst);
                }
            }
        }
    };
    let greenlets: Vec<_> = (0..12)
        .map(|_| spawn(worker(sem.clone(), taken.clone(), inside.clone())))
        .collect();
    let threads: Vec<_> = (0..2)
        .map(|_| std::thread::spawn(worker(sem.clone(), taken.clone(), inside.clone())))
        .collect();
    for r in joinall(greenlets) {
        r.unwrap();
    }
    for t in threads {
        t.join().unwrap();
    }
    assert!(taken.load(SeqCst) >= ROUNDS);
    assert_eq!(sem.available_permits(), PERMITS);
    assert_eq!(sem.waiting(), 0);
}

/// Sends `1..=n` through `tx`/`rx` from greenlets and plain threads that give up now and then
/// (short send and receive timeouts, and `with_timeout` cutting receives short from outside),
/// and checks that every message arrived exactly once: hand-offs to a parked receiver or from a
/// parked sender that race a timeout must neither lose the message nor deliver it twice.
fn handoffs_under_timeouts(tx: channel::Sender<u64>, rx: channel::Receiver<u64>, n: u64) {
    const SIDES: u64 = 4;
    let seen: Arc<Vec<AtomicUsize>> = Arc::new((0..=n).map(|_| AtomicUsize::new(0)).collect());
    let received = Arc::new(AtomicU64::new(0));
    let senders_done = Arc::new(AtomicU64::new(0));
    let receive = {
        let (seen, received, done) = (seen.clone(), received.clone(), senders_done.clone());
        move |id: u64| {
            let mut round = id;
            // Until everything arrived, or the senders are done (or died) and a receive of up
            // to 10 ms finds nothing more: then the counts below tell what went wrong.
            while received.load(SeqCst) < n {
                if done.load(SeqCst) == SIDES
                    && rx
                        .recv_timeout(Duration::from_millis(10))
                        .map(|v| {
                            seen[v as usize].fetch_add(1, SeqCst);
                            received.fetch_add(1, SeqCst);
                        })
                        .is_err()
                {
                    break;
                }
                round += 1;
                let wait = Duration::from_micros(round % 50);
                let got = if round % 5 == 0 {
                    with_timeout(Duration::from_micros(round % 30), || rx.recv_timeout(wait))
                        .ok()
                        .and_then(Result::ok)
                } else {
                    rx.recv_timeout(wait).ok()
                };
                if let Some(v) = got {
                    seen[v as usize].fetch_add(1, SeqCst);
                    received.fetch_add(1, SeqCst);
                }
            }
        }
    };
    let send = move |id: u64| {
        // Counted done even if it panics, so that the receivers stop.
        struct Done(Arc<AtomicU64>);
        impl Drop for Done {
            fn drop(&mut self) {
                self.0.fetch_add(1, SeqCst);
            }
        }
        let _done = Done(senders_done.clone());
        let mut round = id;
        for v in (1..=n).filter(|v| v % SIDES == id) {
            let mut v = v;
            loop {
                round += 1;
                match tx.send_timeout(v, Duration::from_micros(round % 40)) {
                    Ok(()) => break,
                    Err(channel::SendTimeoutError::Timeout(back)) => v = back,
                    Err(e) => panic!("receivers gone early: {e}"),
                }
            }
        }
    };
    // Half of each side are greenlets, half plain threads.
    let mut greenlets = Vec::new();
    let mut threads = Vec::new();
    for id in 0..SIDES {
        let (receive, send) = (receive.clone(), send.clone());
        if id % 2 == 0 {
            greenlets.push(spawn(move || receive(id)));
            greenlets.push(spawn(move || send(id)));
        } else {
            threads.push(std::thread::spawn(move || receive(id)));
            threads.push(std::thread::spawn(move || send(id)));
        }
    }
    let greenlets_ok = joinall(greenlets).iter().all(Result::is_ok);
    let threads_ok = threads.into_iter().all(|t| t.join().is_ok());
    assert!(
        greenlets_ok && threads_ok,
        "a sender or a receiver panicked"
    );
    assert_eq!(received.load(SeqCst), n);
    let wrong: Vec<_> = (1..=n)
        .filter(|&v| seen[v as usize].load(SeqCst) != 1)
        .take(5)
        .collect();
    assert!(wrong.is_empty(), "messages lost or doubled: {wrong:?}");
}

#[test]
fn channel_handoffs_under_timeouts_lose_and_double_nothing() {
    // The locked engine in its three shapes: rendezvous, a small buffer, unbounded.
    const N: u64 = 200_000;
    let (tx, rx) = channel::bounded(0);
    handoffs_under_timeouts(tx, rx, N);
    let (tx, rx) = channel::bounded(2);
    handoffs_under_timeouts(tx, rx, N);
    let (tx, rx) = channel::unbounded();
    handoffs_under_timeouts(tx, rx, N);
}

/// Thousands of greenlets and a few threads wait on one `Event`, each with its own deadline in
/// scrambled order, some killed: they leave the one wait list from everywhere in it (each
/// unlinks itself), and the `set` that comes while most still wait wakes exactly those left.
/// Every waiter returns once, and says truly whether it saw the event.
#[test]
fn waiters_leaving_one_long_wait_list_from_everywhere_return_once() {
    use greenlet::sync::Event;
    use std::time::Instant;
    const GREENLETS: u64 = 3000;
    let event = Arc::new(Event::new());
    let returned = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let waiter = |i: u64| {
        let (event, returned) = (event.clone(), returned.clone());
        move || {
            // Deadlines from 1 to 80 ms, scrambled; a fifth wait with no deadline.
            let seen = if i % 5 == 0 {
                event.wait();
                true
            } else {
                event.wait_timeout(Duration::from_millis(1 + (i * 7919) % 80))
            };
            returned.fetch_add(1, SeqCst);
            // A waiter that saw the event returned after it was set (checked by the caller).
            (seen, event.is_set())
        }
    };
    let greenlets: Vec<_> = (0..GREENLETS).map(|i| spawn(waiter(i))).collect();
    let threads: Vec<_> = (0..4)
        .map(|i| std::thread::spawn(waiter(GREENLETS + i)))
        .collect();
    for g in greenlets.iter().skip(2).step_by(7) {
        g.kill();
    }
    greenlet::sleep(Duration::from_millis(40));
    event.set();
    let mut killed = 0;
    let mut seen = 0;
    for r in joinall(greenlets) {
        match r {
            Ok((s, set)) => {
                assert!(!s || set, "a waiter saw an event that was not set");
                seen += usize::from(s);
            }
            Err(e) if e.is_killed() => killed += 1,
            Err(e) => panic!("a waiter failed: {e}"),
        }
    }
    for t in threads {
        let (s, set) = t.join().unwrap();
        assert!(!s || set);
        seen += usize::from(s);
    }
    let total = GREENLETS as usize + 4;
    assert_eq!(
        returned.load(SeqCst) + killed,
        total,
        "every waiter returns once or is killed ({:?})",
        start.elapsed()
    );
    // Those with no deadline (a fifth) cannot have timed out: all of them that were not killed
    // saw the event.
    assert!(
        seen >= (0..GREENLETS + 4)
            .filter(|i| i % 5 == 0 && (*i >= GREENLETS || i % 7 != 2))
            .count()
    );
}
