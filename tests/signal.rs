//! greenlet::signal::Signals: signals arriving before recv are kept, recv parks only its
//! greenlet, kill and timeouts interrupt it, forbidden signals are errors. Each test uses its own
//! real-time signal, so that tests running at once do not see each other's signals.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use greenlet::signal::Signals;
use greenlet::{spawn, with_timeout};

fn rt(n: i32) -> i32 {
    libc::SIGRTMIN() + n
}

fn raise(sig: i32) {
    // SAFETY: raise only sends a signal to this process (its handler is installed first).
    assert_eq!(unsafe { libc::raise(sig) }, 0);
}

#[test]
fn a_signal_raised_before_recv_is_not_lost() {
    let signals = Signals::new([rt(1)]).unwrap();
    raise(rt(1));
    std::thread::sleep(Duration::from_millis(20));
    let g = spawn(move || signals.recv());
    assert_eq!(g.join().unwrap(), rt(1));
}

#[test]
fn recv_parks_only_its_greenlet_and_wakes_on_a_signal_from_another_thread() {
    let signals = Arc::new(Signals::new([rt(2), rt(3)]).unwrap());
    let ticks = Arc::new(AtomicUsize::new(0));
    let t = ticks.clone();
    let ticker = spawn(move || loop {
        t.fetch_add(1, SeqCst);
        greenlet::sleep(Duration::from_millis(1));
    });
    let s = signals.clone();
    let waiter = spawn(move || (s.recv(), s.recv()));
    while ticks.load(SeqCst) < 5 {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(!waiter.is_finished());
    std::thread::spawn(|| raise(rt(2))).join().unwrap();
    std::thread::sleep(Duration::from_millis(5));
    raise(rt(3));
    assert_eq!(waiter.join().unwrap(), (rt(2), rt(3)));
    ticker.kill();
    // On a plain thread, recv blocks the thread.
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(10));
        raise(rt(2));
    });
    assert_eq!(signals.recv(), rt(2));
}

#[test]
fn try_recv_recv_timeout_and_the_iterator() {
    let mut signals = Signals::new([rt(4)]).unwrap();
    assert_eq!(signals.try_recv(), None);
    assert_eq!(signals.recv_timeout(Duration::from_millis(5)), None);
    raise(rt(4));
    assert_eq!(signals.try_recv(), Some(rt(4)));
    raise(rt(4));
    assert_eq!(signals.recv_timeout(Duration::MAX), Some(rt(4)));
    raise(rt(4));
    assert_eq!((&signals).next(), Some(rt(4)));
    raise(rt(4));
    assert_eq!(signals.next(), Some(rt(4)));
}

#[test]
fn kill_and_with_timeout_interrupt_recv() {
    let signals = Arc::new(Signals::new([rt(5)]).unwrap());
    let s = signals.clone();
    let g = spawn(move || s.recv());
    greenlet::sleep(Duration::from_millis(10));
    g.kill();
    assert!(g.join().unwrap_err().is_killed());
    let s = signals.clone();
    let g = spawn(move || with_timeout(Duration::from_millis(10), || s.recv()));
    assert!(g.join().unwrap().is_err());
    assert!(with_timeout(Duration::from_millis(10), || signals.recv()).is_err());
    // The waits left nothing behind: the next signal is received.
    raise(rt(5));
    assert_eq!(signals.recv(), rt(5));
}

#[test]
fn every_instance_watching_a_signal_gets_it_and_add_signal_works() {
    let a = Signals::new([rt(6)]).unwrap();
    let b = Signals::new([rt(7)]).unwrap();
    b.add_signal(rt(6)).unwrap();
    raise(rt(6));
    assert_eq!(a.recv(), rt(6));
    assert_eq!(b.recv(), rt(6));
    raise(rt(7));
    assert_eq!(b.recv(), rt(7));
    assert_eq!(a.try_recv(), None);
}

#[test]
fn forbidden_and_invalid_signals_are_errors_not_panics() {
    for sig in [
        libc::SIGKILL,
        libc::SIGSTOP,
        libc::SIGSEGV,
        libc::SIGILL,
        libc::SIGFPE,
    ] {
        let e = Signals::new([sig]).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{sig}: {e}");
    }
    for sig in [0, -1, 1000, libc::SIGRTMAX() + 1, i32::MAX] {
        let e = Signals::new([sig]).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{sig}: {e}");
    }
    let ok = Signals::new([rt(8)]).unwrap();
    assert!(ok.add_signal(libc::SIGKILL).is_err());
    assert!(ok.add_signal(200).is_err());
}
