//! `LeafPacker`, `RowPacker` and `PageFile`: b-trees written straight into
//! a closed SQLite file, bottom-up, from entries already in key order.
//!
//! Through SQLite, each entry costs a descent of the tree, a record built
//! from bound values, a cell copy and, every few hundred entries, a page
//! split: at 5 M events 2-3.5 s for each raw_events index and most of the
//! insert thread's 15 s, on one core, whether by INSERT or by SQLite's own
//! page-level transfer. Built bottom-up, each page is filled once and
//! written once, in order.
//!
//! The format is SQLite's (https://www.sqlite.org/fileformat2.html, "B-tree
//! Pages" and "Record Format"). A table b-tree (raw_events) keeps its rows
//! in leaf pages (0x0D) by rowid, and its interior pages (0x05) hold, for
//! each child but the right-most, the page and the largest rowid under it.
//! An index b-tree keeps entries in leaf pages (0x0A) and interior pages
//! (0x02) alike, each interior entry with the page of smaller entries on its
//! left: it holds every entry exactly once, so filling leaves in order, the
//! entry that does not fit becomes the divider above and the next leaf
//! starts after it.
//!
//! Leaf pages hold no page numbers, so the packers write them to a spool
//! file while SQLite still has the database open; `PageFile` then appends
//! them after the database's last page, builds the few interior pages above
//! them, and puts the top page at the root page SQLite allotted when the
//! table or index was created empty. Entries must fit on a page without
//! overflow pages (`TooLarge`): the caller then leaves the work to SQLite.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;

/// The database header's fields this writer reads and updates.
const HEADER_PAGE_SIZE: usize = 16;
const HEADER_RESERVED: usize = 20;
const HEADER_PAGE_COUNT: usize = 28;

/// Page kinds: the first byte of a b-tree page.
const INDEX_LEAF: u8 = 0x0A;
const INDEX_INTERIOR: u8 = 0x02;
const TABLE_LEAF: u8 = 0x0D;
const TABLE_INTERIOR: u8 = 0x05;

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

    /// The page holding the database's byte 2^30, SQLite's lock byte
    /// (PENDING_BYTE): SQLite never puts b-tree data there, and neither may
    /// this writer, in a database of more than 1 GiB.
    fn lock_page(&self) -> u32 {
        (0x4000_0000 / self.page_size) as u32 + 1
    }

    /// The same on a table's leaf page.
    fn max_local_row(&self) -> usize {
        self.usable - 35
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

/// One b-tree's leaf pages, consecutive in a spool, and the interior cells
/// between them: `dividers[i]` (without its left child) sits between leaf
/// `i` and leaf `i + 1`.
#[derive(Debug)]
pub struct Leaves {
    interior: u8,
    /// The spool slot of each leaf, in order.
    slots: Vec<u64>,
    dividers: Vec<Vec<u8>>,
}

impl Leaves {
    /// The spool slot after these leaves: where the next tree's start.
    pub fn end(&self) -> u64 {
        self.slots.last().map_or(0, |last| last + 1)
    }
}

/// Leaf pages written one after another to a spool file.
/// The slot of the lock-byte page is skipped in a spool too, so that
/// leaves written straight into the database never land on it.
struct Spool<'s> {
    file: &'s File,
    format: PageFormat,
    /// The slot for the next page.
    next: u64,
    slots: Vec<u64>,
}

impl<'s> Spool<'s> {
    fn new(file: &'s File, format: PageFormat, first: u64) -> Spool<'s> {
        Spool {
            file,
            format,
            next: first,
            slots: Vec::new(),
        }
    }

    /// Writes `page` to the next slot; it is empty after.
    fn write(&mut self, page: &mut Page) -> io::Result<()> {
        if self.next == u64::from(self.format.lock_page()) - 1 {
            self.next += 1;
        }
        let at = self.next * self.format.page_size as u64;
        self.slots.push(self.next);
        self.next += 1;
        self.file.write_all_at(page.image(None), at)
    }

    fn leaves(self, interior: u8, dividers: Vec<Vec<u8>>) -> Leaves {
        Leaves {
            interior,
            slots: self.slots,
            dividers,
        }
    }
}

/// Packs one index's entries, in key order, into leaf pages in a spool.
pub struct LeafPacker<'s> {
    spool: Spool<'s>,
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
            spool: Spool::new(spool, format, first),
            current: Page::new(INDEX_LEAF, format),
            held: None,
            dividers: Vec::new(),
        }
    }

    /// Adds the next entry (entries come in key order): a record payload
    /// of `len` bytes, which `write` puts in the slice it is given.
    pub fn push_with(&mut self, len: usize, write: impl FnOnce(&mut [u8])) -> Result<(), Error> {
        let format = self.spool.format;
        if len > format.max_local() {
            return Err(Error::TooLarge(TooLarge));
        }
        // An index cell, on a leaf or (after its child) on an interior page:
        // the payload's size, then the payload.
        let cell_len = varint_len(len as u64) + len;
        let write_cell = |cell: &mut [u8]| {
            let at = write_varint(cell, len as u64);
            write(&mut cell[at..]);
        };
        if self.current.fits(cell_len) {
            self.current.push(None, cell_len, write_cell);
            return Ok(());
        }
        let mut divider = vec![0; cell_len];
        write_cell(&mut divider);
        self.dividers.push(divider);
        let spare = match self.held.take() {
            Some(mut held) => {
                self.spool.write(&mut held)?;
                held
            }
            None => Page::new(INDEX_LEAF, format),
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
                self.current.push_bytes(None, &divider);
                self.dividers.push(lent);
            }
            self.spool.write(&mut held)?;
        }
        self.spool.write(&mut self.current)?;
        Ok(self.spool.leaves(INDEX_INTERIOR, self.dividers))
    }
}

/// Packs a table's rows, by rowid, into leaf pages in a spool.
pub struct RowPacker<'s> {
    spool: Spool<'s>,
    current: Page,
    last_rowid: i64,
    dividers: Vec<Vec<u8>>,
}

impl<'s> RowPacker<'s> {
    /// A packer whose leaves start at page slot `first` of `spool`.
    pub fn new(spool: &'s File, format: PageFormat, first: u64) -> RowPacker<'s> {
        RowPacker {
            spool: Spool::new(spool, format, first),
            current: Page::new(TABLE_LEAF, format),
            last_rowid: 0,
            dividers: Vec::new(),
        }
    }

    /// Adds the row `rowid` (rowids ascend): a record of `len` bytes, which
    /// `write` puts in the slice it is given.
    pub fn push_with(
        &mut self,
        rowid: i64,
        len: usize,
        write: impl FnOnce(&mut [u8]),
    ) -> Result<(), Error> {
        if len > self.spool.format.max_local_row() {
            return Err(Error::TooLarge(TooLarge));
        }
        // A table leaf cell: the payload's size, the rowid, the payload.
        let cell_len = varint_len(len as u64) + varint_len(rowid as u64) + len;
        if !self.current.fits(cell_len) {
            self.spool.write(&mut self.current)?;
            // The interior cell after this leaf: its largest rowid.
            let mut key = vec![0; varint_len(self.last_rowid as u64)];
            write_varint(&mut key, self.last_rowid as u64);
            self.dividers.push(key);
        }
        self.current.push(None, cell_len, |cell| {
            let at = write_varint(cell, len as u64);
            let at = at + write_varint(&mut cell[at..], rowid as u64);
            write(&mut cell[at..]);
        });
        self.last_rowid = rowid;
        Ok(())
    }

    /// Writes the last leaf. There is always at least one, empty for a
    /// table without rows.
    pub fn finish(mut self) -> io::Result<Leaves> {
        self.spool.write(&mut self.current)?;
        Ok(self.spool.leaves(TABLE_INTERIOR, self.dividers))
    }
}

/// A SQLite database file, closed by SQLite, that b-tree pages are appended to.
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

    /// A packer for a table's rows whose leaves go straight into this
    /// file, after its last page; `write_tree` with no spool adopts them.
    pub fn row_packer(&self) -> RowPacker<'_> {
        RowPacker::new(&self.file, self.format, u64::from(self.next) - 1)
    }

    /// Writes the b-tree whose leaves a packer put in `spool` (`None`: in
    /// this file, after its last page), its top page at `root`.
    pub fn write_tree(
        &mut self,
        root: u32,
        leaves: Leaves,
        spool: Option<&File>,
    ) -> io::Result<()> {
        let page_size = self.format.page_size as u64;
        let slot = |i: u64| i * page_size;
        if let [only] = leaves.slots[..] {
            let mut page = vec![0u8; self.format.page_size];
            spool
                .unwrap_or(&self.file)
                .read_exact_at(&mut page, slot(only))?;
            return self.file.write_all_at(&page, slot(u64::from(root) - 1));
        }
        let pgnos: Vec<u32> = leaves.slots.iter().map(|_| self.allocate()).collect();
        let spool = spool.unwrap_or(&self.file);
        // Copied in runs of consecutive pages on both sides (the lock-byte
        // page breaks a run); leaves already in place stay.
        let mut start = 0;
        while start < pgnos.len() {
            let consecutive = |i: usize| {
                leaves.slots[i] == leaves.slots[i - 1] + 1 && pgnos[i] == pgnos[i - 1] + 1
            };
            let end = (start + 1..pgnos.len())
                .find(|&i| !consecutive(i))
                .unwrap_or(pgnos.len());
            let (from, to) = (slot(leaves.slots[start]), slot(u64::from(pgnos[start]) - 1));
            if from != to || !std::ptr::eq(spool, &self.file) {
                copy_range(spool, from, &self.file, to, slot((end - start) as u64))?;
            }
            start = end;
        }
        // Interior levels, in memory: a few hundred times fewer pages.
        let mut dividers: Vec<(u32, Vec<u8>)> =
            pgnos.iter().copied().zip(leaves.dividers).collect();
        let mut right = *pgnos.last().expect("more than one leaf");
        loop {
            let (mut pages, up) = self.interior_level(leaves.interior, dividers, right);
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
    /// dividers between consecutive pages, for the level above. (In a
    /// table b-tree the divider above a page is its right-most child's
    /// largest rowid, which is the cell that child would have had.)
    #[allow(clippy::type_complexity)]
    fn interior_level(
        &self,
        kind: u8,
        cells: Vec<(u32, Vec<u8>)>,
        right: u32,
    ) -> (Vec<(Page, u32)>, Vec<Vec<u8>>) {
        let mut pages: Vec<(Page, u32)> = Vec::new();
        let mut up = Vec::new();
        let mut current = Page::new(kind, self.format);
        for (child, divider) in cells {
            if current.fits(divider.len()) {
                current.push_bytes(Some(child), &divider);
            } else {
                let full = std::mem::replace(&mut current, Page::new(kind, self.format));
                pages.push((full, child));
                up.push(divider);
            }
        }
        if current.is_empty() {
            // As for index leaves: no page may be left with a right child only.
            let (previous, previous_right) = pages.last_mut().expect("a divider went up");
            let divider = up.pop().expect("a divider went up");
            let (child, lent) = previous.pop();
            current.push_bytes(Some(*previous_right), &divider);
            *previous_right = child.expect("interior cells have a left child");
            up.push(lent);
        }
        pages.push((current, right));
        (pages, up)
    }

    fn allocate(&mut self) -> u32 {
        if self.next == self.format.lock_page() {
            self.next += 1;
        }
        let pgno = self.next;
        self.next += 1;
        pgno
    }

    fn write_page(&self, pgno: u32, page: &mut Page, right: u32) -> io::Result<()> {
        let at = u64::from(pgno - 1) * self.format.page_size as u64;
        self.file.write_all_at(page.image(Some(right)), at)
    }
}

/// Copies `len` bytes between files at the given offsets (std's copy uses
/// copy_file_range, in the kernel, where it can).
fn copy_range(from: &File, from_at: u64, to: &File, to_at: u64, len: u64) -> io::Result<()> {
    let (mut from, mut to) = (from, to);
    from.seek(SeekFrom::Start(from_at))?;
    to.seek(SeekFrom::Start(to_at))?;
    if io::copy(&mut from.take(len), &mut to)? != len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

/// A page being filled: cells written from the end of the usable area
/// downwards (as SQLite places them), their pointers from the header up.
/// A cell here is what follows the left child pointer of interior pages.
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

    fn is_interior(&self) -> bool {
        matches!(self.kind, INDEX_INTERIOR | TABLE_INTERIOR)
    }

    fn header_len(&self) -> usize {
        if self.is_interior() {
            12
        } else {
            8
        }
    }

    fn child_len(&self) -> usize {
        if self.is_interior() {
            4
        } else {
            0
        }
    }

    /// Whether one more cell of `len` bytes fits, with its child and pointer.
    fn fits(&self, len: usize) -> bool {
        self.header_len() + 2 * (self.cells + 1) + self.child_len() + len <= self.content
    }

    fn is_empty(&self) -> bool {
        self.cells == 0
    }

    /// Adds a cell of `len` bytes that `write` fills in, after `child`.
    fn push(&mut self, child: Option<u32>, len: usize, write: impl FnOnce(&mut [u8])) {
        let child_len = self.child_len();
        self.content -= child_len + len;
        let cell = &mut self.bytes[self.content..self.content + child_len + len];
        if let Some(child) = child {
            cell[..4].copy_from_slice(&child.to_be_bytes());
        }
        write(&mut cell[child_len..]);
        let pointer = self.header_len() + 2 * self.cells;
        self.bytes[pointer..pointer + 2].copy_from_slice(&(self.content as u16).to_be_bytes());
        self.cells += 1;
    }

    fn push_bytes(&mut self, child: Option<u32>, cell: &[u8]) {
        self.push(child, cell.len(), |out| out.copy_from_slice(cell));
    }

    /// Removes the last cell, the lowest on the page: its left child
    /// (interior pages) and the rest. Not for table leaves.
    fn pop(&mut self) -> (Option<u32>, Vec<u8>) {
        debug_assert_ne!(self.kind, TABLE_LEAF);
        let child_len = self.child_len();
        let cell = &self.bytes[self.content..];
        let child = (child_len == 4).then(|| u32::from_be_bytes(cell[..4].try_into().unwrap()));
        let (value, n) = get_varint(&cell[child_len..]);
        // A table's interior cell is its key alone; an index's, the
        // payload's size and the payload.
        let len = if self.kind == TABLE_INTERIOR {
            n
        } else {
            n + value as usize
        };
        let rest = cell[child_len..child_len + len].to_vec();
        self.content += child_len + len;
        self.cells -= 1;
        (child, rest)
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

/// A value of a record.
#[derive(Clone, Copy)]
pub enum Field<'a> {
    Null,
    Integer(i64),
    Text(&'a [u8]),
}

impl Field<'_> {
    /// Its serial type and body length, as `sqlite3VdbeSerialType` picks
    /// them (schema format 4: 0 and 1 have bodyless types).
    fn serial_type(&self) -> (u64, usize) {
        match *self {
            Field::Null => (0, 0),
            Field::Text(text) => (13 + 2 * text.len() as u64, text.len()),
            Field::Integer(i) => {
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
        }
    }
}

/// A record's layout: its values' serial types in a header, then their
/// bodies.
pub struct Record {
    header_len: usize,
    len: usize,
}

impl Record {
    pub fn new<'f>(fields: impl Iterator<Item = Field<'f>>) -> Record {
        let (mut types_len, mut bodies_len) = (0, 0);
        for field in fields {
            let (serial_type, body_len) = field.serial_type();
            types_len += varint_len(serial_type);
            bodies_len += body_len;
        }
        let mut header_len = types_len + 1;
        while types_len + varint_len(header_len as u64) != header_len {
            header_len = types_len + varint_len(header_len as u64);
        }
        Record {
            header_len,
            len: header_len + bodies_len,
        }
    }

    /// The payload's size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Writes the record into `out`, `len()` bytes, for the same `fields`
    /// as `new` was given.
    pub fn write<'f>(&self, fields: impl Iterator<Item = Field<'f>> + Clone, out: &mut [u8]) {
        let mut at = write_varint(out, self.header_len as u64);
        for field in fields.clone() {
            at += write_varint(&mut out[at..], field.serial_type().0);
        }
        for field in fields {
            match field {
                Field::Null => {}
                Field::Text(text) => {
                    out[at..at + text.len()].copy_from_slice(text);
                    at += text.len();
                }
                Field::Integer(i) => {
                    let len = field.serial_type().1;
                    out[at..at + len].copy_from_slice(&i.to_be_bytes()[8 - len..]);
                    at += len;
                }
            }
        }
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
                let fields = [Field::Text(k.as_bytes()), Field::Integer(*id)];
                let record = Record::new(fields.into_iter());
                let mut out = vec![0; record.len()];
                record.write(fields.into_iter(), &mut out);
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
        let mut packer = LeafPacker::new(&spool, format, other.end());
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
            pages.write_tree(root, leaves, Some(&spool)).unwrap();
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

    /// Past 1 GiB no page of a tree lands on SQLite's lock-byte page (the
    /// page holding byte 2^30: 16385 with 64 KiB pages), whether the
    /// leaves are written in place (a table, crossing it) or copied from a
    /// spool (an index, crossing it); SQLite reads every row and entry and
    /// finds the file sound (not "2nd reference to page 16385").
    #[test]
    fn trees_skip_the_lock_byte_page() {
        for (rows, entries) in [(16_400, 40), (16_370, 200)] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("big.db");
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "PRAGMA page_size = 65536; CREATE TABLE t (v TEXT);
                 CREATE TABLE i (k TEXT, id INTEGER, PRIMARY KEY (k, id)) WITHOUT ROWID;",
            )
            .unwrap();
            let root = |name: &str| -> u32 {
                conn.query_row(
                    "SELECT rootpage FROM sqlite_master WHERE name = ?1",
                    [name],
                    |r| r.get(0),
                )
                .unwrap()
            };
            let (table_root, index_root) = (root("t"), root("i"));
            conn.close().unwrap();
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .unwrap();
            let mut pages = PageFile::open(file).unwrap();
            let format = pages.format;
            assert_eq!(format.lock_page(), 16385);
            // One row a page.
            let text = vec![b'x'; 60_000];
            let mut packer = pages.row_packer();
            for rowid in 1..=rows {
                let fields = [Field::Text(&text)];
                let record = Record::new(fields.into_iter());
                packer
                    .push_with(rowid, record.len(), |out| {
                        record.write(fields.into_iter(), out)
                    })
                    .unwrap();
            }
            let leaves = packer.finish().unwrap();
            pages.write_tree(table_root, leaves, None).unwrap();
            // Four entries a page.
            let spool = tempfile::tempfile().unwrap();
            let mut packer = LeafPacker::new(&spool, format, 0);
            let key = vec![b'k'; 15_000];
            for id in 0..entries {
                let fields = [Field::Text(&key), Field::Integer(id)];
                let record = Record::new(fields.into_iter());
                packer
                    .push_with(record.len(), |out| record.write(fields.into_iter(), out))
                    .unwrap();
            }
            let leaves = packer.finish().unwrap();
            pages.write_tree(index_root, leaves, Some(&spool)).unwrap();
            pages.finish().unwrap();
            let conn = Connection::open(&path).unwrap();
            let check: String = conn
                .query_row("PRAGMA quick_check", [], |r| r.get(0))
                .unwrap();
            assert_eq!(check, "ok", "{rows} rows, {entries} entries");
            let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
            assert_eq!(count("SELECT count(*) FROM t"), rows);
            assert_eq!(
                count("SELECT max(rowid) FROM t WHERE length(v) = 60000"),
                rows
            );
            assert_eq!(count("SELECT count(*) FROM i WHERE k >= ''"), entries);
        }
    }

    /// An entry too large for a page is refused, and the file stays sound.
    #[test]
    fn too_large_entries_leave_the_file_as_it_was() {
        round_trip(&[3, 120, 4]);
        round_trip(&vec![80; 300].into_iter().chain([120]).collect::<Vec<_>>());
    }
}
