//! Building the tree from cpio archives: hand-built ones, replacement rules,
//! hard links, bad input, and archives from the host's `cpio`.

use super::*;
use crate::cpio::tests::{Rng, Spec, archive, host_cpio, host_tree, push_raw, spec};
use crate::cpio::{self, MAGIC_NEWC};
use crate::errno::Errno;
use alloc::vec;
use linux_raw_sys::general as g;

const REG: u32 = g::S_IFREG;
const DIR: u32 = g::S_IFDIR;
const LNK: u32 = g::S_IFLNK;

fn hard(name: &str, ino: u32, data: &[u8]) -> Spec {
    let mut s = spec(name, REG | 0o755, data);
    s.ino = ino;
    s.nlink = 2;
    s
}

#[test]
fn builds_the_tree_with_attributes() {
    let mut con = spec("dev/console", g::S_IFCHR | 0o600, b"");
    con.rdev = (5, 1);
    let a = archive(&[
        spec(".", DIR | 0o700, b""),
        spec("bin", DIR | 0o755, b""),
        spec("bin/busybox", REG | 0o4755, b"\x7fELF"),
        spec("bin/sh", LNK | 0o777, b"busybox"),
        con,
        spec("etc/init.d/rcS", REG | 0o744, b"#!/bin/sh\n"),
        spec("run/fifo", g::S_IFIFO | 0o600, b""),
    ]);
    let fs = Fs::from_cpio(&a).unwrap();
    ok(&fs);
    let bb = look(&fs, "/bin/busybox").unwrap();
    let st = fs.stat(bb).unwrap();
    assert_eq!((st.mode, st.uid, st.gid, st.nlink), (REG | 0o4755, 1000, 100, 1));
    assert_eq!(
        st.mtime,
        Timespec {
            sec: 0x5f5e_1000,
            nsec: 0
        }
    );
    assert_eq!(content(&fs, bb), b"\x7fELF");
    assert_eq!(look(&fs, "/bin/sh"), Ok(bb));
    assert_eq!(fs.readlink(R, b"bin/sh"), Ok(&b"busybox"[..]));
    let c = look(&fs, "/dev/console").unwrap();
    assert_eq!(fs.stat(c).unwrap().rdev, makedev(5, 1));
    assert_eq!(fs.stat(c).unwrap().mode, g::S_IFCHR | 0o600);
    assert_eq!(fs.file_type(look(&fs, "run/fifo").unwrap()), Ok(FileType::Fifo));
    // `.` set the root's attributes; missing parents were made 0755 root.
    assert_eq!(fs.stat(R).unwrap().mode, DIR | 0o700);
    let dev = fs.stat(look(&fs, "dev").unwrap()).unwrap();
    assert_eq!((dev.mode, dev.uid, dev.gid), (DIR | 0o755, 0, 0));
    assert!(look(&fs, "etc/init.d").is_ok());
    // Directory times are the archive's, set after their contents.
    let bin = fs.stat(look(&fs, "bin").unwrap()).unwrap();
    assert_eq!(bin.mtime.sec, 0x5f5e_1000);
    assert_eq!(fs.stat(R).unwrap().mtime.sec, 0x5f5e_1000);
}

#[test]
fn names_are_relative_to_the_root() {
    let a = archive(&[
        spec("./a", REG | 0o644, b"1"),
        spec("/b", REG | 0o644, b"2"),
        spec("../../c", REG | 0o644, b"3"),
        spec("d//e/", DIR | 0o755, b""),
        spec("d/e/..", DIR | 0o711, b""),
        spec("", REG | 0o644, b"x"),
        spec("weird", 0o170644, b"x"),
    ]);
    let fs = Fs::from_cpio(&a).unwrap();
    ok(&fs);
    assert_eq!(content(&fs, look(&fs, "a").unwrap()), b"1");
    assert_eq!(content(&fs, look(&fs, "b").unwrap()), b"2");
    assert_eq!(content(&fs, look(&fs, "c").unwrap()), b"3");
    assert!(look(&fs, "d/e").is_ok());
    assert_eq!(fs.stat(look(&fs, "d").unwrap()).unwrap().mode, DIR | 0o711);
    assert_eq!(look(&fs, "weird"), Err(Errno::ENOENT), "unknown types are skipped");
    assert_eq!(names(&fs, R).len(), 2 + 4);
}

#[test]
fn hard_links_share_one_inode() {
    // As GNU cpio writes them: the data with the last link.
    let a = archive(&[hard("x", 42, b""), hard("y", 42, b"shared"), hard("z", 43, b"other")]);
    let fs = Fs::from_cpio(&a).unwrap();
    ok(&fs);
    let x = look(&fs, "x").unwrap();
    assert_eq!(look(&fs, "y"), Ok(x));
    assert_ne!(look(&fs, "z"), Ok(x));
    assert_eq!(fs.stat(x).unwrap().nlink, 2);
    assert_eq!(content(&fs, x), b"shared");
    // The same inode number on another device is another file.
    let mut other = hard("w", 42, b"dev2");
    other.ino = 42;
    let mut a = Vec::new();
    push_raw(&mut a, MAGIC_NEWC, &hard("v", 42, b"dev1"), 0);
    let mut s = other.clone();
    s.name = b"w".to_vec();
    let mut w = Vec::new();
    push_raw(&mut w, MAGIC_NEWC, &s, 0);
    // Device major is field 7 (offset 6 + 7*8); give it another value.
    w[62..70].copy_from_slice(b"00000009");
    a.extend_from_slice(&w);
    push_raw(&mut a, MAGIC_NEWC, &spec("TRAILER!!!", 0, b""), 0);
    let fs = Fs::from_cpio(&a).unwrap();
    assert_ne!(look(&fs, "v"), look(&fs, "w"));
    ok(&fs);
}

#[test]
fn later_entries_replace_earlier_ones() {
    let a = archive(&[
        spec("f", REG | 0o644, b"first long"),
        spec("f", REG | 0o600, b"2nd"),
        spec("d", DIR | 0o755, b""),
        spec("d/keep", REG | 0o644, b"k"),
        spec("d", DIR | 0o700, b""),
        spec("l", LNK | 0o777, b"f"),
        spec("l", REG | 0o644, b"now a file"),
        spec("g", REG | 0o644, b"file"),
        spec("g", DIR | 0o755, b""),
        spec("e", DIR | 0o755, b""),
        spec("e", LNK | 0o777, b"d"),
    ]);
    let fs = Fs::from_cpio(&a).unwrap();
    ok(&fs);
    let f = look(&fs, "f").unwrap();
    assert_eq!(content(&fs, f), b"2nd", "truncated and rewritten");
    assert_eq!(fs.stat(f).unwrap().mode, REG | 0o600);
    let d = look(&fs, "d").unwrap();
    assert_eq!(fs.stat(d).unwrap().mode, DIR | 0o700);
    assert!(
        look(&fs, "d/keep").is_ok(),
        "a directory over a directory keeps its entries"
    );
    assert_eq!(fs.file_type(fs.lookup(R, b"l", false).unwrap()), Ok(FileType::Regular));
    assert_eq!(fs.file_type(look(&fs, "g").unwrap()), Ok(FileType::Directory));
    assert_eq!(fs.file_type(fs.lookup(R, b"e", false).unwrap()), Ok(FileType::Symlink));
    // A directory that holds entries cannot be replaced by a file.
    let bad = archive(&[spec("d/x", REG, b""), spec("d", REG | 0o644, b"")]);
    let offset = cpio::entries(&bad).unwrap()[1].offset;
    assert_eq!(
        Fs::from_cpio(&bad).err(),
        Some(LoadError::Entry {
            offset,
            errno: Errno::ENOTEMPTY
        })
    );
    // Nor can a file stand in for a parent directory.
    let bad = archive(&[spec("f", REG, b""), spec("f/x", REG, b"")]);
    assert!(matches!(
        Fs::from_cpio(&bad),
        Err(LoadError::Entry {
            errno: Errno::ENOTDIR,
            ..
        })
    ));
}

#[test]
fn parents_through_symlinks() {
    let a = archive(&[
        spec("real", DIR | 0o755, b""),
        spec("alias", LNK | 0o777, b"real"),
        spec("alias/f", REG | 0o644, b"via link"),
    ]);
    let fs = Fs::from_cpio(&a).unwrap();
    assert_eq!(content(&fs, look(&fs, "real/f").unwrap()), b"via link");
    ok(&fs);
}

#[test]
fn concatenated_archives_and_error_offsets() {
    let first = archive(&[spec("a", REG | 0o644, b"1")]);
    let second = archive(&[spec("b", REG | 0o644, b"2"), spec("a", REG | 0o644, b"replaced")]);
    let mut all = first.clone();
    all.extend_from_slice(&[0; 12]);
    all.extend_from_slice(&second);
    all.extend_from_slice(&[0; 8]);
    let fs = Fs::from_cpio(&all).unwrap();
    assert_eq!(content(&fs, look(&fs, "a").unwrap()), b"replaced");
    assert_eq!(content(&fs, look(&fs, "b").unwrap()), b"2");
    ok(&fs);
    // An error in the second archive is reported at its offset in the whole input.
    let mut bad = first.clone();
    bad.extend_from_slice(&[0; 4]);
    let at = bad.len();
    bad.extend_from_slice(b"070701zz");
    bad.extend_from_slice(&[b'0'; 110]);
    assert_eq!(
        Fs::from_cpio(&bad).err(),
        Some(LoadError::Cpio(cpio::Error::BadHex {
            offset: at,
            field: cpio::Field::Ino
        }))
    );
    assert_eq!(Fs::from_cpio(&[]).map(|f| f.inode_count()), Ok(1));
    assert_eq!(
        Fs::from_cpio(&first[..first.len() - 1]).err(),
        Some(LoadError::Cpio(cpio::Error::TruncatedName { offset: 116 })),
        "the cut falls in the trailer's name padding"
    );
}

#[test]
fn symlink_with_empty_target_is_an_entry_error() {
    let a = archive(&[spec("l", LNK | 0o777, b"")]);
    assert!(matches!(
        Fs::from_cpio(&a),
        Err(LoadError::Entry {
            offset: 0,
            errno: Errno::ENOENT
        })
    ));
}

#[test]
fn random_archives_never_panic_and_keep_invariants() {
    let mut rng = Rng(0x0005_eed0_fa11);
    let names = ["a", "b", "a/b", "a/b/c", "b/a", "..", ".", "a/../b", "l/x", "l"];
    let modes = [
        REG | 0o644,
        DIR | 0o755,
        LNK | 0o777,
        g::S_IFCHR | 0o600,
        g::S_IFIFO | 0o644,
    ];
    for _ in 0..3000 {
        let n = rng.below(8) as usize;
        let specs: Vec<Spec> = (0..n)
            .map(|_| {
                let mut s = spec(
                    names[rng.below(names.len() as u64) as usize],
                    modes[rng.below(modes.len() as u64) as usize],
                    &vec![b'a'; rng.below(3) as usize],
                );
                if rng.below(3) == 0 {
                    s.nlink = 2;
                    s.ino = rng.below(3) as u32;
                }
                s
            })
            .collect();
        let mut a = archive(&specs);
        if rng.below(4) == 0 {
            let i = rng.below(a.len() as u64) as usize;
            a[i] = rng.next() as u8;
        }
        if let Ok(fs) = Fs::from_cpio(&a) {
            ok(&fs);
        }
    }
}

#[test]
fn archives_from_the_host_cpio_load() {
    use std::os::unix::fs::MetadataExt;
    let (dir, names) = host_tree("fsload");
    let Some(a) = host_cpio(&dir, &names, "newc") else {
        std::eprintln!("skipping: no cpio on this host");
        return;
    };
    let fs = Fs::from_cpio(&a).unwrap();
    ok(&fs);
    for name in &names {
        let md = std::fs::symlink_metadata(dir.join(name)).unwrap();
        let ino = fs.lookup(R, name.as_bytes(), false).unwrap();
        let st = fs.stat(ino).unwrap();
        assert_eq!(st.mode, md.mode(), "{name}");
        assert_eq!(st.uid, md.uid());
        assert_eq!(st.mtime.sec, md.mtime(), "{name}");
        if md.is_file() {
            assert_eq!(content(&fs, ino), std::fs::read(dir.join(name)).unwrap(), "{name}");
            assert_eq!(st.nlink, md.nlink(), "{name}");
        }
    }
    assert_eq!(look(&fs, "big"), look(&fs, "big2"));
    assert_eq!(fs.readlink(R, b"motd"), Ok(&b"etc/motd"[..]));
    std::fs::remove_dir_all(&dir).unwrap();
}
