//! The local APIC: the per-CPU timer that drives preemption, and end-of-interrupt.
//!
//! The legacy 8259 PICs are remapped out of the exception range and masked; all
//! interrupts come through the local APIC. The timer runs periodically at
//! [`TIMER_HZ`], assuming QEMU's 1 GHz APIC bus clock (the count is not
//! calibrated; on other hardware only the tick length changes, nothing else).

use super::idt::{VECTOR_SPURIOUS, VECTOR_TIMER};
use super::paging::phys_to_virt;
use x86_64::instructions::port::Port;
use x86_64::registers::model_specific::Msr;

pub const TIMER_HZ: u64 = 100;
const APIC_BUS_HZ: u64 = 1_000_000_000;
const TIMER_DIVIDE: u64 = 16;

const IA32_APIC_BASE: u32 = 0x1b;
const REG_EOI: u64 = 0xb0;
const REG_SVR: u64 = 0xf0;
const REG_LVT_TIMER: u64 = 0x320;
const REG_TIMER_INIT: u64 = 0x380;
const REG_TIMER_DIV: u64 = 0x3e0;

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
    write_reg(REG_TIMER_INIT, (APIC_BUS_HZ / TIMER_DIVIDE / TIMER_HZ) as u32);
}

/// Signals the end of the current interrupt.
pub fn eoi() {
    write_reg(REG_EOI, 0);
}
