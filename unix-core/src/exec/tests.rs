use super::*;
use crate::host_c::Rng;
use linux_raw_sys::auxvec::AT_NULL;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::string::String;
use std::vec;
use std::vec::Vec;

mod scripts;

const R: u32 = 4;
const RW: u32 = 6;
const RX: u32 = 5;

/// One program header for the hand-made images.
#[derive(Clone, Copy)]
struct Ph {
    ty: u32,
    flags: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
    memsz: u64,
    align: u64,
}

fn load(flags: u32, offset: u64, vaddr: u64, filesz: u64, memsz: u64) -> Ph {
    Ph {
        ty: 1,
        flags,
        offset,
        vaddr,
        filesz,
        memsz,
        align: 0x1000,
    }
}

/// A small ELF64 image: header, program headers at 64, zero-filled to `len`.
fn elf(e_type: u16, entry: u64, phdrs: &[Ph], len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len.max(64 + 56 * phdrs.len())];
    v[..8].copy_from_slice(b"\x7fELF\x02\x01\x01\x00");
    let put = |v: &mut Vec<u8>, off: usize, bytes: &[u8]| v[off..off + bytes.len()].copy_from_slice(bytes);
    put(&mut v, 16, &e_type.to_le_bytes());
    put(&mut v, 18, &62u16.to_le_bytes());
    put(&mut v, 20, &1u32.to_le_bytes());
    put(&mut v, 24, &entry.to_le_bytes());
    put(&mut v, 32, &64u64.to_le_bytes());
    put(&mut v, 52, &64u16.to_le_bytes());
    put(&mut v, 54, &56u16.to_le_bytes());
    put(&mut v, 56, &(phdrs.len() as u16).to_le_bytes());
    for (i, p) in phdrs.iter().enumerate() {
        let o = 64 + 56 * i;
        put(&mut v, o, &p.ty.to_le_bytes());
        put(&mut v, o + 4, &p.flags.to_le_bytes());
        put(&mut v, o + 8, &p.offset.to_le_bytes());
        put(&mut v, o + 16, &p.vaddr.to_le_bytes());
        put(&mut v, o + 24, &p.vaddr.to_le_bytes());
        put(&mut v, o + 32, &p.filesz.to_le_bytes());
        put(&mut v, o + 40, &p.memsz.to_le_bytes());
        put(&mut v, o + 48, &p.align.to_le_bytes());
    }
    v
}

/// Text at 0x400000 (with the headers), data+bss at 0x401f80.
fn standard() -> Vec<u8> {
    elf(
        2,
        0x400100,
        &[
            load(RX, 0, 0x400000, 0x200, 0x200),
            load(RW, 0xf80, 0x401f80, 0x100, 0x2100),
        ],
        0x1080,
    )
}

fn plan(v: &[u8]) -> Result<ExecPlan> {
    plan_elf(v, &ExecConfig::default())
}

#[test]
fn mappings_of_a_hand_made_image() {
    let p = plan(&standard()).unwrap();
    assert_eq!((p.elf_type, p.load_bias, p.entry), (ElfType::Exec, 0, 0x400100));
    let rx = SegmentFlags {
        read: true,
        write: false,
        execute: true,
    };
    let rw = SegmentFlags {
        read: true,
        write: true,
        execute: false,
    };
    assert_eq!(
        p.mappings,
        [
            Mapping {
                vaddr: 0x400000,
                file_offset: 0,
                file_len: 0x1000,
                zero_start: 0x400200,
                zero_end: 0x400200,
                anon_start: 0x401000,
                anon_end: 0x401000,
                prot: rx,
            },
            Mapping {
                vaddr: 0x401000,
                file_offset: 0,
                file_len: 0x2000,
                zero_start: 0x402080,
                zero_end: 0x403000,
                anon_start: 0x403000,
                anon_end: 0x405000,
                prot: rw,
            },
        ]
    );
    assert_eq!(p.brk, 0x405000);
    assert_eq!((p.phdr, p.phent, p.phnum), (0x400040, 56, 2));
    assert_eq!(p.tls, None);
}

#[test]
fn bss_edge_cases() {
    // A pure-bss segment (no file bytes), a segment whose file bytes end on a
    // page boundary, and one without bss whose last page is partly file.
    let v = elf(
        2,
        0x400010,
        &[
            load(RX, 0, 0x400000, 0x1000, 0x1000),
            load(RW, 0x1000, 0x601000, 0x1000, 0x1800),
            load(RW, 0x1234, 0x803234, 0, 0x10),
            load(R, 0x1100, 0x901100, 0x50, 0x50),
        ],
        0x2000,
    );
    let p = plan(&v).unwrap();
    let m = &p.mappings;
    assert_eq!(
        (m[0].file_len, m[0].anon_start, m[0].anon_end),
        (0x1000, 0x401000, 0x401000)
    );
    assert_eq!(
        (m[1].zero_start, m[1].zero_end),
        (0x602000, 0x602000),
        "file end on a page boundary"
    );
    assert_eq!((m[1].anon_start, m[1].anon_end), (0x602000, 0x603000));
    assert_eq!((m[2].vaddr, m[2].file_len), (0x803000, 0));
    assert_eq!(
        (m[2].anon_start, m[2].anon_end),
        (0x803000, 0x804000),
        "the bss page itself"
    );
    assert_eq!(m[2].zero_start, m[2].zero_end);
    assert_eq!(
        (m[3].vaddr, m[3].file_offset, m[3].file_len),
        (0x901000, 0x1000, 0x1000)
    );
    assert_eq!(
        (m[3].zero_start, m[3].zero_end),
        (0x901150, 0x901150),
        "no bss: nothing zeroed (as Linux)"
    );
    assert_eq!(m[3].anon_start, m[3].anon_end);
    assert_eq!(p.brk, 0x902000, "the highest segment's end, not the last one's");
}

#[test]
fn program_header_address() {
    // PT_PHDR wins over the segment that holds the table.
    let mut phdr = load(R, 64, 0x400040, 3 * 56, 3 * 56);
    phdr.ty = PT_PHDR;
    let v = elf(2, 0x400100, &[phdr, load(RX, 0, 0x400000, 0x200, 0x200)], 0x200);
    assert_eq!(plan(&v).unwrap().phdr, 0x400040);
    phdr.vaddr = 0x400080;
    let v = elf(2, 0x400100, &[phdr, load(RX, 0, 0x400000, 0x200, 0x200)], 0x200);
    assert_eq!(plan(&v).unwrap().phdr, 0x400080);
    // No segment maps the headers: 0, as in Linux.
    let v = elf(2, 0x401000, &[load(RX, 0x1000, 0x401000, 0x10, 0x10)], 0x1010);
    let p = plan(&v).unwrap();
    assert_eq!((p.phdr, p.phnum), (0, 1));
    // The table starts in the second segment's file bytes.
    let v = elf(
        2,
        0x401000,
        &[
            load(RX, 0x1000, 0x401000, 0x10, 0x10),
            load(R, 0, 0x500000, 0x100, 0x100),
        ],
        0x1010,
    );
    assert_eq!(plan(&v).unwrap().phdr, 0x500040);
    // A segment that starts at offset 0 but ends before the table does not hold it.
    let v = elf(
        2,
        0x401000,
        &[
            load(R, 0, 0x400000, 0x20, 0x20),
            load(RX, 0x1000, 0x401000, 0x10, 0x10),
            load(R, 0, 0x600000, 0x100, 0x100),
        ],
        0x1010,
    );
    assert_eq!(plan(&v).unwrap().phdr, 0x600040);
}

#[test]
fn tls_facts() {
    let mut tls = load(R, 0xf80, 0x401f80, 0x20, 0x48);
    tls.ty = PT_TLS;
    tls.align = 64;
    let mut v = standard();
    let more = elf(
        2,
        0x400100,
        &[
            load(RX, 0, 0x400000, 0x200, 0x200),
            load(RW, 0xf80, 0x401f80, 0x100, 0x2100),
            tls,
        ],
        0x1080,
    );
    v.clear();
    v.extend(more);
    assert_eq!(
        plan(&v).unwrap().tls,
        Some(Tls {
            vaddr: 0x401f80,
            filesz: 0x20,
            memsz: 0x48,
            align: 64
        })
    );
}

#[test]
fn static_pie_goes_to_the_dyn_base() {
    let v = elf(
        3,
        0x1100,
        &[load(RX, 0, 0, 0x1200, 0x1200), load(RW, 0x1200, 0x2200, 0x10, 0x100)],
        0x1210,
    );
    let p = plan(&v).unwrap();
    assert_eq!((p.elf_type, p.load_bias), (ElfType::Dyn, DEFAULT_DYN_BASE));
    assert_eq!(p.entry, DEFAULT_DYN_BASE + 0x1100);
    assert_eq!(p.mappings[0].vaddr, DEFAULT_DYN_BASE);
    assert_eq!(p.mappings[1].vaddr, DEFAULT_DYN_BASE + 0x2000);
    assert_eq!(p.phdr, DEFAULT_DYN_BASE + 64);
    assert_eq!(p.brk, DEFAULT_DYN_BASE + 0x3000);
    // Linked above 0: the lowest page still lands at the base.
    let v = elf(3, 0x10_1100, &[load(RX, 0, 0x10_0000, 0x1200, 0x1200)], 0x1210);
    let cfg = ExecConfig {
        dyn_base: 0x7000_0000_0000,
        ..ExecConfig::default()
    };
    let p = plan_elf(&v, &cfg).unwrap();
    assert_eq!((p.mappings[0].vaddr, p.entry), (0x7000_0000_0000, 0x7000_0000_1100));
    // A base that puts the image past the limit.
    let cfg = ExecConfig {
        dyn_base: 0x7eff_ffff_f000,
        ..ExecConfig::default()
    };
    assert_eq!(plan_elf(&v, &cfg), Err(Errno::ENOEXEC));
    let cfg = ExecConfig {
        dyn_base: 0,
        min_addr: 0,
        ..ExecConfig::default()
    };
    let low = elf(3, 0x10_1100, &[load(RX, 0, 0x10_0000, 0x1200, 0x1200)], 0x1210);
    assert_eq!(plan_elf(&low, &cfg), Err(Errno::ENOEXEC), "base below the link address");
}

#[test]
fn rejected_images() {
    let good = standard();
    assert!(plan(&good).is_ok());
    let mut interp = load(R, 0x200, 0x400200, 0x10, 0x10);
    interp.ty = PT_INTERP;
    let dynamic = elf(2, 0x400100, &[load(RX, 0, 0x400000, 0x300, 0x300), interp], 0x300);
    assert_eq!(plan(&dynamic), Err(Errno::ENOEXEC), "dynamically linked");
    let mut bad = good.clone();
    bad[4] = 1;
    assert_eq!(plan(&bad), Err(Errno::ENOEXEC), "32-bit");
    let mut bad = good.clone();
    bad[18] = 3;
    assert_eq!(plan(&bad), Err(Errno::ENOEXEC), "i386");
    let mut bad = good.clone();
    bad[16] = 1;
    assert_eq!(plan(&bad), Err(Errno::ENOEXEC), "ET_REL");
    assert_eq!(plan(&good[..63]), Err(Errno::ENOEXEC));
    let mut small_align = load(RX, 0x10, 0x400000, 0x100, 0x100);
    small_align.align = 16;
    let v = elf(2, 0x400000, &[small_align], 0x200);
    assert_eq!(
        plan(&v),
        Err(Errno::ENOEXEC),
        "offset and address disagree modulo the page"
    );
    let v = elf(2, 0x1000, &[load(RX, 0, 0x1000, 0x100, 0x100)], 0x200);
    assert_eq!(plan(&v), Err(Errno::ENOEXEC), "below min_addr");
    let v = elf(
        2,
        0x7f00_0000_0000,
        &[load(RX, 0, 0x7f00_0000_0000, 0x100, 0x100)],
        0x200,
    );
    assert_eq!(plan(&v), Err(Errno::ENOEXEC), "above the limit");
    let v = elf(2, 0x500000, &[load(RX, 0, 0x400000, 0x100, 0x100)], 0x200);
    assert_eq!(plan(&v), Err(Errno::ENOEXEC), "entry outside");
    let v = elf(2, 0x400000, &[], 0x200);
    assert_eq!(plan(&v), Err(Errno::ENOEXEC), "no segments");
    assert_eq!(examine(b"hello\n", &ExecConfig::default()), Err(Errno::ENOEXEC));
    assert_eq!(examine(b"", &ExecConfig::default()), Err(Errno::ENOEXEC));
    assert_eq!(examine(b"\x7fELF", &ExecConfig::default()), Err(Errno::ENOEXEC));
    assert!(matches!(examine(&good, &ExecConfig::default()), Ok(Image::Elf(_))));
    assert!(matches!(
        examine(b"#!/bin/sh\n", &ExecConfig::default()),
        Ok(Image::Script(_))
    ));
}

#[test]
fn garbage_never_panics() {
    let good = standard();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let cfg = ExecConfig::default();
    let special = [0u8, 1, 2, 3, 0x38, 0x40, 0x7f, 0x80, 0xff];
    for round in 0..30_000 {
        let mut v = if round % 3 == 0 {
            (0..rng.below(400)).map(|_| rng.next() as u8).collect()
        } else {
            good.clone()
        };
        if round % 3 == 1 && v.len() >= 8 {
            v[..2].copy_from_slice(b"#!");
        }
        for _ in 0..1 + rng.below(6) {
            if v.is_empty() {
                break;
            }
            let i = if rng.below(2) == 0 {
                rng.below(64 + 3 * 56)
            } else {
                rng.below(v.len() as u64)
            } as usize;
            if let Some(b) = v.get_mut(i) {
                *b = if rng.below(2) == 0 {
                    rng.next() as u8
                } else {
                    special[rng.below(9) as usize]
                };
            }
        }
        if let Ok(Image::Elf(p)) = examine(&v, &cfg) {
            for m in &p.mappings {
                assert_eq!(m.vaddr % PAGE_SIZE, 0);
                assert_eq!(m.file_offset % PAGE_SIZE, 0);
                assert!(m.zero_start <= m.zero_end && m.anon_start <= m.anon_end);
                assert!(m.anon_end <= p.brk && p.brk <= cfg.user_limit);
            }
            let _ = build_exec_stack(
                &p,
                0x7fff_f000,
                &[b"x"],
                &[],
                b"/x",
                Credentials::default(),
                0,
                [0; 16],
                1 << 16,
            );
        }
        let _ = parse_shebang(&v);
    }
}

#[test]
fn the_exec_stack_carries_the_auxv() {
    let p = plan(&standard()).unwrap();
    let creds = Credentials {
        uid: 1,
        euid: 2,
        gid: 3,
        egid: 4,
    };
    let top = 0x7fff_ffff_f000;
    let img = build_exec_stack(
        &p,
        top,
        &[b"sh", b"-c"],
        &[b"A=1"],
        b"/bin/sh",
        creds,
        0x178b_fbff,
        [9; 16],
        4096,
    )
    .unwrap();
    let word = |a: u64| {
        let o = (a - img.initial_sp) as usize;
        u64::from_le_bytes(img.bytes[o..o + 8].try_into().unwrap())
    };
    let c_str = |a: u64| {
        let o = (a - img.initial_sp) as usize;
        let rest = &img.bytes[o..];
        rest[..rest.iter().position(|&b| b == 0).unwrap()].to_vec()
    };
    assert_eq!(word(img.initial_sp), 2);
    let mut a = img.initial_sp + 8 * (1 + 2 + 1 + 1 + 1);
    let mut aux = BTreeMap::new();
    let mut order = Vec::new();
    loop {
        let (t, v) = (word(a), word(a + 8));
        a += 16;
        if t == u64::from(AT_NULL) {
            break;
        }
        order.push(t);
        aux.insert(t, v);
    }
    let t = u64::from;
    assert_eq!(
        order,
        [16, 6, 17, 3, 4, 5, 7, 8, 9, 11, 12, 13, 14, 23, 25, 31, 15],
        "Linux's order"
    );
    assert_eq!(aux[&t(AT_HWCAP)], 0x178b_fbff);
    assert_eq!(aux[&t(AT_PAGESZ)], 4096);
    assert_eq!(aux[&t(AT_CLKTCK)], 100);
    assert_eq!(
        (aux[&t(AT_PHDR)], aux[&t(AT_PHENT)], aux[&t(AT_PHNUM)]),
        (0x400040, 56, 2)
    );
    assert_eq!((aux[&t(AT_BASE)], aux[&t(AT_FLAGS)], aux[&t(AT_SECURE)]), (0, 0, 0));
    assert_eq!(aux[&t(AT_ENTRY)], 0x400100);
    assert_eq!(
        (aux[&t(AT_UID)], aux[&t(AT_EUID)], aux[&t(AT_GID)], aux[&t(AT_EGID)]),
        (1, 2, 3, 4)
    );
    let r = (aux[&t(AT_RANDOM)] - img.initial_sp) as usize;
    assert_eq!(img.bytes[r..r + 16], [9; 16]);
    assert_eq!(c_str(aux[&t(AT_EXECFN)]), b"/bin/sh");
    assert_eq!(c_str(aux[&t(AT_PLATFORM)]), b"x86_64");
    let big = vec![b'x'; 5000];
    assert_eq!(
        build_exec_stack(&p, top, &[&big], &[], b"/bin/sh", creds, 0, [0; 16], 4096),
        Err(Errno::E2BIG)
    );
}

/// What the host kernel did when it loaded `exe`: its /proc/self/maps lines
/// for the file and its auxv.
struct KernelView {
    maps: Vec<(u64, u64, String, u64, String)>,
    auxv: Vec<(u64, u64)>,
}

fn parse_view(maps: &str, auxv: &[u8]) -> KernelView {
    let maps = maps
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (a, b) = f.first()?.split_once('-')?;
            Some((
                u64::from_str_radix(a, 16).ok()?,
                u64::from_str_radix(b, 16).ok()?,
                String::from(*f.get(1)?),
                u64::from_str_radix(f.get(2)?, 16).ok()?,
                String::from(f.get(5).copied().unwrap_or("")),
            ))
        })
        .collect();
    let auxv = auxv
        .chunks_exact(16)
        .map(|c| {
            (
                u64::from_le_bytes(c[..8].try_into().unwrap()),
                u64::from_le_bytes(c[8..].try_into().unwrap()),
            )
        })
        .collect();
    KernelView { maps, auxv }
}

/// Checks our plan for `exe` against what the host kernel did.
fn compare_with_kernel(exe: &Path, view: &KernelView) {
    let data = std::fs::read(exe).unwrap();
    let aux = |t: u32| view.auxv.iter().find(|a| a.0 == u64::from(t)).map(|a| a.1).unwrap();
    let parsed = ElfFile::parse(&data).unwrap();
    // For static-pie, put our base where the kernel put its.
    let kernel_bias = aux(AT_ENTRY) - parsed.entry();
    let cfg = ExecConfig {
        dyn_base: kernel_bias,
        user_limit: 1 << 47,
        ..ExecConfig::default()
    };
    let p = plan_elf(&data, &cfg).unwrap();
    assert_eq!(p.load_bias, kernel_bias);
    for t in [
        AT_PHDR, AT_PHENT, AT_PHNUM, AT_ENTRY, AT_PAGESZ, AT_CLKTCK, AT_BASE, AT_FLAGS, AT_SECURE,
    ] {
        let ours = auxv(&p, Credentials::default(), 0, b"", [0; 16])
            .iter()
            .find(|a| a.0 == u64::from(t))
            .map(|a| a.1);
        assert_eq!(
            ours,
            Some(AuxValue::Word(aux(t))),
            "auxv type {t} for {}",
            exe.display()
        );
    }
    // Our auxv types appear in the kernel's order.
    let kernel_order: Vec<u64> = view.auxv.iter().map(|a| a.0).collect();
    let ours: Vec<u64> = auxv(&p, Credentials::default(), 0, b"", [0; 16])
        .iter()
        .map(|a| a.0)
        .collect();
    let mut k = kernel_order.iter();
    assert!(
        ours.iter().all(|t| k.any(|x| x == t)),
        "order {ours:?} in {kernel_order:?}"
    );

    let canonical = std::fs::canonicalize(exe).unwrap();
    let name = canonical.to_str().unwrap();
    for m in &p.mappings {
        let lines: Vec<_> = view
            .maps
            .iter()
            .filter(|l| l.4 == name && l.0 >= m.vaddr && l.1 <= m.vaddr + m.file_len)
            .collect();
        let covered: u64 = lines.iter().map(|l| l.1 - l.0).sum();
        assert_eq!(covered, m.file_len, "file pages of {m:x?} in {name}");
        for l in &lines {
            assert_eq!(l.3, m.file_offset + (l.0 - m.vaddr), "file offset at {:#x}", l.0);
        }
        let perms = std::format!(
            "{}{}{}p",
            if m.prot.read { 'r' } else { '-' },
            if m.prot.write { 'w' } else { '-' },
            if m.prot.execute { 'x' } else { '-' }
        );
        // RELRO makes the C library turn the first pages of the data read-only.
        assert_eq!(lines.last().unwrap().2, perms, "protection of {m:x?}");
        if !m.prot.write {
            assert!(lines.iter().all(|l| l.2 == perms));
        }
        if m.anon_start < m.anon_end {
            assert!(
                view.maps
                    .iter()
                    .any(|l| l.0 == m.anon_start && l.1 >= m.anon_end && l.2 == "rw-p" && l.4.is_empty()),
                "bss {:#x}..{:#x}",
                m.anon_start,
                m.anon_end
            );
        }
    }
}

#[test]
fn busybox_is_planned_as_the_kernel_loads_it() {
    let bb = Path::new("/bin/busybox");
    if !bb.exists() {
        std::eprintln!("no /bin/busybox: skipped");
        return;
    }
    let maps = Command::new(bb)
        .args(["cat", "/proc/self/maps"])
        .output()
        .unwrap()
        .stdout;
    let auxv = Command::new(bb)
        .args(["cat", "/proc/self/auxv"])
        .output()
        .unwrap()
        .stdout;
    compare_with_kernel(bb, &parse_view(&String::from_utf8(maps).unwrap(), &auxv));
    let p = plan(&std::fs::read(bb).unwrap()).unwrap();
    assert_eq!(p.elf_type, ElfType::Exec);
    let tls = p.tls.expect("busybox-static has PT_TLS");
    assert!(tls.memsz >= tls.filesz && tls.align.is_power_of_two());
    assert!(
        p.mappings.iter().any(|m| m.anon_start < m.anon_end),
        "busybox has bss pages"
    );
    assert_eq!(p.brk, p.mappings.iter().map(|m| m.anon_end).max().unwrap());
}

/// Prints its own /proc/self/maps, then a line "AUXV", then its auxv in hex.
const SELF_VIEW: &str = r#"
#include <stdio.h>
int main(void) {
    int c; FILE *f = fopen("/proc/self/maps", "r");
    while ((c = fgetc(f)) != EOF) putchar(c);
    fclose(f);
    printf("AUXV\n");
    f = fopen("/proc/self/auxv", "rb");
    while ((c = fgetc(f)) != EOF) printf("%02x", c);
    printf("\n");
    return 0;
}
"#;

/// Builds SELF_VIEW with `cc args`, runs it, and compares; false if `cc` is missing
/// or cannot link that way.
fn check_built_program(cc: &str, args: &[&str], tag: &str) -> bool {
    if Command::new(cc).arg("--version").output().is_err() {
        std::eprintln!("{cc} not found: skipped");
        return false;
    }
    let dir: PathBuf = std::env::temp_dir().join(std::format!("unix-core-exec-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("view.c");
    let exe = dir.join("view");
    std::fs::write(&src, SELF_VIEW).unwrap();
    let built = Command::new(cc)
        .args(args)
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .output()
        .unwrap();
    if !built.status.success() {
        std::eprintln!(
            "{cc} {args:?} failed: skipped ({})",
            String::from_utf8_lossy(&built.stderr)
        );
        return false;
    }
    let out = String::from_utf8(Command::new(&exe).output().unwrap().stdout).unwrap();
    let (maps, hex) = out.split_once("AUXV\n").unwrap();
    let hex = hex.trim();
    let auxv: Vec<u8> = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    compare_with_kernel(&exe, &parse_view(maps, &auxv));
    let _ = std::fs::remove_dir_all(&dir);
    true
}

#[test]
fn a_musl_static_program_is_planned_as_the_kernel_loads_it() {
    check_built_program("musl-gcc", &["-static"], "musl");
}

#[test]
fn glibc_static_and_static_pie_programs_are_planned_as_the_kernel_loads_them() {
    check_built_program("gcc", &["-static"], "glibc");
    check_built_program("gcc", &["-static-pie"], "pie");
}

#[test]
fn musl_static_pie_is_dynamically_linked_and_refused() {
    let dir = std::env::temp_dir().join(std::format!("unix-core-exec-mpie-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("m.c");
    std::fs::write(&src, "int main(void) { return 0; }\n").unwrap();
    let exe = dir.join("m");
    let Ok(out) = Command::new("musl-gcc")
        .arg("-static-pie")
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .output()
    else {
        return;
    };
    if out.status.success() {
        let data = std::fs::read(&exe).unwrap();
        assert!(
            ElfFile::parse(&data)
                .unwrap()
                .find_program_header(PT_INTERP)
                .unwrap()
                .is_some()
        );
        assert_eq!(plan(&data), Err(Errno::ENOEXEC));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
