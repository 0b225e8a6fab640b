//! Deadlock avoidance: acquire several locks in one global order (by address, like Python's
//! `id()`), and report a nested acquire that breaks the order instead of deadlocking. The list of
//! locks a greenlet holds is a `greenlet::local::Local`, the greenlet version of
//! `threading.local()`.
//!
//!     cargo run --release --example deadlock_avoidance

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use greenlet::local::Local;
use greenlet::sync::{Mutex, MutexGuard};
use greenlet::{joinall, sleep, spawn, with_timeout, yield_now};

/// The ids of the locks the current greenlet holds through `acquire`, in acquisition order.
static ACQUIRED: Local<RefCell<Vec<usize>>> = Local::new(|| RefCell::new(Vec::new()));

fn id(lock: &Mutex<()>) -> usize {
    lock as *const Mutex<()> as usize
}

/// A nested `acquire` asked for a lock that sorts before one already held.
#[derive(Debug)]
struct LockOrderViolation;

impl fmt::Display for LockOrderViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Lock Order Violation")
    }
}

/// Holds the locks taken by `acquire`; releases them in reverse order when dropped.
struct Acquired<'a> {
    guards: Vec<MutexGuard<'a, ()>>,
    count: usize,
}

impl Drop for Acquired<'_> {
    fn drop(&mut self) {
        while self.guards.pop().is_some() {}
        ACQUIRED.with(|held| {
            let mut held = held.borrow_mut();
            let keep = held.len() - self.count;
            held.truncate(keep);
        });
    }
}

/// Acquires every lock of `locks`, lowest id first, whatever order they are given in.
fn acquire<'a>(locks: &[&'a Mutex<()>]) -> Result<Acquired<'a>, LockOrderViolation> {
    let mut locks = locks.to_vec();
    locks.sort_by_key(|l| id(l));
    ACQUIRED.with(|held| {
        let mut held = held.borrow_mut();
        if held.iter().any(|&h| h >= id(locks[0])) {
            return Err(LockOrderViolation);
        }
        held.extend(locks.iter().map(|l| id(l)));
        Ok(())
    })?;
    Ok(Acquired {
        guards: locks.iter().map(|l| l.lock()).collect(),
        count: locks.len(),
    })
}

fn main() {
    let x_lock = Arc::new(Mutex::new(()));
    let y_lock = Arc::new(Mutex::new(()));

    // Taking them in the order given deadlocks: each greenlet holds one and waits for the other.
    // A timeout turns the hang into an error here.
    let naive = |first: Arc<Mutex<()>>, second: Arc<Mutex<()>>| {
        spawn(move || {
            with_timeout(Duration::from_millis(200), || {
                let _a = first.lock();
                sleep(Duration::from_millis(20));
                let _b = second.lock();
            })
        })
    };
    let stuck = joinall([
        naive(x_lock.clone(), y_lock.clone()),
        naive(y_lock.clone(), x_lock.clone()),
    ]);
    // The first timeout frees its lock, so the other greenlet may then finish.
    let deadlocked = stuck.iter().any(|r| matches!(r, Ok(Err(_))));
    println!("locks taken in the order given: deadlocked, broken by a timeout: {deadlocked}");

    // thread_1 asks for (x, y), thread_2 for (y, x): acquire sorts them, so no deadlock.
    let thread = |name: &'static str, a: Arc<Mutex<()>>, b: Arc<Mutex<()>>| {
        spawn(move || {
            for i in 0..10_000 {
                let _both = acquire(&[&a, &b]).expect("no nesting here");
                if i % 1000 == 0 {
                    yield_now(); // give the other greenlet its chance at the locks
                }
            }
            println!("{name} took both locks 10000 times");
        })
    };
    joinall([
        thread("Thread-1", x_lock.clone(), y_lock.clone()),
        thread("Thread-2", y_lock.clone(), x_lock.clone()),
    ]);

    // A nested acquire that goes against the order is reported, not deadlocked on.
    let (low, high) = if id(&x_lock) < id(&y_lock) {
        (&x_lock, &y_lock)
    } else {
        (&y_lock, &x_lock)
    };
    let outer = acquire(&[high]).unwrap();
    match acquire(&[low]) {
        Ok(_) => println!("nested acquire: allowed"),
        Err(e) => println!("nested acquire against the order: {e}"),
    }
    drop(outer);
    let ok = acquire(&[low]).and_then(|outer| acquire(&[high]).map(|inner| (outer, inner)));
    println!(
        "nested acquire in order: {}",
        if ok.is_ok() { "ok" } else { "error" }
    );
}
