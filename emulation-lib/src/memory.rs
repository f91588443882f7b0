//! Memory calls: brk, mmap, munmap, mprotect, mremap and msync are the
//! server's (it maps the process's memory with Mach VM calls on the task);
//! madvise is advice, taken as done. Also the library's own giving back of
//! out-of-line regions it received.

use crate::calls;
use crate::trampoline::task_self;
use crate::transport::Rpc;
use linux_raw_sys::general as nr;

pub fn call(number: u32, a: [u64; 6]) -> i64 {
    match number {
        nr::__NR_madvise => 0,
        _ => calls::scalar(number, a),
    }
}

/// Unmaps an out-of-line region the library received.
pub fn give_back(address: u64, size: u64) {
    if size > 0 {
        let _ = mach_interfaces::vm::vm_deallocate(&mut Rpc, task_self(), address, size);
    }
}
