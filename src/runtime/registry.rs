//! The registry of live greenlets: what [`crate::dump`], the stall monitor and the deadlock
//! detector read to name greenlets.
//!
//! Every task is entered when it is made and taken out when its last reference goes (in
//! `Header`'s destructor), so an entry always points at a live task. Entries are plain pointers:
//! the registry holds no reference count (a dump must not keep a greenlet alive, and a reader
//! must never revive a task whose last reference is being dropped). Reading an entry is sound
//! only under its shard's lock, which the destructor also takes before the task's memory goes.
//!
//! The registry is split in [`SHARDS`] shards, each a vector of slots behind a [`SpinLock`]. Ids
//! are handed out in blocks of 1024 per thread (`greenlet::next_id`), and the shard is chosen
//! from the block, so the greenlets spawned by one thread share a shard and spawns on different
//! threads do not contend. A spawn costs one uncontended lock and a slot filled; the drop, the same. A slot is
//! one word (a thin pointer to the task's header, `None` when vacant), the vacant ones listed
//! for reuse: a million live greenlets hold 8 MB here (a `slab` of fat task pointers took 24).

use std::ptr::NonNull;
use std::sync::LazyLock;

use super::task::Header;
use crate::park::SpinLock;

/// How many shards the registry has.
const SHARDS: usize = 64;
/// Ids of one thread's block (see `greenlet::next_id`) land in the same shard.
const ID_BLOCK_SHIFT: u32 = 10;

/// A registered task's header: valid while its entry is in the shard (see the module docs).
#[derive(Clone, Copy)]
struct Entry(NonNull<Header>);

// SAFETY: the pointer is only dereferenced under the shard's lock while the task is alive (its
// destructor removes the entry under the same lock first); `Header` is Send + Sync.
unsafe impl Send for Entry {}

/// One shard: the entries by slot, and the vacant slots to fill first.
#[derive(Default)]
struct Shard {
    /// `None`: vacant (its index is in `vacant`).
    slots: Vec<Option<Entry>>,
    vacant: Vec<u32>,
}

impl Shard {
    /// Fills a vacant slot, or a new one; `None` if the shard has no slot index left.
    fn insert(&mut self, entry: Entry) -> Option<u32> {
        if let Some(slot) = self.vacant.pop() {
            self.slots[slot as usize] = Some(entry);
            return Some(slot);
        }
        let slot = u32::try_from(self.slots.len()).ok()?;
        self.slots.push(Some(entry));
        Some(slot)
    }

    /// Empties `slot` if it holds an entry.
    fn remove(&mut self, slot: u32) {
        if let Some(entry @ Some(_)) = self.slots.get_mut(slot as usize) {
            *entry = None;
            self.vacant.push(slot);
        }
    }

    fn get(&self, slot: u32) -> Option<Entry> {
        self.slots.get(slot as usize).copied().flatten()
    }

    fn iter(&self) -> impl Iterator<Item = Entry> + '_ {
        self.slots.iter().filter_map(|e| *e)
    }
}

/// Where a task is registered: its shard and its slot in the shard.
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
    shards: Box<[SpinLock<Shard>]>,
}

impl Registry {
    pub(crate) fn new() -> Registry {
        Registry {
            shards: (0..SHARDS)
                .map(|_| SpinLock::new(Shard::default()))
                .collect(),
        }
    }

    /// Enters the header of a task made with id `id`. The task must call
    /// [`remove`](Registry::remove) with the returned key before its memory is freed. `None`
    /// (the shard holds 2^32 entries): not entered; dumps and reports then do not name it.
    pub(crate) fn insert(&self, id: u64, header: NonNull<Header>) -> Option<Key> {
        let shard = ((id >> ID_BLOCK_SHIFT) as usize) % SHARDS;
        let slot = self.shards[shard].lock().insert(Entry(header))?;
        Some(Key {
            shard: shard as u32,
            slot,
        })
    }

    /// Takes a task out (from its destructor).
    pub(crate) fn remove(&self, key: Key) {
        self.shards[key.shard as usize].lock().remove(key.slot);
    }

    /// Calls `f` with every live task, one shard at a time, under that shard's lock. `f` must be
    /// short and must not park, spawn or drop a task (it runs under a spin lock).
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Header)) {
        for shard in self.shards.iter() {
            let shard = shard.lock();
            for entry in shard.iter() {
                // SAFETY: an entry is in the shard only while its task is alive; the task's
                // destructor removes it under this lock, which we hold (see the module docs).
                f(unsafe { entry.0.as_ref() });
            }
        }
    }

    /// Calls `f` with the task at `key` if it is still there and has id `id` (a slot may have
    /// been reused by another task since the key was read).
    pub(crate) fn with<R>(&self, key: Key, id: u64, f: impl FnOnce(&Header) -> R) -> Option<R> {
        let shard = self.shards.get(key.shard as usize)?.lock();
        let entry = shard.get(key.slot)?;
        // SAFETY: as in `for_each`.
        let header = unsafe { entry.0.as_ref() };
        (header.id == id).then(|| f(header))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(h: &Header) -> Entry {
        Entry(NonNull::from(h))
    }

    /// A shard fills vacant slots before it grows, lists only what it holds, and ignores a
    /// second removal of a slot (a stale key).
    #[test]
    fn a_shard_reuses_vacant_slots() {
        let at = std::panic::Location::caller();
        let headers: Vec<Header> = (0..4)
            .map(|id| Header::new(id, None, 1 << 16, at))
            .collect();
        let mut shard = Shard::default();
        let slots: Vec<u32> = headers
            .iter()
            .map(|h| shard.insert(entry(h)).unwrap())
            .collect();
        assert_eq!(slots, [0, 1, 2, 3]);
        shard.remove(1);
        shard.remove(1);
        shard.remove(9);
        assert!(shard.get(1).is_none());
        let ids = |s: &Shard| -> Vec<u64> {
            // SAFETY: the headers outlive the shard's entries in this test.
            s.iter().map(|e| unsafe { e.0.as_ref() }.id).collect()
        };
        assert_eq!(ids(&shard), [0, 2, 3]);
        assert_eq!(shard.insert(entry(&headers[1])), Some(1));
        assert_eq!(shard.insert(entry(&headers[0])), Some(4));
        assert_eq!(ids(&shard), [0, 1, 2, 3, 0]);
        assert_eq!(std::mem::size_of::<Option<Entry>>(), 8);
    }
}
