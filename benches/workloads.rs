//! The benchmark workloads of BENCHMARKS.md, one per call:
//!
//!     cargo bench --bench workloads -- WORKLOAD N [M]
//!
//! `WORKERS` sets the number of worker threads (default: one per core). One result line goes to
//! stdout, everything else to stderr. With no workload, every workload runs at its default size.

use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenlet::channel;
use greenlet::sync::Event;

/// (name, default N, default M)
const WORKLOADS: &[(&str, u64, u64)] = &[
    ("spawn", 1_000_000, 0),
    ("pingpong", 1_000_000, 0),
    ("yield", 10_000_000, 0),
    ("sleepers", 100_000, 0),
    ("park", 100_000, 0),
    ("cpu", 16, 0),
    ("channel_mpmc", 1_000_000, 0),
    ("echo", 100, 10_000),
];

struct Outcome {
    seconds: f64,
    per_op_ns: f64,
    extra: Vec<(String, String)>,
}

impl Outcome {
    fn per_op(seconds: f64, n: u64) -> Outcome {
        Outcome {
            seconds,
            per_op_ns: seconds * 1e9 / n as f64,
            extra: Vec::new(),
        }
    }

    fn with(mut self, key: &str, value: impl ToString) -> Outcome {
        self.extra.push((key.to_string(), value.to_string()));
        self
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let workers = std::env::var("WORKERS")
        .ok()
        .and_then(|w| w.parse::<usize>().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    greenlet::configure(greenlet::Config::default().workers(workers))
        .expect("configure runs first");

    let runs: Vec<(String, u64, u64)> = match args.first() {
        None => WORKLOADS
            .iter()
            .map(|&(w, n, m)| (w.to_string(), n, m))
            .collect(),
        Some(w) => {
            let Some(&(_, dn, dm)) =
                WORKLOADS
                    .iter()
                    .find(|(name, _, _)| name == w)
                    .or(match w.as_str() {
                        "cpu_phase" => Some(&("cpu_phase", 16, 0)),
                        "echo_skewed" => Some(&("echo_skewed", 100, 10_000)),
                        "timeouts" => Some(&("timeouts", 100_000, 0)),
                        _ => None,
                    })
            else {
                // The peers' contract: a workload this peer does not do is skipped, not failed
                // (`http` and Go's `http-raw` are run by the launcher, not by this binary).
                let n = args.get(1).map_or("0", String::as_str);
                println!("peer=greenlet workload={w} n={n} skipped=unknown_workload");
                return ExitCode::SUCCESS;
            };
            let n = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(dn);
            let m = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(dm);
            vec![(w.clone(), n, m)]
        }
    };

    let driver_on_thread = std::env::var("DRIVER").is_ok_and(|d| d == "thread");
    let mut ok = true;
    for (workload, n, m) in runs {
        let w = workload.clone();
        // Like Go's main goroutine: the workload runs inside a greenlet. `DRIVER=thread` runs it
        // on this plain thread instead (a diagnostic, like may's `DRIVER=coroutine` the other
        // way round; a panic there ends the process).
        let result = if driver_on_thread {
            Ok(run(&w, n, m))
        } else {
            greenlet::spawn(move || run(&w, n, m)).join()
        };
        match result {
            Ok(Ok(out)) => {
                let mut line = format!(
                    "peer=greenlet workload={workload} n={n} seconds={:.6} per_op_ns={:.1}",
                    out.seconds, out.per_op_ns
                );
                for (k, v) in &out.extra {
                    line.push_str(&format!(" {k}={v}"));
                }
                line.push_str(&format!(" workers={workers}"));
                println!("{line}");
            }
            Ok(Err(reason)) => {
                println!("peer=greenlet workload={workload} n={n} failed={reason}");
                ok = false;
            }
            Err(e) => {
                println!(
                    "peer=greenlet workload={workload} n={n} failed=panic:{}",
                    e.to_string().replace(' ', "_")
                );
                ok = false;
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn run(workload: &str, n: u64, m: u64) -> Result<Outcome, String> {
    match workload {
        "spawn" => spawn(n),
        "pingpong" => pingpong(n),
        "yield" => yields(n),
        "sleepers" => sleepers(n),
        "park" => park(n),
        "cpu" => cpu(n),
        "cpu_phase" => cpu_phase(n),
        "channel_mpmc" => channel_mpmc(n),
        "echo" => echo(n, m),
        "echo_skewed" => echo_skewed(n, m),
        "timeouts" => timeouts(n),
        other => Err(format!("unknown_workload_{other}")),
    }
}

/// Runs `measure` twice: the first (cold: fresh stacks and heap are page-faulted in) is the
/// headline figure, the second (warm: memory reused) is reported as `warm_seconds` and
/// `warm_per_op_ns`.
fn cold_and_warm(
    n: u64,
    measure: impl Fn(u64) -> Result<Outcome, String>,
    per_op: impl Fn(f64) -> f64,
) -> Result<Outcome, String> {
    let cold = measure(n)?;
    let warm = measure(n)?;
    Ok(cold
        .with("warm_seconds", format!("{:.6}", warm.seconds))
        .with("warm_per_op_ns", format!("{:.1}", per_op(warm.seconds))))
}

fn spawn(n: u64) -> Result<Outcome, String> {
    cold_and_warm(n, spawn_once, |s| s * 1e9 / n as f64)
}

fn spawn_once(n: u64) -> Result<Outcome, String> {
    let t0 = Instant::now();
    let handles: Vec<_> = (0..n).map(|i| greenlet::spawn(move || i)).collect();
    let mut sum = 0u64;
    for h in handles {
        sum += h.join().map_err(|e| e.to_string())?;
    }
    let secs = t0.elapsed().as_secs_f64();
    if sum != n * (n.saturating_sub(1)) / 2 {
        return Err(format!("wrong_sum_{sum}"));
    }
    Ok(Outcome::per_op(secs, n).with("sum", sum))
}

fn pingpong(n: u64) -> Result<Outcome, String> {
    let (ping_tx, ping_rx) = channel::bounded::<u64>(1);
    let (pong_tx, pong_rx) = channel::bounded::<u64>(1);
    let t0 = Instant::now();
    let ponger = greenlet::spawn(move || {
        for v in ping_rx.iter() {
            if pong_tx.send(v + 1).is_err() {
                break;
            }
        }
    });
    let mut token = 0;
    for _ in 0..n {
        ping_tx.send(token).map_err(|e| e.to_string())?;
        token = pong_rx.recv().map_err(|e| e.to_string())?;
    }
    drop(ping_tx);
    ponger.join().map_err(|e| e.to_string())?;
    let secs = t0.elapsed().as_secs_f64();
    if token != n {
        return Err(format!("wrong_token_{token}"));
    }
    Ok(Outcome::per_op(secs, n))
}

fn yields(n: u64) -> Result<Outcome, String> {
    const GREENLETS: u64 = 1000;
    let per = (n / GREENLETS).max(1);
    let start = Arc::new(Event::new());
    let handles: Vec<_> = (0..GREENLETS)
        .map(|_| {
            let start = start.clone();
            greenlet::spawn(move || {
                start.wait();
                for _ in 0..per {
                    greenlet::yield_now();
                }
            })
        })
        .collect();
    greenlet::sleep(Duration::from_millis(20));
    let t0 = Instant::now();
    start.set();
    for h in handles {
        h.join().map_err(|e| e.to_string())?;
    }
    let secs = t0.elapsed().as_secs_f64();
    Ok(Outcome::per_op(secs, per * GREENLETS))
}

fn sleepers(n: u64) -> Result<Outcome, String> {
    cold_and_warm(n, sleepers_once, |s| (s - 0.010) * 1e9 / n as f64)
}

fn sleepers_once(n: u64) -> Result<Outcome, String> {
    // A plain thread samples the runtime's gauges meanwhile: how many sleepers were parked on a
    // timer at once, which is what the timer and stack memory have to hold.
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let (mut timers, mut live) = (0, 0);
            while !done.load(Ordering::Relaxed) {
                let s = greenlet::stats();
                timers = timers.max(s.timers);
                live = live.max(s.live);
                std::thread::sleep(Duration::from_millis(5));
            }
            (timers, live)
        })
    };
    let t0 = Instant::now();
    let handles: Vec<_> = (0..n)
        .map(|_| greenlet::spawn(|| greenlet::sleep(Duration::from_millis(10))))
        .collect();
    for h in handles {
        h.join().map_err(|e| e.to_string())?;
    }
    let secs = t0.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let (peak_timers, peak_live) = sampler.join().map_err(|_| "sampler_panicked")?;
    Ok(Outcome {
        seconds: secs,
        per_op_ns: (secs - 0.010) * 1e9 / n as f64,
        extra: Vec::new(),
    }
    .with("peak_timers", peak_timers)
    .with("peak_live", peak_live))
}

/// N greenlets wait on one `Event` that is never set, each with its own timeout (1 to 100 ms,
/// scrambled): they leave the one wait list from everywhere in it, out of the order they joined
/// it. Ideal total: 0.1 s. (Not one of BENCHMARKS.md's workloads: it shows what a timeout
/// costs a waiter that is not at the front of a long wait list.)
fn timeouts(n: u64) -> Result<Outcome, String> {
    let event = Arc::new(Event::new());
    let t0 = Instant::now();
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let event = event.clone();
            let ms = 1 + (i.wrapping_mul(2_654_435_761) % 100);
            greenlet::spawn(move || event.wait_timeout(Duration::from_millis(ms)))
        })
        .collect();
    for h in handles {
        if h.join().map_err(|e| e.to_string())? {
            return Err("an_unset_event_was_seen".into());
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    Ok(Outcome {
        seconds: secs,
        per_op_ns: (secs - 0.100).max(0.0) * 1e9 / n as f64,
        extra: Vec::new(),
    }
    .with("ideal_s", "0.100"))
}

fn vm_rss_kb() -> u64 {
    status_kb("VmRSS:")
}

/// A `kB` line of `/proc/self/status` (`VmRSS:`, `VmPTE:`), 0 if absent.
fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn park(n: u64) -> Result<Outcome, String> {
    let event = Arc::new(Event::new());
    let parked = Arc::new(AtomicUsize::new(0));
    let rss_before = vm_rss_kb();
    let pte_before = status_kb("VmPTE:");
    let t0 = Instant::now();
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let event = event.clone();
            let parked = parked.clone();
            greenlet::spawn(move || {
                parked.fetch_add(1, Ordering::Relaxed);
                event.wait();
            })
        })
        .collect();
    while parked.load(Ordering::Relaxed) < n as usize {
        greenlet::sleep(Duration::from_millis(1));
    }
    // Let the last ones reach their park.
    greenlet::sleep(Duration::from_millis(50));
    let park_s = t0.elapsed().as_secs_f64();
    let rss_parked = vm_rss_kb();
    // Page tables are memory too, outside VmRSS: one 4 KiB table maps 2 MiB of stacks.
    let pte_parked = status_kb("VmPTE:");
    let t1 = Instant::now();
    event.set();
    for h in handles {
        h.join().map_err(|e| e.to_string())?;
    }
    let release_s = t1.elapsed().as_secs_f64();
    let bytes = (rss_parked.saturating_sub(rss_before) * 1024) as f64 / n as f64;
    Ok(Outcome::per_op(park_s + release_s, n)
        .with("bytes_per_task", format!("{bytes:.0}"))
        .with(
            "pte_bytes_per_task",
            format!(
                "{:.0}",
                (pte_parked.saturating_sub(pte_before) * 1024) as f64 / n as f64
            ),
        )
        .with("rss_before_kb", rss_before)
        .with("rss_parked_kb", rss_parked)
        .with("park_s", format!("{park_s:.4}"))
        .with("release_s", format!("{release_s:.4}")))
}

fn fib(n: u32) -> u64 {
    if n < 2 {
        n as u64
    } else {
        fib(n - 1) + fib(n - 2)
    }
}

/// One phase of `cpu`: N greenlets each compute fib(30), in this process's worker count.
fn cpu_phase(n: u64) -> Result<Outcome, String> {
    let t0 = Instant::now();
    let handles: Vec<_> = (0..n)
        .map(|_| greenlet::spawn(|| fib(std::hint::black_box(30))))
        .collect();
    for h in handles {
        let v = h.join().map_err(|e| e.to_string())?;
        if v != 832_040 {
            return Err(format!("wrong_fib_{v}"));
        }
    }
    Ok(Outcome::per_op(t0.elapsed().as_secs_f64(), n))
}

/// Runs `cpu_phase` in a child process with `workers` workers; returns its seconds.
fn cpu_child(n: u64, workers: usize) -> Result<f64, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new(exe)
        .args(["cpu_phase", &n.to_string()])
        .env("WORKERS", workers.to_string())
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .find_map(|kv| kv.strip_prefix("seconds="))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("child_failed:{}", text.trim().replace(' ', "_")))
}

fn cpu(n: u64) -> Result<Outcome, String> {
    let workers = std::env::var("WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let t1 = cpu_child(n, 1)?;
    let t2 = cpu_child(n, workers)?;
    Ok(Outcome::per_op(t2, n)
        .with("t1_s", format!("{t1:.4}"))
        .with("t2_s", format!("{t2:.4}"))
        .with("speedup", format!("{:.3}", t1 / t2)))
}

/// Count, sum and sum of squares of what one consumer received: with n messages 0..n, equal
/// totals on all three mean each message arrived once (a loss and a duplicate would have to
/// cancel out in both sums).
#[derive(Default, Clone, Copy, PartialEq, Debug)]
struct Tally {
    count: u64,
    sum: u64,
    squares: u64,
}

impl Tally {
    fn add(&mut self, v: u64) {
        self.count += 1;
        self.sum = self.sum.wrapping_add(v);
        self.squares = self.squares.wrapping_add(v.wrapping_mul(v));
    }

    fn merge(mut self, other: Tally) -> Tally {
        self.count += other.count;
        self.sum = self.sum.wrapping_add(other.sum);
        self.squares = self.squares.wrapping_add(other.squares);
        self
    }

    fn expected(n: u64) -> Tally {
        (0..n).fold(Tally::default(), |mut t, v| {
            t.add(v);
            t
        })
    }
}

/// The 16 x 16 workload, written once for both engines (greenlets on greenlet channels, threads
/// on crossbeam-channel: the same methods, no trait in common): 16 producers spawned with
/// `$spawn` send 0..n between them into `$channel` (a `(Sender, Receiver)` pair), 16 consumers
/// tally what they receive. Evaluates to the seconds it took, or an error: a side panicked
/// (`$join_error` makes the text from the side and the join's error) or the tally is off.
macro_rules! mpmc_16x16 {
    ($engine:literal, $spawn:path, $channel:expr, $n:expr, $join_error:expr) => {
        'run: {
            const SIDES: u64 = 16;
            let ((tx, rx), n, join_error) = ($channel, $n, $join_error);
            let t0 = Instant::now();
            let producers: Vec<_> = (0..SIDES)
                .map(|p| {
                    let tx = tx.clone();
                    $spawn(move || {
                        let mut i = p;
                        while i < n {
                            tx.send(i).expect("receivers alive");
                            i += SIDES;
                        }
                    })
                })
                .collect();
            drop(tx);
            let consumers: Vec<_> = (0..SIDES)
                .map(|_| {
                    let rx = rx.clone();
                    $spawn(move || {
                        let mut tally = Tally::default();
                        for v in rx.iter() {
                            tally.add(v);
                        }
                        tally
                    })
                })
                .collect();
            drop(rx);
            for p in producers {
                if let Err(e) = p.join() {
                    break 'run Err(join_error("producer", e));
                }
            }
            let mut total = Tally::default();
            for c in consumers {
                match c.join() {
                    Ok(tally) => total = total.merge(tally),
                    Err(e) => break 'run Err(join_error("consumer", e)),
                }
            }
            let secs = t0.elapsed().as_secs_f64();
            if total != Tally::expected(n) {
                break 'run Err(format!("{}_lost_or_doubled_{}", $engine, total.count));
            }
            Ok(secs)
        }
    };
}

fn channel_mpmc(n: u64) -> Result<Outcome, String> {
    let secs = mpmc_16x16!(
        "greenlet",
        greenlet::spawn,
        channel::bounded::<u64>(1024),
        n,
        |_side, e: greenlet::JoinError| e.to_string()
    )?;
    let threads = crossbeam_threads(n)?;
    Ok(Outcome::per_op(secs, n)
        .with(
            "crossbeam_threads_ns",
            format!("{:.1}", threads * 1e9 / n as f64),
        )
        .with("vs_crossbeam", format!("{:.2}", threads / secs)))
}

/// The same 16 x 16 workload through crossbeam-channel between 32 OS threads, the baseline the
/// channel is measured against; returns seconds.
fn crossbeam_threads(n: u64) -> Result<f64, String> {
    mpmc_16x16!(
        "crossbeam",
        std::thread::spawn,
        crossbeam_channel::bounded::<u64>(1024),
        n,
        |side, _| format!("crossbeam_{side}_panicked")
    )
}

/// The echo workload: a StreamServer echoing on 127.0.0.1 and `n` client greenlets in this
/// process, each doing `m` round trips of 64 bytes once every client has connected.
/// `echo`, with every client and handler greenlet started while the other workers are held by
/// a spinning greenlet each (the imbalance case of the placement rule: long-lived connections
/// that all started on one worker stay there). The spinners stop once every client has
/// connected, before the timed part. `skewed=1` in the output.
fn echo_skewed(n: u64, m: u64) -> Result<Outcome, String> {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let running = Arc::new(AtomicUsize::new(0));
    let workers = greenlet::stats().workers;
    let spinners: Vec<_> = (1..workers)
        .map(|_| {
            let (stop, running) = (stop.clone(), running.clone());
            greenlet::spawn(move || {
                running.fetch_add(1, Ordering::SeqCst);
                while !stop.load(Ordering::SeqCst) {
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    // Not greenlet::yield_now: that could run a spinner on this worker, which would then never
    // give it back. Idle workers steal the spinners meanwhile.
    while running.load(Ordering::SeqCst) < workers - 1 {
        std::thread::yield_now();
    }
    let out = echo_with(n, m, || stop.store(true, Ordering::SeqCst));
    greenlet::joinall(spinners);
    out.map(|o| o.with("skewed", 1))
}

fn echo(n: u64, m: u64) -> Result<Outcome, String> {
    echo_with(n, m, || ())
}

/// The echo workload; `connected` runs once every client has connected, before the clock starts.
fn echo_with(n: u64, m: u64, connected_hook: impl FnOnce()) -> Result<Outcome, String> {
    use greenlet::net::{StreamServer, TcpListener, TcpStream};
    use std::io::{Read, Write};

    let m = m.max(1);
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind:{e}"))?;
    let addr = listener.local_addr().map_err(|e| format!("addr:{e}"))?;
    let server = StreamServer::new(listener, |mut conn: TcpStream, _| {
        let _ = conn.set_nodelay(true);
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = conn.read(&mut buf) {
            if conn.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    })
    .start();
    let connected = Arc::new(greenlet::sync::Barrier::new(n as usize + 1));
    let go = Arc::new(Event::new());
    let connecting = Instant::now();
    let clients: Vec<_> = (0..n)
        .map(|c| {
            let (connected, go) = (connected.clone(), go.clone());
            greenlet::spawn(move || -> Result<(), String> {
                let conn = TcpStream::connect(addr);
                connected.wait();
                let mut conn = conn.map_err(|e| format!("connect:{e}"))?;
                conn.set_nodelay(true).map_err(|e| e.to_string())?;
                let msg = [c as u8; 64];
                let mut buf = [0u8; 64];
                go.wait();
                for _ in 0..m {
                    conn.write_all(&msg).map_err(|e| format!("write:{e}"))?;
                    conn.read_exact(&mut buf).map_err(|e| format!("read:{e}"))?;
                    if buf != msg {
                        return Err("echoed_bytes_differ".into());
                    }
                }
                Ok(())
            })
        })
        .collect();
    connected.wait();
    // The untimed phase, reported as the peers do: from the first spawn to every client connected.
    let connect_s = connecting.elapsed().as_secs_f64();
    connected_hook();
    let start = Instant::now();
    go.set();
    for r in greenlet::joinall(clients) {
        r.map_err(|e| format!("client:{e}"))??;
    }
    let seconds = start.elapsed().as_secs_f64();
    server.stop();
    server.kill_handlers();
    let trips = n * m;
    Ok(Outcome::per_op(seconds, trips)
        .with("rt_per_s", format!("{:.0}", trips as f64 / seconds))
        .with("m", m)
        .with("connect_s", format!("{connect_s:.4}"))
        .with("msg_bytes", 64))
}
