//! Where a context waits: the blocking call, its caller's source location and since when; and
//! the plain threads blocked in the crate right now. Read by [`crate::dump`], the stall monitor
//! and the deadlock detector; written by the park path with a few relaxed stores.
//!
//! The call site comes from `#[track_caller]`: the crate's blocking functions carry the caller's
//! location down to [`super::prepare_for`], which stores it with a static label ("channel recv",
//! "sleep", ...). Costs two relaxed stores and one load of the coarse clock per park.

use std::panic::Location;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use super::ThreadCtx;

/// The wait site of one context (in its [`super::ParkCell`]).
pub(crate) struct Site {
    /// What the context waits on; null before its first park.
    what: AtomicPtr<&'static str>,
    /// The caller of the crate's blocking function.
    at: AtomicPtr<Location<'static>>,
    /// When the context entered its current state (runtime nanoseconds; coarse for greenlets).
    since: AtomicU64,
}

impl Site {
    pub(crate) const fn new() -> Site {
        Site {
            what: AtomicPtr::new(ptr::null_mut()),
            at: AtomicPtr::new(ptr::null_mut()),
            since: AtomicU64::new(0),
        }
    }

    /// Records a park: what, where, now.
    #[inline]
    pub(crate) fn record(
        &self,
        what: &'static &'static str,
        at: &'static Location<'static>,
        now: u64,
    ) {
        self.what.store(ptr::from_ref(what).cast_mut(), Relaxed);
        self.at.store(ptr::from_ref(at).cast_mut(), Relaxed);
        self.since.store(now, Relaxed);
    }

    /// Records a change of state other than a park (spawned, resumed, woken).
    #[inline]
    pub(crate) fn stamp(&self, now: u64) {
        self.since.store(now, Relaxed);
    }

    /// What the last park waited on.
    pub(crate) fn what(&self) -> Option<&'static str> {
        let p = self.what.load(Relaxed);
        // SAFETY: only ever set from a `&'static &'static str` (see `record`).
        (!p.is_null()).then(|| unsafe { *p })
    }

    /// Where the last park was called from.
    pub(crate) fn at(&self) -> Option<&'static Location<'static>> {
        let p = self.at.load(Relaxed);
        // SAFETY: only ever set from a `&'static Location` (see `record`).
        (!p.is_null()).then(|| unsafe { &*p })
    }

    /// When the context entered its current state.
    pub(crate) fn since(&self) -> u64 {
        self.since.load(Relaxed)
    }
}

/// A plain thread blocked in a call of the crate, as the deadlock detector sees it.
pub(crate) struct BlockedThread {
    pub(crate) name: String,
    pub(crate) what: Option<&'static str>,
    pub(crate) at: Option<&'static Location<'static>>,
    pub(crate) since: u64,
    /// Which thread (its context's address) and which of its parks (the generation).
    key: (usize, u64),
}

/// The plain threads blocked now, with the generation of their park.
static BLOCKED: Mutex<Vec<(Arc<ThreadCtx>, u64)>> = Mutex::new(Vec::new());

/// A plain thread's registration as blocked, for the length of one untimed park.
pub(crate) struct Blocked {
    ctx: Arc<ThreadCtx>,
}

impl Blocked {
    pub(crate) fn new(ctx: &Arc<ThreadCtx>, gen: u64) -> Blocked {
        super::lock(&BLOCKED).push((ctx.clone(), gen));
        Blocked { ctx: ctx.clone() }
    }
}

impl Drop for Blocked {
    fn drop(&mut self) {
        let mut blocked = super::lock(&BLOCKED);
        if let Some(pos) = blocked.iter().position(|(c, _)| Arc::ptr_eq(c, &self.ctx)) {
            blocked.swap_remove(pos);
        }
    }
}

/// The plain threads blocked in the crate now.
pub(crate) fn blocked_threads() -> Vec<BlockedThread> {
    super::lock(&BLOCKED)
        .iter()
        .map(|(ctx, gen)| BlockedThread {
            name: ctx.thread.name().unwrap_or("<unnamed>").to_string(),
            what: ctx.cell.site.what(),
            at: ctx.cell.site.at(),
            since: ctx.cell.site.since(),
            key: (Arc::as_ptr(ctx) as usize, *gen),
        })
        .collect()
}

/// Ends the parks of `threads` (as listed by [`blocked_threads`]) that are still the same parks,
/// with the deadlock outcome: each one's blocked call panics with `report`. Returns how many
/// were ended.
pub(crate) fn fail_blocked_threads(threads: &[BlockedThread], report: Arc<str>) -> usize {
    let blocked: Vec<_> = super::lock(&BLOCKED).clone();
    let mut ended = 0;
    for (ctx, gen) in blocked {
        if !threads
            .iter()
            .any(|t| t.key == (Arc::as_ptr(&ctx) as usize, gen))
        {
            continue;
        }
        *super::lock(&ctx.deadlock) = Some(report.clone());
        if ctx.cell.end_from_outside(gen, super::Status::Deadlocked) == super::Ended::Running {
            ctx.thread.unpark();
            ended += 1;
        }
    }
    ended
}
