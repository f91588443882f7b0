//! Files, directories, descriptors and pipes: the calls of the `unix`
//! interface that name them, over `unix_core::fs` (the root file system in
//! memory), `unix_core::fdtable` (each process's descriptors) and
//! `unix_core::pipe`. Open file descriptions (offset, status flags, what
//! they refer to) are shared by dup'd descriptors and across fork, kept
//! here by id with reference counts.
//!
//! Devices are character-device inodes of the file system (`/dev/null`,
//! `/dev/zero`, `/dev/full`, `/dev/random`, `/dev/urandom`, `/dev/tty`,
//! `/dev/console`), recognised by their numbers when opened.

use crate::blocking::Wait;
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
    fn base(&self, port: u32, dirfd: u64, path: &[u8]) -> Result<Ino> {
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
    fn fd(&self, port: u32, fd: u64) -> Result<u32> {
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
    fn install(&mut self, port: u32, id: u32, cloexec: bool) -> i64 {
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

    fn open(&mut self, port: u32, dirfd: u64, path: &[u8], flags: u32, mode: u32) -> Result<i64> {
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
    fn sendfile(&mut self, port: u32, out: u64, inp: u64, offset: u64, count: u64) -> Result<i64> {
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

    fn inode_of(&self, port: u32, fd: u64) -> Result<Ino> {
        match self.files.get(self.fd(port, fd)?).map(|f| f.object) {
            Some(Object::Inode(ino)) => Ok(ino),
            Some(_) => Err(Errno::EINVAL),
            None => Err(Errno::EBADF),
        }
    }

    fn close(&mut self, port: u32, fd: u64) -> Result<i64> {
        let p = self.procs.by_port_mut(port).ok_or(Errno::ESRCH)?;
        let id = p.fds.close(i32::try_from(fd).map_err(|_| Errno::EBADF)?)?;
        self.release_file(id);
        Ok(0)
    }

    fn dup(&mut self, port: u32, fd: u64, min: u64, cloexec: bool) -> Result<i64> {
        let id = self.fd(port, fd)?;
        let min = i32::try_from(min).map_err(|_| Errno::EINVAL)?;
        let p = self.procs.by_port_mut(port).ok_or(Errno::ESRCH)?;
        let new = p.fds.insert_from(min, id, cloexec)?;
        self.files.retain(id);
        Ok(new as i64)
    }

    fn dup2(&mut self, port: u32, old: u64, new: u64, cloexec: Option<bool>) -> Result<i64> {
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

    fn fcntl(&mut self, port: u32, fd: u64, cmd: u32, arg: u64) -> Result<i64> {
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

    fn lseek(&mut self, port: u32, fd: u64, offset: i64, whence: u32) -> Result<i64> {
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

    /// Path calls: a0.. are the call's other arguments in order.
    pub fn file_path(&mut self, port: u32, number: u32, a: [u64; 4], path: &[u8]) -> Option<i64> {
        let cwd = self.procs.by_port(port).map(|p| p.cwd).unwrap_or(ROOT_INO);
        let umask = self.procs.by_port(port).map(|p| p.umask).unwrap_or(0o022);
        let r = match number {
            g::__NR_open => self.open(port, g::AT_FDCWD as u64, path, a[0] as u32, a[1] as u32),
            g::__NR_openat => self.open(port, a[0], path, a[1] as u32, a[2] as u32),
            g::__NR_creat => self.open(
                port,
                g::AT_FDCWD as u64,
                path,
                g::O_CREAT | g::O_WRONLY | g::O_TRUNC,
                a[0] as u32,
            ),
            g::__NR_mkdir => self.fs.mkdir(cwd, path, a[0] as u32 & !umask & 0o7777, 0, 0).map(|_| 0),
            g::__NR_mkdirat => self
                .base(port, a[0], path)
                .and_then(|b| self.fs.mkdir(b, path, a[1] as u32 & !umask & 0o7777, 0, 0).map(|_| 0)),
            g::__NR_rmdir => self.fs.rmdir(cwd, path).map(|_| 0),
            g::__NR_unlink => self.fs.unlink(cwd, path).map(|_| 0),
            g::__NR_unlinkat => self.base(port, a[0], path).and_then(|b| {
                if a[1] as u32 & g::AT_REMOVEDIR != 0 {
                    self.fs.rmdir(b, path)
                } else {
                    self.fs.unlink(b, path)
                }
                .map(|_| 0)
            }),
            g::__NR_chdir => self.fs.lookup(cwd, path, true).and_then(|ino| {
                if self.fs.file_type(ino)? != FileType::Directory {
                    return Err(Errno::ENOTDIR);
                }
                if let Some(p) = self.procs.by_port_mut(port) {
                    p.cwd = ino;
                }
                Ok(0)
            }),
            g::__NR_access => self.fs.lookup(cwd, path, true).map(|_| 0),
            g::__NR_faccessat | g::__NR_faccessat2 => self
                .base(port, a[0], path)
                .and_then(|b| self.fs.lookup(b, path, true).map(|_| 0)),
            g::__NR_chmod => self
                .fs
                .lookup(cwd, path, true)
                .and_then(|ino| self.fs.chmod(ino, a[0] as u32).map(|_| 0)),
            g::__NR_fchmodat => self
                .base(port, a[0], path)
                .and_then(|b| self.fs.lookup(b, path, true))
                .and_then(|ino| self.fs.chmod(ino, a[1] as u32).map(|_| 0)),
            g::__NR_chown | g::__NR_lchown => self.fs.lookup(cwd, path, number == g::__NR_chown).map(|_| 0),
            g::__NR_fchownat => self
                .base(port, a[0], path)
                .and_then(|b| self.fs.lookup(b, path, true).map(|_| 0)),
            g::__NR_truncate => self
                .fs
                .lookup(cwd, path, true)
                .and_then(|ino| self.fs.truncate(ino, a[0] as i64).map(|_| 0)),
            g::__NR_mknod => self.fs.mknod(cwd, path, a[0] as u32, (0, 0), 0, 0).map(|_| 0),
            g::__NR_mknodat => self
                .base(port, a[0], path)
                .and_then(|b| self.fs.mknod(b, path, a[1] as u32, (0, 0), 0, 0).map(|_| 0)),
            g::__NR_utimensat => self.base(port, a[0], path).and_then(|b| {
                let follow = a[1] as u32 & g::AT_SYMLINK_NOFOLLOW == 0;
                let ino = self.fs.lookup(b, path, follow)?;
                self.utimens(ino, a[2], a[3])
            }),
            _ => return None,
        };
        Some(r.unwrap_or_else(|e| e.as_return()))
    }

    /// Sets an inode's times from utimensat's packed numbers.
    fn utimens(&mut self, ino: Ino, atime: u64, mtime: u64) -> Result<i64> {
        use unix_core::fs::SetTime;
        let t = |v: u64| SetTime::from_timespec((v >> 30) as i64, (v & ((1 << 30) - 1)) as i64);
        self.fs.utimens(ino, t(atime)?, t(mtime)?)?;
        Ok(0)
    }

    pub fn file_path2(&mut self, port: u32, number: u32, a: [u64; 3], p1: &[u8], p2: &[u8]) -> Option<i64> {
        let cwd = self.procs.by_port(port).map(|p| p.cwd).unwrap_or(ROOT_INO);
        let r = match number {
            g::__NR_rename => self.fs.rename(cwd, p1, cwd, p2).map(|_| 0),
            g::__NR_renameat | g::__NR_renameat2 => self
                .base(port, a[0], p1)
                .and_then(|b1| Ok((b1, self.base(port, a[1], p2)?)))
                .and_then(|(b1, b2)| self.fs.rename(b1, p1, b2, p2).map(|_| 0)),
            g::__NR_link => self.fs.link(cwd, p1, cwd, p2, false).map(|_| 0),
            g::__NR_linkat => self
                .base(port, a[0], p1)
                .and_then(|b1| Ok((b1, self.base(port, a[1], p2)?)))
                .and_then(|(b1, b2)| {
                    self.fs
                        .link(b1, p1, b2, p2, a[2] as u32 & g::AT_SYMLINK_FOLLOW != 0)
                        .map(|_| 0)
                }),
            g::__NR_symlink => self.fs.symlink(p1, cwd, p2, 0, 0).map(|_| 0),
            g::__NR_symlinkat => self
                .base(port, a[0], p2)
                .and_then(|b| self.fs.symlink(p1, b, p2, 0, 0).map(|_| 0)),
            _ => return None,
        };
        Some(r.unwrap_or_else(|e| e.as_return()))
    }

    /// readlink of the few /proc links programs read.
    fn proc_link(&self, port: u32, path: &[u8]) -> Option<Vec<u8>> {
        let p = self.procs.by_port(port)?;
        let rest = path.strip_prefix(b"/proc/self/").or_else(|| {
            let mut pre = Vec::from(&b"/proc/"[..]);
            pre.extend_from_slice(alloc::format!("{}/", p.pid).as_bytes());
            path.strip_prefix(&pre[..])
        })?;
        if rest == b"exe" {
            return Some(p.exe.as_bytes().into());
        }
        None
    }

    pub fn file_path_out(
        &mut self,
        port: u32,
        number: u32,
        a: [u64; 3],
        path: &[u8],
        out: &mut [u8],
    ) -> Option<(i64, usize)> {
        let cwd = self.procs.by_port(port).map(|p| p.cwd).unwrap_or(ROOT_INO);
        let stat = |s: &Self, ino: Ino, out: &mut [u8]| -> Result<(i64, usize)> {
            let b = s.fs.stat(ino)?.to_bytes();
            out[..b.len()].copy_from_slice(&b);
            Ok((0, b.len()))
        };
        let r = match number {
            g::__NR_stat => self.fs.lookup(cwd, path, true).and_then(|ino| stat(self, ino, out)),
            g::__NR_lstat => self.fs.lookup(cwd, path, false).and_then(|ino| stat(self, ino, out)),
            g::__NR_newfstatat => {
                let flags = a[1] as u32;
                if path.is_empty() && flags & g::AT_EMPTY_PATH != 0 {
                    self.fstat(port, a[0], out)
                } else {
                    self.base(port, a[0], path)
                        .and_then(|b| self.fs.lookup(b, path, flags & g::AT_SYMLINK_NOFOLLOW == 0))
                        .and_then(|ino| stat(self, ino, out))
                }
            }
            g::__NR_readlink | g::__NR_readlinkat => {
                let (dirfd, size) = if number == g::__NR_readlink {
                    (g::AT_FDCWD as u64, a[0])
                } else {
                    (a[0], a[1])
                };
                if size as i64 <= 0 {
                    Err(Errno::EINVAL)
                } else if let Some(target) = self.proc_link(port, path) {
                    let n = target.len().min(size as usize).min(out.len());
                    out[..n].copy_from_slice(&target[..n]);
                    Ok((n as i64, n))
                } else {
                    self.base(port, dirfd, path).and_then(|b| {
                        let t = self.fs.readlink(b, path)?;
                        let n = t.len().min(size as usize).min(out.len());
                        out[..n].copy_from_slice(&t[..n]);
                        Ok((n as i64, n))
                    })
                }
            }
            g::__NR_statfs => self.fs.lookup(cwd, path, true).map(|_| statfs(out)),
            g::__NR_statx => return Some((Errno::ENOSYS.as_return(), 0)),
            _ => return None,
        };
        Some(r.unwrap_or_else(|e| (e.as_return(), 0)))
    }

    fn fstat(&self, port: u32, fd: u64, out: &mut [u8]) -> Result<(i64, usize)> {
        let id = self.fd(port, fd)?;
        let object = self.files.get(id).ok_or(Errno::EBADF)?.object;
        let bytes = match object {
            Object::Inode(ino) => self.fs.stat(ino)?.to_bytes(),
            Object::Pipe(..) => special_stat(g::S_IFIFO | 0o600, 0),
            Object::Console => special_stat(g::S_IFCHR | 0o620, unix_core::fs::makedev(5, 1)),
            _ => special_stat(g::S_IFCHR | 0o666, unix_core::fs::makedev(1, 3)),
        };
        out[..bytes.len()].copy_from_slice(&bytes);
        Ok((0, bytes.len()))
    }

    /// Bytes-in calls: write, pwrite64, ioctl inputs.
    pub fn file_write(&mut self, port: u32, number: u32, a: [u64; 3], data: &[u8]) -> Option<i64> {
        let r = match number {
            g::__NR_write => self.write(port, a[0], data, None),
            g::__NR_pwrite64 => self.write(port, a[0], data, Some(a[1])),
            g::__NR_ioctl => self
                .fd(port, a[0])
                .and_then(|id| match self.files.get(id).map(|f| f.object) {
                    Some(Object::Console) => {
                        // TCSETS, TCSETSW, TCSETSF: the console's modes (ICANON,
                        // ECHO, ICRNL) as the line discipline applies them.
                        let set = matches!(a[1] as u32, ioctl::TCSETS | ioctl::TCSETSW | ioctl::TCSETSF);
                        if set && data.len() >= crate::console::TERMIOS_SIZE {
                            self.console
                                .termios
                                .copy_from_slice(&data[..crate::console::TERMIOS_SIZE]);
                        }
                        Ok(0)
                    }
                    _ => Err(Errno::ENOTTY),
                }),
            _ => return None,
        };
        Some(r.unwrap_or_else(|e| e.as_return()))
    }

    fn write(&mut self, port: u32, fd: u64, data: &[u8], at: Option<u64>) -> Result<i64> {
        let id = self.fd(port, fd)?;
        let f = self.files.get(id).ok_or(Errno::EBADF)?;
        if f.flags & g::O_ACCMODE == g::O_RDONLY {
            return Err(Errno::EBADF);
        }
        let (object, offset, append) = (f.object, f.offset, f.flags & g::O_APPEND != 0);
        match object {
            Object::Console => Ok(crate::console::write(data) as i64),
            Object::Null | Object::Zero | Object::Random => Ok(data.len() as i64),
            Object::Full => Err(Errno::ENOSPC),
            Object::Inode(ino) => {
                let off = match at {
                    Some(o) => o,
                    None if append => self.fs.size(ino)?,
                    None => offset,
                };
                let n = self.fs.write_at(ino, off, data)?;
                if at.is_none() {
                    if let Some(f) = self.files.get_mut(id) {
                        f.offset = off + n as u64;
                    }
                }
                Ok(n as i64)
            }
            Object::Pipe(p, true) => {
                // A write that waits keeps at most a pipe's worth (the
                // library sends 16 KiB at a time; a process sending more
                // itself gets a partial write), so no request can make the
                // server hold more than that for it.
                let data = &data[..data.len().min(unix_core::pipe::PIPE_CAPACITY)];
                let nonblock = self.files.get(id).is_some_and(|f| f.flags & g::O_NONBLOCK != 0);
                let pipe = self.files.pipes.get_mut(&p).ok_or(Errno::EPIPE)?;
                let r = pipe.write(data);
                match r {
                    Ok(io) if io.n == data.len() || nonblock => {
                        self.pipe_changed(p);
                        Ok(io.n as i64)
                    }
                    Ok(io) => {
                        // A blocking write goes in whole: the rest waits for room.
                        self.pipe_changed(p);
                        let wait = Wait::PipeWrite {
                            pipe: p,
                            data: data.into(),
                            done: io.n,
                        };
                        self.block(port, wait);
                        Ok(0)
                    }
                    Err(e) if e == Errno::EAGAIN && !nonblock => {
                        let wait = Wait::PipeWrite {
                            pipe: p,
                            data: data.into(),
                            done: 0,
                        };
                        self.block(port, wait);
                        Ok(0)
                    }
                    Err(e) if e == Errno::EPIPE => {
                        self.signal(port, g::SIGPIPE);
                        Err(e)
                    }
                    Err(e) => Err(e),
                }
            }
            Object::Pipe(_, false) => Err(Errno::EBADF),
        }
    }

    /// Bytes-out calls: read, pread64, getdents64, getcwd, fstat, pipe(2),
    /// ioctl outputs, and the process ones that answer a struct.
    pub fn file_read(&mut self, port: u32, number: u32, a: [u64; 4], out: &mut [u8]) -> Option<(i64, usize)> {
        let r = match number {
            g::__NR_read => self.read(port, a[0], (a[1] as usize).min(out.len()), None, out),
            g::__NR_pread64 => self.read(port, a[0], (a[1] as usize).min(out.len()), Some(a[2]), out),
            g::__NR_fstat => self.fstat(port, a[0], out),
            g::__NR_fstatfs => self.fd(port, a[0]).map(|_| statfs(out)),
            g::__NR_getdents64 => self.getdents(port, a[0], (a[1] as usize).min(out.len()), out),
            g::__NR_getcwd => self.getcwd(port, a[0] as usize, out),
            g::__NR_pipe | g::__NR_pipe2 => self.pipe(port, if number == g::__NR_pipe { 0 } else { a[0] as u32 }, out),
            g::__NR_ioctl => self.ioctl_out(port, a[0], a[1] as u32, out),
            _ => return None,
        };
        Some(r.unwrap_or_else(|e| (e.as_return(), 0)))
    }

    fn read(&mut self, port: u32, fd: u64, count: usize, at: Option<u64>, out: &mut [u8]) -> Result<(i64, usize)> {
        let id = self.fd(port, fd)?;
        let f = self.files.get(id).ok_or(Errno::EBADF)?;
        if f.flags & g::O_ACCMODE == g::O_WRONLY {
            return Err(Errno::EBADF);
        }
        let (object, offset) = (f.object, f.offset);
        let buf = &mut out[..count];
        let n = match object {
            Object::Null => 0,
            Object::Console => match self.console.take(count) {
                Some(bytes) => {
                    buf[..bytes.len()].copy_from_slice(&bytes);
                    bytes.len()
                }
                None if count == 0 => 0,
                None => {
                    self.block(port, Wait::ConsoleRead { count });
                    self.start_console_read();
                    0
                }
            },
            Object::Zero | Object::Full => {
                buf.fill(0);
                count
            }
            Object::Random => self.fill_random(buf),
            Object::Inode(ino) => {
                if self.fs.file_type(ino)? == FileType::Directory {
                    return Err(Errno::EISDIR);
                }
                let n = self.fs.read_at(ino, at.unwrap_or(offset), buf)?;
                if at.is_none() {
                    if let Some(f) = self.files.get_mut(id) {
                        f.offset = offset + n as u64;
                    }
                }
                n
            }
            Object::Pipe(p, false) => {
                let nonblock = self.files.get(id).is_some_and(|f| f.flags & g::O_NONBLOCK != 0);
                let pipe = self.files.pipes.get_mut(&p).ok_or(Errno::EBADF)?;
                match pipe.read(buf) {
                    Ok(io) => {
                        self.pipe_changed(p);
                        io.n
                    }
                    Err(e) if e == Errno::EAGAIN && !nonblock && count > 0 => {
                        self.block(port, Wait::PipeRead { pipe: p, count });
                        0
                    }
                    Err(e) => return Err(e),
                }
            }
            Object::Pipe(_, true) => return Err(Errno::EBADF),
        };
        Ok((n as i64, n))
    }

    fn getdents(&mut self, port: u32, fd: u64, count: usize, out: &mut [u8]) -> Result<(i64, usize)> {
        let id = self.fd(port, fd)?;
        let f = self.files.get(id).ok_or(Errno::EBADF)?;
        let Object::Inode(ino) = f.object else {
            return Err(Errno::ENOTDIR);
        };
        let (n, next) = self.fs.getdents64(ino, f.offset, &mut out[..count])?;
        if let Some(f) = self.files.get_mut(id) {
            f.offset = next;
        }
        Ok((n as i64, n))
    }

    fn getcwd(&mut self, port: u32, size: usize, out: &mut [u8]) -> Result<(i64, usize)> {
        let cwd = self.procs.by_port(port).ok_or(Errno::ESRCH)?.cwd;
        let mut path = self.fs.path_of(cwd)?;
        path.push(0);
        if path.len() > size || path.len() > out.len() {
            return Err(Errno::ERANGE);
        }
        out[..path.len()].copy_from_slice(&path);
        Ok((path.len() as i64, path.len()))
    }

    fn pipe(&mut self, port: u32, flags: u32, out: &mut [u8]) -> Result<(i64, usize)> {
        if flags & !(g::O_CLOEXEC | g::O_NONBLOCK) != 0 {
            return Err(Errno::EINVAL);
        }
        let (r, w) = self.files.new_pipe(flags);
        let cloexec = flags & g::O_CLOEXEC != 0;
        let rfd = self.install(port, r, cloexec);
        if rfd < 0 {
            self.release_file(w);
            return Err(Errno(-rfd as u32));
        }
        let wfd = self.install(port, w, cloexec);
        if wfd < 0 {
            let _ = self.close(port, rfd as u64);
            return Err(Errno(-wfd as u32));
        }
        out[..4].copy_from_slice(&(rfd as i32).to_le_bytes());
        out[4..8].copy_from_slice(&(wfd as i32).to_le_bytes());
        Ok((0, 8))
    }

    fn ioctl_out(&mut self, port: u32, fd: u64, request: u32, out: &mut [u8]) -> Result<(i64, usize)> {
        let id = self.fd(port, fd)?;
        let object = self.files.get(id).ok_or(Errno::EBADF)?.object;
        if object != Object::Console {
            return Err(Errno::ENOTTY);
        }
        let pid = self.procs.by_port(port).map(|p| p.pid).unwrap_or(0);
        let pgid = self.procs.unix.getpgid(pid, 0).unwrap_or(0);
        match request {
            ioctl::TCGETS => {
                let t = self.console.termios;
                out[..t.len()].copy_from_slice(&t);
                Ok((0, t.len()))
            }
            ioctl::TIOCGWINSZ => {
                let ws: [u16; 4] = [24, 80, 0, 0];
                for (i, v) in ws.iter().enumerate() {
                    out[i * 2..i * 2 + 2].copy_from_slice(&v.to_le_bytes());
                }
                Ok((0, 8))
            }
            ioctl::TIOCGPGRP | ioctl::TIOCGSID => {
                out[..4].copy_from_slice(&pgid.to_le_bytes());
                Ok((0, 4))
            }
            ioctl::FIONREAD => {
                out[..4].copy_from_slice(&(self.console.ready.len() as u32).to_le_bytes());
                Ok((0, 4))
            }
            _ => Err(Errno::EINVAL),
        }
    }

    /// Bytes-both-ways calls about files: poll, select.
    pub fn file_exchange(
        &mut self,
        port: u32,
        number: u32,
        a: [u64; 4],
        data: &[u8],
        out: &mut [u8],
    ) -> Option<(i64, usize)> {
        let r = match number {
            g::__NR_poll => self.poll(port, a[0] as usize, a[1] as i64, data, out),
            _ => return None,
        };
        Some(r.unwrap_or_else(|e| (e.as_return(), 0)))
    }

    /// poll without waiting: every descriptor's readiness now.
    /// poll: every descriptor's readiness now; with none ready and a
    /// timeout that is not 0, the call waits (for console input, a pipe's
    /// change, or the timeout: `timeout_ms` < 0 is none).
    fn poll(&mut self, port: u32, nfds: usize, timeout_ms: i64, data: &[u8], out: &mut [u8]) -> Result<(i64, usize)> {
        let (ready, size) = self.poll_now(port, nfds, data, out)?;
        if ready == 0 && timeout_ms != 0 {
            let deadline =
                (timeout_ms > 0).then(|| crate::blocking::now().saturating_add(timeout_ms as u64 * 1_000_000));
            self.block(
                port,
                Wait::Poll {
                    fds: data[..size].into(),
                    deadline,
                },
            );
            self.start_console_read();
        }
        Ok((ready, size))
    }

    /// poll's answer now.
    pub fn poll_now(&mut self, port: u32, nfds: usize, data: &[u8], out: &mut [u8]) -> Result<(i64, usize)> {
        let size = nfds
            .checked_mul(8)
            .filter(|&s| s <= data.len() && s <= out.len())
            .ok_or(Errno::EINVAL)?;
        out[..size].copy_from_slice(&data[..size]);
        let mut ready = 0;
        for rec in out[..size].chunks_mut(8) {
            let fd = i32::from_le_bytes(rec[..4].try_into().unwrap_or([0; 4]));
            let events = i16::from_le_bytes(rec[4..6].try_into().unwrap_or([0; 2])) as u32;
            let revents: u32 = if fd < 0 {
                0
            } else {
                let ready = match self
                    .fd(port, fd as u64)
                    .ok()
                    .and_then(|id| self.files.get(id))
                    .map(|f| f.object)
                {
                    None => g::POLLNVAL,
                    Some(Object::Pipe(p, write)) => match self.files.pipes.get(&p) {
                        Some(pipe) if write => pipe.poll_write_end(),
                        Some(pipe) => pipe.poll_read_end(),
                        None => g::POLLERR,
                    },
                    Some(Object::Console) => {
                        g::POLLOUT
                            | if self.console.ready.is_empty() && !self.console.eof {
                                0
                            } else {
                                g::POLLIN
                            }
                    }
                    Some(_) => g::POLLIN | g::POLLOUT,
                };
                ready & (events | g::POLLERR | g::POLLHUP | g::POLLNVAL)
            };
            rec[6..8].copy_from_slice(&(revents as u16).to_le_bytes());
            if revents != 0 {
                ready += 1;
            }
        }
        Ok((ready, size))
    }

    /// A file's bytes for a private mapping: `size` bytes from `offset`,
    /// zero past the end.
    /// Only the file's own pages are copied (a mapping past the end is
    /// demand-zero memory), so a process naming a huge length makes the
    /// server hold no more than the file.
    pub fn file_bytes_for_mmap(&mut self, port: u32, fd: i32, offset: u64, size: u64) -> Result<Vec<u8>> {
        let ino = self.inode_of(port, fd as u64)?;
        let held = self.fs.size(ino)?.saturating_sub(offset).min(size);
        let len = crate::exec::page_up(held).unwrap_or(size).min(size);
        let mut bytes = alloc::vec![0u8; usize::try_from(len).map_err(|_| Errno::ENOMEM)?];
        self.fs.read_at(ino, offset, &mut bytes)?;
        Ok(bytes)
    }
}

/// A `struct stat` for objects with no inode.
fn special_stat(mode: u32, rdev: u64) -> [u8; unix_core::fs::STAT_SIZE] {
    let s = unix_core::fs::Stat {
        dev: 0,
        ino: 0,
        nlink: 1,
        mode,
        uid: 0,
        gid: 0,
        rdev,
        size: 0,
        blksize: 4096,
        blocks: 0,
        atime: Default::default(),
        mtime: Default::default(),
        ctime: Default::default(),
    };
    s.to_bytes()
}

/// A `struct statfs` for the in-memory root file system (tmpfs's magic).
fn statfs(out: &mut [u8]) -> (i64, usize) {
    const SIZE: usize = 120;
    let n = SIZE.min(out.len());
    out[..n].fill(0);
    let words: [u64; 7] = [0x0102_1994, 4096, 65536, 32768, 32768, 65536, 32768];
    for (i, w) in words.iter().enumerate() {
        out[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
    }
    (0, n)
}
