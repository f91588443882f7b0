//! Time arithmetic for the kernel's clocks: the CMOS real-time clock's
//! registers turned into seconds since the Unix epoch, and the system
//! clock's nanoseconds from the timer's ticks and the count left in the
//! current tick.
//!
//! The RTC's registers come from hardware the kernel does not control (and
//! QEMU's from the host), so decoding checks every field and reports
//! [`RtcError`] instead of producing a wrong date.

/// The RTC registers the kernel reads, as read (BCD or binary, 12 or 24
/// hour, per `status_b`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtcRegisters {
    pub seconds: u8,
    pub minutes: u8,
    pub hours: u8,
    pub day: u8,
    pub month: u8,
    pub year: u8,
    /// The century register (0x32), or 0 when it holds nothing useful.
    pub century: u8,
    pub status_b: u8,
}

/// Status register B: binary (not BCD) values.
pub const RTC_B_BINARY: u8 = 1 << 2;
/// Status register B: 24-hour (not 12-hour) mode.
pub const RTC_B_24H: u8 = 1 << 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RtcError {
    /// A BCD digit above 9, or a field out of its range.
    BadField,
}

fn decode(v: u8, bcd: bool) -> Result<u8, RtcError> {
    if !bcd {
        return Ok(v);
    }
    let (hi, lo) = (v >> 4, v & 0xf);
    if hi > 9 || lo > 9 {
        return Err(RtcError::BadField);
    }
    Ok(hi * 10 + lo)
}

/// Days from 1970-01-01 to `year-month-day` (proleptic Gregorian).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: u8) -> u8 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Seconds since the Unix epoch for the RTC's registers. Without a century
/// register, years 00..=69 are 2000..=2069 and 70..=99 are 1970..=1999.
pub fn rtc_to_unix(r: &RtcRegisters) -> Result<u64, RtcError> {
    let bcd = r.status_b & RTC_B_BINARY == 0;
    let sec = decode(r.seconds, bcd)?;
    let min = decode(r.minutes, bcd)?;
    // 12-hour mode: bit 7 is PM, hours 1..=12.
    let pm = r.status_b & RTC_B_24H == 0 && r.hours & 0x80 != 0;
    let mut hour = decode(r.hours & 0x7f, bcd)?;
    if r.status_b & RTC_B_24H == 0 {
        if !(1..=12).contains(&hour) {
            return Err(RtcError::BadField);
        }
        hour = match (hour, pm) {
            (12, false) => 0,
            (12, true) => 12,
            (h, true) => h + 12,
            (h, false) => h,
        };
    }
    let day = decode(r.day, bcd)?;
    let month = decode(r.month, bcd)?;
    let yy = decode(r.year, bcd)?;
    let century = if r.century == 0 { 0 } else { decode(r.century, bcd)? };
    if sec > 59 || min > 59 || hour > 23 || yy > 99 || !(1..=12).contains(&month) || century > 99 {
        return Err(RtcError::BadField);
    }
    let year = match century {
        0 if yy < 70 => 2000 + i64::from(yy),
        0 => 1900 + i64::from(yy),
        c => i64::from(c) * 100 + i64::from(yy),
    };
    if year < 1970 || day == 0 || day > days_in_month(year, month) {
        return Err(RtcError::BadField);
    }
    let days = days_from_civil(year, u32::from(month), u32::from(day));
    let secs = days * 86_400 + i64::from(hour) * 3600 + i64::from(min) * 60 + i64::from(sec);
    u64::try_from(secs).map_err(|_| RtcError::BadField)
}

/// The periodic timer as the system clock sees it.
#[derive(Clone, Copy, Debug)]
pub struct TickClock {
    /// Nanoseconds per tick.
    pub tick_ns: u64,
    /// The count the timer reloads at each tick (it counts down to 0).
    pub initial_count: u32,
    /// Nanoseconds per count.
    pub count_ns: u64,
}

impl TickClock {
    /// Nanoseconds since the timer started, from the ticks counted so far,
    /// the timer's current count and whether its interrupt is pending (read
    /// in that order, with interrupts off). A pending interrupt with a count
    /// in the upper half means the timer reloaded before the count was read,
    /// so that tick has passed though it is not counted yet; in the lower
    /// half, it reloaded after.
    pub fn now_ns(&self, ticks: u64, current_count: u32, pending: bool) -> u64 {
        let count = current_count.min(self.initial_count);
        let into_tick = u64::from(self.initial_count - count) * self.count_ns;
        let ticks = if pending && count > self.initial_count / 2 {
            ticks.saturating_add(1)
        } else {
            ticks
        };
        ticks
            .saturating_mul(self.tick_ns)
            .saturating_add(into_tick.min(self.tick_ns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regs(bcd: bool, h24: bool, v: [u8; 6], century: u8) -> RtcRegisters {
        let enc = |x: u8| if bcd { (x / 10) << 4 | (x % 10) } else { x };
        RtcRegisters {
            seconds: enc(v[0]),
            minutes: enc(v[1]),
            hours: enc(v[2]),
            day: enc(v[3]),
            month: enc(v[4]),
            year: enc(v[5]),
            century: if century == 0 { 0 } else { enc(century) },
            status_b: if bcd { 0 } else { RTC_B_BINARY } | if h24 { RTC_B_24H } else { 0 },
        }
    }

    #[test]
    fn epoch_and_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        // 2026-12-02 13:18:25 UTC
        let r = regs(true, true, [25, 18, 13, 2, 12, 26], 20);
        assert_eq!(rtc_to_unix(&r), Ok(1_796_217_505));
        let r = regs(false, true, [25, 18, 13, 2, 12, 26], 0);
        assert_eq!(rtc_to_unix(&r), Ok(1_796_217_505));
        // 2024-02-29 23:59:59, a leap day.
        let r = regs(true, true, [59, 59, 23, 29, 2, 24], 20);
        assert_eq!(rtc_to_unix(&r), Ok(1_709_251_199));
        // 1999 without a century register.
        let r = regs(true, true, [0, 0, 0, 31, 12, 99], 0);
        assert_eq!(rtc_to_unix(&r), Ok(946_598_400));
    }

    #[test]
    fn twelve_hour_mode() {
        let mut r = regs(true, false, [0, 0, 12, 1, 1, 70], 19);
        assert_eq!(rtc_to_unix(&r), Ok(0), "12 AM is midnight");
        r.hours = 0x80 | 0x12;
        assert_eq!(rtc_to_unix(&r), Ok(12 * 3600), "12 PM is noon");
        r.hours = 0x80 | 0x01;
        assert_eq!(rtc_to_unix(&r), Ok(13 * 3600));
        r.hours = 0x00;
        assert_eq!(rtc_to_unix(&r), Err(RtcError::BadField));
    }

    #[test]
    fn bad_fields_are_errors() {
        let good = regs(true, true, [0, 0, 0, 1, 1, 26], 20);
        assert!(rtc_to_unix(&good).is_ok());
        for f in 0..7 {
            let mut r = good;
            let field = [
                &mut r.seconds,
                &mut r.minutes,
                &mut r.hours,
                &mut r.day,
                &mut r.month,
                &mut r.year,
                &mut r.century,
            ];
            *field.into_iter().nth(f).unwrap() = 0xfa;
            assert_eq!(rtc_to_unix(&r), Err(RtcError::BadField), "field {f}");
        }
        let r = regs(true, true, [0, 0, 0, 29, 2, 26], 20);
        assert_eq!(rtc_to_unix(&r), Err(RtcError::BadField), "2026 is no leap year");
        let r = regs(true, true, [60, 0, 0, 1, 1, 26], 20);
        assert_eq!(rtc_to_unix(&r), Err(RtcError::BadField));
        let r = regs(true, true, [0, 0, 0, 1, 13, 26], 20);
        assert_eq!(rtc_to_unix(&r), Err(RtcError::BadField));
        let r = regs(true, true, [0, 0, 0, 1, 1, 26], 19);
        assert_eq!(rtc_to_unix(&r), Err(RtcError::BadField), "1926 is before the epoch");
        // Every register value: never a panic.
        for v in 0..=255u8 {
            let mut r = good;
            r.hours = v;
            r.status_b = v;
            let _ = rtc_to_unix(&r);
        }
    }

    #[test]
    fn tick_clock_interpolates_and_handles_a_pending_reload() {
        let c = TickClock {
            tick_ns: 10_000_000,
            initial_count: 625_000,
            count_ns: 16,
        };
        assert_eq!(c.now_ns(0, 625_000, false), 0);
        assert_eq!(c.now_ns(3, 625_000 - 1000, false), 30_016_000);
        // Reloaded before the count was read: that tick has passed.
        assert_eq!(c.now_ns(3, 624_000, true), 40_016_000);
        // Reloaded after: the count is from the old tick.
        assert_eq!(c.now_ns(3, 10, true), 30_000_000 + (625_000 - 10) * 16);
        // Nonsense counts stay inside the tick.
        assert_eq!(c.now_ns(1, u32::MAX, false), 10_000_000);
        assert_eq!(c.now_ns(u64::MAX, 0, true), u64::MAX);
    }
}
