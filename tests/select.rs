//! greenlet::channel's select: `select!`, `select_biased!`, `Select`, timer channels, on both
//! engines (ring and locked, rendezvous included), on greenlets and plain threads; timeouts,
//! kills and `with_timeout` during a select, with every message counted exactly once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenlet::channel::{
    after, bounded, never, tick, unbounded, Receiver, RecvError, Select, SendError, Sender,
    TryRecvError,
};
use greenlet::{joinall, select, select_biased, sleep, spawn, with_timeout};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The capacities that cover both engines: rendezvous, small locked, ring, unbounded.
fn channels<T>() -> Vec<(Sender<T>, Receiver<T>)> {
    vec![bounded(0), bounded(1), bounded(16), unbounded()]
}

#[test]
fn select_receives_from_whichever_is_ready_on_every_engine() {
    for ((tx1, rx1), (tx2, rx2)) in channels::<u32>().into_iter().zip(channels::<u32>()) {
        let sender = spawn(move || {
            sleep(ms(5));
            tx2.send(7).unwrap();
            tx1
        });
        select! {
            recv(rx1) -> m => panic!("rx1 gave {m:?}"),
            recv(rx2) -> m => assert_eq!(m, Ok(7)),
        }
        drop(sender.join().unwrap());
    }
}

#[test]
fn select_sends_to_whichever_has_room_or_a_receiver() {
    for (tx, rx) in channels::<u32>() {
        let (full_tx, _full_rx) = bounded::<u32>(0);
        let receiver = spawn(move || rx.recv());
        select! {
            send(full_tx, 1) -> _ => panic!("nobody receives there"),
            send(tx, 2) -> r => assert_eq!(r, Ok(())),
        }
        assert_eq!(receiver.join().unwrap(), Ok(2));
    }
}

#[test]
fn selecting_sender_meets_selecting_receiver_on_a_rendezvous() {
    for _ in 0..200 {
        let (tx, rx) = bounded::<u32>(0);
        let (_other_tx, other_rx) = bounded::<u32>(0);
        let receiver = spawn(move || {
            select! {
                recv(rx) -> m => m,
                recv(other_rx) -> _ => unreachable!(),
            }
        });
        let (_other_tx2, other_rx2) = unbounded::<u32>();
        select! {
            send(tx, 5) -> r => r.unwrap(),
            recv(other_rx2) -> _ => unreachable!(),
        }
        assert_eq!(receiver.join().unwrap(), Ok(5));
    }
}

#[test]
fn select_on_plain_threads() {
    for (tx, rx) in channels::<u32>() {
        let (tx2, rx2) = unbounded::<u32>();
        let t = std::thread::spawn(move || {
            let mut got = 0;
            for _ in 0..1000 {
                select! {
                    recv(rx) -> m => got += m.unwrap(),
                    recv(rx2) -> m => got += m.unwrap(),
                }
            }
            got
        });
        for i in 0..500 {
            tx.send(i).unwrap();
            tx2.send(i).unwrap();
        }
        assert_eq!(t.join().unwrap(), 2 * (0..500).sum::<u32>());
    }
}

#[test]
fn default_and_timeout_arms() {
    let (tx, rx) = bounded::<u32>(0);
    let r = select! {
        recv(rx) -> _ => 1,
        default => 2,
    };
    assert_eq!(r, 2);
    let t0 = Instant::now();
    let r = select! {
        recv(rx) -> _ => 1,
        default(ms(20)) => 2,
    };
    assert_eq!(r, 2);
    assert!(t0.elapsed() >= ms(20));
    drop(tx);
    let r = select! {
        recv(rx) -> m => m,
        default(ms(1000)) => Ok(0),
    };
    assert_eq!(r, Err(RecvError), "a disconnected channel is ready at once");
}

#[test]
fn disconnected_operations_are_ready_with_errors() {
    for (tx, rx) in channels::<u32>() {
        let tx2 = tx.clone();
        drop(rx);
        select! {
            send(tx, 3) -> r => assert_eq!(r, Err(SendError(3))),
        }
        drop(tx2);
    }
    for (tx, rx) in channels::<u32>() {
        let waiter = spawn(move || {
            select! {
                recv(rx) -> m => m,
            }
        });
        sleep(ms(5));
        drop(tx); // wakes the parked select
        assert_eq!(waiter.join().unwrap(), Err(RecvError));
    }
}

#[test]
fn biased_picks_the_first_ready_and_random_is_fair() {
    let (tx1, rx1) = unbounded::<()>();
    let (tx2, rx2) = unbounded::<()>();
    for _ in 0..1000 {
        tx1.send(()).unwrap();
        tx2.send(()).unwrap();
    }
    let mut hits = [0usize; 2];
    for _ in 0..500 {
        select_biased! {
            recv(rx1) -> _ => hits[0] += 1,
            recv(rx2) -> _ => hits[1] += 1,
        }
    }
    assert_eq!(hits, [500, 0]);
    let mut hits = [0usize; 2];
    for _ in 0..1000 {
        select! {
            recv(rx1) -> _ => hits[0] += 1,
            recv(rx2) -> _ => hits[1] += 1,
        }
    }
    assert!(hits.iter().all(|&h| h >= 250), "unfair: {hits:?}");
}

#[test]
fn after_tick_never() {
    let t0 = Instant::now();
    let at = select! {
        recv(after(ms(20))) -> t => t.unwrap(),
        recv(never::<u32>()) -> _ => unreachable!(),
    };
    assert!(at >= t0 + ms(20) && t0.elapsed() >= ms(20));
    let ticker = tick(ms(10));
    let a = ticker.recv().unwrap();
    let b = ticker.recv().unwrap();
    assert!(b >= a + ms(10));
    assert_eq!(never::<u32>().try_recv(), Err(TryRecvError::Empty));
    let once = after(ms(1));
    sleep(ms(5));
    assert!(once.try_recv().is_ok());
    assert!(once.try_recv().is_err(), "after delivers once");
}

#[test]
fn ready_reports_without_performing() {
    let (tx, rx) = bounded::<u32>(0);
    let mut sel = Select::new();
    let i = sel.recv(&rx);
    assert!(sel.try_ready().is_err());
    let sender = spawn(move || tx.send(9).unwrap());
    assert_eq!(sel.ready(), i);
    assert_eq!(rx.recv(), Ok(9));
    sender.join().unwrap();
}

#[test]
fn kill_during_select_loses_nothing() {
    let (tx, rx) = bounded::<u32>(0);
    let (_tx2, rx2) = unbounded::<u32>();
    let rx_sel = rx.clone();
    let selector = spawn(move || {
        select! {
            recv(rx_sel) -> m => m,
            recv(rx2) -> m => m,
        }
    });
    sleep(ms(5));
    selector.kill();
    assert!(selector.join().is_err());
    // The killed select withdrew: a plain receiver gets the message.
    let receiver = spawn(move || rx.recv());
    tx.send(1).unwrap();
    assert_eq!(receiver.join().unwrap(), Ok(1));
}

#[test]
fn with_timeout_unwinds_out_of_a_select() {
    let (tx, rx) = bounded::<u32>(4);
    let r = with_timeout(ms(10), || {
        select! {
            recv(rx) -> m => m,
        }
    });
    assert!(r.is_err());
    tx.send(3).unwrap();
    assert_eq!(rx.recv(), Ok(3));
}

/// Selectors (interrupted again and again by a short `with_timeout`), plain receivers and
/// senders (some selecting), mixed over both engines: every message is received exactly once.
#[test]
fn stress_counts_every_message_once() {
    const PER_SENDER: usize = 10_000;
    const SENDERS: usize = 4;
    for cap in [0usize, 2, 64] {
        let (tx_a, rx_a) = bounded::<usize>(cap);
        let (tx_b, rx_b) = unbounded::<usize>();
        let seen: Arc<Vec<AtomicUsize>> = Arc::new(
            (0..SENDERS * PER_SENDER)
                .map(|_| AtomicUsize::new(0))
                .collect(),
        );
        let receivers: Vec<_> = (0..4)
            .map(|id| {
                let (rx_a, rx_b, seen) = (rx_a.clone(), rx_b.clone(), seen.clone());
                spawn(move || {
                    let record = |m: usize| seen[m].fetch_add(1, Ordering::Relaxed);
                    loop {
                        let got = if id % 2 == 0 {
                            with_timeout(ms(1), || {
                                select! {
                                    recv(rx_a) -> m => m.ok(),
                                    recv(rx_b) -> m => m.ok(),
                                }
                            })
                        } else {
                            Ok(rx_a
                                .recv_timeout(ms(1))
                                .ok()
                                .or_else(|| rx_b.try_recv().ok()))
                        };
                        match got {
                            Ok(Some(m)) => {
                                record(m);
                            }
                            Err(_timed_out) => {}
                            Ok(None) => {
                                // Done once both channels are empty and disconnected.
                                let a = rx_a.try_recv();
                                let b = rx_b.try_recv();
                                for m in [a, b].into_iter().flatten() {
                                    record(m);
                                }
                                if a == Err(TryRecvError::Disconnected)
                                    && b == Err(TryRecvError::Disconnected)
                                {
                                    return;
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        drop((rx_a, rx_b));
        let senders: Vec<_> = (0..SENDERS)
            .map(|s| {
                let (tx_a, tx_b) = (tx_a.clone(), tx_b.clone());
                spawn(move || {
                    for i in s * PER_SENDER..(s + 1) * PER_SENDER {
                        match i % 3 {
                            0 => tx_b.send(i).unwrap(),
                            1 => tx_a.send(i).unwrap(),
                            _ => select! {
                                send(tx_a, i) -> r => r.unwrap(),
                                send(tx_b, i) -> r => r.unwrap(),
                            },
                        }
                    }
                })
            })
            .collect();
        drop((tx_a, tx_b));
        for r in joinall(senders).into_iter().chain(joinall(receivers)) {
            r.unwrap();
        }
        let counts: Vec<usize> = seen.iter().map(|s| s.load(Ordering::Relaxed)).collect();
        assert!(
            counts.iter().all(|&c| c == 1),
            "cap {cap}: a message lost or doubled"
        );
    }
}

#[test]
fn selected_operation_checks_its_channel_and_must_be_completed() {
    let (tx, rx) = unbounded::<u32>();
    let (other_tx, _other_rx) = unbounded::<u32>();
    tx.send(1).unwrap();
    let r = std::panic::catch_unwind(|| {
        let mut sel = Select::new();
        sel.recv(&rx);
        let _ = sel.select(); // dropped uncompleted
    });
    assert!(r.is_err());
    let r = std::panic::catch_unwind(|| {
        let mut sel = Select::new();
        sel.send(&tx);
        sel.select().send(&other_tx, 1)
    });
    assert!(r.is_err(), "completing with another channel panics");
    assert!(tx.same_channel(&tx.clone()) && !tx.same_channel(&other_tx));
}

/// Hundreds of selects wait on the same two channels with scattered timeouts, so their
/// registrations leave the channels' wait lists from everywhere in them (each unlinks its own
/// node) while messages arrive: on every engine, every message is received exactly once.
#[test]
fn many_selects_leaving_the_wait_lists_from_the_middle_lose_nothing() {
    const MESSAGES: usize = 6_000;
    for cap in [0usize, 4, 64] {
        let (tx_a, rx_a) = bounded::<usize>(cap);
        let (tx_b, rx_b) = unbounded::<usize>();
        let seen: Arc<Vec<AtomicUsize>> =
            Arc::new((0..MESSAGES).map(|_| AtomicUsize::new(0)).collect());
        let receive = |id: usize| {
            let (rx_a, rx_b, seen) = (rx_a.clone(), rx_b.clone(), seen.clone());
            move || loop {
                // 1 to 7 ms, different for neighbours in the lists.
                let timeout = ms(1 + (id * 5 % 7) as u64);
                let got = select! {
                    recv(rx_a) -> m => m.ok(),
                    recv(rx_b) -> m => m.ok(),
                    default(timeout) => continue,
                };
                match got {
                    Some(m) => {
                        seen[m].fetch_add(1, Ordering::Relaxed);
                    }
                    None => {
                        // One side is disconnected: drain the other, then stop.
                        while let Ok(m) = rx_a.recv() {
                            seen[m].fetch_add(1, Ordering::Relaxed);
                        }
                        while let Ok(m) = rx_b.recv() {
                            seen[m].fetch_add(1, Ordering::Relaxed);
                        }
                        return;
                    }
                }
            }
        };
        let greenlets: Vec<_> = (0..300).map(|id| spawn(receive(id))).collect();
        let threads: Vec<_> = (300..302)
            .map(|id| std::thread::spawn(receive(id)))
            .collect();
        drop((rx_a, rx_b));
        let sender = spawn(move || {
            for i in 0..MESSAGES {
                if i % 2 == 0 {
                    tx_a.send(i).unwrap();
                } else {
                    tx_b.send(i).unwrap();
                }
                if i % 500 == 0 {
                    sleep(ms(2)); // let the selects time out meanwhile
                }
            }
        });
        sender.join().unwrap();
        for r in joinall(greenlets) {
            r.unwrap();
        }
        for t in threads {
            t.join().unwrap();
        }
        let counts: Vec<usize> = seen.iter().map(|s| s.load(Ordering::Relaxed)).collect();
        assert!(
            counts.iter().all(|&c| c == 1),
            "cap {cap}: a message lost or doubled"
        );
    }
}
