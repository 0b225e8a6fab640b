//! Stacks: 100,000 parked greenlets under the stock vm.max_map_count, stack overflow reports,
//! bad stack sizes, and running out of mappings or address space (an error from
//! `Builder::spawn`, a panic in `spawn`'s caller, never an abort). The `mprotect` guard pages of
//! kernels before 6.13 are tested by running some of these tests again in a child process with
//! `GREENLET_STACK_GUARD=mprotect`.

use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenlet::sync::Event;
use greenlet::{spawn, Builder, Greenlet};

mod common;
use common::{assert_contains, child_tests, child_tests_pass};

fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count()
}

/// Spawns `n` greenlets that each wait for the event returned (every one of them holding its
/// stack) and then return their index; returns once all of them are parked.
fn spawn_parked(n: usize) -> (Arc<Event>, Vec<Greenlet<usize>>) {
    let event = Arc::new(Event::new());
    let parked = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let (event, parked) = (event.clone(), parked.clone());
            spawn(move || {
                parked.fetch_add(1, Ordering::SeqCst);
                event.wait();
                i
            })
        })
        .collect();
    wait_parked(&parked, n);
    (event, handles)
}

/// Sets `event` and checks that each of the greenlets of [`spawn_parked`] returned its index.
fn release(event: &Event, handles: Vec<Greenlet<usize>>) {
    let n = handles.len();
    event.set();
    let sum: usize = greenlet::joinall(handles)
        .into_iter()
        .map(Result::unwrap)
        .sum();
    assert_eq!(sum, n * (n - 1) / 2);
}

#[test]
fn hundred_thousand_parked_greenlets_at_default_settings() {
    const N: usize = 100_000;
    let (event, handles) = spawn_parked(N);
    // Every one of them holds a stack now; far fewer mappings than stacks.
    let maps = mappings();
    assert!(maps < 20_000, "{maps} mappings for {N} stacks");
    release(&event, handles);
}

fn recurse(depth: u64) -> u64 {
    let frame = [depth as u8; 512];
    let below = if depth == 0 { 0 } else { recurse(depth - 1) };
    std::hint::black_box(&frame)[0] as u64 + below
}

#[test]
fn overflow_child() {
    if std::env::var("OVERFLOW_CHILD").is_err() {
        return;
    }
    let named = std::env::var("OVERFLOW_CHILD").unwrap() == "named";
    let mut b = Builder::new().stack_size(64 << 10);
    if named {
        b = b.name("deep-diver");
    }
    let g = b.spawn(|| recurse(u64::MAX)).unwrap();
    let _ = g.join();
    unreachable!("the overflow must abort the process");
}

/// Runs `overflow_child` with `kind` in a child process, checks that the overflow aborted it,
/// and returns its stderr.
fn overflow_report(kind: &str) -> String {
    let out = child_tests(&["overflow_child"], &[("OVERFLOW_CHILD", kind)]);
    let stderr = common::stderr(&out);
    assert_eq!(
        out.status.signal(),
        Some(libc_sigabrt()),
        "status {:?}, stderr: {stderr}",
        out.status
    );
    stderr
}

#[test]
fn stack_overflow_is_reported_with_name_and_size_then_aborts() {
    assert_contains(
        &overflow_report("named"),
        &[
            "stack overflow in greenlet 'deep-diver'",
            "65536 bytes",
            "Builder::stack_size",
        ],
    );
}

#[test]
fn stack_overflow_of_an_unnamed_greenlet_names_its_id() {
    assert_contains(
        &overflow_report("unnamed"),
        &["stack overflow in greenlet (id "],
    );
}

fn libc_sigabrt() -> i32 {
    6
}

#[test]
fn stack_sizes_out_of_range_are_errors_not_panics() {
    for bad in [
        0,
        1,
        4096,
        greenlet::MIN_STACK_SIZE - 1,
        greenlet::MAX_STACK_SIZE + 1,
        1 << 60,
        usize::MAX,
    ] {
        let err = Builder::new().stack_size(bad).spawn(|| ()).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{bad}: {err}");
        let text = err.to_string();
        assert!(text.contains(&bad.to_string()), "{text}");
        assert!(text.contains("out of range"), "{text}");
        assert!(text.contains("MAX_STACK_SIZE"), "{text}");
    }
    // Every size in range works, whatever its rounding.
    for ok in [
        greenlet::MIN_STACK_SIZE,
        greenlet::MIN_STACK_SIZE + 1,
        100_000,
        (1 << 20) + 12_345,
    ] {
        let g = Builder::new().stack_size(ok).spawn(move || ok).unwrap();
        assert_eq!(g.join().unwrap(), ok);
    }
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

#[test]
fn the_stacks_of_a_released_burst_give_their_memory_back() {
    match std::env::var("STACKS_CHILD").as_deref() {
        Ok("give_back") => give_back_after_a_burst(),
        Ok(_) => {}
        // In a child process, where no other test's greenlets blur the resident memory.
        Err(_) => {
            let out = child_tests_pass(
                &["the_stacks_of_a_released_burst_give_their_memory_back"],
                &[("STACKS_CHILD", "give_back")],
            );
            assert!(out.contains("give-back child: "), "{out}");
        }
    }
}

/// 100,000 parked greenlets, then none: the resident memory falls back to near where it was.
fn give_back_after_a_burst() {
    const N: usize = 100_000;
    let before = rss_kb();
    let (event, handles) = spawn_parked(N);
    let parked = rss_kb();
    assert!(
        parked > before + 200_000,
        "{before} -> {parked} kB for {N} stacks"
    );
    release(&event, handles);
    // The excess over what the pool keeps goes back at once, the rest with idle workers'
    // trims (two intervals of a second): wait for most of it.
    let enough = before + (parked - before) / 4;
    let t0 = Instant::now();
    while rss_kb() > enough && t0.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let now = rss_kb();
    println!("give-back child: {before} -> {parked} -> {now} kB");
    assert!(
        now <= enough,
        "resident memory {before} kB before {N} parked greenlets, {parked} kB with them, {now} kB \
         20 s after they ended"
    );
}

fn in_mprotect_child() -> bool {
    std::env::var("STACKS_CHILD").as_deref() == Ok("mprotect")
}

#[test]
fn mprotect_guards_report_overflows_and_cost_two_mappings_per_stack() {
    if std::env::var("STACKS_CHILD").is_ok() {
        return;
    }
    let out = child_tests_pass(
        &[
            "stack_overflow_is_reported_with_name_and_size_then_aborts",
            "stack_overflow_of_an_unnamed_greenlet_names_its_id",
            "stack_sizes_out_of_range_are_errors_not_panics",
            "mprotect_child_many_greenlets",
        ],
        &[
            ("GREENLET_STACK_GUARD", "mprotect"),
            ("STACKS_CHILD", "mprotect"),
        ],
    );
    assert!(out.contains("4 passed"), "{out}");
    assert!(out.contains("mprotect child: "), "{out}");
}

#[test]
fn mprotect_child_many_greenlets() {
    if !in_mprotect_child() {
        return;
    }
    const N: usize = 10_000;
    let before = mappings();
    let (event, handles) = spawn_parked(N);
    // The fallback is in force: a guard page splits the mapping, two mappings per stack.
    let maps = mappings();
    assert!(
        maps >= before + 2 * N,
        "{before} -> {maps} mappings for {N} stacks"
    );
    println!("mprotect child: {before} -> {maps} mappings for {N} stacks");
    release(&event, handles);
}

fn wait_parked(parked: &AtomicUsize, n: usize) {
    let t0 = Instant::now();
    while parked.load(Ordering::SeqCst) < n {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "only {} of {n} parked",
            parked.load(Ordering::SeqCst)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Spawns parked greenlets until `Builder::spawn` fails (at most `limit`), checks that `spawn`
/// then panics in the caller with the same kind of message, releases them all and checks they
/// end well. Returns the error and how many were spawned.
fn exhaust(limit: usize, before_release: impl FnOnce()) -> (std::io::Error, usize) {
    let event = Arc::new(Event::new());
    let parked = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::with_capacity(limit);
    let err = loop {
        assert!(handles.len() < limit, "no error after {limit} greenlets");
        let (e, p) = (event.clone(), parked.clone());
        match Builder::new().spawn(move || {
            p.fetch_add(1, Ordering::SeqCst);
            e.wait();
        }) {
            Ok(g) => handles.push(g),
            Err(err) => break err,
        }
        if handles.len() % 64 == 0 {
            // Let them take their stacks, as a server's connections would.
            while parked.load(Ordering::SeqCst) + 64 < handles.len() {
                std::thread::yield_now();
            }
        }
    };
    let spawned = handles.len();
    // `spawn` panics in the caller with the same message. Not always at once: the check is best
    // effort. It counts the stacks free in the pool, and a stack a queued greenlet will take
    // when it starts is still free until then; under load the workers start them late. So
    // before each try, let every greenlet spawned so far start (and park, or end without a
    // stack), and try until the pool is truly empty.
    let mut message = None;
    for _ in 0..20_000 {
        let t0 = std::time::Instant::now();
        while parked.load(Ordering::SeqCst) + handles.iter().filter(|g| g.is_finished()).count()
            < handles.len()
            && t0.elapsed() < std::time::Duration::from_secs(10)
        {
            std::thread::yield_now();
        }
        let (e, p) = (event.clone(), parked.clone());
        match std::panic::catch_unwind(move || {
            spawn(move || {
                p.fetch_add(1, Ordering::SeqCst);
                e.wait();
            })
        }) {
            Ok(g) => handles.push(g),
            Err(panic) => {
                message = Some(panic.downcast_ref::<String>().cloned().unwrap_or_default());
                break;
            }
        }
    }
    let message = message
        .unwrap_or_else(|| panic!("spawn never panicked after Builder::spawn failed with: {err}"));
    before_release();
    event.set();
    for g in handles {
        // A greenlet that started after the last stack was taken ends with the same error.
        if let Err(e) = g.join() {
            assert!(e.to_string().contains("greenlet stacks"), "{e}");
        }
    }
    // The panic message of `spawn` is the error of `Builder::spawn`.
    assert!(message.contains("greenlet stacks"), "{message}");
    // With every stack back in the pool, spawning works again.
    assert_eq!(spawn(|| 5).join().unwrap(), 5);
    (err, spawned)
}

#[test]
fn running_out_of_mappings_is_an_error_naming_vm_max_map_count() {
    if std::env::var("STACKS_CHILD").is_ok() {
        if std::env::var("STACKS_CHILD").as_deref() == Ok("maps") {
            let (err, spawned) = exhaust(200_000, || ());
            println!("maps child: error after {spawned} greenlets: {err}");
            assert_eq!(err.kind(), std::io::ErrorKind::OutOfMemory, "{err}");
            let text = err.to_string();
            assert!(text.contains("vm.max_map_count"), "{text}");
            assert!(text.contains("sysctl -w vm.max_map_count="), "{text}");
            assert!(spawned > 20_000, "{spawned}: {text}");
        }
        return;
    }
    // Two mappings per stack reach the stock limit with ~32,000 greenlets, without touching
    // the machine's vm.max_map_count.
    let out = child_tests_pass(
        &["running_out_of_mappings_is_an_error_naming_vm_max_map_count"],
        &[
            ("GREENLET_STACK_GUARD", "mprotect"),
            ("STACKS_CHILD", "maps"),
        ],
    );
    assert!(out.contains("maps child: error after"), "{out}");
}

#[test]
fn running_out_of_address_space_is_an_error_not_an_abort() {
    if std::env::var("STACKS_CHILD").is_ok() {
        if std::env::var("STACKS_CHILD").as_deref() == Ok("rlimit") {
            // Start the runtime (its threads and their mappings) before the limit.
            assert_eq!(spawn(|| 1).join().unwrap(), 1);
            let status = std::fs::read_to_string("/proc/self/status").unwrap();
            let vm_kb: u64 = status
                .lines()
                .find(|l| l.starts_with("VmSize:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap();
            // Room for about 1,000 default stacks, and a ballast given back once the stacks
            // have run out, so that the allocator has room for what follows.
            let ballast: Vec<u8> = Vec::with_capacity(64 << 20);
            let limit = vm_kb * 1024 + (64 << 20) + (256 << 20);
            let rl = libc::rlimit {
                rlim_cur: limit,
                rlim_max: libc::RLIM_INFINITY,
            };
            // SAFETY: setrlimit with a valid struct only changes this process's limit.
            assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &rl) }, 0);
            let (err, spawned) = exhaust(100_000, move || drop(ballast));
            println!("rlimit child: error after {spawned} greenlets: {err}");
            assert_eq!(err.kind(), std::io::ErrorKind::OutOfMemory, "{err}");
            assert!(err.to_string().contains("ulimit -v"), "{err}");
            assert!(spawned > 100, "{spawned}: {err}");
        }
        return;
    }
    let out = child_tests_pass(
        &["running_out_of_address_space_is_an_error_not_an_abort"],
        &[("STACKS_CHILD", "rlimit")],
    );
    assert!(out.contains("rlimit child: error after"), "{out}");
}
