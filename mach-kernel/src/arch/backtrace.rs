//! Kernel backtraces by walking the frame-pointer chain (the kernel is built
//! with frame pointers). Lines look like `  bt#N 0xADDR`; the test harness turns
//! the addresses into function names using the kernel ELF's symbol table.
//! Frame 0 is the faulting `rip`; the others are return addresses minus one.

use super::kstack::KSTACK_SIZE;
use super::paging::{KERNEL_VMA, KSTACK_REGION};
use core::fmt::Write;

const MAX_FRAMES: usize = 32;

/// The highest address the stack holding `rsp` may extend to, so the walk never
/// touches an unmapped guard page.
fn stack_limit(rsp: u64) -> u64 {
    let boot = &raw const super::boot::BOOT_STACK as u64;
    let boot_end = boot + super::boot::BOOT_STACK_SIZE as u64;
    if (KSTACK_REGION..KERNEL_VMA).contains(&rsp) {
        (rsp | (2 * KSTACK_SIZE - 1)) + 1
    } else if (boot..boot_end).contains(&rsp) {
        boot_end
    } else {
        (rsp | 0xfff) + 1
    }
}

/// Prints `rip` and the return addresses found from frame pointer `rbp`.
pub fn print(out: &mut impl Write, rip: u64, mut rbp: u64) {
    let _ = writeln!(out, "  bt#0 0x{rip:016x}");
    let limit = stack_limit(rbp);
    let mut n = 1;
    while n < MAX_FRAMES && rbp.is_multiple_of(8) && rbp >= KSTACK_REGION && rbp.saturating_add(16) <= limit {
        // SAFETY: rbp is 8-aligned and [rbp, rbp+16) lies inside the mapped
        // stack that contains it (stack_limit), so both reads are of mapped memory.
        let (next, ret) = unsafe { (*(rbp as *const u64), *((rbp + 8) as *const u64)) };
        if ret == 0 {
            break;
        }
        // One byte back from the return address lands inside the call
        // instruction, so a call that ends its function still names it.
        let _ = writeln!(out, "  bt#{n} 0x{:016x}", ret - 1);
        n += 1;
        if next <= rbp {
            break;
        }
        rbp = next;
    }
}

/// The caller's frame pointer.
#[inline(always)]
pub fn current_rbp() -> u64 {
    let rbp: u64;
    // SAFETY: reads a register.
    unsafe { core::arch::asm!("mov {}, rbp", out(reg) rbp, options(nomem, nostack, preserves_flags)) };
    rbp
}
