//! Formatted output to the kernel console through `mach_print`.

use core::fmt::{self, Write};

/// Buffers formatted text and sends it with one trap per line (or per full buffer).
pub struct Console {
    buf: [u8; 512],
    len: usize,
}

impl Console {
    pub const fn new() -> Self {
        Console { buf: [0; 512], len: 0 }
    }

    pub fn flush(&mut self) {
        if self.len > 0 {
            crate::trap::mach_print(&self.buf[..self.len]);
            self.len = 0;
        }
    }
}

impl Default for Console {
    fn default() -> Self {
        Self::new()
    }
}

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len == self.buf.len() {
                self.flush();
            }
            self.buf[self.len] = b;
            self.len += 1;
            if b == b'\n' {
                self.flush();
            }
        }
        Ok(())
    }
}

#[doc(hidden)]
pub fn print_args(args: fmt::Arguments) {
    let mut c = Console::new();
    let _ = c.write_fmt(args);
    c.flush();
}

/// Prints to the kernel console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::print_args(format_args!($($arg)*)) };
}

/// Prints a line to the kernel console (one `mach_print` for the whole line).
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::console::print_args(format_args!("{}\n", format_args!($($arg)*))) };
}
