//! The multiboot2 header and the 32-bit to 64-bit entry path.
//!
//! GRUB enters `_start` in 32-bit protected mode with paging off, `eax` holding
//! the multiboot2 magic and `ebx` the physical address of the boot information.
//! The code here builds boot page tables that map the first 4 GiB of physical
//! memory three times (identity, for the jump; at the direct-map base; and the
//! first GiB at `KERNEL_VMA`, where the kernel is linked), enables long mode, and
//! calls `kmain(magic, info_phys)` on the boot stack in the higher half.
//! `crate::arch::paging` replaces these tables with the kernel's own soon after.

use core::arch::global_asm;

/// Size of the stack `kmain` starts on (it becomes the boot CPU's idle stack).
pub const BOOT_STACK_SIZE: usize = 64 * 1024;

#[repr(C, align(16))]
pub struct BootStack(pub [u8; BOOT_STACK_SIZE]);

#[unsafe(no_mangle)]
pub static mut BOOT_STACK: BootStack = BootStack([0; BOOT_STACK_SIZE]);

global_asm!(
    r#"
    .section .multiboot2, "a"
    .balign 8
mb2_header_start:
    .long 0xe85250d6
    .long 0
    .long mb2_header_end - mb2_header_start
    .long 0x100000000 - (0xe85250d6 + (mb2_header_end - mb2_header_start))
    .balign 8
    .short 0
    .short 0
    .long 8
mb2_header_end:

    .section .boot.data, "aw"
    .balign 4096
boot_pml4:      .skip 4096
boot_pdpt_low:  .skip 4096
boot_pdpt_high: .skip 4096
boot_pd:        .skip 4096 * 4
    .balign 8
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff
    .quad 0x00cf92000000ffff
boot_gdt_end:
boot_gdt_ptr:
    .short boot_gdt_end - boot_gdt - 1
    .long boot_gdt

    .section .boot.text, "ax"
    .code32
    .global _start
_start:
    cli
    cld
    mov %eax, %edi
    mov %ebx, %esi

    /* 2048 large-page entries: physical 0 .. 4 GiB. */
    xor %ecx, %ecx
1:  mov %ecx, %eax
    shl $21, %eax
    or $0x83, %eax
    mov %eax, boot_pd(,%ecx,8)
    mov %ecx, %eax
    shr $11, %eax
    mov %eax, boot_pd+4(,%ecx,8)
    inc %ecx
    cmp $2048, %ecx
    jne 1b

    /* boot_pdpt_low[0..4] -> the four page directories. */
    mov $boot_pd + 0x3, %eax
    mov %eax, boot_pdpt_low
    add $0x1000, %eax
    mov %eax, boot_pdpt_low + 8
    add $0x1000, %eax
    mov %eax, boot_pdpt_low + 16
    add $0x1000, %eax
    mov %eax, boot_pdpt_low + 24
    /* boot_pdpt_high[510] -> first GiB, for KERNEL_VMA. */
    mov $boot_pd + 0x3, %eax
    mov %eax, boot_pdpt_high + 510 * 8

    /* PML4: identity (0), direct map (256), kernel (511). */
    mov $boot_pdpt_low + 0x3, %eax
    mov %eax, boot_pml4
    mov %eax, boot_pml4 + 256 * 8
    mov $boot_pdpt_high + 0x3, %eax
    mov %eax, boot_pml4 + 511 * 8

    /* CR4.PAE, CR3, EFER.LME, CR0.PG|WP. */
    mov %cr4, %eax
    or $0x20, %eax
    mov %eax, %cr4
    mov $boot_pml4, %eax
    mov %eax, %cr3
    mov $0xC0000080, %ecx
    rdmsr
    or $0x100, %eax
    wrmsr
    mov %cr0, %eax
    or $0x80010000, %eax
    mov %eax, %cr0

    lgdt boot_gdt_ptr
    ljmp $0x08, $boot_long_mode

    .code64
boot_long_mode:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    xor %ax, %ax
    mov %ax, %fs
    mov %ax, %gs
    movabs $boot_high, %rax
    jmp *%rax

    .section .text.boot_high, "ax"
boot_high:
    movabs $BOOT_STACK + {stack_size}, %rsp
    xor %ebp, %ebp
    mov %edi, %edi
    mov %esi, %esi
    call kmain
2:  hlt
    jmp 2b
    "#,
    stack_size = const BOOT_STACK_SIZE,
    options(att_syntax)
);
