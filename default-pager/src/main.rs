//! The default pager: a user task that backs memory objects on the disk `hd0`.
//!
//! Role (Mach 3): the kernel hands it new temporary objects with
//! `memory_object_create` and, once its page-out daemon exists, pages them out
//! with `memory_object_data_return`; page-ins come back through
//! `memory_object_data_request`, answered with `memory_object_data_supply`
//! (pages on disk) or `memory_object_data_unavailable` (pages never written:
//! the kernel zero-fills). User tasks get objects of their own with
//! `default_pager_object_create` and `vm_map` them (`interfaces/default_pager.defs`).
//!
//! This module owns start-up and the receive loop: the disk (opened through
//! the device interface, on the device master port that the privileged host
//! port it gets as a boot task gives, `device_get_status` for its size, on the first
//! request to the service port: the pager holds `hd0` open only once it has
//! work, so a boot whose tasks never use it leaves the disk to them), the reserved
//! memory, the port set holding the service port and every object port, the
//! registration with the bootstrap name service under `default_pager`, and the
//! end of the task. [`server`] answers the requests, served by the shared
//! memory-manager loop of `mach_user::pager`; the block bookkeeping is
//! `default_pager_core` (host-tested). Neither module has `unsafe`.
//!
//! # Reserved memory
//!
//! Page-out must never wait for memory the pager itself would fault in. At
//! start, before it serves anything, the pager wires (`vm_wire`, which faults
//! every page in and keeps it resident) its whole program image — text,
//! rodata, data and bss, which hold the disk map and the object table as
//! statics of fixed size ([`MAX_BLOCKS`], [`MAX_OBJECTS`]) — and the top
//! [`STACK_WIRED`] bytes of its stack, where the message buffers live. After
//! that the pager allocates no memory of its own. What remains outside its
//! control: the out-of-line memory that `device_read` replies and
//! `data_return` requests carry is mapped by the kernel, so the kernel must
//! keep a reserve for those transfers (not done yet: its page-out daemon is
//! being written).
//!
//! # Lifetime
//!
//! The pager drops its send right to the bootstrap port once registered, so
//! the bootstrap task still ends when the last other task has gone; the
//! bootstrap task then exits, its send right to the service port goes, and the
//! no-senders notification on the service port ends the pager. (Mach's default
//! pager never exits; this one must, for `make test` to end.) Objects still
//! alive then go with the task.
#![no_std]
#![no_main]

mod server;

use default_pager_core::{DiskMap, ObjectEntry, RECORDS_PER_BLOCK};
use mach_interfaces::default_pager::DEFAULT_PAGER_SERVICE;
use mach_interfaces::{PolyPort, bootstrap};
use mach_user::abi::device::{D_READ, D_WRITE, DEV_GET_RECORDS, DEVICE_NAME_HD0, DEVICE_RECORD_SIZE};
use mach_user::abi::layout::USER_STACK_TOP;
use mach_user::abi::message::*;
use mach_user::abi::port::{MACH_NOTIFY_NO_SENDERS, MACH_PORT_RIGHT_PORT_SET, MACH_PORT_RIGHT_RECEIVE};
use mach_user::ipc::mach_task_self;
use mach_user::pager::Server;
use mach_user::println;
use mach_user::rpc::{Rpc, device, host_priv, mach_port, vm};
use mach_user::sync::TakeOnce;
use server::Pager;

mach_user::entry!(main);

/// Disk blocks (pages) the pager can manage: 64 MiB of disk.
pub const MAX_BLOCKS: usize = 16384;
/// Objects served at once.
pub const MAX_OBJECTS: usize = 64;
/// Bytes of the main stack wired at start.
pub const STACK_WIRED: u64 = 64 * 1024;
/// The program image lies below this address (`vm_allocate` starts there).
const IMAGE_END: u64 = 0x1000_0000_0000;
/// Where user programs are linked (`mach-user/user.ld`).
const IMAGE_START: u64 = 0x40_0000;

/// The pager's state of fixed size, in bss (wired at start).
struct Reserved {
    owners: [u64; MAX_BLOCKS],
    objects: [ObjectEntry; MAX_OBJECTS],
}

static RESERVED: TakeOnce<Reserved> = TakeOnce::new(Reserved {
    owners: [0; MAX_BLOCKS],
    objects: [ObjectEntry::EMPTY; MAX_OBJECTS],
});

/// Wires the program image and the top of the stack; returns the bytes wired.
fn wire_reserved(rpc: &mut Rpc, task: u32) -> Result<u64, i32> {
    let mut wired = 0;
    let mut at = IMAGE_START;
    while at < IMAGE_END {
        let Ok(r) = vm::vm_region(rpc, task, at) else { break };
        if r.start >= IMAGE_END || r.size == 0 {
            break;
        }
        vm::vm_wire(rpc, task, r.start, r.size, r.protection)?;
        wired += r.size;
        at = r.start + r.size;
    }
    vm::vm_wire(rpc, task, USER_STACK_TOP - STACK_WIRED, STACK_WIRED, 3)?;
    Ok(wired + STACK_WIRED)
}

/// Opens `hd0` read-write through the device master port, which only the
/// privileged host port gives (`host_priv`: this boot task's, from its command
/// line); returns its port and size in blocks.
pub fn open_disk(rpc: &mut Rpc, host_priv: u32) -> Result<(u32, u64), &'static str> {
    let master = host_priv::host_get_io_master(rpc, host_priv).map_err(|_| "no device master port")?;
    let dev = device::device_open(rpc, master, D_READ | D_WRITE, DEVICE_NAME_HD0).map_err(|_| "cannot open hd0")?;
    let _ = mach_port::mach_port_deallocate(rpc, mach_task_self(), master);
    let recs = device::device_get_status(rpc, dev, DEV_GET_RECORDS).map_err(|_| "cannot get the size of hd0")?;
    if recs.status_1 != u64::from(DEVICE_RECORD_SIZE) {
        return Err("hd0 records are not 512 bytes");
    }
    Ok((dev, recs.status_0 / RECORDS_PER_BLOCK))
}

/// Moves receive right `port` into `set` and asks for no-senders on it (sync
/// 1: it fires once the send rights made from now on are all gone).
pub fn add_port(rpc: &mut Rpc, set: u32, port: u32) -> Result<(), i32> {
    let task = mach_task_self();
    mach_port::mach_port_move_member(rpc, task, port, set)?;
    let notify = PolyPort {
        name: port,
        disposition: MACH_MSG_TYPE_MAKE_SEND_ONCE,
    };
    mach_port::mach_port_request_notification(rpc, task, port, MACH_NOTIFY_NO_SENDERS, 1, notify).map(|_| ())
}

fn main(args: mach_user::start::Args) -> i32 {
    let mut rpc = Rpc::new();
    let task = mach_task_self();
    let bp = mach_user::start::bootstrap_port(&args);
    let host_priv = mach_user::start::host_priv_port(&args).unwrap_or(0);
    let Some(res) = RESERVED.take() else { return 1 };
    match wire_reserved(&mut rpc, task) {
        Ok(n) => println!("default_pager: {} KiB wired", n / 1024),
        Err(kr) => println!("default_pager: cannot wire its memory ({kr}); running unwired"),
    }
    let map = DiskMap::new(&mut res.owners, &mut res.objects, 0);
    let set = mach_port::mach_port_allocate(&mut rpc, task, MACH_PORT_RIGHT_PORT_SET);
    let service = mach_port::mach_port_allocate(&mut rpc, task, MACH_PORT_RIGHT_RECEIVE);
    let (Ok(set), Ok(service)) = (set, service) else {
        println!("default_pager: cannot allocate its ports");
        return 1;
    };
    if let Err(kr) = add_port(&mut rpc, set, service) {
        println!("default_pager: cannot watch its service port: {kr}");
        return 1;
    }
    let registered = bp.map(|bp| {
        let poly = PolyPort {
            name: service,
            disposition: MACH_MSG_TYPE_MAKE_SEND,
        };
        let r = bootstrap::bootstrap_register(&mut rpc, bp, DEFAULT_PAGER_SERVICE, poly);
        // Holding the bootstrap port would keep the bootstrap task alive.
        let _ = mach_port::mach_port_deallocate(&mut rpc, task, bp);
        r
    });
    if registered != Some(Ok(())) {
        println!("default_pager: cannot register with the bootstrap service: {registered:?}");
        return 1;
    }
    println!("default_pager: registered as default_pager");
    if args.iter().any(|a| a == "register") {
        match become_default_memory_manager(&mut rpc, host_priv, task, service) {
            Ok(()) => println!("default_pager: the kernel's default memory manager"),
            Err(kr) => println!("default_pager: vm_set_default_memory_manager failed: {kr}"),
        }
    }
    // Serves the service port and every object port until the service port
    // has no senders left.
    let mut server = Server::new(set, Pager::new(rpc, host_priv, set, service, map));
    server.run();
    let pager = &server.manager;
    println!(
        "default_pager: no senders left on the service port; exiting ({} objects, {} of {} blocks in use, {} requests refused, {} pages lost)",
        pager.map.live_objects(),
        pager.map.total_blocks() - pager.map.free_blocks(),
        pager.map.total_blocks(),
        pager.rejected.saturating_add(server.objects.rejected()),
        pager.map.lost_pages()
    );
    0
}

/// `vm_set_default_memory_manager` with a send right to `service` (made for
/// the call and given up after, so that the kernel's right and the
/// bootstrap service's are the only senders). The kernel then pages
/// anonymous memory out to this task and never pages out this task's own.
fn become_default_memory_manager(rpc: &mut Rpc, host_priv: u32, task: u32, service: u32) -> Result<(), i32> {
    let poly = PolyPort {
        name: service,
        disposition: MACH_MSG_TYPE_MAKE_SEND,
    };
    mach_port::mach_port_insert_right(rpc, task, service, poly)?;
    let r = host_priv::vm_set_default_memory_manager(rpc, host_priv, service);
    let _ = mach_port::mach_port_deallocate(rpc, task, service);
    r
}
