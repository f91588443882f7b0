//! Tests of the file system, one file per area; every test ends with the
//! whole-tree invariant check.

mod check;
mod data;
mod dirent;
mod load;
mod ops;
mod path;
mod random;
mod rename;

use super::*;
use alloc::vec::Vec;

pub(super) const R: Ino = ROOT_INO;

/// A file system whose clock reads 100 s.
pub(super) fn fs() -> Fs {
    let mut fs = Fs::new();
    fs.set_time(Timespec { sec: 100, nsec: 0 });
    fs
}

/// Checks the whole tree.
#[track_caller]
pub(super) fn ok(fs: &Fs) {
    if let Err(e) = fs.check() {
        panic!("invariant broken: {e}");
    }
}

/// Makes a regular file at `path` holding `data`.
#[track_caller]
pub(super) fn file(fs: &mut Fs, path: &str, data: &[u8]) -> Ino {
    let ino = fs.mknod(R, path.as_bytes(), 0o644, (0, 0), 0, 0).unwrap();
    assert_eq!(fs.write_at(ino, 0, data), Ok(data.len()));
    ino
}

#[track_caller]
pub(super) fn dir(fs: &mut Fs, path: &str) -> Ino {
    fs.mkdir(R, path.as_bytes(), 0o755, 0, 0).unwrap()
}

#[track_caller]
pub(super) fn link(fs: &mut Fs, target: &str, path: &str) -> Ino {
    fs.symlink(target.as_bytes(), R, path.as_bytes(), 0, 0).unwrap()
}

/// `stat` (following) of `path` from the root.
pub(super) fn look(fs: &Fs, path: &str) -> crate::errno::Result<Ino> {
    fs.lookup(R, path.as_bytes(), true)
}

/// The whole content of regular file `ino`.
pub(super) fn content(fs: &Fs, ino: Ino) -> Vec<u8> {
    let size = fs.size(ino).unwrap() as usize;
    let mut buf = alloc::vec![0xaa; size + 10];
    let n = fs.read_at(ino, 0, &mut buf).unwrap();
    assert_eq!(n, size);
    buf.truncate(n);
    buf
}

/// The names in directory `d`, in `getdents` order, `.` and `..` included.
pub(super) fn names(fs: &Fs, d: Ino) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(e) = fs.read_dir(d, pos).unwrap() {
        out.push(e.name.to_vec());
        pos = e.next;
    }
    out
}
