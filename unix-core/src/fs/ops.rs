//! Namespace operations: creating, linking, removing and renaming names, and
//! `open`'s path rules, each with Linux's errors.
//!
//! Link counts follow Linux: a file has one link per name; a directory has
//! one for its name, one for its `.` and one for each subdirectory's `..`.
//! Removing the last name of an inode that is still open keeps it until the
//! last [`Fs::close_ref`].

use super::path::Walk;
use super::{Dir, FileType, Fs, Ino, Node, PATH_MAX};
use crate::errno::{Errno, Result};
use alloc::vec::Vec;
use linux_raw_sys::general as g;

/// What [`Fs::open`] found or made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opened {
    pub ino: Ino,
    pub file_type: FileType,
    /// Whether `O_CREAT` made a new file.
    pub created: bool,
}

impl Fs {
    /// Where a new name would go: the walk must end on a real name that does
    /// not exist yet (`EEXIST` otherwise), in a directory that still has its
    /// name (`ENOENT` otherwise). A trailing slash is allowed only when
    /// making a directory (`ENOENT` otherwise, as Linux's `mknod`).
    fn new_name(&self, cwd: Ino, path: &[u8], dir_ok: bool) -> Result<(Ino, Vec<u8>)> {
        let w = self.walk(cwd, path, false)?;
        if w.ino.is_some() || !w.is_name() {
            return Err(Errno::EEXIST);
        }
        if w.must_dir && !dir_ok {
            return Err(Errno::ENOENT);
        }
        self.live_dir(w.dir)?;
        Ok((w.dir, w.name))
    }

    /// Names `ino` as `name` in `dir` and counts the link.
    pub(super) fn add_link(&mut self, dir: Ino, name: &[u8], ino: Ino) -> Result<()> {
        let nlink = self.inode(ino)?.nlink.checked_add(1).ok_or(Errno::EMLINK)?;
        self.dir_mut(dir)?.insert(name, ino)?;
        self.inode_mut(ino)?.nlink = nlink;
        self.touch_dir(dir);
        Ok(())
    }

    /// Makes a node of kind `node` named by `path` and links it.
    fn create(&mut self, cwd: Ino, path: &[u8], node: Node, perm: u32, uid: u32, gid: u32) -> Result<Ino> {
        let is_dir = matches!(node, Node::Directory(_));
        let (dir, name) = self.new_name(cwd, path, is_dir)?;
        let (node, parent_links) = if is_dir {
            // The new directory's `..` is one more link of its parent.
            let links = self.inode(dir)?.nlink.checked_add(1).ok_or(Errno::EMLINK)?;
            (Node::Directory(Dir::new(dir)), Some(links))
        } else {
            (node, None)
        };
        let ino = self.new_inode(node, perm, uid, gid, 0)?;
        if let Err(e) = self.add_link(dir, &name, ino) {
            self.free_if_unused(ino);
            return Err(e);
        }
        if let Some(links) = parent_links {
            // Its name and its `.`.
            self.inode_mut(ino)?.nlink = 2;
            self.inode_mut(dir)?.nlink = links;
        }
        Ok(ino)
    }

    /// `mknod`: a regular file (type 0 or `S_IFREG`), device, FIFO or socket;
    /// `rdev` is (major, minor) for devices. `EPERM` for a directory,
    /// `EINVAL` for other types, `EEXIST` if the name exists.
    #[allow(clippy::too_many_arguments)]
    pub fn mknod(&mut self, cwd: Ino, path: &[u8], mode: u32, rdev: (u32, u32), uid: u32, gid: u32) -> Result<Ino> {
        let ty = if mode & g::S_IFMT == 0 {
            FileType::Regular
        } else {
            FileType::from_mode(mode).ok_or(Errno::EINVAL)?
        };
        let node = match ty {
            FileType::Regular => Node::Regular {
                data: Vec::new(),
                size: 0,
            },
            FileType::Directory => return Err(Errno::EPERM),
            FileType::Symlink => return Err(Errno::EINVAL),
            t => Node::Special(t),
        };
        let ino = self.create(cwd, path, node, mode, uid, gid)?;
        if matches!(ty, FileType::CharDevice | FileType::BlockDevice) {
            self.inode_mut(ino)?.rdev = rdev;
        }
        Ok(ino)
    }

    /// `mkdir`: `EEXIST` if the name exists (a dangling symlink included).
    pub fn mkdir(&mut self, cwd: Ino, path: &[u8], perm: u32, uid: u32, gid: u32) -> Result<Ino> {
        let node = Node::Directory(Dir::new(0));
        self.create(cwd, path, node, perm, uid, gid)
    }

    /// `symlink(target, path)`: `ENOENT` for an empty target, `ENAMETOOLONG`
    /// for one of `PATH_MAX` bytes or more.
    pub fn symlink(&mut self, target: &[u8], cwd: Ino, path: &[u8], uid: u32, gid: u32) -> Result<Ino> {
        if target.is_empty() {
            return Err(Errno::ENOENT);
        }
        if target.len() > PATH_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        let mut t = Vec::new();
        t.try_reserve_exact(target.len()).map_err(|_| Errno::ENOSPC)?;
        t.extend_from_slice(target);
        self.create(cwd, path, Node::Symlink(t), 0o777, uid, gid)
    }

    /// `readlink`: the target of the symlink `path` names (not followed);
    /// `EINVAL` if it is not a symlink.
    pub fn readlink(&self, cwd: Ino, path: &[u8]) -> Result<&[u8]> {
        let ino = self.lookup(cwd, path, false)?;
        match &self.inode(ino)?.node {
            Node::Symlink(t) => Ok(t),
            _ => Err(Errno::EINVAL),
        }
    }

    /// `linkat(old, new)`: a new name for the inode `old` names (a final
    /// symlink followed only if `follow`, as `AT_SYMLINK_FOLLOW`). `EPERM`
    /// for a directory, `EEXIST` if `new` exists.
    pub fn link(&mut self, old_cwd: Ino, old: &[u8], new_cwd: Ino, new: &[u8], follow: bool) -> Result<()> {
        let ino = self.lookup(old_cwd, old, follow)?;
        if self.dir(ino).is_ok() {
            return Err(Errno::EPERM);
        }
        let (dir, name) = self.new_name(new_cwd, new, false)?;
        self.add_link(dir, &name, ino)?;
        self.touch_ctime(ino);
        Ok(())
    }

    /// Removes `name` from `dir` and uncounts the link to `ino` (a directory
    /// loses all its links and its parent the subdirectory's `..`).
    fn remove_link(&mut self, dir: Ino, name: &[u8], ino: Ino) -> Result<()> {
        let is_dir = self.dir(ino).is_ok();
        self.dir_mut(dir)?.remove(name).ok_or(Errno::ENOENT)?;
        let inode = self.inode_mut(ino)?;
        inode.nlink = if is_dir { 0 } else { inode.nlink.saturating_sub(1) };
        if is_dir {
            let parent = self.inode_mut(dir)?;
            parent.nlink = parent.nlink.saturating_sub(1);
        }
        self.touch_dir(dir);
        self.touch_ctime(ino);
        self.free_if_unused(ino);
        Ok(())
    }

    /// `unlink`: `EISDIR` for a directory (and for `.`, `..`, `/`),
    /// `ENOTDIR` for a non-directory named with a trailing slash.
    pub fn unlink(&mut self, cwd: Ino, path: &[u8]) -> Result<()> {
        let w = self.walk(cwd, path, false)?;
        let ino = w.ino.ok_or(Errno::ENOENT)?;
        if !w.is_name() || self.dir(ino).is_ok() {
            return Err(Errno::EISDIR);
        }
        if w.must_dir {
            return Err(Errno::ENOTDIR);
        }
        self.remove_link(w.dir, &w.name, ino)
    }

    /// `rmdir`: `EINVAL` for `.`, `ENOTEMPTY` for `..` and directories with
    /// entries, `EBUSY` for the root, `ENOTDIR` for other files.
    pub fn rmdir(&mut self, cwd: Ino, path: &[u8]) -> Result<()> {
        let w = self.walk(cwd, path, false)?;
        match &w.name[..] {
            b"." => return Err(Errno::EINVAL),
            b".." => return Err(Errno::ENOTEMPTY),
            b"" => return Err(Errno::EBUSY),
            _ => {}
        }
        let ino = w.ino.ok_or(Errno::ENOENT)?;
        if !self.dir(ino)?.is_empty() {
            return Err(Errno::ENOTEMPTY);
        }
        self.remove_link(w.dir, &w.name, ino)
    }

    /// Whether directory `ancestor` is `dir` or one of its ancestors.
    fn is_ancestor(&self, ancestor: Ino, dir: Ino) -> Result<bool> {
        let mut cur = dir;
        for _ in 0..=self.inodes.len() {
            if cur == ancestor {
                return Ok(true);
            }
            let parent = self.dir(cur)?.parent;
            if parent == cur {
                return Ok(false);
            }
            cur = parent;
        }
        Ok(false)
    }

    /// `rename(old, new)` with POSIX's rules: `new` is replaced if it is a
    /// file (when `old` is one) or an empty directory (when `old` is one);
    /// `EISDIR` for a file over a directory, `ENOTDIR` for a directory over a
    /// file, `ENOTEMPTY` over a directory with entries, `EINVAL` moving a
    /// directory under itself, `EBUSY` for `.`, `..` and `/`; two names of
    /// the same inode: nothing happens.
    pub fn rename(&mut self, old_cwd: Ino, old: &[u8], new_cwd: Ino, new: &[u8]) -> Result<()> {
        let from = self.walk(old_cwd, old, false)?;
        if !from.is_name() {
            return Err(Errno::EBUSY);
        }
        let src = from.ino.ok_or(Errno::ENOENT)?;
        let to: Walk = self.walk(new_cwd, new, false)?;
        if !to.is_name() {
            return Err(Errno::EBUSY);
        }
        self.live_dir(to.dir)?;
        let src_is_dir = self.dir(src).is_ok();
        if !src_is_dir && (from.must_dir || to.must_dir) {
            return Err(Errno::ENOTDIR);
        }
        if let Some(dst) = to.ino {
            if dst == src {
                return Ok(());
            }
            match (src_is_dir, self.dir(dst)) {
                (true, Err(_)) => return Err(Errno::ENOTDIR),
                (false, Ok(_)) => return Err(Errno::EISDIR),
                (true, Ok(d)) if !d.is_empty() => return Err(Errno::ENOTEMPTY),
                _ => {}
            }
        }
        if src_is_dir && self.is_ancestor(src, to.dir)? {
            return Err(Errno::EINVAL);
        }
        let moves_dir = src_is_dir && from.dir != to.dir;
        if moves_dir {
            // The new parent gains the `..` link; check before changing anything.
            let gains = to.ino.is_none_or(|d| self.dir(d).is_err());
            if gains {
                self.inode(to.dir)?.nlink.checked_add(1).ok_or(Errno::EMLINK)?;
            }
        }
        if let Some(dst) = to.ino {
            self.remove_link(to.dir, &to.name, dst)?;
        }
        self.dir_mut(from.dir)?.remove(&from.name).ok_or(Errno::ENOENT)?;
        self.dir_mut(to.dir)?.insert(&to.name, src)?;
        if moves_dir {
            self.dir_mut(src)?.parent = to.dir;
            let old_parent = self.inode_mut(from.dir)?;
            old_parent.nlink = old_parent.nlink.saturating_sub(1);
            let new_parent = self.inode_mut(to.dir)?;
            new_parent.nlink = new_parent.nlink.saturating_add(1);
        }
        self.touch_dir(from.dir);
        self.touch_dir(to.dir);
        self.touch_ctime(src);
        Ok(())
    }

    /// `open`'s path rules (`flags` as `openat`'s; `perm` for a new file).
    /// `O_CREAT` makes a regular file if the name is missing (`EEXIST` with
    /// `O_EXCL` if it exists, symlinks not followed); `O_NOFOLLOW` gives
    /// `ELOOP` on a final symlink; `O_DIRECTORY` needs a directory
    /// (`ENOTDIR`); a directory cannot be opened for writing or with `O_CREAT`
    /// (`EISDIR`); `O_TRUNC` empties a regular file. The caller takes the
    /// open reference ([`Fs::open_ref`]).
    #[allow(clippy::too_many_arguments)]
    pub fn open(&mut self, cwd: Ino, path: &[u8], flags: u32, perm: u32, uid: u32, gid: u32) -> Result<Opened> {
        let creat = flags & g::O_CREAT != 0;
        let excl = creat && flags & g::O_EXCL != 0;
        let slash = path.last() == Some(&b'/');
        let follow = slash || (!excl && flags & g::O_NOFOLLOW == 0);
        let w = self.walk(cwd, path, follow)?;
        let mut created = false;
        let ino = match w.ino {
            Some(_) if excl => return Err(Errno::EEXIST),
            Some(ino) => ino,
            None if creat => {
                if w.must_dir {
                    return Err(Errno::EISDIR);
                }
                self.live_dir(w.dir)?;
                let node = Node::Regular {
                    data: Vec::new(),
                    size: 0,
                };
                let ino = self.new_inode(node, perm, uid, gid, 0)?;
                if let Err(e) = self.add_link(w.dir, &w.name, ino) {
                    self.free_if_unused(ino);
                    return Err(e);
                }
                created = true;
                ino
            }
            None => return Err(Errno::ENOENT),
        };
        let file_type = self.file_type(ino)?;
        let is_dir = file_type == FileType::Directory;
        if file_type == FileType::Symlink {
            return Err(Errno::ELOOP);
        }
        if (w.must_dir || flags & g::O_DIRECTORY != 0) && !is_dir {
            return Err(Errno::ENOTDIR);
        }
        if is_dir && (creat || flags & g::O_ACCMODE != g::O_RDONLY) {
            return Err(Errno::EISDIR);
        }
        if flags & g::O_TRUNC != 0 && file_type == FileType::Regular && !created {
            self.truncate(ino, 0)?;
        }
        Ok(Opened {
            ino,
            file_type,
            created,
        })
    }
}
