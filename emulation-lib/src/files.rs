//! File, directory, descriptor and pipe calls: the arguments that are not
//! paths or buffers go as numbers, in the program's order; paths and small
//! buffers in-line; big reads and writes out-of-line.

use crate::calls::{self, EFAULT, EINVAL, EXCHANGE_DATA, INLINE_DATA};
use crate::trampoline::{copy_in, copy_out};
use linux_raw_sys::general as nr;
use linux_raw_sys::ioctl;

/// `struct stat`, `struct statx`, `struct statfs` sizes on x86_64.
const STAT_SIZE: usize = 144;
const STATX_SIZE: usize = 256;
const STATFS_SIZE: usize = 120;
/// The kernel's `struct termios` (TCGETS/TCSETS: 19 control characters, no
/// speeds; the C library's own struct is bigger).
const TERMIOS_SIZE: usize = core::mem::size_of::<linux_raw_sys::general::termios>();

/// The arguments other than the one at `skip`, in order.
fn without(a: [u64; 6], skip: usize) -> [u64; 4] {
    let mut out = [0u64; 4];
    let mut j = 0;
    for (i, v) in a.iter().enumerate() {
        if i != skip && j < 4 {
            out[j] = *v;
            j += 1;
        }
    }
    out
}

/// The arguments other than those at `p1` and `p2`, in order.
fn without2(a: [u64; 6], p1: usize, p2: usize) -> [u64; 3] {
    let mut out = [0u64; 3];
    let mut j = 0;
    for (i, v) in a.iter().enumerate() {
        if i != p1 && i != p2 && j < 3 {
            out[j] = *v;
            j += 1;
        }
    }
    out
}

pub fn call(number: u32, a: [u64; 6]) -> i64 {
    match number {
        nr::__NR_read => read(number, a[0], a[1], a[2] as usize, 0),
        nr::__NR_pread64 => read(number, a[0], a[1], a[2] as usize, a[3]),
        nr::__NR_write => write(number, a[0], a[1], a[2] as usize, 0),
        nr::__NR_pwrite64 => write(number, a[0], a[1], a[2] as usize, a[3]),
        nr::__NR_readv => readv(a[0], a[1], a[2]),
        nr::__NR_writev => writev(a[0], a[1], a[2]),
        // One path, everything else numbers.
        nr::__NR_open
        | nr::__NR_creat
        | nr::__NR_mkdir
        | nr::__NR_rmdir
        | nr::__NR_unlink
        | nr::__NR_chdir
        | nr::__NR_access
        | nr::__NR_chmod
        | nr::__NR_chown
        | nr::__NR_lchown
        | nr::__NR_truncate
        | nr::__NR_mknod => calls::path(number, without(a, 0), a[0]),
        nr::__NR_openat
        | nr::__NR_mkdirat
        | nr::__NR_unlinkat
        | nr::__NR_faccessat
        | nr::__NR_faccessat2
        | nr::__NR_fchmodat
        | nr::__NR_fchownat
        | nr::__NR_mknodat => calls::path(number, without(a, 1), a[1]),
        nr::__NR_utimensat => utimensat(a),
        // Two paths.
        nr::__NR_rename | nr::__NR_link | nr::__NR_symlink => calls::path2(number, without2(a, 0, 1), a[0], a[1]),
        nr::__NR_renameat | nr::__NR_renameat2 | nr::__NR_linkat => calls::path2(number, without2(a, 1, 3), a[1], a[3]),
        nr::__NR_symlinkat => calls::path2(number, without2(a, 0, 2), a[0], a[2]),
        // A path in, a struct or the link's text out.
        nr::__NR_stat | nr::__NR_lstat => calls::path_out(number, [0; 3], a[0], a[1], STAT_SIZE),
        nr::__NR_newfstatat => calls::path_out(number, [a[0], a[3], 0], a[1], a[2], STAT_SIZE),
        nr::__NR_statx => calls::path_out(number, [a[0], a[2], a[3]], a[1], a[4], STATX_SIZE),
        nr::__NR_statfs => calls::path_out(number, [0; 3], a[0], a[1], STATFS_SIZE),
        nr::__NR_readlink => calls::path_out(number, [a[2], 0, 0], a[0], a[1], a[2] as usize),
        nr::__NR_readlinkat => calls::path_out(number, [a[0], a[3], 0], a[1], a[2], a[3] as usize),
        // A descriptor in, bytes out.
        nr::__NR_fstat => out_struct(number, [a[0], 0, 0, 0], a[1], STAT_SIZE),
        nr::__NR_fstatfs => out_struct(number, [a[0], 0, 0, 0], a[1], STATFS_SIZE),
        nr::__NR_getdents64 => {
            let n = (a[2] as usize).min(INLINE_DATA);
            calls::read_inline(number, [a[0], n as u64, 0, 0], a[1], n)
        }
        nr::__NR_getcwd => {
            let n = (a[1] as usize).min(INLINE_DATA);
            calls::read_inline(number, [n as u64, 0, 0, 0], a[0], n)
        }
        nr::__NR_pipe => out_struct(number, [0; 4], a[0], 8),
        nr::__NR_pipe2 => out_struct(number, [a[1], 0, 0, 0], a[0], 8),
        nr::__NR_ioctl => ioctl(number, a[0], a[1], a[2]),
        nr::__NR_poll => poll(number, a[0], a[1], a[2] as i32 as i64),
        nr::__NR_ppoll => {
            let ms = match timespec_ms(a[2]) {
                Ok(ms) => ms,
                Err(e) => return e,
            };
            poll(nr::__NR_poll, a[0], a[1], ms)
        }
        nr::__NR_select => {
            let ms = match timeval_ms(a[4]) {
                Ok(ms) => ms,
                Err(e) => return e,
            };
            select(a[0], [a[1], a[2], a[3]], ms)
        }
        nr::__NR_pselect6 => {
            let ms = match timespec_ms(a[4]) {
                Ok(ms) => ms,
                Err(e) => return e,
            };
            select(a[0], [a[1], a[2], a[3]], ms)
        }
        nr::__NR_sendfile => sendfile(number, a),
        _ => calls::scalar(number, a),
    }
}

/// A fixed-size answer copied to `out` (EFAULT for a null `out`).
fn out_struct(number: u32, a: [u64; 4], out: u64, size: usize) -> i64 {
    if out == 0 {
        return EFAULT;
    }
    calls::read_inline(number, a, out, size)
}

fn read(number: u32, fd: u64, buf: u64, count: usize, offset: u64) -> i64 {
    if count <= INLINE_DATA {
        calls::read_inline(number, [fd, count as u64, offset, 0], buf, count)
    } else {
        calls::read_ool(number, [fd, count as u64, offset], buf, count)
    }
}

/// Writes up to `count` bytes; big writes go in chunks of the library's
/// buffer, stopping at the first short or failed chunk.
fn write(number: u32, fd: u64, buf: u64, count: usize, offset: u64) -> i64 {
    if count <= INLINE_DATA {
        return calls::write_inline(number, [fd, offset, 0], buf, count);
    }
    let mut chunk = [0u8; 16384];
    let mut done = 0usize;
    while done < count {
        let n = (count - done).min(chunk.len());
        if copy_in(buf.wrapping_add(done as u64), &mut chunk[..n]).is_err() {
            return if done > 0 { done as i64 } else { EFAULT };
        }
        let off = if number == nr::__NR_pwrite64 {
            offset + done as u64
        } else {
            0
        };
        let r = calls::write_bytes(number, [fd, off, 0], &chunk[..n]);
        if r < 0 {
            return if done > 0 { done as i64 } else { r };
        }
        done += r as usize;
        if (r as usize) < n {
            break;
        }
    }
    done as i64
}

/// One `struct iovec` of the program's; EFAULT if unreadable, EINVAL for
/// a length Linux refuses (more than `ssize_t` holds).
fn iovec(iov: u64, i: u64) -> Result<(u64, usize), i64> {
    let mut b = [0u8; 16];
    copy_in(iov.wrapping_add(i * 16), &mut b).map_err(|_| EFAULT)?;
    let base = u64::from_le_bytes(b[..8].try_into().unwrap_or([0; 8]));
    let len = u64::from_le_bytes(b[8..].try_into().unwrap_or([0; 8]));
    if len > i64::MAX as u64 {
        return Err(EINVAL);
    }
    Ok((base, len as usize))
}

const IOV_MAX: u64 = 1024;

/// readv fills the first non-empty buffer (a short read, as Linux allows).
fn readv(fd: u64, iov: u64, count: u64) -> i64 {
    if count > IOV_MAX {
        return EINVAL;
    }
    for i in 0..count {
        let (base, len) = match iovec(iov, i) {
            Ok(v) => v,
            Err(e) => return e,
        };
        if len > 0 {
            return read(nr::__NR_read, fd, base, len, 0);
        }
    }
    0
}

/// writev gathers small vectors into one in-line write (so a line written
/// in pieces stays one write); big ones go piece by piece.
fn writev(fd: u64, iov: u64, count: u64) -> i64 {
    if count > IOV_MAX {
        return EINVAL;
    }
    let mut total = 0usize;
    for i in 0..count {
        match iovec(iov, i) {
            Ok((_, len)) => total = total.saturating_add(len),
            Err(e) => return e,
        }
    }
    if total <= INLINE_DATA {
        let mut data = [0u8; INLINE_DATA];
        let mut at = 0;
        for i in 0..count {
            let Ok((base, len)) = iovec(iov, i) else {
                return EFAULT;
            };
            if copy_in(base, &mut data[at..at + len]).is_err() {
                return EFAULT;
            }
            at += len;
        }
        return calls::write_bytes(nr::__NR_write, [fd, 0, 0], &data[..at]);
    }
    let mut done = 0i64;
    for i in 0..count {
        let Ok((base, len)) = iovec(iov, i) else {
            return if done > 0 { done } else { EFAULT };
        };
        if len == 0 {
            continue;
        }
        let r = write(nr::__NR_write, fd, base, len, 0);
        if r < 0 {
            return if done > 0 { done } else { r };
        }
        done += r;
        if (r as usize) < len {
            break;
        }
    }
    done
}

/// utimensat(dirfd, path, times, flags): each time travels as one number,
/// seconds << 30 | nanoseconds (UTIME_NOW and UTIME_OMIT fit the low 30
/// bits); a null `times` is "now" for both; a null path is the descriptor.
fn utimensat(a: [u64; 6]) -> i64 {
    const NOW: u64 = (1 << 30) - 1;
    let mut t = [NOW, NOW];
    if a[2] != 0 {
        let mut b = [0u8; 32];
        if copy_in(a[2], &mut b).is_err() {
            return EFAULT;
        }
        for (i, slot) in t.iter_mut().enumerate() {
            let sec = u64::from_le_bytes(b[i * 16..i * 16 + 8].try_into().unwrap_or([0; 8]));
            let nsec = u64::from_le_bytes(b[i * 16 + 8..i * 16 + 16].try_into().unwrap_or([0; 8]));
            if nsec >= 1 << 30 || sec >= 1 << 34 {
                return EINVAL;
            }
            *slot = sec << 30 | nsec;
        }
    }
    if a[1] == 0 {
        return calls::scalar(nr::__NR_utimensat, [a[0], 0, t[0], t[1], a[3], 0]);
    }
    calls::path(nr::__NR_utimensat, [a[0], a[3], t[0], t[1]], a[1])
}

fn ioctl(number: u32, fd: u64, request: u64, arg: u64) -> i64 {
    let out = |size: usize| {
        if arg == 0 {
            EFAULT
        } else {
            calls::read_inline(number, [fd, request, 0, 0], arg, size)
        }
    };
    let inp = |size: usize| {
        if arg == 0 {
            EFAULT
        } else {
            calls::write_inline(number, [fd, request, 0], arg, size)
        }
    };
    match request as u32 {
        ioctl::TCGETS => out(TERMIOS_SIZE),
        ioctl::TIOCGWINSZ => out(8),
        ioctl::TIOCGPGRP | ioctl::FIONREAD | ioctl::TIOCGSID => out(4),
        ioctl::TCSETS | ioctl::TCSETSW | ioctl::TCSETSF => inp(TERMIOS_SIZE),
        ioctl::TIOCSWINSZ => inp(8),
        ioctl::TIOCSPGRP | ioctl::FIONBIO => inp(4),
        _ => calls::scalar(number, [fd, request, arg, 0, 0, 0]),
    }
}

/// A timeout given as a `struct timespec *` in milliseconds (-1: none).
fn timespec_ms(ptr: u64) -> Result<i64, i64> {
    if ptr == 0 {
        return Ok(-1);
    }
    let mut b = [0u8; 16];
    copy_in(ptr, &mut b).map_err(|_| EFAULT)?;
    let sec = i64::from_le_bytes(b[..8].try_into().unwrap_or([0; 8]));
    let nsec = i64::from_le_bytes(b[8..].try_into().unwrap_or([0; 8]));
    if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
        return Err(EINVAL);
    }
    Ok(sec.saturating_mul(1000).saturating_add((nsec + 999_999) / 1_000_000))
}

fn timeval_ms(ptr: u64) -> Result<i64, i64> {
    if ptr == 0 {
        return Ok(-1);
    }
    let mut b = [0u8; 16];
    copy_in(ptr, &mut b).map_err(|_| EFAULT)?;
    let sec = i64::from_le_bytes(b[..8].try_into().unwrap_or([0; 8]));
    let usec = i64::from_le_bytes(b[8..].try_into().unwrap_or([0; 8]));
    if sec < 0 || !(0..1_000_000).contains(&usec) {
        return Err(EINVAL);
    }
    Ok(sec.saturating_mul(1000).saturating_add((usec + 999) / 1000))
}

/// poll: the `struct pollfd` array goes both ways (at most 128 entries).
fn poll(number: u32, fds: u64, nfds: u64, timeout_ms: i64) -> i64 {
    let size = match usize::try_from(nfds).ok().and_then(|n| n.checked_mul(8)) {
        Some(s) if s <= EXCHANGE_DATA => s,
        _ => return EINVAL,
    };
    let mut input = [0u8; EXCHANGE_DATA];
    if copy_in(fds, &mut input[..size]).is_err() {
        return EFAULT;
    }
    let mut output = [0u8; EXCHANGE_DATA];
    let (r, n) = calls::exchange(number, [nfds, timeout_ms as u64, 0, 0], &input[..size], &mut output);
    if r >= 0 {
        let _ = copy_out(fds, &output[..n.min(size)]);
    }
    r
}

/// select and pselect6 as one call: the three sets (each (n + 7) / 8
/// bytes, absent ones zero) go both ways; `a2` says which were present.
fn select(n: u64, sets: [u64; 3], timeout_ms: i64) -> i64 {
    if n > 1024 {
        return EINVAL;
    }
    let len = n.div_ceil(8) as usize;
    let mut input = [0u8; 3 * 128];
    let mut present = 0u64;
    for (i, &p) in sets.iter().enumerate() {
        if p != 0 {
            if copy_in(p, &mut input[i * len..(i + 1) * len]).is_err() {
                return EFAULT;
            }
            present |= 1 << i;
        }
    }
    let mut output = [0u8; 3 * 128];
    let (r, got) = calls::exchange(
        nr::__NR_select,
        [n, timeout_ms as u64, present, 0],
        &input[..3 * len],
        &mut output,
    );
    if r >= 0 && got >= 3 * len {
        for (i, &p) in sets.iter().enumerate() {
            if p != 0 {
                let _ = copy_out(p, &output[i * len..(i + 1) * len]);
            }
        }
    }
    r
}

/// sendfile(out, in, offset *, count): the offset travels as a number
/// (u64::MAX: the file's own), and comes back advanced.
fn sendfile(number: u32, a: [u64; 6]) -> i64 {
    let mut off = u64::MAX;
    if a[2] != 0 {
        let mut b = [0u8; 8];
        if copy_in(a[2], &mut b).is_err() {
            return EFAULT;
        }
        off = u64::from_le_bytes(b);
    }
    let r = calls::scalar(number, [a[0], a[1], off, a[3], 0, 0]);
    if r > 0 && a[2] != 0 {
        let _ = copy_out(a[2], &(off + r as u64).to_le_bytes());
    }
    r
}
