//! `raw_events.csv`, written fast: the generator's hot path is text, not RNG.
//!
//! Every value that repeats (a user's ip/device/payment columns, the
//! surface/product/type/prompt combination, a day's date) is formatted once
//! into a fixed-size [`Slot`]. A row is then a handful of constant-length
//! copies, which the compiler turns into a few vector moves instead of
//! `memcpy` calls, each followed by a truncate to the real length.
//!
//! Blocks of rows are formatted in parallel into recycled buffers and written
//! in order by one writer thread, so the kernel's copy into the page cache
//! overlaps formatting and no page is faulted in twice.

use rayon::prelude::*;
use std::io::Write;
use std::sync::mpsc;

use super::{iso, user_id, Event, User, DAY, EVENT_TYPES, PRODUCTS, SURFACES};

pub const HEADER: &[u8] = b"event_id,ts,user_id,ip,device_id,payment_id,surface,product,event_type,prompt,tokens_in,tokens_out,latency_ms,blocked,warned,is_abuse_gt\n";

/// Rows per formatting task, and tasks per batch handed to the writer.
const BLOCK: usize = 1 << 14;
const BATCH: usize = 8;
/// Batches in flight: one being written, one being formatted.
const BUFFERS: usize = 2;

/// Text of at most `N` bytes, stored in a fixed-size array.
#[derive(Clone, Copy)]
struct Slot<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Slot<N> {
    fn new(text: &[u8]) -> Slot<N> {
        assert!(
            text.len() <= N,
            "{} bytes do not fit a {N}-byte slot",
            text.len()
        );
        let mut bytes = [0; N];
        bytes[..text.len()].copy_from_slice(text);
        Slot {
            bytes,
            len: text.len(),
        }
    }

    /// One constant-length copy, then drop the padding.
    #[inline(always)]
    fn push_to(&self, buf: &mut Vec<u8>) {
        let end = buf.len() + self.len;
        buf.extend_from_slice(&self.bytes);
        buf.truncate(end);
    }
}

/// `u_00001,203.0.113.5,dev_000123,pay_000012`: at most 10 + 15 + 22 + 13
/// bytes and three commas for the largest valid `users`.
type UserSlot = Slot<72>;
/// `,surface,product,event_type,prompt`: the longest prompt is under 80 bytes.
type ComboSlot = Slot<128>;

/// Everything that is formatted once per table rather than once per row.
pub struct EventTable<'a> {
    events: &'a [Event],
    users: Vec<UserSlot>,
    abusers: Vec<bool>,
    combos: Vec<ComboSlot>,
    prompts: usize,
}

impl<'a> EventTable<'a> {
    pub fn new(events: &'a [Event], users: &[User], prompts: &[String]) -> EventTable<'a> {
        let user_slots = users
            .iter()
            .enumerate()
            .map(|(u, user)| {
                let payment = user
                    .payment
                    .map(|p| format!("pay_{p:06}"))
                    .unwrap_or_default();
                let text = format!("{},{},{},{payment}", user_id(u), user.ip, user.device);
                Slot::new(text.as_bytes())
            })
            .collect();
        let mut combos = Vec::with_capacity(SURFACES.len() * PRODUCTS.len() * 7 * prompts.len());
        for surface in SURFACES {
            for product in PRODUCTS {
                for event_type in EVENT_TYPES {
                    for prompt in prompts {
                        let text = format!(",{surface},{product},{event_type},{prompt}");
                        combos.push(Slot::new(text.as_bytes()));
                    }
                }
            }
        }
        EventTable {
            events,
            users: user_slots,
            abusers: users.iter().map(|u| u.abuser.is_some()).collect(),
            combos,
            prompts: prompts.len(),
        }
    }

    /// Writes the header and every row, in event order.
    pub fn write(&self, out: &mut (dyn Write + Send)) -> std::io::Result<()> {
        out.write_all(HEADER)?;
        let batch_rows = BLOCK * BATCH;
        let (full_tx, full_rx) = mpsc::sync_channel::<Vec<Vec<u8>>>(BUFFERS);
        let (empty_tx, empty_rx) = mpsc::channel::<Vec<Vec<u8>>>();
        for _ in 0..BUFFERS {
            let batch = (0..BATCH)
                .map(|_| Vec::with_capacity(BLOCK * 160))
                .collect();
            let _ = empty_tx.send(batch);
        }
        std::thread::scope(|scope| {
            let writer = scope.spawn(move || -> std::io::Result<()> {
                for batch in full_rx {
                    for block in &batch {
                        out.write_all(block)?;
                    }
                    // The formatter may be gone after an error; nothing to recycle then.
                    let _ = empty_tx.send(batch);
                }
                Ok(())
            });
            for (b, rows) in self.events.chunks(batch_rows).enumerate() {
                let Ok(mut batch) = empty_rx.recv() else {
                    break; // the writer failed; its error is reported below
                };
                batch
                    .par_iter_mut()
                    .zip(rows.par_chunks(BLOCK).enumerate())
                    .for_each(|(buf, (k, block))| {
                        buf.clear();
                        self.format_block(buf, b * batch_rows + k * BLOCK, block);
                    });
                // Blocks past the end of a short last batch stay empty.
                for buf in batch.iter_mut().skip(rows.len().div_ceil(BLOCK)) {
                    buf.clear();
                }
                if full_tx.send(batch).is_err() {
                    break;
                }
            }
            drop(full_tx);
            writer.join().expect("the CSV writer thread does not panic")
        })
    }

    /// Rows `first..first + block.len()`, appended to `buf`.
    fn format_block(&self, buf: &mut Vec<u8>, first: usize, block: &[Event]) {
        let mut id = Counter::new(first as u64);
        let mut day = (i64::MIN, Slot::<16>::new(b""));
        for e in block {
            let d = e.ts.div_euclid(DAY);
            if d != day.0 {
                day = (d, Slot::new(format!(",{}", &iso(d * DAY)[..11]).as_bytes()));
            }
            buf.extend_from_slice(b"e_");
            id.push_to(buf);
            day.1.push_to(buf);
            push_time(buf, e.ts.rem_euclid(DAY) as u32);
            self.users[e.user as usize].push_to(buf);
            let combo = ((e.surface as usize * PRODUCTS.len() + e.product as usize)
                * EVENT_TYPES.len()
                + e.event_type as usize)
                * self.prompts
                + e.prompt as usize;
            self.combos[combo].push_to(buf);
            push_number(buf, e.tokens_in);
            push_number(buf, e.tokens_out);
            push_number(buf, e.latency_ms);
            let flags = (e.blocked as usize) << 2
                | (e.warned as usize) << 1
                | self.abusers[e.user as usize] as usize;
            buf.extend_from_slice(&FLAGS[flags]);
            id.increment();
        }
    }
}

/// `,blocked,warned,is_abuse_gt\n` for each combination of the three bits.
const FLAGS: [[u8; 7]; 8] = [
    *b",0,0,0\n",
    *b",0,0,1\n",
    *b",0,1,0\n",
    *b",0,1,1\n",
    *b",1,0,0\n",
    *b",1,0,1\n",
    *b",1,1,0\n",
    *b",1,1,1\n",
];

/// An event number as ASCII digits, zero-padded to nine, counted up in place.
struct Counter {
    digits: [u8; 10],
}

impl Counter {
    fn new(n: u64) -> Counter {
        let text = format!("{n:010}");
        let mut digits = [b'0'; 10];
        digits.copy_from_slice(&text.as_bytes()[text.len() - 10..]);
        Counter { digits }
    }

    fn increment(&mut self) {
        for d in self.digits.iter_mut().rev() {
            if *d == b'9' {
                *d = b'0';
            } else {
                *d += 1;
                return;
            }
        }
    }

    #[inline(always)]
    fn push_to(&self, buf: &mut Vec<u8>) {
        if self.digits[0] == b'0' {
            let nine: &[u8; 9] = self.digits[1..].try_into().expect("nine digits");
            buf.extend_from_slice(nine);
        } else {
            buf.extend_from_slice(&self.digits);
        }
    }
}

/// `HH:MM:SSZ,` for seconds since midnight.
#[inline(always)]
fn push_time(buf: &mut Vec<u8>, secs: u32) {
    let [h1, h2] = two_digits(secs / 3600);
    let [m1, m2] = two_digits(secs / 60 % 60);
    let [s1, s2] = two_digits(secs % 60);
    buf.extend_from_slice(&[h1, h2, b':', m1, m2, b':', s1, s2, b'Z', b',']);
}

#[inline(always)]
fn two_digits(n: u32) -> [u8; 2] {
    [b'0' + (n / 10) as u8, b'0' + (n % 10) as u8]
}

/// `,` and `n` in decimal: digits fill a fixed buffer from the right, then one
/// constant-length copy and a truncate.
#[inline(always)]
fn push_number(buf: &mut Vec<u8>, mut n: u32) {
    let len = if n == 0 { 1 } else { n.ilog10() as usize + 1 };
    let mut text = [b','; 11];
    for i in (1..=len).rev() {
        text[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    let end = buf.len() + 1 + len;
    buf.extend_from_slice(&text);
    buf.truncate(end);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl Fn(&mut Vec<u8>)) -> String {
        let mut buf = Vec::new();
        f(&mut buf);
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn numbers_and_times() {
        assert_eq!(text(|b| push_number(b, 0)), ",0");
        assert_eq!(text(|b| push_number(b, 907)), ",907");
        assert_eq!(text(|b| push_number(b, u32::MAX)), ",4294967295");
        assert_eq!(text(|b| push_time(b, 3600 + 2 * 60 + 3)), "01:02:03Z,");
        assert_eq!(text(|b| push_time(b, DAY as u32 - 1)), "23:59:59Z,");
    }

    /// Nine digits until the numbers need ten, carrying across every digit.
    #[test]
    fn event_numbers() {
        let mut c = Counter::new(999_999_999);
        assert_eq!(text(|b| c.push_to(b)), "999999999");
        c.increment();
        assert_eq!(text(|b| c.push_to(b)), "1000000000");
        let mut c = Counter::new(41);
        c.increment();
        assert_eq!(text(|b| c.push_to(b)), "000000042");
    }
}
