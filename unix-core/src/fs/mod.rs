//! The in-memory root file system.
//!
//! This module owns the file tree the Unix server serves: inodes with their
//! numbers, file type and permission bits, owner, link count, size, times and
//! device numbers, and the directory entries that name them. Nodes are
//! regular files (bytes in a `Vec<u8>`, with a size that may run past the
//! bytes held: the rest reads as zeros, so extending truncates allocate
//! nothing), directories, symbolic links, device special files, FIFOs and
//! sockets (the last ones only as nodes: the server gives them their
//! behaviour).
//!
//! It is built from the initramfs ([`Fs::from_cpio`], in `load`) and then
//! changed in memory by the operations of Linux's system calls, each with
//! Linux's errors: path lookup (`path`), the namespace (`ops`), file data and
//! attributes (`data`), `stat` (`stat`) and `getdents64` (`dirent`).
//! [`Fs::check`] verifies the whole tree's invariants (`check`).
//!
//! Open files: the server calls [`Fs::open_ref`] for every open file
//! description (and current directory) that refers to an inode and
//! [`Fs::close_ref`] when it goes; an inode whose last link is removed lives
//! on while it is open and is freed at the last close.
//!
//! Times come from a clock the server sets ([`Fs::set_time`]) before each
//! operation. There are no permission checks here: the server checks the
//! caller's credentials against [`Fs::stat`] where it wants to. Reads do not
//! update the access time (as with `noatime`).

mod check;
mod data;
mod dirent;
mod load;
mod ops;
mod path;
mod stat;

#[cfg(test)]
mod tests;

pub use data::SetTime;
pub use dirent::{DIRENT64_HEADER, DirEntry, encode_dirent64};
pub use load::LoadError;
pub use ops::Opened;
pub use stat::{STAT_SIZE, Stat, major, makedev, minor};

use crate::errno::{Errno, Result};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use linux_raw_sys::general as g;

/// An inode number.
pub type Ino = u64;

/// The root directory's inode number.
pub const ROOT_INO: Ino = 1;
/// The longest path accepted, in bytes, without the NUL (Linux's `PATH_MAX`
/// counts the NUL).
pub const PATH_MAX: usize = g::PATH_MAX as usize - 1;
/// The longest name of one path component.
pub const NAME_MAX: usize = g::NAME_MAX as usize;
/// How many symbolic links one lookup follows before `ELOOP`.
pub const MAXSYMLINKS: u32 = 40;

/// A point in time: seconds and nanoseconds since the epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timespec {
    pub sec: i64,
    pub nsec: i64,
}

/// What kind of file an inode is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileType {
    Regular,
    Directory,
    Symlink,
    CharDevice,
    BlockDevice,
    Fifo,
    Socket,
}

impl FileType {
    /// The type named by a mode's `S_IFMT` bits.
    pub fn from_mode(mode: u32) -> Option<FileType> {
        Some(match mode & g::S_IFMT {
            g::S_IFREG => FileType::Regular,
            g::S_IFDIR => FileType::Directory,
            g::S_IFLNK => FileType::Symlink,
            g::S_IFCHR => FileType::CharDevice,
            g::S_IFBLK => FileType::BlockDevice,
            g::S_IFIFO => FileType::Fifo,
            g::S_IFSOCK => FileType::Socket,
            _ => return None,
        })
    }

    /// The `S_IFMT` bits of this type.
    pub fn mode_bits(self) -> u32 {
        match self {
            FileType::Regular => g::S_IFREG,
            FileType::Directory => g::S_IFDIR,
            FileType::Symlink => g::S_IFLNK,
            FileType::CharDevice => g::S_IFCHR,
            FileType::BlockDevice => g::S_IFBLK,
            FileType::Fifo => g::S_IFIFO,
            FileType::Socket => g::S_IFSOCK,
        }
    }

    /// The `d_type` of this type in a `linux_dirent64`.
    pub fn dirent_type(self) -> u8 {
        let t = match self {
            FileType::Regular => g::DT_REG,
            FileType::Directory => g::DT_DIR,
            FileType::Symlink => g::DT_LNK,
            FileType::CharDevice => g::DT_CHR,
            FileType::BlockDevice => g::DT_BLK,
            FileType::Fifo => g::DT_FIFO,
            FileType::Socket => g::DT_SOCK,
        };
        t as u8
    }
}

/// Bounds on what the tree may hold, so that no process can exhaust the
/// server's memory through it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest file size (`EFBIG` beyond).
    pub max_file_size: u64,
    /// Bytes of file data and symlink targets held in memory (`ENOSPC` beyond).
    pub max_data_bytes: u64,
    /// Inodes (`ENOSPC` beyond).
    pub max_inodes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_file_size: i64::MAX as u64,
            max_data_bytes: 256 << 20,
            max_inodes: 1 << 20,
        }
    }
}

/// A directory's entries. Each entry has a position, given in increasing
/// order as entries are added, that `getdents64` uses as its offset:
/// positions 0 and 1 are `.` and `..`, so entries start at 2.
#[derive(Clone, Debug)]
pub(crate) struct Dir {
    /// The directory this one is named in (itself for the root).
    parent: Ino,
    /// name → (inode, position)
    entries: BTreeMap<Vec<u8>, (Ino, u64)>,
    /// position → name
    order: BTreeMap<u64, Vec<u8>>,
    next_pos: u64,
}

/// The first position of a real entry (after `.` and `..`).
const FIRST_POS: u64 = 2;

impl Dir {
    fn new(parent: Ino) -> Dir {
        Dir {
            parent,
            entries: BTreeMap::new(),
            order: BTreeMap::new(),
            next_pos: FIRST_POS,
        }
    }

    fn get(&self, name: &[u8]) -> Option<Ino> {
        self.entries.get(name).map(|&(ino, _)| ino)
    }

    fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds `name`; the caller has checked that it is absent.
    fn insert(&mut self, name: &[u8], ino: Ino) -> Result<()> {
        let pos = self.next_pos;
        if pos >= i64::MAX as u64 {
            return Err(Errno::ENOSPC);
        }
        self.next_pos = pos + 1;
        self.entries.insert(name.to_vec(), (ino, pos));
        self.order.insert(pos, name.to_vec());
        Ok(())
    }

    fn remove(&mut self, name: &[u8]) -> Option<Ino> {
        let (ino, pos) = self.entries.remove(name)?;
        self.order.remove(&pos);
        Some(ino)
    }
}

/// What an inode is, with the data of its kind.
#[derive(Clone, Debug)]
pub(crate) enum Node {
    /// `data` holds the first bytes; the rest up to `size` reads as zeros.
    Regular {
        data: Vec<u8>,
        size: u64,
    },
    Directory(Dir),
    Symlink(Vec<u8>),
    /// Devices, FIFOs and sockets: no data here.
    Special(FileType),
}

impl Node {
    fn held_bytes(&self) -> u64 {
        match self {
            Node::Regular { data, .. } => data.len() as u64,
            Node::Symlink(target) => target.len() as u64,
            _ => 0,
        }
    }
}

/// One inode.
#[derive(Clone, Debug)]
pub(crate) struct Inode {
    /// Permission bits (`07777`).
    perm: u32,
    uid: u32,
    gid: u32,
    /// Directory entries naming it (for a directory: its entry, its `.`, and
    /// each subdirectory's `..`).
    nlink: u32,
    atime: Timespec,
    mtime: Timespec,
    ctime: Timespec,
    /// Device numbers (major, minor) of a device special file.
    rdev: (u32, u32),
    /// Open file descriptions (and current directories) referring to it.
    opens: u32,
    node: Node,
}

impl Inode {
    fn file_type(&self) -> FileType {
        match &self.node {
            Node::Regular { .. } => FileType::Regular,
            Node::Directory(_) => FileType::Directory,
            Node::Symlink(_) => FileType::Symlink,
            Node::Special(t) => *t,
        }
    }

    /// Bytes of memory this inode's data holds (counted in `data_bytes`).
    fn held_bytes(&self) -> u64 {
        self.node.held_bytes()
    }
}

/// The file system.
#[derive(Clone, Debug)]
pub struct Fs {
    inodes: BTreeMap<Ino, Inode>,
    next_ino: Ino,
    now: Timespec,
    limits: Limits,
    data_bytes: u64,
}

impl Default for Fs {
    fn default() -> Fs {
        Fs::new()
    }
}

impl Fs {
    /// A file system holding only an empty root directory (mode 0755, owned
    /// by root).
    pub fn new() -> Fs {
        let root = Inode {
            perm: 0o755,
            uid: 0,
            gid: 0,
            nlink: 2,
            atime: Timespec::default(),
            mtime: Timespec::default(),
            ctime: Timespec::default(),
            rdev: (0, 0),
            opens: 0,
            node: Node::Directory(Dir::new(ROOT_INO)),
        };
        let mut inodes = BTreeMap::new();
        inodes.insert(ROOT_INO, root);
        Fs {
            inodes,
            next_ino: ROOT_INO + 1,
            now: Timespec::default(),
            limits: Limits::default(),
            data_bytes: 0,
        }
    }

    /// The root directory.
    pub fn root(&self) -> Ino {
        ROOT_INO
    }

    /// Sets the time that operations stamp on inodes.
    pub fn set_time(&mut self, now: Timespec) {
        self.now = now;
    }

    /// The time operations stamp on inodes.
    pub fn time(&self) -> Timespec {
        self.now
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Changes the limits; what the tree already holds stays.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// How many inodes exist (linked or still open).
    pub fn inode_count(&self) -> usize {
        self.inodes.len()
    }

    /// Bytes of file data and symlink targets held.
    pub fn data_bytes(&self) -> u64 {
        self.data_bytes
    }

    /// Whether `ino` exists.
    pub fn exists(&self, ino: Ino) -> bool {
        self.inodes.contains_key(&ino)
    }

    pub(crate) fn inode(&self, ino: Ino) -> Result<&Inode> {
        self.inodes.get(&ino).ok_or(Errno::ENOENT)
    }

    pub(crate) fn inode_mut(&mut self, ino: Ino) -> Result<&mut Inode> {
        self.inodes.get_mut(&ino).ok_or(Errno::ENOENT)
    }

    /// The type of `ino`.
    pub fn file_type(&self, ino: Ino) -> Result<FileType> {
        self.inode(ino).map(Inode::file_type)
    }

    /// The size of `ino` as `stat` reports it.
    pub fn size(&self, ino: Ino) -> Result<u64> {
        self.stat(ino).map(|s| s.size as u64)
    }

    pub(crate) fn dir(&self, ino: Ino) -> Result<&Dir> {
        match &self.inode(ino)?.node {
            Node::Directory(d) => Ok(d),
            _ => Err(Errno::ENOTDIR),
        }
    }

    pub(crate) fn dir_mut(&mut self, ino: Ino) -> Result<&mut Dir> {
        match &mut self.inode_mut(ino)?.node {
            Node::Directory(d) => Ok(d),
            _ => Err(Errno::ENOTDIR),
        }
    }

    /// A live directory (one that still has its name): where entries may be
    /// added.
    fn live_dir(&self, ino: Ino) -> Result<&Dir> {
        let d = self.dir(ino)?;
        if self.inode(ino)?.nlink == 0 {
            return Err(Errno::ENOENT);
        }
        Ok(d)
    }

    /// Takes a reference for an open file description or a current
    /// directory. `ENOENT` if there is no such inode; `ENFILE` if the count
    /// would overflow.
    pub fn open_ref(&mut self, ino: Ino) -> Result<()> {
        let inode = self.inode_mut(ino)?;
        inode.opens = inode.opens.checked_add(1).ok_or(Errno::ENFILE)?;
        Ok(())
    }

    /// Drops a reference taken by [`Fs::open_ref`]; frees the inode if it was
    /// the last one and no name is left. `EINVAL` if `ino` has no reference.
    pub fn close_ref(&mut self, ino: Ino) -> Result<()> {
        let inode = self.inode_mut(ino)?;
        inode.opens = inode.opens.checked_sub(1).ok_or(Errno::EINVAL)?;
        self.free_if_unused(ino);
        Ok(())
    }

    /// How many references [`Fs::open_ref`] holds on `ino`.
    pub fn opens(&self, ino: Ino) -> Result<u32> {
        self.inode(ino).map(|i| i.opens)
    }

    /// Frees `ino` if no name and no open reference is left.
    fn free_if_unused(&mut self, ino: Ino) {
        if ino == ROOT_INO {
            return;
        }
        if let Some(i) = self.inodes.get(&ino)
            && i.nlink == 0
            && i.opens == 0
        {
            self.data_bytes = self.data_bytes.saturating_sub(i.held_bytes());
            self.inodes.remove(&ino);
        }
    }

    /// Reserves room for `extra` more bytes of data (`ENOSPC` past the limit).
    fn charge(&mut self, extra: u64) -> Result<()> {
        let total = self.data_bytes.checked_add(extra).ok_or(Errno::ENOSPC)?;
        if total > self.limits.max_data_bytes {
            return Err(Errno::ENOSPC);
        }
        self.data_bytes = total;
        Ok(())
    }

    /// Makes a new inode with no name yet (`nlink` as given).
    fn new_inode(&mut self, node: Node, perm: u32, uid: u32, gid: u32, nlink: u32) -> Result<Ino> {
        if self.inodes.len() >= self.limits.max_inodes {
            return Err(Errno::ENOSPC);
        }
        let held = node.held_bytes();
        let ino = self.next_ino;
        let next = ino.checked_add(1).ok_or(Errno::ENOSPC)?;
        self.charge(held)?;
        self.next_ino = next;
        let now = self.now;
        self.inodes.insert(
            ino,
            Inode {
                perm: perm & 0o7777,
                uid,
                gid,
                nlink,
                atime: now,
                mtime: now,
                ctime: now,
                rdev: (0, 0),
                opens: 0,
                node,
            },
        );
        Ok(ino)
    }

    /// Stamps a directory whose entries changed.
    fn touch_dir(&mut self, dir: Ino) {
        let now = self.now;
        if let Ok(d) = self.inode_mut(dir) {
            d.mtime = now;
            d.ctime = now;
        }
    }

    /// Stamps an inode whose attributes changed.
    fn touch_ctime(&mut self, ino: Ino) {
        let now = self.now;
        if let Ok(i) = self.inode_mut(ino) {
            i.ctime = now;
        }
    }
}
