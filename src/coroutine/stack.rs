//! Coroutine stacks: carved out of large chunks, guarded, pooled and reused.
//!
//! A greenlet gets its stack when it first runs, not when it is spawned, and gives it back when it
//! finishes. Three properties matter:
//!
//! * **Cheap reuse.** A finished greenlet's stack goes to a small per-worker cache and is handed to
//!   the next greenlet that starts on that worker: no system call on the spawn path.
//! * **Few mappings.** Linux limits a process to `vm.max_map_count` (65,530 by default) memory
//!   mappings. A classic guarded stack (`mmap` + `mprotect` of a guard page) costs two mappings,
//!   which caps a process near 32,000 live stacks. We map [`CHUNK_STACKS`] stacks at once and
//!   install each guard page with `madvise(MADV_GUARD_INSTALL)` (Linux 6.13+), which marks the
//!   page in the page tables without splitting the mapping: a chunk of 64 stacks is one mapping.
//!   On older kernels we fall back to `mprotect` guards, and say so in the log.
//! * **Lazy commit, batched and decaying give-back.** Stacks are mapped with `MAP_NORESERVE`;
//!   only pages a greenlet touches cost memory. A stack that leaves the per-worker cache goes to
//!   a global *dirty* list, which is reused first (its pages are already faulted in, so a burst
//!   of greenlets after a burst pays no page faults). Idle workers call [`trim_idle`] at most
//!   once per [`TRIM_INTERVAL`]: stacks that stayed unused for a whole interval are given back.
//!   Past [`DIRTY_MAX`] dirty stacks, the excess is given back at once. Giving back sorts the
//!   stacks and merges adjacent ones, then issues one `MADV_DONTNEED` per run (guard markers
//!   survive it): each `madvise` costs a TLB shootdown on every core running the process, so
//!   one per stack would dominate a burst of releases.
//!
//! Layout of one slot (stacks grow down, so the guard sits below the usable range):
//!
//! ```text
//!   slot start                                                slot end = stack base
//!   | guard page (faults) |          usable stack (size bytes)          |
//! ```

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Mutex;

use corosensei::stack::StackPointer;

/// Size of the guard page below each stack.
pub(crate) const GUARD: usize = 4096;
/// Bytes at the top of each stack kept for the coroutine's own bookkeeping (see
/// `coroutine::Running`); the code running on the stack starts below them.
pub(crate) const RESERVED: usize = 64;
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
/// How many stacks one mapping holds (fewer when stacks are large).
const CHUNK_STACKS: usize = 64;
/// Upper bound on one chunk's size in bytes.
const CHUNK_BYTES: usize = 64 << 20;
/// How many finished stacks a worker keeps for itself.
pub(crate) const LOCAL_CACHE: usize = 16;
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

/// Rounds a requested stack size up to whole pages.
pub(crate) fn round_to_pages(size: usize) -> usize {
    size.div_ceil(GUARD) * GUARD
}

/// Checks a stack size given by a user, before any greenlet depends on it.
pub(crate) fn validate(size: usize) -> io::Result<usize> {
    if !(MIN_STACK_SIZE..=MAX_STACK_SIZE).contains(&size) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "greenlet stack size {size} bytes is out of range: use {MIN_STACK_SIZE} to {MAX_STACK_SIZE} bytes"
            ),
        ));
    }
    Ok(round_to_pages(size))
}

/// One greenlet stack: `size` usable bytes below `base`, with a guard page below them.
///
/// Dropping a `Stack` returns it to the global pool; it is never unmapped.
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
// alone, has far more than corosensei's MIN_STACK_SIZE usable bytes, and its lowest page is a guard page that faults on access
// (installed by MADV_GUARD_INSTALL or mprotect before the stack is handed out).
unsafe impl corosensei::stack::Stack for Stack {
    fn base(&self) -> StackPointer {
        StackPointer::new(self.base - RESERVED).expect("stack base is never null")
    }

    fn limit(&self) -> StackPointer {
        StackPointer::new(self.guard_start()).expect("stack limit is never null")
    }
}

impl Drop for Stack {
    /// Files the range in the global pool for reuse (no system call).
    fn drop(&mut self) {
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        let class = pool.class(self.size);
        class.dirty.push(self.base);
        HOLDS_MEMORY.store(true, Ordering::Relaxed);
        if class.dirty.len() + class.aging.len() > DIRTY_MAX {
            // Give back the older half (aging first), keep the most recently used.
            let mut excess = std::mem::take(&mut class.aging);
            let keep = class.dirty.len().min(DIRTY_MAX / 2);
            let cut = class.dirty.len() - keep;
            excess.extend(class.dirty.drain(..cut));
            class.give_back(excess);
        }
    }
}

/// Free stacks of one size, by base address.
struct SizeClass {
    size: usize,
    /// Released since the last trim: touched pages may be resident.
    dirty: Vec<usize>,
    /// Released before the last trim and unused since: given back at the next trim.
    aging: Vec<usize>,
    /// Stacks whose memory has been given back (or never touched).
    clean: Vec<usize>,
}

impl SizeClass {
    fn pop(&mut self) -> Option<usize> {
        self.dirty
            .pop()
            .or_else(|| self.aging.pop())
            .or_else(|| self.clean.pop())
    }

    /// One step of decay: what aged for a whole interval is given back; what is dirty now ages.
    fn age(&mut self) {
        let old = std::mem::take(&mut self.aging);
        self.give_back(old);
        self.aging = std::mem::take(&mut self.dirty);
    }

    /// Gives back the memory of `stacks`, one `madvise` per run of adjacent slots, and files
    /// them as clean.
    fn give_back(&mut self, mut stacks: Vec<usize>) {
        let slot = self.size + GUARD;
        stacks.sort_unstable();
        let mut i = 0;
        while i < stacks.len() {
            let mut j = i + 1;
            while j < stacks.len() && stacks[j] == stacks[j - 1] + slot {
                j += 1;
            }
            // From the lowest usable byte of the first stack to the base of the last one; the
            // guard pages in between keep their markers (MADV_DONTNEED leaves them in place).
            let start = stacks[i] - self.size;
            let len = stacks[j - 1] - start;
            // SAFETY: the range covers free stacks of this pool only (and their guard pages);
            // no code runs on them. MADV_DONTNEED only drops their pages.
            unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED) };
            i = j;
        }
        self.clean.append(&mut stacks);
    }
}

struct Pool {
    classes: Vec<SizeClass>,
}

impl Pool {
    fn class(&mut self, size: usize) -> &mut SizeClass {
        match self.classes.iter().position(|c| c.size == size) {
            Some(i) => &mut self.classes[i],
            None => {
                self.classes.push(SizeClass {
                    size,
                    dirty: Vec::new(),
                    aging: Vec::new(),
                    clean: Vec::new(),
                });
                self.classes.last_mut().expect("just pushed")
            }
        }
    }
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    classes: Vec::new(),
});
/// Whether released stacks may hold memory (checked by idle workers without the lock).
static HOLDS_MEMORY: AtomicBool = AtomicBool::new(false);

/// Whether a trim step could give memory back.
pub(crate) fn holds_memory() -> bool {
    HOLDS_MEMORY.load(Ordering::Relaxed)
}

const GUARD_UNKNOWN: u8 = 0;
const GUARD_MADVISE: u8 = 1;
const GUARD_MPROTECT: u8 = 2;
static GUARD_MODE: AtomicU8 = AtomicU8::new(GUARD_UNKNOWN);
/// `madvise` advice value of MADV_GUARD_INSTALL (Linux 6.13), not yet in every libc release.
const MADV_GUARD_INSTALL: libc::c_int = 102;

/// Takes a stack of `size` bytes (a page multiple) from `cache`, then the global pool, then a new
/// chunk.
pub(crate) fn alloc(size: usize, cache: &mut Vec<Stack>) -> io::Result<Stack> {
    if let Some(pos) = cache.iter().rposition(|s| s.size == size) {
        return Ok(cache.swap_remove(pos));
    }
    let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    let class = pool.class(size);
    if let Some(base) = class.pop() {
        return Ok(Stack { base, size });
    }
    let mut fresh = map_chunk(size)?;
    let base = fresh.pop().expect("a chunk holds at least one stack");
    class.clean.append(&mut fresh);
    Ok(Stack { base, size })
}

/// One step of decay, for an idle worker to call once per [`TRIM_INTERVAL`]: gives back stacks
/// released before the previous step and unused since. Returns whether released stacks still
/// hold memory (so another step is due later).
pub(crate) fn trim_idle() -> bool {
    let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    let mut pending = false;
    for class in pool.classes.iter_mut() {
        if !class.dirty.is_empty() || !class.aging.is_empty() {
            class.age();
        }
        pending |= !class.aging.is_empty();
    }
    HOLDS_MEMORY.store(pending, Ordering::Relaxed);
    pending
}

/// Returns a finished greenlet's stack: to the worker's cache while it has room, otherwise to the
/// global pool.
pub(crate) fn release(stack: Stack, cache: &mut Vec<Stack>) {
    if cache.len() < LOCAL_CACHE {
        cache.push(stack);
    } else {
        drop(stack);
    }
}

/// Maps one chunk of guarded stacks of `size` usable bytes each; returns their base addresses.
fn map_chunk(size: usize) -> io::Result<Vec<usize>> {
    let slot = size + GUARD;
    let count = (CHUNK_BYTES / slot).clamp(1, CHUNK_STACKS);
    let len = slot * count;
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
        let err = io::Error::last_os_error();
        return Err(io::Error::new(
            err.kind(),
            format!("could not map {len} bytes for greenlet stacks: {err}"),
        ));
    }
    let base = base as usize;
    let mut stacks = Vec::with_capacity(count);
    for i in (0..count).rev() {
        let slot_start = base + i * slot;
        install_guard(slot_start)?;
        stacks.push(slot_start + slot);
    }
    Ok(stacks)
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
        log::warn!(
            "greenlet: this kernel has no MADV_GUARD_INSTALL (Linux 6.13+); stack guard pages use \
             mprotect, which costs two memory mappings per stack (vm.max_map_count limits live \
             greenlets to about 32,000)"
        );
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
