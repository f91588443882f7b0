//! Where each argument sits in a request or reply: the wire layout rules.
//!
//! Request: header (24 bytes); if any argument is a descriptor, the body (a
//! `u32` descriptor count) and the descriptors in declaration order (12-byte
//! port, 16-byte out-of-line memory / ports); then the scalars in declaration
//! order; then the in-line arrays in declaration order. Reply: the same with
//! the outputs, except that a `RetCode: i32` comes between the descriptors
//! and the scalars. Every piece is a multiple of 4 bytes, so every field is
//! 4-byte aligned (a `u64` may be only 4-aligned, as in XNU's `pack(4)`).
//!
//! An in-line array (`inline<u8, N>`) is a `u32` count followed by that many
//! bytes, zero-padded to a multiple of 4, so the next array's count stays
//! 4-aligned. The arrays come last, after every fixed-size field, so every
//! descriptor and scalar has a fixed offset; only the arrays after the first
//! move with the counts before them. A message with arrays is as long as its
//! arrays actually are (`msgh_size` = fixed part + each array's count and
//! padded bytes), between [`Layout::size`] (all empty) and
//! [`Layout::max_size`] (all full).

use crate::ast::{Arg, ArgKind, INLINE_COUNT_SIZE, Routine};
use crate::error::ErrorKind;

pub const HEADER_SIZE: usize = 24;
pub const BODY_SIZE: usize = 4;
pub const RET_CODE_SIZE: usize = 4;
/// Header + RetCode: the size of every error reply.
pub const ERROR_REPLY_SIZE: usize = HEADER_SIZE + RET_CODE_SIZE;
/// Bytes the kernel appends to a received message.
pub const TRAILER_SIZE: usize = 20;
/// `MACH_MSG_SIZE_MAX`.
pub const MSG_SIZE_MAX: usize = 64 * 1024;
/// `MACH_MSG_DESCRIPTORS_MAX`.
pub const DESCRIPTORS_MAX: usize = 1024;

/// One argument and its byte offset from the start of the message.
#[derive(Clone, Copy, Debug)]
pub struct Slot<'a> {
    pub arg: &'a Arg,
    pub offset: usize,
}

/// The layout of one message.
#[derive(Clone, Debug)]
pub struct Layout<'a> {
    /// Total size with every in-line array empty: without arrays the size
    /// (header to last scalar), which is also `msgh_size`.
    pub size: usize,
    /// Total size with every in-line array full (`size` without arrays).
    pub max_size: usize,
    /// Where the in-line arrays start: the end of the fixed-size part.
    pub arrays_offset: usize,
    pub descriptors: Vec<Slot<'a>>,
    pub scalars: Vec<Slot<'a>>,
    /// The in-line arrays in declaration order; `offset` is where the array's
    /// count sits when every earlier array is full (its place in a message of
    /// `max_size` bytes, where a server writes its outputs).
    pub arrays: Vec<Slot<'a>>,
    /// Offset of `RetCode` (replies only).
    pub ret_code: Option<usize>,
}

impl Layout<'_> {
    pub fn is_complex(&self) -> bool {
        !self.descriptors.is_empty()
    }

    /// Does the size depend on in-line arrays?
    pub fn is_variable(&self) -> bool {
        !self.arrays.is_empty()
    }

    pub fn descriptor_count(&self) -> usize {
        self.descriptors.len()
    }
}

fn build(args: &[Arg], with_ret_code: bool) -> Layout<'_> {
    let mut off = HEADER_SIZE;
    let mut descriptors = Vec::new();
    if args.iter().any(|a| a.kind.is_descriptor()) {
        off += BODY_SIZE;
        for arg in args.iter().filter(|a| a.kind.is_descriptor()) {
            descriptors.push(Slot { arg, offset: off });
            off += arg.kind.wire_size();
        }
    }
    let ret_code = with_ret_code.then_some(off);
    if with_ret_code {
        off += RET_CODE_SIZE;
    }
    let mut scalars = Vec::new();
    for arg in args.iter().filter(|a| matches!(a.kind, ArgKind::Scalar(_))) {
        scalars.push(Slot { arg, offset: off });
        off += arg.kind.wire_size();
    }
    let arrays_offset = off;
    let mut max_size = off;
    let mut arrays = Vec::new();
    for arg in args.iter().filter(|a| a.kind.is_inline_array()) {
        arrays.push(Slot { arg, offset: max_size });
        off += INLINE_COUNT_SIZE;
        max_size = max_size.saturating_add(arg.kind.wire_size());
    }
    Layout {
        size: off,
        max_size,
        arrays_offset,
        descriptors,
        scalars,
        arrays,
        ret_code,
    }
}

/// The request of `r`.
pub fn request(r: &Routine) -> Layout<'_> {
    build(&r.inputs, false)
}

/// The (success) reply of `r`; `None` for a simpleroutine.
pub fn reply(r: &Routine) -> Option<Layout<'_>> {
    (!r.is_simple()).then(|| build(&r.outputs, true))
}

/// Bytes a client stub's buffer needs: the larger message (at its largest)
/// plus a trailer, rounded up to 8.
pub fn client_buffer_size(r: &Routine) -> usize {
    let req = request(r).max_size;
    let n = match reply(r) {
        Some(rep) => req.max(rep.max_size) + TRAILER_SIZE,
        None => req,
    };
    n.div_ceil(8) * 8
}

/// Rejects routines whose messages (at their largest) break `mach_msg`'s limits.
pub fn check_limits(r: &Routine) -> Result<(), ErrorKind> {
    let mut layouts = vec![request(r)];
    layouts.extend(reply(r));
    for l in layouts {
        if l.max_size > MSG_SIZE_MAX || l.descriptor_count() > DESCRIPTORS_MAX {
            return Err(ErrorKind::MessageTooLarge {
                routine: r.name.clone(),
                size: l.max_size,
            });
        }
    }
    Ok(())
}
