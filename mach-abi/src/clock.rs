//! Clocks (Mach's `clock_get_time`, as the `CLOCK_GET_TIME` trap).
//!
//! Times are nanoseconds in one `u64` (Mach's `mach_timespec` as a single
//! count): [`SYSTEM_CLOCK`] since boot, never going backwards;
//! [`CALENDAR_CLOCK`] since 1970-01-01 00:00:00 UTC, from the CMOS real-time
//! clock read at boot plus the system clock since (it moves with the system
//! clock; nothing sets it yet).

/// Time since boot (XNU's clock id).
pub const SYSTEM_CLOCK: u64 = 0;
/// Time since the Unix epoch (XNU's clock id).
pub const CALENDAR_CLOCK: u64 = 1;

pub const NSEC_PER_SEC: u64 = 1_000_000_000;
