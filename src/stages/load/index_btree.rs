//! `LeafPacker` and `PageFile`: an index b-tree written straight into a
//! closed SQLite file, bottom-up, from entries already in key order.
//!
//! Through SQLite, each entry of a sorted index costs a descent of the tree,
//! a record built from bound values, a cell copy and, every few hundred
//! entries, a page split: 2-3.5 s per raw_events index at 5 M events, on
//! one core, whether by INSERT or by SQLite's own page-level transfer. Built
//! bottom-up, each page is filled once and written once, in order.
//!
//! The format is SQLite's (https://www.sqlite.org/fileformat2.html, "B-tree
//! Pages" and "Record Format"): leaf pages (0x0A) hold entries, and each
//! interior page (0x02) holds entries too, each with the page of smaller
//! entries on its left, plus its right-most child. An index b-tree holds
//! every entry exactly once, so an interior entry is not a copy: filling
//! leaves in order, the entry that does not fit becomes the divider above
//! and the next leaf starts after it.
//!
//! Leaf pages hold no page numbers, so `LeafPacker` can write them to a
//! spool file while SQLite still has the database open; `PageFile` then
//! appends them after the database's last page, builds the few interior
//! pages above them, and puts the top page at the root page SQLite allotted
//! when the index was created empty. Entries must fit on a page without
//! overflow pages (`TooLarge`): the caller then has SQLite build that index.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// The database header's fields this writer reads and updates.
const HEADER_PAGE_SIZE: usize = 16;
const HEADER_RESERVED: usize = 20;
const HEADER_PAGE_COUNT: usize = 28;

const LEAF: u8 = 0x0A;
const INTERIOR: u8 = 0x02;

/// A database's page size and the bytes of each page b-trees may use.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PageFormat {
    pub page_size: usize,
    /// The page size less the reserved tail.
    pub usable: usize,
}

impl PageFormat {
    /// The format a database file's header gives.
    pub fn of(file: &File) -> io::Result<PageFormat> {
        let mut header = [0u8; 100];
        file.read_exact_at(&mut header, 0)?;
        let page_size = match u16::from_be_bytes([header[HEADER_PAGE_SIZE], header[17]]) {
            1 => 65536,
            n => usize::from(n),
        };
        Ok(PageFormat {
            page_size,
            usable: page_size - usize::from(header[HEADER_RESERVED]),
        })
    }

    /// The largest payload stored without overflow pages on an index page.
    pub fn max_local(&self) -> usize {
        (self.usable - 12) * 64 / 255 - 23
    }
}

/// An entry larger than a page holds without overflow pages.
#[derive(Debug)]
pub struct TooLarge;

#[derive(Debug)]
pub enum Error {
    Io(io::Error),
    TooLarge(TooLarge),
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

/// One index's leaf pages, consecutive in the spool, and the entries
/// between them: `dividers[i]` sits between leaf `i` and leaf `i + 1`.
#[derive(Debug)]
pub struct Leaves {
    first: u64,
    count: u32,
    dividers: Vec<Vec<u8>>,
}

/// Packs one index's entries, in key order, into leaf pages appended to a
/// spool file.
pub struct LeafPacker<'s> {
    spool: &'s File,
    format: PageFormat,
    /// The spool's page slot for the next leaf.
    next: u64,
    first: u64,
    current: Page,
    /// The last full leaf, written out one behind: it may still lend its
    /// last entry to the final leaf (see `finish`).
    held: Option<Page>,
    dividers: Vec<Vec<u8>>,
}

impl<'s> LeafPacker<'s> {
    /// A packer whose leaves start at page slot `first` of `spool`.
    pub fn new(spool: &'s File, format: PageFormat, first: u64) -> LeafPacker<'s> {
        LeafPacker {
            spool,
            format,
            next: first,
            first,
            current: Page::new(LEAF, format),
            held: None,
            dividers: Vec::new(),
        }
    }

    /// Adds the next entry (entries come in key order): a record payload
    /// of `len` bytes, which `write` puts in the slice it is given.
    pub fn push_with(&mut self, len: usize, write: impl FnOnce(&mut [u8])) -> Result<(), Error> {
        if len > self.format.max_local() {
            return Err(Error::TooLarge(TooLarge));
        }
        if self.current.fits(len) {
            self.current.push_with(None, len, write);
            return Ok(());
        }
        let mut divider = vec![0; len];
        write(&mut divider);
        self.dividers.push(divider);
        let spare = match self.held.take() {
            Some(mut held) => {
                self.write(&mut held)?;
                held
            }
            None => Page::new(LEAF, self.format),
        };
        self.held = Some(std::mem::replace(&mut self.current, spare));
        Ok(())
    }

    /// Writes the last leaves. There is always at least one, empty for an
    /// index without entries.
    pub fn finish(mut self) -> io::Result<Leaves> {
        if let Some(mut held) = self.held.take() {
            if self.current.is_empty() {
                // The last entry went up as a divider with nothing after it:
                // it comes back down as the last leaf, and the leaf before
                // gives up its own last entry as the divider.
                let divider = self.dividers.pop().expect("a held leaf has its divider");
                let (_, lent) = held.pop();
                self.current.push(None, &divider);
                self.dividers.push(lent);
            }
            self.write(&mut held)?;
        }
        let mut current = std::mem::replace(&mut self.current, Page::new(LEAF, self.format));
        self.write(&mut current)?;
        Ok(Leaves {
            first: self.first,
            count: u32::try_from(self.next - self.first)
                .map_err(|_| io::Error::other("an index of more than 2^32 pages"))?,
            dividers: self.dividers,
        })
    }

    /// The spool slot after this index's leaves: where the next one's start.
    pub fn end(leaves: &Leaves) -> u64 {
        leaves.first + u64::from(leaves.count)
    }

    /// Writes `page` to the next slot; it is empty after.
    fn write(&mut self, page: &mut Page) -> io::Result<()> {
        let at = self.next * self.format.page_size as u64;
        self.next += 1;
        self.spool.write_all_at(page.image(None), at)
    }
}

/// A SQLite database file, closed by SQLite, that index pages are appended to.
pub struct PageFile {
    file: File,
    format: PageFormat,
    /// The number of the next page to append.
    next: u32,
}

impl PageFile {
    pub fn open(file: File) -> io::Result<PageFile> {
        let format = PageFormat::of(&file)?;
        let pages = file.metadata()?.len() / format.page_size as u64;
        let next = u32::try_from(pages + 1)
            .map_err(|_| io::Error::other("the database has too many pages"))?;
        Ok(PageFile { file, format, next })
    }

    /// Writes the index b-tree whose leaves `LeafPacker` put in `spool`,
    /// its top page at `root`.
    pub fn write_index(&mut self, root: u32, leaves: Leaves, spool: &File) -> io::Result<()> {
        let slot = |i: u64| i * self.format.page_size as u64;
        if leaves.count == 1 {
            let mut page = vec![0u8; self.format.page_size];
            spool.read_exact_at(&mut page, slot(leaves.first))?;
            return self.file.write_all_at(&page, slot(u64::from(root) - 1));
        }
        let first = self.next;
        self.next += leaves.count;
        copy_range(
            spool,
            slot(leaves.first),
            &self.file,
            slot(u64::from(first) - 1),
            slot(u64::from(leaves.count)),
        )?;
        // Interior levels, in memory: a few hundred times fewer pages.
        let mut dividers: Vec<(u32, Vec<u8>)> = (first..).zip(leaves.dividers).collect();
        let mut right = first + leaves.count - 1;
        loop {
            let (mut pages, up) = self.interior_level(dividers, right);
            if let [(page, right)] = &mut pages[..] {
                return self.write_page(root, page, *right);
            }
            let mut next_level = Vec::with_capacity(up.len());
            let mut up = up.into_iter();
            for (page, child) in &mut pages {
                let pgno = self.allocate();
                self.write_page(pgno, page, *child)?;
                match up.next() {
                    Some(divider) => next_level.push((pgno, divider)),
                    None => right = pgno,
                }
            }
            dividers = next_level;
        }
    }

    /// Records the page count in the header and drops anything past it.
    pub fn finish(self) -> io::Result<()> {
        let pages = self.next - 1;
        self.file
            .write_all_at(&pages.to_be_bytes(), HEADER_PAGE_COUNT as u64)?;
        self.file
            .set_len(u64::from(pages) * self.format.page_size as u64)?;
        Ok(())
    }

    /// Packs (left child, divider) cells and the right-most child into
    /// interior pages: each page with its right-most child, and the
    /// dividers between consecutive pages, for the level above.
    #[allow(clippy::type_complexity)]
    fn interior_level(
        &self,
        cells: Vec<(u32, Vec<u8>)>,
        right: u32,
    ) -> (Vec<(Page, u32)>, Vec<Vec<u8>>) {
        let mut pages: Vec<(Page, u32)> = Vec::new();
        let mut up = Vec::new();
        let mut current = Page::new(INTERIOR, self.format);
        for (child, divider) in cells {
            if current.fits(divider.len()) {
                current.push(Some(child), &divider);
            } else {
                let full = std::mem::replace(&mut current, Page::new(INTERIOR, self.format));
                pages.push((full, child));
                up.push(divider);
            }
        }
        if current.is_empty() {
            // As for leaves: no page may be left with a right child only.
            let (previous, previous_right) = pages.last_mut().expect("a divider went up");
            let divider = up.pop().expect("a divider went up");
            let (child, lent) = previous.pop();
            current.push(Some(*previous_right), &divider);
            *previous_right = child.expect("interior cells have a left child");
            up.push(lent);
        }
        pages.push((current, right));
        (pages, up)
    }

    fn allocate(&mut self) -> u32 {
        let pgno = self.next;
        self.next += 1;
        pgno
    }

    fn write_page(&self, pgno: u32, page: &mut Page, right: u32) -> io::Result<()> {
        let at = u64::from(pgno - 1) * self.format.page_size as u64;
        self.file.write_all_at(page.image(Some(right)), at)
    }
}

/// Copies `len` bytes between files at the given offsets: in the kernel
/// (copy_file_range), or through a buffer where it cannot.
fn copy_range(
    from: &File,
    mut from_at: u64,
    to: &File,
    mut to_at: u64,
    len: u64,
) -> io::Result<()> {
    let end = from_at + len;
    while from_at < end {
        let want = usize::try_from(end - from_at).unwrap_or(usize::MAX);
        match rustix::fs::copy_file_range(from, Some(&mut from_at), to, Some(&mut to_at), want) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => {}
            Err(
                rustix::io::Errno::XDEV
                | rustix::io::Errno::NOSYS
                | rustix::io::Errno::INVAL
                | rustix::io::Errno::OPNOTSUPP,
            ) => {
                let mut buf = vec![0u8; 1 << 20];
                while from_at < end {
                    let n = buf
                        .len()
                        .min(usize::try_from(end - from_at).unwrap_or(usize::MAX));
                    from.read_exact_at(&mut buf[..n], from_at)?;
                    to.write_all_at(&buf[..n], to_at)?;
                    from_at += n as u64;
                    to_at += n as u64;
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// A page being filled: cells written from the end of the usable area
/// downwards (as SQLite places them), their pointers from the header up.
struct Page {
    kind: u8,
    usable: usize,
    bytes: Vec<u8>,
    cells: usize,
    /// Where the cell content area starts: the lowest cell.
    content: usize,
}

impl Page {
    fn new(kind: u8, format: PageFormat) -> Page {
        Page {
            kind,
            usable: format.usable,
            bytes: vec![0; format.page_size],
            cells: 0,
            content: format.usable,
        }
    }

    fn header_len(&self) -> usize {
        if self.kind == LEAF {
            8
        } else {
            12
        }
    }

    fn child_len(&self) -> usize {
        if self.kind == LEAF {
            0
        } else {
            4
        }
    }

    /// Whether one more cell of a `len`-byte payload fits, with its pointer.
    fn fits(&self, len: usize) -> bool {
        let cell = self.child_len() + varint_len(len as u64) + len;
        self.header_len() + 2 * (self.cells + 1) + cell <= self.content
    }

    fn is_empty(&self) -> bool {
        self.cells == 0
    }

    /// Adds a cell for a `len`-byte payload that `write` fills in.
    fn push_with(&mut self, child: Option<u32>, len: usize, write: impl FnOnce(&mut [u8])) {
        let cell_len = self.child_len() + varint_len(len as u64) + len;
        self.content -= cell_len;
        let cell = &mut self.bytes[self.content..self.content + cell_len];
        let mut at = 0;
        if let Some(child) = child {
            cell[..4].copy_from_slice(&child.to_be_bytes());
            at = 4;
        }
        at += write_varint(&mut cell[at..], len as u64);
        write(&mut cell[at..]);
        let pointer = self.header_len() + 2 * self.cells;
        self.bytes[pointer..pointer + 2].copy_from_slice(&(self.content as u16).to_be_bytes());
        self.cells += 1;
    }

    fn push(&mut self, child: Option<u32>, payload: &[u8]) {
        self.push_with(child, payload.len(), |out| out.copy_from_slice(payload));
    }

    /// Removes the last cell, the lowest on the page: its left child
    /// (interior pages) and payload.
    fn pop(&mut self) -> (Option<u32>, Vec<u8>) {
        let cell = &self.bytes[self.content..];
        let child = (self.kind != LEAF).then(|| u32::from_be_bytes(cell[..4].try_into().unwrap()));
        let (len, n) = get_varint(&cell[self.child_len()..]);
        let start = self.child_len() + n;
        let payload = cell[start..start + len as usize].to_vec();
        self.content += start + len as usize;
        self.cells -= 1;
        (child, payload)
    }

    /// The page image with its header (and `right`, the right-most child
    /// of an interior page); the page is empty again after.
    fn image(&mut self, right: Option<u32>) -> &[u8] {
        let header = self.header_len();
        let bytes = &mut self.bytes;
        bytes[..header].fill(0);
        bytes[0] = self.kind;
        bytes[3..5].copy_from_slice(&(self.cells as u16).to_be_bytes());
        // An empty 64 KiB page's content offset, 65536, is written as 0.
        bytes[5..7].copy_from_slice(&(self.content as u16).to_be_bytes());
        if let Some(right) = right {
            bytes[8..12].copy_from_slice(&right.to_be_bytes());
        }
        bytes[header + 2 * self.cells..self.content].fill(0);
        self.cells = 0;
        self.content = self.usable;
        &self.bytes
    }
}

/// The record of an index entry: its key texts, then its rowid, each with
/// the serial type SQLite gives it (schema format 4).
pub struct IndexRecord {
    header_len: usize,
    int_type: u64,
    int_len: usize,
    len: usize,
}

impl IndexRecord {
    pub fn new<'t>(texts: impl Iterator<Item = &'t [u8]>, rowid: i64) -> IndexRecord {
        let (int_type, int_len) = integer_serial_type(rowid);
        let (mut types_len, mut bodies_len) = (varint_len(int_type), int_len);
        for text in texts {
            types_len += varint_len(text_type(text));
            bodies_len += text.len();
        }
        let mut header_len = types_len + 1;
        while types_len + varint_len(header_len as u64) != header_len {
            header_len = types_len + varint_len(header_len as u64);
        }
        IndexRecord {
            header_len,
            int_type,
            int_len,
            len: header_len + bodies_len,
        }
    }

    /// The payload's size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Writes the record into `out`, `len()` bytes, for the same `texts`
    /// and `rowid` as `new` was given.
    pub fn write<'t>(
        &self,
        texts: impl Iterator<Item = &'t [u8]> + Clone,
        rowid: i64,
        out: &mut [u8],
    ) {
        let mut at = write_varint(out, self.header_len as u64);
        for text in texts.clone() {
            at += write_varint(&mut out[at..], text_type(text));
        }
        at += write_varint(&mut out[at..], self.int_type);
        for text in texts {
            out[at..at + text.len()].copy_from_slice(text);
            at += text.len();
        }
        out[at..].copy_from_slice(&rowid.to_be_bytes()[8 - self.int_len..]);
    }
}

fn text_type(text: &[u8]) -> u64 {
    13 + 2 * text.len() as u64
}

/// An integer's serial type and body length, as `sqlite3VdbeSerialType`
/// picks them: 0 and 1 have bodyless types, others the fewest bytes.
fn integer_serial_type(i: i64) -> (u64, usize) {
    let u = if i < 0 { !i } else { i } as u64;
    match u {
        0..=127 if i == 0 || i == 1 => (8 + i as u64, 0),
        0..=127 => (1, 1),
        128..=32767 => (2, 2),
        32768..=8388607 => (3, 3),
        8388608..=2147483647 => (4, 4),
        2147483648..=0x7FFF_FFFF_FFFF => (5, 6),
        _ => (6, 8),
    }
}

/// Writes SQLite's varint (big-endian 7-bit groups, the ninth byte
/// whole) at the start of `out`; its length.
fn write_varint(out: &mut [u8], v: u64) -> usize {
    if v < 0x80 {
        out[0] = v as u8;
        return 1;
    }
    if v >> 56 != 0 {
        out[8] = v as u8;
        let mut rest = v >> 8;
        for b in out[..8].iter_mut().rev() {
            *b = (rest as u8 & 0x7F) | 0x80;
            rest >>= 7;
        }
        return 9;
    }
    let n = varint_len(v);
    for (i, b) in out[..n].iter_mut().enumerate() {
        let group = (v >> (7 * (n - 1 - i))) as u8 & 0x7F;
        *b = if i == n - 1 { group } else { group | 0x80 };
    }
    n
}

fn varint_len(v: u64) -> usize {
    match v {
        _ if v >> 56 != 0 => 9,
        0 => 1,
        _ => (64 - v.leading_zeros() as usize).div_ceil(7),
    }
}

fn get_varint(bytes: &[u8]) -> (u64, usize) {
    let mut v = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(8) {
        v = (v << 7) | u64::from(b & 0x7F);
        if b & 0x80 == 0 {
            return (v, i + 1);
        }
    }
    ((v << 8) | u64::from(bytes[8]), 9)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rusqlite::Connection;

    proptest! {
        /// Varints read back, and take the length `varint_len` says.
        #[test]
        fn varints_round_trip(v in any::<u64>()) {
            let mut out = [0u8; 9];
            let n = write_varint(&mut out, v);
            let out = &out[..n];
            prop_assert_eq!(out.len(), varint_len(v));
            prop_assert_eq!(get_varint(out), (v, out.len()));
        }
    }

    /// A tree of `n` entries with key lengths from `lengths`, written into
    /// the root of an empty WITHOUT ROWID table (the same b-tree as an
    /// index's) on 512-byte pages, so that a few hundred entries make
    /// several levels: SQLite reads every entry back in order and finds
    /// the file sound.
    fn round_trip(lengths: &[usize]) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "PRAGMA page_size = 512; CREATE TABLE filler (x); INSERT INTO filler VALUES (1);
             CREATE TABLE t (k TEXT, id INTEGER, PRIMARY KEY (k, id)) WITHOUT ROWID;
             CREATE TABLE after (x); INSERT INTO after VALUES (2);",
        )
        .unwrap();
        let root: u32 = conn
            .query_row(
                "SELECT rootpage FROM sqlite_master WHERE name = 't'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        conn.close().unwrap();
        let mut want: Vec<(String, i64)> = lengths
            .iter()
            .enumerate()
            .map(|(i, &len)| {
                (
                    format!("{i:05}").repeat(len / 5 + 1)[..len].to_string(),
                    i as i64 * 7919,
                )
            })
            .collect();
        want.sort();
        let records: Vec<Vec<u8>> = want
            .iter()
            .map(|(k, id)| {
                let record = IndexRecord::new([k.as_bytes()].into_iter(), *id);
                let mut out = vec![0; record.len()];
                record.write([k.as_bytes()].into_iter(), *id, &mut out);
                out
            })
            .collect();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let format = PageFormat::of(&file).unwrap();
        let mut pages = PageFile::open(file).unwrap();
        assert_eq!(format.max_local(), 102);
        // Another index's leaves first in the spool, as in a load.
        let spool = tempfile::tempfile().unwrap();
        let mut other = LeafPacker::new(&spool, format, 0);
        other
            .push_with(6, |out| out.copy_from_slice(b"\x03\x11\x01ab\x05"))
            .unwrap();
        let other = other.finish().unwrap();
        let mut packer = LeafPacker::new(&spool, format, LeafPacker::end(&other));
        let packed = records
            .iter()
            .try_for_each(|r| packer.push_with(r.len(), |out| out.copy_from_slice(r)));
        let too_large = records.iter().any(|r| r.len() > format.max_local());
        assert_eq!(
            matches!(packed, Err(Error::TooLarge(_))),
            too_large,
            "{packed:?}"
        );
        if !too_large {
            let leaves = packer.finish().unwrap();
            pages.write_index(root, leaves, &spool).unwrap();
        }
        pages.finish().unwrap();
        let conn = Connection::open(&path).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        let got: Vec<(String, i64)> = conn
            .prepare("SELECT k, id FROM t")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(got, if too_large { vec![] } else { want });
        let lookups: i64 = conn
            .query_row("SELECT count(*) FROM t WHERE k >= ''", [], |r| r.get(0))
            .unwrap();
        assert_eq!(lookups as usize, got.len());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Any number of entries, short and long keys mixed: every level's
        /// last page is filled right (no page left without entries).
        #[test]
        fn trees_read_back_in_sqlite(lengths in prop::collection::vec(0usize..=90, 0..1500)) {
            round_trip(&lengths);
        }
    }

    #[test]
    fn the_largest_entries_at_every_boundary() {
        for n in [1, 2, 3, 4, 5, 6, 7, 8, 9, 20, 21, 22, 23, 100, 400] {
            round_trip(&vec![90; n]);
            round_trip(&vec![0; n * 10]);
        }
    }

    /// An entry too large for a page is refused, and the file stays sound.
    #[test]
    fn too_large_entries_leave_the_file_as_it_was() {
        round_trip(&[3, 120, 4]);
        round_trip(&vec![80; 300].into_iter().chain([120]).collect::<Vec<_>>());
    }
}
