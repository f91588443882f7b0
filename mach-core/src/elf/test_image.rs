//! Test-only builder of small ELF images (header, program headers, symbol table,
//! section headers) and helpers shared by the ELF tests.

use super::*;
use std::vec;
use std::vec::Vec;

pub(crate) const R: u32 = PF_R;
pub(crate) const RX: u32 = PF_R | PF_X;
pub(crate) const RW: u32 = PF_R | PF_W;
pub(crate) const MIN: u64 = 0x1_0000;
pub(crate) const LIMIT: u64 = 0x0000_8000_0000_0000;

#[derive(Clone, Copy)]
pub(crate) struct Ph {
    pub(crate) p_type: u32,
    pub(crate) flags: u32,
    pub(crate) offset: u64,
    pub(crate) vaddr: u64,
    pub(crate) filesz: u64,
    pub(crate) memsz: u64,
    pub(crate) align: u64,
}

pub(crate) fn load(flags: u32, offset: u64, vaddr: u64, filesz: u64, memsz: u64) -> Ph {
    Ph {
        p_type: PT_LOAD,
        flags,
        offset,
        vaddr,
        filesz,
        memsz,
        align: 0x1000,
    }
}

#[derive(Clone, Copy)]
pub(crate) struct Sym {
    pub(crate) name: &'static [u8],
    pub(crate) value: u64,
    pub(crate) size: u64,
    pub(crate) info: u8,
    pub(crate) shndx: u16,
}

pub(crate) fn func(name: &'static [u8], value: u64, size: u64) -> Sym {
    Sym {
        name,
        value,
        size,
        info: 0x10 | STT_FUNC,
        shndx: 1,
    }
}

#[derive(Clone)]
pub(crate) struct Img {
    pub(crate) e_type: u16,
    pub(crate) entry: u64,
    pub(crate) phdrs: Vec<Ph>,
    /// The file is zero-extended (with a byte pattern) to at least this length
    /// before the symbol table and section headers are appended.
    pub(crate) min_len: usize,
    pub(crate) syms: Option<Vec<Sym>>,
}

impl Img {
    /// Text R+X at 0x400200, data RW at 0x401240 (with bss), TLS, and symbols.
    pub(crate) fn standard() -> Img {
        let mut tls = load(R, 0x250, 0x401250, 8, 16);
        tls.p_type = PT_TLS;
        tls.align = 8;
        Img {
            e_type: ET_EXEC,
            entry: 0x400200,
            phdrs: vec![
                load(RX, 0x200, 0x400200, 0x40, 0x40),
                load(RW, 0x240, 0x401240, 0x10, 0x100),
                tls,
            ],
            min_len: 0x260,
            syms: Some(vec![
                func(b"_start", 0x400200, 0x10),
                func(b"main", 0x400210, 0x20),
                func(b"asm_stub", 0x400230, 0),
                Sym {
                    name: b"data_obj",
                    value: 0x401240,
                    size: 0x10,
                    info: 0x11,
                    shndx: 2,
                },
                Sym {
                    name: b"undef_fn",
                    value: 0,
                    size: 0,
                    info: 0x12,
                    shndx: 0,
                },
                func(b"inner", 0x400218, 4),
            ]),
        }
    }

    pub(crate) fn build(&self) -> Vec<u8> {
        let mut v = vec![0u8; 64];
        v[..4].copy_from_slice(b"\x7fELF");
        v[4] = 2;
        v[5] = 1;
        v[6] = 1;
        put16(&mut v, 16, self.e_type);
        put16(&mut v, 18, EM_X86_64);
        put32(&mut v, 20, 1);
        put64(&mut v, 24, self.entry);
        put64(&mut v, 32, if self.phdrs.is_empty() { 0 } else { 64 });
        put16(&mut v, 52, 64);
        put16(&mut v, 54, 56);
        put16(&mut v, 56, self.phdrs.len() as u16);
        for p in &self.phdrs {
            let mut e = [0u8; 56];
            put32(&mut e, 0, p.p_type);
            put32(&mut e, 4, p.flags);
            put64(&mut e, 8, p.offset);
            put64(&mut e, 16, p.vaddr);
            put64(&mut e, 24, p.vaddr);
            put64(&mut e, 32, p.filesz);
            put64(&mut e, 40, p.memsz);
            put64(&mut e, 48, p.align);
            v.extend_from_slice(&e);
        }
        while v.len() < self.min_len {
            v.push((v.len() as u8) ^ 0x5a);
        }
        let Some(syms) = &self.syms else {
            return v;
        };
        let mut strtab = vec![0u8];
        let mut symtab = vec![0u8; 24];
        for s in syms {
            let name_off = strtab.len() as u32;
            strtab.extend_from_slice(s.name);
            strtab.push(0);
            let mut e = [0u8; 24];
            put32(&mut e, 0, name_off);
            e[4] = s.info;
            put16(&mut e, 6, s.shndx);
            put64(&mut e, 8, s.value);
            put64(&mut e, 16, s.size);
            symtab.extend_from_slice(&e);
        }
        let symtab_off = v.len();
        v.extend_from_slice(&symtab);
        let strtab_off = v.len();
        v.extend_from_slice(&strtab);
        while !v.len().is_multiple_of(8) {
            v.push(0);
        }
        let shoff = v.len();
        // Sections: null, .text (PROGBITS), .symtab, .strtab.
        let shdrs: [(u32, usize, usize, u32, u64); 4] = [
            (0, 0, 0, 0, 0),
            (1, 0x200, 0x40, 0, 0),
            (SHT_SYMTAB, symtab_off, symtab.len(), 3, 24),
            (SHT_STRTAB, strtab_off, strtab.len(), 0, 0),
        ];
        for (ty, off, size, link, entsize) in shdrs {
            let mut e = [0u8; 64];
            put32(&mut e, 4, ty);
            put64(&mut e, 24, off as u64);
            put64(&mut e, 32, size as u64);
            put32(&mut e, 40, link);
            put64(&mut e, 56, entsize);
            v.extend_from_slice(&e);
        }
        put64(&mut v, 40, shoff as u64);
        put16(&mut v, 58, 64);
        put16(&mut v, 60, 4);
        v
    }
}

pub(crate) fn put16(v: &mut [u8], off: usize, x: u16) {
    v[off..off + 2].copy_from_slice(&x.to_le_bytes());
}
pub(crate) fn put32(v: &mut [u8], off: usize, x: u32) {
    v[off..off + 4].copy_from_slice(&x.to_le_bytes());
}
pub(crate) fn put64(v: &mut [u8], off: usize, x: u64) {
    v[off..off + 8].copy_from_slice(&x.to_le_bytes());
}

/// Offset of section header `i` in a built image.
pub(crate) fn shdr(v: &[u8], i: usize) -> usize {
    u64::from_le_bytes(v[40..48].try_into().unwrap()) as usize + 64 * i
}

pub(crate) fn parse_err(v: &[u8]) -> ElfError {
    ElfFile::parse(v).unwrap_err()
}

pub(crate) fn load_err(img: &Img) -> ElfError {
    let v = img.build();
    ElfFile::parse(&v).unwrap().load_segments().unwrap_err()
}

pub(crate) fn user_err(img: &Img) -> ElfError {
    let v = img.build();
    ElfFile::parse(&v).unwrap().validate_for_user(MIN, LIMIT).unwrap_err()
}

/// Calls every accessor; used to check nothing panics on hostile input.
pub(crate) fn exercise(data: &[u8]) {
    let Ok(elf) = ElfFile::parse(data) else {
        return;
    };
    let _ = (elf.entry(), elf.elf_type(), elf.program_headers_info());
    if let Ok(segs) = elf.load_segments() {
        for s in &segs {
            assert_eq!(elf.segment_bytes(s).len() as u64, s.filesz);
        }
    }
    let _ = elf.validate_for_user(MIN, LIMIT);
    for ty in [PT_INTERP, PT_PHDR, PT_LOAD] {
        let _ = elf.find_program_header(ty);
    }
    if let Ok(Some(t)) = elf.tls_segment() {
        let _ = elf.segment_bytes(&t);
    }
    if let Ok(syms) = elf.symbols() {
        for s in syms.take(10_000) {
            let _ = s.name.len();
        }
    }
    for addr in [0, 0x400200, 0x400217, 0x400231, 0x401240, u64::MAX] {
        let _ = lookup_symbol(&elf, addr);
    }
}
