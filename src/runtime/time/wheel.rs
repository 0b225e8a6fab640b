//! A hierarchical timing wheel: O(1) insert and cancel, expiry in batches.
//!
//! Time is counted in *ticks* ([`TICK_NS`]). The wheel has [`LEVELS`] levels of [`SLOTS`] slots;
//! a slot of level `k` spans `64^k` ticks, so level `k` as a whole spans `64^(k+1)`, and the
//! eight levels cover 2^48 ticks (8,900 years of milliseconds: every deadline a `u64` of
//! nanoseconds can hold). After tokio's `runtime/time/wheel`.
//!
//! * **Where a timer goes.** Relative to `elapsed` (the last tick processed), a deadline `t` goes
//!   to the level of the highest 6-bit digit where `t` and `elapsed` differ, into the slot named
//!   by `t`'s digit there. So every timer of level `k` shares the digits above `k` with
//!   `elapsed`, and its digit `k` is greater than `elapsed`'s: the timers of level 0 all come
//!   before those of level 1, which come before those of level 2, and so on. A deadline already
//!   reached goes to the `due` list.
//! * **The next expiry** is therefore the first occupied slot (a bit in the level's `occupied`
//!   word) at or after `elapsed`'s digit in the lowest non-empty level: a few bit operations.
//! * **Processing** a slot moves `elapsed` to the slot's start and takes its whole list: the
//!   timers due by then are expired; the others go back in, now at a lower level (cascading).
//!   Every timer cascades at most once per level, so the amortised cost of a timer is O(levels).
//! * **Storage.** Timers live in a slab of fixed-size chunks (no reallocation, no copy as it
//!   grows, and a count of live timers bounds the memory: chunks are given back when the wheel
//!   empties), linked into per-slot doubly linked lists by index, so a timer is cancelled by
//!   unlinking it. A [`Key`] names a timer by slab index and a per-wheel id, so a key whose timer
//!   has expired (its index reused since) cancels nothing.

/// One tick, in nanoseconds.
pub(crate) const TICK_NS: u64 = 1_000_000;
/// Bits of the deadline each level resolves.
const BITS: u32 = 6;
/// Slots per level.
const SLOTS: usize = 1 << BITS;
/// Levels: `LEVELS * BITS` = 48 bits of ticks, more than `u64::MAX / TICK_NS` needs.
const LEVELS: usize = 8;
/// Timers per slab chunk.
const CHUNK: usize = 1024;
/// The end of a list (a slab index that never exists).
const NIL: u32 = u32::MAX;
/// The `level` of a timer on the due list.
const DUE: u8 = LEVELS as u8;

const _: () = assert!(LEVELS as u32 * BITS >= 64 - (u64::MAX / TICK_NS).leading_zeros());

/// Names one timer of one wheel (see [`Wheel::cancel`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    index: u32,
    id: u32,
}

/// A timer in the slab, or a free slot of it (`value` is `None`, `next` links the free list).
struct Node<T> {
    tick: u64,
    id: u32,
    prev: u32,
    next: u32,
    level: u8,
    slot: u8,
    value: Option<T>,
}

/// A list of timers: its first and last slab index (both [`NIL`] when empty).
#[derive(Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
}

const EMPTY: List = List {
    head: NIL,
    tail: NIL,
};

/// A timing wheel holding values of type `T` (see the module docs).
pub(crate) struct Wheel<T> {
    /// The last tick processed: every timer due by it has been expired.
    elapsed: u64,
    /// Bit `s` of `occupied[k]`: slot `s` of level `k` holds timers.
    occupied: [u64; LEVELS],
    slots: [[List; SLOTS]; LEVELS],
    /// Timers whose deadline had passed when they were added.
    due: List,
    chunks: Vec<Box<[Node<T>]>>,
    /// First free slab index ([`NIL`]: none; a new chunk is added).
    free: u32,
    next_id: u32,
    len: usize,
}

/// The level of a timer due at `tick` when the wheel has processed `elapsed` (`tick > elapsed`).
fn level_for(elapsed: u64, tick: u64) -> usize {
    // The lowest level's digit is masked in so that `tick == elapsed + small` lands on level 0.
    let masked = (elapsed ^ tick) | (SLOTS as u64 - 1);
    let significant = 63 - masked.leading_zeros();
    (significant / BITS) as usize
}

/// The slot of `tick` at `level`.
fn slot_for(tick: u64, level: usize) -> usize {
    ((tick >> (BITS * level as u32)) as usize) & (SLOTS - 1)
}

/// Ticks spanned by one slot of `level`.
fn slot_range(level: usize) -> u64 {
    1u64 << (BITS * level as u32)
}

/// Ticks spanned by the whole of `level` (`2^48` for the top level).
fn level_range(level: usize) -> u64 {
    1u64 << (BITS * (level as u32 + 1))
}

impl<T> Wheel<T> {
    pub(crate) fn new() -> Wheel<T> {
        Wheel {
            elapsed: 0,
            occupied: [0; LEVELS],
            slots: [[EMPTY; SLOTS]; LEVELS],
            due: EMPTY,
            chunks: Vec::new(),
            free: NIL,
            next_id: 0,
            len: 0,
        }
    }

    /// How many timers the wheel holds.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn node(&self, index: u32) -> &Node<T> {
        &self.chunks[index as usize / CHUNK][index as usize % CHUNK]
    }

    fn node_mut(&mut self, index: u32) -> &mut Node<T> {
        &mut self.chunks[index as usize / CHUNK][index as usize % CHUNK]
    }

    /// Adds a timer due at `tick`; returns its key.
    pub(crate) fn insert(&mut self, tick: u64, value: T) -> Key {
        if self.free == NIL {
            self.grow();
        }
        let index = self.free;
        let id = self.next_id;
        self.next_id = id.wrapping_add(1);
        let node = self.node_mut(index);
        let next_free = node.next;
        node.tick = tick;
        node.id = id;
        node.value = Some(value);
        self.free = next_free;
        self.len += 1;
        self.link(index);
        Key { index, id }
    }

    /// Adds a chunk of free nodes (`u32` indices: at most 4 billion timers per wheel).
    fn grow(&mut self) {
        let base = self.chunks.len() * CHUNK;
        assert!(base + CHUNK < NIL as usize, "more than 4 billion timers");
        let chunk: Box<[Node<T>]> = (0..CHUNK)
            .map(|i| Node {
                tick: 0,
                id: 0,
                prev: NIL,
                next: if i + 1 < CHUNK {
                    (base + i + 1) as u32
                } else {
                    NIL
                },
                level: 0,
                slot: 0,
                value: None,
            })
            .collect();
        self.chunks.push(chunk);
        self.free = base as u32;
    }

    /// Puts the timer at `index` (its tick set) at the end of the list it belongs in.
    fn link(&mut self, index: u32) {
        let tick = self.node(index).tick;
        let (level, slot) = if tick <= self.elapsed {
            (DUE, 0)
        } else {
            let level = level_for(self.elapsed, tick);
            (level as u8, slot_for(tick, level) as u8)
        };
        let list = self.list_mut(level, slot);
        let tail = list.tail;
        list.tail = index;
        if tail == NIL {
            list.head = index;
        }
        if level != DUE {
            self.occupied[level as usize] |= 1 << slot;
        }
        if tail != NIL {
            self.node_mut(tail).next = index;
        }
        let node = self.node_mut(index);
        node.level = level;
        node.slot = slot;
        node.prev = tail;
        node.next = NIL;
    }

    fn list_mut(&mut self, level: u8, slot: u8) -> &mut List {
        if level == DUE {
            &mut self.due
        } else {
            &mut self.slots[level as usize][slot as usize]
        }
    }

    /// Takes the timer at `index` out of its list.
    fn unlink(&mut self, index: u32) {
        let node = self.node(index);
        let (prev, next, level, slot) = (node.prev, node.next, node.level, node.slot);
        if prev == NIL {
            self.list_mut(level, slot).head = next;
        } else {
            self.node_mut(prev).next = next;
        }
        if next == NIL {
            self.list_mut(level, slot).tail = prev;
        } else {
            self.node_mut(next).prev = prev;
        }
        if level != DUE && self.slots[level as usize][slot as usize].head == NIL {
            self.occupied[level as usize] &= !(1 << slot);
        }
    }

    /// Frees the node at `index` (already unlinked); returns its value.
    fn release(&mut self, index: u32) -> T {
        let free = self.free;
        let node = self.node_mut(index);
        let value = node.value.take().expect("a linked node holds a timer");
        node.next = free;
        self.free = index;
        self.len -= 1;
        if self.len == 0 && self.chunks.len() > 1 {
            // Empty after a burst: give the memory back (keys stay unique: ids keep counting).
            self.chunks.clear();
            self.free = NIL;
        }
        value
    }

    /// Removes the timer `key` names; `None` if it is no longer in the wheel (expired).
    pub(crate) fn cancel(&mut self, key: Key) -> Option<T> {
        let chunk = self.chunks.get(key.index as usize / CHUNK)?;
        let node = &chunk[key.index as usize % CHUNK];
        if node.id != key.id || node.value.is_none() {
            return None;
        }
        self.unlink(key.index);
        Some(self.release(key.index))
    }

    /// The tick at which the wheel next has work: the earliest deadline, or the start of a slot
    /// whose timers move down a level then. `None` when empty.
    pub(crate) fn next_tick(&self) -> Option<u64> {
        if self.due.head != NIL {
            return Some(self.elapsed);
        }
        self.next_slot().map(|(_, _, tick)| tick)
    }

    /// The first occupied slot in processing order: (level, slot, its start tick).
    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        let level = self.occupied.iter().position(|&o| o != 0)?;
        let now_slot = slot_for(self.elapsed, level);
        let rotated = self.occupied[level].rotate_right(now_slot as u32);
        let slot = (rotated.trailing_zeros() as usize + now_slot) % SLOTS;
        let level_start = self.elapsed & !(level_range(level).wrapping_sub(1));
        Some((level, slot, level_start + slot as u64 * slot_range(level)))
    }

    /// Expires every timer due by tick `now` into `out`, in deadline order (ties: mostly in the
    /// order added).
    pub(crate) fn expire(&mut self, now: u64, out: &mut Vec<T>) {
        self.drain_due(out);
        while let Some((level, slot, start)) = self.next_slot() {
            if start > now {
                break;
            }
            self.elapsed = start;
            self.process(level, slot, out);
        }
        self.elapsed = self.elapsed.max(now);
    }

    fn drain_due(&mut self, out: &mut Vec<T>) {
        let mut index = std::mem::replace(&mut self.due, EMPTY).head;
        while index != NIL {
            let next = self.node(index).next;
            out.push(self.release(index));
            index = next;
        }
    }

    /// Takes slot `slot` of `level` at its start (`elapsed`): expires its due timers and moves
    /// the others down.
    fn process(&mut self, level: usize, slot: usize, out: &mut Vec<T>) {
        let list = std::mem::replace(&mut self.slots[level][slot], EMPTY);
        self.occupied[level] &= !(1 << slot);
        let mut index = list.head;
        while index != NIL {
            let node = self.node(index);
            let (next, tick) = (node.next, node.tick);
            if tick <= self.elapsed {
                out.push(self.release(index));
            } else {
                self.link(index);
            }
            index = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expire(w: &mut Wheel<u64>, now: u64) -> Vec<u64> {
        let mut out = Vec::new();
        w.expire(now, &mut out);
        out
    }

    #[test]
    fn level_and_slot_math() {
        assert_eq!(level_for(0, 1), 0);
        assert_eq!(level_for(0, 63), 0);
        assert_eq!(level_for(0, 64), 1);
        assert_eq!(level_for(0, 64 * 64 - 1), 1);
        assert_eq!(level_for(0, 64 * 64), 2);
        // Same digits above level 0 as elapsed: level 0 even if far from elapsed's digit.
        assert_eq!(level_for(64 + 1, 64 + 63), 0);
        // Crossing a level-1 boundary is level 1, however close.
        assert_eq!(level_for(63, 64), 1);
        assert_eq!(level_for(0, u64::MAX / TICK_NS + 1), LEVELS - 1);
        // Years away: the top levels (ticks are milliseconds).
        let year = 365 * 86_400 * 1000;
        assert_eq!(level_for(0, 20 * year), LEVELS - 2);
        assert_eq!(level_for(0, 500 * year), LEVELS - 1);
        assert_eq!(slot_for(64 * 5 + 3, 0), 3);
        assert_eq!(slot_for(64 * 5 + 3, 1), 5);
        assert_eq!(slot_range(2), 4096);
        assert_eq!(level_range(LEVELS - 1), 1 << 48);
    }

    #[test]
    fn expires_in_deadline_order_never_early() {
        let mut w = Wheel::new();
        for t in [30u64, 10, 20, 5000, 64, 63, 4096, 1_000_000] {
            w.insert(t, t);
        }
        assert_eq!(w.next_tick(), Some(10));
        assert_eq!(expire(&mut w, 9), Vec::<u64>::new());
        assert_eq!(expire(&mut w, 20), vec![10, 20]);
        assert_eq!(expire(&mut w, 4095), vec![30, 63, 64]);
        assert_eq!(expire(&mut w, 4096), vec![4096]);
        assert_eq!(expire(&mut w, 999_999), vec![5000]);
        assert_eq!(expire(&mut w, 1_000_000), vec![1_000_000]);
        assert_eq!(w.len(), 0);
        assert_eq!(w.next_tick(), None);
    }

    #[test]
    fn cascades_through_every_level() {
        let mut w = Wheel::new();
        let far = (1u64 << 47) + 12345;
        w.insert(far, far);
        // Each step lands on the start of the next slot to cascade, until the deadline itself.
        let mut steps = 0;
        while let Some(next) = w.next_tick() {
            assert!(next <= far, "next {next} past the deadline {far}");
            let out = expire(&mut w, next);
            steps += 1;
            if next == far {
                assert_eq!(out, vec![far]);
            } else {
                assert!(out.is_empty());
            }
        }
        assert!(steps <= LEVELS + 1, "{steps} steps");
    }

    #[test]
    fn a_late_poll_expires_everything_due() {
        let mut w = Wheel::new();
        for t in (1..200_000u64).step_by(997) {
            w.insert(t, t);
        }
        let out = expire(&mut w, 150_000);
        assert!(out.windows(2).all(|p| p[0] < p[1]), "out of order");
        assert_eq!(out.len(), (1..=150_000u64).step_by(997).count());
        let rest = expire(&mut w, u64::MAX >> 16);
        assert_eq!(out.len() + rest.len(), (1..200_000u64).step_by(997).count());
    }

    #[test]
    fn a_deadline_already_passed_is_due_at_once() {
        let mut w = Wheel::new();
        expire(&mut w, 100);
        w.insert(50, 50);
        w.insert(100, 100);
        assert_eq!(w.next_tick(), Some(100));
        assert_eq!(expire(&mut w, 100), vec![50, 100]);
    }

    #[test]
    fn cancel_unlinks_in_o1_and_stale_keys_cancel_nothing() {
        let mut w = Wheel::new();
        let keys: Vec<Key> = (0..5000u64).map(|t| w.insert(100 + t, t)).collect();
        // Cancel every other one, from the middle of lists, their heads and tails.
        for k in keys.iter().step_by(2) {
            assert!(w.cancel(*k).is_some());
            assert_eq!(w.cancel(*k), None, "cancelled twice");
        }
        assert_eq!(w.len(), 2500);
        let out = expire(&mut w, 100 + 4999);
        assert_eq!(out, (1..5000).step_by(2).collect::<Vec<u64>>());
        assert_eq!(w.len(), 0);
        // An expired timer's key, its index reused since, cancels nothing.
        let fresh = w.insert(10_000, 7);
        assert_eq!(w.cancel(keys[1]), None);
        assert_eq!(w.cancel(fresh), Some(7));
        assert_eq!(w.next_tick(), None);
    }

    #[test]
    fn emptied_wheel_gives_its_memory_back() {
        let mut w = Wheel::new();
        let keys: Vec<Key> = (0..10 * CHUNK as u64).map(|t| w.insert(t + 1, t)).collect();
        assert_eq!(w.chunks.len(), 10);
        for k in keys {
            w.cancel(k);
        }
        assert!(w.chunks.is_empty());
        let k = w.insert(5, 5);
        assert_eq!(w.cancel(k), Some(5));
    }

    #[test]
    fn matches_a_sorted_reference_under_random_load() {
        // A small xorshift: inserts, cancels and expiries at random, checked against a sorted
        // list of (tick, value).
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut w = Wheel::new();
        let mut live: Vec<(u64, u64, Key)> = Vec::new();
        let mut now = 0u64;
        for v in 0..20_000u64 {
            match rand() % 4 {
                0 | 1 => {
                    let span = [64u64, 4096, 1 << 20, 1 << 40][(rand() % 4) as usize];
                    let tick = now + rand() % span;
                    live.push((tick, v, w.insert(tick, v)));
                }
                2 if !live.is_empty() => {
                    let (_, v, k) = live.swap_remove((rand() % live.len() as u64) as usize);
                    assert_eq!(w.cancel(k), Some(v));
                }
                _ => {
                    now += rand() % 5000;
                    let mut got = expire(&mut w, now);
                    let mut want: Vec<u64> =
                        live.iter().filter(|e| e.0 <= now).map(|e| e.1).collect();
                    live.retain(|e| e.0 > now);
                    got.sort_unstable();
                    want.sort_unstable();
                    assert_eq!(got, want, "at {now}");
                    if let Some(next) = w.next_tick() {
                        assert!(next > now);
                        assert!(
                            live.iter().all(|e| e.0 >= next),
                            "next {next} past a deadline"
                        );
                    }
                }
            }
            assert_eq!(w.len(), live.len());
        }
    }
}
