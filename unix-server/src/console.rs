//! The console as the processes see it (`/dev/console`, `/dev/tty`, the
//! first process's descriptors 0, 1 and 2): output goes to the kernel's
//! console (which itself turns "\n" into "\r\n" on the wire, ONLCR); input
//! arrives from the kernel's console device, through [`ConsoleInput`].

use mach_user::trap::mach_print;

/// Writes a process's bytes to the console; returns how many were taken.
pub fn write(bytes: &[u8]) -> usize {
    let mut out = [0u8; 512];
    let mut n = 0;
    for &b in bytes {
        out[n] = b;
        n += 1;
        if n >= out.len() - 1 {
            mach_print(&out[..n]);
            n = 0;
        }
    }
    if n > 0 {
        mach_print(&out[..n]);
    }
    bytes.len()
}

/// The kernel's `struct termios` (what TCGETS writes: 19 control
/// characters, 36 bytes; the C library converts it to its own).
pub const TERMIOS_SIZE: usize = core::mem::size_of::<linux_raw_sys::general::termios>();

/// The console's `struct termios` as TCGETS answers it: Linux's defaults
/// for a terminal in canonical mode with echo (c_iflag ICRNL|IXON,
/// c_oflag OPOST|ONLCR, c_cflag B38400|CS8|CREAD|HUPCL, c_lflag
/// ISIG|ICANON|ECHO|ECHOE|ECHOK|ECHOCTL|ECHOKE|IEXTEN), line 0, the usual
/// control characters.
pub fn termios() -> [u8; TERMIOS_SIZE] {
    use linux_raw_sys::general as g;
    let mut t = [0u8; TERMIOS_SIZE];
    let iflag = g::ICRNL | g::IXON;
    let oflag = g::OPOST | g::ONLCR;
    let cflag = g::B38400 | g::CS8 | g::CREAD | g::HUPCL;
    let lflag = g::ISIG | g::ICANON | g::ECHO | g::ECHOE | g::ECHOK | g::ECHOCTL | g::ECHOKE | g::IEXTEN;
    t[0..4].copy_from_slice(&iflag.to_le_bytes());
    t[4..8].copy_from_slice(&oflag.to_le_bytes());
    t[8..12].copy_from_slice(&cflag.to_le_bytes());
    t[12..16].copy_from_slice(&lflag.to_le_bytes());
    // c_line at 16, c_cc[19] from 17: VINTR ^C, VQUIT ^\, VERASE DEL,
    // VKILL ^U, VEOF ^D, VTIME 0, VMIN 1, VSTART ^Q, VSTOP ^S, VSUSP ^Z,
    // VEOL 0, VREPRINT ^R, VDISCARD ^O, VWERASE ^W, VLNEXT ^V.
    let cc: [u8; 17] = [3, 28, 127, 21, 4, 0, 1, 0, 17, 19, 26, 0, 18, 15, 23, 22, 0];
    t[17..17 + cc.len()].copy_from_slice(&cc);
    t
}

/// The console's input side: the kernel's console device, read
/// asynchronously (one `device_read` outstanding, its reply to a port in the
/// server's port set, so the server never waits for a keystroke), and a
/// line discipline over it: canonical mode (a line at a time, erase with
/// DEL or ^H, ^D as end of file, ICRNL) with echo, or raw when the process
/// turned ICANON off (TCSETS), as busybox's line editing does.
pub struct ConsoleInput {
    /// The console device port (0: none, reads are end of file).
    pub device: u32,
    /// Where the device's read replies arrive.
    pub reply_port: u32,
    /// Whether a device_read is outstanding.
    pub reading: bool,
    /// Bytes ready for readers (whole lines in canonical mode).
    pub ready: alloc::vec::Vec<u8>,
    /// The line being typed (canonical mode).
    pub line: alloc::vec::Vec<u8>,
    /// ^D was typed on an empty line: the next read returns 0.
    pub eof: bool,
    /// The termios the processes set (TCSETS), as TCGETS answers it.
    pub termios: [u8; TERMIOS_SIZE],
}

impl ConsoleInput {
    pub fn new() -> ConsoleInput {
        ConsoleInput {
            device: 0,
            reply_port: 0,
            reading: false,
            ready: alloc::vec::Vec::new(),
            line: alloc::vec::Vec::new(),
            eof: false,
            termios: termios(),
        }
    }

    fn lflag(&self) -> u32 {
        u32::from_le_bytes(self.termios[12..16].try_into().unwrap_or([0; 4]))
    }

    fn iflag(&self) -> u32 {
        u32::from_le_bytes(self.termios[0..4].try_into().unwrap_or([0; 4]))
    }

    /// Takes typed bytes through the line discipline; returns what to echo.
    pub fn typed(&mut self, bytes: &[u8]) -> alloc::vec::Vec<u8> {
        use linux_raw_sys::general as g;
        let canonical = self.lflag() & g::ICANON != 0;
        let echo = self.lflag() & g::ECHO != 0;
        let mut out = alloc::vec::Vec::new();
        for &b0 in bytes {
            let b = if b0 == b'\r' && self.iflag() & g::ICRNL != 0 {
                b'\n'
            } else {
                b0
            };
            if !canonical {
                self.ready.push(b);
                if echo {
                    out.push(b);
                }
                continue;
            }
            match b {
                0x7f | 0x08 => {
                    if self.line.pop().is_some() && echo {
                        out.extend_from_slice(b"\x08 \x08");
                    }
                }
                0x04 => {
                    if self.line.is_empty() {
                        self.eof = true;
                    } else {
                        self.ready.append(&mut self.line);
                    }
                }
                b'\n' => {
                    self.line.push(b'\n');
                    self.ready.append(&mut self.line);
                    if echo {
                        out.push(b'\n');
                    }
                }
                _ => {
                    if self.line.len() < 4095 {
                        self.line.push(b);
                        if echo {
                            out.push(b);
                        }
                    }
                }
            }
        }
        out
    }

    /// What a read of at most `count` bytes gets now: Some(bytes) (empty:
    /// end of file), or None if it must wait.
    pub fn take(&mut self, count: usize) -> Option<alloc::vec::Vec<u8>> {
        if !self.ready.is_empty() {
            let n = count.min(self.ready.len());
            // Canonical reads end at a line's end.
            let n = if self.lflag() & linux_raw_sys::general::ICANON != 0 {
                self.ready[..n].iter().position(|&c| c == b'\n').map_or(n, |i| i + 1)
            } else {
                n
            };
            return Some(self.ready.drain(..n).collect());
        }
        if self.eof || self.device == 0 {
            self.eof = false;
            return Some(alloc::vec::Vec::new());
        }
        None
    }
}
