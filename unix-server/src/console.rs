//! The console as the processes see it (`/dev/console`, `/dev/tty`, the
//! first process's descriptors 0, 1 and 2): output goes to the kernel's
//! console with Linux's default output processing (ONLCR: "\n" becomes
//! "\r\n" on the wire); input arrives with the console device.

use mach_user::trap::mach_print;

/// Writes a process's bytes to the console; returns how many were taken.
pub fn write(bytes: &[u8]) -> usize {
    let mut out = [0u8; 512];
    let mut n = 0;
    for &b in bytes {
        if b == b'\n' {
            out[n] = b'\r';
            n += 1;
        }
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
