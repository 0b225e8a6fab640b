//! Giving way to other greenlets: [`sleep`] and [`yield_now`].

use std::time::Duration;

use crate::park;
use crate::{config, runtime};

/// Parks the caller for `d`: inside a greenlet only that greenlet waits, on a plain thread the
/// thread blocks. `sleep(Duration::ZERO)` yields, like `gevent.sleep(0)`.
///
/// ```
/// use std::time::{Duration, Instant};
/// let t0 = Instant::now();
/// let sleepers: Vec<_> = (0..100)
///     .map(|_| greenlet::spawn(|| greenlet::sleep(Duration::from_millis(50))))
///     .collect();
/// greenlet::joinall(sleepers);
/// assert!(t0.elapsed() < Duration::from_secs(5)); // they slept side by side
/// ```
#[track_caller]
pub fn sleep(d: Duration) {
    if d.is_zero() {
        return yield_now();
    }
    // Longer than the clock can count (`None`): sleep until killed or timed out.
    park::sleep_until(&"sleep", crate::deadline::after(d));
}

/// Lets every other runnable greenlet on this worker run before the caller continues. On a
/// plain thread it yields the thread to the OS. A kill or an expired
/// [`with_timeout`](crate::with_timeout) takes effect here.
///
/// ```
/// let g = greenlet::spawn(|| {
///     for _ in 0..3 {
///         greenlet::yield_now();
///     }
///     "done"
/// });
/// assert_eq!(g.join().unwrap(), "done");
/// ```
pub fn yield_now() {
    match runtime::current_task_ptr() {
        // Unwinding a panic: suspending would leak the thread's panic count to the greenlets that
        // run meanwhile (see `park`), so it yields the thread, like a plain thread does.
        Some(_) if std::thread::panicking() => std::thread::yield_now(),
        Some(task) => {
            // SAFETY: the running greenlet's own task stays alive, and at the same address,
            // across the switch, whichever worker resumes it.
            let cell = unsafe { &task.as_ref().header.park };
            cell.check_interrupts();
            runtime::yield_greenlet();
            cell.check_interrupts();
        }
        None => {
            config::mark_used();
            park::check_thread_interrupts();
            std::thread::yield_now();
        }
    }
}
