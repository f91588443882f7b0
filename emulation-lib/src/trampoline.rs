//! The trampoline: the only code in the emulation library that is not safe
//! Rust. It owns the entries the kernel and the server send a thread to
//! (`unix_abi::EmulHeader`), the register save and restore around the Rust
//! dispatch, the Mach traps the library makes, and the copies between the
//! library and the program's memory.
//!
//! A redirected `syscall` arrives at `emul_syscall_entry` with every register
//! as the program left it (rcx = its next instruction, r11 = its flags) and
//! rsp 128 bytes below the program's, past its red zone. The entry pushes the
//! registers ([`Regs`], lowest address first), aligns the stack, calls
//! [`crate::dispatch::syscall`] with them, pops them (rax now the result) and
//! returns to the program: its flags from r11, its stack, a jump to rcx. The
//! kernel is not entered again. The library's Rust code is soft-float (the
//! target has no SSE), so the program's vector registers pass through
//! untouched.

use core::arch::{asm, global_asm};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use mach_abi::emulation::EMULATION_RED_ZONE;
use unix_abi::{EMUL_MAGIC, EMUL_VERSION, Regs};

global_asm!(
    r#"
    .text
    .global emul_syscall_entry
    .global emul_direct_entry
    .global emul_fork_child_entry

/* A `call` from the program instead of `syscall` (the "modified libc"
   entry): make the registers look as `syscall` leaves them, then share
   the path. */
emul_direct_entry:
    pop %rcx
    pushfq
    pop %r11
    lea -{red}(%rsp), %rsp

emul_syscall_entry:
    push %rax
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %rbp
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, %rdi
    mov %rsp, %rbx
    lea {stack}+{stack_size}(%rip), %rsp
    cld
    call {dispatch}
    test %al, %al
    jnz 2f
    mov %rbx, %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rbp
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rbx
    pop %rax
    push %r11
    popfq
    lea {red}(%rsp), %rsp
    jmp *%rcx

/* Back to a context other than the one that entered (a signal handler,
   or the one rt_sigreturn restores): every register from RESTORE, the
   flags, the stack, and a jump through memory, so nothing is clobbered. */
2:
    lea {restore}(%rip), %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rbp
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rbx
    pop %rax
    popfq
    mov {restore}+128(%rip), %rsp
    jmp *{restore}+136(%rip)

/* A forked child's first instruction (rdi = its pid): forget the
   parent's name for the task port, write the pid where clone asked, set
   the FS base, then the registers the parent saved in FORK_REGS (inherited copy-on-write), rax = 0, the
   parent's stack, and on to the instruction after its `syscall`. */
emul_fork_child_entry:
    movl $0, {task_self}(%rip)
    mov {fork_ctid}(%rip), %rax
    test %rax, %rax
    jz 1f
    mov %edi, (%rax)
1:
    mov {fork_fs}(%rip), %rsi
    mov ${set_fs}, %edi
    mov ${tls_trap}, %rax
    syscall
    lea {fork_regs}(%rip), %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rbp
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rbx
    mov {fork_rsp}(%rip), %rsp
    xor %eax, %eax
    push %r11
    popfq
    jmp *%rcx
    "#,
    red = const EMULATION_RED_ZONE,
    dispatch = sym dispatch_entry,
    fork_fs = sym FORK_FS,
    restore = sym RESTORE,
    stack = sym EMUL_STACK,
    stack_size = const EMUL_STACK_SIZE,
    fork_ctid = sym FORK_CTID,
    task_self = sym TASK_SELF,
    fork_regs = sym FORK_REGS,
    fork_rsp = sym FORK_RSP,
    set_fs = const mach_abi::emulation::tls::SET_FS,
    tls_trap = const mach_abi::traps::THREAD_TLS_BASE,
    options(att_syntax)
);

unsafe extern "C" {
    fn emul_syscall_entry();
    fn emul_direct_entry();
    fn emul_fork_child_entry();
}

/// The header at the library's first byte (`unix_abi::EmulHeader`).
#[repr(C)]
struct Header {
    magic: u64,
    version: u64,
    syscall_entry: unsafe extern "C" fn(),
    fork_child_entry: unsafe extern "C" fn(),
    direct_entry: unsafe extern "C" fn(),
    copy_begin: unsafe extern "C" fn(),
    copy_end: unsafe extern "C" fn(),
    copy_fault: unsafe extern "C" fn(),
}

#[used]
#[unsafe(link_section = ".emul_header")]
static HEADER: Header = Header {
    magic: EMUL_MAGIC,
    version: EMUL_VERSION,
    syscall_entry: emul_syscall_entry,
    fork_child_entry: emul_fork_child_entry,
    direct_entry: emul_direct_entry,
    copy_begin: emul_copy_begin,
    copy_end: emul_copy_end,
    copy_fault: emul_copy_fault,
};

/// What a forked child resumes with: the parent's registers at its
/// `fork`, its stack pointer and FS base (written by [`save_for_fork`]
/// before the request, so the child's copy of this memory holds them).
static mut FORK_REGS: Regs = Regs {
    r15: 0,
    r14: 0,
    r13: 0,
    r12: 0,
    r11: 0,
    r10: 0,
    r9: 0,
    r8: 0,
    rbp: 0,
    rdi: 0,
    rsi: 0,
    rdx: 0,
    rcx: 0,
    rbx: 0,
    rax: 0,
};
static FORK_RSP: AtomicU64 = AtomicU64::new(0);
static FORK_FS: AtomicU64 = AtomicU64::new(0);
static FORK_CTID: AtomicU64 = AtomicU64::new(0);

/// The task's name for its own port, asked of the kernel once (each ask
/// adds a reference); a forked child's entry clears it.
static TASK_SELF: AtomicU32 = AtomicU32::new(0);

/// This task's port name.
pub fn task_self() -> u32 {
    match TASK_SELF.load(Ordering::Relaxed) {
        0 => {
            // SAFETY: the trap only adds a right to this task's space.
            let (rax, _) = unsafe { raw_trap(mach_abi::traps::TASK_SELF_TRAP, [0; 6]) };
            TASK_SELF.store(rax as u32, Ordering::Relaxed);
            rax as u32
        }
        n => n,
    }
}

/// Room to gather execve's path, arguments and environment (Linux's
/// ARG_MAX is larger; more is E2BIG here).
const EXEC_BUFFER: usize = 256 * 1024;
static mut EXEC_IMAGE: [u8; EXEC_BUFFER] = [0; EXEC_BUFFER];

/// The buffer execve gathers into.
pub fn exec_buffer() -> &'static mut [u8] {
    // SAFETY: one system call at a time per process (single-threaded
    // processes), and only execve, which does not nest, takes it.
    unsafe { &mut *(&raw mut EXEC_IMAGE) }
}

/// The library's own stack: the dispatch runs here, not on the program's
/// stack, so that a signal frame written below the program's red zone
/// never lands on the library's live frames (and small thread stacks do
/// not pay for the RPC buffers). One, for single-threaded processes; a
/// handler's calls use it afresh, the interrupted call having finished.
#[repr(C, align(16))]
struct EmulStack([u8; EMUL_STACK_SIZE]);
const EMUL_STACK_SIZE: usize = 64 * 1024;
static mut EMUL_STACK: EmulStack = EmulStack([0; EMUL_STACK_SIZE]);

/// The context a return other than the plain one goes to: the general
/// registers in `Regs` order, then rflags, rsp, rip (the asm's offsets).
static mut RESTORE: [u64; 18] = [0; 18];

/// Makes the current call return to `r` (all registers) instead of the
/// program's next instruction: the dispatch then answers `true`.
pub fn set_restore(r: &unix_core::signal::frame::Registers) {
    let words = [
        r.r15, r.r14, r.r13, r.r12, r.r11, r.r10, r.r9, r.r8, r.rbp, r.rdi, r.rsi, r.rdx, r.rcx, r.rbx, r.rax,
        r.rflags, r.rsp, r.rip,
    ];
    // SAFETY: one system call at a time per process (single-threaded
    // processes); the asm reads RESTORE only after the dispatch returned.
    unsafe { (&raw mut RESTORE).write_volatile(words) };
}

extern "C" fn dispatch_entry(regs: *mut Regs) -> bool {
    // SAFETY: `regs` points at the registers the entry just pushed on this
    // thread's stack, which nothing else touches until the entry pops them.
    let regs = unsafe { &mut *regs };
    let program_rsp = (regs as *mut Regs as u64)
        .wrapping_add(core::mem::size_of::<Regs>() as u64)
        .wrapping_add(EMULATION_RED_ZONE);
    crate::dispatch::syscall(regs, program_rsp)
}

/// `unix-core` links `alloc`, which nothing in the library uses: a heap that
/// has nothing to give (an allocation would fail, never succeed wrongly).
struct NoHeap;

// SAFETY: `alloc` always returns null, which GlobalAlloc allows; `dealloc`
// is never reached, since no allocation ever succeeded.
unsafe impl core::alloc::GlobalAlloc for NoHeap {
    unsafe fn alloc(&self, _layout: core::alloc::Layout) -> *mut u8 {
        core::ptr::null_mut()
    }
    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: core::alloc::Layout) {}
}

#[global_allocator]
static HEAP: NoHeap = NoHeap;

/// Keeps what a forked child needs to resume as the program: its registers
/// (`regs`, the saved ones), its `rsp`, its FS base (`fs`, else this
/// thread's) and where to write its pid (`ctid`, 0 for nowhere). Returns
/// the stack the child's first thread should start on (below the red zone
/// of `rsp`).
pub fn save_for_fork(regs: &Regs, rsp: u64, fs: Option<u64>, ctid: u64) -> u64 {
    // SAFETY: the library runs one system call at a time per process (its
    // Unix processes are single-threaded), so nothing else reads or writes
    // FORK_REGS now.
    unsafe { (&raw mut FORK_REGS).write_volatile(*regs) };
    FORK_RSP.store(rsp, Ordering::SeqCst);
    let fs = fs.unwrap_or_else(|| tls(mach_abi::emulation::tls::GET_FS, 0).unwrap_or(0));
    FORK_FS.store(fs, Ordering::SeqCst);
    FORK_CTID.store(ctid, Ordering::SeqCst);
    rsp.wrapping_sub(EMULATION_RED_ZONE) & !15
}

/// Enters the kernel with Mach trap `number`; returns (rax, rdx).
///
/// # Safety
/// Traps may write memory named by their arguments; the caller vouches.
#[inline(always)]
unsafe fn raw_trap(number: i64, args: [u64; 6]) -> (i64, u64) {
    let rax: i64;
    let rdx: u64;
    // SAFETY: `syscall` with a negative number enters the kernel (never
    // this library): it clobbers rcx and r11 and returns in rax and rdx.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") number => rax,
            in("rdi") args[0],
            in("rsi") args[1],
            inlateout("rdx") args[2] => rdx,
            in("r10") args[3],
            in("r8") args[4],
            in("r9") args[5],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack)
        );
    }
    (rax, rdx)
}

/// `mach_msg(SEND|RCV)` of `buf[..send_size]`, receiving into all of `buf`
/// on `rcv_name`.
pub fn mach_msg(buf: &mut [u8], option: u32, send_size: usize, rcv_name: u32) -> i32 {
    let rcv = if option & mach_abi::message::MACH_RCV_MSG != 0 {
        buf.len()
    } else {
        0
    };
    // SAFETY: the kernel reads at most send_size <= buf.len() bytes and
    // writes at most rcv <= buf.len() bytes of `buf`.
    let (rax, _) = unsafe {
        raw_trap(
            mach_abi::traps::MACH_MSG_TRAP,
            [
                buf.as_mut_ptr() as u64,
                option as u64,
                send_size.min(buf.len()) as u64,
                rcv as u64,
                rcv_name as u64,
                0,
            ],
        )
    };
    rax as i32
}

/// `thread_tls_base(op, value)`: the calling thread's FS/GS base.
pub fn tls(op: u64, value: u64) -> Result<u64, i32> {
    // SAFETY: only the thread's FS or GS base changes; this library reads
    // nothing through either.
    let (rax, rdx) = unsafe { raw_trap(mach_abi::traps::THREAD_TLS_BASE, [op, value, 0, 0, 0, 0]) };
    if rax == 0 { Ok(rdx) } else { Err(rax as i32) }
}

/// `clock_get_time(clock)` in nanoseconds.
pub fn clock(clock: u64) -> Result<u64, i32> {
    // SAFETY: the trap has no memory effects.
    let (rax, rdx) = unsafe { raw_trap(mach_abi::traps::CLOCK_GET_TIME, [clock, 0, 0, 0, 0, 0]) };
    if rax == 0 { Ok(rdx) } else { Err(rax as i32) }
}

/// Writes `bytes` to the kernel console (the library's own last words).
pub fn kernel_print(bytes: &[u8]) {
    // SAFETY: the kernel only reads `bytes`.
    unsafe {
        raw_trap(
            mach_abi::traps::MACH_PRINT,
            [bytes.as_ptr() as u64, bytes.len() as u64, 0, 0, 0, 0],
        )
    };
}

/// Ends the task at once (the library cannot go on: a broken contract
/// with the server). The server hears of it as the process's death.
pub fn task_exit(status: i32) -> ! {
    // SAFETY: ending the task is what is asked for.
    unsafe { raw_trap(mach_abi::traps::TASK_EXIT, [status as u64, 0, 0, 0, 0, 0]) };
    loop {
        core::hint::spin_loop();
    }
}

/// A program's pointer that its memory does not back: the call answers
/// `EFAULT`, as Linux's does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault;

/// Set by any copy that faulted during the current call: the dispatch
/// answers `EFAULT` for a call whose code went on regardless.
static FAULTED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Whether a copy faulted since the last call; clears the mark.
pub fn take_fault() -> bool {
    FAULTED.swap(false, Ordering::Relaxed)
}

fn fault() -> Fault {
    FAULTED.store(true, Ordering::Relaxed);
    Fault
}

// The copies of program memory. A fault inside them (an address the
// program has not mapped, or mapped without the access) reaches the Unix
// server as the process's exception; the server sees the thread's rip in
// [emul_copy_begin, emul_copy_end) (the header says where) and resumes it
// at emul_copy_fault, which returns -1 from the routine that faulted. Both
// routines are leaves that touch no stack, so rsp at the fault is rsp at
// their entry and the `ret` there is theirs.
global_asm!(
    r#"
    .text
    .global emul_copy_begin
    .global emul_copy_end
    .global emul_copy_fault
    .global emul_copy_bytes
    .global emul_copy_str

emul_copy_begin:
/* (dst, src, len) -> 0, or -1 if it faulted */
emul_copy_bytes:
    mov %rdx, %rcx
    rep movsb
    xor %eax, %eax
    ret

/* (dst, src, max) -> the string's length (the index of its NUL, which is
   copied), max if none within max bytes, or -1 if it faulted */
emul_copy_str:
    xor %eax, %eax
1:  cmp %rdx, %rax
    je 2f
    movzbl (%rsi,%rax), %ecx
    mov %cl, (%rdi,%rax)
    test %cl, %cl
    je 2f
    inc %rax
    jmp 1b
2:  ret
emul_copy_end:

emul_copy_fault:
    mov $-1, %rax
    ret
"#,
    options(att_syntax)
);

unsafe extern "C" {
    fn emul_copy_begin();
    fn emul_copy_end();
    fn emul_copy_fault();
    fn emul_copy_bytes(dst: *mut u8, src: *const u8, len: usize) -> i64;
    fn emul_copy_str(dst: *mut u8, src: *const u8, max: usize) -> i64;
}

/// Copies `dst.len()` bytes of the program's memory at `src` into `dst`;
/// [`Fault`] if the program's memory there is not readable (or overlaps
/// the library's own).
pub fn copy_in(src: u64, dst: &mut [u8]) -> Result<(), Fault> {
    if dst.is_empty() {
        return Ok(());
    }
    if overlaps_library(src, dst.len() as u64) {
        return Err(fault());
    }
    // SAFETY: `dst` is the library's own writable buffer of that length;
    // `src` is program memory outside the library's range (refused above),
    // so no Rust object of the library is read behind the compiler's back,
    // and an unmapped byte there ends the copy through emul_copy_fault
    // (the server's recovery), never with a wild access of the library's.
    let r = unsafe { emul_copy_bytes(dst.as_mut_ptr(), src as *const u8, dst.len()) };
    if r < 0 { Err(fault()) } else { Ok(()) }
}

/// Copies `src` into the program's memory at `dst`; [`Fault`] if it is not
/// writable there.
pub fn copy_out(dst: u64, src: &[u8]) -> Result<(), Fault> {
    if src.is_empty() {
        return Ok(());
    }
    if overlaps_library(dst, src.len() as u64) {
        return Err(fault());
    }
    // SAFETY: as for copy_in, the other way: the program's memory is
    // written, the library's only read.
    let r = unsafe { emul_copy_bytes(dst as *mut u8, src.as_ptr(), src.len()) };
    if r < 0 { Err(fault()) } else { Ok(()) }
}

/// Why a program's string could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrError {
    /// It does not end within the room given.
    TooLong,
    /// Its memory is not readable.
    Fault,
}

/// Reads a NUL-terminated string of the program's at `src` into `dst`;
/// its length.
pub fn copy_in_str(src: u64, dst: &mut [u8]) -> Result<usize, StrError> {
    // The part of the room before the library (or the address space's
    // end): a string running into either does not end in readable memory.
    let room = if src >= unix_abi::EMUL_BASE && src < unix_abi::EMUL_END {
        0
    } else if src < unix_abi::EMUL_BASE {
        (unix_abi::EMUL_BASE - src).min(dst.len() as u64) as usize
    } else {
        (u64::MAX - src).min(dst.len() as u64) as usize
    };
    // SAFETY: as for copy_in: at most `room` bytes of program memory
    // outside the library, into the library's buffer of at least that size.
    let r = unsafe { emul_copy_str(dst.as_mut_ptr(), src as *const u8, room) };
    match r {
        r if r < 0 => {
            fault();
            Err(StrError::Fault)
        }
        r if (r as usize) < room => Ok(r as usize),
        _ if room < dst.len() => {
            fault();
            Err(StrError::Fault)
        }
        _ => Err(StrError::TooLong),
    }
}

fn overlaps_library(addr: u64, len: u64) -> bool {
    let end = addr.saturating_add(len);
    addr < unix_abi::EMUL_END && end > unix_abi::EMUL_BASE || addr.checked_add(len).is_none()
}
