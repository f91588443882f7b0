//! File data and attributes: `pread`/`pwrite`-style access to regular files,
//! `truncate`, `chmod`, `chown` and `utimensat`, on inodes the server has
//! already resolved.
//!
//! A regular file's size may run past the bytes it holds (after an
//! extending truncate); those bytes read as zeros and take no memory until
//! written. Offsets are checked: a write that would pass the file size limit
//! is cut there, and one that starts at or past it is `EFBIG`.

use super::{Fs, Ino, Node, Timespec};
use crate::errno::{Errno, Result};
use linux_raw_sys::general as g;

/// One time argument of `utimensat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetTime {
    /// `UTIME_NOW`: the current time.
    Now,
    /// `UTIME_OMIT`: unchanged.
    Omit,
    At(Timespec),
}

impl SetTime {
    /// Decodes a `struct timespec` of `utimensat`: `tv_nsec` is `UTIME_NOW`,
    /// `UTIME_OMIT`, or a nanosecond count below 10^9 (`EINVAL` otherwise).
    pub fn from_timespec(sec: i64, nsec: i64) -> Result<SetTime> {
        match nsec {
            n if n == i64::from(g::UTIME_NOW) => Ok(SetTime::Now),
            n if n == i64::from(g::UTIME_OMIT) => Ok(SetTime::Omit),
            0..=999_999_999 => Ok(SetTime::At(Timespec { sec, nsec })),
            _ => Err(Errno::EINVAL),
        }
    }
}

impl Fs {
    /// Reads from regular file `ino` at `offset`; returns the byte count (0
    /// at or past the end). `EISDIR` for a directory, `EINVAL` for other
    /// non-regular files.
    pub fn read_at(&self, ino: Ino, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let (data, size) = match &self.inode(ino)?.node {
            Node::Regular { data, size } => (data, *size),
            Node::Directory(_) => return Err(Errno::EISDIR),
            _ => return Err(Errno::EINVAL),
        };
        let Some(left) = size.checked_sub(offset) else {
            return Ok(0);
        };
        let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        let out = buf.get_mut(..n).ok_or(Errno::EINVAL)?;
        // Bytes held, then zeros for the part past them.
        let held = usize::try_from(offset).ok().and_then(|o| data.get(o..)).unwrap_or(&[]);
        let copied = held.len().min(n);
        let (head, tail) = out.split_at_mut(copied);
        head.copy_from_slice(held.get(..copied).ok_or(Errno::EINVAL)?);
        tail.fill(0);
        Ok(n)
    }

    /// Writes `bytes` to regular file `ino` at `offset`, growing it as
    /// needed; returns the byte count. `EFBIG` at or past the size limit
    /// (a write crossing it is cut), `ENOSPC` past the data limit, `EISDIR`
    /// for a directory, `EINVAL` for other non-regular files.
    pub fn write_at(&mut self, ino: Ino, offset: u64, bytes: &[u8]) -> Result<usize> {
        let max = self.limits.max_file_size;
        let (held, size) = match &self.inode(ino)?.node {
            Node::Regular { data, size } => (data.len() as u64, *size),
            Node::Directory(_) => return Err(Errno::EISDIR),
            _ => return Err(Errno::EINVAL),
        };
        if bytes.is_empty() {
            return Ok(0);
        }
        if offset >= max {
            return Err(Errno::EFBIG);
        }
        let room = max - offset;
        let n = usize::try_from(room).unwrap_or(usize::MAX).min(bytes.len());
        let end = offset.checked_add(n as u64).ok_or(Errno::EFBIG)?;
        let start = usize::try_from(offset).map_err(|_| Errno::EFBIG)?;
        let end_idx = usize::try_from(end).map_err(|_| Errno::EFBIG)?;
        let extra = end.saturating_sub(held);
        self.charge(extra)?;
        let now = self.now;
        let inode = match self.inode_mut(ino) {
            Ok(i) => i,
            Err(e) => {
                self.data_bytes = self.data_bytes.saturating_sub(extra);
                return Err(e);
            }
        };
        let Node::Regular { data, size: size_ref } = &mut inode.node else {
            return Err(Errno::EINVAL);
        };
        if data.len() < end_idx {
            if data.try_reserve(end_idx - data.len()).is_err() {
                self.data_bytes = self.data_bytes.saturating_sub(extra);
                return Err(Errno::ENOSPC);
            }
            data.resize(end_idx, 0);
        }
        let src = bytes.get(..n).ok_or(Errno::EINVAL)?;
        data.get_mut(start..end_idx).ok_or(Errno::EINVAL)?.copy_from_slice(src);
        *size_ref = size.max(end);
        inode.mtime = now;
        inode.ctime = now;
        Ok(n)
    }

    /// `truncate`: sets regular file `ino`'s size; bytes past a shorter size
    /// are dropped, a longer one reads as zeros. `EINVAL` for a negative
    /// length or a non-regular file, `EISDIR` for a directory, `EFBIG` past
    /// the size limit.
    pub fn truncate(&mut self, ino: Ino, len: i64) -> Result<()> {
        let len = u64::try_from(len).map_err(|_| Errno::EINVAL)?;
        let max = self.limits.max_file_size;
        let now = self.now;
        let inode = self.inode_mut(ino)?;
        let (data, size) = match &mut inode.node {
            Node::Regular { data, size } => (data, size),
            Node::Directory(_) => return Err(Errno::EISDIR),
            _ => return Err(Errno::EINVAL),
        };
        if len > max {
            return Err(Errno::EFBIG);
        }
        let mut freed = 0;
        if (data.len() as u64) > len {
            freed = data.len() as u64 - len;
            data.truncate(usize::try_from(len).map_err(|_| Errno::EFBIG)?);
            data.shrink_to_fit();
        }
        *size = len;
        inode.mtime = now;
        inode.ctime = now;
        self.data_bytes = self.data_bytes.saturating_sub(freed);
        Ok(())
    }

    /// `chmod`: sets the permission bits (`07777` of `mode`).
    pub fn chmod(&mut self, ino: Ino, mode: u32) -> Result<()> {
        let now = self.now;
        let inode = self.inode_mut(ino)?;
        inode.perm = mode & 0o7777;
        inode.ctime = now;
        Ok(())
    }

    /// `chown`: sets the owner and/or group (`None` leaves one, as `-1`).
    /// As on Linux, a non-directory loses its set-user-ID bit, and its
    /// set-group-ID bit when it is group-executable.
    pub fn chown(&mut self, ino: Ino, uid: Option<u32>, gid: Option<u32>) -> Result<()> {
        let now = self.now;
        let inode = self.inode_mut(ino)?;
        if let Some(uid) = uid {
            inode.uid = uid;
        }
        if let Some(gid) = gid {
            inode.gid = gid;
        }
        if !matches!(inode.node, Node::Directory(_)) {
            inode.perm &= !g::S_ISUID;
            if inode.perm & g::S_IXGRP != 0 {
                inode.perm &= !g::S_ISGID;
            }
        }
        inode.ctime = now;
        Ok(())
    }

    /// `utimensat`: sets the access and modification times; the change time
    /// becomes now unless both are `Omit`.
    pub fn utimens(&mut self, ino: Ino, atime: SetTime, mtime: SetTime) -> Result<()> {
        let now = self.now;
        let inode = self.inode_mut(ino)?;
        let pick = |t: SetTime, old: Timespec| match t {
            SetTime::Now => now,
            SetTime::Omit => old,
            SetTime::At(ts) => ts,
        };
        inode.atime = pick(atime, inode.atime);
        inode.mtime = pick(mtime, inode.mtime);
        if (atime, mtime) != (SetTime::Omit, SetTime::Omit) {
            inode.ctime = now;
        }
        Ok(())
    }
}
