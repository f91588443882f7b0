//! The whole-tree invariant check the tests run after every operation.
//!
//! It verifies: the root is a directory that is its own parent; every entry
//! has a valid name and names an existing inode; positions and names agree
//! in each directory; each non-directory's link count is the number of
//! entries naming it; each live directory is named exactly once (the root
//! never), its parent is the directory naming it, and its link count is 2
//! plus its subdirectories; an inode without links is open (otherwise it
//! should have been freed) and a removed directory is empty; every linked
//! inode is reachable from the root; the data accounting matches the bytes
//! held; regular files hold no more bytes than their size.

use super::{FIRST_POS, Fs, Ino, NAME_MAX, Node, ROOT_INO};
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec;

impl Fs {
    /// Checks every invariant of the tree; the error says which one broke.
    pub fn check(&self) -> core::result::Result<(), String> {
        let root = self.inodes.get(&ROOT_INO).ok_or("no root")?;
        match &root.node {
            Node::Directory(d) if d.parent == ROOT_INO => {}
            _ => return Err("root is not a directory that is its own parent".into()),
        }
        if root.nlink == 0 {
            return Err("root has no links".into());
        }
        // Entries naming each inode, and the directories naming each directory.
        let mut names: BTreeMap<Ino, u32> = BTreeMap::new();
        let mut named_in: BTreeMap<Ino, Ino> = BTreeMap::new();
        let mut held = 0u64;
        for (&ino, inode) in &self.inodes {
            if ino >= self.next_ino {
                return Err(format!("inode {ino} at or past next_ino {}", self.next_ino));
            }
            held += inode.held_bytes();
            if inode.perm & !0o7777 != 0 {
                return Err(format!("inode {ino} has type bits in perm"));
            }
            match &inode.node {
                Node::Regular { data, size } if data.len() as u64 > *size => {
                    return Err(format!("inode {ino} holds {} bytes past size {size}", data.len()));
                }
                Node::Directory(d) => {
                    if d.entries.len() != d.order.len() {
                        return Err(format!("dir {ino}: entries and order differ in length"));
                    }
                    for (name, &(child, pos)) in &d.entries {
                        if name.is_empty()
                            || name.len() > NAME_MAX
                            || name.contains(&b'/')
                            || name.contains(&0)
                            || &name[..] == b"."
                            || &name[..] == b".."
                        {
                            return Err(format!("dir {ino}: bad name {name:?}"));
                        }
                        if d.order.get(&pos) != Some(name) {
                            return Err(format!("dir {ino}: position {pos} does not name {name:?}"));
                        }
                        if pos < FIRST_POS || pos >= d.next_pos {
                            return Err(format!("dir {ino}: position {pos} out of range"));
                        }
                        let Some(c) = self.inodes.get(&child) else {
                            return Err(format!("dir {ino}: {name:?} names missing inode {child}"));
                        };
                        *names.entry(child).or_insert(0) += 1;
                        if matches!(c.node, Node::Directory(_)) && named_in.insert(child, ino).is_some() {
                            return Err(format!("directory {child} has two names"));
                        }
                    }
                    if inode.nlink == 0 && !d.entries.is_empty() {
                        return Err(format!("removed dir {ino} has entries"));
                    }
                }
                _ => {}
            }
            if inode.nlink == 0 && inode.opens == 0 {
                return Err(format!("inode {ino} has no links and no opens but was not freed"));
            }
        }
        if held != self.data_bytes {
            return Err(format!("data_bytes {} but {held} held", self.data_bytes));
        }
        for (&ino, inode) in &self.inodes {
            let n = names.get(&ino).copied().unwrap_or(0);
            match &inode.node {
                Node::Directory(d) => {
                    if inode.nlink == 0 {
                        if n != 0 {
                            return Err(format!("removed dir {ino} still named"));
                        }
                        continue;
                    }
                    let want_names = if ino == ROOT_INO { 0 } else { 1 };
                    if n != want_names {
                        return Err(format!("dir {ino} named {n} times"));
                    }
                    if ino != ROOT_INO && named_in.get(&ino) != Some(&d.parent) {
                        return Err(format!("dir {ino}: parent {} does not name it", d.parent));
                    }
                    let subdirs = d
                        .entries
                        .values()
                        .filter(|(c, _)| matches!(self.inodes.get(c).map(|i| &i.node), Some(Node::Directory(_))))
                        .count() as u32;
                    if inode.nlink != 2 + subdirs {
                        return Err(format!("dir {ino}: nlink {} but {subdirs} subdirs", inode.nlink));
                    }
                }
                _ => {
                    if inode.nlink != n {
                        return Err(format!("inode {ino}: nlink {} but {n} names", inode.nlink));
                    }
                }
            }
        }
        // Reachability from the root.
        let mut seen = BTreeSet::new();
        let mut todo = vec![ROOT_INO];
        while let Some(ino) = todo.pop() {
            if !seen.insert(ino) {
                continue;
            }
            if let Some(Node::Directory(d)) = self.inodes.get(&ino).map(|i| &i.node) {
                todo.extend(d.entries.values().map(|&(c, _)| c));
            }
        }
        for (&ino, inode) in &self.inodes {
            if inode.nlink > 0 && !seen.contains(&ino) {
                return Err(format!("inode {ino} is linked but unreachable from the root"));
            }
        }
        Ok(())
    }
}
