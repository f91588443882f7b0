//! The CMOS real-time clock, read once at boot for the calendar clock
//! (`kern::clock`); decoding is `mach_core::time`'s.

use mach_core::time::RtcRegisters;
use x86_64::instructions::port::Port;

const REG_STATUS_A: u8 = 0x0a;
const REG_STATUS_B: u8 = 0x0b;
const REG_CENTURY: u8 = 0x32;
/// Status A: an update is in progress (the registers may be mid-change).
const STATUS_A_UIP: u8 = 0x80;

fn cmos(reg: u8) -> u8 {
    // SAFETY: ports 0x70/0x71 are the CMOS index and data ports; selecting a
    // register (with bit 7 set, keeping NMIs masked as they are at boot)
    // and reading it changes nothing else.
    unsafe {
        Port::<u8>::new(0x70).write(0x80 | reg);
        Port::<u8>::new(0x71).read()
    }
}

fn snapshot() -> RtcRegisters {
    RtcRegisters {
        seconds: cmos(0x00),
        minutes: cmos(0x02),
        hours: cmos(0x04),
        day: cmos(0x07),
        month: cmos(0x08),
        year: cmos(0x09),
        century: cmos(REG_CENTURY),
        status_b: cmos(REG_STATUS_B),
    }
}

/// The RTC's registers, read outside an update and twice alike (so no field
/// is from before a carry and another from after).
pub fn read() -> RtcRegisters {
    let mut last = snapshot();
    for _ in 0..1000 {
        if cmos(REG_STATUS_A) & STATUS_A_UIP != 0 {
            continue;
        }
        let now = snapshot();
        if now == last {
            return now;
        }
        last = now;
    }
    last
}
