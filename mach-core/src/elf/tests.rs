//! Host tests for ELF header and segment parsing, truncation and corruption.

use super::test_image::*;
use super::*;
use std::vec::Vec;

#[test]
fn standard_image_parses() {
    let v = Img::standard().build();
    let elf = ElfFile::parse(&v).unwrap();
    assert_eq!(elf.entry(), 0x400200);
    assert_eq!(elf.elf_type(), ElfType::Exec);
    assert_eq!(elf.program_headers_info(), (64, 56, 3));
    assert_eq!(elf.data().len(), v.len());
    let segs = elf.validate_for_user(MIN, LIMIT).unwrap();
    assert_eq!(segs, elf.load_segments().unwrap());
    assert_eq!(segs.len(), 2);
    assert_eq!(
        segs[0],
        LoadSegment {
            vaddr: 0x400200,
            memsz: 0x40,
            file_offset: 0x200,
            filesz: 0x40,
            flags: SegmentFlags {
                read: true,
                write: false,
                execute: true
            },
        }
    );
    assert!(segs[1].flags.write);
    assert!(!segs[1].flags.execute);
    assert_eq!(elf.segment_bytes(&segs[0]), &v[0x200..0x240]);
    assert_eq!(elf.segment_bytes(&segs[1]), &v[0x240..0x250]);
    let tls = elf.tls_segment().unwrap().unwrap();
    assert_eq!((tls.vaddr, tls.filesz, tls.memsz), (0x401250, 8, 16));
    // A segment that is not from this file yields no bytes rather than panicking.
    let mut fake = segs[0];
    fake.file_offset = u64::MAX;
    assert!(elf.segment_bytes(&fake).is_empty());
}

#[test]
fn dyn_type_and_no_tls() {
    let mut img = Img::standard();
    img.e_type = ET_DYN;
    img.phdrs.truncate(2);
    let v = img.build();
    let elf = ElfFile::parse(&v).unwrap();
    assert_eq!(elf.elf_type(), ElfType::Dyn);
    assert_eq!(elf.tls_segment(), Ok(None));
}

#[test]
fn header_errors() {
    let good = Img::standard().build();
    assert_eq!(parse_err(&[]), ElfError::TooShort);
    assert_eq!(parse_err(&good[..63]), ElfError::TooShort);
    let cases: [(usize, u8, ElfError); 7] = [
        (0, 0x7e, ElfError::BadMagic),
        (3, b'f', ElfError::BadMagic),
        (4, 1, ElfError::NotElf64),
        (5, 2, ElfError::NotLittleEndian),
        (6, 0, ElfError::BadHeader),
        (18, 3, ElfError::NotX86_64), // EM_386
        (16, 1, ElfError::BadType),   // ET_REL
    ];
    for (off, byte, err) in cases {
        let mut v = good.clone();
        v[off] = byte;
        assert_eq!(parse_err(&v), err, "byte {off}");
    }
    let mut v = good.clone();
    put16(&mut v, 16, 4); // ET_CORE
    assert_eq!(parse_err(&v), ElfError::BadType);
    let mut v = good.clone();
    put32(&mut v, 20, 2); // e_version
    assert_eq!(parse_err(&v), ElfError::BadHeader);
    let mut v = good.clone();
    put16(&mut v, 52, 52); // e_ehsize of ELF32
    assert_eq!(parse_err(&v), ElfError::BadHeader);
}

#[test]
fn program_header_table_errors() {
    let good = Img::standard().build();
    let mut v = good.clone();
    put16(&mut v, 54, 32);
    assert_eq!(parse_err(&v), ElfError::BadProgramHeaders);
    let mut v = good.clone();
    let len = v.len() as u64;
    put64(&mut v, 32, len - 100);
    assert_eq!(parse_err(&v), ElfError::BadProgramHeaders);
    let mut v = good.clone();
    put64(&mut v, 32, u64::MAX - 10);
    assert_eq!(parse_err(&v), ElfError::BadProgramHeaders);
    let mut v = good.clone();
    put16(&mut v, 56, u16::MAX);
    assert_eq!(parse_err(&v), ElfError::BadProgramHeaders);
    // No program headers at all: parses, but has nothing to load.
    let mut img = Img::standard();
    img.phdrs.clear();
    let v = img.build();
    let elf = ElfFile::parse(&v).unwrap();
    assert!(elf.load_segments().unwrap().is_empty());
    assert_eq!(elf.validate_for_user(MIN, LIMIT), Err(ElfError::NoLoadSegments));
    // Only a TLS segment: still nothing to load.
    let mut img = Img::standard();
    img.phdrs.drain(..2);
    assert_eq!(user_err(&img), ElfError::NoLoadSegments);
}

#[test]
fn segment_errors() {
    let mut img = Img::standard();
    img.phdrs[1].filesz = 0x101;
    assert_eq!(load_err(&img), ElfError::FileSizeExceedsMemSize);

    let mut img = Img::standard();
    img.phdrs[1].offset = 0x10240; // past the end of the file
    assert_eq!(load_err(&img), ElfError::SegmentOutOfFile);
    let mut img = Img::standard();
    img.phdrs[0].offset = u64::MAX - 0x10;
    img.phdrs[0].align = 0;
    assert_eq!(load_err(&img), ElfError::SegmentOutOfFile);

    let mut img = Img::standard();
    img.phdrs[1].vaddr = u64::MAX - 0xff + 0x40;
    img.phdrs[1].align = 0;
    assert_eq!(load_err(&img), ElfError::SegmentOverflow);

    let mut img = Img::standard();
    img.phdrs[0].vaddr = 0x400000;
    assert_eq!(load_err(&img), ElfError::MisalignedSegment);
    // Small alignment: offset and vaddr need not agree.
    img.phdrs[0].align = 16;
    img.entry = 0x400000;
    let v = img.build();
    assert!(ElfFile::parse(&v).unwrap().validate_for_user(MIN, LIMIT).is_ok());

    let mut img = Img::standard();
    img.phdrs[2].filesz = 17;
    let v = img.build();
    let elf = ElfFile::parse(&v).unwrap();
    assert_eq!(elf.tls_segment(), Err(ElfError::FileSizeExceedsMemSize));
    assert!(elf.load_segments().is_ok());
}

#[test]
fn too_many_segments() {
    let mut img = Img::standard();
    img.phdrs = (0..MAX_LOAD_SEGMENTS as u64)
        .map(|i| load(RX, 0, 0x400000 + i * 0x1000, 0, 0x10))
        .collect();
    img.entry = 0x400000;
    let v = img.build();
    let segs = ElfFile::parse(&v).unwrap().validate_for_user(MIN, LIMIT).unwrap();
    assert_eq!(segs.len(), MAX_LOAD_SEGMENTS);
    assert_eq!(segs.iter().last().unwrap().vaddr, 0x40f000);
    img.phdrs.push(load(R, 0, 0x500000, 0, 0x10));
    assert_eq!(load_err(&img), ElfError::TooManySegments);
    // Non-LOAD headers do not count.
    img.phdrs.pop();
    let mut note = load(R, 0, 0, 0, 0);
    note.p_type = 4;
    img.phdrs.push(note);
    let v = img.build();
    assert!(ElfFile::parse(&v).unwrap().load_segments().is_ok());
}

#[test]
fn user_range_errors() {
    let v = Img::standard().build();
    let elf = ElfFile::parse(&v).unwrap();
    assert_eq!(
        elf.validate_for_user(0x400201, LIMIT),
        Err(ElfError::SegmentNotInUserRange)
    );
    assert_eq!(
        elf.validate_for_user(MIN, 0x401340 - 1),
        Err(ElfError::SegmentNotInUserRange)
    );
    assert!(elf.validate_for_user(0x400200, 0x401340).is_ok());
    let mut img = Img::standard();
    img.phdrs[1].vaddr = 0xffff_8000_0000_0240;
    assert_eq!(user_err(&img), ElfError::SegmentNotInUserRange);
}

#[test]
fn overlapping_segments() {
    let mut img = Img::standard();
    // Shares the text segment's page but not its bytes: fine.
    img.phdrs[1].vaddr = 0x400240;
    let v = img.build();
    assert!(ElfFile::parse(&v).unwrap().validate_for_user(MIN, LIMIT).is_ok());
    img.phdrs[1].offset = 0x23f;
    img.phdrs[1].vaddr = 0x40023f;
    assert_eq!(user_err(&img), ElfError::OverlappingSegments);
    // Containment in the other direction.
    let mut img = Img::standard();
    img.phdrs[1].vaddr = 0x400240 - 0x1000;
    img.phdrs[1].memsz = 0x2000;
    assert_eq!(user_err(&img), ElfError::OverlappingSegments);
}

#[test]
fn entry_point_errors() {
    for entry in [0x400240, 0x4001ff, 0x401240, 0] {
        let mut img = Img::standard();
        img.entry = entry;
        assert_eq!(user_err(&img), ElfError::EntryNotExecutable, "{entry:#x}");
    }
    let mut img = Img::standard();
    img.phdrs[0].flags = R;
    assert_eq!(user_err(&img), ElfError::EntryNotExecutable);
    let mut img = Img::standard();
    img.entry = 0x40023f;
    let v = img.build();
    assert!(ElfFile::parse(&v).unwrap().validate_for_user(MIN, LIMIT).is_ok());
}

#[test]
fn every_truncation_is_handled() {
    let v = Img::standard().build();
    for len in 0..=v.len() {
        exercise(&v[..len]);
    }
    // Truncating into the segment data must be reported, not read past.
    let elf = ElfFile::parse(&v[..0x245]).unwrap();
    assert_eq!(elf.load_segments(), Err(ElfError::SegmentOutOfFile));
    let elf = ElfFile::parse(&v[..0x100]).unwrap();
    assert_eq!(elf.load_segments(), Err(ElfError::SegmentOutOfFile));
    assert_eq!(parse_err(&v[..64 + 56]), ElfError::BadProgramHeaders);
}

#[test]
fn random_corruption_never_panics() {
    let good = Img::standard().build();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut rand = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let interesting = [0u8, 1, 2, 0x38, 0x40, 0x7f, 0x80, 0xfe, 0xff];
    for _ in 0..20_000 {
        let mut v = good.clone();
        for _ in 0..(1 + rand() % 8) {
            let r = rand();
            // Bias towards the headers, where corruption matters most.
            let pos = if r % 2 == 0 {
                (r >> 8) as usize % 0x130
            } else {
                (r >> 8) as usize % v.len()
            };
            v[pos] = if r & 4 == 0 {
                (r >> 40) as u8
            } else {
                interesting[(r >> 40) as usize % interesting.len()]
            };
        }
        exercise(&v);
    }
    // Fully random buffers with a valid magic.
    for len in [64usize, 200, 600] {
        for _ in 0..2_000 {
            let mut v: Vec<u8> = (0..len).map(|_| rand() as u8).collect();
            v[..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
            put16(&mut v, 18, EM_X86_64);
            exercise(&v);
        }
    }
}

#[test]
fn find_program_header_by_type() {
    let mut img = Img::standard();
    let mut phdr = load(R, 64, 0x400040, 4 * 56, 4 * 56);
    phdr.p_type = PT_PHDR;
    phdr.align = 8;
    let mut interp = load(R, 0x250, 0x400250, 0x10, 0x10);
    interp.p_type = PT_INTERP;
    img.phdrs.insert(0, phdr);
    img.phdrs.push(interp);
    let mut second = phdr;
    second.vaddr = 0x999;
    img.phdrs.push(second);
    let v = img.build();
    let elf = ElfFile::parse(&v).unwrap();
    assert_eq!(
        elf.find_program_header(PT_PHDR),
        Ok(Some(ProgramHeader {
            p_type: PT_PHDR,
            flags: R,
            offset: 64,
            vaddr: 0x400040,
            filesz: 4 * 56,
            memsz: 4 * 56,
            align: 8,
        })),
        "the first of its type"
    );
    assert_eq!(elf.find_program_header(PT_INTERP).unwrap().unwrap().offset, 0x250);
    assert_eq!(elf.find_program_header(PT_TLS).unwrap().unwrap().vaddr, 0x401250);
    assert_eq!(elf.find_program_header(0x1234), Ok(None));
    let plain = Img::standard().build();
    assert_eq!(ElfFile::parse(&plain).unwrap().find_program_header(PT_INTERP), Ok(None));
}
