//! Deliberate kernel faults for the test suite, chosen by `selftest=` on the
//! kernel command line: they prove that a kernel-mode fault is reported with a
//! symbolised backtrace and ends the run with the panic exit code.

/// Reads the guard page below the first kernel stack, which is never mapped.
pub fn kernel_page_fault() -> ! {
    let guard = super::paging::KSTACK_REGION;
    // SAFETY: not safe at all by design: the read faults in kernel mode and
    // the page-fault handler reports it as a kernel fault and stops the kernel.
    let v = unsafe { core::ptr::read_volatile(guard as *const u64) };
    panic!("reading an unmapped kernel page returned {v:#x}");
}
