//! Coroutine stacks: carved out of large chunks, guarded, pooled and reused.
//!
//! A greenlet gets its stack when it first runs, not when it is spawned, and gives it back when it
//! finishes. What matters:
//!
//! * **Cheap reuse.** A finished greenlet's stack goes to a small per-worker cache and is handed to
//!   the next greenlet that starts on that worker: no system call on the spawn path. Between the
//!   cache and the global pool stacks move [`BATCH`] at a time, under one lock.
//! * **Few mappings.** Linux limits a process to `vm.max_map_count` (65,530 by default) memory
//!   mappings. A classic guarded stack (`mmap` + `mprotect` of a guard page) costs two mappings,
//!   which caps a process near 32,000 live stacks. We map up to [`CHUNK_STACKS`] stacks at once
//!   and install each guard page with `madvise(MADV_GUARD_INSTALL)` (Linux 6.13+), which marks
//!   the page in the page tables without splitting the mapping: a chunk of 64 stacks is one
//!   mapping (one `process_madvise` call installs a chunk's guards where the kernel takes it).
//!   On older kernels, or with `GREENLET_STACK_GUARD=mprotect`, guards use `mprotect` (two
//!   mappings per stack), and the log says so.
//! * **Bounded size classes.** Stack sizes are rounded up to a power of two, so there are at
//!   most [`CLASSES`] pools whatever sizes the program asks for; a class whose chunk holds one
//!   stack (64 MiB and up) unmaps its stacks when it gives them back, so big stacks do not pin
//!   address space.
//! * **Errors, not aborts, when mappings or memory run out.** [`ensure_available`] runs on the
//!   spawn path, in the caller: if the pool is empty it maps a chunk there, so a spawn that
//!   cannot get a stack fails (`Builder::spawn` returns the error, `spawn` panics with it) and
//!   the message says what ran out and what to do. Before mapping a chunk that could bring the
//!   process within [`MAP_HEADROOM`] mappings of `vm.max_map_count`, we count the mappings
//!   and refuse, leaving room for the allocator and for thread stacks: without that, the next
//!   `malloc` to need a mapping would fail and abort the process.
//! * **Lazy commit, batched and decaying give-back.** Stacks are mapped with `MAP_NORESERVE`;
//!   only pages a greenlet touches cost memory. A stack that leaves the per-worker cache goes to
//!   a global *dirty* list, which is reused first (its pages are already faulted in, so a burst
//!   of greenlets after a burst pays no page faults). Idle workers call [`trim_idle`] at most
//!   once per [`TRIM_INTERVAL`]: stacks that stayed unused for a whole interval are given back.
//!   Past [`DIRTY_MAX`] dirty stacks, the excess is given back at once. Giving back sorts the
//!   stacks and merges adjacent ones into runs, then drops the runs' pages with one
//!   `process_madvise(MADV_DONTNEED)` per 1,024 runs (one `madvise` per run where the kernel
//!   refuses; guard markers survive either): each call costs a TLB shootdown on every core
//!   running the process, so one per stack, or even one per run, dominated a burst of releases.
//! * **No system call under the pool's lock.** Every `mmap`, `madvise` and `munmap` runs after
//!   the lock is released: what to map or give back is decided under the lock, done outside it,
//!   and the result filed under the lock again. Stacks in flight are in no list meanwhile.
//!
//! # Why there is no cheaper layout without `MADV_GUARD_INSTALL`
//!
//! Measured on Linux 6.18 with 256 KiB stacks (mappings per stack, from `/proc/self/maps`):
//!
//! | layout | mappings per stack | verdict |
//! | --- | --- | --- |
//! | 64 per `mmap`, `MADV_GUARD_INSTALL` guards | 0 (100,032 stacks: adjacent chunks merge into 1) | used |
//! | 64 per `mmap`, `mprotect` guards | 2 (the stock limit stops at 32,753 stacks) | fallback |
//! | one `mmap` each, `PROT_NONE` guard | 2 | no better |
//! | one `mmap` each, guard page left unmapped | 0.0001 | unsound: the kernel maps the next stack over the hole, so there is no guard |
//! | one `MAP_GROWSDOWN` mapping each (the kernel's gap as guard) | 1 | 6.9 ms per `mmap`, and an overflow grows the stack into the gap instead of faulting |
//! | an `mprotect` guard every N stacks, a canary word checked at each switch | 2/N | unsound |
//!
//! The canary layout detects an overflow only after it wrote into the neighbouring stack, whose
//! greenlet may be running on another worker at that moment (its return addresses and locals
//! are gone before any check runs); a frame bigger than the gap skips the canary; and the
//! overflowing greenlet runs on until its next switch. A guard page stops the first write. So
//! without `MADV_GUARD_INSTALL`, a sound guard costs a mapping boundary on each side, two
//! mappings per stack, and 100,000 greenlets need `vm.max_map_count` of at least 201,024
//! (2 per stack plus [`MAP_HEADROOM`]); the error of `Builder::spawn` says so.
//!
//! Layout of one slot (stacks grow down, so the guard sits below the usable range):
//!
//! ```text
//!   slot start                                                slot end = stack base
//!   | guard page (faults) |          usable stack (size bytes)          |
//! ```

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use corosensei::stack::StackPointer;

/// The memory page size this module assumes (x86-64 and most aarch64 Linux kernels).
const PAGE: usize = 4096;
/// Size of the guard page below each stack.
pub(crate) const GUARD: usize = PAGE;
/// Bytes at the top of each stack kept for the coroutine's own bookkeeping (see
/// `coroutine::Record`); the code running on the stack starts below them.
pub(crate) const RESERVED: usize = 128;
/// The default usable size of a greenlet's stack: 256 KiB of address space, committed lazily.
/// Enough for debug builds and deep library calls; a parked greenlet typically touches one page.
///
/// ```
/// assert_eq!(greenlet::DEFAULT_STACK_SIZE, 256 << 10);
/// ```
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;
/// The smallest stack size accepted by [`Builder::stack_size`](crate::Builder::stack_size).
///
/// ```
/// let too_small = greenlet::Builder::new().stack_size(greenlet::MIN_STACK_SIZE / 2).spawn(|| ());
/// assert!(too_small.is_err());
/// ```
pub const MIN_STACK_SIZE: usize = 16 * 1024;
/// The largest stack size accepted by [`Builder::stack_size`](crate::Builder::stack_size).
///
/// ```
/// let too_big = greenlet::Builder::new().stack_size(greenlet::MAX_STACK_SIZE + 1).spawn(|| ());
/// assert!(too_big.is_err());
/// ```
pub const MAX_STACK_SIZE: usize = 1 << 30;
/// How many size classes there are: the powers of two from [`MIN_STACK_SIZE`] to
/// [`MAX_STACK_SIZE`].
const CLASSES: usize =
    (MAX_STACK_SIZE.trailing_zeros() - MIN_STACK_SIZE.trailing_zeros() + 1) as usize;
const _: () = assert!(MIN_STACK_SIZE.is_power_of_two() && MAX_STACK_SIZE.is_power_of_two());
const _: () = assert!(DEFAULT_STACK_SIZE.is_power_of_two() && MIN_STACK_SIZE % PAGE == 0);
/// How many stacks one mapping holds (fewer when stacks are large).
const CHUNK_STACKS: usize = 64;
/// Upper bound on one chunk's size in bytes.
const CHUNK_BYTES: usize = 64 << 20;
/// How many finished stacks a worker keeps for itself.
pub(crate) const LOCAL_CACHE: usize = 16;
/// How many stacks move between a worker's cache and the global pool under one lock: in a
/// burst of sleepers one worker starts most greenlets and the other ends many, and one lock per
/// stack had both workers' `alloc` and release on the pool's lock and its counters (11 % of
/// `perf`'s samples on `sleepers 100000`).
const BATCH: usize = LOCAL_CACHE / 2;
/// How many released stacks may keep their memory at most (until the next idle trim).
///
/// Large on purpose: a burst of greenlets that ends is often followed by another, and a stack
/// given back costs a TLB shootdown now and a page fault at its next use. With 4,096, the
/// sleepers workload (100,000 greenlets sleeping at once) took 0.235 s cold and 0.19 s warm;
/// with 65,536, 0.19 s and 0.10 s. What is kept is memory the peak used a moment ago, and idle
/// workers give it back within two trim intervals.
const DIRTY_MAX: usize = 1 << 16;
/// A released stack unused for this long has its memory given back (by an idle worker).
pub(crate) const TRIM_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);
/// How many memory mappings stay free for the rest of the process (the allocator, thread
/// stacks, files) when stacks are mapped: a chunk that would leave fewer is refused.
const MAP_HEADROOM: usize = 1024;
/// `vm.max_map_count` when it cannot be read: the kernel's default.
const DEFAULT_MAX_MAP_COUNT: usize = 65_530;

/// The size class of a checked size: rounded up to a power of two (so at most [`CLASSES`]
/// pools exist, whatever sizes are asked for).
pub(crate) fn class_size(size: usize) -> usize {
    size.clamp(MIN_STACK_SIZE, MAX_STACK_SIZE)
        .next_power_of_two()
}

/// Index of a class size in the pool.
fn class_index(size: usize) -> usize {
    debug_assert!(size.is_power_of_two() && (MIN_STACK_SIZE..=MAX_STACK_SIZE).contains(&size));
    (size.trailing_zeros() - MIN_STACK_SIZE.trailing_zeros()) as usize
}

/// A class size in one byte (its index), for the task header.
pub(crate) fn class_id(size: usize) -> u8 {
    class_index(size) as u8
}

/// The class size that [`class_id`] gave `id` for.
pub(crate) fn class_of_id(id: u8) -> usize {
    MIN_STACK_SIZE << id
}

/// Checks a stack size given by a user, before any greenlet depends on it; returns its class
/// size.
pub(crate) fn validate(size: usize) -> io::Result<usize> {
    if !(MIN_STACK_SIZE..=MAX_STACK_SIZE).contains(&size) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "greenlet stack size {size} bytes is out of range: use {MIN_STACK_SIZE} to \
                 {MAX_STACK_SIZE} bytes (greenlet::MIN_STACK_SIZE to greenlet::MAX_STACK_SIZE)"
            ),
        ));
    }
    Ok(class_size(size))
}

/// One greenlet stack: `size` usable bytes below `base`, with a guard page below them.
///
/// Dropping a `Stack` returns it to the global pool.
#[derive(Debug)]
pub(crate) struct Stack {
    base: usize,
    size: usize,
}

impl Stack {
    /// The usable size in bytes (excluding the guard page).
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// The [`RESERVED`] bytes at the very top of the stack, 16-byte aligned.
    pub(crate) fn reserved(&self) -> *mut u8 {
        (self.base - RESERVED) as *mut u8
    }

    /// The lowest address of the guard page.
    pub(crate) fn guard_start(&self) -> usize {
        self.base - self.size - GUARD
    }
}

// SAFETY: the range [limit, base - RESERVED) was mapped by `map_chunk`, is owned by this Stack
// alone, has far more than corosensei's MIN_STACK_SIZE usable bytes, and its lowest page is a
// guard page that faults on access (installed by MADV_GUARD_INSTALL or mprotect before the stack
// is handed out).
unsafe impl corosensei::stack::Stack for Stack {
    fn base(&self) -> StackPointer {
        StackPointer::new(self.base - RESERVED).expect("stack base is never null")
    }

    fn limit(&self) -> StackPointer {
        StackPointer::new(self.guard_start()).expect("stack limit is never null")
    }
}

impl Drop for Stack {
    /// Files the range in the global pool for reuse (see [`file_dirty`]).
    fn drop(&mut self) {
        file_dirty([(self.base, self.size)]);
    }
}

/// Files released stacks, as `(base, size)`, in the global pool for reuse, under one lock;
/// past [`DIRTY_MAX`] in a class, gives that class's older half back (after the lock is
/// released).
fn file_dirty(stacks: impl IntoIterator<Item = (usize, usize)>) {
    let mut excess: Vec<(usize, Vec<usize>)> = Vec::new();
    {
        let mut pool = lock();
        for (base, size) in stacks {
            let index = class_index(size);
            let class = &mut pool.classes[index];
            class.dirty.push(base);
            FREE[index].fetch_add(1, Ordering::Relaxed);
            if class.dirty.len() + class.aging.len() > DIRTY_MAX {
                // Give back the older half (aging first), keep the most recently used.
                let mut old = std::mem::take(&mut class.aging);
                let keep = class.dirty.len().min(DIRTY_MAX / 2);
                let cut = class.dirty.len() - keep;
                old.extend(class.dirty.drain(..cut));
                FREE[index].fetch_sub(old.len(), Ordering::Relaxed);
                excess.push((size, old));
            }
        }
        // A plain load first: every release would otherwise write this shared line.
        if !HOLDS_MEMORY.load(Ordering::Relaxed) {
            HOLDS_MEMORY.store(true, Ordering::Relaxed);
        }
    }
    for (size, old) in excess {
        give_back(size, old);
    }
}

/// Free stacks of one size class, by base address.
struct SizeClass {
    /// Released since the last trim: touched pages may be resident.
    dirty: Vec<usize>,
    /// Released before the last trim and unused since: given back at the next trim.
    aging: Vec<usize>,
    /// Stacks whose memory has been given back (or never touched).
    clean: Vec<usize>,
}

impl SizeClass {
    const fn new() -> SizeClass {
        SizeClass {
            dirty: Vec::new(),
            aging: Vec::new(),
            clean: Vec::new(),
        }
    }

    fn pop(&mut self) -> Option<usize> {
        self.dirty
            .pop()
            .or_else(|| self.aging.pop())
            .or_else(|| self.clean.pop())
    }
}

struct Pool {
    classes: [SizeClass; CLASSES],
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    classes: [const { SizeClass::new() }; CLASSES],
});
/// How many stacks of each class the pool holds: changed only under the pool's lock, with the
/// lists, and read without it by [`ensure_available`].
static FREE: [AtomicUsize; CLASSES] = [const { AtomicUsize::new(0) }; CLASSES];
/// Whether released stacks may hold memory (checked by idle workers without the lock).
static HOLDS_MEMORY: AtomicBool = AtomicBool::new(false);
/// How many memory mappings the stack chunks hold now.
static STACK_MAPPINGS: AtomicUsize = AtomicUsize::new(0);

fn lock() -> MutexGuard<'static, Pool> {
    crate::park::lock(&POOL)
}

/// Whether a trim step could give memory back.
pub(crate) fn holds_memory() -> bool {
    HOLDS_MEMORY.load(Ordering::Relaxed)
}

/// How many stacks one chunk of `size`-byte stacks holds.
fn chunk_stacks(size: usize) -> usize {
    (CHUNK_BYTES / (size + GUARD)).clamp(1, CHUNK_STACKS)
}

/// Gives back the memory of free `stacks` of class `size` (no lock held), then files them as
/// clean. Stacks alone in their chunk are unmapped instead; for the others, one `madvise` per
/// run of adjacent slots.
fn give_back(size: usize, mut stacks: Vec<usize>) {
    if stacks.is_empty() {
        return;
    }
    let slot = size + GUARD;
    if chunk_stacks(size) == 1 {
        for base in stacks {
            let start = base - slot;
            // SAFETY: the chunk [start, base) holds this one free stack and its guard page; no
            // code runs on it and nothing else refers to it: it left every list.
            unsafe { libc::munmap(start as *mut libc::c_void, slot) };
            STACK_MAPPINGS.fetch_sub(mappings_per_chunk(1), Ordering::Relaxed);
        }
        return;
    }
    stacks.sort_unstable();
    let mut runs = Vec::new();
    let mut i = 0;
    while i < stacks.len() {
        let mut j = i + 1;
        while j < stacks.len() && stacks[j] == stacks[j - 1] + slot {
            j += 1;
        }
        // From the lowest usable byte of the first stack to the base of the last one; the
        // guard pages in between keep their markers (MADV_DONTNEED leaves them in place, and
        // skips mprotect'ed pages, which hold nothing).
        let start = stacks[i] - size;
        runs.push((start, stacks[j - 1] - start));
        i = j;
    }
    // SAFETY: the ranges cover free stacks of this pool only (and their guard pages); they left
    // every list, so no code runs on them.
    unsafe { drop_pages(&runs) };
    file_fresh(class_index(size), stacks);
}

/// Whether `process_madvise(PIDFD_SELF_THREAD, .., MADV_DONTNEED)` works here.
static BATCH_GIVE_BACK: AtomicBool = AtomicBool::new(true);
/// At most this many ranges per `process_madvise` call (the kernel's `UIO_MAXIOV`).
const MAX_RANGES: usize = 1024;
/// At most this many bytes per `process_madvise` call (the kernel caps a call's total below
/// 2 GiB and would stop there).
const MAX_BATCH_BYTES: usize = 1 << 30;

/// Drops the pages of `ranges` (start, length): with one `process_madvise` call per batch of
/// ranges where the kernel takes it, else one `madvise` per range.
///
/// Each call ends with a TLB shootdown on every core that runs the process, an inter-processor
/// interrupt that a virtual machine pays for with an exit: with a second thread of the process
/// busy, one `madvise` per page cost 17.6 us on the development VM (Linux 6.18), one
/// `process_madvise` per 1,024 pages 0.8-1.0 us per page. Giving back a burst's stacks made
/// thousands of calls (`park 1000000`: 20 % of the CPU in those interrupts).
///
/// # Safety
/// Nothing may live in the ranges: their pages are dropped (read back as zeros).
unsafe fn drop_pages(ranges: &[(usize, usize)]) {
    let mut rest = ranges;
    while !rest.is_empty() {
        let mut n = 0;
        let mut bytes = 0;
        while n < rest.len() && n < MAX_RANGES && (n == 0 || bytes + rest[n].1 <= MAX_BATCH_BYTES) {
            bytes += rest[n].1;
            n += 1;
        }
        let (batch, next) = rest.split_at(n);
        rest = next;
        if n > 1 && bytes <= MAX_BATCH_BYTES && BATCH_GIVE_BACK.load(Ordering::Relaxed) {
            // SAFETY: the caller vouches that nothing lives in the ranges; the call only drops
            // pages of this process's own memory.
            let r = unsafe { advise_self(batch.iter().copied(), libc::MADV_DONTNEED) };
            if r == bytes as libc::c_long {
                continue;
            }
            if r < 0 {
                // No PIDFD_SELF, no process_madvise, or not this advice: one call per range.
                BATCH_GIVE_BACK.store(false, Ordering::Relaxed);
            }
            // A partial batch: the calls below finish it (dropping pages twice is harmless).
        }
        for &(start, len) in batch {
            // SAFETY: as above; MADV_DONTNEED only drops the range's pages.
            unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED) };
        }
    }
}

/// Takes a stack of class size `size` from `cache`, then the global pool, then a new chunk.
pub(crate) fn alloc(size: usize, cache: &mut Vec<Stack>) -> io::Result<Stack> {
    if let Some(pos) = cache.iter().rposition(|s| s.size == size) {
        return Ok(cache.swap_remove(pos));
    }
    let index = class_index(size);
    {
        let mut pool = lock();
        let class = &mut pool.classes[index];
        if let Some(base) = class.pop() {
            // A worker that starts greenlets faster than it ends them (a spawner's neighbour)
            // would take the lock for every start: take a few more for the next ones.
            let mut taken = 1;
            while taken < BATCH && cache.len() < LOCAL_CACHE {
                let Some(more) = class.pop() else { break };
                cache.push(Stack { base: more, size });
                taken += 1;
            }
            FREE[index].fetch_sub(taken, Ordering::Relaxed);
            return Ok(Stack { base, size });
        }
    }
    let mut fresh = map_chunk(size)?;
    let base = fresh.pop().expect("a chunk holds at least one stack");
    file_fresh(index, fresh);
    Ok(Stack { base, size })
}

/// Files free stacks whose pages hold nothing (a new chunk, or given back) as clean.
fn file_fresh(index: usize, mut fresh: Vec<usize>) {
    let mut pool = lock();
    FREE[index].fetch_add(fresh.len(), Ordering::Relaxed);
    pool.classes[index].clean.append(&mut fresh);
}

/// Makes sure a greenlet spawned now with a class-size `size` stack can get one: if the pool has
/// none of that class, maps a chunk now, in the caller. An error says what ran out.
///
/// Best effort by design: the stacks counted here are not reserved, so greenlets that start
/// meanwhile may take them; one that then finds no stack ends with an error (see the worker's
/// `start`). Reserving a stack per unstarted greenlet would cost a million stacks' address space
/// (and, with `mprotect` guards, two million mappings) for a million spawns queued at once.
#[inline]
pub(crate) fn ensure_available(size: usize) -> io::Result<()> {
    let index = class_index(size);
    if FREE[index].load(Ordering::Relaxed) > 0 {
        return Ok(());
    }
    file_fresh(index, map_chunk(size)?);
    Ok(())
}

/// One step of decay, for an idle worker to call once per [`TRIM_INTERVAL`]: gives back stacks
/// released before the previous step and unused since. Returns whether released stacks still
/// hold memory (so another step is due later).
pub(crate) fn trim_idle() -> bool {
    let mut old: Vec<(usize, Vec<usize>)> = Vec::new();
    let mut pending = false;
    {
        let mut pool = lock();
        for (index, class) in pool.classes.iter_mut().enumerate() {
            if class.dirty.is_empty() && class.aging.is_empty() {
                continue;
            }
            let aged = std::mem::replace(&mut class.aging, std::mem::take(&mut class.dirty));
            pending |= !class.aging.is_empty();
            if !aged.is_empty() {
                FREE[index].fetch_sub(aged.len(), Ordering::Relaxed);
                old.push((MIN_STACK_SIZE << index, aged));
            }
        }
        HOLDS_MEMORY.store(pending, Ordering::Relaxed);
    }
    for (size, stacks) in old {
        give_back(size, stacks);
    }
    pending
}

/// Returns a finished greenlet's stack: to the worker's cache while it has room, otherwise to the
/// global pool.
pub(crate) fn release(stack: Stack, cache: &mut Vec<Stack>) {
    if cache.len() < LOCAL_CACHE {
        cache.push(stack);
        return;
    }
    // Full: this one and the older half of the cache go to the pool under one lock (a worker
    // that ends greenlets faster than it starts them would take the lock for every end).
    let released = cache.drain(..BATCH).chain(std::iter::once(stack)).map(|s| {
        // Filed here instead of by its own drop.
        let s = std::mem::ManuallyDrop::new(s);
        (s.base, s.size)
    });
    file_dirty(released);
}

/// How guard pages are made.
const GUARD_UNKNOWN: u8 = 0;
const GUARD_MADVISE: u8 = 1;
const GUARD_MPROTECT: u8 = 2;
static GUARD_MODE: AtomicU8 = AtomicU8::new(GUARD_UNKNOWN);
/// `madvise` advice value of MADV_GUARD_INSTALL (Linux 6.13), not yet in every libc release.
const MADV_GUARD_INSTALL: libc::c_int = 102;

/// The guard mode before the first guard is installed: `mprotect` when the environment asks
/// for it (`GREENLET_STACK_GUARD`, see [`crate::config`]), otherwise to be found out.
fn guard_mode() -> u8 {
    let mode = GUARD_MODE.load(Ordering::Relaxed);
    if mode != GUARD_UNKNOWN {
        return mode;
    }
    static FROM_ENV: OnceLock<()> = OnceLock::new();
    FROM_ENV.get_or_init(|| {
        if crate::config::stack_guard_from_env() == Some(crate::config::StackGuard::Mprotect) {
            GUARD_MODE.store(GUARD_MPROTECT, Ordering::Relaxed);
        }
    });
    GUARD_MODE.load(Ordering::Relaxed)
}

/// Mappings one chunk of `count` stacks costs in the current guard mode.
fn mappings_per_chunk(count: usize) -> usize {
    if GUARD_MODE.load(Ordering::Relaxed) == GUARD_MPROTECT {
        2 * count
    } else {
        1
    }
}

/// `vm.max_map_count`, read once.
fn max_map_count() -> usize {
    static MAX: OnceLock<usize> = OnceLock::new();
    *MAX.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(DEFAULT_MAX_MAP_COUNT)
    })
}

/// The process's memory mappings now (lines of `/proc/self/maps`), if readable. Streams the
/// file through a buffer on the stack: it runs when memory may have run out.
fn count_mappings() -> Option<usize> {
    use std::io::Read;
    let mut file = std::fs::File::open("/proc/self/maps").ok()?;
    let mut buf = [0u8; 8192];
    let mut lines = 0;
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Some(lines),
            Ok(n) => lines += buf[..n].iter().filter(|&&b| b == b'\n').count(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

/// How the guard pages of this process are made, for messages.
fn guard_note() -> &'static str {
    if GUARD_MODE.load(Ordering::Relaxed) == GUARD_MPROTECT {
        "each stack costs two mappings here: its guard page is made with mprotect, for want of \
         MADV_GUARD_INSTALL (Linux 6.13+) or because GREENLET_STACK_GUARD=mprotect"
    } else {
        "guard pages are made with MADV_GUARD_INSTALL, so 64 stacks share one mapping"
    }
}

/// The error for a chunk that would take the process past `vm.max_map_count` (less the
/// headroom), or that the kernel refused for lack of memory or mappings.
fn exhausted(len: usize, cause: Option<io::Error>) -> io::Error {
    let max = max_map_count();
    let maps = count_mappings();
    let maps_text = maps.map_or_else(|| "an unknown number of".to_string(), |m| m.to_string());
    let near_limit = maps.is_none_or(|m| m + MAP_HEADROOM >= max);
    let raise = format!(
        "raise the limit, as root: `sysctl -w vm.max_map_count={}` (and in /etc/sysctl.d/ to \
         keep it), or keep fewer greenlets alive at once",
        (max * 4).max(262_144)
    );
    let message = match cause {
        None => format!(
            "greenlet: no memory mapping left for more greenlet stacks: the process has \
             {maps_text} mappings and vm.max_map_count is {max} ({}); {raise}",
            guard_note()
        ),
        Some(err) if near_limit => format!(
            "greenlet: could not map {len} bytes for greenlet stacks: {err}: the process has \
             {maps_text} mappings and vm.max_map_count is {max} ({}); {raise}",
            guard_note()
        ),
        Some(err) => format!(
            "greenlet: could not map {len} bytes for greenlet stacks: {err}: the address space \
             or memory ran out (check `ulimit -v` and the memory limits of the process; it has \
             {maps_text} mappings of vm.max_map_count {max}, so it is not that limit); use a \
             smaller stack size or keep fewer greenlets alive at once"
        ),
    };
    io::Error::new(io::ErrorKind::OutOfMemory, message)
}

/// Refuses a chunk of `needed` mappings that would leave fewer than [`MAP_HEADROOM`] mappings
/// to the rest of the process. Counts the mappings (reads `/proc/self/maps`) when the estimate
/// (the stacks' own mappings plus the others as last counted) comes near the limit, and every
/// [`RECOUNT_CHUNKS`] chunks, since the rest of the process may map more meanwhile.
fn check_headroom(needed: usize, len: usize) -> io::Result<()> {
    let max = max_map_count();
    let ours = STACK_MAPPINGS.load(Ordering::Relaxed);
    let others = OTHER_MAPPINGS.load(Ordering::Relaxed);
    let chunks = CHUNKS_MAPPED.fetch_add(1, Ordering::Relaxed);
    if chunks % RECOUNT_CHUNKS != 0 && ours + others + needed + 2 * MAP_HEADROOM < max {
        return Ok(());
    }
    let Some(now) = count_mappings() else {
        return Ok(());
    };
    OTHER_MAPPINGS.store(now.saturating_sub(ours), Ordering::Relaxed);
    if now + needed + MAP_HEADROOM > max {
        return Err(exhausted(len, None));
    }
    Ok(())
}

/// How often (in chunks mapped) [`check_headroom`] counts the process's mappings anyway.
const RECOUNT_CHUNKS: usize = 64;
/// Chunks mapped so far (attempts included).
static CHUNKS_MAPPED: AtomicUsize = AtomicUsize::new(0);
/// The process's mappings other than stacks, when last counted.
static OTHER_MAPPINGS: AtomicUsize = AtomicUsize::new(0);

/// Maps one chunk of guarded stacks of `size` usable bytes each; returns their base addresses.
fn map_chunk(size: usize) -> io::Result<Vec<usize>> {
    let mode = guard_mode();
    let slot = size + GUARD;
    let count = chunk_stacks(size);
    let len = slot * count;
    // In the unknown mode the chunk may turn out to need mprotect guards: count for those.
    let needed = if mode == GUARD_MADVISE { 1 } else { 2 * count };
    check_headroom(needed, len)?;
    // SAFETY: an anonymous private mapping at an address the kernel picks; no existing memory is
    // affected. MAP_NORESERVE: pages are committed only when touched.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return Err(exhausted(len, Some(io::Error::last_os_error())));
    }
    let base = base as usize;
    if let Err(err) = install_guards(base, slot, count) {
        // SAFETY: the chunk was mapped above and no stack of it was handed out.
        unsafe { libc::munmap(base as *mut libc::c_void, len) };
        return Err(exhausted(len, Some(err)));
    }
    STACK_MAPPINGS.fetch_add(mappings_per_chunk(count), Ordering::Relaxed);
    Ok((0..count).rev().map(|i| base + (i + 1) * slot).collect())
}

/// `process_madvise` target meaning "the calling thread's process" (Linux 6.15+; unlike a
/// pidfd from `pidfd_open`, it stays right in a forked child).
const PIDFD_SELF_THREAD: libc::c_int = -10_000;
/// `process_madvise(PIDFD_SELF_THREAD, ranges, advice)`: one call for all the `(start, length)`
/// ranges; the bytes advised, or -1 with `errno` set.
///
/// # Safety
/// `advice` must be harmless to whatever lives in the ranges (nothing, for advice that drops
/// pages).
unsafe fn advise_self(
    ranges: impl Iterator<Item = (usize, usize)>,
    advice: libc::c_int,
) -> libc::c_long {
    let iov: Vec<libc::iovec> = ranges
        .map(|(start, len)| libc::iovec {
            iov_base: start as *mut libc::c_void,
            iov_len: len,
        })
        .collect();
    // SAFETY: the kernel reads `iov.len()` entries from `iov`, which outlives the call; what
    // the advice does to the ranges is the caller's contract.
    unsafe {
        libc::syscall(
            libc::SYS_process_madvise,
            PIDFD_SELF_THREAD,
            iov.as_ptr(),
            iov.len(),
            advice,
            0,
        )
    }
}

/// Whether `process_madvise(PIDFD_SELF_THREAD, .., MADV_GUARD_INSTALL)` works here.
static BATCH_GUARDS: AtomicBool = AtomicBool::new(true);

/// Installs the guard page of each of the `count` slots of the chunk at `base`: with one
/// `process_madvise` call for the whole chunk where the kernel takes it, else one call per
/// guard page. One call instead of 64 cut the cost of a fresh stack (guard and first touch)
/// from about 4.8 to 3.9 us of CPU on the development VM (Linux 6.18).
fn install_guards(base: usize, slot: usize, count: usize) -> io::Result<()> {
    if guard_mode() != GUARD_MPROTECT && BATCH_GUARDS.load(Ordering::Relaxed) {
        let guards = (0..count).map(|i| (base + i * slot, GUARD));
        // SAFETY: every range is the first page of a slot of the chunk just mapped (nothing
        // lives there); the call only installs guard markers in this process's own memory.
        let r = unsafe { advise_self(guards, MADV_GUARD_INSTALL) };
        if r == (count * GUARD) as libc::c_long {
            GUARD_MODE.store(GUARD_MADVISE, Ordering::Relaxed);
            return Ok(());
        }
        if r < 0 {
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::ENOMEM) | Some(libc::EAGAIN) => return Err(err),
                // No PIDFD_SELF, no process_madvise, or not this advice: one call per page.
                _ => BATCH_GUARDS.store(false, Ordering::Relaxed),
            }
        }
        // A partial or refused batch: the per-page calls below (installing a guard twice is
        // harmless) finish it, or find out that mprotect is needed.
    }
    for i in 0..count {
        install_guard(base + i * slot)?;
    }
    Ok(())
}

/// Makes the page at `addr` fault on any access, preferring a guard marker that does not split
/// the mapping.
fn install_guard(addr: usize) -> io::Result<()> {
    let mode = GUARD_MODE.load(Ordering::Relaxed);
    if mode != GUARD_MPROTECT {
        // SAFETY: `addr` is the first page of a slot of a mapping we just created; nothing lives
        // there. The call only installs a guard marker for that page.
        let r = unsafe { libc::madvise(addr as *mut libc::c_void, GUARD, MADV_GUARD_INSTALL) };
        if r == 0 {
            GUARD_MODE.store(GUARD_MADVISE, Ordering::Relaxed);
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if mode == GUARD_MADVISE || err.raw_os_error() != Some(libc::EINVAL) {
            return Err(err);
        }
        crate::config::warn(format_args!(
            "greenlet: this kernel has no MADV_GUARD_INSTALL (Linux 6.13+); stack guard pages \
             use mprotect, which costs two memory mappings per stack (vm.max_map_count limits \
             live greenlets to about {})",
            max_map_count().saturating_sub(MAP_HEADROOM) / 2
        ));
        GUARD_MODE.store(GUARD_MPROTECT, Ordering::Relaxed);
    }
    // SAFETY: as above; PROT_NONE on our own unused page.
    let r = unsafe { libc::mprotect(addr as *mut libc::c_void, GUARD, libc::PROT_NONE) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_round_up_to_a_bounded_set_of_classes() {
        assert_eq!(class_size(MIN_STACK_SIZE), MIN_STACK_SIZE);
        assert_eq!(class_size(MIN_STACK_SIZE + 1), 2 * MIN_STACK_SIZE);
        assert_eq!(class_size(100_000), 128 << 10);
        assert_eq!(class_size(MAX_STACK_SIZE), MAX_STACK_SIZE);
        assert_eq!(class_index(MIN_STACK_SIZE), 0);
        assert_eq!(class_index(MAX_STACK_SIZE), CLASSES - 1);
        for bad in [
            0,
            1,
            MIN_STACK_SIZE - 1,
            MAX_STACK_SIZE + 1,
            1 << 60,
            usize::MAX,
        ] {
            let err = validate(bad).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            assert!(err.to_string().contains("out of range"), "{err}");
        }
        assert_eq!(validate(DEFAULT_STACK_SIZE).unwrap(), DEFAULT_STACK_SIZE);
    }

    #[test]
    fn chunks_hold_fewer_stacks_when_stacks_are_big() {
        assert_eq!(chunk_stacks(MIN_STACK_SIZE), CHUNK_STACKS);
        assert_eq!(chunk_stacks(DEFAULT_STACK_SIZE), CHUNK_STACKS);
        assert_eq!(chunk_stacks(MAX_STACK_SIZE), 1);
        assert_eq!(chunk_stacks(64 << 20), 1);
    }
}
