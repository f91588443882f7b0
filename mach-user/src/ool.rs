//! Received out-of-line memory as an owned value: [`OolRegion`].
//!
//! When a message with an out-of-line descriptor is received, the kernel maps
//! the data into the receiving task at an address of its choosing and the
//! receiver owns those pages (the generated stubs hand them over as an
//! [`OolArray`]). An `OolRegion` takes that ownership: it derefs to the bytes
//! (`[u8]`) and deallocates the pages when dropped, unless handed on with
//! [`OolRegion::into_raw`]. This module holds the only `unsafe` needed to
//! read received memory, so programs that use it carry none.

use crate::ipc::task_self;
use crate::rpc::vm_deallocate_no_reply;
use core::ops::{Deref, DerefMut};
use mach_interfaces::OolArray;

/// Out-of-line memory this task received and owns: `len` bytes at `address`.
///
/// # Where one may come from
/// Only from memory the kernel mapped into this task for a received message:
/// an [`OolArray`] that a generated stub returned or a server method was
/// given, or the address and size of an out-of-line descriptor in a message
/// this task received. The region then owns those pages: nothing else in the
/// task may deallocate or keep references into them. Building one over other
/// memory (a hand-made address, memory still owned elsewhere) breaks that, as
/// would calling `vm_deallocate` on memory Rust code still uses.
///
/// A read can still fault if the sender's memory was backed by a pager that
/// cannot supply it (the task then takes a memory exception, as it would
/// reading any such memory).
#[derive(Debug, PartialEq, Eq)]
pub struct OolRegion {
    address: u64,
    len: usize,
}

impl OolRegion {
    /// An empty region (nothing to read or deallocate).
    pub const EMPTY: OolRegion = OolRegion { address: 0, len: 0 };

    /// Takes ownership of `len` received bytes at `address`. A zero length
    /// or a null address makes an empty region that deallocates nothing (the
    /// kernel passes address 0 for a zero-size descriptor); so does a length
    /// that does not fit in the address space.
    pub fn from_received(address: u64, len: u64) -> OolRegion {
        match usize::try_from(len) {
            Ok(len) if address != 0 && len != 0 && address.checked_add(len as u64).is_some() => {
                OolRegion { address, len }
            }
            _ => OolRegion::EMPTY,
        }
    }

    /// Takes ownership of a received `ool<u8>` array (`count` bytes).
    pub fn bytes(array: OolArray) -> OolRegion {
        OolRegion::from_received(array.address, u64::from(array.count))
    }

    /// Takes ownership of a received `ool<u32>` array (`count` words, so
    /// `4 * count` bytes); read it with [`OolRegion::words`].
    pub fn u32s(array: OolArray) -> OolRegion {
        OolRegion::from_received(array.address, 4 * u64::from(array.count))
    }

    /// Takes ownership of a received `ool<u64>` array (`count` words, so
    /// `8 * count` bytes); read it with [`OolRegion::words64`].
    pub fn u64s(array: OolArray) -> OolRegion {
        OolRegion::from_received(array.address, 8 * u64::from(array.count))
    }

    /// Where the region starts (0 if empty).
    pub fn address(&self) -> u64 {
        self.address
    }

    /// The region's bytes as little-endian `u32`s (a trailing partial word
    /// is left out), for `ool<u32>` arrays such as port names.
    pub fn words(&self) -> impl Iterator<Item = u32> + '_ {
        self.chunks_exact(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
    }

    /// The region's bytes as little-endian `u64`s (a trailing partial word
    /// is left out), for `ool<u64>` arrays.
    pub fn words64(&self) -> impl Iterator<Item = u64> + '_ {
        self.chunks_exact(8).map(|w| {
            let mut b = [0u8; 8];
            b.copy_from_slice(w);
            u64::from_le_bytes(b)
        })
    }

    /// Gives the memory up without deallocating it: returns its address and
    /// length in bytes, and the caller owns it again (to send it on with the
    /// deallocate flag, or to keep it for good).
    pub fn into_raw(self) -> (u64, u64) {
        let raw = (self.address, self.len as u64);
        core::mem::forget(self);
        raw
    }

    /// Keeps the memory mapped for the rest of the task's life.
    pub fn leak(self) -> &'static mut [u8] {
        let raw = self.raw();
        core::mem::forget(self);
        // SAFETY: see `raw`; the region was forgotten, so nothing will ever
        // deallocate the pages and this is the only reference to them.
        unsafe { &mut *raw }
    }

    /// The region as a raw slice pointer (dangling, never null, when empty).
    ///
    /// Dereferencing it is sound while the region lives, and this is the
    /// argument every `unsafe` block here relies on: `address` and `len`
    /// describe out-of-line memory the kernel mapped into this task, readable
    /// and writable, when it received the message (see "Where one may come
    /// from"); the address is not null and `address + len` does not wrap
    /// (checked in `from_received`). The region owns those pages: only its
    /// `drop` deallocates them, and a reference made from it borrows the
    /// region, so none outlives them; nobody else holds references into them,
    /// so `&mut` through `&mut self` aliases nothing. Received memory is a
    /// private copy (mapped copy-on-write or filled into fresh pages), so no
    /// other task changes it under a shared reference. Bytes have no invalid
    /// values and no alignment.
    fn raw(&self) -> *mut [u8] {
        let start = if self.len == 0 {
            core::ptr::NonNull::<u8>::dangling().as_ptr()
        } else {
            self.address as *mut u8
        };
        core::ptr::slice_from_raw_parts_mut(start, self.len)
    }
}

impl Deref for OolRegion {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: see `raw`: owned, mapped, private memory of `len` bytes.
        unsafe { &*self.raw() }
    }
}

impl DerefMut for OolRegion {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: see `raw`; `&mut self` makes this the only reference.
        unsafe { &mut *self.raw() }
    }
}

impl Drop for OolRegion {
    /// Deallocates the pages (with a `vm_deallocate` whose reply is not
    /// awaited: the kernel serves its task port as the request is sent, so
    /// the pages are gone when this returns).
    fn drop(&mut self) {
        if self.len != 0 {
            let _ = vm_deallocate_no_reply(task_self(), self.address, self.len as u64);
        }
    }
}
