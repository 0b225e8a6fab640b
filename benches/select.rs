//! Select throughput: one consumer selects a receive over K channels (K = 2 and 8), each fed by
//! its own producer; greenlet's `Select` (producers and consumer are greenlets) against
//! crossbeam-channel's (producers and consumer are threads).
//!
//!     cargo bench --bench select [-- N]
//!
//! One line per workload: `select_<engine>_k<K>_cap<C> <ns per message> ns/msg`.

use std::time::Instant;

const CAPS: [usize; 2] = [0, 64];
const KS: [usize; 2] = [2, 8];

/// The consumer's loop, written once for both engines (their `Select`s have the same methods
/// but no trait in common): registers a receive on each channel of `rxs` with `sel`, then
/// receives `total` messages.
macro_rules! receive_all {
    ($sel:expr, $rxs:expr, $total:expr) => {{
        let (mut sel, rxs, total) = ($sel, $rxs, $total);
        for rx in rxs {
            sel.recv(rx);
        }
        let mut got = 0;
        while got < total {
            let oper = sel.select();
            let i = oper.index();
            if oper.recv(&rxs[i]).is_ok() {
                got += 1;
            } else {
                sel.remove(i); // that producer is done: a disconnected channel is always ready
            }
        }
    }};
}

fn greenlet_select(k: usize, cap: usize, n: usize) -> f64 {
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..k).map(|_| greenlet::channel::bounded(cap)).unzip();
    let per = n / k;
    let start = Instant::now();
    let producers: Vec<_> = txs
        .into_iter()
        .map(|tx| {
            greenlet::spawn(move || {
                for i in 0..per {
                    tx.send(i).unwrap();
                }
            })
        })
        .collect();
    let consumer =
        greenlet::spawn(move || receive_all!(greenlet::channel::Select::new(), &rxs, per * k));
    for p in greenlet::joinall(producers) {
        p.unwrap();
    }
    consumer.join().unwrap();
    start.elapsed().as_secs_f64() * 1e9 / (per * k) as f64
}

fn crossbeam_select(k: usize, cap: usize, n: usize) -> f64 {
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..k).map(|_| crossbeam_channel::bounded(cap)).unzip();
    let per = n / k;
    let start = Instant::now();
    let producers: Vec<_> = txs
        .into_iter()
        .map(|tx| {
            std::thread::spawn(move || {
                for i in 0..per {
                    tx.send(i).unwrap();
                }
            })
        })
        .collect();
    receive_all!(crossbeam_channel::Select::new(), &rxs, per * k);
    for p in producers {
        p.join().unwrap();
    }
    start.elapsed().as_secs_f64() * 1e9 / (per * k) as f64
}

fn main() {
    let n = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(200_000);
    for k in KS {
        for cap in CAPS {
            let g = greenlet_select(k, cap, n);
            println!("select_greenlet_k{k}_cap{cap} {g:.0} ns/msg");
            let c = crossbeam_select(k, cap, n);
            println!("select_crossbeam_k{k}_cap{cap} {c:.0} ns/msg");
        }
    }
}
