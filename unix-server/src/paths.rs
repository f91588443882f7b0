//! Path calls of the `unix` interface: those naming a file by path (open
//! excepted, which lives with the descriptor table), stat and statfs,
//! links, `/proc/self` links, directory entries by path.

use crate::server::Unix;
use alloc::vec::Vec;
use linux_raw_sys::general as g;
use unix_core::errno::{Errno, Result};
use unix_core::fs::{FileType, Ino, ROOT_INO};

use crate::files::Object;

impl Unix {
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
    pub(crate) fn utimens(&mut self, ino: Ino, atime: u64, mtime: u64) -> Result<i64> {
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
    pub(crate) fn proc_link(&self, port: u32, path: &[u8]) -> Option<Vec<u8>> {
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

    pub(crate) fn fstat(&self, port: u32, fd: u64, out: &mut [u8]) -> Result<(i64, usize)> {
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
pub(crate) fn statfs(out: &mut [u8]) -> (i64, usize) {
    const SIZE: usize = 120;
    let n = SIZE.min(out.len());
    out[..n].fill(0);
    let words: [u64; 7] = [0x0102_1994, 4096, 65536, 32768, 32768, 65536, 32768];
    for (i, w) in words.iter().enumerate() {
        out[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
    }
    (0, n)
}
