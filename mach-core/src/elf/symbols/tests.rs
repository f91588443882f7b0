//! Host tests for symbol tables and address lookup.

use crate::elf::test_image::*;
use crate::elf::*;
use std::vec::Vec;

#[test]
fn symbols_and_lookup() {
    let v = Img::standard().build();
    let elf = ElfFile::parse(&v).unwrap();
    let names: Vec<&[u8]> = elf.symbols().unwrap().map(|s| s.name).collect();
    assert_eq!(
        names,
        [
            b"_start".as_slice(),
            b"main",
            b"asm_stub",
            b"data_obj",
            b"undef_fn",
            b"inner"
        ]
    );
    let main = elf.symbols().unwrap().nth(1).unwrap();
    assert_eq!((main.value, main.size, main.is_function), (0x400210, 0x20, true));
    assert!(!elf.symbols().unwrap().nth(3).unwrap().is_function);

    let at = |addr| lookup_symbol(&elf, addr).map(|(s, off)| (s.name, off));
    assert_eq!(at(0x400200), Some((b"_start".as_slice(), 0)));
    assert_eq!(at(0x40020f), Some((b"_start".as_slice(), 0xf)));
    assert_eq!(at(0x400210), Some((b"main".as_slice(), 0)));
    assert_eq!(at(0x400218), Some((b"inner".as_slice(), 0))); // innermost
    assert_eq!(at(0x40021c), Some((b"main".as_slice(), 0xc)));
    assert_eq!(at(0x400230), Some((b"asm_stub".as_slice(), 0)));
    assert_eq!(at(0x400300), Some((b"asm_stub".as_slice(), 0xd0)));
    assert_eq!(at(0x4001ff), None);
    assert_eq!(at(0), None); // undefined symbol at 0 is ignored
    assert_eq!(at(0x401240), Some((b"asm_stub".as_slice(), 0x1010)));

    // Without a size-0 function, addresses past the last function match nothing.
    let mut img = Img::standard();
    img.syms.as_mut().unwrap().remove(2);
    let v = img.build();
    let elf = ElfFile::parse(&v).unwrap();
    assert!(lookup_symbol(&elf, 0x400230).is_none());
    assert_eq!(
        lookup_symbol(&elf, 0x40022f).map(|(s, o)| (s.name, o)),
        Some((b"main".as_slice(), 0x1f))
    );
}

#[test]
fn symbol_table_errors() {
    let mut img = Img::standard();
    img.syms = None;
    let v = img.build();
    let elf = ElfFile::parse(&v).unwrap();
    assert_eq!(elf.symbols().err(), Some(ElfError::NoSymbolTable));
    assert!(lookup_symbol(&elf, 0x400200).is_none());
    // Section headers present but none is a symtab.
    let good = Img::standard().build();
    let mut v = good.clone();
    let sym = shdr(&v, 2);
    put32(&mut v, sym + 4, 1);
    assert_eq!(
        ElfFile::parse(&v).unwrap().symbols().err(),
        Some(ElfError::NoSymbolTable)
    );

    let sec_cases: [(usize, u64, usize); 3] = [(58, 40, 2), (40, u64::MAX - 8, 8), (60, 200, 2)];
    for (off, val, width) in sec_cases {
        let mut v = good.clone();
        if width == 2 {
            put16(&mut v, off, val as u16);
        } else {
            put64(&mut v, off, val);
        }
        let elf = ElfFile::parse(&v).unwrap();
        assert_eq!(elf.symbols().err(), Some(ElfError::BadSectionHeaders));
        // The loader does not care about sections.
        assert!(elf.validate_for_user(MIN, LIMIT).is_ok());
    }

    let sym = shdr(&good, 2);
    let str_hdr = shdr(&good, 3);
    let bad_cases: [(usize, u64, bool); 6] = [
        (sym + 56, 16, false),                    // sh_entsize
        (sym + 24, good.len() as u64, false),     // sh_offset past end
        (sym + 32, u64::MAX, false),              // sh_size
        (sym + 40, 9, true),                      // sh_link out of range
        (sym + 40, 1, true),                      // sh_link not a strtab
        (str_hdr + 32, good.len() as u64, false), // strtab size
    ];
    for (off, val, is32) in bad_cases {
        let mut v = good.clone();
        if is32 {
            put32(&mut v, off, val as u32);
        } else {
            put64(&mut v, off, val);
        }
        assert_eq!(
            ElfFile::parse(&v).unwrap().symbols().err(),
            Some(ElfError::BadSymbolTable),
            "offset {off:#x} = {val:#x}"
        );
    }
}

#[test]
fn malformed_symbol_names_are_skipped() {
    let good = Img::standard().build();
    let sym = shdr(&good, 2);
    let symtab_off = u64::from_le_bytes(good[sym + 24..sym + 32].try_into().unwrap()) as usize;
    let mut v = good.clone();
    put32(&mut v, symtab_off + 24 * 2, 0xffff_ffff); // "main": name past strtab
    let elf = ElfFile::parse(&v).unwrap();
    let names: Vec<&[u8]> = elf.symbols().unwrap().map(|s| s.name).collect();
    assert_eq!(names.len(), 5);
    assert!(!names.contains(&b"main".as_slice()));
    // A strtab without a final NUL: the last name is not terminated and is skipped.
    let mut v = good.clone();
    let str_hdr = shdr(&v, 3);
    let size = u64::from_le_bytes(v[str_hdr + 32..str_hdr + 40].try_into().unwrap());
    put64(&mut v, str_hdr + 32, size - 1);
    let names: Vec<&[u8]> = ElfFile::parse(&v).unwrap().symbols().unwrap().map(|s| s.name).collect();
    assert_eq!(names.len(), 5);
    assert!(!names.contains(&b"inner".as_slice()));
    // A symtab whose size is not a multiple of 24 ignores the trailing partial entry.
    let mut v = good.clone();
    let size = u64::from_le_bytes(v[sym + 32..sym + 40].try_into().unwrap());
    put64(&mut v, sym + 32, size - 1);
    assert_eq!(ElfFile::parse(&v).unwrap().symbols().unwrap().count(), 5);
}
