//! The 16550 UART on COM1: the kernel console, and the console device's
//! input (its receive interrupt is ISA IRQ 4, routed by `ioapic`).

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

    /// Turns on the receive-data interrupt (IRQ 4: its route through the
    /// I/O APIC must be set first, so that input already waiting raises it).
    pub fn enable_receive_interrupt() {
        // SAFETY: writing COM1's interrupt enable register (bit 0: data
        // received) has no effect on memory.
        unsafe { Port::<u8>::new(COM1 + 1).write(0x01) };
    }

    /// Moves the bytes the UART has received into `buf`, as many as fit;
    /// returns how many. Reading them clears the receive interrupt.
    pub fn read_input(buf: &mut [u8]) -> usize {
        let mut lsr = Port::<u8>::new(COM1 + 5);
        let mut data = Port::<u8>::new(COM1);
        let mut n = 0;
        while n < buf.len() {
            // SAFETY: reading COM1's line status and receive buffer has no
            // effect on memory (it takes the byte out of the UART).
            let byte = unsafe {
                if lsr.read() & 0x01 == 0 {
                    break;
                }
                data.read()
            };
            buf[n] = byte;
            n += 1;
        }
        n
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
