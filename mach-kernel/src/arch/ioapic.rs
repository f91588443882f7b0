//! The I/O APIC: routes a legacy ISA interrupt line to a vector of this
//! CPU's local APIC (the console's receive interrupt, IRQ 4).
//!
//! The I/O APIC sits at 0xFEC0_0000, the MP specification's default and
//! where QEMU's PC and Q35 machines put it; ISA lines other than the timer's
//! reach the inputs of the same number, edge-triggered and active high (no
//! ACPI override changes that for IRQ 4 there). A chip that does not answer
//! at that address (its version register reads all ones) is left alone, and
//! the console then simply receives nothing.

use super::paging::phys_to_virt;

const IOAPIC_BASE: u64 = 0xfec0_0000;
/// Register select and data window.
const IOREGSEL: u64 = 0x00;
const IOWIN: u64 = 0x10;
const REG_VERSION: u32 = 0x01;
/// First redirection-table register (two per input: low, high word).
const REG_REDIRECTION: u32 = 0x10;

fn write(reg: u32, value: u32) {
    // SAFETY: the I/O APIC's two registers lie in the first 4 GiB, which the
    // direct map always covers; selecting a register and writing the window
    // is the chip's access protocol and touches no memory. The kernel runs
    // with interrupts off, so the select and the write are not split.
    unsafe {
        core::ptr::write_volatile(phys_to_virt(IOAPIC_BASE + IOREGSEL) as *mut u32, reg);
        core::ptr::write_volatile(phys_to_virt(IOAPIC_BASE + IOWIN) as *mut u32, value);
    }
}

fn read(reg: u32) -> u32 {
    // SAFETY: as `write`; reading the window has no side effects.
    unsafe {
        core::ptr::write_volatile(phys_to_virt(IOAPIC_BASE + IOREGSEL) as *mut u32, reg);
        core::ptr::read_volatile(phys_to_virt(IOAPIC_BASE + IOWIN) as *const u32)
    }
}

/// Sends ISA interrupt `irq` (edge-triggered, active high) to `vector` on
/// this CPU. False if there is no I/O APIC or it has no such input.
pub fn route_isa_irq(irq: u8, vector: u8) -> bool {
    let version = read(REG_VERSION);
    let max_entry = (version >> 16) & 0xff;
    if version == u32::MAX || u32::from(irq) > max_entry {
        return false;
    }
    let reg = REG_REDIRECTION + 2 * u32::from(irq);
    // Destination (physical mode): this CPU's local APIC id.
    write(reg + 1, u32::from(super::apic::local_apic_id()) << 24);
    // Fixed delivery, physical destination, active high, edge, unmasked.
    write(reg, u32::from(vector));
    true
}
