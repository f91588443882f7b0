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
//! Requests are served synchronously in the caller's context under the IPC
//! lock with interrupts off: the disk is polled, each request moves at most
//! `DEVICE_IO_MAX` bytes in one command, and every wait is bounded.
//! Lock order: the IPC lock, then `DISK`.

use super::kserver::Ctx;
use crate::arch::ata::{self, AtaDisk};
use alloc::vec::Vec;
use mach_abi::device::*;
use mach_core::device::{DeviceError, OpenState, check_io};
use mach_core::ipc::{Ipc, KObject, PortId};
use mach_interfaces::device::{DeviceGetStatusReply, DeviceServer};
use mach_interfaces::{OolArray, Release};
use spin::Mutex;

/// The disk `hd0` and its open state.
struct Disk {
    hw: AtaDisk,
    open: OpenState,
    /// Its device port, once someone opened it.
    port: Option<PortId>,
}

static DISK: Mutex<Option<Disk>> = Mutex::new(None);
static MASTER_PORT: Mutex<Option<PortId>> = Mutex::new(None);

/// `KObject::Device` index of `hd0`.
const HD0: u64 = 0;

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

/// The server of one device-interface request on a master or device port.
pub(super) struct DevicePortServer<'a> {
    pub(super) ctx: Ctx<'a>,
    pub(super) obj: KObject,
}

super::kserver::delegate_release!(DevicePortServer);

fn io_error(e: ata::AtaError) -> i32 {
    log::warn!("device: hd0: {e:?}");
    DeviceError::IoError.code()
}

/// A zeroed buffer of `n` bytes, or `D_NO_MEMORY`.
fn buffer(n: usize) -> Result<Vec<u8>, i32> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| D_NO_MEMORY)?;
    v.resize(n, 0);
    Ok(v)
}

impl DevicePortServer<'_> {
    /// Runs `f` on the disk behind this device port; the master port and
    /// unknown devices are not disks.
    fn with_disk<R>(&self, f: impl FnOnce(&mut Disk) -> Result<R, i32>) -> Result<R, i32> {
        match self.obj {
            KObject::Device(HD0) => f(DISK.lock().as_mut().ok_or(D_NO_SUCH_DEVICE)?),
            KObject::DeviceMaster => Err(D_INVALID_OPERATION),
            _ => Err(D_NO_SUCH_DEVICE),
        }
    }
}

impl DeviceServer for DevicePortServer<'_> {
    fn device_open(&mut self, _master: u32, mode: u32, name: u64) -> Result<u32, i32> {
        if self.obj != KObject::DeviceMaster {
            return Err(D_INVALID_OPERATION);
        }
        mach_core::device::check_mode(mode)?;
        if name != DEVICE_NAME_HD0 {
            return Err(D_NO_SUCH_DEVICE);
        }
        let mut guard = DISK.lock();
        let disk = guard.as_mut().ok_or(D_NO_SUCH_DEVICE)?;
        let ipc = &mut *self.ctx.ipc;
        let port = *disk
            .port
            .get_or_insert_with(|| ipc.kobject_port_create(KObject::Device(HD0)));
        let right = ipc.make_send_right(port).ok_or(D_NO_SUCH_DEVICE)?;
        if let Err(e) = disk.open.open(mode) {
            ipc.release_right(right);
            return Err(e.code());
        }
        Ok(self.ctx.out.right(right))
    }

    fn device_close(&mut self, _device: u32) -> Result<(), i32> {
        self.with_disk(|d| Ok(d.open.close()?))
    }

    fn device_write(&mut self, _device: u32, mode: u32, recnum: u64, data: OolArray) -> Result<u32, i32> {
        let (hw, range) = self.with_disk(|d| {
            d.open.check_write(mode)?;
            let range = check_io(
                DEVICE_RECORD_SIZE,
                d.hw.sectors,
                DEVICE_IO_MAX,
                recnum,
                u64::from(data.count),
            )?;
            Ok((d.hw, range))
        })?;
        let bytes = self.ctx.req.take_ool(data.address).unwrap_or_default();
        if bytes.len() != range.bytes(DEVICE_RECORD_SIZE) {
            return Err(D_INVALID_SIZE);
        }
        hw.write(range.first, &bytes).map_err(io_error)?;
        Ok(bytes.len() as u32)
    }

    fn device_read(&mut self, _device: u32, mode: u32, recnum: u64, bytes_wanted: u32) -> Result<OolArray, i32> {
        let (hw, range) = self.with_disk(|d| {
            d.open.check_read(mode)?;
            let range = check_io(
                DEVICE_RECORD_SIZE,
                d.hw.sectors,
                DEVICE_IO_MAX,
                recnum,
                u64::from(bytes_wanted),
            )?;
            Ok((d.hw, range))
        })?;
        let n = range.bytes(DEVICE_RECORD_SIZE);
        let mut buf = buffer(n)?;
        hw.read(range.first, &mut buf).map_err(io_error)?;
        Ok(OolArray {
            address: self.ctx.out.ool(buf),
            count: n as u32,
        })
    }

    fn device_get_status(&mut self, _device: u32, flavor: u32) -> Result<DeviceGetStatusReply, i32> {
        self.with_disk(|d| {
            d.open.check_read(0)?;
            let record = u64::from(DEVICE_RECORD_SIZE);
            match flavor {
                DEV_GET_SIZE => Ok(DeviceGetStatusReply {
                    status_0: d.hw.sectors.saturating_mul(record),
                    status_1: record,
                }),
                DEV_GET_RECORDS => Ok(DeviceGetStatusReply {
                    status_0: d.hw.sectors,
                    status_1: record,
                }),
                _ => Err(D_INVALID_OPERATION),
            }
        })
    }
}
