//! A process's memory calls, made with Mach VM calls on its task: brk
//! (the break grows and shrinks whole pages above the program), mmap of
//! anonymous memory (and, copied, of files), munmap, mprotect. Linux's
//! protection bits are Mach's (read 1, write 2, execute 4).

use crate::exec::{page_down, page_up};
use crate::server::Unix;
use linux_raw_sys::general as g;
use mach_interfaces::vm;
use unix_core::errno::Errno;

/// The break may grow this far above its start.
const BRK_MAX: u64 = 1 << 30;

impl Unix {
    pub fn brk(&mut self, port: u32, want: u64) -> i64 {
        let Some(p) = self.procs.by_port(port) else {
            return Errno::ESRCH.as_return();
        };
        let (task, start, cur) = (p.task, p.brk_start, p.brk);
        if want < start || want > start.saturating_add(BRK_MAX) {
            return cur as i64;
        }
        let (Some(old_top), Some(new_top)) = (page_up(cur), page_up(want)) else {
            return cur as i64;
        };
        if new_top > old_top {
            if vm::vm_allocate(&mut self.rpc, task, old_top, new_top - old_top, 0).is_err() {
                return cur as i64;
            }
        } else if new_top < old_top {
            let _ = vm::vm_deallocate(&mut self.rpc, task, new_top, old_top - new_top);
        }
        if let Some(p) = self.procs.by_port_mut(port) {
            p.brk = want;
        }
        want as i64
    }

    pub fn mmap(&mut self, port: u32, a: [u64; 6]) -> i64 {
        let [addr, len, prot, flags, fd, offset] = a;
        let Some(task) = self.procs.by_port(port).map(|p| p.task) else {
            return Errno::ESRCH.as_return();
        };
        let Some(size) = page_up(len).filter(|&s| s > 0 && s < unix_abi::EMUL_BASE) else {
            return Errno::EINVAL.as_return();
        };
        if offset % crate::exec::PAGE != 0 || prot > 7 {
            return Errno::EINVAL.as_return();
        }
        let fixed = flags & g::MAP_FIXED as u64 != 0;
        if fixed && (addr % crate::exec::PAGE != 0 || addr.saturating_add(size) > unix_abi::EMUL_BASE) {
            return Errno::EINVAL.as_return();
        }
        let anonymous = flags & g::MAP_ANONYMOUS as u64 != 0;
        let contents = if anonymous {
            None
        } else {
            match self.file_bytes_for_mmap(port, fd as i32, offset, size) {
                Ok(b) => Some(b),
                Err(e) => return e.as_return(),
            }
        };
        if fixed {
            let _ = vm::vm_deallocate(&mut self.rpc, task, addr, size);
        }
        let at = match vm::vm_allocate(&mut self.rpc, task, if fixed { addr } else { 0 }, size, (!fixed) as u32) {
            Ok(a) => a,
            Err(_) => return Errno::ENOMEM.as_return(),
        };
        if let Some(bytes) = contents {
            if !bytes.is_empty() && vm::vm_write(&mut self.rpc, task, at, &bytes).is_err() {
                let _ = vm::vm_deallocate(&mut self.rpc, task, at, size);
                return Errno::ENOMEM.as_return();
            }
        }
        if prot != 3 && vm::vm_protect(&mut self.rpc, task, at, size, 0, prot as u32).is_err() {
            let _ = vm::vm_deallocate(&mut self.rpc, task, at, size);
            return Errno::ENOMEM.as_return();
        }
        at as i64
    }

    pub fn munmap(&mut self, port: u32, addr: u64, len: u64) -> i64 {
        let Some(task) = self.procs.by_port(port).map(|p| p.task) else {
            return Errno::ESRCH.as_return();
        };
        let Some(end) = addr.checked_add(len).and_then(page_up) else {
            return Errno::EINVAL.as_return();
        };
        if addr % crate::exec::PAGE != 0 || len == 0 || end > unix_abi::EMUL_BASE {
            return Errno::EINVAL.as_return();
        }
        let _ = vm::vm_deallocate(&mut self.rpc, task, addr, end - addr);
        0
    }

    pub fn mprotect(&mut self, port: u32, addr: u64, len: u64, prot: u64) -> i64 {
        let Some(task) = self.procs.by_port(port).map(|p| p.task) else {
            return Errno::ESRCH.as_return();
        };
        let Some(end) = addr.checked_add(len).and_then(page_up) else {
            return Errno::EINVAL.as_return();
        };
        if addr % crate::exec::PAGE != 0 || prot > 7 || end > unix_abi::EMUL_BASE {
            return Errno::EINVAL.as_return();
        }
        if end == page_down(addr) {
            return 0;
        }
        match vm::vm_protect(&mut self.rpc, task, addr, end - addr, 0, prot as u32) {
            Ok(()) => 0,
            Err(_) => Errno::ENOMEM.as_return(),
        }
    }
}
