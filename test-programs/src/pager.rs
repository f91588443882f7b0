//! A test memory manager: a thread that serves the `memory_object` interface
//! on a port (with `mach_user::pager`) and answers data requests page by page
//! (the value of each byte of page N is `0x40 + N`; page 2 is "unavailable",
//! page 3 an error, both answered for the rest of the object), and records every message it receives, in order, for the
//! tests to check. Pages the kernel returns (page-out) are kept and supplied
//! again on the next request for them.

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use mach_interfaces::memory_object as mo;
use mach_user::ool::OolRegion;
use mach_user::pager::{MemoryManager, MemoryObject, Server};
use mach_user::sync::SpinLock;
use mach_user::thread::{StaticStack, thread_create_running};

/// What the pager has received: (message id, offset).
pub static LOG: [AtomicU64; 32] = [const { AtomicU64::new(0) }; 32];
pub static LOG_LEN: AtomicUsize = AtomicUsize::new(0);
static PORT: AtomicU32 = AtomicU32::new(0);
/// The pager's name for the control port of the object while it is
/// initialised (0 before init and after terminate).
static CONTROL: AtomicU32 = AtomicU32::new(0);

/// The control port of the object while it is initialised (0 before any
/// init and after terminate, when the pager has given its right up).
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
static RETURNED: SpinLock<[[u8; 4096]; KEPT]> = SpinLock::new([[0; 4096]; KEPT]);
pub static HAVE: [AtomicBool; KEPT] = [const { AtomicBool::new(false) }; KEPT];
/// Dirty flags of the last data_return per page.
pub static RETURNED_DIRTY: [AtomicBool; KEPT] = [const { AtomicBool::new(false) }; KEPT];

/// Byte `at` of returned page `page`, if the kernel returned it.
pub fn returned_byte(page: usize, at: usize) -> Option<u8> {
    if !HAVE.get(page)?.load(Ordering::Acquire) || at >= 4096 {
        return None;
    }
    Some(RETURNED.lock()[page][at])
}

struct Pager;

impl MemoryManager for Pager {
    fn init(&mut self, object: MemoryObject, _page_size: u64) -> Result<(), i32> {
        record(mo::MEMORY_OBJECT_INIT_ID, 0);
        // For tests that send requests (lock_request) on the control port.
        CONTROL.store(object.control(), Ordering::Release);
        Ok(())
    }

    fn data_unlock(&mut self, object: MemoryObject, offset: u64, length: u64, _a: u32) -> Result<(), i32> {
        record(mo::MEMORY_OBJECT_DATA_UNLOCK_ID, offset);
        // Lift the lock at once.
        object.lock_request(offset, length, 0, 0, 0, 0)
    }

    fn lock_completed(&mut self, _port: u32, offset: u64, _length: u64) -> Result<(), i32> {
        // Completions go to the requester's own port, never here.
        record(mo::MEMORY_OBJECT_LOCK_COMPLETED_ID, offset);
        Ok(())
    }

    fn data_request(&mut self, object: MemoryObject, offset: u64, length: u64, _a: u32) -> Result<(), i32> {
        record(mo::MEMORY_OBJECT_DATA_REQUEST_ID, offset);
        let page = offset / 4096;
        if (page as usize) < KEPT && HAVE[page as usize].load(Ordering::Acquire) {
            let kept = RETURNED.lock();
            return object.data_supply(offset, &kept[page as usize], 0);
        }
        // Pages 2 and 3 are answered for the whole rest of the object, as a
        // careless or hostile pager might: the kernel cuts the range and
        // answers only the pages it asked for (page 3's error must end the
        // faulting task at once, not after 2^28 pages).
        let rest = (1u64 << 40).saturating_sub(offset).max(length);
        match page {
            2 => object.data_unavailable(offset, rest),
            3 => object.data_error(offset, rest, 1),
            _ => object.data_supply(offset, &[0x40 + page as u8; 4096], 0),
        }
    }

    fn data_return(
        &mut self,
        _object: MemoryObject,
        offset: u64,
        data: OolRegion,
        dirty: bool,
        _kernel_copy: bool,
    ) -> Result<(), i32> {
        record(mo::MEMORY_OBJECT_DATA_RETURN_ID, offset);
        let page = (offset / 4096) as usize;
        if page < KEPT
            && offset.is_multiple_of(4096)
            && let Some(bytes) = data.get(..4096)
        {
            RETURNED.lock()[page].copy_from_slice(bytes);
            RETURNED_DIRTY[page].store(dirty, Ordering::Release);
            HAVE[page].store(true, Ordering::Release);
        }
        Ok(())
    }

    fn terminate(&mut self, _port: u32) -> Result<(), i32> {
        // The server has released the control right by now.
        CONTROL.store(0, Ordering::Release);
        record(mo::MEMORY_OBJECT_TERMINATE_ID, 0);
        Ok(())
    }
}

extern "C" fn serve(_: u64) -> ! {
    Server::new(PORT.load(Ordering::Acquire), Pager).run();
    mach_user::trap::thread_exit()
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
