//! The device interface's server (`interfaces/device.defs`) on the device
//! master port and device ports; the devices themselves are `kern::device`'s.
//! The disk is served here, the console in [`super::console`].

use super::{Ctx, console, delegate_release};
use crate::arch::ata;
use crate::kern::device::{self, CONSOLE, Disk, HD0};
use alloc::vec::Vec;
use mach_abi::device::*;
use mach_core::device::{DeviceError, check_io};
use mach_core::ipc::KObject;
use mach_interfaces::device::{DeviceGetStatusReply, DeviceServer};
use mach_interfaces::{Dispatch, OolArray};

/// The server of one device-interface request on a master or device port.
struct DevicePortServer<'a, 'b> {
    ctx: &'a mut Ctx<'b>,
    obj: KObject,
    /// The request (a console read that waits keeps it).
    image: &'a [u8],
}

delegate_release!(DevicePortServer);

/// Serves a request on the device master port or a device port.
pub fn serve(ctx: &mut Ctx<'_>, obj: KObject, image: &[u8], reply: &mut [u8]) -> Dispatch {
    let mut s = DevicePortServer { ctx, obj, image };
    let d = mach_interfaces::device::device_server(&mut s, image, reply);
    d
}

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

impl DevicePortServer<'_, '_> {
    /// Runs `f` on the disk behind this device port; the master port and
    /// unknown devices are not disks.
    fn with_disk<R>(&self, f: impl FnOnce(&mut Disk) -> Result<R, i32>) -> Result<R, i32> {
        match self.obj {
            KObject::Device(HD0) => device::with_disk(f).unwrap_or(Err(D_NO_SUCH_DEVICE)),
            KObject::DeviceMaster => Err(D_INVALID_OPERATION),
            _ => Err(D_NO_SUCH_DEVICE),
        }
    }
}

impl DeviceServer for DevicePortServer<'_, '_> {
    fn device_open(&mut self, _master: u32, mode: u32, name: u64) -> Result<u32, i32> {
        if self.obj != KObject::DeviceMaster {
            return Err(D_INVALID_OPERATION);
        }
        mach_core::device::check_mode(mode)?;
        if name == DEVICE_NAME_CONSOLE {
            let right = console::open(self.ctx, mode)?;
            return Ok(self.ctx.out.right(right));
        }
        if name != DEVICE_NAME_HD0 {
            return Err(D_NO_SUCH_DEVICE);
        }
        let ipc = &mut *self.ctx.ipc;
        let right = device::with_disk(|disk| {
            let port = *disk
                .port
                .get_or_insert_with(|| ipc.kobject_port_create(KObject::Device(HD0)));
            let right = ipc.make_send_right(port).ok_or(D_NO_SUCH_DEVICE)?;
            if let Err(e) = disk.open.open(mode) {
                ipc.release_right(right);
                return Err(e.code());
            }
            Ok(right)
        })
        .unwrap_or(Err(D_NO_SUCH_DEVICE))?;
        Ok(self.ctx.out.right(right))
    }

    fn device_close(&mut self, _device: u32) -> Result<(), i32> {
        if self.obj == KObject::Device(CONSOLE) {
            return console::close();
        }
        self.with_disk(|d| Ok(d.open.close()?))
    }

    fn device_write(&mut self, _device: u32, mode: u32, recnum: u64, data: OolArray) -> Result<u32, i32> {
        if self.obj == KObject::Device(CONSOLE) {
            let bytes = self.ctx.take_ool_bytes(data.address);
            return console::write(mode, &bytes);
        }
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
        let bytes = self.ctx.take_ool_bytes(data.address);
        if bytes.len() != range.bytes(DEVICE_RECORD_SIZE) {
            return Err(D_INVALID_SIZE);
        }
        hw.write(range.first, &bytes).map_err(io_error)?;
        Ok(bytes.len() as u32)
    }

    fn device_read(&mut self, _device: u32, mode: u32, recnum: u64, bytes_wanted: u32) -> Result<OolArray, i32> {
        if self.obj == KObject::Device(CONSOLE) {
            return console::read(self.ctx, self.image, mode, bytes_wanted);
        }
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
        if self.obj == KObject::Device(CONSOLE) {
            return console::status(flavor);
        }
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
