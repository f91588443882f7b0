//! The kernel's clocks (`clock_get_time`, see `mach_abi::clock`): the system
//! clock counts nanoseconds since the timer started, from the ticks counted
//! and the count left in the current tick (`mach_core::time::TickClock`);
//! the calendar clock is the CMOS RTC's time at boot plus the system clock
//! since.

use crate::arch::{apic, rtc};
use core::sync::atomic::{AtomicU64, Ordering};
use mach_abi::clock::NSEC_PER_SEC;
use mach_core::time::{TickClock, rtc_to_unix};

const TICK_CLOCK: TickClock = TickClock {
    tick_ns: NSEC_PER_SEC / apic::TIMER_HZ,
    initial_count: apic::TIMER_INITIAL_COUNT,
    count_ns: apic::TIMER_COUNT_NS,
};

/// The largest system time handed out, so that the clock never goes back
/// (a tick whose interrupt was held off long enough would otherwise).
static LAST_SYSTEM_NS: AtomicU64 = AtomicU64::new(0);
/// Calendar time minus system time, fixed at boot.
static CALENDAR_OFFSET_NS: AtomicU64 = AtomicU64::new(0);

/// Reads the RTC; call once the timer runs.
pub fn init() {
    let regs = rtc::read();
    match rtc_to_unix(&regs) {
        Ok(secs) => {
            let offset = secs.saturating_mul(NSEC_PER_SEC).saturating_sub(system_ns());
            CALENDAR_OFFSET_NS.store(offset, Ordering::Relaxed);
            log::info!("clock: calendar {secs} s since the epoch (RTC)");
        }
        Err(e) => log::warn!("clock: RTC unreadable ({e:?}, {regs:?}): the calendar starts at the epoch"),
    }
}

/// Nanoseconds since boot; called with interrupts off (any kernel entry).
pub fn system_ns() -> u64 {
    let ticks = crate::kern::sched::ticks();
    let (count, pending) = apic::timer_now();
    let ns = TICK_CLOCK.now_ns(ticks, count, pending);
    LAST_SYSTEM_NS.fetch_max(ns, Ordering::Relaxed).max(ns)
}

/// Nanoseconds since the Unix epoch.
pub fn calendar_ns() -> u64 {
    CALENDAR_OFFSET_NS.load(Ordering::Relaxed).saturating_add(system_ns())
}
