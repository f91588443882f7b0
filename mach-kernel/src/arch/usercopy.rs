//! The user-memory copy layer: the only way the kernel reads or writes user
//! memory.
//!
//! A user address is an allegation until checked: [`copy_from_user`] and
//! [`copy_to_user`] reject ranges that overflow or reach into the kernel half,
//! then copy with `rep movsq` and `rep movsb` (for the tail), whose faults are caught: the page-fault handler
//! asks [`fixup_for`] and resumes at `copy_user_fixup`, which returns an error
//! instead of crashing the kernel. With SMAP on, the copy runs between `stac`
//! and `clac`; everywhere else a kernel access to user memory is a kernel bug
//! and faults.
//!
//! A page a copy touches may not be resident yet: the fault handler resolves
//! it and the copy goes on, waiting for a pager if it must. Code that cannot
//! wait (it holds the kernel-state lock, which a pager's answer needs) copies
//! with the `_nowait` variants, during which [`in_nowait_copy`] is true and
//! the fault handler fails the copy instead of waiting.

use super::cpu::{MAX_CPUS, cpu_id, smap_enabled};
use core::arch::global_asm;
use core::sync::atomic::{AtomicBool, Ordering};
use mach_abi::layout::USER_END;

global_asm!(
    r#"
    .section .text.usercopy, "ax"
    .global copy_user_raw
// rdi = dst, rsi = src, rdx = len, ecx = use stac/clac. Returns 0 or 1 (fault).
copy_user_raw:
    mov %ecx, %r8d
    test %r8d, %r8d
    jz 1f
    stac
1:  mov %rdx, %rcx
    shr $3, %rcx
    .global copy_user_start
copy_user_start:
    rep movsq
    mov %rdx, %rcx
    and $7, %rcx
    .global copy_user_tail
copy_user_tail:
    rep movsb
    xor %eax, %eax
    jmp 2f
    .global copy_user_fixup
copy_user_fixup:
    mov $1, %eax
2:  test %r8d, %r8d
    jz 3f
    clac
3:  ret
    "#,
    options(att_syntax)
);

unsafe extern "C" {
    fn copy_user_raw(dst: *mut u8, src: *const u8, len: usize, smap: u32) -> u64;
    static copy_user_start: u8;
    static copy_user_tail: u8;
    static copy_user_fixup: u8;
}

/// A user address as a task gave it (a trap argument, a field of a message):
/// an allegation until this layer checks and copies it. Nothing else turns
/// one into bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserAddr(u64);

impl UserAddr {
    pub const fn new(addr: u64) -> Self {
        UserAddr(addr)
    }

    /// The address as a number (for the VM map, which checks ranges itself).
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The address `offset` bytes on, unless that overflows.
    pub fn offset(self, offset: u64) -> Option<UserAddr> {
        self.0.checked_add(offset).map(UserAddr)
    }
}

/// A user address range that could not be copied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadUserAddress;

#[inline(always)]
fn check_range(addr: u64, len: usize) -> Result<(), BadUserAddress> {
    let end = addr.checked_add(len as u64).ok_or(BadUserAddress)?;
    if end > USER_END {
        return Err(BadUserAddress);
    }
    Ok(())
}

/// Copies `dst.len()` bytes from user address `src` in the current address space.
#[inline]
pub fn copy_from_user(dst: &mut [u8], src: UserAddr) -> Result<(), BadUserAddress> {
    let src = src.0;
    if dst.is_empty() {
        return Ok(());
    }
    check_range(src, dst.len())?;
    // SAFETY: dst is a valid kernel buffer of dst.len() bytes; src lies entirely
    // in the user half (checked above), and any fault while reading it is caught
    // by the page-fault handler through fixup_for, so no kernel memory can be
    // read and no fault can escape.
    let r = unsafe { copy_user_raw(dst.as_mut_ptr(), src as *const u8, dst.len(), smap_enabled() as u32) };
    if r == 0 { Ok(()) } else { Err(BadUserAddress) }
}

/// Copies `len` bytes from user address `src` into the start of `dst`, which
/// need not be initialised (a stack buffer costs nothing to set up); returns
/// the bytes copied.
#[inline(always)]
pub fn copy_from_user_uninit(
    dst: &mut [core::mem::MaybeUninit<u8>],
    src: UserAddr,
    len: usize,
) -> Result<&[u8], BadUserAddress> {
    let room = dst.get_mut(..len).ok_or(BadUserAddress)?;
    if len == 0 {
        return Ok(&[]);
    }
    check_range(src.0, len)?;
    // SAFETY: `room` is `len` bytes valid for writes; the source lies
    // entirely in the user half (checked) and faults on it are caught (see
    // copy_from_user).
    let r = unsafe {
        copy_user_raw(
            room.as_mut_ptr() as *mut u8,
            src.0 as *const u8,
            len,
            smap_enabled() as u32,
        )
    };
    if r != 0 {
        return Err(BadUserAddress);
    }
    // SAFETY: the copy above initialised all `len` bytes of `room`.
    Ok(unsafe { core::slice::from_raw_parts(room.as_ptr() as *const u8, len) })
}

/// Appends `len` bytes from user address `src` to `dst` (reserving room as
/// needed), without zeroing the room first; on error `dst` is unchanged.
pub fn copy_from_user_append(dst: &mut alloc::vec::Vec<u8>, src: UserAddr, len: usize) -> Result<(), BadUserAddress> {
    if len == 0 {
        return Ok(());
    }
    check_range(src.0, len)?;
    dst.try_reserve(len).map_err(|_| BadUserAddress)?;
    let room = &mut dst.spare_capacity_mut()[..len];
    // SAFETY: `room` is `len` bytes of `dst`'s spare capacity (reserved
    // above), valid for writes; the source lies entirely in the user half
    // (checked) and faults on it are caught (see copy_from_user).
    let r = unsafe {
        copy_user_raw(
            room.as_mut_ptr() as *mut u8,
            src.0 as *const u8,
            len,
            smap_enabled() as u32,
        )
    };
    if r != 0 {
        return Err(BadUserAddress);
    }
    let new_len = dst.len() + len;
    // SAFETY: the copy above initialised the `len` bytes past the old length.
    unsafe { dst.set_len(new_len) };
    Ok(())
}

/// Copies `src` to user address `dst` in the current address space.
#[inline(always)]
pub fn copy_to_user(dst: UserAddr, src: &[u8]) -> Result<(), BadUserAddress> {
    let dst = dst.0;
    if src.is_empty() {
        return Ok(());
    }
    check_range(dst, src.len())?;
    // SAFETY: as in copy_from_user, with the roles swapped: the destination is
    // entirely in the user half and faults on it are caught.
    let r = unsafe { copy_user_raw(dst as *mut u8, src.as_ptr(), src.len(), smap_enabled() as u32) };
    if r == 0 { Ok(()) } else { Err(BadUserAddress) }
}

/// Set on a CPU while it runs a `_nowait` copy.
static NOWAIT: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];

/// Whether the user copy running on this CPU must not wait for a pager.
pub fn in_nowait_copy() -> bool {
    NOWAIT[cpu_id()].load(Ordering::Relaxed)
}

fn nowait<R>(f: impl FnOnce() -> R) -> R {
    let flag = &NOWAIT[cpu_id()];
    let outer = flag.swap(true, Ordering::Relaxed);
    let r = f();
    flag.store(outer, Ordering::Relaxed);
    r
}

/// [`copy_from_user`] that fails rather than wait for a pager.
pub fn copy_from_user_nowait(dst: &mut [u8], src: UserAddr) -> Result<(), BadUserAddress> {
    nowait(|| copy_from_user(dst, src))
}

/// [`copy_to_user`] that fails rather than wait for a pager.
pub fn copy_to_user_nowait(dst: UserAddr, src: &[u8]) -> Result<(), BadUserAddress> {
    nowait(|| copy_to_user(dst, src))
}

/// Where to resume after a kernel-mode page fault at `rip`, if it was a user copy.
pub fn fixup_for(rip: u64) -> Option<u64> {
    let start = &raw const copy_user_start as u64;
    let tail = &raw const copy_user_tail as u64;
    (rip == start || rip == tail).then_some(&raw const copy_user_fixup as u64)
}
