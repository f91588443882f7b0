//! The kernel console: one lock around the serial port so that log lines and
//! `mach_print` output from different threads never interleave mid-line.

use crate::arch::serial::Serial;
use core::fmt::{self, Write};
use spin::Mutex;

static CONSOLE: Mutex<()> = Mutex::new(());

pub fn write_bytes(bytes: &[u8]) {
    let _g = CONSOLE.lock();
    Serial::write_bytes(bytes);
}

pub fn write_fmt(args: fmt::Arguments) {
    let _g = CONSOLE.lock();
    let _ = Serial.write_fmt(args);
}

/// Prints a line on the console.
#[macro_export]
macro_rules! kprintln {
    ($($arg:tt)*) => {
        $crate::console::write_fmt(format_args!("{}\n", format_args!($($arg)*)))
    };
}
