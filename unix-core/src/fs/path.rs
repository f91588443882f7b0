//! Path lookup: Linux's name resolution over the tree.
//!
//! A path is bytes without its NUL. Absolute paths start at the root,
//! relative ones at the caller's current directory. Repeated slashes count as
//! one; `.` stays, `..` goes to the parent (the root's is itself). Symbolic
//! links are followed wherever they are in the middle of a path, and at the
//! end when the caller asks or when the path ends in a slash; a link's target
//! is resolved from the directory holding the link (from the root when it is
//! absolute). Errors: `ENOENT` (empty path or a missing component),
//! `ENOTDIR` (a non-directory used as one), `ENAMETOOLONG` (a path of
//! [`PATH_MAX`] bytes or more, a component over [`NAME_MAX`]), `ELOOP` (more
//! than [`MAXSYMLINKS`] links).

use super::{Fs, Ino, MAXSYMLINKS, NAME_MAX, Node, PATH_MAX, ROOT_INO};
use crate::errno::{Errno, Result};
use alloc::vec;
use alloc::vec::Vec;

/// Where a path leads: the directory holding its last component, that
/// component, and what it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Walk {
    /// The directory the last component is looked up in.
    pub dir: Ino,
    /// The last component: a name, `.` or `..`, or empty when the path has
    /// no component at all (`/`).
    pub name: Vec<u8>,
    /// What the last component names, if it exists.
    pub ino: Option<Ino>,
    /// The path ended in a slash, so the result must be a directory.
    pub must_dir: bool,
}

impl Walk {
    /// Whether the last component is a real name (not `.`, `..` or nothing).
    pub fn is_name(&self) -> bool {
        !matches!(&self.name[..], b"" | b"." | b"..")
    }
}

fn only_slashes(s: &[u8]) -> bool {
    s.iter().all(|&b| b == b'/')
}

/// Splits off the first component of `s` (leading slashes skipped).
fn next_component(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let start = s.iter().position(|&b| b != b'/')?;
    let s = s.get(start..)?;
    let end = s.iter().position(|&b| b == b'/').unwrap_or(s.len());
    Some(s.split_at(end))
}

impl Fs {
    /// The parent of directory `dir` (the root's is itself). A removed
    /// directory keeps the parent it had while that one exists.
    fn parent_of(&self, dir: Ino) -> Result<Ino> {
        let parent = self.dir(dir)?.parent;
        self.dir(parent).map(|_| parent).map_err(|_| Errno::ENOENT)
    }

    /// Resolves `path` from `cwd` up to its last component, which is looked
    /// up but followed only if `follow` (a symlink there is returned as is
    /// otherwise, even with a trailing slash).
    pub(crate) fn walk(&self, cwd: Ino, path: &[u8], follow: bool) -> Result<Walk> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        if path.len() > PATH_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        let mut cur = if path.first() == Some(&b'/') { ROOT_INO } else { cwd };
        self.dir(cur)?;
        let mut must_dir = path.last() == Some(&b'/');
        let mut frames: Vec<&[u8]> = vec![path];
        let mut links = 0u32;
        loop {
            // The next component, from the innermost frame that has one.
            let comp = loop {
                let Some(top) = frames.last_mut() else { break None };
                match next_component(top) {
                    Some((comp, rest)) => {
                        *top = rest;
                        break Some(comp);
                    }
                    None => {
                        frames.pop();
                    }
                }
            };
            let Some(comp) = comp else {
                // Only slashes were left: the path names `cur` itself.
                return Ok(Walk {
                    dir: cur,
                    name: Vec::new(),
                    ino: Some(cur),
                    must_dir,
                });
            };
            if comp.len() > NAME_MAX {
                return Err(Errno::ENAMETOOLONG);
            }
            let last = frames.iter().all(|f| only_slashes(f));
            let dir = self.dir(cur)?;
            let child = match comp {
                b"." => Some(cur),
                b".." => Some(self.parent_of(cur)?),
                name => {
                    if self.inode(cur)?.nlink == 0 {
                        return Err(Errno::ENOENT);
                    }
                    dir.get(name)
                }
            };
            let link = match child.map(|c| self.inode(c)).transpose()? {
                Some(inode) => match &inode.node {
                    Node::Symlink(target) if !last || follow => Some(target),
                    _ => None,
                },
                None => None,
            };
            if let Some(target) = link {
                links += 1;
                if links > MAXSYMLINKS {
                    return Err(Errno::ELOOP);
                }
                if target.is_empty() {
                    return Err(Errno::ENOENT);
                }
                if last && target.last() == Some(&b'/') {
                    must_dir = true;
                }
                if target.first() == Some(&b'/') {
                    cur = ROOT_INO;
                }
                frames.push(target);
                continue;
            }
            if last {
                return Ok(Walk {
                    dir: cur,
                    name: comp.to_vec(),
                    ino: child,
                    must_dir,
                });
            }
            cur = child.ok_or(Errno::ENOENT)?;
        }
    }

    /// Looks `path` up from `cwd` and returns the inode it names. A symbolic
    /// link at the end is followed if `follow` (as `stat`) or if the path
    /// ends in a slash, and returned itself otherwise (as `lstat`).
    pub fn lookup(&self, cwd: Ino, path: &[u8], follow: bool) -> Result<Ino> {
        let follow = follow || path.last() == Some(&b'/');
        let w = self.walk(cwd, path, follow)?;
        let ino = w.ino.ok_or(Errno::ENOENT)?;
        if w.must_dir && self.dir(ino).is_err() {
            return Err(Errno::ENOTDIR);
        }
        Ok(ino)
    }

    /// The absolute path of directory `dir` (for `getcwd`): `ENOENT` once it
    /// has been removed, `ENOTDIR` if it is not a directory.
    pub fn path_of(&self, dir: Ino) -> Result<Vec<u8>> {
        self.dir(dir)?;
        let mut names: Vec<&[u8]> = Vec::new();
        let mut cur = dir;
        // Each step goes one level up; a tree has fewer levels than inodes.
        for _ in 0..self.inodes.len() {
            if cur == ROOT_INO {
                let mut path = Vec::new();
                for name in names.iter().rev() {
                    path.push(b'/');
                    path.extend_from_slice(name);
                }
                if path.is_empty() {
                    path.push(b'/');
                }
                return Ok(path);
            }
            if self.inode(cur)?.nlink == 0 {
                return Err(Errno::ENOENT);
            }
            let parent = self.parent_of(cur)?;
            let (name, _) = self
                .dir(parent)?
                .entries
                .iter()
                .find(|(_, (ino, _))| *ino == cur)
                .ok_or(Errno::ENOENT)?;
            names.push(name);
            cur = parent;
        }
        Err(Errno::ENOENT)
    }
}
