//! Clocks (`clock_get_time`): the system clock never goes back, resolves
//! within a tick and agrees with the kernel's tick count; sleeping in a
//! `mach_msg` receive with a timeout lasts at least the timeout on it; the
//! calendar clock comes from the RTC (a date after 2020) and runs with the
//! system clock; other clock ids are refused.
#![no_std]
#![no_main]

use mach_user::abi::clock::{CALENDAR_CLOCK, NSEC_PER_SEC, SYSTEM_CLOCK};
use mach_user::abi::kern_return::*;
use mach_user::abi::message::*;
use mach_user::abi::traps::BootInfoKind;
use mach_user::ipc::{MsgBuf, mach_msg};
use mach_user::trap::{boot_info, clock_get_time};
use test_programs::check_eq;
use test_programs::ipc_env::Env;

mach_user::entry!(main);

const MS: u64 = 1_000_000;

fn now() -> u64 {
    clock_get_time(SYSTEM_CLOCK).unwrap_or(0)
}

fn main(_args: mach_user::start::Args) -> i32 {
    let mut e = Env::new();
    let mut ok = true;

    // Monotonic, and finer than a tick: reads within one tick differ.
    let mut last = now();
    let (mut backwards, mut sub_tick) = (0u32, 0u32);
    for _ in 0..2000 {
        let t = now();
        if t < last {
            backwards += 1;
        }
        if t > last && (t - last) % (10 * MS) != 0 {
            sub_tick += 1;
        }
        last = t;
    }
    ok &= check_eq!("clock_system_never_goes_back", backwards, 0);
    ok &= check_eq!("clock_system_resolves_within_a_tick", sub_tick > 0, true);

    // The tick count and the clock agree (ticks are 1/TickHz s).
    let hz = boot_info(BootInfoKind::TickHz).unwrap_or(1);
    let tick_ns = NSEC_PER_SEC / hz;
    let ticks_before = boot_info(BootInfoKind::Ticks).unwrap_or(0);
    let t = now();
    let ticks_after = boot_info(BootInfoKind::Ticks).unwrap_or(0);
    ok &= check_eq!(
        "clock_system_matches_ticks",
        (t >= ticks_before * tick_ns, t < (ticks_after + 1) * tick_ns),
        (true, true)
    );

    // Sleeping: a receive on an empty port with a 50 ms timeout.
    let port = e.port();
    let mut b: MsgBuf<64> = MsgBuf::new();
    let before = now();
    let kr = mach_msg(&mut b, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, port, 50);
    let slept = now() - before;
    ok &= check_eq!("clock_sleep_times_out", kr, MACH_RCV_TIMED_OUT);
    // The deadline is kept in ticks: at least the timeout less one tick.
    ok &= check_eq!("clock_sleep_lasts_the_timeout", slept >= 50 * MS - tick_ns, true);

    // The calendar: after 2020-01-01 and before 2100-01-01, and it moves
    // with the system clock (their difference is fixed at boot).
    let c1 = clock_get_time(CALENDAR_CLOCK).unwrap_or(0);
    let s1 = now();
    let _ = mach_msg(&mut b, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, port, 20);
    let c2 = clock_get_time(CALENDAR_CLOCK).unwrap_or(0);
    let s2 = now();
    ok &= check_eq!(
        "clock_calendar_from_rtc",
        (c1 / NSEC_PER_SEC >= 1_577_836_800, c1 / NSEC_PER_SEC < 4_102_444_800),
        (true, true)
    );
    let (d1, d2) = (c1.wrapping_sub(s1) as i64, c2.wrapping_sub(s2) as i64);
    // Each pair is read back to back: their offsets agree within a tick.
    ok &= check_eq!(
        "clock_calendar_runs_with_system",
        ((d2 - d1).unsigned_abs() < tick_ns, c2 > c1),
        (true, true)
    );

    ok &= check_eq!(
        "clock_refuses_unknown_id",
        clock_get_time(2),
        Err(KERN_INVALID_ARGUMENT)
    );
    let _ = e.destroy(port);
    ok &= check_eq!("clock_audit", e.violations(), Ok(0));
    if ok { 0 } else { 1 }
}
