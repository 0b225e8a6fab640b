//! greenlet::channel: every flavour's semantics, disconnection, timeouts, and counted stress.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use greenlet::channel::{
    bounded, unbounded, Receiver, RecvError, RecvTimeoutError, SendError, SendTimeoutError, Sender,
    TryRecvError, TrySendError,
};
use greenlet::{joinall, sleep, spawn, with_timeout};

mod common;
use common::assert_each_once;

#[test]
fn bounded_blocks_when_full_and_keeps_order() {
    let (tx, rx) = bounded(2);
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    assert_eq!(tx.try_send(3), Err(TrySendError::Full(3)));
    assert_eq!((tx.len(), rx.len(), tx.capacity()), (2, 2, Some(2)));
    let t0 = Instant::now();
    let sender = spawn(move || {
        tx.send(3).unwrap(); // waits for room
        Instant::now()
    });
    sleep(Duration::from_millis(20));
    assert_eq!(rx.recv(), Ok(1));
    let sent_at = sender.join().unwrap();
    assert!(sent_at - t0 >= Duration::from_millis(20));
    assert_eq!(rx.iter().collect::<Vec<_>>(), [2, 3]);
}

#[test]
fn rendezvous_send_waits_for_a_receiver() {
    let (tx, rx) = bounded::<u32>(0);
    assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)));
    assert_eq!(
        tx.send_timeout(1, Duration::from_millis(5)),
        Err(SendTimeoutError::Timeout(1))
    );
    let received = Arc::new(AtomicUsize::new(0));
    let r = received.clone();
    let receiver = spawn(move || {
        sleep(Duration::from_millis(20));
        let v = rx.recv().unwrap();
        r.store(1, Ordering::SeqCst);
        v
    });
    tx.send(42).unwrap(); // returns only once the receiver has it
    assert_eq!(receiver.join().unwrap(), 42);
    assert_eq!(tx.capacity(), Some(0));
    assert_eq!(tx.len(), 0);
}

#[test]
fn unbounded_never_blocks() {
    let (tx, rx) = unbounded();
    for i in 0..10_000 {
        tx.try_send(i).unwrap();
    }
    assert_eq!(rx.len(), 10_000);
    assert_eq!(rx.capacity(), None);
    drop(tx);
    assert_eq!(rx.into_iter().sum::<i32>(), (0..10_000).sum());
}

#[test]
fn disconnection_both_ways() {
    let (tx, rx) = bounded::<i32>(4);
    tx.send(1).unwrap();
    drop(tx);
    assert_eq!(rx.recv(), Ok(1)); // queued messages drain first
    assert_eq!(rx.recv(), Err(RecvError));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(1)),
        Err(RecvTimeoutError::Disconnected)
    );

    let (tx, rx) = bounded::<String>(1);
    drop(rx);
    assert_eq!(tx.send("back".into()), Err(SendError("back".into())));

    // Parked receivers and senders are woken by the disconnection.
    let (tx, rx) = bounded::<i32>(0);
    let r = spawn(move || rx.recv());
    sleep(Duration::from_millis(5));
    drop(tx);
    assert_eq!(r.join().unwrap(), Err(RecvError));
    let (tx, rx) = bounded::<i32>(0);
    let s = spawn(move || tx.send(9));
    sleep(Duration::from_millis(5));
    drop(rx);
    assert_eq!(s.join().unwrap(), Err(SendError(9)));
}

#[test]
fn clones_share_and_count() {
    let (tx, rx) = unbounded::<u8>();
    let tx2 = tx.clone();
    let rx2 = rx.clone();
    drop(tx);
    tx2.send(5).unwrap();
    drop(rx);
    assert_eq!(rx2.recv(), Ok(5));
    drop(tx2);
    assert_eq!(rx2.recv(), Err(RecvError));
}

#[test]
fn timeouts_and_kills_consume_nothing() {
    // A receiver that times out or is killed never takes a message: every message sent
    // afterwards is still there.
    let (tx, rx) = bounded::<u32>(0);
    let waiters: Vec<_> = (0..20)
        .map(|i| {
            let rx = rx.clone();
            spawn(move || {
                if i % 2 == 0 {
                    rx.recv_timeout(Duration::from_millis(5)).ok()
                } else {
                    rx.recv().ok()
                }
            })
        })
        .collect();
    sleep(Duration::from_millis(20));
    for w in waiters.iter().skip(1).step_by(2) {
        w.kill();
    }
    for w in waiters {
        let r = w.join();
        assert!(
            matches!(r, Ok(None) | Err(_)),
            "a cancelled receiver got {r:?}"
        );
    }
    let reader = spawn(move || rx.recv());
    tx.send(7).unwrap();
    assert_eq!(reader.join().unwrap(), Ok(7));

    // with_timeout around send and recv.
    let (tx, rx) = bounded::<u32>(0);
    assert!(with_timeout(Duration::from_millis(5), || tx.send(1)).is_err());
    assert!(with_timeout(Duration::from_millis(5), || rx.recv()).is_err());
}

fn mpmc(tx: Sender<u64>, rx: Receiver<u64>, n: u64) {
    const SIDES: u64 = 16;
    let producers: Vec<_> = (0..SIDES)
        .map(|p| {
            let tx = tx.clone();
            spawn(move || {
                for i in (p..n).step_by(SIDES as usize) {
                    tx.send(i).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let consumers: Vec<_> = (0..SIDES)
        .map(|_| {
            let rx = rx.clone();
            spawn(move || rx.iter().collect::<Vec<u64>>())
        })
        .collect();
    drop(rx);
    joinall(producers).into_iter().for_each(|r| r.unwrap());
    assert_each_once(consumers.into_iter().map(|c| c.join().unwrap()), n);
}

/// One `#[test]` a channel flavour: a million messages through `mpmc`, each received once.
macro_rules! mpmc_tests {
    ($($name:ident: $channel:expr;)*) => {$(
        #[test]
        fn $name() {
            let (tx, rx) = $channel;
            mpmc(tx, rx, 1_000_000);
        }
    )*};
}

mpmc_tests! {
    stress_16x16_bounded_million_exactly_once: bounded(64);
    stress_16x16_unbounded_million_exactly_once: unbounded();
    stress_16x16_rendezvous_exactly_once: bounded(0);
    stress_16x16_capacity_four_million_exactly_once: bounded(4);
    stress_16x16_capacity_two_million_exactly_once: bounded(2);
}

#[test]
fn stress_with_plain_threads_on_both_sides() {
    let (tx, rx) = bounded::<u64>(8);
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for i in 0..5000 {
                    tx.send(t * 5000 + i).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let greenlet_consumers: Vec<_> = (0..4)
        .map(|_| {
            let rx = rx.clone();
            spawn(move || rx.iter().collect::<Vec<_>>())
        })
        .collect();
    let mine: Vec<u64> = rx.iter().collect(); // this plain thread consumes too
    threads.into_iter().for_each(|t| t.join().unwrap());
    let mut all: Vec<u64> = mine;
    for c in greenlet_consumers {
        all.extend(c.join().unwrap());
    }
    all.sort();
    assert_eq!(all, (0..20_000).collect::<Vec<_>>());
}

#[test]
fn timeout_storm_exactly_once() {
    // Senders and receivers with short timeouts, killed at random: every message reported as
    // sent is received exactly once, none reported unsent is received.
    for cap in [0usize, 1, 16] {
        let (tx, rx) = bounded::<u64>(cap);
        let sent = Arc::new(Mutex::new(Vec::new()));
        let received = Arc::new(Mutex::new(Vec::new()));
        let producers: Vec<_> = (0..16u64)
            .map(|p| {
                let (tx, sent) = (tx.clone(), sent.clone());
                spawn(move || {
                    for i in 0..300 {
                        let v = p * 1000 + i;
                        if tx
                            .send_timeout(v, Duration::from_micros(50 + (v % 7) * 30))
                            .is_ok()
                        {
                            sent.lock().unwrap().push(v);
                        }
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..16)
            .map(|c| {
                let (rx, received) = (rx.clone(), received.clone());
                spawn(move || loop {
                    match rx.recv_timeout(Duration::from_micros(40 + c * 20)) {
                        Ok(v) => received.lock().unwrap().push(v),
                        Err(RecvTimeoutError::Timeout) => greenlet::yield_now(),
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                })
            })
            .collect();
        drop(tx);
        drop(rx);
        joinall(producers);
        joinall(consumers);
        let sent: HashSet<u64> = sent.lock().unwrap().iter().copied().collect();
        let got = received.lock().unwrap().clone();
        let got_set: HashSet<u64> = got.iter().copied().collect();
        assert_eq!(got.len(), got_set.len(), "cap {cap}: duplicates");
        assert_eq!(sent, got_set, "cap {cap}: sent and received differ");
    }
}

#[test]
fn larger_capacities_keep_the_contract() {
    for cap in [4usize, 8] {
        let (tx, rx) = bounded::<usize>(cap);
        for i in 0..cap {
            tx.try_send(i).unwrap();
        }
        assert_eq!(tx.len(), cap);
        assert_eq!(tx.try_send(99), Err(TrySendError::Full(99)));
        assert_eq!(
            tx.send_timeout(99, Duration::from_millis(2)),
            Err(SendTimeoutError::Timeout(99))
        );
        let tx2 = tx.clone();
        let late = spawn(move || tx2.send(cap)); // parks until there is room
        sleep(Duration::from_millis(5));
        assert_eq!(rx.recv(), Ok(0));
        late.join().unwrap().unwrap();
        drop(tx);
        assert_eq!(rx.iter().collect::<Vec<_>>(), (1..=cap).collect::<Vec<_>>());
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(1)),
            Err(RecvTimeoutError::Disconnected)
        );

        let (tx, rx) = bounded::<usize>(cap);
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(2)),
            Err(RecvTimeoutError::Timeout)
        );
        let r = spawn(move || rx.recv());
        sleep(Duration::from_millis(5));
        drop(tx);
        assert_eq!(r.join().unwrap(), Err(RecvError));

        let (tx, rx) = bounded::<String>(cap);
        for _ in 0..cap {
            tx.send("x".into()).unwrap();
        }
        let s = spawn(move || tx.send("parked".into()));
        sleep(Duration::from_millis(5));
        drop(rx); // the buffered messages are dropped, the parked sender gets its own back
        assert_eq!(s.join().unwrap(), Err(SendError("parked".into())));
    }
}

#[test]
fn messages_left_at_drop_are_dropped() {
    let marker = Arc::new(());
    let (tx, rx) = bounded::<Arc<()>>(8);
    for _ in 0..5 {
        tx.send(marker.clone()).unwrap();
    }
    drop((tx, rx));
    assert_eq!(Arc::strong_count(&marker), 1);
}

#[test]
fn a_huge_capacity_allocates_nothing_up_front() {
    // Used as "no practical limit": must not overflow the allocation size or reserve terabytes.
    for cap in [usize::MAX, 1 << 40, (1 << 16) + 1] {
        let (tx, rx) = bounded::<u64>(cap);
        assert_eq!(tx.capacity(), Some(cap));
        for i in 0..1000 {
            tx.try_send(i).unwrap();
        }
        assert_eq!(rx.len(), 1000);
        assert_eq!(rx.iter().take(1000).sum::<u64>(), 999 * 1000 / 2);
    }
    // The largest capacity still served by the pre-allocated ring.
    let (tx, rx) = bounded::<u8>(1 << 16);
    for _ in 0..(1 << 16) {
        tx.try_send(1).unwrap();
    }
    assert!(matches!(tx.try_send(1), Err(TrySendError::Full(1))));
    assert_eq!(rx.recv(), Ok(1));
}

#[test]
fn error_messages_say_what_happened() {
    use greenlet::channel::{
        ReadyTimeoutError, RecvError, RecvTimeoutError, SelectTimeoutError, SendError,
        SendTimeoutError, TryReadyError, TryRecvError, TrySelectError, TrySendError,
    };
    let no_receivers = "sending on a channel whose receivers are all gone";
    let no_senders = "receiving on an empty channel whose senders are all gone";
    let cases: [(&dyn std::error::Error, &str); 14] = [
        (&SendError(1), no_receivers),
        (&TrySendError::Full(1), "sending on a full channel"),
        (&TrySendError::Disconnected(1), no_receivers),
        (
            &SendTimeoutError::Timeout(1),
            "timed out sending on a full channel",
        ),
        (&SendTimeoutError::Disconnected(1), no_receivers),
        (&RecvError, no_senders),
        (&TryRecvError::Empty, "receiving on an empty channel"),
        (&TryRecvError::Disconnected, no_senders),
        (
            &RecvTimeoutError::Timeout,
            "timed out receiving on an empty channel",
        ),
        (&RecvTimeoutError::Disconnected, no_senders),
        (&TrySelectError, "all operations in select would block"),
        (&SelectTimeoutError, "timed out waiting on select"),
        (&TryReadyError, "all operations in select would block"),
        (&ReadyTimeoutError, "timed out waiting on select"),
    ];
    for (err, message) in cases {
        assert_eq!(err.to_string(), message);
    }
}

#[test]
fn handles_and_iterators_debug_by_name_alone() {
    let (tx, rx) = unbounded::<u8>();
    assert_eq!(format!("{tx:?}"), "Sender { .. }");
    assert_eq!(format!("{rx:?}"), "Receiver { .. }");
    assert_eq!(format!("{:?}", rx.iter()), "Iter { .. }");
    assert_eq!(format!("{:?}", rx.try_iter()), "TryIter { .. }");
    assert_eq!(format!("{:?}", rx.into_iter()), "IntoIter { .. }");
}
