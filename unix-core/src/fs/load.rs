//! Building the tree from an initramfs: the entries of `newc` cpio archives
//! (see [`crate::cpio`]) applied in order, as Linux unpacks them.
//!
//! Names are relative to the root (a leading `/` or `./` is allowed; `.` is
//! the root itself). Missing parent directories are made (mode 0755, owned by
//! root). Files with several links that share (device, inode number, type)
//! become one inode; the data comes with whichever entry carries it (GNU
//! cpio puts it on the last). A later entry replaces an earlier one of the
//! same name: a directory over a directory takes the new attributes and
//! keeps its contents, a regular file over a regular file is truncated and
//! rewritten in place, anything else replaces the old node (a directory
//! still holding entries cannot be replaced: `ENOTEMPTY`). Directory
//! modification times are set once everything is in. Entries of unknown
//! types and empty names are skipped. Archives may follow one another,
//! separated by zero padding.

use super::{FileType, Fs, Ino, Node, ROOT_INO, SetTime, Timespec};
use crate::cpio;
use crate::errno::{Errno, Result};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// Why an initramfs could not be loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// The archive is malformed.
    Cpio(cpio::Error),
    /// The entry whose header is at `offset` could not be applied.
    Entry { offset: usize, errno: Errno },
}

/// The key that makes entries hard links of one another.
type LinkKey = (u32, u32, u32, u32);

impl Fs {
    /// A file system holding what the archives in `data` describe.
    pub fn from_cpio(data: &[u8]) -> core::result::Result<Fs, LoadError> {
        let mut fs = Fs::new();
        fs.load_cpio(data)?;
        Ok(fs)
    }

    /// Applies the archives in `data` to this tree.
    pub fn load_cpio(&mut self, data: &[u8]) -> core::result::Result<(), LoadError> {
        let mut rest = data;
        let mut base = 0usize;
        loop {
            let skip = rest.iter().position(|&b| b != 0).unwrap_or(rest.len());
            rest = rest.get(skip..).unwrap_or(&[]);
            base = base.saturating_add(skip);
            if rest.is_empty() {
                return Ok(());
            }
            let mut links: BTreeMap<LinkKey, Ino> = BTreeMap::new();
            let mut dir_times: Vec<(Ino, Timespec)> = Vec::new();
            let mut reader = cpio::Reader::new(rest);
            for entry in reader.by_ref() {
                let entry = entry.map_err(|e| LoadError::Cpio(shift(e, base)))?;
                self.apply(&entry, &mut links, &mut dir_times)
                    .map_err(|errno| LoadError::Entry {
                        offset: base.saturating_add(entry.offset),
                        errno,
                    })?;
            }
            for (ino, t) in dir_times {
                // A directory replaced later in the archive may be gone.
                let _ = self.utimens(ino, SetTime::At(t), SetTime::At(t));
            }
            let next = reader.rest().unwrap_or(&[]);
            base = base.saturating_add(rest.len() - next.len());
            rest = next;
        }
    }

    /// The directory that will hold `name`, made (with its parents) if
    /// missing, and the last component; `None` for the root itself.
    fn parents_for<'n>(&mut self, name: &'n [u8]) -> Result<Option<(Ino, &'n [u8])>> {
        let mut comps = name.split(|&b| b == b'/').filter(|c| !c.is_empty() && *c != b".");
        let Some(mut last) = comps.next() else {
            return Ok(None);
        };
        let mut dir = ROOT_INO;
        for comp in comps {
            dir = match self.dir(dir)?.get(last) {
                Some(_) => self.lookup(dir, last, true)?,
                None if last == b".." => self.lookup(dir, last, true)?,
                None => self.mkdir(dir, last, 0o755, 0, 0)?,
            };
            self.dir(dir)?;
            last = comp;
        }
        if last == b".." {
            return Ok(Some((self.lookup(dir, last, true)?, b".")));
        }
        Ok(Some((dir, last)))
    }

    /// Removes `name` from `dir` if present (an empty directory too).
    fn clear_name(&mut self, dir: Ino, name: &[u8]) -> Result<()> {
        match self.dir(dir)?.get(name) {
            Some(old) if self.dir(old).is_ok() => self.rmdir(dir, name),
            Some(_) => self.unlink(dir, name),
            None => Ok(()),
        }
    }

    fn apply(
        &mut self,
        e: &cpio::Entry<'_>,
        links: &mut BTreeMap<LinkKey, Ino>,
        dir_times: &mut Vec<(Ino, Timespec)>,
    ) -> Result<()> {
        let Some(ty) = FileType::from_mode(e.mode) else {
            return Ok(());
        };
        let Some(place) = self.parents_for(e.name)? else {
            if e.name.is_empty() {
                return Ok(());
            }
            // `.` or `/`: the root's own attributes.
            if ty == FileType::Directory {
                self.set_attrs(ROOT_INO, e)?;
                dir_times.push((ROOT_INO, mtime(e)));
            }
            return Ok(());
        };
        let (dir, name) = place;
        if name == b"." {
            // A name ending in `..`: an existing directory, attributes only.
            if ty == FileType::Directory {
                self.set_attrs(dir, e)?;
                dir_times.push((dir, mtime(e)));
            }
            return Ok(());
        }
        let existing = self.dir(dir)?.get(name);
        let existing_type = existing.map(|i| self.file_type(i)).transpose()?;
        let key = (e.dev_major, e.dev_minor, e.ino, ty.mode_bits());
        let linked = e.nlink >= 2 && ty != FileType::Directory && ty != FileType::Symlink;
        let ino = match ty {
            FileType::Directory => {
                let ino = match (existing, existing_type) {
                    (Some(ino), Some(FileType::Directory)) => ino,
                    _ => {
                        self.clear_name(dir, name)?;
                        self.mkdir(dir, name, e.mode, e.uid, e.gid)?
                    }
                };
                dir_times.push((ino, mtime(e)));
                ino
            }
            _ if linked && links.contains_key(&key) => {
                let target = *links.get(&key).ok_or(Errno::EIO)?;
                if existing != Some(target) {
                    self.clear_name(dir, name)?;
                    self.link_ino(dir, name, target)?;
                }
                if !e.data.is_empty() {
                    self.write_at(target, 0, e.data)?;
                }
                target
            }
            FileType::Regular => {
                let ino = match (existing, existing_type) {
                    (Some(ino), Some(FileType::Regular)) => {
                        self.truncate(ino, 0)?;
                        ino
                    }
                    _ => {
                        self.clear_name(dir, name)?;
                        self.mknod(dir, name, e.mode, (0, 0), e.uid, e.gid)?
                    }
                };
                self.write_at(ino, 0, e.data)?;
                ino
            }
            FileType::Symlink => {
                self.clear_name(dir, name)?;
                self.symlink(e.data, dir, name, e.uid, e.gid)?
            }
            _ => {
                self.clear_name(dir, name)?;
                self.mknod(dir, name, e.mode, (e.rdev_major, e.rdev_minor), e.uid, e.gid)?
            }
        };
        if linked {
            links.insert(key, ino);
        }
        self.set_attrs(ino, e)
    }

    /// Links existing inode `ino` as `name` in `dir` (an entry's hard link).
    fn link_ino(&mut self, dir: Ino, name: &[u8], ino: Ino) -> Result<()> {
        if !matches!(self.inode(ino)?.node, Node::Regular { .. } | Node::Special(_)) {
            return Err(Errno::EPERM);
        }
        self.live_dir(dir)?;
        self.add_link(dir, name, ino)
    }

    /// Mode, owner and times from the entry.
    fn set_attrs(&mut self, ino: Ino, e: &cpio::Entry<'_>) -> Result<()> {
        let t = mtime(e);
        let inode = self.inode_mut(ino)?;
        inode.perm = e.mode & 0o7777;
        inode.uid = e.uid;
        inode.gid = e.gid;
        inode.atime = t;
        inode.mtime = t;
        Ok(())
    }
}

fn mtime(e: &cpio::Entry<'_>) -> Timespec {
    Timespec {
        sec: i64::from(e.mtime),
        nsec: 0,
    }
}

/// The error with its offset counted from the start of the whole input.
fn shift(e: cpio::Error, base: usize) -> cpio::Error {
    use cpio::Error::*;
    let s = |o: usize| o.saturating_add(base);
    match e {
        BadMagic { offset } => BadMagic { offset: s(offset) },
        BadHex { offset, field } => BadHex {
            offset: s(offset),
            field,
        },
        TruncatedHeader { offset } => TruncatedHeader { offset: s(offset) },
        TruncatedName { offset } => TruncatedName { offset: s(offset) },
        TruncatedData { offset } => TruncatedData { offset: s(offset) },
        NameNotTerminated { offset } => NameNotTerminated { offset: s(offset) },
        NameHasNul { offset } => NameHasNul { offset: s(offset) },
        NameTooLong { offset } => NameTooLong { offset: s(offset) },
        SizeOverflow { offset } => SizeOverflow { offset: s(offset) },
        BadChecksum { offset } => BadChecksum { offset: s(offset) },
        MissingTrailer { offset } => MissingTrailer { offset: s(offset) },
    }
}
