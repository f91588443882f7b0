//! ELF64 little-endian x86_64 parsing.
//!
//! This module owns the interpretation of ELF images: the file header, the program
//! header table (PT_LOAD and PT_TLS segments, validated for the kernel's program
//! loader) and the section header table's SHT_SYMTAB (for symbolising addresses).
//!
//! Every field is read with bounds-checked accessors and every sum with checked
//! arithmetic; malformed input yields an [`ElfError`], never a panic. Addresses are
//! reported exactly as in the file (no load bias is applied for ET_DYN images).

use core::ops::Deref;

mod symbols;
pub use symbols::{Symbol, Symbols, lookup_symbol};

/// Why an image was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// Shorter than the 64-byte ELF64 file header.
    TooShort,
    /// Does not start with `\x7fELF`.
    BadMagic,
    /// `EI_CLASS` is not ELFCLASS64.
    NotElf64,
    /// `EI_DATA` is not ELFDATA2LSB.
    NotLittleEndian,
    /// `e_machine` is not EM_X86_64.
    NotX86_64,
    /// `e_type` is neither ET_EXEC nor ET_DYN.
    BadType,
    /// Bad ident/header version or `e_ehsize` smaller than the header.
    BadHeader,
    /// `e_phentsize` is not 56, or the table does not fit in the file.
    BadProgramHeaders,
    /// More than [`MAX_LOAD_SEGMENTS`] PT_LOAD segments.
    TooManySegments,
    /// A segment's file bytes lie (partly) outside the file.
    SegmentOutOfFile,
    /// `p_vaddr + p_memsz` overflows.
    SegmentOverflow,
    /// A segment lies outside the allowed user address range.
    SegmentNotInUserRange,
    /// `p_vaddr` and `p_offset` disagree modulo the page size.
    MisalignedSegment,
    /// `p_filesz > p_memsz`.
    FileSizeExceedsMemSize,
    /// Two PT_LOAD segments' memory ranges overlap.
    OverlappingSegments,
    /// The entry point is not inside an executable PT_LOAD segment.
    EntryNotExecutable,
    /// No PT_LOAD segment.
    NoLoadSegments,
    /// `e_shentsize` is not 64, or the section header table does not fit in the file.
    BadSectionHeaders,
    /// No SHT_SYMTAB section.
    NoSymbolTable,
    /// The symbol table or its string table is malformed.
    BadSymbolTable,
}

/// The kind of image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfType {
    /// ET_EXEC: linked at fixed addresses.
    Exec,
    /// ET_DYN: position independent (addresses relative to a load base).
    Dyn,
}

/// Access permissions of a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentFlags {
    pub read: bool,
    pub write: bool,
    pub execute: bool,
}

/// A validated PT_LOAD (or PT_TLS) segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadSegment {
    pub vaddr: u64,
    pub memsz: u64,
    pub file_offset: u64,
    pub filesz: u64,
    pub flags: SegmentFlags,
}

impl LoadSegment {
    const EMPTY: LoadSegment = LoadSegment {
        vaddr: 0,
        memsz: 0,
        file_offset: 0,
        filesz: 0,
        flags: SegmentFlags {
            read: false,
            write: false,
            execute: false,
        },
    };

    /// End of the segment in memory (`vaddr + memsz`; validated not to overflow).
    pub fn end(&self) -> u64 {
        self.vaddr.saturating_add(self.memsz)
    }

    /// Whether `addr` lies in `[vaddr, vaddr + memsz)`.
    pub fn contains(&self, addr: u64) -> bool {
        addr >= self.vaddr && addr < self.end()
    }
}

/// Maximum number of PT_LOAD segments accepted.
pub const MAX_LOAD_SEGMENTS: usize = 16;

/// Fixed-capacity list of PT_LOAD segments in file order; derefs to `[LoadSegment]`.
#[derive(Clone, Copy, Debug)]
pub struct LoadSegments {
    segs: [LoadSegment; MAX_LOAD_SEGMENTS],
    len: usize,
}

impl LoadSegments {
    fn new() -> Self {
        LoadSegments {
            segs: [LoadSegment::EMPTY; MAX_LOAD_SEGMENTS],
            len: 0,
        }
    }

    fn push(&mut self, seg: LoadSegment) -> Result<(), ElfError> {
        let slot = self.segs.get_mut(self.len).ok_or(ElfError::TooManySegments)?;
        *slot = seg;
        self.len += 1;
        Ok(())
    }
}

impl Deref for LoadSegments {
    type Target = [LoadSegment];
    fn deref(&self) -> &[LoadSegment] {
        self.segs.get(..self.len).unwrap_or(&[])
    }
}

impl PartialEq for LoadSegments {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for LoadSegments {}

impl<'s> IntoIterator for &'s LoadSegments {
    type Item = &'s LoadSegment;
    type IntoIter = core::slice::Iter<'s, LoadSegment>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

const EHDR_SIZE: usize = 64;
const PHDR_SIZE: u16 = 56;
const SHDR_SIZE: u16 = 64;
const SYM_SIZE: usize = 24;
const EM_X86_64: u16 = 62;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
const PT_LOAD: u32 = 1;
/// Program header type: the path of the program interpreter (dynamic linking).
pub const PT_INTERP: u32 = 3;
/// Program header type: the program header table itself, as loaded in memory.
pub const PT_PHDR: u32 = 6;
/// Program header type: the thread-local storage template.
pub const PT_TLS: u32 = 7;
const PF_X: u32 = 1;
const PF_W: u32 = 2;
const PF_R: u32 = 4;
const SHT_SYMTAB: u32 = 2;
const SHT_STRTAB: u32 = 3;
const STT_FUNC: u8 = 2;
const SHN_UNDEF: u16 = 0;
const PAGE: u64 = crate::PAGE_SIZE;

/// A parsed ELF64 x86_64 image borrowing the file bytes.
#[derive(Clone, Copy, Debug)]
pub struct ElfFile<'a> {
    data: &'a [u8],
    elf_type: ElfType,
    entry: u64,
    phoff: u64,
    phentsize: u16,
    phnum: u16,
    shoff: u64,
    shentsize: u16,
    shnum: u16,
}

/// One program header exactly as in the file (nothing validated).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgramHeader {
    pub p_type: u32,
    pub flags: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub filesz: u64,
    pub memsz: u64,
    pub align: u64,
}

/// One raw program header.
struct Phdr {
    p_type: u32,
    flags: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
    memsz: u64,
    align: u64,
}

impl<'a> ElfFile<'a> {
    /// Checks ident, class, endianness, machine (EM_X86_64), type (ET_EXEC or ET_DYN),
    /// header versions and size, and the program header table bounds (`e_phentsize`
    /// must be 56 unless there are no program headers; the table must lie inside the
    /// file). Section headers are only checked by [`ElfFile::symbols`].
    pub fn parse(data: &'a [u8]) -> Result<Self, ElfError> {
        if data.len() < EHDR_SIZE {
            return Err(ElfError::TooShort);
        }
        let byte = |off: usize| data.get(off).copied().ok_or(ElfError::TooShort);
        let half = |off: usize| read_u16(data, off).ok_or(ElfError::TooShort);
        let word = |off: usize| read_u32(data, off).ok_or(ElfError::TooShort);
        let xword = |off: usize| read_u64(data, off).ok_or(ElfError::TooShort);

        if data.get(..4) != Some(b"\x7fELF".as_slice()) {
            return Err(ElfError::BadMagic);
        }
        if byte(4)? != 2 {
            return Err(ElfError::NotElf64);
        }
        if byte(5)? != 1 {
            return Err(ElfError::NotLittleEndian);
        }
        if byte(6)? != 1 {
            return Err(ElfError::BadHeader);
        }
        let elf_type = match half(16)? {
            ET_EXEC => ElfType::Exec,
            ET_DYN => ElfType::Dyn,
            _ => return Err(ElfError::BadType),
        };
        if half(18)? != EM_X86_64 {
            return Err(ElfError::NotX86_64);
        }
        if word(20)? != 1 || usize::from(half(52)?) < EHDR_SIZE {
            return Err(ElfError::BadHeader);
        }
        let file = ElfFile {
            data,
            elf_type,
            entry: xword(24)?,
            phoff: xword(32)?,
            shoff: xword(40)?,
            phentsize: half(54)?,
            phnum: half(56)?,
            shentsize: half(58)?,
            shnum: half(60)?,
        };
        if file.phnum != 0 {
            if file.phentsize != PHDR_SIZE {
                return Err(ElfError::BadProgramHeaders);
            }
            table_range(data, file.phoff, PHDR_SIZE, file.phnum).ok_or(ElfError::BadProgramHeaders)?;
        }
        Ok(file)
    }

    /// The entry point (`e_entry`).
    pub fn entry(&self) -> u64 {
        self.entry
    }

    /// ET_EXEC or ET_DYN.
    pub fn elf_type(&self) -> ElfType {
        self.elf_type
    }

    /// The whole file.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Program header table location for AT_PHDR/AT_PHENT/AT_PHNUM:
    /// (file offset, entry size, count).
    pub fn program_headers_info(&self) -> (u64, u16, u16) {
        (self.phoff, self.phentsize, self.phnum)
    }

    /// PT_LOAD segments in file order, each validated (see [`ElfFile::validate_for_user`]
    /// for the checks between segments). Per segment, in this order:
    /// `filesz <= memsz` (FileSizeExceedsMemSize); file range inside the file
    /// (SegmentOutOfFile); `vaddr + memsz` does not overflow (SegmentOverflow);
    /// `vaddr % 4096 == offset % 4096` when `p_align >= 4096` (MisalignedSegment).
    /// More than [`MAX_LOAD_SEGMENTS`] gives TooManySegments.
    pub fn load_segments(&self) -> Result<LoadSegments, ElfError> {
        let mut out = LoadSegments::new();
        for i in 0..self.phnum {
            let ph = self.phdr(i)?;
            if ph.p_type == PT_LOAD {
                out.push(self.check_segment(&ph)?)?;
            }
        }
        Ok(out)
    }

    /// [`ElfFile::load_segments`] plus: at least one segment (NoLoadSegments); every
    /// segment inside `[min_addr, user_limit)` (SegmentNotInUserRange); no two
    /// segments' byte ranges overlap, though they may share a page
    /// (OverlappingSegments); the entry point lies inside an executable segment
    /// (EntryNotExecutable).
    pub fn validate_for_user(&self, min_addr: u64, user_limit: u64) -> Result<LoadSegments, ElfError> {
        let segs = self.load_segments()?;
        if segs.is_empty() {
            return Err(ElfError::NoLoadSegments);
        }
        for s in segs.iter() {
            if s.vaddr < min_addr || s.end() > user_limit {
                return Err(ElfError::SegmentNotInUserRange);
            }
        }
        for (i, a) in segs.iter().enumerate() {
            for b in segs.iter().skip(i + 1) {
                if a.vaddr < b.end() && b.vaddr < a.end() {
                    return Err(ElfError::OverlappingSegments);
                }
            }
        }
        if !segs.iter().any(|s| s.flags.execute && s.contains(self.entry)) {
            return Err(ElfError::EntryNotExecutable);
        }
        Ok(segs)
    }

    /// File bytes of a segment (its first `filesz` bytes). Empty if the segment does
    /// not describe bytes of this file (cannot happen for segments from this file).
    pub fn segment_bytes(&self, seg: &LoadSegment) -> &'a [u8] {
        file_slice(self.data, seg.file_offset, seg.filesz).unwrap_or(&[])
    }

    /// The first PT_TLS segment, if any, validated like a PT_LOAD segment.
    pub fn tls_segment(&self) -> Result<Option<LoadSegment>, ElfError> {
        for i in 0..self.phnum {
            let ph = self.phdr(i)?;
            if ph.p_type == PT_TLS {
                return self.check_segment(&ph).map(Some);
            }
        }
        Ok(None)
    }

    /// The first program header of type `p_type` (for example [`PT_INTERP`]
    /// or [`PT_PHDR`]), unvalidated. BadProgramHeaders if the table cannot be read.
    pub fn find_program_header(&self, p_type: u32) -> Result<Option<ProgramHeader>, ElfError> {
        for i in 0..self.phnum {
            let ph = self.phdr(i)?;
            if ph.p_type == p_type {
                return Ok(Some(ProgramHeader {
                    p_type: ph.p_type,
                    flags: ph.flags,
                    offset: ph.offset,
                    vaddr: ph.vaddr,
                    filesz: ph.filesz,
                    memsz: ph.memsz,
                    align: ph.align,
                }));
            }
        }
        Ok(None)
    }

    fn phdr(&self, i: u16) -> Result<Phdr, ElfError> {
        let bad = ElfError::BadProgramHeaders;
        let rel = u64::from(i) * u64::from(PHDR_SIZE);
        let off = self.phoff.checked_add(rel).ok_or(bad)?;
        let ph = file_slice(self.data, off, u64::from(PHDR_SIZE)).ok_or(bad)?;
        let x = |o: usize| read_u64(ph, o).ok_or(bad);
        Ok(Phdr {
            p_type: read_u32(ph, 0).ok_or(bad)?,
            flags: read_u32(ph, 4).ok_or(bad)?,
            offset: x(8)?,
            vaddr: x(16)?,
            filesz: x(32)?,
            memsz: x(40)?,
            align: x(48)?,
        })
    }

    fn check_segment(&self, ph: &Phdr) -> Result<LoadSegment, ElfError> {
        if ph.filesz > ph.memsz {
            return Err(ElfError::FileSizeExceedsMemSize);
        }
        file_slice(self.data, ph.offset, ph.filesz).ok_or(ElfError::SegmentOutOfFile)?;
        ph.vaddr.checked_add(ph.memsz).ok_or(ElfError::SegmentOverflow)?;
        if ph.align >= PAGE && ph.vaddr % PAGE != ph.offset % PAGE {
            return Err(ElfError::MisalignedSegment);
        }
        Ok(LoadSegment {
            vaddr: ph.vaddr,
            memsz: ph.memsz,
            file_offset: ph.offset,
            filesz: ph.filesz,
            flags: SegmentFlags {
                read: ph.flags & PF_R != 0,
                write: ph.flags & PF_W != 0,
                execute: ph.flags & PF_X != 0,
            },
        })
    }
}

fn read_array<const N: usize>(data: &[u8], off: usize) -> Option<[u8; N]> {
    data.get(off..)?.get(..N)?.try_into().ok()
}

fn read_u16(data: &[u8], off: usize) -> Option<u16> {
    read_array(data, off).map(u16::from_le_bytes)
}

fn read_u32(data: &[u8], off: usize) -> Option<u32> {
    read_array(data, off).map(u32::from_le_bytes)
}

fn read_u64(data: &[u8], off: usize) -> Option<u64> {
    read_array(data, off).map(u64::from_le_bytes)
}

/// `data[off..off + len]`, if it lies inside `data`.
fn file_slice(data: &[u8], off: u64, len: u64) -> Option<&[u8]> {
    let off = usize::try_from(off).ok()?;
    let len = usize::try_from(len).ok()?;
    data.get(off..)?.get(..len)
}

/// A table of `count` entries of `entsize` bytes at `off`, if inside `data`.
fn table_range(data: &[u8], off: u64, entsize: u16, count: u16) -> Option<&[u8]> {
    file_slice(data, off, u64::from(entsize) * u64::from(count))
}

/// Contents of the section described by the 64-byte header `sh`.
fn section_bytes<'a>(data: &'a [u8], sh: &[u8]) -> Option<&'a [u8]> {
    file_slice(data, read_u64(sh, 24)?, read_u64(sh, 32)?)
}

#[cfg(test)]
mod test_image;
#[cfg(test)]
mod tests;
