//! `Interner`: byte strings to dense `u32` ids, and their byte order.
//!
//! The core-table aggregation sees every user id, identifier and timestamp of
//! raw_events millions of times but only a few hundred thousand distinct
//! values; hashing each to an id once lets the accumulators hold small
//! integers. SQLite orders text by its bytes (BINARY collation), so `ranks`
//! gives the ids that order for sorting rows as the SQL's ORDER BY does.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// Strings in one arena; the map's keys hold short ones inline.
///
/// Lookups dominate the aggregation (a user id per event, and an identifier
/// whenever a user's changes): with boxed keys each was two cache misses,
/// the table's slot and then the key's bytes. User ids, devices, IPs and
/// payment tokens here are at most 15 bytes, compared in the slot itself.
#[derive(Default)]
pub struct Interner {
    ids: HashMap<Key, u32, FxBuild>,
    strings: Strings,
}

impl Interner {
    pub fn intern(&mut self, bytes: &[u8]) -> u32 {
        if let Some(&id) = self.ids.get(bytes) {
            return id;
        }
        let id = self.strings.push(bytes);
        self.ids.insert(Key::new(bytes), id);
        id
    }

    pub fn get(&self, id: u32) -> &[u8] {
        self.strings.get(id)
    }

    /// Each id's position when all the strings are sorted by their bytes.
    pub fn ranks(&self) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.strings.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| self.get(a).cmp(self.get(b)));
        let mut ranks = vec![0; order.len()];
        for (rank, &id) in order.iter().enumerate() {
            ranks[id as usize] = rank as u32;
        }
        ranks
    }
}

/// Byte strings back to back in one allocation, by dense id: a few large
/// allocations where a `Box` each would be millions of small ones.
#[derive(Default)]
pub struct Strings {
    bytes: Vec<u8>,
    /// Where each string ends in `bytes`, by id.
    ends: Vec<usize>,
}

impl Strings {
    /// Appends a string; its id.
    pub fn push(&mut self, bytes: &[u8]) -> u32 {
        let id = u32::try_from(self.ends.len()).expect("fewer than 4 billion strings");
        self.bytes.extend_from_slice(bytes);
        self.ends.push(self.bytes.len());
        id
    }

    pub fn get(&self, id: u32) -> &[u8] {
        let id = id as usize;
        let start = if id == 0 { 0 } else { self.ends[id - 1] };
        &self.bytes[start..self.ends[id]]
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }
}

/// Up to 15 bytes held inline, to compare without following a pointer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Short {
    len: u8,
    bytes: [u8; 15],
}

impl Short {
    pub fn new(bytes: &[u8]) -> Option<Short> {
        let mut short = Short {
            len: u8::try_from(bytes.len()).ok().filter(|&n| n <= 15)?,
            bytes: [0; 15],
        };
        short.bytes[..bytes.len()].copy_from_slice(bytes);
        Some(short)
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// A map key: a short string inline, a longer one boxed. Hashes and
/// compares as its bytes, so the map is searched by `&[u8]`.
enum Key {
    Short(Short),
    Long(Box<[u8]>),
}

impl Key {
    fn new(bytes: &[u8]) -> Key {
        Short::new(bytes).map_or_else(|| Key::Long(bytes.into()), Key::Short)
    }
}

impl Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        match self {
            Key::Short(short) => short.as_slice(),
            Key::Long(bytes) => bytes,
        }
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        Borrow::<[u8]>::borrow(self).hash(state);
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        Borrow::<[u8]>::borrow(self) == Borrow::<[u8]>::borrow(other)
    }
}

impl Eq for Key {}

/// FxHash (rustc's hasher): a multiply and a rotate per 8 bytes. The keys are
/// our own ids and short ASCII values, so SipHash's DoS resistance buys
/// nothing here and costs a third of the aggregation's time.
#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

pub type FxBuild = BuildHasherDefault<FxHasher>;

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
        let mut tail = [0u8; 8];
        let rest = chunks.remainder();
        tail[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(tail) ^ ((rest.len() as u64) << 56));
    }

    fn write_u8(&mut self, n: u8) {
        self.add(n.into());
    }

    fn write_u32(&mut self, n: u32) {
        self.add(n.into());
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    // hashbrown takes the bucket from the low bits and a tag from the top 7:
    // a multiply leaves the low bits weak, so fold the high half down.
    fn finish(&self) -> u64 {
        let h = self.hash;
        (h ^ (h >> 32)).wrapping_mul(SEED) ^ (h >> 29)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Equal bytes get one id; ranks follow byte order, not first appearance.
    #[test]
    fn interns_and_ranks_by_bytes() {
        let mut strings = Interner::default();
        let b = strings.intern(b"u_00002");
        let a = strings.intern(b"u_00001");
        assert_eq!(strings.intern(b"u_00002"), b);
        let empty = strings.intern(b"");
        let long = strings.intern(b"a value longer than fifteen bytes");
        assert_eq!(strings.intern(b"a value longer than fifteen bytes"), long);
        assert_eq!(
            strings.intern(b"fifteen bytes!!"),
            strings.intern(b"fifteen bytes!!")
        );
        assert_eq!(strings.get(a), b"u_00001");
        assert_eq!(strings.get(long), b"a value longer than fifteen bytes");
        assert_eq!(strings.get(empty), b"");
        let ranks = strings.ranks();
        assert_eq!(
            (
                ranks[empty as usize],
                ranks[long as usize],
                ranks[a as usize],
                ranks[b as usize]
            ),
            (0, 1, 3, 4)
        );
    }
}
