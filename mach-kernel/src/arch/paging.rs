//! Four-level x86_64 page tables: the kernel's address space and one
//! [`AddressSpace`] per task.
//!
//! Layout of every address space:
//! - `0 .. 0x0000_8000_0000_0000`: user space, private to the task;
//! - `PHYS_OFFSET ..` (PML4 slot 256 onwards): a direct map of all physical
//!   memory, read/write, never executable;
//! - `KSTACK_REGION` (PML4 slot 510): kernel thread stacks, each below an
//!   unmapped guard page;
//! - `KERNEL_VMA` (PML4 slot 511): the kernel image, text RX, rodata R, data RW.
//!
//! The kernel half of the PML4 is built once at boot and copied into every new
//! address space; its slots never change afterwards (new kernel mappings go under
//! the existing PDPTs), so all spaces see the same kernel.
//!
//! Physical memory is reached only through the direct map: page tables by the
//! accessors at the bottom of this file, frames through `arch::frame`.

use super::frame;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use x86_64::registers::control::{Cr3, Cr3Flags};
use x86_64::structures::paging::PhysFrame;
use x86_64::{PhysAddr, VirtAddr};

pub const PAGE_SIZE: u64 = 4096;
pub const PHYS_OFFSET: u64 = 0xffff_8000_0000_0000;
pub const KSTACK_REGION: u64 = 0xffff_ff00_0000_0000;
pub const KERNEL_VMA: u64 = 0xffff_ffff_8000_0000;
const LARGE_PAGE: u64 = 2 * 1024 * 1024;
const USER_PML4_SLOTS: usize = 256;
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

/// Page-table entry bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageFlags(pub u64);

impl PageFlags {
    pub const PRESENT: u64 = 1;
    pub const WRITABLE: u64 = 1 << 1;
    pub const USER: u64 = 1 << 2;
    pub const HUGE: u64 = 1 << 7;
    pub const NO_EXECUTE: u64 = 1 << 63;
    /// Software bit: the page belongs to a VM object, not to the address
    /// space, so tearing the space down must not free it.
    pub const OBJECT_PAGE: u64 = 1 << 9;

    /// User page with the given permissions (read is implied).
    pub fn user(write: bool, execute: bool) -> Self {
        let mut f = Self::PRESENT | Self::USER;
        if write {
            f |= Self::WRITABLE;
        }
        if !execute && super::cpu::nx_enabled() {
            f |= Self::NO_EXECUTE;
        }
        PageFlags(f)
    }

    fn kernel(write: bool, execute: bool) -> Self {
        let mut f = Self::PRESENT;
        if write {
            f |= Self::WRITABLE;
        }
        if !execute && super::cpu::nx_enabled() {
            f |= Self::NO_EXECUTE;
        }
        PageFlags(f)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    OutOfMemory,
    AlreadyMapped,
    NotMapped,
    BadAddress,
}

static KERNEL_PML4: AtomicU64 = AtomicU64::new(0);
/// Frames held by page tables of the shared kernel half (grow with the kernel stack region).
static KERNEL_TABLE_FRAMES: AtomicUsize = AtomicUsize::new(0);

pub fn phys_to_virt(phys: u64) -> u64 {
    PHYS_OFFSET + phys
}

pub fn kernel_table_frames() -> usize {
    KERNEL_TABLE_FRAMES.load(Ordering::Relaxed)
}

fn index(va: u64, level: u32) -> usize {
    ((va >> (12 + 9 * level)) & 0x1ff) as usize
}

fn zeroed_table() -> Result<u64, MapError> {
    Ok(frame::alloc_zeroed().ok_or(MapError::OutOfMemory)?.into_page())
}

/// Walks from `root` to the level-1 table for `va`, creating tables with
/// `table_flags` on the way when `create` is set. Returns the table's address.
fn walk(root: u64, va: u64, create: bool, table_flags: u64, counter: Option<&AtomicUsize>) -> Result<u64, MapError> {
    let mut table = root;
    for level in (1..=3).rev() {
        let i = index(va, level);
        let e = read_entry(table, i);
        if e & PageFlags::PRESENT == 0 {
            if !create {
                return Err(MapError::NotMapped);
            }
            let t = zeroed_table()?;
            if let Some(c) = counter {
                c.fetch_add(1, Ordering::Relaxed);
            }
            write_entry(table, i, t | table_flags);
            table = t;
        } else if e & PageFlags::HUGE != 0 {
            return Err(MapError::AlreadyMapped);
        } else {
            table = e & ADDR_MASK;
        }
    }
    Ok(table)
}

/// Builds the kernel's page tables and switches to them. `max_phys` is the end
/// of physical RAM; everything below it (and at least the first 4 GiB, for MMIO
/// such as the local APIC) is direct-mapped.
pub fn init_kernel_space(max_phys: u64) -> Result<(), MapError> {
    unsafe extern "C" {
        static __kernel_phys_start: u8;
        static __text_start: u8;
        static __text_end: u8;
        static __rodata_start: u8;
        static __rodata_end: u8;
        static __data_start: u8;
        static __data_end: u8;
    }
    let pml4 = zeroed_table()?;
    KERNEL_TABLE_FRAMES.fetch_add(1, Ordering::Relaxed);
    let counter = Some(&KERNEL_TABLE_FRAMES);
    let direct_end = max_phys.max(4 << 30).next_multiple_of(LARGE_PAGE);
    let mut pa = 0;
    while pa < direct_end {
        let va = PHYS_OFFSET + pa;
        // Level-2 walk: build PDPT and PD, then write a large-page entry.
        let mut table = pml4;
        for level in (2..=3).rev() {
            let i = index(va, level);
            let e = read_entry(table, i);
            table = if e & PageFlags::PRESENT == 0 {
                let t = zeroed_table()?;
                KERNEL_TABLE_FRAMES.fetch_add(1, Ordering::Relaxed);
                write_entry(table, i, t | PageFlags::PRESENT | PageFlags::WRITABLE);
                t
            } else {
                e & ADDR_MASK
            };
        }
        write_entry(
            table,
            index(va, 1),
            pa | PageFlags::kernel(true, false).0 | PageFlags::HUGE,
        );
        pa += LARGE_PAGE;
    }
    let sections = [
        (
            &raw const __text_start as u64,
            &raw const __text_end as u64,
            PageFlags::kernel(false, true),
        ),
        (
            &raw const __rodata_start as u64,
            &raw const __rodata_end as u64,
            PageFlags::kernel(false, false),
        ),
        (
            &raw const __data_start as u64,
            &raw const __data_end as u64,
            PageFlags::kernel(true, false),
        ),
    ];
    let _ = &raw const __kernel_phys_start;
    for (start, end, flags) in sections {
        let mut va = start;
        while va < end {
            let pt = walk(pml4, va, true, PageFlags::PRESENT | PageFlags::WRITABLE, counter)?;
            write_entry(pt, index(va, 0), (va - KERNEL_VMA) | flags.0);
            va += PAGE_SIZE;
        }
    }
    // The kernel stack region's PDPT exists from the start so every address
    // space created later shares it.
    let i = index(KSTACK_REGION, 3);
    let t = zeroed_table()?;
    KERNEL_TABLE_FRAMES.fetch_add(1, Ordering::Relaxed);
    write_entry(pml4, i, t | PageFlags::PRESENT | PageFlags::WRITABLE);

    KERNEL_PML4.store(pml4, Ordering::Release);
    load_root(pml4);
    Ok(())
}

/// Makes the address space whose top-level table is `root` current.
pub fn activate_root(root: u64) {
    load_root(root);
}

/// Activates the kernel-only address space (used by idle threads).
pub fn activate_kernel_space() {
    load_root(KERNEL_PML4.load(Ordering::Acquire));
}

/// Maps one kernel page in the shared kernel half (kernel stack region only).
pub fn kernel_map(va: u64, pa: u64, write: bool) -> Result<(), MapError> {
    if !(KSTACK_REGION..KERNEL_VMA).contains(&va) || !va.is_multiple_of(PAGE_SIZE) {
        return Err(MapError::BadAddress);
    }
    let root = KERNEL_PML4.load(Ordering::Acquire);
    let pt = walk(
        root,
        va,
        true,
        PageFlags::PRESENT | PageFlags::WRITABLE,
        Some(&KERNEL_TABLE_FRAMES),
    )?;
    if read_entry(pt, index(va, 0)) & PageFlags::PRESENT != 0 {
        return Err(MapError::AlreadyMapped);
    }
    write_entry(pt, index(va, 0), pa | PageFlags::kernel(write, false).0);
    Ok(())
}

/// Removes a kernel-half mapping and returns the frame it pointed at.
pub fn kernel_unmap(va: u64) -> Result<u64, MapError> {
    if !(KSTACK_REGION..KERNEL_VMA).contains(&va) {
        return Err(MapError::BadAddress);
    }
    clear_leaf(KERNEL_PML4.load(Ordering::Acquire), va)
}

/// Removes the 4 KiB mapping of `va` under `root`; returns the frame it named.
fn clear_leaf(root: u64, va: u64) -> Result<u64, MapError> {
    let pt = walk(root, va, false, 0, None)?;
    let e = read_entry(pt, index(va, 0));
    if e & PageFlags::PRESENT == 0 {
        return Err(MapError::NotMapped);
    }
    write_entry(pt, index(va, 0), 0);
    flush_page(va);
    Ok(e & ADDR_MASK)
}

/// A task's page tables. The user half is private; its leaf frames belong to
/// the address space and are freed with it.
pub struct AddressSpace {
    pml4: u64,
}

impl AddressSpace {
    pub fn new() -> Result<Self, MapError> {
        let pml4 = zeroed_table()?;
        let kernel = KERNEL_PML4.load(Ordering::Acquire);
        for i in USER_PML4_SLOTS..512 {
            write_entry(pml4, i, read_entry(kernel, i));
        }
        Ok(AddressSpace { pml4 })
    }

    fn check_user(va: u64) -> Result<(), MapError> {
        if va >= mach_abi::layout::USER_END || !va.is_multiple_of(PAGE_SIZE) {
            return Err(MapError::BadAddress);
        }
        Ok(())
    }

    /// The frame mapped at `va` and its entry flags.
    pub fn translate(&self, va: u64) -> Option<(u64, PageFlags)> {
        Self::check_user(va & !(PAGE_SIZE - 1)).ok()?;
        let pt = walk(self.pml4, va, false, 0, None).ok()?;
        let e = read_entry(pt, index(va, 0));
        (e & PageFlags::PRESENT != 0).then_some((e & ADDR_MASK, PageFlags(e & !ADDR_MASK)))
    }

    /// Replaces the permission bits of an existing mapping.
    pub fn set_flags(&mut self, va: u64, flags: PageFlags) -> Result<(), MapError> {
        Self::check_user(va)?;
        let pt = walk(self.pml4, va, false, 0, None)?;
        let e = read_entry(pt, index(va, 0));
        if e & PageFlags::PRESENT == 0 {
            return Err(MapError::NotMapped);
        }
        write_entry(pt, index(va, 0), (e & ADDR_MASK) | flags.0);
        flush_page(va);
        Ok(())
    }

    /// Maps `pa` at `va`, replacing whatever was there (a fault upgrading or
    /// replacing a page of a VM object).
    pub fn enter(&mut self, va: u64, pa: u64, flags: PageFlags) -> Result<(), MapError> {
        Self::check_user(va)?;
        let t = PageFlags::PRESENT | PageFlags::WRITABLE | PageFlags::USER;
        let pt = walk(self.pml4, va, true, t, None)?;
        write_entry(pt, index(va, 0), (pa & ADDR_MASK) | flags.0);
        flush_page(va);
        Ok(())
    }

    /// The first page at or after `va` and below `end` that has a mapping.
    /// Absent tables are skipped whole (512 GiB, 1 GiB or 2 MiB at a time),
    /// so a walk over a huge, mostly empty range costs what is mapped, not
    /// the range's length (a task's 1 TiB region made teardown loop 2^28
    /// times with the kernel lock held).
    pub fn next_mapped(&self, va: u64, end: u64) -> Option<u64> {
        let mut found = None;
        self.walk_leaves(va, end, |table, i, at| {
            if read_entry(table, i) & PageFlags::PRESENT != 0 {
                found = Some(at);
                return false;
            }
            true
        });
        found
    }

    /// Removes every mapping in `[start, end)` (their frames belong to VM
    /// objects). One walk from the top per level-1 table, absent tables
    /// skipped whole, as in [`Self::next_mapped`].
    pub fn unmap_range(&mut self, start: u64, end: u64) {
        self.walk_leaves(start, end, |table, i, at| {
            if read_entry(table, i) & PageFlags::PRESENT != 0 {
                write_entry(table, i, 0);
                flush_page(at);
            }
            true
        });
    }

    /// Calls `f(table, index, va)` for each page `va` of `[start, end)`
    /// (user addresses only) whose level-1 table exists, in order, until `f`
    /// returns false.
    fn walk_leaves(&self, start: u64, end: u64, mut f: impl FnMut(u64, usize, u64) -> bool) {
        let end = end.min(mach_abi::layout::USER_END);
        let mut va = start & !(PAGE_SIZE - 1);
        'next: while va < end {
            let mut table = self.pml4;
            for level in (1..=3).rev() {
                let e = read_entry(table, index(va, level));
                if e & PageFlags::PRESENT == 0 || e & PageFlags::HUGE != 0 {
                    // Nothing below this entry: on to the next one.
                    let span = 1u64 << (12 + 9 * level);
                    let Some(next) = (va | (span - 1)).checked_add(1) else {
                        return;
                    };
                    va = next;
                    continue 'next;
                }
                table = e & ADDR_MASK;
            }
            // The rest of this level-1 table.
            loop {
                if !f(table, index(va, 0), va) {
                    return;
                }
                va += PAGE_SIZE;
                if va >= end || index(va, 0) == 0 {
                    continue 'next;
                }
            }
        }
    }

    /// Removes the mapping at `va` and returns its frame (now the caller's).
    pub fn unmap(&mut self, va: u64) -> Result<u64, MapError> {
        Self::check_user(va)?;
        clear_leaf(self.pml4, va)
    }

    /// Physical address of the top-level table (what CR3 holds for this space).
    pub fn root(&self) -> u64 {
        self.pml4
    }
}

fn free_tables(table: u64, level: u32, slots: usize) {
    for i in 0..slots {
        let e = read_entry(table, i);
        if e & PageFlags::PRESENT == 0 {
            continue;
        }
        let next = e & ADDR_MASK;
        if level == 1 {
            // A level-1 table: its entries are the task's pages.
            for j in 0..512 {
                let leaf = read_entry(next, j);
                // Pages of VM objects are freed by their objects.
                if leaf & PageFlags::PRESENT != 0 && leaf & PageFlags::OBJECT_PAGE == 0 {
                    frame::free_page(leaf & ADDR_MASK);
                }
            }
            frame::free_page(next);
        } else {
            free_tables(next, level - 1, 512);
        }
    }
    frame::free_page(table);
}

impl Drop for AddressSpace {
    fn drop(&mut self) {
        free_tables(self.pml4, 3, USER_PML4_SLOTS);
    }
}

// ---- The only code that dereferences physical memory through the direct map ----

fn read_entry(table: u64, i: usize) -> u64 {
    debug_assert!(i < 512);
    // SAFETY: `table` is a page-table frame this module allocated (every
    // table address comes from `zeroed_table` or from an entry this module
    // wrote), so it is direct-mapped, 4 KiB aligned, 512 entries long and
    // owned by page tables alone; `i & 0x1ff` keeps the access inside it.
    unsafe { core::ptr::read_volatile((phys_to_virt(table) as *const u64).add(i & 0x1ff)) }
}

fn write_entry(table: u64, i: usize, value: u64) {
    // SAFETY: as in read_entry; interrupts are off in the kernel, so no other
    // code on this CPU walks the table while it changes.
    unsafe { core::ptr::write_volatile((phys_to_virt(table) as *mut u64).add(i & 0x1ff), value) }
}

/// A mutable view of a run of physical memory through the direct map.
///
/// # Safety
/// The range must be RAM owned by the caller for `'static` (e.g. the kernel
/// heap or the frame bitmap carved out at boot) and not aliased elsewhere.
pub unsafe fn phys_slice_mut<T>(phys: u64, count: usize) -> &'static mut [T] {
    // SAFETY: guaranteed by the caller.
    unsafe { core::slice::from_raw_parts_mut(phys_to_virt(phys) as *mut T, count) }
}

/// A read-only view of physical memory (boot modules, boot information).
///
/// # Safety
/// The range must be RAM that nothing writes while the slice lives.
pub unsafe fn phys_slice<'a>(phys: u64, len: usize) -> &'a [u8] {
    // SAFETY: guaranteed by the caller.
    unsafe { core::slice::from_raw_parts(phys_to_virt(phys) as *const u8, len) }
}

fn load_root(pml4: u64) {
    let frame = PhysFrame::containing_address(PhysAddr::new(pml4));
    if Cr3::read().0 == frame {
        return;
    }
    // SAFETY: every root loaded here contains the shared kernel half, so the
    // code, stack and data in use stay mapped across the switch.
    unsafe { Cr3::write(frame, Cr3Flags::empty()) };
}

pub fn flush_page(va: u64) {
    x86_64::instructions::tlb::flush(VirtAddr::new(va));
}
