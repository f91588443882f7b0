//! Open file descriptions: what `open`, `pipe2` and the initial console
//! descriptors create, shared by descriptors that `dup` and `fork` copy.
//!
//! This module owns an open file's state as data: what it refers to (an
//! inode of [`crate::fs`], one end of a pipe, or a device), the file offset,
//! and the status flags. It applies Linux's rules for `F_GETFL`/`F_SETFL`
//! (only `O_APPEND` and `O_NONBLOCK` can change), for `lseek` (`EINVAL` for
//! a negative result or a bad `whence`, `ESPIPE` on pipes and the console;
//! `/dev/null`, `/dev/zero` and `/dev/full` seek to 0, `/dev/random` keeps
//! its offset), for the access mode (`EBADF` reading a write-only file), and
//! for what the simple devices read and write.
//!
//! The server keeps open file descriptions in a [`Table`] under reference
//! counts: each descriptor naming one (in any process) holds a reference.

use crate::errno::{Errno, Result};
use crate::fs::{FileType, Ino};
use alloc::collections::BTreeMap;
use linux_raw_sys::general as g;

/// Which end of a pipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PipeEnd {
    Read,
    Write,
}

/// The devices the server implements itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    /// The terminal on the serial line.
    Console,
    /// `/dev/null`: reads end of file, writes vanish.
    Null,
    /// `/dev/zero`: reads zeros, writes vanish.
    Zero,
    /// `/dev/full`: reads zeros, writes fail with `ENOSPC`.
    Full,
    /// `/dev/random` and `/dev/urandom`: reads random bytes, writes vanish.
    Random,
}

impl Device {
    /// What a write of `len` bytes returns.
    pub fn write_result(self, len: usize) -> Result<usize> {
        match self {
            Device::Full if len > 0 => Err(Errno::ENOSPC),
            _ => Ok(len),
        }
    }

    /// Fills `buf` for a read of Null, Zero or Full and returns the count;
    /// `None` for the console and random, whose bytes come from elsewhere.
    pub fn read_fill(self, buf: &mut [u8]) -> Option<usize> {
        match self {
            Device::Null => Some(0),
            Device::Zero | Device::Full => {
                buf.fill(0);
                Some(buf.len())
            }
            Device::Console | Device::Random => None,
        }
    }
}

/// What an open file refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// An inode of the file system (the type is fixed for its lifetime).
    Inode {
        ino: Ino,
        file_type: FileType,
    },
    /// One end of the pipe the server knows by `id`.
    Pipe {
        id: u64,
        end: PipeEnd,
    },
    Device(Device),
}

/// The status flags `F_SETFL` may change.
pub const SETFL_MASK: u32 = g::O_APPEND | g::O_NONBLOCK;
/// The status flags an open file keeps (and `F_GETFL` returns).
const KEPT_FLAGS: u32 = g::O_ACCMODE | g::O_APPEND | g::O_NONBLOCK | g::O_DIRECTORY | g::O_NOFOLLOW;

/// An open file description.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenFile {
    pub target: Target,
    /// The file offset (a directory's: the `getdents64` position).
    pub offset: u64,
    flags: u32,
}

impl OpenFile {
    /// An open file at offset 0 with the status flags of `open`'s `flags`
    /// (the access mode, `O_APPEND`, `O_NONBLOCK`; creation flags such as
    /// `O_CREAT`, `O_TRUNC` and `O_CLOEXEC` are not kept). `EINVAL` for
    /// access mode 3.
    pub fn new(target: Target, flags: u32) -> Result<OpenFile> {
        if flags & g::O_ACCMODE == g::O_ACCMODE {
            return Err(Errno::EINVAL);
        }
        Ok(OpenFile {
            target,
            offset: 0,
            flags: flags & KEPT_FLAGS,
        })
    }

    /// `F_GETFL`.
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// `F_SETFL`: sets `O_APPEND` and `O_NONBLOCK` from `arg`, ignores the rest.
    pub fn set_flags(&mut self, arg: u32) {
        self.flags = (self.flags & !SETFL_MASK) | (arg & SETFL_MASK);
    }

    pub fn append(&self) -> bool {
        self.flags & g::O_APPEND != 0
    }

    pub fn nonblocking(&self) -> bool {
        self.flags & g::O_NONBLOCK != 0
    }

    /// `EBADF` unless open for reading.
    pub fn check_read(&self) -> Result<()> {
        match self.flags & g::O_ACCMODE {
            g::O_RDONLY | g::O_RDWR => Ok(()),
            _ => Err(Errno::EBADF),
        }
    }

    /// `EBADF` unless open for writing.
    pub fn check_write(&self) -> Result<()> {
        match self.flags & g::O_ACCMODE {
            g::O_WRONLY | g::O_RDWR => Ok(()),
            _ => Err(Errno::EBADF),
        }
    }

    /// Where a write starts: the end of the file (`size`) with `O_APPEND`,
    /// the offset otherwise.
    pub fn write_offset(&self, size: u64) -> u64 {
        if self.append() { size } else { self.offset }
    }

    /// Moves the offset past `n` bytes just read or written from `start`.
    /// `EOVERFLOW` if it would pass `i64::MAX` (nothing changes then).
    pub fn advance(&mut self, start: u64, n: usize) -> Result<u64> {
        let end = start
            .checked_add(n as u64)
            .filter(|&e| e <= i64::MAX as u64)
            .ok_or(Errno::EOVERFLOW)?;
        self.offset = end;
        Ok(end)
    }

    /// `lseek(offset, whence)`; `size` is the file's size for `SEEK_END`,
    /// `SEEK_DATA` and `SEEK_HOLE`. Returns the new offset.
    pub fn seek(&mut self, offset: i64, whence: u32, size: u64) -> Result<u64> {
        let file_type = match self.target {
            Target::Pipe { .. } | Target::Device(Device::Console) => return Err(Errno::ESPIPE),
            Target::Device(Device::Null | Device::Zero | Device::Full) => {
                self.offset = 0;
                return Ok(0);
            }
            Target::Device(Device::Random) => return Ok(self.offset),
            Target::Inode { file_type, .. } => file_type,
        };
        match file_type {
            FileType::Fifo | FileType::Socket => return Err(Errno::ESPIPE),
            // A directory's offset is a getdents position: SET and CUR only.
            FileType::Directory if whence != g::SEEK_SET && whence != g::SEEK_CUR => {
                return Err(Errno::EINVAL);
            }
            _ => {}
        }
        let size = i64::try_from(size).unwrap_or(i64::MAX);
        let cur = i64::try_from(self.offset).unwrap_or(i64::MAX);
        let new = match whence {
            g::SEEK_SET => Some(offset),
            g::SEEK_CUR => cur.checked_add(offset),
            g::SEEK_END => size.checked_add(offset),
            g::SEEK_DATA | g::SEEK_HOLE => {
                if offset < 0 {
                    return Err(Errno::EINVAL);
                }
                if offset >= size {
                    return Err(Errno::ENXIO);
                }
                // No holes are reported: data everywhere, one hole at the end.
                Some(if whence == g::SEEK_DATA { offset } else { size })
            }
            _ => return Err(Errno::EINVAL),
        };
        let new = new.filter(|&n| n >= 0).ok_or(Errno::EINVAL)?;
        self.offset = new as u64;
        Ok(self.offset)
    }
}

/// Reference-counted objects by id: the server's table of open file
/// descriptions. Ids are never reused.
#[derive(Clone, Debug)]
pub struct Table<T> {
    entries: BTreeMap<u64, (T, u32)>,
    next_id: u64,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table::new()
    }
}

impl<T> Table<T> {
    pub fn new() -> Table<T> {
        Table {
            entries: BTreeMap::new(),
            next_id: 1,
        }
    }

    /// Adds `value` with one reference; returns its id. `ENFILE` once ids
    /// run out.
    pub fn insert(&mut self, value: T) -> Result<u64> {
        let id = self.next_id;
        self.next_id = id.checked_add(1).ok_or(Errno::ENFILE)?;
        self.entries.insert(id, (value, 1));
        Ok(id)
    }

    /// `EBADF` if there is no such id.
    pub fn get(&self, id: u64) -> Result<&T> {
        self.entries.get(&id).map(|(v, _)| v).ok_or(Errno::EBADF)
    }

    pub fn get_mut(&mut self, id: u64) -> Result<&mut T> {
        self.entries.get_mut(&id).map(|(v, _)| v).ok_or(Errno::EBADF)
    }

    /// One more reference (a `dup`, a fork). `ENFILE` if the count would
    /// overflow.
    pub fn retain(&mut self, id: u64) -> Result<()> {
        let (_, refs) = self.entries.get_mut(&id).ok_or(Errno::EBADF)?;
        *refs = refs.checked_add(1).ok_or(Errno::ENFILE)?;
        Ok(())
    }

    /// One reference fewer; returns the value once the last one goes (the
    /// caller then releases what it holds: an inode's open reference, a
    /// pipe end).
    pub fn release(&mut self, id: u64) -> Result<Option<T>> {
        let (_, refs) = self.entries.get_mut(&id).ok_or(Errno::EBADF)?;
        *refs = refs.saturating_sub(1);
        if *refs > 0 {
            return Ok(None);
        }
        Ok(self.entries.remove(&id).map(|(v, _)| v))
    }

    /// How many references `id` has (0 if none).
    pub fn refs(&self, id: u64) -> u32 {
        self.entries.get(&id).map_or(0, |&(_, r)| r)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
#[path = "ofile_tests.rs"]
mod tests;
