//! The default pager's answers: `memory_object` requests on object ports and
//! `default_pager` requests on the service port, on top of the disk map
//! (`default_pager_core`) and the disk `hd0`.
//!
//! * `data_request`: per page, `data_supply` from the disk if the page was
//!   stored, `data_unavailable` if it never was (the kernel zero-fills),
//!   `data_error` if it was lost (a return the disk could not take) or the
//!   disk read failed. A range that is unaligned, not whole pages, outside
//!   the object or larger than [`MAX_REQUEST_PAGES`] gets one `data_error`.
//! * `data_return`: each dirty page is written to its block (allocated on
//!   first return, rewritten in place after). Clean pages are not written:
//!   the disk already has them, or they were never written and read as zero.
//!   Disk full: that page stays unstored and is remembered as lost (later
//!   requests for it get `data_error`); nothing else changes. Mach's default
//!   pager panics here instead.
//! * `terminate`, and no-senders on an object port: the object ends, its
//!   blocks are freed and its port destroyed (later messages to it fail to
//!   send). So an object made with `default_pager_object_create` lives until
//!   its last mapping goes or its last send right does, whichever is first.
//! * Malformed or misdirected simpleroutines (an unknown object, a bad
//!   range, a page size other than 4096) cannot be answered with an error:
//!   they are dropped with their rights and memory and counted in
//!   `default_pager_info`'s `rejected`.
//!
//! Answers to control ports are sent with a zero send timeout, so a task
//! that passes a full port of its own as "control" cannot stall the pager.

use crate::{add_port, open_disk};
use default_pager_core::{DiskMap, DpError, ObjectId, PAGE_SIZE, PageState, RECORDS_PER_BLOCK};
use mach_interfaces::default_pager::{DefaultPagerInfoReply, DefaultPagerServer};
use mach_interfaces::memory_object::MemoryObjectServer;
use mach_interfaces::memory_object_control as moc;
use mach_interfaces::{OolArray, Release, Transport};
use mach_user::abi::device::D_IO_ERROR;
use mach_user::abi::kern_return::*;
use mach_user::abi::message::*;
use mach_user::abi::port::MACH_PORT_RIGHT_RECEIVE;
use mach_user::ipc::{MsgBuf, mach_msg, mach_task_self};
use mach_user::println;
use mach_user::rpc::{Rpc, device, mach_port, vm};

/// Most pages one `data_request` may ask for.
pub const MAX_REQUEST_PAGES: u64 = 64;

/// One-way sends with a zero timeout, for answers on control ports.
struct NoWait;

impl Transport for NoWait {
    fn call(&mut self, _buf: &mut [u8], _send_size: usize) -> Result<usize, i32> {
        Err(MACH_SEND_INVALID_DEST)
    }
    fn send(&mut self, buf: &mut [u8], send_size: usize) -> Result<(), i32> {
        let mut m: MsgBuf<256> = MsgBuf::new();
        if send_size > m.0.len() || send_size > buf.len() {
            return Err(MACH_SEND_MSG_TOO_SMALL);
        }
        m.0[..send_size].copy_from_slice(&buf[..send_size]);
        match mach_msg(&mut m, MACH_SEND_MSG | MACH_SEND_TIMEOUT, send_size as u32, 0, 0) {
            MACH_MSG_SUCCESS => Ok(()),
            r => Err(r),
        }
    }
}

fn kern_return(e: DpError) -> i32 {
    match e {
        DpError::NoSpace => KERN_NO_SPACE,
        DpError::TooManyObjects => KERN_RESOURCE_SHORTAGE,
        _ => KERN_INVALID_ARGUMENT,
    }
}

pub struct Pager {
    pub rpc: Rpc,
    task: u32,
    /// The port set the pager receives on.
    pub set: u32,
    /// The service port registered as `default_pager`.
    pub service: u32,
    /// `hd0`, once opened.
    dev: Option<u32>,
    pub map: DiskMap<'static>,
    /// Requests dropped as malformed or misdirected.
    pub rejected: u32,
}

impl Pager {
    pub fn new(rpc: Rpc, set: u32, service: u32, map: DiskMap<'static>) -> Self {
        Pager {
            rpc,
            task: mach_task_self(),
            set,
            service,
            dev: None,
            map,
            rejected: 0,
        }
    }

    /// Opens the disk if it is not open yet (tried once).
    pub fn ensure_disk(&mut self) {
        if self.dev.is_some() {
            return;
        }
        match open_disk(&mut self.rpc) {
            Ok((dev, blocks)) => {
                let _ = self.map.attach(blocks);
                self.dev = Some(dev);
                println!(
                    "default_pager: paging to hd0: {} blocks of 4 KiB ({} usable)",
                    blocks,
                    self.map.total_blocks()
                );
            }
            Err(why) => {
                // Without a disk every store fails: returned pages are lost (data_error later).
                self.dev = Some(0);
                println!("default_pager: {why}; no page can be stored");
            }
        }
    }

    fn reject(&mut self) -> Result<(), i32> {
        self.rejected = self.rejected.saturating_add(1);
        Err(KERN_INVALID_ARGUMENT)
    }

    /// No send rights are left to `port`: if it is an object, it ends.
    pub fn no_senders(&mut self, port: u32) {
        if let Some(id) = self.map.find(port) {
            self.destroy(id);
        }
    }

    /// Ends object `id`: frees its blocks and destroys its port.
    fn destroy(&mut self, id: ObjectId) {
        let Ok(port) = self.map.object(id).map(|o| o.port) else {
            return;
        };
        let _ = self.map.destroy(id);
        let _ = mach_port::mach_port_mod_refs(&mut self.rpc, self.task, port, MACH_PORT_RIGHT_RECEIVE, -1);
    }

    /// Serves receive right `port` as a new object of `size` bytes.
    fn new_object(&mut self, port: u32, size: u64) -> Result<(), i32> {
        let id = self.map.create(port, size).map_err(kern_return)?;
        if let Err(kr) = add_port(&mut self.rpc, self.set, port) {
            let _ = self.map.destroy(id);
            return Err(kr);
        }
        Ok(())
    }

    /// Answers the kernel's request for page `page` of `id` on `control`.
    fn supply_page(&mut self, control: u32, id: ObjectId, page: u64) {
        let offset = page * PAGE_SIZE;
        let _ = match self.map.lookup(id, page) {
            Ok(PageState::OnDisk(block)) => {
                match device::device_read(
                    &mut self.rpc,
                    self.dev.unwrap_or(0),
                    0,
                    block * RECORDS_PER_BLOCK,
                    PAGE_SIZE as u32,
                ) {
                    Ok(data) if u64::from(data.count) == PAGE_SIZE => {
                        // SAFETY: the kernel mapped `count` bytes at `address` for us.
                        let bytes =
                            unsafe { core::slice::from_raw_parts(data.address as *const u8, PAGE_SIZE as usize) };
                        let r = moc::memory_object_data_supply(&mut NoWait, control, offset, bytes, 0);
                        let _ = vm::vm_deallocate(&mut self.rpc, self.task, data.address, PAGE_SIZE);
                        r
                    }
                    Ok(data) => {
                        let _ = vm::vm_deallocate(&mut self.rpc, self.task, data.address, u64::from(data.count));
                        moc::memory_object_data_error(&mut NoWait, control, offset, PAGE_SIZE, D_IO_ERROR)
                    }
                    Err(_) => moc::memory_object_data_error(&mut NoWait, control, offset, PAGE_SIZE, D_IO_ERROR),
                }
            }
            Ok(PageState::Never) => moc::memory_object_data_unavailable(&mut NoWait, control, offset, PAGE_SIZE),
            Ok(PageState::Lost) | Err(_) => {
                moc::memory_object_data_error(&mut NoWait, control, offset, PAGE_SIZE, KERN_MEMORY_ERROR)
            }
        };
    }

    /// Writes `bytes` (one page) as page `page` of `id`; on failure the page is lost.
    fn store_page(&mut self, id: ObjectId, page: u64, bytes: &[u8]) {
        let Ok(block) = self.map.store(id, page) else {
            // Disk full: the map now counts the page as lost.
            return;
        };
        let w = device::device_write(
            &mut self.rpc,
            self.dev.unwrap_or(0),
            0,
            block * RECORDS_PER_BLOCK,
            bytes,
        );
        if w != Ok(PAGE_SIZE as u32) {
            self.map.write_failed(id, page);
        }
    }

    /// The object on port `port` (never the service port).
    fn object(&self, port: u32) -> Option<ObjectId> {
        if port == self.service {
            None
        } else {
            self.map.find(port)
        }
    }
}

impl Release for Pager {
    fn release_port(&mut self, name: u32, received_type: u8) {
        if received_type == MACH_MSG_TYPE_PORT_RECEIVE {
            let _ = mach_port::mach_port_mod_refs(&mut self.rpc, self.task, name, MACH_PORT_RIGHT_RECEIVE, -1);
        } else {
            let _ = mach_port::mach_port_deallocate(&mut self.rpc, self.task, name);
        }
    }
    fn release_ool(&mut self, address: u64, size: u64) {
        if size != 0 {
            let _ = vm::vm_deallocate(&mut self.rpc, self.task, address, size);
        }
    }
    fn release_ool_ports(&mut self, address: u64, count: u32, received_type: u8) {
        for i in 0..u64::from(count) {
            // SAFETY: the kernel mapped `count` port names at `address` for us.
            let name = unsafe { core::ptr::read_volatile((address + 4 * i) as *const u32) };
            if name != 0 && name != u32::MAX {
                self.release_port(name, received_type);
            }
        }
        self.release_ool(address, 4 * u64::from(count));
    }
}

impl MemoryObjectServer for Pager {
    fn memory_object_init(&mut self, mo: u32, control: u32, page_size: u64) -> Result<(), i32> {
        if self.object(mo).is_none() || page_size != PAGE_SIZE {
            return self.reject();
        }
        // Every request carries its own control right; this one is not kept.
        self.release_port(control, MACH_MSG_TYPE_PORT_SEND);
        Ok(())
    }

    fn memory_object_data_request(
        &mut self,
        mo: u32,
        control: u32,
        offset: u64,
        length: u64,
        _access: u32,
    ) -> Result<(), i32> {
        let Some(id) = self.object(mo) else {
            return self.reject();
        };
        match self.map.check_range(id, offset, length) {
            Ok((first, count)) if count <= MAX_REQUEST_PAGES => {
                for page in first..first + count {
                    self.supply_page(control, id, page);
                }
            }
            _ => {
                self.rejected = self.rejected.saturating_add(1);
                let _ = moc::memory_object_data_error(&mut NoWait, control, offset, length, KERN_INVALID_ARGUMENT);
            }
        }
        self.release_port(control, MACH_MSG_TYPE_PORT_SEND);
        Ok(())
    }

    fn memory_object_data_return(
        &mut self,
        mo: u32,
        control: u32,
        offset: u64,
        data: OolArray,
        dirty: u32,
        _kernel_copy: u32,
    ) -> Result<(), i32> {
        let Some(id) = self.object(mo) else {
            return self.reject();
        };
        let Ok((first, count)) = self.map.check_range(id, offset, u64::from(data.count)) else {
            return self.reject();
        };
        if dirty != 0 {
            // SAFETY: the kernel mapped `count` bytes at `address` for us;
            // they stay mapped until the release below.
            let bytes = unsafe { core::slice::from_raw_parts(data.address as *const u8, data.count as usize) };
            for (i, chunk) in bytes.chunks_exact(PAGE_SIZE as usize).enumerate().take(count as usize) {
                self.store_page(id, first + i as u64, chunk);
            }
        }
        self.release_ool(data.address, u64::from(data.count));
        self.release_port(control, MACH_MSG_TYPE_PORT_SEND);
        Ok(())
    }

    fn memory_object_terminate(&mut self, mo: u32, control: u32) -> Result<(), i32> {
        let Some(id) = self.object(mo) else {
            return self.reject();
        };
        self.destroy(id);
        self.release_port(control, MACH_MSG_TYPE_PORT_SEND);
        Ok(())
    }

    /// This pager never locks pages, so an unlock request is misdirected:
    /// refused and counted.
    fn memory_object_data_unlock(
        &mut self,
        _mo: u32,
        control: u32,
        _offset: u64,
        _length: u64,
        _access: u32,
    ) -> Result<(), i32> {
        self.release_port(control, MACH_MSG_TYPE_PORT_SEND);
        self.reject()
    }

    /// This pager never sends memory_object_lock_request, so a completion
    /// is misdirected: refused and counted.
    fn memory_object_lock_completed(
        &mut self,
        _reply_to: u32,
        control: u32,
        _offset: u64,
        _length: u64,
    ) -> Result<(), i32> {
        self.release_port(control, MACH_MSG_TYPE_PORT_SEND);
        self.reject()
    }
}

impl DefaultPagerServer for Pager {
    fn memory_object_create(
        &mut self,
        pager: u32,
        new_mo: u32,
        size: u64,
        control: u32,
        page_size: u64,
    ) -> Result<(), i32> {
        if pager != self.service || page_size != PAGE_SIZE || self.new_object(new_mo, size).is_err() {
            // The dispatch destroys the receive right and the control right.
            return self.reject();
        }
        self.release_port(control, MACH_MSG_TYPE_PORT_SEND);
        Ok(())
    }

    fn default_pager_object_create(&mut self, pager: u32, size: u64) -> Result<u32, i32> {
        if pager != self.service {
            return Err(KERN_INVALID_ARGUMENT);
        }
        let port = mach_port::mach_port_allocate(&mut self.rpc, self.task, MACH_PORT_RIGHT_RECEIVE)?;
        if let Err(kr) = self.new_object(port, size) {
            let _ = mach_port::mach_port_mod_refs(&mut self.rpc, self.task, port, MACH_PORT_RIGHT_RECEIVE, -1);
            return Err(kr);
        }
        Ok(port)
    }

    fn default_pager_info(&mut self, pager: u32) -> Result<DefaultPagerInfoReply, i32> {
        if pager != self.service {
            return Err(KERN_INVALID_ARGUMENT);
        }
        Ok(DefaultPagerInfoReply {
            total_blocks: self.map.total_blocks(),
            free_blocks: self.map.free_blocks(),
            page_size: PAGE_SIZE,
            objects: self.map.live_objects(),
            rejected: self.rejected,
            lost_pages: self.map.lost_pages(),
        })
    }
}
