//! The RPC shapes of `interfaces/unix.defs`, wrapped for the families:
//! each takes the program's own pointers, copies what the call passes out of
//! the program's memory, makes the RPC and copies what comes back into it.
//! A failed RPC (the server gone, a malformed reply) is `-EIO`. A copy of
//! the program's memory that faults makes the call `-EFAULT`: where the
//! fault comes before the request, the request is not made; a copy out
//! that faults is marked, and the dispatch answers `-EFAULT`
//! (`trampoline::take_fault`).

use crate::trampoline::{StrError, copy_in, copy_in_str, copy_out};
use crate::transport::{PROCESS, Rpc};
use linux_raw_sys::errno;
use mach_interfaces::unix;

/// The longest path passed in-line (Linux's PATH_MAX, with its NUL).
pub const PATH_MAX: usize = 4096;

/// The most bytes `unix_write` / `unix_read` carry in-line.
pub const INLINE_DATA: usize = 3072;

/// The most bytes `unix_exchange` carries each way.
pub const EXCHANGE_DATA: usize = 1024;

pub const fn err(e: u32) -> i64 {
    -(e as i64)
}

pub const EIO: i64 = err(errno::EIO);
pub const EFAULT: i64 = err(errno::EFAULT);
pub const EINVAL: i64 = err(errno::EINVAL);
pub const ENOSYS: i64 = err(errno::ENOSYS);
pub const EINTR: i64 = err(errno::EINTR);

fn rpc_result(r: Result<i64, i32>) -> i64 {
    r.unwrap_or(EIO)
}

/// A path of the program's, without its NUL.
pub struct Path {
    buf: [u8; PATH_MAX],
    len: usize,
}

impl Path {
    /// Reads the NUL-terminated path at `ptr`: EFAULT for a null pointer,
    /// ENAMETOOLONG if it does not end within PATH_MAX bytes.
    pub fn read(ptr: u64) -> Result<Path, i64> {
        if ptr == 0 {
            return Err(EFAULT);
        }
        let mut p = Path {
            buf: [0; PATH_MAX],
            len: 0,
        };
        p.len = copy_in_str(ptr, &mut p.buf).map_err(|e| match e {
            StrError::TooLong => err(errno::ENAMETOOLONG),
            StrError::Fault => EFAULT,
        })?;
        Ok(p)
    }

    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

pub fn scalar(nr: u32, a: [u64; 6]) -> i64 {
    rpc_result(unix::unix_scalar(
        &mut Rpc, PROCESS, nr as u64, a[0], a[1], a[2], a[3], a[4], a[5],
    ))
}

pub fn path(nr: u32, a: [u64; 4], path_ptr: u64) -> i64 {
    match Path::read(path_ptr) {
        Ok(p) => rpc_result(unix::unix_path(
            &mut Rpc,
            PROCESS,
            nr as u64,
            a[0],
            a[1],
            a[2],
            a[3],
            p.bytes(),
        )),
        Err(e) => e,
    }
}

pub fn path2(nr: u32, a: [u64; 3], p1: u64, p2: u64) -> i64 {
    let (p1, p2) = match (Path::read(p1), Path::read(p2)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    rpc_result(unix::unix_path2(
        &mut Rpc,
        PROCESS,
        nr as u64,
        a[0],
        a[1],
        a[2],
        p1.bytes(),
        p2.bytes(),
    ))
}

/// A path call whose answer is bytes copied to `out` (at most `out_len`).
pub fn path_out(nr: u32, a: [u64; 3], path_ptr: u64, out: u64, out_len: usize) -> i64 {
    let p = match Path::read(path_ptr) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let mut data = [0u8; PATH_MAX];
    match unix::unix_path_out(&mut Rpc, PROCESS, nr as u64, a[0], a[1], a[2], p.bytes(), &mut data) {
        Ok(r) => {
            if r.result >= 0 {
                let _ = copy_out(out, &data[..r.data.min(out_len)]);
            }
            r.result
        }
        Err(_) => EIO,
    }
}

/// A call passing `len` bytes at `ptr` (at most INLINE_DATA).
pub fn write_inline(nr: u32, a: [u64; 3], ptr: u64, len: usize) -> i64 {
    let mut data = [0u8; INLINE_DATA];
    let len = len.min(INLINE_DATA);
    if copy_in(ptr, &mut data[..len]).is_err() {
        return EFAULT;
    }
    rpc_result(unix::unix_write(
        &mut Rpc,
        PROCESS,
        nr as u64,
        a[0],
        a[1],
        a[2],
        &data[..len],
    ))
}

/// A call passing bytes the library already holds.
pub fn write_bytes(nr: u32, a: [u64; 3], bytes: &[u8]) -> i64 {
    if bytes.len() > INLINE_DATA {
        return rpc_result(unix::unix_write_ool(
            &mut Rpc, PROCESS, nr as u64, a[0], a[1], a[2], bytes,
        ));
    }
    rpc_result(unix::unix_write(&mut Rpc, PROCESS, nr as u64, a[0], a[1], a[2], bytes))
}

/// A call whose answer is bytes, written to `out` (at most `out_len`,
/// at most INLINE_DATA) when the result is not an error.
pub fn read_inline(nr: u32, a: [u64; 4], out: u64, out_len: usize) -> i64 {
    let mut data = [0u8; INLINE_DATA];
    match unix::unix_read(&mut Rpc, PROCESS, nr as u64, a[0], a[1], a[2], a[3], &mut data) {
        Ok(r) => {
            if r.result >= 0 {
                let _ = copy_out(out, &data[..r.data.min(out_len)]);
            }
            r.result
        }
        Err(_) => EIO,
    }
}

/// [`read_inline`] into a buffer of the library's.
pub fn read_into(nr: u32, a: [u64; 4], out: &mut [u8]) -> (i64, usize) {
    match unix::unix_read(&mut Rpc, PROCESS, nr as u64, a[0], a[1], a[2], a[3], out) {
        Ok(r) => (r.result, r.data),
        Err(_) => (EIO, 0),
    }
}

/// A read of more than fits in-line: the data comes out-of-line and is
/// copied to `out`, then the region is given back.
pub fn read_ool(nr: u32, a: [u64; 3], out: u64, out_len: usize) -> i64 {
    match unix::unix_read_ool(&mut Rpc, PROCESS, nr as u64, a[0], a[1], a[2]) {
        Ok(r) => {
            let len = (r.data.count as usize).min(out_len);
            if r.result >= 0 && len > 0 {
                let mut chunk = [0u8; 512];
                let mut done = 0;
                while done < len {
                    let n = (len - done).min(chunk.len());
                    if copy_in(r.data.address + done as u64, &mut chunk[..n]).is_err()
                        || copy_out(out + done as u64, &chunk[..n]).is_err()
                    {
                        break;
                    }
                    done += n;
                }
            }
            crate::memory::give_back(r.data.address, r.data.count as u64);
            r.result
        }
        Err(_) => EIO,
    }
}

/// A call passing `input` and getting bytes back into `output`; returns
/// the result and how many bytes came back.
pub fn exchange(nr: u32, a: [u64; 4], input: &[u8], output: &mut [u8]) -> (i64, usize) {
    match unix::unix_exchange(&mut Rpc, PROCESS, nr as u64, a[0], a[1], a[2], a[3], input, output) {
        Ok(r) => (r.result, r.data_out),
        Err(_) => (EIO, 0),
    }
}

/// `execve`'s request: the image is path, arguments, environment.
pub fn execve(argc: u32, envc: u32, image: &[u8]) -> i64 {
    rpc_result(unix::unix_execve(&mut Rpc, PROCESS, argc, envc, image))
}
