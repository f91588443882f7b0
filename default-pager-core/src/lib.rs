//! The default pager's bookkeeping, as data (its own crate because
//! `mach-core` needs an allocator and user programs have none): which disk block holds which page
//! of which memory object, which blocks are free, and which pages were lost.
//! The `default-pager` task owns one [`DiskMap`] and does the I/O; this module
//! owns only the decisions, so it is tested on the host.
//!
//! It allocates nothing: the caller hands in the storage (one `u64` per disk
//! block, one [`ObjectEntry`] per object slot), so the pager can keep it in
//! memory it wired at start.
//!
//! * A disk block is one page (4096 bytes, 8 records of 512). `owners[b]` is 0
//!   when block `b` is free, else `(slot + 1) << 32 | page`: the map from
//!   (object, page) to block is this reverse table, searched linearly (a disk
//!   of N blocks costs O(N) per lookup; fine for the small paging disks here,
//!   a per-object radix table would replace it for large ones).
//! * An object is a slot with its port name and size in pages; destroying it
//!   frees its blocks.
//! * Disk full: storing a page that has no block yet and finds no free block
//!   fails with [`DpError::NoSpace`] and the page is recorded as lost (a few
//!   per object, then the whole object's unstored pages count as lost). A lost
//!   page reads as [`PageState::Lost`] (the pager answers
//!   `memory_object_data_error`, never zeroes in place of data) until a later
//!   return stores it. Pages already on disk are rewritten in place, so they
//!   never fail for lack of space, and other pages are never touched.
#![no_std]
#![forbid(unsafe_code)]

/// Bytes in a page and in a disk block.
pub const PAGE_SIZE: u64 = 4096;
/// Device records (512 bytes) per block.
pub const RECORDS_PER_BLOCK: u64 = 8;
/// Lost pages remembered one by one per object before the object is marked
/// as having lost an unknown set of pages.
pub const LOST_MAX: usize = 8;
/// Largest object, in pages (page numbers are stored in 32 bits).
pub const MAX_OBJECT_PAGES: u64 = u32::MAX as u64;

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DpError {
    /// No free disk block for a page that has none (the page is now lost).
    NoSpace,
    /// Every object slot is in use.
    TooManyObjects,
    /// Size 0 or above [`MAX_OBJECT_PAGES`] pages.
    BadSize,
    /// An offset that is not a multiple of the page size.
    Unaligned,
    /// A length that is zero or not whole pages.
    BadLength,
    /// A range that does not lie inside the object.
    OutOfRange,
    /// No live object has that slot or port.
    NoSuchObject,
    /// `attach` on a map that has a disk already.
    AlreadyAttached,
}

/// What the disk has for one page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageState {
    /// Stored in this block.
    OnDisk(u64),
    /// Never stored: it reads as zeroes.
    Never,
    /// A return of it could not be stored: reading it is an error.
    Lost,
}

/// One object slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObjectEntry {
    pub live: bool,
    /// The name of the object's port in the pager's space.
    pub port: u32,
    /// Size in pages.
    pub pages: u64,
    lost: [u32; LOST_MAX],
    lost_len: usize,
    /// More pages were lost than `lost` holds: every unstored page is lost.
    lost_overflow: bool,
}

impl ObjectEntry {
    pub const EMPTY: ObjectEntry = ObjectEntry {
        live: false,
        port: 0,
        pages: 0,
        lost: [0; LOST_MAX],
        lost_len: 0,
        lost_overflow: false,
    };
}

/// An object slot index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObjectId(pub usize);

/// Disk blocks and objects of the default pager.
pub struct DiskMap<'a> {
    /// The storage; blocks `..n` are the disk's.
    owners: &'a mut [u64],
    n: usize,
    objects: &'a mut [ObjectEntry],
    free: usize,
    /// Where the next free-block search starts.
    hint: usize,
    lost_pages: u32,
}

fn owner(slot: usize, page: u64) -> u64 {
    ((slot as u64 + 1) << 32) | page
}

impl<'a> DiskMap<'a> {
    /// A map of `blocks` free blocks (at most `owners.len()`) and no objects.
    pub fn new(owners: &'a mut [u64], objects: &'a mut [ObjectEntry], blocks: u64) -> Self {
        let n = usize::try_from(blocks).unwrap_or(usize::MAX).min(owners.len());
        owners.fill(0);
        objects.fill(ObjectEntry::EMPTY);
        DiskMap {
            owners,
            n,
            objects,
            free: n,
            hint: 0,
            lost_pages: 0,
        }
    }

    /// Gives the map a disk of `blocks` blocks (at most the storage's) when it
    /// has none yet (the pager opens its disk on first use).
    pub fn attach(&mut self, blocks: u64) -> Result<u64, DpError> {
        if self.n != 0 {
            return Err(DpError::AlreadyAttached);
        }
        self.n = usize::try_from(blocks).unwrap_or(usize::MAX).min(self.owners.len());
        self.free = self.n;
        Ok(self.n as u64)
    }

    pub fn total_blocks(&self) -> u64 {
        self.n as u64
    }

    pub fn free_blocks(&self) -> u64 {
        self.free as u64
    }

    pub fn live_objects(&self) -> u32 {
        self.objects.iter().filter(|o| o.live).count() as u32
    }

    /// Pages that could not be stored, since start.
    pub fn lost_pages(&self) -> u32 {
        self.lost_pages
    }

    /// A new object of `size` bytes (rounded up to pages) on port `port`.
    pub fn create(&mut self, port: u32, size: u64) -> Result<ObjectId, DpError> {
        let pages = size.div_ceil(PAGE_SIZE);
        if pages == 0 || pages > MAX_OBJECT_PAGES {
            return Err(DpError::BadSize);
        }
        let slot = self
            .objects
            .iter()
            .position(|o| !o.live)
            .ok_or(DpError::TooManyObjects)?;
        self.objects[slot] = ObjectEntry {
            live: true,
            port,
            pages,
            ..ObjectEntry::EMPTY
        };
        Ok(ObjectId(slot))
    }

    /// The live object on port `port`.
    pub fn find(&self, port: u32) -> Option<ObjectId> {
        self.objects.iter().position(|o| o.live && o.port == port).map(ObjectId)
    }

    pub fn object(&self, id: ObjectId) -> Result<&ObjectEntry, DpError> {
        self.objects.get(id.0).filter(|o| o.live).ok_or(DpError::NoSuchObject)
    }

    /// Ends object `id`: frees its blocks (returned) and its slot.
    pub fn destroy(&mut self, id: ObjectId) -> Result<u64, DpError> {
        self.object(id)?;
        let mut freed = 0;
        for o in self.owners[..self.n].iter_mut() {
            if *o != 0 && (*o >> 32) as usize == id.0 + 1 {
                *o = 0;
                freed += 1;
            }
        }
        self.free += freed as usize;
        self.objects[id.0] = ObjectEntry::EMPTY;
        Ok(freed)
    }

    /// Checks that [offset, offset + length) is whole pages inside object `id`;
    /// returns its first page and page count.
    pub fn check_range(&self, id: ObjectId, offset: u64, length: u64) -> Result<(u64, u64), DpError> {
        let o = self.object(id)?;
        if !offset.is_multiple_of(PAGE_SIZE) {
            return Err(DpError::Unaligned);
        }
        if length == 0 || !length.is_multiple_of(PAGE_SIZE) {
            return Err(DpError::BadLength);
        }
        let (first, count) = (offset / PAGE_SIZE, length / PAGE_SIZE);
        match first.checked_add(count) {
            Some(end) if end <= o.pages => Ok((first, count)),
            _ => Err(DpError::OutOfRange),
        }
    }

    fn block_of(&self, id: ObjectId, page: u64) -> Option<usize> {
        let want = owner(id.0, page);
        self.owners[..self.n].iter().position(|&o| o == want)
    }

    /// What the disk has for page `page` of object `id`.
    pub fn lookup(&self, id: ObjectId, page: u64) -> Result<PageState, DpError> {
        let o = self.object(id)?;
        if page >= o.pages {
            return Err(DpError::OutOfRange);
        }
        if let Some(b) = self.block_of(id, page) {
            return Ok(PageState::OnDisk(b as u64));
        }
        let lost = o.lost_overflow || o.lost[..o.lost_len].contains(&(page as u32));
        Ok(if lost { PageState::Lost } else { PageState::Never })
    }

    /// The block to write page `page` of object `id` to: its own block if it
    /// has one, else a newly allocated one. Without space the page is
    /// recorded as lost and `NoSpace` returned.
    pub fn store(&mut self, id: ObjectId, page: u64) -> Result<u64, DpError> {
        if page >= self.object(id)?.pages {
            return Err(DpError::OutOfRange);
        }
        if let Some(b) = self.block_of(id, page) {
            return Ok(b as u64);
        }
        let n = self.n;
        let found = (0..n).map(|i| (self.hint + i) % n).find(|&b| self.owners[b] == 0);
        let Some(b) = found else {
            self.mark_lost(id, page);
            return Err(DpError::NoSpace);
        };
        self.owners[b] = owner(id.0, page);
        self.free -= 1;
        self.hint = (b + 1) % n;
        self.unmark_lost(id, page);
        Ok(b as u64)
    }

    /// The write of page `page` of `id` to its block failed: the block no
    /// longer holds it (freed) and the page is lost.
    pub fn write_failed(&mut self, id: ObjectId, page: u64) {
        if let Some(b) = self.block_of(id, page) {
            self.owners[b] = 0;
            self.free += 1;
        }
        self.mark_lost(id, page);
    }

    fn mark_lost(&mut self, id: ObjectId, page: u64) {
        let Some(o) = self.objects.get_mut(id.0).filter(|o| o.live) else {
            return;
        };
        self.lost_pages = self.lost_pages.saturating_add(1);
        if o.lost[..o.lost_len].contains(&(page as u32)) {
            return;
        }
        if o.lost_len < LOST_MAX {
            o.lost[o.lost_len] = page as u32;
            o.lost_len += 1;
        } else {
            o.lost_overflow = true;
        }
    }

    fn unmark_lost(&mut self, id: ObjectId, page: u64) {
        let o = &mut self.objects[id.0];
        if let Some(i) = o.lost[..o.lost_len].iter().position(|&p| p == page as u32) {
            o.lost.copy_within(i + 1..o.lost_len, i);
            o.lost_len -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map<'a>(owners: &'a mut [u64], objects: &'a mut [ObjectEntry]) -> DiskMap<'a> {
        let n = owners.len() as u64;
        DiskMap::new(owners, objects, n)
    }

    #[test]
    fn fresh_map_is_all_free() {
        let (mut b, mut o) = ([7u64; 16], [ObjectEntry::EMPTY; 4]);
        let m = DiskMap::new(&mut b, &mut o, 10);
        assert_eq!((m.total_blocks(), m.free_blocks(), m.live_objects()), (10, 10, 0));
    }

    #[test]
    fn blocks_beyond_storage_are_not_used() {
        let (mut b, mut o) = ([0u64; 4], [ObjectEntry::EMPTY; 4]);
        let m = DiskMap::new(&mut b, &mut o, 1000);
        assert_eq!(m.total_blocks(), 4);
    }

    #[test]
    fn create_rounds_size_and_refuses_bad_sizes() {
        let (mut b, mut o) = ([0u64; 4], [ObjectEntry::EMPTY; 2]);
        let mut m = map(&mut b, &mut o);
        let id = m.create(5, 4097).unwrap();
        assert_eq!(m.object(id).unwrap().pages, 2);
        assert_eq!(m.create(6, 0), Err(DpError::BadSize));
        assert_eq!(m.create(6, u64::MAX), Err(DpError::BadSize));
        assert_eq!(m.find(5), Some(id));
        assert_eq!(m.find(6), None);
    }

    #[test]
    fn object_table_fills() {
        let (mut b, mut o) = ([0u64; 4], [ObjectEntry::EMPTY; 2]);
        let mut m = map(&mut b, &mut o);
        m.create(1, 4096).unwrap();
        let second = m.create(2, 4096).unwrap();
        assert_eq!(m.create(3, 4096), Err(DpError::TooManyObjects));
        m.destroy(second).unwrap();
        assert!(m.create(3, 4096).is_ok());
    }

    #[test]
    fn pages_read_never_then_on_disk() {
        let (mut b, mut o) = ([0u64; 8], [ObjectEntry::EMPTY; 2]);
        let mut m = map(&mut b, &mut o);
        let id = m.create(1, 4 * PAGE_SIZE).unwrap();
        assert_eq!(m.lookup(id, 2), Ok(PageState::Never));
        let blk = m.store(id, 2).unwrap();
        assert_eq!(m.lookup(id, 2), Ok(PageState::OnDisk(blk)));
        assert_eq!(m.free_blocks(), 7);
        // Rewriting a page reuses its block.
        assert_eq!(m.store(id, 2), Ok(blk));
        assert_eq!(m.free_blocks(), 7);
        assert_eq!(m.lookup(id, 4), Err(DpError::OutOfRange));
        assert_eq!(m.store(id, 4), Err(DpError::OutOfRange));
    }

    #[test]
    fn objects_do_not_share_blocks() {
        let (mut b, mut o) = ([0u64; 8], [ObjectEntry::EMPTY; 2]);
        let mut m = map(&mut b, &mut o);
        let a = m.create(1, 2 * PAGE_SIZE).unwrap();
        let c = m.create(2, 2 * PAGE_SIZE).unwrap();
        let ba = m.store(a, 0).unwrap();
        let bc = m.store(c, 0).unwrap();
        assert_ne!(ba, bc);
        assert_eq!(m.lookup(c, 1), Ok(PageState::Never));
    }

    #[test]
    fn destroy_frees_only_that_objects_blocks() {
        let (mut b, mut o) = ([0u64; 8], [ObjectEntry::EMPTY; 2]);
        let mut m = map(&mut b, &mut o);
        let a = m.create(1, 4 * PAGE_SIZE).unwrap();
        let c = m.create(2, 4 * PAGE_SIZE).unwrap();
        for p in 0..3 {
            m.store(a, p).unwrap();
        }
        let keep = m.store(c, 1).unwrap();
        assert_eq!(m.destroy(a), Ok(3));
        assert_eq!(m.free_blocks(), 7);
        assert_eq!(m.lookup(c, 1), Ok(PageState::OnDisk(keep)));
        assert_eq!(m.destroy(a), Err(DpError::NoSuchObject));
        assert_eq!(m.lookup(a, 0), Err(DpError::NoSuchObject));
    }

    #[test]
    fn disk_full_loses_only_the_new_page() {
        let (mut b, mut o) = ([0u64; 2], [ObjectEntry::EMPTY; 2]);
        let mut m = map(&mut b, &mut o);
        let id = m.create(1, 4 * PAGE_SIZE).unwrap();
        let b0 = m.store(id, 0).unwrap();
        let b1 = m.store(id, 1).unwrap();
        assert_eq!(m.store(id, 2), Err(DpError::NoSpace));
        assert_eq!(m.lookup(id, 2), Ok(PageState::Lost));
        assert_eq!(m.lookup(id, 3), Ok(PageState::Never));
        assert_eq!(
            (m.lookup(id, 0), m.lookup(id, 1)),
            (Ok(PageState::OnDisk(b0)), Ok(PageState::OnDisk(b1)))
        );
        // Stored pages can still be rewritten when the disk is full.
        assert_eq!(m.store(id, 1), Ok(b1));
        assert_eq!(m.lost_pages(), 1);
    }

    #[test]
    fn lost_page_is_found_again_once_stored() {
        let (mut b, mut o) = ([0u64; 1], [ObjectEntry::EMPTY; 2]);
        let mut m = map(&mut b, &mut o);
        let a = m.create(1, PAGE_SIZE).unwrap();
        let c = m.create(2, 2 * PAGE_SIZE).unwrap();
        m.store(a, 0).unwrap();
        assert_eq!(m.store(c, 1), Err(DpError::NoSpace));
        m.destroy(a).unwrap();
        let blk = m.store(c, 1).unwrap();
        assert_eq!(m.lookup(c, 1), Ok(PageState::OnDisk(blk)));
    }

    #[test]
    fn too_many_lost_pages_mark_the_whole_object() {
        let (mut b, mut o) = ([0u64; 1], [ObjectEntry::EMPTY; 2]);
        let mut m = map(&mut b, &mut o);
        let id = m.create(1, 100 * PAGE_SIZE).unwrap();
        m.store(id, 0).unwrap();
        for p in 1..=LOST_MAX as u64 {
            assert_eq!(m.store(id, p), Err(DpError::NoSpace));
        }
        assert_eq!(m.lookup(id, 50), Ok(PageState::Never));
        assert_eq!(m.store(id, 60), Err(DpError::NoSpace));
        assert_eq!(m.lookup(id, 50), Ok(PageState::Lost));
        assert!(matches!(m.lookup(id, 0), Ok(PageState::OnDisk(_))));
    }

    #[test]
    fn write_failure_frees_the_block_and_loses_the_page() {
        let (mut b, mut o) = ([0u64; 4], [ObjectEntry::EMPTY; 2]);
        let mut m = map(&mut b, &mut o);
        let id = m.create(1, PAGE_SIZE).unwrap();
        m.store(id, 0).unwrap();
        m.write_failed(id, 0);
        assert_eq!(m.lookup(id, 0), Ok(PageState::Lost));
        assert_eq!(m.free_blocks(), 4);
    }

    #[test]
    fn ranges_are_checked() {
        let (mut b, mut o) = ([0u64; 4], [ObjectEntry::EMPTY; 2]);
        let mut m = map(&mut b, &mut o);
        let id = m.create(1, 4 * PAGE_SIZE).unwrap();
        assert_eq!(m.check_range(id, PAGE_SIZE, 2 * PAGE_SIZE), Ok((1, 2)));
        assert_eq!(m.check_range(id, 1, PAGE_SIZE), Err(DpError::Unaligned));
        assert_eq!(m.check_range(id, 0, 100), Err(DpError::BadLength));
        assert_eq!(m.check_range(id, 0, 0), Err(DpError::BadLength));
        assert_eq!(
            m.check_range(id, 3 * PAGE_SIZE, 2 * PAGE_SIZE),
            Err(DpError::OutOfRange)
        );
        assert_eq!(m.check_range(id, u64::MAX - 4095, PAGE_SIZE), Err(DpError::OutOfRange));
        assert_eq!(m.check_range(ObjectId(1), 0, PAGE_SIZE), Err(DpError::NoSuchObject));
        assert_eq!(m.check_range(ObjectId(99), 0, PAGE_SIZE), Err(DpError::NoSuchObject));
    }

    #[test]
    fn attach_gives_a_disk_once() {
        let (mut b, mut o) = ([0u64; 8], [ObjectEntry::EMPTY; 2]);
        let mut m = DiskMap::new(&mut b, &mut o, 0);
        let id = m.create(1, 2 * PAGE_SIZE).unwrap();
        assert_eq!(m.store(id, 0), Err(DpError::NoSpace));
        assert_eq!(m.attach(100), Ok(8));
        assert_eq!((m.total_blocks(), m.free_blocks()), (8, 8));
        assert!(m.store(id, 1).is_ok());
        assert_eq!(m.attach(4), Err(DpError::AlreadyAttached));
        assert_eq!(m.free_blocks(), 7);
    }

    #[test]
    fn empty_disk_refuses_every_store() {
        let (mut b, mut o) = ([0u64; 0], [ObjectEntry::EMPTY; 1]);
        let mut m = DiskMap::new(&mut b, &mut o, 0);
        let id = m.create(1, PAGE_SIZE).unwrap();
        assert_eq!(m.store(id, 0), Err(DpError::NoSpace));
    }
}
