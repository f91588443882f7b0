//! `unix-abi`: the contract between the Unix server and the emulation
//! library it maps into every Unix process (Linux's own numbers and layouts
//! come from `linux-raw-sys`; this crate holds only what is ours).
//!
//! * Where the emulation library lives ([`EMUL_BASE`]) and the header at its
//!   start ([`EmulHeader`]), through which the server finds its entries.
//! * The names of the two rights every Unix process's IPC space holds
//!   ([`PROCESS_PORT_NAME`], [`REPLY_PORT_NAME`]): the server puts them
//!   there when it makes the task, so the emulation library never has to ask
//!   the kernel for them and a forked child finds them under the same names.
//! * The registers the trampoline saves ([`Regs`]), in the order it pushes them.
//! * The address-space layout of a Unix process.

#![no_std]
#![forbid(unsafe_code)]

/// Where the emulation library is linked and mapped: above everything a
/// Linux program places itself (its image at 4 MiB, its heap after it, its
/// `mmap`s wherever the server puts them, below this), below the stack.
pub const EMUL_BASE: u64 = 0x7ff0_0000_0000;

/// The end of the range reserved for the emulation library.
pub const EMUL_END: u64 = 0x7ff0_1000_0000;

/// The top of a Unix process's main stack (`RLIMIT_STACK` below it).
pub const STACK_TOP: u64 = 0x7fff_ffff_0000;

/// The main stack's size (Linux's default `RLIMIT_STACK`, 8 MiB), all of it
/// demand-zero.
pub const STACK_SIZE: u64 = 8 << 20;

/// The name, in each Unix process's IPC space, of its send right to its own
/// port in the Unix server: the server knows the caller by the port a
/// request arrives on, never by anything the request says.
pub const PROCESS_PORT_NAME: u32 = 0x4000;

/// The name of the receive right the emulation library takes replies on.
pub const REPLY_PORT_NAME: u32 = 0x4100;

/// A call number of the library's own (above every Linux number), in the
/// `unix_read` shape: "take the next signal to deliver". The server answers
/// the signal number (0: none) and in-line [`SignalTaken`]'s words, and
/// sets the mask the handler runs with.
pub const TAKE_SIGNAL: u64 = 100_000;

/// What `TAKE_SIGNAL` answers: handler, flags, restorer, and the mask the
/// frame saves (restored by rt_sigreturn), as little-endian words.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SignalTaken {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub saved_mask: u64,
}

impl SignalTaken {
    pub const SIZE: usize = 32;

    pub fn encode(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        for (i, w) in [self.handler, self.flags, self.restorer, self.saved_mask]
            .iter()
            .enumerate()
        {
            b[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        b
    }

    pub fn decode(b: &[u8]) -> Option<SignalTaken> {
        let w = |i: usize| -> Option<u64> { Some(u64::from_le_bytes(b.get(i * 8..i * 8 + 8)?.try_into().ok()?)) };
        Some(SignalTaken {
            handler: w(0)?,
            flags: w(1)?,
            restorer: w(2)?,
            saved_mask: w(3)?,
        })
    }
}

/// `EmulHeader::magic`: "MACHEMUL".
pub const EMUL_MAGIC: u64 = u64::from_le_bytes(*b"MACHEMUL");

/// The version of this contract; the server refuses another.
pub const EMUL_VERSION: u64 = 2;

/// At [`EMUL_BASE`]: the library's entry points, read by the server from the
/// library's image. Eight-byte little-endian words in this order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EmulHeader {
    pub magic: u64,
    pub version: u64,
    /// Where a redirected `syscall` enters (the emulation vector's catch-all).
    pub syscall_entry: u64,
    /// Where a forked child's first thread starts: it restores the registers
    /// the parent's library saved before asking for the fork, with rax = 0.
    pub fork_child_entry: u64,
    /// The documented direct entry (the seed's "modified libc" row): a
    /// program may `call` it instead of executing `syscall`, with the
    /// number in rax and the arguments as for `syscall`; it returns like a
    /// function (rcx and r11 clobbered, as `syscall` clobbers them).
    pub direct_entry: u64,
    /// The library's copies of program memory run in
    /// `[copy_begin, copy_end)`: a fault there is the program's bad
    /// pointer, and the server resumes the thread at `copy_fault`, which
    /// makes the copy return its failure (the call then answers `EFAULT`).
    pub copy_begin: u64,
    pub copy_end: u64,
    pub copy_fault: u64,
}

impl EmulHeader {
    /// The header's size in bytes.
    pub const SIZE: usize = 8 * 8;

    /// Whether `rip` is inside the library's copies of program memory.
    pub fn in_copy(&self, rip: u64) -> bool {
        (self.copy_begin..self.copy_end).contains(&rip)
    }

    /// Reads a header from the first bytes of the library's image.
    pub fn parse(bytes: &[u8]) -> Option<EmulHeader> {
        let word = |i: usize| -> Option<u64> {
            let b = bytes.get(i * 8..i * 8 + 8)?;
            Some(u64::from_le_bytes(b.try_into().ok()?))
        };
        let h = EmulHeader {
            magic: word(0)?,
            version: word(1)?,
            syscall_entry: word(2)?,
            fork_child_entry: word(3)?,
            direct_entry: word(4)?,
            copy_begin: word(5)?,
            copy_end: word(6)?,
            copy_fault: word(7)?,
        };
        let inside = |a: u64| (EMUL_BASE..EMUL_END).contains(&a);
        (h.magic == EMUL_MAGIC
            && h.version == EMUL_VERSION
            && inside(h.syscall_entry)
            && inside(h.fork_child_entry)
            && inside(h.direct_entry)
            && inside(h.copy_begin)
            && inside(h.copy_fault)
            && h.copy_begin <= h.copy_end
            && h.copy_end <= EMUL_END)
            .then_some(h)
    }
}

/// The program's registers as the trampoline saves them on entry (lowest
/// address first; it pushes them in the opposite order). `rcx` is the
/// return address and `r11` the flags, as `syscall` leaves them; `rsp` is
/// not among them: the program's is the trampoline's entry `rsp` plus
/// `mach_abi::emulation::EMULATION_RED_ZONE`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Regs {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
}

impl Regs {
    /// The system call's arguments, in Linux's order.
    pub fn args(&self) -> [u64; 6] {
        [self.rdi, self.rsi, self.rdx, self.r10, self.r8, self.r9]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(h: &EmulHeader) -> [u8; EmulHeader::SIZE] {
        let mut b = [0u8; EmulHeader::SIZE];
        let words = [
            h.magic,
            h.version,
            h.syscall_entry,
            h.fork_child_entry,
            h.direct_entry,
            h.copy_begin,
            h.copy_end,
            h.copy_fault,
        ];
        for (i, w) in words.iter().enumerate() {
            b[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        b
    }

    fn good() -> EmulHeader {
        EmulHeader {
            magic: EMUL_MAGIC,
            version: EMUL_VERSION,
            syscall_entry: EMUL_BASE + 0x1000,
            fork_child_entry: EMUL_BASE + 0x1040,
            direct_entry: EMUL_BASE + 0x1080,
            copy_begin: EMUL_BASE + 0x2000,
            copy_end: EMUL_BASE + 0x2040,
            copy_fault: EMUL_BASE + 0x2040,
        }
    }

    #[test]
    fn the_copy_range_is_half_open() {
        let h = good();
        assert!(!h.in_copy(h.copy_begin - 1));
        assert!(h.in_copy(h.copy_begin));
        assert!(h.in_copy(h.copy_end - 1));
        assert!(!h.in_copy(h.copy_end));
    }

    #[test]
    fn a_header_reads_back() {
        assert_eq!(EmulHeader::parse(&image(&good())), Some(good()));
    }

    #[test]
    fn bad_headers_are_refused() {
        let mut h = good();
        h.magic ^= 1;
        assert_eq!(EmulHeader::parse(&image(&h)), None);
        let mut h = good();
        h.version = EMUL_VERSION + 1;
        assert_eq!(EmulHeader::parse(&image(&h)), None);
        let mut h = good();
        h.syscall_entry = 0x401000;
        assert_eq!(EmulHeader::parse(&image(&h)), None);
        let mut h = good();
        h.fork_child_entry = EMUL_END;
        assert_eq!(EmulHeader::parse(&image(&h)), None);
        let mut h = good();
        h.direct_entry = EMUL_BASE - 1;
        assert_eq!(EmulHeader::parse(&image(&h)), None);
        let mut h = good();
        h.copy_fault = 0;
        assert_eq!(EmulHeader::parse(&image(&h)), None);
        let mut h = good();
        h.copy_end = h.copy_begin - 1;
        assert_eq!(EmulHeader::parse(&image(&h)), None);
        let mut h = good();
        h.copy_begin = 0x1000;
        h.copy_end = EMUL_BASE + 1;
        assert_eq!(EmulHeader::parse(&image(&h)), None);
        assert_eq!(EmulHeader::parse(&image(&good())[..EmulHeader::SIZE - 1]), None);
    }

    #[test]
    fn arguments_in_linux_order() {
        let r = Regs {
            rdi: 1,
            rsi: 2,
            rdx: 3,
            r10: 4,
            r8: 5,
            r9: 6,
            ..Regs::default()
        };
        assert_eq!(r.args(), [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn a_taken_signal_reads_back() {
        let t = SignalTaken {
            handler: 1,
            flags: 2 << 40,
            restorer: 3,
            saved_mask: u64::MAX,
        };
        assert_eq!(SignalTaken::decode(&t.encode()), Some(t));
        assert_eq!(SignalTaken::decode(&t.encode()[..31]), None);
    }

    #[test]
    fn the_layout_is_below_the_stack() {
        assert!(EMUL_END <= STACK_TOP - STACK_SIZE);
        assert_eq!(core::mem::size_of::<Regs>(), 15 * 8);
    }
}
