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
//!   blocks are freed, its control right released and its port destroyed
//!   (later messages to it fail to send). So an object made with
//!   `default_pager_object_create` lives until its last mapping goes or its
//!   last send right does, whichever is first.
//! * Control rights: an object's comes once, with `memory_object_create`
//!   (objects the kernel makes) or `memory_object_init` (objects from
//!   `default_pager_object_create`, at their first `vm_map`); the shared
//!   server (`mach_user::pager`) keeps it until the object ends. Requests
//!   for an object that has none yet are refused, and so is a second init.
//! * Malformed or misdirected simpleroutines (an unknown object, a bad
//!   range, a page size other than 4096) cannot be answered with an error:
//!   they are dropped with their rights and memory and counted in
//!   `default_pager_info`'s `rejected`.
//!
//! Answers to control ports are sent with a zero send timeout, so a task
//! that passes a full port of its own as "control" cannot stall the pager.
//!
//! The receive loop, the `memory_object` decoding and the control rights are
//! `mach_user::pager`'s; this module is its [`MemoryManager`], and serves the
//! service port (`default_pager` requests, no-senders notifications) from
//! [`MemoryManager::other`].

use crate::{add_port, open_disk};
use default_pager_core::{DiskMap, DpError, ObjectId, PAGE_SIZE, PageState, RECORDS_PER_BLOCK};
use mach_interfaces::default_pager::{DefaultPagerInfoReply, DefaultPagerServer, default_pager_server};
use mach_interfaces::{Dispatch, Release};
use mach_user::abi::device::D_IO_ERROR;
use mach_user::abi::kern_return::*;
use mach_user::abi::port::{MACH_NOTIFY_NO_SENDERS, MACH_PORT_RIGHT_RECEIVE};
use mach_user::ipc::mach_task_self;
use mach_user::ool::OolRegion;
use mach_user::pager::{Flow, MemoryManager, MemoryObject, Objects};
use mach_user::println;
use mach_user::rpc::{Discard, Rpc, device, mach_port};

/// Most pages one `data_request` may ask for.
pub const MAX_REQUEST_PAGES: u64 = 64;

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
    /// The privileged host port (for the device master port; 0: none).
    host_priv: u32,
    /// `hd0`, once opened.
    dev: Option<u32>,
    pub map: DiskMap<'static>,
    /// Requests on the service port dropped as malformed or misdirected
    /// (the shared server counts those on object ports).
    pub rejected: u32,
}

impl Pager {
    pub fn new(rpc: Rpc, host_priv: u32, set: u32, service: u32, map: DiskMap<'static>) -> Self {
        Pager {
            rpc,
            task: mach_task_self(),
            set,
            service,
            host_priv,
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
        match open_disk(&mut self.rpc, self.host_priv) {
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

    /// Answers the kernel's request for page `page` of `id` on `object`'s control port.
    fn supply_page(&mut self, object: MemoryObject, id: ObjectId, page: u64) {
        let offset = page * PAGE_SIZE;
        let _ = match self.map.lookup(id, page) {
            Ok(PageState::OnDisk(block)) => {
                let read = device::device_read(
                    &mut self.rpc,
                    self.dev.unwrap_or(0),
                    0,
                    block * RECORDS_PER_BLOCK,
                    PAGE_SIZE as u32,
                )
                .map(OolRegion::bytes);
                match read {
                    Ok(data) if data.len() as u64 == PAGE_SIZE => object.data_supply(offset, &data, 0),
                    _ => object.data_error(offset, PAGE_SIZE, D_IO_ERROR),
                }
            }
            Ok(PageState::Never) => object.data_unavailable(offset, PAGE_SIZE),
            Ok(PageState::Lost) | Err(_) => object.data_error(offset, PAGE_SIZE, KERN_MEMORY_ERROR),
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

impl MemoryManager for Pager {
    /// The first vm_map of an object from `default_pager_object_create`.
    fn init(&mut self, object: MemoryObject, page_size: u64) -> Result<(), i32> {
        if self.object(object.port()).is_none() || page_size != PAGE_SIZE {
            return Err(KERN_INVALID_ARGUMENT);
        }
        Ok(())
    }

    fn data_request(&mut self, object: MemoryObject, offset: u64, length: u64, _access: u32) -> Result<(), i32> {
        let id = self.object(object.port()).ok_or(KERN_INVALID_ARGUMENT)?;
        match self.map.check_range(id, offset, length) {
            Ok((first, count)) if count <= MAX_REQUEST_PAGES => {
                for page in first..first + count {
                    self.supply_page(object, id, page);
                }
                Ok(())
            }
            _ => {
                let _ = object.data_error(offset, length, KERN_INVALID_ARGUMENT);
                Err(KERN_INVALID_ARGUMENT)
            }
        }
    }

    fn data_return(
        &mut self,
        object: MemoryObject,
        offset: u64,
        data: OolRegion,
        dirty: bool,
        _kernel_copy: bool,
    ) -> Result<(), i32> {
        let id = self.object(object.port()).ok_or(KERN_INVALID_ARGUMENT)?;
        let (first, count) = self
            .map
            .check_range(id, offset, data.len() as u64)
            .map_err(kern_return)?;
        if dirty {
            for (i, chunk) in data.chunks_exact(PAGE_SIZE as usize).enumerate().take(count as usize) {
                self.store_page(id, first + i as u64, chunk);
            }
        }
        Ok(())
    }

    fn terminate(&mut self, port: u32) -> Result<(), i32> {
        let id = self.object(port).ok_or(KERN_INVALID_ARGUMENT)?;
        self.destroy(id);
        Ok(())
    }

    /// The service port's requests and the no-senders notifications.
    fn other(&mut self, objects: &mut Objects, request: &[u8], reply: &mut [u8]) -> Flow {
        let Some(h) = mach_interfaces::wire::read_header(request) else {
            return Flow::Unknown;
        };
        let from_kernel = mach_interfaces::wire::request_trailer(request).is_some_and(|t| t.sender_task() == 0);
        if h.id == MACH_NOTIFY_NO_SENDERS && from_kernel {
            if h.local_port == self.service {
                return Flow::Stop;
            }
            // No send rights are left to an object port: the object ends.
            if let Some(id) = self.map.find(h.local_port) {
                objects.remove(h.local_port);
                self.destroy(id);
            }
            return Flow::Continue;
        }
        if h.local_port == self.service {
            self.ensure_disk();
        }
        let mut service = Service { pager: self, objects };
        match default_pager_server(&mut service, request, reply) {
            Dispatch::Reply(n) => Flow::Reply(n),
            Dispatch::NoReply => Flow::Continue,
            Dispatch::BadId(_) => Flow::Unknown,
        }
    }
}

/// The `default_pager` subsystem's view of the pager and its objects'
/// control rights (`memory_object_create` hands one over).
struct Service<'a> {
    pager: &'a mut Pager,
    objects: &'a mut Objects,
}

impl Service<'_> {
    fn reject(&mut self) -> Result<(), i32> {
        self.pager.rejected = self.pager.rejected.saturating_add(1);
        Err(KERN_INVALID_ARGUMENT)
    }
}

impl Release for Service<'_> {
    fn release_port(&mut self, name: u32, received_type: u8) {
        Discard.release_port(name, received_type);
    }
    fn release_ool(&mut self, address: u64, size: u64) {
        Discard.release_ool(address, size);
    }
    fn release_ool_ports(&mut self, address: u64, count: u32, received_type: u8) {
        Discard.release_ool_ports(address, count, received_type);
    }
}

impl DefaultPagerServer for Service<'_> {
    fn memory_object_create(
        &mut self,
        pager: u32,
        new_mo: u32,
        size: u64,
        control: u32,
        page_size: u64,
    ) -> Result<(), i32> {
        if pager != self.pager.service
            || page_size != PAGE_SIZE
            || self.objects.check_insert(new_mo, control).is_err()
            || self.pager.new_object(new_mo, size).is_err()
        {
            // The dispatch destroys the receive right and the control right.
            return self.reject();
        }
        // Kept until the object ends (check_insert said it fits).
        let _ = self.objects.insert(new_mo, control);
        Ok(())
    }

    fn default_pager_object_create(&mut self, pager: u32, size: u64) -> Result<u32, i32> {
        let p = &mut *self.pager;
        if pager != p.service {
            return Err(KERN_INVALID_ARGUMENT);
        }
        let port = mach_port::mach_port_allocate(&mut p.rpc, p.task, MACH_PORT_RIGHT_RECEIVE)?;
        if let Err(kr) = p.new_object(port, size) {
            let _ = mach_port::mach_port_mod_refs(&mut p.rpc, p.task, port, MACH_PORT_RIGHT_RECEIVE, -1);
            return Err(kr);
        }
        Ok(port)
    }

    fn default_pager_info(&mut self, pager: u32) -> Result<DefaultPagerInfoReply, i32> {
        let p = &*self.pager;
        if pager != p.service {
            return Err(KERN_INVALID_ARGUMENT);
        }
        Ok(DefaultPagerInfoReply {
            total_blocks: p.map.total_blocks(),
            free_blocks: p.map.free_blocks(),
            page_size: PAGE_SIZE,
            objects: p.map.live_objects(),
            rejected: p.rejected.saturating_add(self.objects.rejected()),
            lost_pages: p.map.lost_pages(),
        })
    }
}
