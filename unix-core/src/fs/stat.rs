//! `stat`: an inode's attributes as a plain struct, and their encoding into
//! x86_64 Linux's `struct stat` (the layout of `linux-raw-sys`'s `stat`,
//! field by field, little-endian).

use super::{FileType, Fs, Ino, Node, Timespec};
use crate::errno::Result;
use core::mem::{offset_of, size_of};
use linux_raw_sys::general::stat as linux_stat;

/// Size of x86_64 Linux's `struct stat` (144 bytes).
pub const STAT_SIZE: usize = size_of::<linux_stat>();

/// The device number `stat` reports for every file of this file system.
pub const FS_DEV: u64 = 1;
/// The block size `stat` reports.
pub const BLKSIZE: i64 = 4096;

/// A device number from its major and minor numbers, in glibc's and
/// Linux's 64-bit `dev_t` layout (`makedev`).
pub fn makedev(major: u32, minor: u32) -> u64 {
    let (ma, mi) = (u64::from(major), u64::from(minor));
    ((ma & 0xffff_f000) << 32) | ((ma & 0xfff) << 8) | ((mi & 0xffff_ff00) << 12) | (mi & 0xff)
}

/// The major number of a device number.
pub fn major(dev: u64) -> u32 {
    (((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)) as u32
}

/// The minor number of a device number.
pub fn minor(dev: u64) -> u32 {
    (((dev >> 12) & 0xffff_ff00) | (dev & 0xff)) as u32
}

/// What `stat` tells about an inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
    /// File type and permission bits.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u64,
    pub size: i64,
    pub blksize: i64,
    /// 512-byte blocks held in memory.
    pub blocks: i64,
    pub atime: Timespec,
    pub mtime: Timespec,
    pub ctime: Timespec,
}

fn put(out: &mut [u8], offset: usize, bytes: &[u8]) {
    if let Some(dst) = offset.checked_add(bytes.len()).and_then(|end| out.get_mut(offset..end)) {
        dst.copy_from_slice(bytes);
    }
}

impl Stat {
    /// The x86_64 `struct stat` bytes of this `Stat` (padding zeroed).
    pub fn to_bytes(&self) -> [u8; STAT_SIZE] {
        let mut out = [0u8; STAT_SIZE];
        let o = &mut out;
        put(o, offset_of!(linux_stat, st_dev), &self.dev.to_le_bytes());
        put(o, offset_of!(linux_stat, st_ino), &self.ino.to_le_bytes());
        put(o, offset_of!(linux_stat, st_nlink), &self.nlink.to_le_bytes());
        put(o, offset_of!(linux_stat, st_mode), &self.mode.to_le_bytes());
        put(o, offset_of!(linux_stat, st_uid), &self.uid.to_le_bytes());
        put(o, offset_of!(linux_stat, st_gid), &self.gid.to_le_bytes());
        put(o, offset_of!(linux_stat, st_rdev), &self.rdev.to_le_bytes());
        put(o, offset_of!(linux_stat, st_size), &self.size.to_le_bytes());
        put(o, offset_of!(linux_stat, st_blksize), &self.blksize.to_le_bytes());
        put(o, offset_of!(linux_stat, st_blocks), &self.blocks.to_le_bytes());
        put(o, offset_of!(linux_stat, st_atime), &self.atime.sec.to_le_bytes());
        put(o, offset_of!(linux_stat, st_atime_nsec), &self.atime.nsec.to_le_bytes());
        put(o, offset_of!(linux_stat, st_mtime), &self.mtime.sec.to_le_bytes());
        put(o, offset_of!(linux_stat, st_mtime_nsec), &self.mtime.nsec.to_le_bytes());
        put(o, offset_of!(linux_stat, st_ctime), &self.ctime.sec.to_le_bytes());
        put(o, offset_of!(linux_stat, st_ctime_nsec), &self.ctime.nsec.to_le_bytes());
        out
    }
}

/// Directory size as tmpfs reports it: 20 bytes per entry, `.` and `..`
/// included.
const DIRENT_BOGO_SIZE: u64 = 20;

impl Fs {
    /// The attributes of `ino`.
    pub fn stat(&self, ino: Ino) -> Result<Stat> {
        let i = self.inode(ino)?;
        let ty = i.file_type();
        let size = match &i.node {
            Node::Regular { size, .. } => *size,
            Node::Directory(d) => (d.entries.len() as u64)
                .saturating_add(2)
                .saturating_mul(DIRENT_BOGO_SIZE),
            Node::Symlink(t) => t.len() as u64,
            Node::Special(_) => 0,
        };
        let rdev = match ty {
            FileType::CharDevice | FileType::BlockDevice => makedev(i.rdev.0, i.rdev.1),
            _ => 0,
        };
        Ok(Stat {
            dev: FS_DEV,
            ino,
            nlink: u64::from(i.nlink),
            mode: ty.mode_bits() | i.perm,
            uid: i.uid,
            gid: i.gid,
            rdev,
            size: i64::try_from(size).unwrap_or(i64::MAX),
            blksize: BLKSIZE,
            blocks: i64::try_from(i.held_bytes().div_ceil(512)).unwrap_or(i64::MAX),
            atime: i.atime,
            mtime: i.mtime,
            ctime: i.ctime,
        })
    }
}
