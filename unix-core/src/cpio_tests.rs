//! Tests of the `newc` parser: hand-built images, every malformation, random
//! and truncated input, and archives written by the host's `cpio` when it is
//! installed.

use super::*;
use alloc::vec::Vec;
use std::format;
use std::string::String;

/// What the test builder writes for one entry.
#[derive(Clone)]
pub(crate) struct Spec {
    pub name: Vec<u8>,
    pub mode: u32,
    pub ino: u32,
    pub nlink: u32,
    pub rdev: (u32, u32),
    pub data: Vec<u8>,
}

pub(crate) fn spec(name: &str, mode: u32, data: &[u8]) -> Spec {
    Spec {
        name: name.as_bytes().to_vec(),
        mode,
        ino: 0,
        nlink: 1,
        rdev: (0, 0),
        data: data.to_vec(),
    }
}

fn pad(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// Appends one entry with the given magic and check field.
pub(crate) fn push_raw(out: &mut Vec<u8>, magic: &[u8], s: &Spec, check: u32) {
    let fields = [
        s.ino,
        s.mode,
        1000,
        100,
        s.nlink,
        0x5f5e_1000,
        s.data.len() as u32,
        8,
        1,
        s.rdev.0,
        s.rdev.1,
        s.name.len() as u32 + 1,
        check,
    ];
    out.extend_from_slice(magic);
    for f in fields {
        out.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(&s.name);
    out.push(0);
    pad(out);
    out.extend_from_slice(&s.data);
    pad(out);
}

/// A whole `newc` archive of `specs`, with its trailer.
pub(crate) fn archive(specs: &[Spec]) -> Vec<u8> {
    let mut out = Vec::new();
    for s in specs {
        push_raw(&mut out, MAGIC_NEWC, s, 0);
    }
    push_raw(&mut out, MAGIC_NEWC, &spec("TRAILER!!!", 0, b""), 0);
    out
}

const REG: u32 = linux_raw_sys::general::S_IFREG;
const DIR: u32 = linux_raw_sys::general::S_IFDIR;
const LNK: u32 = linux_raw_sys::general::S_IFLNK;
const CHR: u32 = linux_raw_sys::general::S_IFCHR;

fn sample() -> Vec<u8> {
    let mut dev = spec("dev/console", CHR | 0o600, b"");
    dev.rdev = (5, 1);
    archive(&[
        spec(".", DIR | 0o755, b""),
        spec("bin", DIR | 0o755, b""),
        spec("bin/busybox", REG | 0o755, b"\x7fELF binary"),
        spec("bin/sh", LNK | 0o777, b"busybox"),
        dev,
    ])
}

#[test]
fn hand_built_archive_yields_every_field() {
    let a = sample();
    let e = entries(&a).unwrap();
    let names: Vec<&[u8]> = e.iter().map(|e| e.name).collect();
    assert_eq!(names, [&b"."[..], b"bin", b"bin/busybox", b"bin/sh", b"dev/console"]);
    let bb = e[2];
    assert_eq!(bb.mode, REG | 0o755);
    assert_eq!((bb.uid, bb.gid, bb.nlink, bb.mtime), (1000, 100, 1, 0x5f5e_1000));
    assert_eq!((bb.dev_major, bb.dev_minor), (8, 1));
    assert_eq!(bb.data, b"\x7fELF binary");
    assert!(!bb.crc);
    assert_eq!(e[3].data, b"busybox");
    assert_eq!((e[4].rdev_major, e[4].rdev_minor), (5, 1));
    assert_eq!(e[0].offset, 0);
    // Each header starts on a 4-byte boundary, right after the previous entry.
    for w in e.windows(2) {
        assert_eq!(w[1].offset % 4, 0);
        assert!(w[1].offset > w[0].offset);
    }
}

#[test]
fn name_and_data_padding_for_every_length() {
    // Header + name lengths hit every residue mod 4, and so do the data sizes.
    for name_len in 1..9 {
        for data_len in 0..9 {
            let name: String = "n".repeat(name_len);
            let data: Vec<u8> = (0..data_len as u8).map(|b| b + 1).collect();
            let a = archive(&[spec(&name, REG | 0o644, &data), spec("next", REG, b"x")]);
            let e = entries(&a).unwrap();
            assert_eq!(e.len(), 2, "{name_len} {data_len}");
            assert_eq!(e[0].name, name.as_bytes());
            assert_eq!(e[0].data, &data[..]);
            assert_eq!(e[1].name, b"next");
            assert_eq!(e[1].data, b"x");
        }
    }
}

#[test]
fn uppercase_hex_is_accepted() {
    let mut a = archive(&[spec("f", REG | 0o644, b"abc")]);
    // mode field: offset 6 + 8.
    a[14..22].copy_from_slice(b"000081A4");
    assert_eq!(entries(&a).unwrap()[0].mode, 0o100644);
}

#[test]
fn crc_variant_checks_the_data_sum() {
    let s = spec("f", REG | 0o644, b"\xff\x01\x02");
    let mut a = Vec::new();
    push_raw(&mut a, MAGIC_CRC, &s, 0x102);
    push_raw(&mut a, MAGIC_CRC, &spec("TRAILER!!!", 0, b""), 0);
    let e = entries(&a).unwrap();
    assert!(e[0].crc);
    assert_eq!(e[0].check, 0x102);

    let mut bad = Vec::new();
    push_raw(&mut bad, MAGIC_CRC, &s, 0x101);
    push_raw(&mut bad, MAGIC_NEWC, &spec("TRAILER!!!", 0, b""), 0);
    assert_eq!(entries(&bad), Err(Error::BadChecksum { offset: 0 }));

    // In a plain newc archive the check field is not a checksum.
    let mut plain = Vec::new();
    push_raw(&mut plain, MAGIC_NEWC, &s, 0x101);
    push_raw(&mut plain, MAGIC_NEWC, &spec("TRAILER!!!", 0, b""), 0);
    assert!(entries(&plain).is_ok());

    // Only regular files are checksummed: a symlink's check field is 0.
    let mut link = Vec::new();
    push_raw(&mut link, MAGIC_CRC, &spec("l", LNK | 0o777, b"target"), 0);
    push_raw(&mut link, MAGIC_CRC, &spec("TRAILER!!!", 0, b""), 0);
    assert!(entries(&link).is_ok());
}

#[test]
fn bad_magic() {
    let mut a = sample();
    a[5] = b'7'; // 070707 is the old portable format, not newc
    assert_eq!(entries(&a), Err(Error::BadMagic { offset: 0 }));
    let second = entries(&sample()).unwrap()[1].offset;
    let mut a = sample();
    a[second] = b'X';
    assert_eq!(entries(&a), Err(Error::BadMagic { offset: second }));
}

#[test]
fn bad_hex_names_the_field() {
    for (i, field) in FIELDS.iter().enumerate() {
        for junk in [b'g', b' ', b'x', b'-', 0] {
            let mut a = sample();
            a[6 + 8 * i + 3] = junk;
            assert_eq!(
                entries(&a),
                Err(Error::BadHex {
                    offset: 0,
                    field: *field
                }),
                "{field:?}"
            );
        }
    }
}

#[test]
fn truncations_are_typed() {
    let a = archive(&[spec("file", REG | 0o644, b"hello")]);
    // Header: 110 bytes; name "file\0" = 5 bytes → padded to 116; data 5 → 124.
    for cut in 1..HEADER_SIZE {
        assert_eq!(entries(&a[..cut]), Err(Error::TruncatedHeader { offset: 0 }), "{cut}");
    }
    for cut in HEADER_SIZE..116 {
        assert_eq!(entries(&a[..cut]), Err(Error::TruncatedName { offset: 0 }), "{cut}");
    }
    for cut in 116..124 {
        assert_eq!(entries(&a[..cut]), Err(Error::TruncatedData { offset: 0 }), "{cut}");
    }
    assert_eq!(entries(&a[..124]), Err(Error::MissingTrailer { offset: 124 }));
    assert_eq!(entries(&[]), Err(Error::MissingTrailer { offset: 0 }));
    assert_eq!(entries(&a[..125]), Err(Error::TruncatedHeader { offset: 124 }));
}

#[test]
fn names_must_end_in_one_nul() {
    let mut a = sample();
    // "." has name size 2; make the NUL a byte.
    a[HEADER_SIZE + 1] = b'x';
    assert_eq!(entries(&a), Err(Error::NameNotTerminated { offset: 0 }));

    let mut a = archive(&[spec("a\0b", REG, b"")]);
    assert_eq!(entries(&a), Err(Error::NameHasNul { offset: 0 }));
    // Name size 0.
    a[94..102].copy_from_slice(b"00000000");
    assert_eq!(entries(&a), Err(Error::NameNotTerminated { offset: 0 }));
    // Name size larger than PATH_MAX, with the bytes present.
    let long = "a".repeat(NAME_SIZE_MAX);
    assert_eq!(
        entries(&archive(&[spec(&long, REG, b"")])),
        Err(Error::NameTooLong { offset: 0 })
    );
    let ok = "a".repeat(NAME_SIZE_MAX - 1);
    assert_eq!(entries(&archive(&[spec(&ok, REG, b"")])).unwrap()[0].name.len(), 4095);
    // A huge name or file size is truncation, not a crash.
    let mut a = archive(&[spec("f", REG, b"")]);
    a[94..102].copy_from_slice(b"00001000");
    assert_eq!(entries(&a), Err(Error::TruncatedName { offset: 0 }));
    let mut a = archive(&[spec("f", REG, b"")]);
    a[54..62].copy_from_slice(b"ffffffff");
    assert_eq!(entries(&a), Err(Error::TruncatedData { offset: 0 }));
}

#[test]
fn size_arithmetic_overflow_is_an_error() {
    assert_eq!(add(usize::MAX, 1, 7), Err(Error::SizeOverflow { offset: 7 }));
    assert_eq!(pad4(usize::MAX - 1, 3), Err(Error::SizeOverflow { offset: 3 }));
    assert_eq!(pad4(usize::MAX - 3, 0), Ok(usize::MAX - 3));
    assert_eq!(pad4(5, 0), Ok(8));
    assert_eq!(pad4(8, 0), Ok(8));
    assert_eq!(add(2, 3, 0), Ok(5));
}

#[test]
fn trailer_ends_the_archive_and_rest_follows() {
    let mut a = sample();
    let len = a.len();
    a.extend_from_slice(&[0, 0, 0, 0]);
    a.extend_from_slice(&archive(&[spec("second", REG, b"2")]));
    let mut r = Reader::new(&a);
    assert!(r.rest().is_none());
    assert_eq!(r.by_ref().count(), 5);
    let rest = r.rest().unwrap();
    assert_eq!(rest.len(), a.len() - len);
    assert_eq!(r.next(), None);
    let rest = &rest[4..];
    assert_eq!(entries(rest).unwrap()[0].name, b"second");
}

#[test]
fn iteration_stops_after_an_error() {
    let mut a = sample();
    a[0] = b'x';
    let mut r = Reader::new(&a);
    assert!(matches!(r.next(), Some(Err(Error::BadMagic { .. }))));
    assert_eq!(r.next(), None);
    assert_eq!(r.rest(), None);
}

/// xorshift64*: deterministic pseudo-random numbers for the tests.
pub(crate) struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

#[test]
fn random_and_mutated_input_never_panics() {
    let base = sample();
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for round in 0..20_000 {
        let mut a = base.clone();
        match round % 4 {
            0 => a.truncate(rng.below(a.len() as u64 + 1) as usize),
            1 => {
                for _ in 0..1 + rng.below(4) {
                    let i = rng.below(a.len() as u64) as usize;
                    a[i] = rng.next() as u8;
                }
            }
            2 => {
                // Random hex digits in random fields keep the magic valid.
                let i = rng.below(a.len() as u64) as usize;
                a[i] = b"0123456789abcdefF"[rng.below(17) as usize];
            }
            _ => {
                a = (0..rng.below(400)).map(|_| rng.next() as u8).collect();
                if rng.below(2) == 0 && a.len() >= 6 {
                    a[..6].copy_from_slice(MAGIC_NEWC);
                }
            }
        }
        // Consume everything; the iterator must end.
        let mut n = 0;
        for item in Reader::new(&a) {
            n += 1;
            assert!(n <= a.len() / HEADER_SIZE + 1);
            if let Ok(e) = item {
                assert!(e.offset + HEADER_SIZE + e.name.len() < a.len() + 1);
            }
        }
    }
}

#[test]
fn every_prefix_of_a_valid_archive_is_an_error() {
    let a = sample();
    for cut in 0..a.len() {
        assert!(entries(&a[..cut]).is_err(), "{cut}");
    }
    assert!(entries(&a).is_ok());
}

/// Runs the host's `cpio -o -H FORMAT` in `dir` over `names`; `None` if there
/// is no `cpio`.
pub(crate) fn host_cpio(dir: &std::path::Path, names: &[&str], format: &str) -> Option<Vec<u8>> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("cpio")
        .args(["-o", "-H", format, "--quiet"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut list = String::new();
    for n in names {
        list.push_str(n);
        list.push('\n');
    }
    child.stdin.take()?.write_all(list.as_bytes()).ok()?;
    let out = child.wait_with_output().ok()?;
    assert!(out.status.success(), "cpio failed");
    Some(out.stdout)
}

/// A fresh empty directory under the system's temporary directory.
pub(crate) fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("unix-core-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A small tree for the host `cpio`: a directory, files (one empty, one with
/// a hard link), a symlink and a fifo.
pub(crate) fn host_tree(tag: &str) -> (std::path::PathBuf, Vec<&'static str>) {
    use std::os::unix::fs::{PermissionsExt, symlink};
    let dir = temp_dir(tag);
    std::fs::create_dir(dir.join("etc")).unwrap();
    std::fs::write(dir.join("etc/motd"), b"hello from cpio\n").unwrap();
    std::fs::set_permissions(dir.join("etc/motd"), std::fs::Permissions::from_mode(0o640)).unwrap();
    std::fs::write(dir.join("empty"), b"").unwrap();
    std::fs::write(dir.join("big"), (0..5000u32).map(|i| i as u8).collect::<Vec<u8>>()).unwrap();
    std::fs::hard_link(dir.join("big"), dir.join("big2")).unwrap();
    symlink("etc/motd", dir.join("motd")).unwrap();
    let fifo = std::process::Command::new("mkfifo").arg(dir.join("fifo")).status();
    let mut names = std::vec!["etc", "etc/motd", "empty", "big", "big2", "motd"];
    if fifo.is_ok_and(|s| s.success()) {
        names.push("fifo");
    }
    (dir, names)
}

#[test]
fn archives_from_the_host_cpio() {
    use std::os::unix::fs::MetadataExt;
    for format in ["newc", "crc"] {
        let (dir, names) = host_tree(&format!("cpio-{format}"));
        let Some(a) = host_cpio(&dir, &names, format) else {
            std::eprintln!("skipping: no cpio on this host");
            return;
        };
        let e = entries(&a).unwrap();
        let got: Vec<&[u8]> = e.iter().map(|e| e.name).collect();
        let want: Vec<&[u8]> = names.iter().map(|n| n.as_bytes()).collect();
        assert_eq!(got, want);
        for (entry, name) in e.iter().zip(&names) {
            let md = std::fs::symlink_metadata(dir.join(name)).unwrap();
            assert_eq!(entry.mode, md.mode(), "{name}");
            assert_eq!(entry.uid, md.uid());
            assert_eq!(entry.nlink, md.nlink() as u32, "{name}");
            assert_eq!(entry.mtime as i64, md.mtime());
            assert_eq!(entry.crc, format == "crc");
            if md.is_symlink() {
                assert_eq!(entry.data, b"etc/motd");
            } else if *name == "big" {
                // GNU cpio stores a hard-linked file's data with its last link.
                assert_eq!(entry.data, b"");
                assert_eq!(entry.ino, e[names.iter().position(|n| *n == "big2").unwrap()].ino);
            } else if md.is_file() {
                assert_eq!(entry.data, &std::fs::read(dir.join(name)).unwrap()[..], "{name}");
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
