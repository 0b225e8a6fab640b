//! greenlet::pool: Pool and Group.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenlet::pool::{Group, Pool};
use greenlet::{sleep, spawn};

mod common;
use common::wait_for;

#[test]
fn pool_caps_concurrency_and_spawn_waits_while_full() {
    let pool = Pool::new(3);
    assert_eq!((pool.size(), pool.free_count(), pool.len()), (3, 3, 0));
    let inside = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let handles: Vec<_> = (0..12)
        .map(|_| {
            let (inside, max) = (inside.clone(), max.clone());
            pool.spawn(move || {
                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                max.fetch_max(now, Ordering::SeqCst);
                sleep(Duration::from_millis(10));
                inside.fetch_sub(1, Ordering::SeqCst);
            })
        })
        .collect();
    // 12 jobs of 10 ms, 3 at a time: spawning the last had to wait for ~3 rounds.
    assert!(
        t0.elapsed() >= Duration::from_millis(25),
        "{:?}",
        t0.elapsed()
    );
    assert!(pool.len() <= 3);
    pool.join();
    assert_eq!(max.load(Ordering::SeqCst), 3);
    assert_eq!(pool.len(), 0);
    assert_eq!(pool.free_count(), 3);
    assert!(handles.iter().all(|h| h.is_finished()));
}

#[test]
fn map_keeps_input_order_and_imap_unordered_yields_all() {
    let pool = Pool::new(4);
    let out = pool.map(
        |x: u64| {
            sleep(Duration::from_millis(20 - x));
            x * 10
        },
        0..20,
    );
    assert_eq!(out, (0..20).map(|x| x * 10).collect::<Vec<_>>());
    let mut un: Vec<u64> = pool.imap_unordered(|x: u64| x + 1, vec![5, 1, 3]).collect();
    un.sort();
    assert_eq!(un, [2, 4, 6]);
    assert_eq!(Group::new().map(|s: &str| s.len(), ["a", "bb"]), [1, 2]);
    // Any IntoIterator, a borrowing one included.
    let owned = [1u64, 2, 3];
    let mut doubled: Vec<u64> = pool
        .imap_unordered(|x: u64| x * 2, owned.iter().copied())
        .collect();
    doubled.sort();
    assert_eq!(doubled, [2, 4, 6]);
    assert_eq!(
        pool.map(|x: &'static str| x.len(), ["abc"].iter().copied()),
        [3]
    );
}

#[test]
fn a_panic_in_map_resumes_in_the_caller_after_the_rest_finish() {
    let pool = Pool::new(2);
    let finished = Arc::new(AtomicUsize::new(0));
    let f = finished.clone();
    let err = catch_unwind(AssertUnwindSafe(|| {
        pool.map(
            move |x: u32| {
                if x == 1 {
                    panic!("bad item {x}");
                }
                sleep(Duration::from_millis(5));
                f.fetch_add(1, Ordering::SeqCst);
            },
            0..6,
        )
    }))
    .unwrap_err();
    assert_eq!(
        err.downcast_ref::<String>().map(String::as_str),
        Some("bad item 1")
    );
    assert_eq!(finished.load(Ordering::SeqCst), 5);

    let mut it = pool.imap_unordered(
        |x: u32| {
            if x == 2 {
                panic!("imap boom");
            }
            x
        },
        0..3,
    );
    let err = catch_unwind(AssertUnwindSafe(|| while it.next().is_some() {})).unwrap_err();
    assert_eq!(err.downcast_ref::<&str>(), Some(&"imap boom"));
}

#[test]
fn kill_returns_once_all_are_dead_and_frees_the_slots() {
    let pool = Pool::new(2);
    let hs: Vec<_> = (0..2)
        .map(|_| pool.spawn(|| sleep(Duration::from_secs(3600))))
        .collect();
    // A third spawn waits for a slot; kill it from another greenlet meanwhile.
    let p = pool.clone();
    let waiting = spawn(move || p.spawn(|| 3).join().unwrap());
    sleep(Duration::from_millis(10));
    assert_eq!(pool.free_count(), 0);
    pool.kill();
    assert_eq!(pool.len(), 0);
    for h in hs {
        assert!(h.join().unwrap_err().is_killed());
    }
    // The slots came back: the waiting spawn got one (or was killed with the pool).
    let r = waiting.join();
    assert!(matches!(r, Ok(3)) || r.is_err());
    pool.join();
    assert_eq!(pool.free_count(), 2);
}

#[test]
fn killed_before_start_still_gives_the_slot_back() {
    let pool = Pool::new(1);
    for _ in 0..100 {
        let g = pool.spawn(|| 1);
        g.kill();
        let _ = g.join();
    }
    pool.join();
    assert_eq!(pool.free_count(), 1);
}

#[test]
fn group_tracks_join_kill_len() {
    let group = Group::new();
    for i in 0..10u64 {
        group.spawn(move || sleep(Duration::from_millis(i)));
    }
    assert!(group.len() <= 10);
    group.join();
    assert_eq!(group.len(), 0);
    let hs: Vec<_> = (0..5)
        .map(|_| group.spawn(|| sleep(Duration::from_secs(3600))))
        .collect();
    assert_eq!(group.len(), 5);
    group.kill();
    assert!(group.is_empty());
    for h in hs {
        assert!(h.join().unwrap_err().is_killed());
    }
}

/// A mapped function that counts its starts and then sleeps for an hour.
fn counted_sleeper(started: &Arc<AtomicUsize>) -> impl Fn(u32) -> u32 + Send + Sync + 'static {
    let started = started.clone();
    move |i| {
        started.fetch_add(1, Ordering::SeqCst);
        sleep(Duration::from_secs(3600));
        i
    }
}

#[test]
fn kill_stops_an_imap_unordered_feeder() {
    // Before the fix the feeder went on spawning items into the pool after kill returned.
    let pool = Pool::new(1);
    let started = Arc::new(AtomicUsize::new(0));
    let mut results = pool.imap_unordered(counted_sleeper(&started), 0..100);
    wait_for(
        || started.load(Ordering::SeqCst) == 1,
        "the first item started",
    );
    pool.kill();
    assert_eq!(pool.len(), 0);
    // Give a feeder that went on time to show it (no false failure: nothing may start).
    sleep(Duration::from_millis(50));
    assert_eq!(
        started.load(Ordering::SeqCst),
        1,
        "an item started after kill"
    );
    assert_eq!(pool.len(), 0);
    assert_eq!(pool.free_count(), 1);
    // The iterator says the map was cut short (it would wait for an hour otherwise).
    let next = greenlet::with_timeout(Duration::from_secs(10), || {
        catch_unwind(AssertUnwindSafe(|| results.next()))
    })
    .expect("the iterator ends at once");
    let err = next.unwrap_err();
    assert!(err.downcast_ref::<String>().unwrap().contains("killed"));
    assert!(results.next().is_none());
    pool.join(); // nothing left
                 // The pool is usable again.
    let mut again: Vec<u32> = pool.imap_unordered(|x: u32| x * 2, [1, 2]).collect();
    again.sort();
    assert_eq!(again, [2, 4]);
}

#[test]
fn kill_stops_a_map_in_progress_in_another_greenlet() {
    // Before the fix the map went on spawning its next item once the killed one was joined.
    let pool = Pool::new(1);
    let started = Arc::new(AtomicUsize::new(0));
    let p = pool.clone();
    let f = counted_sleeper(&started);
    let mapper = spawn(move || p.map(f, 0..100));
    wait_for(
        || started.load(Ordering::SeqCst) == 1,
        "the first item started",
    );
    pool.kill();
    assert!(
        mapper.wait_timeout(Duration::from_secs(10)),
        "the map went on after kill"
    );
    assert_eq!(
        started.load(Ordering::SeqCst),
        1,
        "an item started after kill"
    );
    let err = mapper.join().unwrap_err();
    assert!(err.panic_message().unwrap().contains("killed"), "{err}");
    assert_eq!(pool.len(), 0);
    assert_eq!(pool.map(|x: u32| x + 1, [1, 2]), [2, 3]);
}

#[test]
fn join_in_another_greenlet_returns_when_the_pool_is_killed() {
    // join waits for the feeder too; a kill ends both.
    let pool = Pool::new(2);
    let started = Arc::new(AtomicUsize::new(0));
    let _results = pool.imap_unordered(counted_sleeper(&started), 0..100);
    let p = pool.clone();
    let joiner = spawn(move || p.join());
    wait_for(|| started.load(Ordering::SeqCst) == 2, "two items started");
    assert!(!joiner.is_finished());
    pool.kill();
    assert!(joiner.wait_timeout(Duration::from_secs(10)));
    joiner.join().unwrap();
    assert_eq!(started.load(Ordering::SeqCst), 2);
}

#[test]
fn kill_and_spawn_storm_leaves_nothing_running() {
    // Spawners, mappers and kills racing: after each kill returns, whatever started before it
    // is dead; at the end every slot is back.
    let pool = Pool::new(4);
    let live = Arc::new(AtomicUsize::new(0));
    let spawners: Vec<_> = (0..4)
        .map(|i| {
            let (pool, live) = (pool.clone(), live.clone());
            spawn(move || {
                for round in 0..50u64 {
                    let live = live.clone();
                    let job = move |x: u64| {
                        live.fetch_add(1, Ordering::SeqCst);
                        let _out = Decrement(live.clone());
                        sleep(Duration::from_micros(50 * (x % 7)));
                        x
                    };
                    let _ = catch_unwind(AssertUnwindSafe(|| match (i + round) % 3 {
                        0 => drop(pool.spawn(move || job(round)).join()),
                        1 => drop(pool.map(job, 0..5)),
                        _ => drop(pool.imap_unordered(job, 0..5).count()),
                    }));
                }
            })
        })
        .collect();
    for _ in 0..20 {
        sleep(Duration::from_millis(2));
        pool.kill();
    }
    for s in spawners {
        s.join().unwrap();
    }
    pool.kill();
    assert_eq!(live.load(Ordering::SeqCst), 0);
    assert_eq!(pool.len(), 0);
    assert_eq!(pool.free_count(), 4);
}

struct Decrement(Arc<AtomicUsize>);

impl Drop for Decrement {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
