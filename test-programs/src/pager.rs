//! A test memory manager: a thread that serves the `memory_object` interface
//! on a port and answers data requests page by page (the value of each byte
//! of page N is `0x40 + N`; page 2 is "unavailable", page 3 an error), and
//! records every message it receives, in order, for the tests to check.
//! Pages the kernel returns (page-out) are kept and supplied again on the
//! next request for them.

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use mach_interfaces::memory_object::{self as mo, MemoryObjectServer};
use mach_interfaces::memory_object_control as moc;
use mach_interfaces::{Dispatch, Release};
use mach_user::abi::message::*;
use mach_user::ipc::{MsgBuf, mach_msg, mach_task_self};
use mach_user::rpc::{Rpc, mach_port as mp, vm};
use mach_user::thread::{StaticStack, thread_create_running};

/// What the pager has received: (message id, offset).
pub static LOG: [AtomicU64; 32] = [const { AtomicU64::new(0) }; 32];
pub static LOG_LEN: AtomicUsize = AtomicUsize::new(0);
static PORT: AtomicU32 = AtomicU32::new(0);
/// A send right to the control port of the object last initialised.
static CONTROL: AtomicU32 = AtomicU32::new(0);

/// The control port of the object last initialised (0 before any).
pub fn control_port() -> u32 {
    CONTROL.load(Ordering::Acquire)
}
static STACK: StaticStack<32768> = StaticStack::new();

/// Log entries are `id << 40 | offset`.
pub fn log_entry(i: usize) -> Option<(i32, u64)> {
    if i >= LOG_LEN.load(Ordering::Acquire) {
        return None;
    }
    let v = LOG[i].load(Ordering::Acquire);
    Some(((v >> 40) as i32, v & ((1 << 40) - 1)))
}

fn record(id: i32, offset: u64) {
    let i = LOG_LEN.load(Ordering::Acquire);
    if i < LOG.len() {
        LOG[i].store(((id as u64) << 40) | offset, Ordering::Release);
        LOG_LEN.store(i + 1, Ordering::Release);
    }
}

/// Pages returned by the kernel (the first `KEPT` pages of the object).
const KEPT: usize = 8;
static mut RETURNED: [[u8; 4096]; KEPT] = [[0; 4096]; KEPT];
pub static HAVE: [AtomicBool; KEPT] = [const { AtomicBool::new(false) }; KEPT];
/// Dirty flags of the last data_return per page.
pub static RETURNED_DIRTY: [AtomicBool; KEPT] = [const { AtomicBool::new(false) }; KEPT];

/// Byte `at` of returned page `page`, if the kernel returned it.
pub fn returned_byte(page: usize, at: usize) -> Option<u8> {
    if !HAVE.get(page)?.load(Ordering::Acquire) || at >= 4096 {
        return None;
    }
    // SAFETY: only the pager thread writes RETURNED, and it sets HAVE after.
    Some(unsafe { (*(&raw const RETURNED))[page][at] })
}

struct Pager {
    rpc: Rpc,
}

impl Release for Pager {
    fn release_port(&mut self, name: u32, _t: u8) {
        let _ = mp::mach_port_deallocate(&mut self.rpc, mach_task_self(), name);
    }
    fn release_ool(&mut self, _a: u64, _s: u64) {}
    fn release_ool_ports(&mut self, _a: u64, _c: u32, _t: u8) {}
}

impl MemoryObjectServer for Pager {
    fn memory_object_init(&mut self, _mo: u32, control: u32, _page_size: u64) -> Result<(), i32> {
        record(mo::MEMORY_OBJECT_INIT_ID, 0);
        // Keep this right to the control port for tests that send requests
        // (lock_request) on it; give up an older one.
        let old = CONTROL.swap(control, Ordering::AcqRel);
        if old != 0 {
            self.release_port(old, 0);
        }
        Ok(())
    }
    fn memory_object_data_unlock(
        &mut self,
        _mo: u32,
        control: u32,
        offset: u64,
        length: u64,
        _a: u32,
    ) -> Result<(), i32> {
        record(mo::MEMORY_OBJECT_DATA_UNLOCK_ID, offset);
        // Lift the lock at once.
        let r = moc::memory_object_lock_request(&mut self.rpc, control, offset, length, 0, 0, 0, 0);
        self.release_port(control, 0);
        r
    }
    fn memory_object_lock_completed(&mut self, reply_to: u32, control: u32, offset: u64, _l: u64) -> Result<(), i32> {
        // Completions go to the requester's own port, never here.
        record(mo::MEMORY_OBJECT_LOCK_COMPLETED_ID, offset);
        self.release_port(reply_to, 0);
        self.release_port(control, 0);
        Ok(())
    }
    fn memory_object_data_request(
        &mut self,
        _mo: u32,
        control: u32,
        offset: u64,
        length: u64,
        _a: u32,
    ) -> Result<(), i32> {
        record(mo::MEMORY_OBJECT_DATA_REQUEST_ID, offset);
        let page = offset / 4096;
        if (page as usize) < KEPT && HAVE[page as usize].load(Ordering::Acquire) {
            // SAFETY: only this thread touches RETURNED.
            let data = unsafe { &(*(&raw const RETURNED))[page as usize] };
            let r = moc::memory_object_data_supply(&mut self.rpc, control, offset, data, 0);
            self.release_port(control, 0);
            return r;
        }
        let r = match page {
            2 => moc::memory_object_data_unavailable(&mut self.rpc, control, offset, length),
            3 => moc::memory_object_data_error(&mut self.rpc, control, offset, length, 1),
            _ => {
                let data = [0x40 + page as u8; 4096];
                moc::memory_object_data_supply(&mut self.rpc, control, offset, &data, 0)
            }
        };
        self.release_port(control, 0);
        r
    }
    fn memory_object_data_return(
        &mut self,
        _mo: u32,
        control: u32,
        offset: u64,
        data: mach_interfaces::OolArray,
        dirty: u32,
        _kernel_copy: u32,
    ) -> Result<(), i32> {
        record(mo::MEMORY_OBJECT_DATA_RETURN_ID, offset);
        let page = (offset / 4096) as usize;
        if page < KEPT && data.count as usize >= 4096 && offset.is_multiple_of(4096) {
            // SAFETY: the kernel mapped `count` bytes at `address` for us;
            // only this thread touches RETURNED.
            unsafe {
                let src = core::slice::from_raw_parts(data.address as *const u8, 4096);
                (*(&raw mut RETURNED))[page].copy_from_slice(src);
            }
            RETURNED_DIRTY[page].store(dirty != 0, Ordering::Release);
            HAVE[page].store(true, Ordering::Release);
        }
        let _ = vm::vm_deallocate(&mut self.rpc, mach_task_self(), data.address, u64::from(data.count));
        self.release_port(control, 0);
        Ok(())
    }
    fn memory_object_terminate(&mut self, _mo: u32, control: u32) -> Result<(), i32> {
        record(mo::MEMORY_OBJECT_TERMINATE_ID, 0);
        self.release_port(control, 0);
        Ok(())
    }
}

extern "C" fn serve(_: u64) -> ! {
    let mut p = Pager { rpc: Rpc::new() };
    let port = PORT.load(Ordering::Acquire);
    let mut req: MsgBuf<512> = MsgBuf::new();
    let mut reply: MsgBuf<512> = MsgBuf::new();
    loop {
        if mach_msg(&mut req, MACH_RCV_MSG, 0, port, 0) != MACH_MSG_SUCCESS {
            continue;
        }
        let size = (req.header().size as usize + MACH_MSG_TRAILER_SIZE).min(512);
        if let Dispatch::Reply(n) = mo::memory_object_server(&mut p, &req.0[..size], &mut reply.0) {
            mach_msg(&mut reply, MACH_SEND_MSG | MACH_SEND_TIMEOUT, n as u32, 0, 0);
        }
    }
}

/// The memory object port the pager serves.
pub fn object_port() -> u32 {
    PORT.load(Ordering::Acquire)
}

/// Starts the pager thread on receive right `port`.
pub fn start(port: u32) -> bool {
    PORT.store(port, Ordering::Release);
    match STACK.take() {
        Some(stack) => thread_create_running(serve, stack, 0).is_ok(),
        None => false,
    }
}
