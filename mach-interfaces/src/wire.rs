//! Byte-level Mach message encoding and decoding shared by every generated
//! stub: bounds-checked little-endian field access, header and descriptor
//! codecs, the request/reply layout checks, error replies and the release walk
//! for malformed requests; in-line arrays in [`inline`] (re-exported here).
//!
//! Everything works on byte slices with checked offsets: nothing here panics,
//! indexes out of bounds or interprets a port name or an address.

use mach_abi::kern_return::{KERN_FAILURE, KERN_RESOURCE_SHORTAGE, KERN_SUCCESS};
use mach_abi::message::{
    MACH_MSG_HEADER_SIZE, MACH_MSG_OOL_DESCRIPTOR, MACH_MSG_OOL_PORTS_DESCRIPTOR, MACH_MSG_OOL_VOLATILE_DESCRIPTOR,
    MACH_MSG_PORT_DESCRIPTOR, MACH_MSG_TRAILER_SIZE, MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND,
    MACH_MSG_TYPE_MAKE_SEND_ONCE, MACH_MSG_TYPE_MOVE_RECEIVE, MACH_MSG_TYPE_MOVE_SEND, MACH_MSG_TYPE_MOVE_SEND_ONCE,
    MACH_MSG_TYPE_PORT_RECEIVE, MACH_MSG_TYPE_PORT_SEND, MACH_MSG_TYPE_PORT_SEND_ONCE, MACH_MSG_VIRTUAL_COPY,
    MACH_MSGH_BITS_COMPLEX, MIG_ARRAY_TOO_LARGE, MIG_BAD_ID, MIG_REPLY_ID_OFFSET, MIG_REPLY_MISMATCH, MIG_TYPE_ERROR,
    MachMsgHeader, MachMsgTrailer, mach_msgh_bits, mach_msgh_bits_remote,
};

use crate::runtime::{Dispatch, OolArray, OolPorts, PolyPort, Release, Transport};

pub mod inline;
pub use inline::*;

/// Header + `RetCode`: the size of every error reply.
pub const ERROR_REPLY_SIZE: usize = MACH_MSG_HEADER_SIZE + 4;
/// Offset of the body (descriptor count) in a complex message.
pub const BODY_OFFSET: usize = MACH_MSG_HEADER_SIZE;
/// Offset of the first descriptor.
pub const FIRST_DESCRIPTOR_OFFSET: usize = BODY_OFFSET + 4;
const PORT_DESCRIPTOR_SIZE: usize = 12;
const OOL_DESCRIPTOR_SIZE: usize = 16;

// ---- Fields ----

fn get_bytes<const N: usize>(m: &[u8], off: usize) -> Option<[u8; N]> {
    m.get(off..off.checked_add(N)?)?.try_into().ok()
}

fn put_bytes<const N: usize>(m: &mut [u8], off: usize, v: [u8; N]) -> Option<()> {
    m.get_mut(off..off.checked_add(N)?)?.copy_from_slice(&v);
    Some(())
}

pub fn get_u8(m: &[u8], off: usize) -> Option<u8> {
    m.get(off).copied()
}
pub fn get_u32(m: &[u8], off: usize) -> Option<u32> {
    get_bytes(m, off).map(u32::from_le_bytes)
}
pub fn get_i32(m: &[u8], off: usize) -> Option<i32> {
    get_bytes(m, off).map(i32::from_le_bytes)
}
pub fn get_u64(m: &[u8], off: usize) -> Option<u64> {
    get_bytes(m, off).map(u64::from_le_bytes)
}
pub fn get_i64(m: &[u8], off: usize) -> Option<i64> {
    get_bytes(m, off).map(i64::from_le_bytes)
}
pub fn put_u8(m: &mut [u8], off: usize, v: u8) -> Option<()> {
    put_bytes(m, off, [v])
}
pub fn put_u32(m: &mut [u8], off: usize, v: u32) -> Option<()> {
    put_bytes(m, off, v.to_le_bytes())
}
pub fn put_i32(m: &mut [u8], off: usize, v: i32) -> Option<()> {
    put_bytes(m, off, v.to_le_bytes())
}
pub fn put_u64(m: &mut [u8], off: usize, v: u64) -> Option<()> {
    put_bytes(m, off, v.to_le_bytes())
}
pub fn put_i64(m: &mut [u8], off: usize, v: i64) -> Option<()> {
    put_bytes(m, off, v.to_le_bytes())
}

/// `buf[..size]`, zeroed; `None` if `buf` is shorter.
pub fn begin(buf: &mut [u8], size: usize) -> Option<&mut [u8]> {
    let m = buf.get_mut(..size)?;
    m.fill(0);
    Some(m)
}

// ---- Header ----

pub fn read_header(m: &[u8]) -> Option<MachMsgHeader> {
    Some(MachMsgHeader {
        bits: get_u32(m, 0)?,
        size: get_u32(m, 4)?,
        remote_port: get_u32(m, 8)?,
        local_port: get_u32(m, 12)?,
        voucher_port: get_u32(m, 16)?,
        id: get_i32(m, 20)?,
    })
}

pub fn write_header(m: &mut [u8], h: &MachMsgHeader) -> Option<()> {
    put_u32(m, 0, h.bits)?;
    put_u32(m, 4, h.size)?;
    put_u32(m, 8, h.remote_port)?;
    put_u32(m, 12, h.local_port)?;
    put_u32(m, 16, h.voucher_port)?;
    put_i32(m, 20, h.id)
}

/// A client request header: `bits` (remote disposition and complex bit),
/// `remote_port` the destination; local port and voucher zero.
pub fn put_request_header(m: &mut [u8], bits: u32, size: usize, remote_port: u32, id: i32) -> Option<()> {
    let size = u32::try_from(size).ok()?;
    write_header(
        m,
        &MachMsgHeader {
            bits,
            size,
            remote_port,
            local_port: 0,
            voucher_port: 0,
            id,
        },
    )
}

// ---- Descriptors ----

/// Writes a port descriptor.
pub fn put_port(m: &mut [u8], off: usize, name: u32, disposition: u8) -> Option<()> {
    put_bytes(m, off, [0u8; PORT_DESCRIPTOR_SIZE])?;
    put_u32(m, off, name)?;
    put_u8(m, off.checked_add(10)?, disposition)?;
    put_u8(m, off.checked_add(11)?, MACH_MSG_PORT_DESCRIPTOR)
}

/// Writes an out-of-line memory descriptor (virtual copy).
pub fn put_ool(m: &mut [u8], off: usize, address: u64, size: u32, deallocate: bool) -> Option<()> {
    put_u64(m, off, address)?;
    put_u8(m, off.checked_add(8)?, u8::from(deallocate))?;
    put_u8(m, off.checked_add(9)?, MACH_MSG_VIRTUAL_COPY)?;
    put_u8(m, off.checked_add(10)?, 0)?;
    put_u8(m, off.checked_add(11)?, MACH_MSG_OOL_DESCRIPTOR)?;
    put_u32(m, off.checked_add(12)?, size)
}

/// Writes an out-of-line ports descriptor (virtual copy).
pub fn put_ool_ports(
    m: &mut [u8],
    off: usize,
    address: u64,
    count: u32,
    disposition: u8,
    deallocate: bool,
) -> Option<()> {
    put_u64(m, off, address)?;
    put_u8(m, off.checked_add(8)?, u8::from(deallocate))?;
    put_u8(m, off.checked_add(9)?, MACH_MSG_VIRTUAL_COPY)?;
    put_u8(m, off.checked_add(10)?, disposition)?;
    put_u8(m, off.checked_add(11)?, MACH_MSG_OOL_PORTS_DESCRIPTOR)?;
    put_u32(m, off.checked_add(12)?, count)
}

/// The descriptor type byte of the descriptor at `off`, if the whole
/// descriptor (12 or 16 bytes, by type) lies within `m`.
pub fn descriptor_type(m: &[u8], off: usize) -> Option<u8> {
    let t = get_u8(m, off.checked_add(11)?)?;
    let size = if t == MACH_MSG_PORT_DESCRIPTOR {
        PORT_DESCRIPTOR_SIZE
    } else {
        OOL_DESCRIPTOR_SIZE
    };
    m.get(off..off.checked_add(size)?)?;
    Some(t)
}

fn port_fields(m: &[u8], off: usize) -> Option<(u32, u8)> {
    if descriptor_type(m, off)? != MACH_MSG_PORT_DESCRIPTOR {
        return None;
    }
    Some((get_u32(m, off)?, get_u8(m, off.checked_add(10)?)?))
}

/// A received port descriptor whose received type must be `received_type`.
pub fn get_port(m: &[u8], off: usize, received_type: u8) -> Option<u32> {
    let (name, t) = port_fields(m, off)?;
    (t == received_type).then_some(name)
}

/// A received port descriptor with any right type (`port_poly`).
pub fn get_port_poly(m: &[u8], off: usize) -> Option<PolyPort> {
    let (name, t) = port_fields(m, off)?;
    is_port_type(t).then_some(PolyPort { name, disposition: t })
}

/// A received out-of-line memory descriptor of `elem_size`-byte elements.
pub fn get_ool(m: &[u8], off: usize, elem_size: u32) -> Option<OolArray> {
    if descriptor_type(m, off)? != MACH_MSG_OOL_DESCRIPTOR {
        return None;
    }
    let size = get_u32(m, off.checked_add(12)?)?;
    if elem_size == 0 || size % elem_size != 0 {
        return None;
    }
    Some(OolArray {
        address: get_u64(m, off)?,
        count: size / elem_size,
    })
}

/// A received out-of-line ports descriptor whose received type must be `received_type`.
pub fn get_ool_ports(m: &[u8], off: usize, received_type: u8) -> Option<OolPorts> {
    if descriptor_type(m, off)? != MACH_MSG_OOL_PORTS_DESCRIPTOR || get_u8(m, off.checked_add(10)?)? != received_type {
        return None;
    }
    Some(OolPorts {
        address: get_u64(m, off)?,
        count: get_u32(m, off.checked_add(12)?)?,
    })
}

// ---- Conversions ----

/// The type a receiver holds after a right is sent with `disposition`.
pub const fn received_type(disposition: u8) -> Option<u8> {
    match disposition {
        MACH_MSG_TYPE_MOVE_RECEIVE => Some(MACH_MSG_TYPE_PORT_RECEIVE),
        MACH_MSG_TYPE_MOVE_SEND | MACH_MSG_TYPE_COPY_SEND | MACH_MSG_TYPE_MAKE_SEND => Some(MACH_MSG_TYPE_PORT_SEND),
        MACH_MSG_TYPE_MOVE_SEND_ONCE | MACH_MSG_TYPE_MAKE_SEND_ONCE => Some(MACH_MSG_TYPE_PORT_SEND_ONCE),
        _ => None,
    }
}

/// Is `t` the received type of a right (receive, send or send-once)?
pub const fn is_port_type(t: u8) -> bool {
    matches!(
        t,
        MACH_MSG_TYPE_PORT_RECEIVE | MACH_MSG_TYPE_PORT_SEND | MACH_MSG_TYPE_PORT_SEND_ONCE
    )
}

/// The address of a slice, as an out-of-line descriptor carries it.
pub fn slice_address<T>(s: &[T]) -> u64 {
    s.as_ptr().addr() as u64
}

/// `count * elem_size` as a descriptor size, if it fits.
pub fn ool_bytes(count: usize, elem_size: usize) -> Option<u32> {
    u32::try_from(count.checked_mul(elem_size)?).ok()
}

// ---- Client side ----

/// Checks a received reply against the expected id and layout and returns
/// the message (`msg[..msgh_size]`).
///
/// Errors: fewer bytes than a header or than `msgh_size` → `MIG_TYPE_ERROR`;
/// another id → `MIG_REPLY_MISMATCH`; a simple 28-byte reply with a nonzero
/// `RetCode` → that code; any other size, complex bit, descriptor count or a
/// nonzero `RetCode` in a full reply → `MIG_TYPE_ERROR`.
pub fn check_reply(
    msg: &[u8],
    reply_id: i32,
    size: usize,
    descriptors: u32,
    ret_code_offset: usize,
) -> Result<&[u8], i32> {
    check_reply_in(msg, reply_id, size, size, descriptors, ret_code_offset)
}

/// [`check_reply`] for a reply with in-line arrays, whose size may be
/// anything in `min_size..=max_size` (the decoder then checks that the
/// arrays end exactly at `msgh_size`).
pub fn check_reply_in(
    msg: &[u8],
    reply_id: i32,
    min_size: usize,
    max_size: usize,
    descriptors: u32,
    ret_code_offset: usize,
) -> Result<&[u8], i32> {
    let hdr = read_header(msg).ok_or(MIG_TYPE_ERROR)?;
    if hdr.id != reply_id {
        return Err(MIG_REPLY_MISMATCH);
    }
    let msize = usize::try_from(hdr.size).map_err(|_| MIG_TYPE_ERROR)?;
    let m = msg.get(..msize).ok_or(MIG_TYPE_ERROR)?;
    let complex = hdr.bits & MACH_MSGH_BITS_COMPLEX != 0;
    if is_error_reply(m) {
        let code = get_i32(m, MACH_MSG_HEADER_SIZE).ok_or(MIG_TYPE_ERROR)?;
        if code != KERN_SUCCESS {
            return Err(code);
        }
    }
    if !(min_size..=max_size).contains(&msize) || complex != (descriptors > 0) {
        return Err(MIG_TYPE_ERROR);
    }
    if descriptors > 0 && get_u32(m, BODY_OFFSET) != Some(descriptors) {
        return Err(MIG_TYPE_ERROR);
    }
    if get_i32(m, ret_code_offset) != Some(KERN_SUCCESS) {
        return Err(MIG_TYPE_ERROR);
    }
    Ok(m)
}

/// Is `m` (a message cut to its `msgh_size`) shaped like an error reply:
/// simple and exactly header + `RetCode`?
fn is_error_reply(m: &[u8]) -> bool {
    m.len() == ERROR_REPLY_SIZE && get_u32(m, 0).is_some_and(|bits| bits & MACH_MSGH_BITS_COMPLEX == 0)
}

/// The client half of a routine: send `buf[..send_size]`, receive into `buf`,
/// decode. A reply the decoder rejects as not ours or malformed is handed to
/// [`Transport::discard_reply`], and so is a good reply whose in-line arrays
/// do not fit the caller's buffers (`MIG_ARRAY_TOO_LARGE` from a full reply,
/// not from a server's error reply): it may carry rights or memory.
pub fn rpc<T: Transport + ?Sized, O, D: FnOnce(&[u8]) -> Result<O, i32>>(
    t: &mut T,
    buf: &mut [u8],
    send_size: usize,
    decode: D,
) -> Result<O, i32> {
    let n = t.call(buf, send_size)?;
    let reply = buf.get(..n).ok_or(MIG_TYPE_ERROR)?;
    let result = decode(reply);
    let rejected = match result {
        Err(MIG_TYPE_ERROR | MIG_REPLY_MISMATCH) => true,
        Err(MIG_ARRAY_TOO_LARGE) => {
            let size = read_header(reply).and_then(|h| usize::try_from(h.size).ok());
            !size.and_then(|s| reply.get(..s)).is_some_and(is_error_reply)
        }
        _ => false,
    };
    if rejected {
        t.discard_reply(reply);
    }
    result
}

// ---- Server side ----

/// The message of a request (`request[..msgh_size]`) if it has exactly `size`
/// bytes, the complex bit iff `descriptors > 0`, and that descriptor count.
pub fn request_body<'a>(request: &'a [u8], hdr: &MachMsgHeader, size: usize, descriptors: u32) -> Option<&'a [u8]> {
    request_body_in(request, hdr, size, size, descriptors)
}

/// [`request_body`] for a request with in-line arrays, whose `msgh_size` may
/// be anything in `min_size..=max_size` (the decoder then checks that the
/// arrays end exactly there).
pub fn request_body_in<'a>(
    request: &'a [u8],
    hdr: &MachMsgHeader,
    min_size: usize,
    max_size: usize,
    descriptors: u32,
) -> Option<&'a [u8]> {
    let size = usize::try_from(hdr.size).ok()?;
    if !(min_size..=max_size).contains(&size) {
        return None;
    }
    let m = request.get(..size)?;
    let complex = hdr.bits & MACH_MSGH_BITS_COMPLEX != 0;
    if complex != (descriptors > 0) {
        return None;
    }
    if descriptors > 0 && get_u32(m, BODY_OFFSET)? != descriptors {
        return None;
    }
    Some(m)
}

/// The disposition a reply uses for the request's reply right: `MOVE_SEND_ONCE`
/// for a send-once right (the usual case), `MOVE_SEND` for a send right, 0
/// when the request carried no reply right.
pub fn reply_disposition(request: &MachMsgHeader) -> u8 {
    match mach_msgh_bits_remote(request.bits) {
        MACH_MSG_TYPE_PORT_SEND_ONCE => MACH_MSG_TYPE_MOVE_SEND_ONCE,
        MACH_MSG_TYPE_PORT_SEND => MACH_MSG_TYPE_MOVE_SEND,
        _ => 0,
    }
}

/// The reply right of a received request and its type, if it carries one.
pub fn reply_port(request: &[u8]) -> Option<(u32, u8)> {
    let hdr = read_header(request)?;
    let t = mach_msgh_bits_remote(hdr.bits);
    matches!(t, MACH_MSG_TYPE_PORT_SEND | MACH_MSG_TYPE_PORT_SEND_ONCE).then_some((hdr.remote_port, t))
}

/// The trailer that follows a received request's `msgh_size` bytes, if present.
pub fn request_trailer(request: &[u8]) -> Option<MachMsgTrailer> {
    let off = usize::try_from(read_header(request)?.size).ok()?;
    let t = request.get(off..off.checked_add(MACH_MSG_TRAILER_SIZE)?)?;
    Some(MachMsgTrailer {
        trailer_type: get_u32(t, 0)?,
        trailer_size: get_u32(t, 4)?,
        seqno: get_u32(t, 8)?,
        sender: [get_u32(t, 12)?, get_u32(t, 16)?],
    })
}

/// A reply header answering `request`: remote port = the request's reply
/// right, id = request id + 100.
pub fn put_reply_header(m: &mut [u8], request: &MachMsgHeader, size: usize, complex: bool) -> Option<()> {
    let complex_bit = if complex { MACH_MSGH_BITS_COMPLEX } else { 0 };
    write_header(
        m,
        &MachMsgHeader {
            bits: mach_msgh_bits(reply_disposition(request), 0) | complex_bit,
            size: u32::try_from(size).ok()?,
            remote_port: request.remote_port,
            local_port: 0,
            voucher_port: 0,
            id: request.id.wrapping_add(MIG_REPLY_ID_OFFSET),
        },
    )
}

/// Writes the 28-byte error reply carrying `code`.
pub fn write_error_reply(request: &MachMsgHeader, reply: &mut [u8], code: i32) -> Option<usize> {
    let m = begin(reply, ERROR_REPLY_SIZE)?;
    put_reply_header(m, request, ERROR_REPLY_SIZE, false)?;
    put_i32(m, MACH_MSG_HEADER_SIZE, code)?;
    Some(ERROR_REPLY_SIZE)
}

/// Answers `request` with error `code` (`KERN_SUCCESS` is sent as
/// `KERN_FAILURE`: an error reply must not read as success).
pub fn error_reply(request: &MachMsgHeader, reply: &mut [u8], code: i32) -> Dispatch {
    let code = if code == KERN_SUCCESS { KERN_FAILURE } else { code };
    match write_error_reply(request, reply, code) {
        Some(n) => Dispatch::Reply(n),
        None => Dispatch::NoReply,
    }
}

/// The answer to an id no routine of the subsystem has.
pub fn bad_id(request: &MachMsgHeader, reply: &mut [u8]) -> Dispatch {
    Dispatch::BadId(write_error_reply(request, reply, MIG_BAD_ID).unwrap_or(0))
}

/// Refuses a request: releases every right and region it brought, then
/// answers with error `code` (or, if `reply` cannot hold an error reply,
/// releases the reply right too and sends nothing).
pub fn reject<R: Release + ?Sized>(
    r: &mut R,
    request_hdr: &MachMsgHeader,
    request: &[u8],
    reply: &mut [u8],
    code: i32,
) -> Dispatch {
    release_descriptors(r, request);
    match write_error_reply(request_hdr, reply, code) {
        Some(n) => Dispatch::Reply(n),
        None => {
            release_reply_right(r, request_hdr);
            Dispatch::NoReply
        }
    }
}

/// Refuses a well-formed request because `reply` is too small for its reply
/// (`KERN_RESOURCE_SHORTAGE`).
pub fn reply_too_small<R: Release + ?Sized>(
    r: &mut R,
    request_hdr: &MachMsgHeader,
    request: &[u8],
    reply: &mut [u8],
) -> Dispatch {
    reject(r, request_hdr, request, reply, KERN_RESOURCE_SHORTAGE)
}

/// Releases the request's reply right, if it carries one (used where no reply
/// will be sent).
pub fn release_reply_right<R: Release + ?Sized>(r: &mut R, request_hdr: &MachMsgHeader) {
    let t = mach_msgh_bits_remote(request_hdr.bits);
    if t == MACH_MSG_TYPE_PORT_SEND || t == MACH_MSG_TYPE_PORT_SEND_ONCE {
        r.release_port(request_hdr.remote_port, t);
    }
}

/// Releases every valid-looking descriptor of a received request: only if
/// the complex bit is set, at most the body's count, only descriptors lying
/// wholly within both `msgh_size` and `request`, and only port descriptors
/// with a right type. The walk stops at the first unknown descriptor type.
pub fn release_descriptors<R: Release + ?Sized>(r: &mut R, request: &[u8]) {
    let Some(hdr) = read_header(request) else { return };
    if hdr.bits & MACH_MSGH_BITS_COMPLEX == 0 {
        return;
    }
    let end = usize::try_from(hdr.size).map_or(request.len(), |s| s.min(request.len()));
    let Some(m) = request.get(..end) else { return };
    let Some(count) = get_u32(m, BODY_OFFSET) else { return };
    let mut off = FIRST_DESCRIPTOR_OFFSET;
    for _ in 0..count {
        let Some(t) = descriptor_type(m, off) else { return };
        let fields = || -> Option<(u64, u8, u32)> {
            Some((
                get_u64(m, off)?,
                get_u8(m, off.checked_add(10)?)?,
                get_u32(m, off.checked_add(12)?)?,
            ))
        };
        let size = match t {
            MACH_MSG_PORT_DESCRIPTOR => {
                if let Some((name, rt)) = port_fields(m, off).filter(|(_, rt)| is_port_type(*rt)) {
                    r.release_port(name, rt);
                }
                PORT_DESCRIPTOR_SIZE
            }
            MACH_MSG_OOL_DESCRIPTOR | MACH_MSG_OOL_VOLATILE_DESCRIPTOR => {
                if let Some((address, _, size)) = fields() {
                    r.release_ool(address, u64::from(size));
                }
                OOL_DESCRIPTOR_SIZE
            }
            MACH_MSG_OOL_PORTS_DESCRIPTOR => {
                if let Some((address, rt, n)) = fields().filter(|(_, rt, _)| is_port_type(*rt)) {
                    r.release_ool_ports(address, n, rt);
                }
                OOL_DESCRIPTOR_SIZE
            }
            _ => return,
        };
        let Some(next) = off.checked_add(size) else { return };
        off = next;
    }
}
