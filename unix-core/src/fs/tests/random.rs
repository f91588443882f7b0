//! Randomized operation sequences (xorshift, fixed seeds) on one tree: after
//! every operation the invariants hold, a failed operation changes nothing,
//! and every regular file reads back what a simple model says it holds.

use super::*;
use crate::cpio::tests::Rng;
use crate::errno::Errno;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec;
use linux_raw_sys::general as g;

const NAMES: [&str; 7] = ["a", "b", "c", "d", "e", "..", "."];

fn random_path(rng: &mut Rng) -> String {
    let mut p = String::new();
    if rng.below(6) == 0 {
        p.push('/');
    }
    for i in 0..1 + rng.below(2) + rng.below(2) * rng.below(2) {
        if i > 0 {
            p.push_str(if rng.below(8) == 0 { "//" } else { "/" });
        }
        let n = rng.below(16) as usize;
        p.push_str(if n < 14 { NAMES[n % 5] } else { NAMES[n - 9] });
    }
    if rng.below(12) == 0 {
        p.push('/');
    }
    p
}

/// Everything observable about the tree: each reachable directory's
/// entries and every inode's attributes.
fn snapshot(fs: &Fs) -> Vec<(Ino, String)> {
    let mut out = Vec::new();
    for ino in 0..fs.next_ino {
        if let Ok(st) = fs.stat(ino) {
            out.push((ino, alloc::format!("{st:?} opens={:?}", fs.opens(ino))));
            if fs.file_type(ino) == Ok(FileType::Directory) {
                out.push((ino, alloc::format!("{:?}", names(fs, ino))));
            }
            if fs.file_type(ino) == Ok(FileType::Regular) {
                out.push((ino, alloc::format!("{:?}", content(fs, ino))));
            }
        }
    }
    out.push((0, alloc::format!("{}", fs.data_bytes())));
    out
}

fn run(seed: u64, steps: usize) {
    let mut rng = Rng(seed);
    let mut fs = fs();
    fs.set_limits(Limits {
        max_file_size: 1 << 16,
        max_data_bytes: 4000,
        max_inodes: 80,
    });
    let mut model: BTreeMap<Ino, Vec<u8>> = BTreeMap::new();
    let mut refs: Vec<Ino> = Vec::new();
    let mut dirs = vec![R];
    let mut counts = [0usize; 2];
    for step in 0..steps {
        let cwd = if rng.below(2) == 0 {
            R
        } else {
            dirs[rng.below(dirs.len() as u64) as usize]
        };
        let p = random_path(&mut rng);
        let q = random_path(&mut rng);
        let (p, q) = (p.as_bytes(), q.as_bytes());
        let before = snapshot(&fs);
        let op = rng.below(20);
        let result: crate::errno::Result<()> = match op {
            0..=2 => fs.mknod(cwd, p, 0o644, (0, 0), 0, 0).map(|ino| {
                model.insert(ino, Vec::new());
            }),
            3 | 4 => fs.mkdir(cwd, p, 0o755, 0, 0).map(|_| ()),
            5 | 6 => fs.rmdir(cwd, p),
            7 | 8 => fs.unlink(cwd, p),
            9 | 10 => fs.rename(cwd, p, dirs[rng.below(dirs.len() as u64) as usize], q),
            11 => fs.link(cwd, p, cwd, q, rng.below(2) == 0),
            12 => fs.symlink(q, cwd, p, 0, 0).map(|_| ()),
            13 | 14 => fs.lookup(cwd, p, true).and_then(|ino| {
                let off = rng.below(300);
                let data = vec![rng.next() as u8; rng.below(200) as usize];
                let n = fs.write_at(ino, off, &data)?;
                let m = model.get_mut(&ino).ok_or(Errno::EIO)?;
                if n > 0 {
                    let end = off as usize + n;
                    if m.len() < end {
                        m.resize(end, 0);
                    }
                    m[off as usize..end].copy_from_slice(&data[..n]);
                }
                Ok(())
            }),
            15 => fs.lookup(cwd, p, true).and_then(|ino| {
                let len = rng.below(400) as i64 - 20;
                fs.truncate(ino, len)?;
                model.get_mut(&ino).ok_or(Errno::EIO)?.resize(len as usize, 0);
                Ok(())
            }),
            16 => {
                let flags = [
                    g::O_CREAT | g::O_RDWR,
                    g::O_CREAT | g::O_EXCL,
                    g::O_TRUNC | g::O_WRONLY,
                    g::O_DIRECTORY,
                ][rng.below(4) as usize];
                fs.open(cwd, p, flags, 0o600, 0, 0).and_then(|o| {
                    if o.file_type == FileType::Regular && (o.created || flags & g::O_TRUNC != 0) {
                        model.insert(o.ino, Vec::new());
                    }
                    fs.open_ref(o.ino)?;
                    refs.push(o.ino);
                    Ok(())
                })
            }
            17 if !refs.is_empty() => {
                let ino = refs.swap_remove(rng.below(refs.len() as u64) as usize);
                fs.close_ref(ino)
            }
            _ => fs
                .lookup(cwd, p, false)
                .and_then(|ino| fs.chmod(ino, rng.next() as u32)),
        };
        if let Err(e) = fs.check() {
            panic!("seed {seed:#x} step {step} op {op} {p:?} {q:?} -> {result:?}: {e}");
        }
        match result {
            Ok(()) => counts[0] += 1,
            Err(_) => {
                counts[1] += 1;
                assert_eq!(
                    before,
                    snapshot(&fs),
                    "seed {seed:#x} step {step}: op {op} {p:?} {q:?} failed ({result:?}) but changed the tree"
                );
            }
        }
        // An inode stays while a reference is held.
        for &ino in &refs {
            assert!(fs.exists(ino), "seed {seed:#x} step {step}: open inode {ino} was freed");
        }
        // Inodes that went away leave the model; the rest read as modelled.
        model.retain(|ino, _| fs.exists(*ino));
        for (&ino, want) in &model {
            assert_eq!(&content(&fs, ino), want, "seed {seed:#x} step {step}: inode {ino}");
        }
        // Current directories for later steps: live ones, and open removed ones.
        dirs = (0..fs.next_ino)
            .filter(|&i| fs.file_type(i) == Ok(FileType::Directory))
            .collect();
        fs.set_time(Timespec {
            sec: 100 + step as i64,
            nsec: 0,
        });
    }
    // Both outcomes were exercised.
    assert!(counts[0] > steps / 10 && counts[1] > steps / 10, "{counts:?}");
    // Closing everything frees every unlinked inode.
    for ino in refs.drain(..) {
        fs.close_ref(ino).unwrap();
    }
    ok(&fs);
    assert!((0..fs.next_ino).all(|i| fs.stat(i).map_or(true, |s| s.nlink > 0)));
}

#[test]
fn random_operations_keep_the_tree_consistent() {
    for seed in [0x9e37_79b9_7f4a_7c15, 0x1234_5678, 0xdead_beef_cafe, 42, 7] {
        run(seed, 1500);
    }
}
