//! Scheduling work for later: `sched.scheduler()`'s `enter(delay, priority, action)`,
//! `enterabs(time, ...)`, `cancel(event)` and `run()`. A greenlet started with `spawn_later` is a
//! scheduled event; killing it before it starts cancels it; joining them all is `run()`.
//!
//!     cargo run --release --example scheduler

use std::time::{Duration, Instant};

use greenlet::{joinall, spawn_later};

fn main() {
    let start = Instant::now();
    let ms = |n| Duration::from_millis(n);

    // my_sched.enter(delay, priority, print_time): run an action after a delay. Each action
    // returns how late it ran, to check that none ran early.
    let action = move |name: &'static str, due: Duration| {
        move || {
            let at = start.elapsed();
            println!("{name} ran (due at +{} ms)", due.as_millis());
            at >= due
        }
    };
    let mut events = vec![
        spawn_later(ms(200), action("second", ms(200))),
        spawn_later(ms(100), action("first", ms(100))),
    ];

    // my_sched.enterabs(time, priority, action): an absolute time becomes a delay from now.
    let at = start + ms(300);
    events.push(spawn_later(
        at.saturating_duration_since(Instant::now()),
        action("third (enterabs)", ms(300)),
    ));

    // my_sched.cancel(event): a greenlet killed before it starts never runs.
    let cancelled = spawn_later(ms(150), action("cancelled", ms(150)));
    cancelled.kill();

    // my_sched.queue: the events still waiting to run.
    let pending = events.iter().filter(|e| !e.is_finished()).count();
    println!("events pending: {pending}");

    // my_sched.run(): wait until every event has run.
    let on_time = joinall(events)
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count();
    println!("all events ran, {on_time} of 3 no earlier than due");
    println!("cancelled event: {:?}", cancelled.join().unwrap_err());
}
