//! Data calls of the `unix` interface: read and write (files, pipes, the
//! console, devices), getdents64, getcwd, pipe creation, ioctl, poll, and
//! the bytes a private file mapping copies.

use crate::blocking::Wait;
use crate::server::Unix;
use alloc::vec::Vec;
use linux_raw_sys::general as g;
use linux_raw_sys::ioctl;
use unix_core::errno::{Errno, Result};
use unix_core::fs::FileType;

use crate::files::Object;

impl Unix {
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

    pub(crate) fn write(&mut self, port: u32, fd: u64, data: &[u8], at: Option<u64>) -> Result<i64> {
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
            g::__NR_fstatfs => self.fd(port, a[0]).map(|_| crate::paths::statfs(out)),
            g::__NR_getdents64 => self.getdents(port, a[0], (a[1] as usize).min(out.len()), out),
            g::__NR_getcwd => self.getcwd(port, a[0] as usize, out),
            g::__NR_pipe | g::__NR_pipe2 => self.pipe(port, if number == g::__NR_pipe { 0 } else { a[0] as u32 }, out),
            g::__NR_ioctl => self.ioctl_out(port, a[0], a[1] as u32, out),
            _ => return None,
        };
        Some(r.unwrap_or_else(|e| (e.as_return(), 0)))
    }

    pub(crate) fn read(
        &mut self,
        port: u32,
        fd: u64,
        count: usize,
        at: Option<u64>,
        out: &mut [u8],
    ) -> Result<(i64, usize)> {
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

    pub(crate) fn getdents(&mut self, port: u32, fd: u64, count: usize, out: &mut [u8]) -> Result<(i64, usize)> {
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

    pub(crate) fn getcwd(&mut self, port: u32, size: usize, out: &mut [u8]) -> Result<(i64, usize)> {
        let cwd = self.procs.by_port(port).ok_or(Errno::ESRCH)?.cwd;
        let mut path = self.fs.path_of(cwd)?;
        path.push(0);
        if path.len() > size || path.len() > out.len() {
            return Err(Errno::ERANGE);
        }
        out[..path.len()].copy_from_slice(&path);
        Ok((path.len() as i64, path.len()))
    }

    pub(crate) fn pipe(&mut self, port: u32, flags: u32, out: &mut [u8]) -> Result<(i64, usize)> {
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

    pub(crate) fn ioctl_out(&mut self, port: u32, fd: u64, request: u32, out: &mut [u8]) -> Result<(i64, usize)> {
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
    pub(crate) fn poll(
        &mut self,
        port: u32,
        nfds: usize,
        timeout_ms: i64,
        data: &[u8],
        out: &mut [u8],
    ) -> Result<(i64, usize)> {
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
