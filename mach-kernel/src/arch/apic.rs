//! The local APIC: the per-CPU timer that drives preemption, and end-of-interrupt.
//!
//! The legacy 8259 PICs are remapped out of the exception range and masked; all
//! interrupts come through the local APIC (device interrupts from the I/O
//! APIC, `ioapic`). The timer runs periodically at
//! [`TIMER_HZ`], assuming QEMU's 1 GHz APIC bus clock (the count is not
//! calibrated; on other hardware only the tick length changes, nothing else).

use super::idt::{VECTOR_SPURIOUS, VECTOR_TIMER};
use super::paging::phys_to_virt;
use x86_64::instructions::port::Port;
use x86_64::registers::model_specific::Msr;

pub const TIMER_HZ: u64 = 100;
const APIC_BUS_HZ: u64 = 1_000_000_000;
const TIMER_DIVIDE: u64 = 16;
/// The count the timer reloads at every tick.
pub const TIMER_INITIAL_COUNT: u32 = (APIC_BUS_HZ / TIMER_DIVIDE / TIMER_HZ) as u32;
/// Nanoseconds per count of the timer (at the assumed bus clock).
pub const TIMER_COUNT_NS: u64 = TIMER_DIVIDE * 1_000_000_000 / APIC_BUS_HZ;

const IA32_APIC_BASE: u32 = 0x1b;
const REG_ID: u64 = 0x20;
const REG_EOI: u64 = 0xb0;
const REG_SVR: u64 = 0xf0;
const REG_LVT_TIMER: u64 = 0x320;
const REG_TIMER_INIT: u64 = 0x380;
const REG_TIMER_CURRENT: u64 = 0x390;
const REG_TIMER_DIV: u64 = 0x3e0;
/// The interrupt request register's first word (vectors 0..32; each next word 32 more).
const REG_IRR: u64 = 0x200;

fn apic_base() -> u64 {
    // SAFETY: reading IA32_APIC_BASE has no side effects.
    let v = unsafe { Msr::new(IA32_APIC_BASE).read() };
    v & 0x000f_ffff_ffff_f000
}

fn write_reg(reg: u64, value: u32) {
    // SAFETY: the APIC page lies in the first 4 GiB, which the direct map
    // always covers; `reg` is one of the architectural register offsets.
    unsafe { core::ptr::write_volatile(phys_to_virt(apic_base() + reg) as *mut u32, value) }
}

fn read_reg(reg: u64) -> u32 {
    // SAFETY: as write_reg; reading these registers has no side effects.
    unsafe { core::ptr::read_volatile(phys_to_virt(apic_base() + reg) as *const u32) }
}

/// The timer's current count (counting down from [`TIMER_INITIAL_COUNT`])
/// and then whether its interrupt is pending, for the system clock.
pub fn timer_now() -> (u32, bool) {
    let count = read_reg(REG_TIMER_CURRENT);
    let v = VECTOR_TIMER as u64;
    let pending = read_reg(REG_IRR + 0x10 * (v / 32)) & (1 << (v % 32)) != 0;
    (count, pending)
}

fn disable_pic() {
    // SAFETY: the standard 8259 initialisation sequence on its fixed ports:
    // remap to vectors 32..47 (so a stray PIC interrupt is never mistaken for an
    // exception) and mask every line.
    unsafe {
        let mut cmd1 = Port::<u8>::new(0x20);
        let mut data1 = Port::<u8>::new(0x21);
        let mut cmd2 = Port::<u8>::new(0xa0);
        let mut data2 = Port::<u8>::new(0xa1);
        cmd1.write(0x11);
        cmd2.write(0x11);
        data1.write(32);
        data2.write(40);
        data1.write(4);
        data2.write(2);
        data1.write(1);
        data2.write(1);
        data1.write(0xff);
        data2.write(0xff);
    }
}

/// Enables this CPU's local APIC and starts the periodic timer.
pub fn init() {
    disable_pic();
    write_reg(REG_SVR, 0x100 | VECTOR_SPURIOUS as u32);
    write_reg(REG_TIMER_DIV, 0x3);
    write_reg(REG_LVT_TIMER, VECTOR_TIMER as u32 | (1 << 17));
    write_reg(REG_TIMER_INIT, TIMER_INITIAL_COUNT);
}

/// This CPU's local APIC id (where the I/O APIC sends its interrupts).
pub fn local_apic_id() -> u8 {
    (read_reg(REG_ID) >> 24) as u8
}

/// Signals the end of the current interrupt.
pub fn eoi() {
    write_reg(REG_EOI, 0);
}
