//! The registry of live greenlets: what [`crate::dump`], the stall monitor and the deadlock
//! detector read to name greenlets.
//!
//! Every task is entered when it is made and taken out when its last reference goes (in
//! `Header`'s destructor), so an entry always points at a live task. Entries are plain pointers:
//! the registry holds no reference count (a dump must not keep a greenlet alive, and a reader
//! must never revive a task whose last reference is being dropped). Reading an entry is sound
//! only under its shard's lock, which the destructor also takes before the task's memory goes.
//!
//! The registry is split in [`SHARDS`] shards, each a slab behind a [`SpinLock`]. Ids are handed
//! out in blocks of 1024 per thread (`greenlet::next_id`), and the shard is chosen from the block,
//! so the greenlets spawned by one thread share a shard and spawns on different threads do not
//! contend. A spawn costs one uncontended lock and a slab insert; the drop, the same.

use std::ptr::NonNull;
use std::sync::LazyLock;

use slab::Slab;

use super::task::Task;
use crate::park::SpinLock;

/// How many shards the registry has.
const SHARDS: usize = 64;
/// Ids of one thread's block (see `greenlet::next_id`) land in the same shard.
const ID_BLOCK_SHIFT: u32 = 10;

/// A registered task: valid while its entry is in the slab (see the module docs).
#[derive(Clone, Copy)]
struct Entry(NonNull<Task>);

// SAFETY: the pointer is only dereferenced under the shard's lock while the task is alive (its
// destructor removes the entry under the same lock first); `Task` is Send + Sync.
unsafe impl Send for Entry {}

/// Where a task is registered: its shard and its key in the shard's slab.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    shard: u32,
    slot: u32,
}

impl Key {
    /// Packs the key into one word (for `Header`'s atomic field and the stall monitor).
    pub(crate) fn to_bits(self) -> u64 {
        (u64::from(self.shard) << 32) | u64::from(self.slot)
    }

    pub(crate) fn from_bits(bits: u64) -> Key {
        Key {
            shard: (bits >> 32) as u32,
            slot: bits as u32,
        }
    }
}

/// The process's registry (it needs no runtime: a task is registered as it is made).
pub(crate) static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::new);

pub(crate) struct Registry {
    shards: Box<[SpinLock<Slab<Entry>>]>,
}

impl Registry {
    pub(crate) fn new() -> Registry {
        Registry {
            shards: (0..SHARDS).map(|_| SpinLock::new(Slab::new())).collect(),
        }
    }

    /// Enters a task made with id `id`. The task must call [`remove`](Registry::remove) with
    /// the returned key before its memory is freed.
    pub(crate) fn insert(&self, id: u64, task: NonNull<Task>) -> Key {
        let shard = ((id >> ID_BLOCK_SHIFT) as usize) % SHARDS;
        let slot = self.shards[shard].lock().insert(Entry(task));
        Key {
            shard: shard as u32,
            slot: slot as u32,
        }
    }

    /// Takes a task out (from its destructor).
    pub(crate) fn remove(&self, key: Key) {
        let mut shard = self.shards[key.shard as usize].lock();
        if shard.contains(key.slot as usize) {
            shard.remove(key.slot as usize);
        }
    }

    /// Calls `f` with every live task, one shard at a time, under that shard's lock. `f` must be
    /// short and must not park, spawn or drop a task (it runs under a spin lock).
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Task)) {
        for shard in self.shards.iter() {
            let shard = shard.lock();
            for (_, entry) in shard.iter() {
                // SAFETY: an entry is in the slab only while its task is alive; the task's
                // destructor removes it under this lock, which we hold (see the module docs).
                f(unsafe { entry.0.as_ref() });
            }
        }
    }

    /// Calls `f` with the task at `key` if it is still there and has id `id` (a slot may have
    /// been reused by another task since the key was read).
    pub(crate) fn with<R>(&self, key: Key, id: u64, f: impl FnOnce(&Task) -> R) -> Option<R> {
        let shard = self.shards.get(key.shard as usize)?.lock();
        let entry = shard.get(key.slot as usize)?;
        // SAFETY: as in `for_each`.
        let task = unsafe { entry.0.as_ref() };
        (task.header.id == id).then(|| f(task))
    }
}
