//! `Timestamps`: the distinct `ts` values of raw_events as dense ids whose
//! integer order is the text order, when the input allows it.
//!
//! raw_events.csv comes sorted by time (SPEC section 5), so each new second
//! is greater than every one before: it gets the next id without a hash
//! lookup, and first/last comparisons are integer comparisons. Should a row
//! ever go back in time, a hash index is built once and comparisons fall back
//! to the text, which is always right; ids handed out before stay valid.

use std::cmp::Ordering;
use std::collections::HashMap;

use super::interner::{FxBuild, Strings};

#[derive(Default)]
pub struct Timestamps {
    strings: Strings,
    /// Present once the input went back in time.
    index: Option<HashMap<Box<[u8]>, u32, FxBuild>>,
}

impl Timestamps {
    pub fn id(&mut self, ts: &[u8]) -> u32 {
        let next = u32::try_from(self.strings.len()).expect("fewer than 4 billion timestamps");
        if let Some(index) = &mut self.index {
            if let Some(&id) = index.get(ts) {
                return id;
            }
            index.insert(ts.into(), next);
        } else if next > 0 {
            match ts.cmp(self.get(next - 1)) {
                Ordering::Greater => {}
                Ordering::Equal => return next - 1,
                Ordering::Less => {
                    let index = (0..next).map(|id| (self.get(id).into(), id)).collect();
                    self.index = Some(index);
                    return self.id(ts);
                }
            }
        }
        self.strings.push(ts)
    }

    pub fn get(&self, id: u32) -> &[u8] {
        self.strings.get(id)
    }

    /// The number of distinct timestamps.
    pub fn len(&self) -> usize {
        self.strings.len()
    }

    /// Whether the input has gone back in time (ids no longer in text order).
    pub fn went_back(&self) -> bool {
        self.index.is_some()
    }

    /// Text order of two ids.
    pub fn cmp(&self, a: u32, b: u32) -> Ordering {
        if self.index.is_none() {
            a.cmp(&b)
        } else {
            self.get(a).cmp(self.get(b))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids compare as their text does, in order and after going back in time.
    #[test]
    fn ids_follow_text_order() {
        let mut times = Timestamps::default();
        let a = times.id(b"2026-01-01T00:00:01Z");
        let b = times.id(b"2026-01-01T00:00:02Z");
        assert_eq!(times.id(b"2026-01-01T00:00:02Z"), b);
        assert_eq!(times.cmp(a, b), Ordering::Less);
        let early = times.id(b"2026-01-01T00:00:00Z");
        assert_eq!(times.id(b"2026-01-01T00:00:01Z"), a);
        assert_eq!(times.cmp(early, a), Ordering::Less);
        assert_eq!(times.cmp(b, early), Ordering::Greater);
        assert_eq!(times.get(early), b"2026-01-01T00:00:00Z");
    }
}
