//! Files, directories, descriptors and pipes: the calls of the `unix`
//! interface that name them, over `unix_core::fs` (the root file system in
//! memory), `unix_core::fdtable` (each process's descriptors) and
//! `unix_core::pipe`. Open file descriptions (offset, status flags, what
//! they refer to) are shared by dup'd descriptors and across fork, kept
//! here by id with reference counts. The path calls are in `paths.rs`,
//! the data calls (read, write, pipes, ioctl, poll) in `io.rs`.
//!
//! Devices are character-device inodes of the file system (`/dev/null`,
//! `/dev/zero`, `/dev/full`, `/dev/random`, `/dev/urandom`, `/dev/tty`,
//! `/dev/console`), recognised by their numbers when opened.

use crate::server::Unix;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use linux_raw_sys::general as g;
use linux_raw_sys::ioctl;
use unix_core::errno::{Errno, Result};
use unix_core::fs::{FileType, Fs, Ino, ROOT_INO};
use unix_core::pipe::Pipe;

/// What an open file refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Object {
    Inode(Ino),
    Console,
    Null,
    Zero,
    Full,
    Random,
    /// A pipe's end: the pipe's id and whether it is the write end.
    Pipe(u32, bool),
}

/// An open file description.
pub struct OpenFile {
    pub object: Object,
    pub offset: u64,
    /// O_ACCMODE | O_APPEND | O_NONBLOCK (and the rest as opened).
    pub flags: u32,
    pub refs: u32,
}

/// The server's open files and pipes.
#[derive(Default)]
pub struct Files {
    open: BTreeMap<u32, OpenFile>,
    next: u32,
    pub pipes: BTreeMap<u32, Pipe>,
    next_pipe: u32,
}

/// The device numbers of the devices the server serves.
const DEVICES: [(&[u8], (u32, u32), Object); 7] = [
    (b"null", (1, 3), Object::Null),
    (b"zero", (1, 5), Object::Zero),
    (b"full", (1, 7), Object::Full),
    (b"random", (1, 8), Object::Random),
    (b"urandom", (1, 9), Object::Random),
    (b"tty", (5, 0), Object::Console),
    (b"console", (5, 1), Object::Console),
];

/// Makes `/dev`, `/tmp` and the device nodes if the archive lacks them.
pub fn populate(fs: &mut Fs) {
    let _ = fs.mkdir(ROOT_INO, b"/dev", 0o755, 0, 0);
    let _ = fs.mkdir(ROOT_INO, b"/tmp", 0o1777, 0, 0);
    let _ = fs.mkdir(ROOT_INO, b"/proc", 0o555, 0, 0);
    for (name, rdev, _) in DEVICES {
        let mut path = Vec::from(&b"/dev/"[..]);
        path.extend_from_slice(name);
        let _ = fs.mknod(ROOT_INO, &path, g::S_IFCHR | 0o666, rdev, 0, 0);
    }
}

impl Files {
    /// Open file descriptions held (by any process).
    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    pub fn get(&self, id: u32) -> Option<&OpenFile> {
        self.open.get(&id)
    }

    pub fn get_mut(&mut self, id: u32) -> Option<&mut OpenFile> {
        self.open.get_mut(&id)
    }

    /// A new open file description with one reference.
    pub fn add(&mut self, object: Object, flags: u32) -> u32 {
        loop {
            self.next = self.next.wrapping_add(1).max(1);
            if !self.open.contains_key(&self.next) {
                break;
            }
        }
        self.open.insert(
            self.next,
            OpenFile {
                object,
                offset: 0,
                flags,
                refs: 1,
            },
        );
        self.next
    }

    /// One more descriptor refers to `id`.
    pub fn retain(&mut self, id: u32) {
        if let Some(f) = self.open.get_mut(&id) {
            f.refs = f.refs.saturating_add(1);
        }
    }

    /// One descriptor fewer refers to `id`; at none the description goes,
    /// and the pipe end or inode reference it held. Returns the pipe whose
    /// end closed, if one did.
    pub fn release(&mut self, fs: &mut Fs, id: u32) -> Option<u32> {
        let f = self.open.get_mut(&id)?;
        f.refs -= 1;
        if f.refs > 0 {
            return None;
        }
        let object = f.object;
        self.open.remove(&id);
        match object {
            Object::Inode(ino) => {
                let _ = fs.close_ref(ino);
            }
            Object::Pipe(p, write) => {
                if let Some(pipe) = self.pipes.get_mut(&p) {
                    if write {
                        pipe.close_writer();
                    } else {
                        pipe.close_reader();
                    }
                    if pipe.is_closed() {
                        self.pipes.remove(&p);
                    }
                }
                return Some(p);
            }
            _ => {}
        }
        None
    }

    /// A new pipe: (read end, write end) descriptions.
    pub fn new_pipe(&mut self, flags: u32) -> (u32, u32) {
        self.next_pipe = self.next_pipe.wrapping_add(1);
        let id = self.next_pipe;
        self.pipes.insert(id, Pipe::new());
        let nonblock = flags & g::O_NONBLOCK;
        let r = self.add(Object::Pipe(id, false), g::O_RDONLY | nonblock);
        let w = self.add(Object::Pipe(id, true), g::O_WRONLY | nonblock);
        (r, w)
    }
}

fn at_fdcwd(dirfd: u64) -> bool {
    dirfd as i32 == g::AT_FDCWD
}

impl Unix {
    /// Drops one reference to open file `id`; the other end of a pipe whose
    /// end closed may now go on (end of file, EPIPE).
    pub fn release_file(&mut self, id: u32) {
        if let Some(p) = self.files.release(&mut self.fs, id) {
            self.pipe_changed(p);
        }
    }

    /// The directory a path is relative to: the cwd for AT_FDCWD or an
    /// absolute path, else the directory open on `dirfd`.
    pub(crate) fn base(&self, port: u32, dirfd: u64, path: &[u8]) -> Result<Ino> {
        let p = self.procs.by_port(port).ok_or(Errno::ESRCH)?;
        if path.first() == Some(&b'/') || at_fdcwd(dirfd) {
            return Ok(p.cwd);
        }
        let id = *p.fds.get(dirfd as i32)?;
        match self.files.get(id).map(|f| f.object) {
            Some(Object::Inode(ino)) if self.fs.file_type(ino)? == FileType::Directory => Ok(ino),
            Some(_) => Err(Errno::ENOTDIR),
            None => Err(Errno::EBADF),
        }
    }

    /// The open file description on descriptor `fd` of process `port`.
    pub(crate) fn fd(&self, port: u32, fd: u64) -> Result<u32> {
        let p = self.procs.by_port(port).ok_or(Errno::ESRCH)?;
        Ok(*p.fds.get(i32::try_from(fd).map_err(|_| Errno::EBADF)?)?)
    }

    /// A whole file's bytes (for exec and `--cmd-file`).
    pub fn read_whole_at(&self, cwd: Ino, path: &[u8]) -> Result<Vec<u8>> {
        let ino = self.fs.lookup(cwd, path, true)?;
        if self.fs.file_type(ino)? != FileType::Regular {
            return Err(Errno::EACCES);
        }
        let size = self.fs.size(ino)?;
        let mut bytes = alloc::vec![0u8; usize::try_from(size).map_err(|_| Errno::EFBIG)?];
        let n = self.fs.read_at(ino, 0, &mut bytes)?;
        bytes.truncate(n);
        Ok(bytes)
    }

    /// Installs `id` as a new descriptor of `port`'s process.
    pub(crate) fn install(&mut self, port: u32, id: u32, cloexec: bool) -> i64 {
        let Some(p) = self.procs.by_port_mut(port) else {
            self.release_file(id);
            return Errno::ESRCH.as_return();
        };
        match p.fds.insert(id, cloexec) {
            Ok(fd) => fd as i64,
            Err(e) => {
                self.release_file(id);
                e.as_return()
            }
        }
    }

    pub(crate) fn open(&mut self, port: u32, dirfd: u64, path: &[u8], flags: u32, mode: u32) -> Result<i64> {
        let base = self.base(port, dirfd, path)?;
        let umask = self.procs.by_port(port).map(|p| p.umask).unwrap_or(0o022);
        let opened = self.fs.open(base, path, flags, mode & !umask & 0o7777, 0, 0)?;
        let object = match opened.file_type {
            FileType::CharDevice => {
                let st = self.fs.stat(opened.ino)?;
                let dev = (unix_core::fs::major(st.rdev), unix_core::fs::minor(st.rdev));
                DEVICES.iter().find(|d| d.1 == dev).map(|d| d.2).ok_or(Errno::ENXIO)?
            }
            FileType::Regular | FileType::Directory | FileType::Symlink => {
                self.fs.open_ref(opened.ino)?;
                Object::Inode(opened.ino)
            }
            _ => return Err(Errno::ENXIO),
        };
        let id = self
            .files
            .add(object, flags & !(g::O_CREAT | g::O_EXCL | g::O_TRUNC | g::O_CLOEXEC));
        Ok(self.install(port, id, flags & g::O_CLOEXEC != 0))
    }

    /// Calls of the scalar shape that are about files; None if not one.
    pub fn file_scalar(&mut self, port: u32, number: u32, a: [u64; 6]) -> Option<i64> {
        let r = match number {
            g::__NR_close => self.close(port, a[0]),
            g::__NR_dup => self.dup(port, a[0], 0, false),
            g::__NR_dup2 => self.dup2(port, a[0], a[1], None),
            g::__NR_dup3 => {
                if a[0] == a[1] || a[2] as u32 & !g::O_CLOEXEC != 0 {
                    Err(Errno::EINVAL)
                } else {
                    self.dup2(port, a[0], a[1], Some(a[2] as u32 & g::O_CLOEXEC != 0))
                }
            }
            g::__NR_fcntl => self.fcntl(port, a[0], a[1] as u32, a[2]),
            g::__NR_lseek => self.lseek(port, a[0], a[1] as i64, a[2] as u32),
            g::__NR_fchdir => self
                .fd(port, a[0])
                .and_then(|id| match self.files.get(id).map(|f| f.object) {
                    Some(Object::Inode(ino)) if self.fs.file_type(ino)? == FileType::Directory => {
                        if let Some(p) = self.procs.by_port_mut(port) {
                            p.cwd = ino;
                        }
                        Ok(0)
                    }
                    _ => Err(Errno::ENOTDIR),
                }),
            g::__NR_fchmod => self
                .inode_of(port, a[0])
                .and_then(|ino| self.fs.chmod(ino, a[1] as u32).map(|_| 0)),
            g::__NR_fchown => self.inode_of(port, a[0]).map(|_| 0),
            g::__NR_ftruncate => self
                .inode_of(port, a[0])
                .and_then(|ino| self.fs.truncate(ino, a[1] as i64).map(|_| 0)),
            g::__NR_fsync | g::__NR_fdatasync => self.fd(port, a[0]).map(|_| 0),
            g::__NR_sync => Ok(0),
            g::__NR_sendfile => self.sendfile(port, a[0], a[1], a[2], a[3]),
            g::__NR_flock => self.fd(port, a[0]).map(|_| 0),
            g::__NR_ioctl => self
                .fd(port, a[0])
                .and_then(|id| match self.files.get(id).map(|f| f.object) {
                    Some(Object::Console) => match a[1] as u32 {
                        ioctl::TIOCSCTTY | ioctl::TIOCNOTTY => Ok(0),
                        _ => Err(Errno::EINVAL),
                    },
                    _ => Err(Errno::ENOTTY),
                }),
            _ => return None,
        };
        Some(r.unwrap_or_else(|e| e.as_return()))
    }

    /// sendfile(out, in, offset, count): up to 64 KiB from `in` (at
    /// `offset`, or its own offset for u64::MAX) written to `out`; what was
    /// written (a write that would wait takes what fits).
    pub(crate) fn sendfile(&mut self, port: u32, out: u64, inp: u64, offset: u64, count: u64) -> Result<i64> {
        // From files only (Linux takes pipes too since 5.12; EINVAL sends
        // the caller to read and write, as on older kernels), so the read
        // never waits; the write to a full pipe may, answered as this call.
        self.inode_of(port, inp)
            .map_err(|e| if e == Errno::EBADF { e } else { Errno::EINVAL })?;
        let n = (count as usize).min(64 * 1024);
        let mut buf = alloc::vec![0u8; n];
        let at = (offset != u64::MAX).then_some(offset);
        let (got, _) = self.read(port, inp, n, at, &mut buf)?;
        if got <= 0 {
            return Ok(got.max(0));
        }
        let written = self.write(port, out, &buf[..got as usize], None)?;
        Ok(written)
    }

    pub(crate) fn inode_of(&self, port: u32, fd: u64) -> Result<Ino> {
        match self.files.get(self.fd(port, fd)?).map(|f| f.object) {
            Some(Object::Inode(ino)) => Ok(ino),
            Some(_) => Err(Errno::EINVAL),
            None => Err(Errno::EBADF),
        }
    }

    pub(crate) fn close(&mut self, port: u32, fd: u64) -> Result<i64> {
        let p = self.procs.by_port_mut(port).ok_or(Errno::ESRCH)?;
        let id = p.fds.close(i32::try_from(fd).map_err(|_| Errno::EBADF)?)?;
        self.release_file(id);
        Ok(0)
    }

    pub(crate) fn dup(&mut self, port: u32, fd: u64, min: u64, cloexec: bool) -> Result<i64> {
        let id = self.fd(port, fd)?;
        let min = i32::try_from(min).map_err(|_| Errno::EINVAL)?;
        let p = self.procs.by_port_mut(port).ok_or(Errno::ESRCH)?;
        let new = p.fds.insert_from(min, id, cloexec)?;
        self.files.retain(id);
        Ok(new as i64)
    }

    pub(crate) fn dup2(&mut self, port: u32, old: u64, new: u64, cloexec: Option<bool>) -> Result<i64> {
        let id = self.fd(port, old)?;
        let newfd = i32::try_from(new).map_err(|_| Errno::EBADF)?;
        if old == new {
            return Ok(new as i64);
        }
        let p = self.procs.by_port_mut(port).ok_or(Errno::ESRCH)?;
        let (fd, replaced) = p.fds.dup3(old as i32, newfd, cloexec.unwrap_or(false))?;
        self.files.retain(id);
        if let Some(r) = replaced {
            self.release_file(r);
        }
        Ok(fd as i64)
    }

    pub(crate) fn fcntl(&mut self, port: u32, fd: u64, cmd: u32, arg: u64) -> Result<i64> {
        let id = self.fd(port, fd)?;
        match cmd {
            g::F_DUPFD => self.dup(port, fd, arg, false),
            g::F_DUPFD_CLOEXEC => self.dup(port, fd, arg, true),
            g::F_GETFD => {
                let p = self.procs.by_port(port).ok_or(Errno::ESRCH)?;
                Ok(if p.fds.cloexec(fd as i32)? {
                    g::FD_CLOEXEC as i64
                } else {
                    0
                })
            }
            g::F_SETFD => {
                let p = self.procs.by_port_mut(port).ok_or(Errno::ESRCH)?;
                p.fds.set_cloexec(fd as i32, arg as u32 & g::FD_CLOEXEC != 0)?;
                Ok(0)
            }
            g::F_GETFL => Ok(self.files.get(id).map(|f| f.flags).unwrap_or(0) as i64),
            g::F_SETFL => {
                let f = self.files.get_mut(id).ok_or(Errno::EBADF)?;
                let changeable = g::O_APPEND | g::O_NONBLOCK;
                f.flags = (f.flags & !changeable) | (arg as u32 & changeable);
                Ok(0)
            }
            g::F_GETLK | g::F_SETLK | g::F_SETLKW => Ok(0),
            _ => Err(Errno::EINVAL),
        }
    }

    pub(crate) fn lseek(&mut self, port: u32, fd: u64, offset: i64, whence: u32) -> Result<i64> {
        let id = self.fd(port, fd)?;
        let f = self.files.get(id).ok_or(Errno::EBADF)?;
        let ino = match f.object {
            Object::Inode(ino) => ino,
            Object::Pipe(..) | Object::Console => return Err(Errno::ESPIPE),
            _ => return Ok(0),
        };
        let base = match whence {
            g::SEEK_SET => 0,
            g::SEEK_CUR => f.offset as i64,
            g::SEEK_END => self.fs.size(ino)? as i64,
            _ => return Err(Errno::EINVAL),
        };
        let new = base.checked_add(offset).filter(|&o| o >= 0).ok_or(Errno::EINVAL)?;
        if let Some(f) = self.files.get_mut(id) {
            f.offset = new as u64;
        }
        Ok(new)
    }
}
