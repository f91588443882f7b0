//! A process's file descriptor table.
//!
//! This module owns the mapping from descriptor numbers to open-file handles
//! and the per-descriptor `FD_CLOEXEC` flag, with Linux's rules: a new
//! descriptor is the lowest free one, no descriptor reaches the limit
//! (`RLIMIT_NOFILE`, default 1024, else `EMFILE`), `dup2` onto itself is a
//! no-op, `dup3` onto itself is `EINVAL`, and a duplicate never inherits
//! `FD_CLOEXEC`.
//!
//! The handle type `T` is whatever the server uses to name an open file
//! description (see [`crate::ofile`]); the table never interprets it. Every
//! call that drops a handle (close, `dup2` over an open descriptor, exec,
//! exit) gives it back so the server can release its reference. A fork
//! copies the table with `Clone`; the server then takes one more reference on
//! every handle in the copy.

use crate::errno::{Errno, Result};
use alloc::vec::Vec;

/// The default descriptor limit (Linux's `INR_OPEN_CUR`).
pub const DEFAULT_LIMIT: u32 = linux_raw_sys::general::INR_OPEN_CUR;
/// The largest limit a table accepts (Linux's default `fs.nr_open`); it bounds
/// the table's memory.
pub const LIMIT_MAX: u32 = 1 << 20;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Slot<T> {
    file: T,
    cloexec: bool,
}

/// A descriptor table. Descriptors are `i32`, as system calls pass them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FdTable<T: Clone> {
    slots: Vec<Option<Slot<T>>>,
    limit: u32,
}

impl<T: Clone> Default for FdTable<T> {
    fn default() -> Self {
        FdTable::new()
    }
}

impl<T: Clone> FdTable<T> {
    /// An empty table with the default limit.
    pub fn new() -> FdTable<T> {
        FdTable {
            slots: Vec::new(),
            limit: DEFAULT_LIMIT,
        }
    }

    /// The descriptor limit: every descriptor is below it.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Sets the limit (from `setrlimit(RLIMIT_NOFILE)`); `EPERM` above
    /// [`LIMIT_MAX`]. Open descriptors at or above a lowered limit stay open.
    pub fn set_limit(&mut self, limit: u32) -> Result<()> {
        if limit > LIMIT_MAX {
            return Err(Errno::EPERM);
        }
        self.limit = limit;
        Ok(())
    }

    fn slot(&self, fd: i32) -> Result<&Slot<T>> {
        let i = usize::try_from(fd).map_err(|_| Errno::EBADF)?;
        self.slots.get(i).and_then(Option::as_ref).ok_or(Errno::EBADF)
    }

    fn slot_mut(&mut self, fd: i32) -> Result<&mut Slot<T>> {
        let i = usize::try_from(fd).map_err(|_| Errno::EBADF)?;
        self.slots.get_mut(i).and_then(Option::as_mut).ok_or(Errno::EBADF)
    }

    /// The handle behind `fd`, or `EBADF`.
    pub fn get(&self, fd: i32) -> Result<&T> {
        self.slot(fd).map(|s| &s.file)
    }

    /// The lowest free descriptor at or above `min` and below the limit.
    fn lowest_free(&self, min: u32) -> Result<u32> {
        let start = usize::try_from(min).map_err(|_| Errno::EMFILE)?;
        let free = match self.slots.get(start..) {
            Some(rest) => rest
                .iter()
                .position(Option::is_none)
                .map_or(self.slots.len(), |p| start + p),
            None => start,
        };
        match u32::try_from(free) {
            Ok(fd) if fd < self.limit => Ok(fd),
            _ => Err(Errno::EMFILE),
        }
    }

    /// Puts `slot` at `fd` (below the limit); returns what was there.
    fn put(&mut self, fd: u32, slot: Slot<T>) -> Result<Option<T>> {
        let i = usize::try_from(fd).map_err(|_| Errno::EMFILE)?;
        if i >= self.slots.len() {
            let grow = i - self.slots.len() + 1;
            self.slots.try_reserve(grow).map_err(|_| Errno::ENOMEM)?;
            self.slots.resize(i + 1, None);
        }
        let old = self.slots.get_mut(i).ok_or(Errno::EMFILE)?.replace(slot);
        Ok(old.map(|s| s.file))
    }

    fn to_fd(fd: u32) -> Result<i32> {
        i32::try_from(fd).map_err(|_| Errno::EMFILE)
    }

    /// Installs `file` at the lowest free descriptor (open, pipe, socket).
    pub fn insert(&mut self, file: T, cloexec: bool) -> Result<i32> {
        self.insert_from(0, file, cloexec)
    }

    /// Installs `file` at the lowest free descriptor at or above `min`
    /// (`F_DUPFD`'s rule: `EINVAL` if `min` is negative or not below the
    /// limit, `EMFILE` if no descriptor is free).
    pub fn insert_from(&mut self, min: i32, file: T, cloexec: bool) -> Result<i32> {
        let min = u32::try_from(min).map_err(|_| Errno::EINVAL)?;
        if min >= self.limit {
            return Err(Errno::EINVAL);
        }
        let fd = self.lowest_free(min)?;
        self.put(fd, Slot { file, cloexec })?;
        Self::to_fd(fd)
    }

    /// Closes `fd` and returns its handle, or `EBADF`.
    pub fn close(&mut self, fd: i32) -> Result<T> {
        let i = usize::try_from(fd).map_err(|_| Errno::EBADF)?;
        let slot = self.slots.get_mut(i).and_then(Option::take).ok_or(Errno::EBADF)?;
        while self.slots.last().is_some_and(Option::is_none) {
            self.slots.pop();
        }
        Ok(slot.file)
    }

    /// `dup(fd)`: the lowest free descriptor now names `fd`'s handle, without
    /// `FD_CLOEXEC`. The caller takes one more reference on the handle.
    pub fn dup(&mut self, fd: i32) -> Result<i32> {
        self.dup_from(fd, 0, false)
    }

    /// `fcntl(fd, F_DUPFD or F_DUPFD_CLOEXEC, min)`.
    pub fn dup_from(&mut self, fd: i32, min: i32, cloexec: bool) -> Result<i32> {
        let file = self.get(fd)?.clone();
        self.insert_from(min, file, cloexec)
    }

    /// `dup2(old, new)`: `new` names `old`'s handle (closing what `new` named,
    /// returned for release). `old == new` checks `old` and changes nothing.
    /// `EBADF` if `old` is not open or `new` is negative or not below the limit.
    pub fn dup2(&mut self, old: i32, new: i32) -> Result<(i32, Option<T>)> {
        self.get(old)?;
        if old == new {
            return Ok((new, None));
        }
        self.dup3(old, new, false)
    }

    /// `dup3(old, new, flags)` with `O_CLOEXEC` as `cloexec`: as `dup2`, but
    /// `EINVAL` when `old == new`.
    pub fn dup3(&mut self, old: i32, new: i32, cloexec: bool) -> Result<(i32, Option<T>)> {
        if old == new {
            return Err(Errno::EINVAL);
        }
        let file = self.get(old)?.clone();
        let target = u32::try_from(new).map_err(|_| Errno::EBADF)?;
        if target >= self.limit {
            return Err(Errno::EBADF);
        }
        let replaced = self.put(target, Slot { file, cloexec })?;
        Ok((new, replaced))
    }

    /// `F_GETFD`: whether `fd` has `FD_CLOEXEC`.
    pub fn cloexec(&self, fd: i32) -> Result<bool> {
        self.slot(fd).map(|s| s.cloexec)
    }

    /// `F_SETFD`: sets or clears `FD_CLOEXEC` on `fd`.
    pub fn set_cloexec(&mut self, fd: i32, cloexec: bool) -> Result<()> {
        self.slot_mut(fd)?.cloexec = cloexec;
        Ok(())
    }

    /// At exec: closes every descriptor with `FD_CLOEXEC` and returns them
    /// with their handles, lowest first.
    pub fn close_on_exec(&mut self) -> Vec<(i32, T)> {
        let doomed: Vec<i32> = self
            .iter()
            .filter(|&(_, _, cloexec)| cloexec)
            .map(|(fd, _, _)| fd)
            .collect();
        doomed
            .into_iter()
            .filter_map(|fd| self.close(fd).ok().map(|file| (fd, file)))
            .collect()
    }

    /// At exit: closes every descriptor and returns the handles, lowest first.
    pub fn close_all(&mut self) -> Vec<T> {
        let slots = core::mem::take(&mut self.slots);
        slots.into_iter().flatten().map(|s| s.file).collect()
    }

    /// The open descriptors, lowest first, with their handles and `FD_CLOEXEC`.
    pub fn iter(&self) -> impl Iterator<Item = (i32, &T, bool)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((i32::try_from(i).ok()?, &s.as_ref()?.file, s.as_ref()?.cloexec)))
    }

    /// How many descriptors are open.
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    /// Whether no descriptor is open.
    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(Option::is_none)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn table(n: i32) -> FdTable<u32> {
        let mut t = FdTable::new();
        for i in 0..n {
            assert_eq!(t.insert(100 + i as u32, false), Ok(i));
        }
        t
    }

    #[test]
    fn lowest_free_descriptor_is_reused() {
        let mut t = table(5);
        assert_eq!(t.close(1), Ok(101));
        assert_eq!(t.close(3), Ok(103));
        assert_eq!(t.insert(7, false), Ok(1));
        assert_eq!(t.insert(8, false), Ok(3));
        assert_eq!(t.insert(9, false), Ok(5));
        assert_eq!(t.get(3), Ok(&8));
        assert_eq!(t.len(), 6);
    }

    #[test]
    fn bad_descriptors_are_ebadf() {
        let mut t = table(2);
        for fd in [-1, i32::MIN, 2, 1000, i32::MAX] {
            assert_eq!(t.get(fd), Err(Errno::EBADF), "{fd}");
            assert_eq!(t.close(fd), Err(Errno::EBADF));
            assert_eq!(t.dup(fd), Err(Errno::EBADF));
            assert_eq!(t.cloexec(fd), Err(Errno::EBADF));
            assert_eq!(t.set_cloexec(fd, true), Err(Errno::EBADF));
            assert_eq!(t.dup2(fd, 0), Err(Errno::EBADF));
            assert_eq!(t.dup2(fd, fd), Err(Errno::EBADF));
        }
        assert_eq!(t.close(1), Ok(101));
        assert_eq!(t.close(1), Err(Errno::EBADF));
        assert_eq!(t.get(1), Err(Errno::EBADF));
    }

    #[test]
    fn limit_gives_emfile() {
        let mut t = table(0);
        t.set_limit(3).unwrap();
        assert_eq!(t.limit(), 3);
        for i in 0..3 {
            assert_eq!(t.insert(i, false), Ok(i as i32));
        }
        assert_eq!(t.insert(9, false), Err(Errno::EMFILE));
        assert_eq!(t.dup(0), Err(Errno::EMFILE));
        assert_eq!(t.dup2(0, 3), Err(Errno::EBADF));
        t.close(1).unwrap();
        assert_eq!(t.dup(0), Ok(1));
        assert_eq!(t.set_limit(LIMIT_MAX + 1), Err(Errno::EPERM));
        assert_eq!(t.set_limit(LIMIT_MAX), Ok(()));
        // Lowering the limit keeps open descriptors.
        t.set_limit(1).unwrap();
        assert_eq!(t.get(2), Ok(&2));
        assert_eq!(t.insert(5, false), Err(Errno::EMFILE));
        assert_eq!(FdTable::<u8>::new().limit(), 1024);
    }

    #[test]
    fn dup_shares_the_handle_and_clears_cloexec() {
        let mut t = table(0);
        assert_eq!(t.insert(42, true), Ok(0));
        assert_eq!(t.dup(0), Ok(1));
        assert_eq!(t.get(1), Ok(&42));
        assert_eq!(t.cloexec(0), Ok(true));
        assert_eq!(t.cloexec(1), Ok(false));
    }

    #[test]
    fn dup2_rules() {
        let mut t = table(3);
        t.set_cloexec(1, true).unwrap();
        // Same descriptor: a no-op that keeps FD_CLOEXEC.
        assert_eq!(t.dup2(1, 1), Ok((1, None)));
        assert_eq!(t.cloexec(1), Ok(true));
        // Over an open descriptor: the old handle comes back.
        assert_eq!(t.dup2(0, 1), Ok((1, Some(101))));
        assert_eq!(t.get(1), Ok(&100));
        assert_eq!(t.cloexec(1), Ok(false));
        // Onto a far free descriptor.
        assert_eq!(t.dup2(2, 100), Ok((100, None)));
        assert_eq!(t.get(100), Ok(&102));
        assert_eq!(t.insert(7, false), Ok(3));
        // Bad new descriptors.
        assert_eq!(t.dup2(0, -1), Err(Errno::EBADF));
        assert_eq!(t.dup2(0, 1024), Err(Errno::EBADF));
        assert_eq!(t.dup2(0, 1023), Ok((1023, None)));
    }

    #[test]
    fn dup3_rules() {
        let mut t = table(2);
        assert_eq!(t.dup3(0, 0, false), Err(Errno::EINVAL));
        assert_eq!(t.dup3(5, 5, false), Err(Errno::EINVAL));
        assert_eq!(t.dup3(5, 1, false), Err(Errno::EBADF));
        assert_eq!(t.dup3(0, 5, true), Ok((5, None)));
        assert_eq!(t.cloexec(5), Ok(true));
        assert_eq!(t.dup3(1, 5, false), Ok((5, Some(100))));
        assert_eq!(t.cloexec(5), Ok(false));
        assert_eq!(t.dup3(0, -3, false), Err(Errno::EBADF));
    }

    #[test]
    fn f_dupfd_minimum() {
        let mut t = table(3);
        assert_eq!(t.dup_from(0, 10, false), Ok(10));
        assert_eq!(t.dup_from(0, 10, true), Ok(11));
        assert_eq!(t.cloexec(11), Ok(true));
        assert_eq!(t.cloexec(10), Ok(false));
        assert_eq!(t.dup_from(0, 1, false), Ok(3));
        assert_eq!(t.dup_from(0, -1, false), Err(Errno::EINVAL));
        assert_eq!(t.dup_from(0, 1024, false), Err(Errno::EINVAL));
        assert_eq!(t.dup_from(0, 1023, false), Ok(1023));
        assert_eq!(t.dup_from(0, 1023, false), Err(Errno::EMFILE));
        assert_eq!(t.dup_from(99, 0, false), Err(Errno::EBADF));
    }

    #[test]
    fn close_on_exec_returns_what_it_closed() {
        let mut t = table(4);
        t.set_cloexec(1, true).unwrap();
        t.set_cloexec(3, true).unwrap();
        t.set_cloexec(3, false).unwrap();
        t.dup3(0, 7, true).unwrap();
        assert_eq!(t.close_on_exec(), vec![(1, 101), (7, 100)]);
        let left: Vec<i32> = t.iter().map(|(fd, _, _)| fd).collect();
        assert_eq!(left, [0, 2, 3]);
        assert_eq!(t.close_on_exec(), vec![]);
    }

    #[test]
    fn fork_copy_is_independent() {
        let mut parent = table(2);
        parent.set_cloexec(1, true).unwrap();
        let mut child = parent.clone();
        assert_eq!(child.close(0), Ok(100));
        assert_eq!(parent.get(0), Ok(&100));
        assert_eq!(child.cloexec(1), Ok(true));
        child.set_limit(1).unwrap();
        assert_eq!(parent.limit(), 1024);
    }

    #[test]
    fn close_all_empties_the_table() {
        let mut t = table(3);
        t.close(1).unwrap();
        t.dup2(0, 9).unwrap();
        assert_eq!(t.close_all(), vec![100, 102, 100]);
        assert!(t.is_empty());
        assert_eq!(t.len(), 0);
        assert_eq!(t.insert(5, false), Ok(0));
        assert!(!t.is_empty());
    }

    #[test]
    fn closing_the_top_shrinks_the_slots() {
        let mut t = table(1);
        t.dup2(0, 500).unwrap();
        assert_eq!(t.slots.len(), 501);
        t.close(500).unwrap();
        assert_eq!(t.slots.len(), 1);
        t.close(0).unwrap();
        assert!(t.slots.is_empty());
    }
}
