//! Devices: the device master port, the disks found at boot, and the kernel's
//! server of the Mach device interface (`interfaces/device.defs`).
//!
//! There is one device so far, `hd0`, the ATA disk at the primary master
//! (`arch::ata`). `device_open` on the master port gives a send right to the
//! disk's device port (one port per device, made at its first open, kept for
//! the kernel's lifetime like the host port); `device_read`, `device_write`,
//! `device_get_status` and `device_close` go to that port. The request checks
//! live in `mach_core::device`; this module holds the state and does the I/O.
//!
//! Requests are served (`kobject::device`) synchronously in the caller's
//! context with the kernel state in hand and interrupts off: the disk is
//! polled, each request moves at most `DEVICE_IO_MAX` bytes in one command,
//! and every wait is bounded. Lock order: the kernel state, then `DISK`.

use crate::arch::ata::{self, AtaDisk};
use mach_abi::device::*;
use mach_core::device::OpenState;
use mach_core::ipc::{Ipc, KObject, PortId};
use spin::Mutex;

/// The disk `hd0` and its open state.
pub struct Disk {
    pub hw: AtaDisk,
    pub open: OpenState,
    /// Its device port, once someone opened it.
    pub port: Option<PortId>,
}

static DISK: Mutex<Option<Disk>> = Mutex::new(None);
static MASTER_PORT: Mutex<Option<PortId>> = Mutex::new(None);

/// `KObject::Device` index of `hd0`.
pub const HD0: u64 = 0;

/// Looks for the disk (at boot, before any task runs).
pub fn probe() {
    match ata::probe() {
        Some(hw) => {
            log::info!(
                "device: hd0: ATA disk, {} records of {DEVICE_RECORD_SIZE} bytes, lba48={}",
                hw.sectors,
                hw.lba48
            );
            *DISK.lock() = Some(Disk {
                hw,
                open: OpenState::default(),
                port: None,
            });
        }
        None => log::info!("device: hd0: no ATA disk at the primary master"),
    }
}

/// A new send right to the device master port (made on first use), for
/// `host_get_io_master`.
pub fn master_send_right(ipc: &mut Ipc) -> Option<mach_core::ipc::KRight> {
    let mut master = MASTER_PORT.lock();
    let port = *master.get_or_insert_with(|| ipc.kobject_port_create(KObject::DeviceMaster));
    ipc.make_send_right(port)
}

/// Runs `f` on the disk, if there is one.
pub fn with_disk<R>(f: impl FnOnce(&mut Disk) -> R) -> Option<R> {
    DISK.lock().as_mut().map(f)
}
