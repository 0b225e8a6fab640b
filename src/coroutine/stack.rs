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
//! * **Lazy commit.** Stacks are mapped with `MAP_NORESERVE`; only pages a greenlet touches cost
//!   memory. Stacks that leave the per-worker cache are given back with `MADV_DONTNEED`, which
//!   keeps the guard markers in place.
//!
//! Layout of one slot (stacks grow down, so the guard sits below the usable range):
//!
//! ```text
//!   slot start                                                slot end = stack base
//!   | guard page (faults) |          usable stack (size bytes)          |
//! ```

use std::io;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;

use corosensei::stack::StackPointer;

/// Size of the guard page below each stack.
pub(crate) const GUARD: usize = 4096;
/// The default usable size of a greenlet's stack: 256 KiB of address space, committed lazily.
/// Enough for debug builds and deep library calls; a parked greenlet typically touches one page.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;
/// The smallest stack size accepted by [`Builder::stack_size`](crate::Builder::stack_size).
pub const MIN_STACK_SIZE: usize = 16 * 1024;
/// The largest stack size accepted by [`Builder::stack_size`](crate::Builder::stack_size).
pub const MAX_STACK_SIZE: usize = 1 << 30;
/// How many stacks one mapping holds (fewer when stacks are large).
const CHUNK_STACKS: usize = 64;
/// Upper bound on one chunk's size in bytes.
const CHUNK_BYTES: usize = 64 << 20;
/// How many finished stacks a worker keeps without giving their memory back.
pub(crate) const LOCAL_CACHE: usize = 16;

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

    /// The lowest address of the guard page.
    pub(crate) fn guard_start(&self) -> usize {
        self.base - self.size - GUARD
    }

    /// Gives the stack's memory back to the kernel; the guard marker stays.
    fn discard_pages(&self) {
        // SAFETY: [base - size, base) is a private anonymous range that this Stack owns and no
        // code runs on (the coroutine that used it has finished). MADV_DONTNEED only zeroes it.
        unsafe {
            libc::madvise(
                (self.base - self.size) as *mut libc::c_void,
                self.size,
                libc::MADV_DONTNEED,
            );
        }
    }
}

// SAFETY: the range [limit, base) was mapped by `map_chunk`, is owned by this Stack alone, has
// at least MIN_STACK_SIZE usable bytes, and its lowest page is a guard page that faults on access
// (installed by MADV_GUARD_INSTALL or mprotect before the stack is handed out).
unsafe impl corosensei::stack::Stack for Stack {
    fn base(&self) -> StackPointer {
        StackPointer::new(self.base).expect("stack base is never null")
    }

    fn limit(&self) -> StackPointer {
        StackPointer::new(self.guard_start()).expect("stack limit is never null")
    }
}

impl Drop for Stack {
    /// Gives the memory back and files the range in the global pool for reuse.
    fn drop(&mut self) {
        self.discard_pages();
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        match pool.iter_mut().find(|c| c.size == self.size) {
            Some(class) => class.free.push(self.base),
            None => pool.push(SizeClass {
                size: self.size,
                free: vec![self.base],
            }),
        }
    }
}

/// Free stacks of one size, by base address.
struct SizeClass {
    size: usize,
    free: Vec<usize>,
}

static POOL: Mutex<Vec<SizeClass>> = Mutex::new(Vec::new());

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
    if let Some(class) = pool.iter_mut().find(|c| c.size == size) {
        if let Some(base) = class.free.pop() {
            return Ok(Stack { base, size });
        }
    }
    let mut fresh = map_chunk(size)?;
    let base = fresh.pop().expect("a chunk holds at least one stack");
    match pool.iter_mut().find(|c| c.size == size) {
        Some(class) => class.free.append(&mut fresh),
        None => pool.push(SizeClass { size, free: fresh }),
    }
    Ok(Stack { base, size })
}

/// Returns a finished greenlet's stack: to the worker's cache while it has room (no system call),
/// otherwise to the global pool with its pages given back.
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
