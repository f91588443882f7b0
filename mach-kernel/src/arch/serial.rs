//! The 16550 UART on COM1: the kernel console.

use core::fmt;
use x86_64::instructions::port::Port;

const COM1: u16 = 0x3f8;

/// The COM1 serial port. Output is polled: the kernel console never blocks on
/// interrupts and works from any context, including the panic handler.
pub struct Serial;

impl Serial {
    /// Programs COM1 for 115200 8N1 with FIFOs on.
    pub fn init() {
        for (offset, value) in [
            (1u16, 0x00u8),
            (3, 0x80),
            (0, 0x01),
            (1, 0x00),
            (3, 0x03),
            (2, 0xC7),
            (4, 0x0B),
        ] {
            // SAFETY: COM1 registers are standard PC I/O ports; writing the line
            // configuration has no effect on memory.
            unsafe { Port::<u8>::new(COM1 + offset).write(value) };
        }
    }

    /// Sends one byte, waiting for the transmit holding register to empty.
    pub fn write_byte(byte: u8) {
        let mut lsr = Port::<u8>::new(COM1 + 5);
        let mut data = Port::<u8>::new(COM1);
        // SAFETY: reading the line status and writing the data register of COM1
        // are side-effect free for memory.
        unsafe {
            let mut spins = 0u32;
            while lsr.read() & 0x20 == 0 && spins < 1_000_000 {
                spins += 1;
                core::hint::spin_loop();
            }
            data.write(byte);
        }
    }

    pub fn write_bytes(bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' {
                Self::write_byte(b'\r');
            }
            Self::write_byte(b);
        }
    }
}

impl fmt::Write for Serial {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        Self::write_bytes(s.as_bytes());
        Ok(())
    }
}
