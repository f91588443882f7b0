//! Reading directories: entries by position, and `getdents64`'s
//! `linux_dirent64` records.
//!
//! A directory's positions are stable: `.` is 0, `..` is 1, and each entry
//! keeps the position it was given when added (increasing), so a reader that
//! resumes at a `d_off` neither repeats nor skips entries that stayed, while
//! entries are added or removed between its calls. A removed directory reads
//! as empty, without `.` and `..`.

use super::{FIRST_POS, FileType, Fs, Ino};
use crate::errno::{Errno, Result};
use core::mem::{offset_of, size_of};
use linux_raw_sys::general::linux_dirent64;

/// Bytes of a `linux_dirent64` before the name (19).
pub const DIRENT64_HEADER: usize = offset_of!(linux_dirent64, d_name);
/// Records are padded to this alignment.
const DIRENT64_ALIGN: usize = size_of::<u64>();

/// One directory entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirEntry<'a> {
    pub ino: Ino,
    pub name: &'a [u8],
    pub file_type: FileType,
    /// The position to resume at for the entries after this one (`d_off`).
    pub next: u64,
}

/// Encodes one `linux_dirent64` record at the start of `buf`; returns its
/// length (`d_reclen`), or `None` if `buf` is too short.
pub fn encode_dirent64(buf: &mut [u8], ino: u64, off: i64, d_type: u8, name: &[u8]) -> Option<usize> {
    let reclen = DIRENT64_HEADER
        .checked_add(name.len())?
        .checked_add(1)?
        .checked_next_multiple_of(DIRENT64_ALIGN)?;
    let rec = buf.get_mut(..reclen)?;
    let reclen16 = u16::try_from(reclen).ok()?;
    rec.fill(0);
    rec.get_mut(offset_of!(linux_dirent64, d_ino)..)?
        .get_mut(..8)?
        .copy_from_slice(&ino.to_le_bytes());
    rec.get_mut(offset_of!(linux_dirent64, d_off)..)?
        .get_mut(..8)?
        .copy_from_slice(&off.to_le_bytes());
    rec.get_mut(offset_of!(linux_dirent64, d_reclen)..)?
        .get_mut(..2)?
        .copy_from_slice(&reclen16.to_le_bytes());
    *rec.get_mut(offset_of!(linux_dirent64, d_type))? = d_type;
    rec.get_mut(DIRENT64_HEADER..)?
        .get_mut(..name.len())?
        .copy_from_slice(name);
    Some(reclen)
}

impl Fs {
    /// The first entry of directory `dir` at position `pos` or after, or
    /// `None` at the end. `ENOTDIR` if `dir` is not a directory.
    pub fn read_dir(&self, dir: Ino, pos: u64) -> Result<Option<DirEntry<'_>>> {
        let d = self.dir(dir)?;
        if self.inode(dir)?.nlink == 0 {
            return Ok(None);
        }
        let dot = |ino: Ino, name: &'static [u8], next: u64| DirEntry {
            ino,
            name,
            file_type: FileType::Directory,
            next,
        };
        match pos {
            0 => return Ok(Some(dot(dir, b".", 1))),
            1 => return Ok(Some(dot(d.parent, b"..", FIRST_POS))),
            _ => {}
        }
        let Some((&p, name)) = d.order.range(pos..).next() else {
            return Ok(None);
        };
        let ino = d.get(name).ok_or(Errno::EIO)?;
        Ok(Some(DirEntry {
            ino,
            name,
            file_type: self.file_type(ino)?,
            next: p.saturating_add(1),
        }))
    }

    /// `getdents64`: fills `buf` with records of directory `dir` from
    /// position `pos`; returns the bytes written and the position to resume
    /// at. At the end it writes nothing. `EINVAL` if `buf` cannot hold the
    /// next record, `ENOTDIR` if `dir` is not a directory.
    pub fn getdents64(&self, dir: Ino, pos: u64, buf: &mut [u8]) -> Result<(usize, u64)> {
        let mut used = 0usize;
        let mut pos = pos;
        while let Some(e) = self.read_dir(dir, pos)? {
            let off = i64::try_from(e.next).map_err(|_| Errno::EOVERFLOW)?;
            let rest = buf.get_mut(used..).unwrap_or(&mut []);
            match encode_dirent64(rest, e.ino, off, e.file_type.dirent_type(), e.name) {
                Some(n) => {
                    used = used.saturating_add(n);
                    pos = e.next;
                }
                None if used == 0 => return Err(Errno::EINVAL),
                None => break,
            }
        }
        Ok((used, pos))
    }
}
