//! Program start-up and the panic handler.
//!
//! The kernel starts a program at `_start` with `rsp` at the System V start-up
//! block (argc, argv, envp, auxv). `_start` aligns the stack and calls the
//! program's `mach_main` (defined by [`entry!`](crate::entry)) with the
//! arguments; its return value becomes the task's exit status.

use core::arch::naked_asm;
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering};

/// The program's arguments (`argv`), as UTF-8 strings (invalid ones read as "").
#[derive(Clone, Copy)]
pub struct Args {
    argc: usize,
    argv: *const *const u8,
}

impl Args {
    pub fn len(&self) -> usize {
        self.argc
    }

    pub fn is_empty(&self) -> bool {
        self.argc == 0
    }

    pub fn get(&self, i: usize) -> Option<&'static str> {
        if i >= self.argc {
            return None;
        }
        // SAFETY: the kernel put argc valid pointers to NUL-terminated strings
        // at argv; they live on the initial stack for the life of the task.
        unsafe {
            let p = *self.argv.add(i);
            let mut n = 0;
            while *p.add(n) != 0 {
                n += 1;
            }
            Some(core::str::from_utf8(core::slice::from_raw_parts(p, n)).unwrap_or(""))
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &'static str> + '_ {
        (0..self.argc).filter_map(|i| self.get(i))
    }
}

/// A port name passed on the command line as `PREFIX0x1234` (the kernel names
/// boot tasks' ports this way, e.g. `--bootstrap-port=`).
pub fn port_arg(args: &Args, prefix: &str) -> Option<u32> {
    args.iter().find_map(|a| a.strip_prefix(prefix)).and_then(|v| {
        let v = v.trim_start_matches("0x");
        u32::from_str_radix(v, 16).ok()
    })
}

/// This task's bootstrap port (a send right), if the kernel gave it one.
pub fn bootstrap_port(args: &Args) -> Option<u32> {
    port_arg(args, "--bootstrap-port=")
}

/// This task's send right to the privileged host port, if the kernel gave
/// it one (`--host-priv-port=`: boot tasks only).
pub fn host_priv_port(args: &Args) -> Option<u32> {
    port_arg(args, "--host-priv-port=")
}

/// The host_priv name found on the command line at start-up (see
/// [`host_priv_port`]), for code that has no `Args` at hand; `None` if the
/// kernel gave none. A task made with `task_create` from this image's memory
/// inherits the remembered value but not the right: its first thread calls
/// [`crate::ipc::forget_task_self`], which forgets this too.
pub fn host_priv() -> Option<u32> {
    match HOST_PRIV.load(Ordering::Relaxed) {
        0 => None,
        n => Some(n),
    }
}

/// Forgets the remembered host_priv name (see [`host_priv`]).
pub(crate) fn forget_host_priv() {
    HOST_PRIV.store(0, Ordering::Relaxed);
}

static HOST_PRIV: AtomicU32 = AtomicU32::new(0);

unsafe extern "Rust" {
    fn mach_main(args: Args) -> i32;
}

#[unsafe(naked)]
#[unsafe(no_mangle)]
extern "C" fn _start() -> ! {
    naked_asm!("mov rdi, rsp", "and rsp, -16", "xor ebp, ebp", "call {}", "ud2", sym start_rust)
}

/// The program's name (argv[0]), for the panic report.
static PROGRAM: AtomicPtr<u8> = AtomicPtr::new(core::ptr::null_mut());
static PROGRAM_LEN: AtomicUsize = AtomicUsize::new(0);

extern "C" fn start_rust(sp: *const u64) -> ! {
    // SAFETY: sp points at the start-up block the kernel built: argc, then argv.
    let args = unsafe {
        Args {
            argc: *sp as usize,
            argv: sp.add(1) as *const *const u8,
        }
    };
    if let Some(name) = args.get(0) {
        PROGRAM.store(name.as_ptr() as *mut u8, Ordering::Relaxed);
        PROGRAM_LEN.store(name.len(), Ordering::Relaxed);
    }
    HOST_PRIV.store(host_priv_port(&args).unwrap_or(0), Ordering::Relaxed);
    // SAFETY: mach_main is defined by the program through `entry!`.
    let status = unsafe { mach_main(args) };
    crate::trap::task_exit(status)
}

/// Declares the program's main function: `fn(Args) -> i32`.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[unsafe(no_mangle)]
        fn mach_main(args: $crate::start::Args) -> i32 {
            let f: fn($crate::start::Args) -> i32 = $main;
            f(args)
        }
    };
}

fn program_name() -> &'static str {
    let p = PROGRAM.load(Ordering::Relaxed);
    let n = PROGRAM_LEN.load(Ordering::Relaxed);
    if p.is_null() {
        return "program";
    }
    // SAFETY: PROGRAM/PROGRAM_LEN describe argv[0], a UTF-8 string on the
    // initial stack that lives as long as the task.
    unsafe { core::str::from_utf8(core::slice::from_raw_parts(p, n)).unwrap_or("program") }
}

/// Whether a panic is reported as a failed test (see [`panics_are_not_failures`]).
static PANIC_FAILS: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(true);

/// Makes a panic of this task a plain report instead of a failed test: for
/// tasks that other tasks are meant to attack (test-fuzz's children, whose
/// registers and memory their siblings change at random), where a panic is
/// an outcome, not a bug.
pub fn panics_are_not_failures() {
    PANIC_FAILS.store(false, Ordering::Relaxed);
}

/// A panic ends the task with status 101 and is reported as a failed test, so
/// a test program can never fail silently.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    if PANIC_FAILS.load(Ordering::Relaxed) {
        crate::println!("test {}_did_not_panic ... FAILED: {info}", program_name());
    } else {
        crate::println!("{}: panicked (a task under attack): {info}", program_name());
    }
    crate::trap::task_exit(101)
}
