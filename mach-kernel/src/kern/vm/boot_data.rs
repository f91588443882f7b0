//! Boot data: GRUB modules that are not programs (the word `boot-data` on
//! their line), such as the Unix server's root file system archive. The
//! kernel never parses their bytes: it keeps each one as a VM object and
//! hands out copies (`host_boot_data` on the host_priv port).
//!
//! At boot each module's bytes are copied once into a fresh anonymous object
//! (whole pages, zero past the end) that the kernel holds a reference to for
//! its lifetime. A caller gets a copy-on-write copy of that object, as a
//! virtual copy in the reply (no byte is copied per call; the caller's first
//! write to a page pushes a shadow, as for any out-of-line memory). The
//! kernel's own reference is what keeps the object unchanged: a caller's
//! entry always has another reference beside its own, so it never writes
//! the object in place and collapse never merges it into a caller's shadow,
//! and page-out passes it over (a reference that is no mapping). Each
//! caller's copy is its own: its pages (shared or pushed) go when it
//! deallocates them, or with the reply if that dies undelivered.
//!
//! The module's frames stay reserved, as every boot module's do (the loader
//! copies program images out of theirs too). The objects' frames are taken
//! before the end-of-run frame audit's baseline and never freed, so the
//! audit (`test frames_reclaimed`) counts neither.

use super::{copy, release, with_objects};
use crate::mem;
use alloc::vec::Vec;
use mach_abi::kern_return::*;
use mach_core::PAGE_SIZE;
use mach_core::vm::{ObjectId, VmCopy, VmError};
use spin::Mutex;

/// One boot data module.
struct BootData {
    /// The first word of its line, packed as device names are.
    name: u64,
    /// Its object (`None` for an empty module).
    object: Option<ObjectId>,
    /// Its length in bytes.
    len: u32,
}

/// The boot data modules, in menu order (written at boot only).
static DATA: Mutex<Vec<BootData>> = Mutex::new(Vec::new());

/// What `host_boot_data` returns: the module's name and length, and a
/// virtual-copy handle for the reply (`None`: the module is empty).
pub struct BootCopy {
    pub name: u64,
    pub len: u32,
    pub copy: Option<u64>,
}

/// Keeps `bytes` as boot data module number `count()` under `name` (at
/// boot, before the first task). Fails, keeping nothing, on a module of
/// 4 GiB or more (the reply's count is 32 bits) or when memory is short.
pub fn keep(name: u64, bytes: &[u8]) -> Result<(), KernReturn> {
    let len = u32::try_from(bytes.len()).map_err(|_| KERN_INVALID_ARGUMENT)?;
    let mut data = DATA.lock();
    data.try_reserve(1).map_err(|_| KERN_RESOURCE_SHORTAGE)?;
    let object = if len == 0 { None } else { Some(object_of(bytes)?) };
    data.push(BootData { name, object, len });
    Ok(())
}

/// A new anonymous object holding `bytes` (not empty), whole pages.
fn object_of(bytes: &[u8]) -> Result<ObjectId, KernReturn> {
    let size = (bytes.len() as u64).next_multiple_of(PAGE_SIZE);
    let obj = with_objects(|o| o.create(size, None)).map_err(VmError::kr)?;
    for (i, chunk) in bytes.chunks(PAGE_SIZE as usize).enumerate() {
        let inserted = mem::alloc_frame().map(|mut f| {
            f.fill(chunk);
            let page = f.into_page();
            (page, with_objects(|o| o.insert_page(obj, i as u64 * PAGE_SIZE, page)))
        });
        match inserted {
            Some((_, Ok(()))) => {}
            failed => {
                if let Some((p, Err(_))) = failed {
                    mem::free_page(p);
                }
                // A fresh anonymous object: no pager to tell.
                let _ = release(with_objects(|o| o.deallocate(obj)).unwrap_or_default());
                return Err(KERN_RESOURCE_SHORTAGE);
            }
        }
    }
    Ok(obj)
}

/// How many boot data modules there are.
pub fn count() -> usize {
    DATA.lock().len()
}

/// A copy-on-write copy of boot data module `index` for a reply;
/// `KERN_INVALID_ARGUMENT` past the last module.
pub fn copy(index: u32) -> Result<BootCopy, KernReturn> {
    let (name, object, len) = {
        let data = DATA.lock();
        let d = data.get(index as usize).ok_or(KERN_INVALID_ARGUMENT)?;
        (d.name, d.object, d.len)
    };
    let Some(obj) = object else {
        return Ok(BootCopy { name, len, copy: None });
    };
    // The copy takes over the reference made here; the kernel's stays.
    let c = with_objects(|o| {
        o.reference(obj)?;
        VmCopy::from_object(o, obj).map_err(|e| {
            let _ = o.deallocate(obj);
            e
        })
    })
    .map_err(VmError::kr)?;
    Ok(BootCopy {
        name,
        len,
        copy: Some(copy::keep(c, 0)),
    })
}
