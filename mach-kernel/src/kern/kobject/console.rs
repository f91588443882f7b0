//! The console device's half of the device server (`device::CONSOLE`, the
//! serial line): `device_write` prints, `device_read` returns what input is
//! buffered or waits for it without a thread: the request's reply right is
//! held (`Ipc::hold_right`) with the request, and when input arrives
//! ([`console_input`], from the UART's interrupt) the request is served
//! again through the generated dispatch, now with data, and answered on the
//! held right. Waiting reads are served in the order they came; one whose
//! reply port died is dropped (looked at before each read and each input),
//! and a task may have only a few waiting (`mach_core::console`).

use super::Ctx;
use crate::kern::device::{self, CONSOLE, Console, ConsoleRead};
use alloc::vec::Vec;
use mach_abi::device::*;
use mach_abi::message::MIG_NO_REPLY;
use mach_core::ipc::kimage::KernelReplyParts;
use mach_core::ipc::{Ipc, KObject, KRight, PortRef};
use mach_interfaces::device::{DeviceGetStatusReply, DeviceServer};
use mach_interfaces::{Dispatch, OolArray, Release};

/// Largest reply the device interface produces, plus room.
const REPLY_MAX: usize = 128;

/// `device_open` of the console: its port, made on first use.
pub fn open(ctx: &mut Ctx<'_>, mode: u32) -> Result<KRight, i32> {
    let ipc = &mut *ctx.ipc;
    device::with_console(|c| {
        let port = *c
            .port
            .get_or_insert_with(|| ipc.kobject_port_create(KObject::Device(CONSOLE)));
        let right = ipc.make_send_right(port).ok_or(D_NO_SUCH_DEVICE)?;
        if let Err(e) = c.open.open(mode) {
            ipc.release_right(right);
            return Err(e.code());
        }
        Ok(right)
    })
}

pub fn close() -> Result<(), i32> {
    device::with_console(|c| Ok(c.open.close()?))
}

/// `device_write`: `bytes` go out on the serial line as the kernel's own
/// lines do (one console lock, so lines do not interleave).
pub fn write(mode: u32, bytes: &[u8]) -> Result<u32, i32> {
    device::with_console(|c| c.open.check_write(mode))?;
    if bytes.len() > DEVICE_IO_MAX as usize {
        return Err(D_INVALID_SIZE);
    }
    crate::console::write_bytes(bytes);
    Ok(bytes.len() as u32)
}

/// `device_get_status`: DEV_GET_INPUT gives the input buffered and dropped.
pub fn status(flavor: u32) -> Result<DeviceGetStatusReply, i32> {
    device::with_console(|c| {
        c.open.check_read(0)?;
        match flavor {
            DEV_GET_SIZE | DEV_GET_RECORDS => Ok(DeviceGetStatusReply {
                status_0: 0,
                status_1: u64::from(CONSOLE_RECORD_SIZE),
            }),
            DEV_GET_INPUT => Ok(DeviceGetStatusReply {
                status_0: c.input.buffered() as u64,
                status_1: c.input.dropped(),
            }),
            _ => Err(D_INVALID_OPERATION),
        }
    })
}

/// `device_read`: the buffered input now, or `Err(MIG_NO_REPLY)` having
/// kept the reply right and `request` to answer when input comes.
pub fn read(ctx: &mut Ctx<'_>, request: &[u8], mode: u32, bytes_wanted: u32) -> Result<OolArray, i32> {
    let now = device::with_console(|c| {
        c.open.check_read(mode)?;
        drop_dead_reads(ctx.ipc, c);
        c.input
            .read_now(bytes_wanted, mode & D_NOWAIT != 0)
            .map_err(|e| e.code())
    })?;
    if let Some(bytes) = now {
        let count = bytes.len() as u32;
        return Ok(OolArray {
            address: ctx.out.ool(bytes),
            count,
        });
    }
    // Nobody to answer later: as if there were nothing to wait for.
    if ctx.reply.port == PortRef::Null {
        return Err(D_WOULD_BLOCK);
    }
    let mut saved = Vec::new();
    saved.try_reserve_exact(request.len()).map_err(|_| D_NO_MEMORY)?;
    saved.extend_from_slice(request);
    let right = core::mem::replace(&mut ctx.reply, KRight::NULL);
    let reply = match ctx.ipc.hold_right(right) {
        Ok(h) => h,
        Err(right) => {
            ctx.reply = right;
            return Err(D_NO_MEMORY);
        }
    };
    let account = ctx.req.sender;
    let token = ConsoleRead { reply, request: saved };
    match device::with_console(|c| c.input.wait(account, bytes_wanted, token)) {
        Ok(()) => Err(MIG_NO_REPLY),
        Err((refused, token)) => {
            // The reply right goes back to the dispatch, for the error reply.
            ctx.reply = ctx.ipc.take_held(token.reply).unwrap_or(KRight::NULL);
            Err(refused.code())
        }
    }
}

/// Input arrived on the serial line: buffered, and the waiting reads it
/// serves answered.
pub fn console_input(ipc: &mut Ipc, bytes: &[u8]) {
    let served = device::with_console(|c| {
        c.input.input(bytes);
        drop_dead_reads(ipc, c);
        c.input.serve()
    });
    for (read, data) in served {
        answer(ipc, read, data);
    }
}

/// Drops the waiting reads whose reply port died (their held right goes).
fn drop_dead_reads(ipc: &mut Ipc, c: &mut Console) {
    for read in c.input.retain(|r| ipc.held_alive(r.reply)) {
        ipc.release_held(read.reply);
    }
}

/// Answers a waiting read with `data`: its request served again, by
/// [`ReadDone`].
fn answer(ipc: &mut Ipc, read: ConsoleRead, data: Vec<u8>) {
    let Some(right) = ipc.take_held(read.reply) else {
        return;
    };
    let mut done = ReadDone {
        data: Some(data),
        out: KernelReplyParts::default(),
    };
    let mut reply = [0u8; REPLY_MAX];
    match mach_interfaces::device::device_server(&mut done, &read.request, &mut reply) {
        Dispatch::Reply(n) if n > 0 => ipc.kernel_reply(right, &reply[..n], done.out),
        _ => ipc.release_right(right),
    }
}

/// The server of a waiting console read's request, served again once its
/// data is there: `device_read` returns the data; nothing else is asked of
/// it (the request was a `device_read`, and carries no rights or memory).
struct ReadDone {
    data: Option<Vec<u8>>,
    out: KernelReplyParts,
}

impl Release for ReadDone {
    fn release_port(&mut self, _name: u32, _received_type: u8) {}
    fn release_ool(&mut self, _address: u64, _size: u64) {}
    fn release_ool_ports(&mut self, _address: u64, _count: u32, _received_type: u8) {}
}

impl DeviceServer for ReadDone {
    fn device_open(&mut self, _master: u32, _mode: u32, _name: u64) -> Result<u32, i32> {
        Err(D_INVALID_OPERATION)
    }
    fn device_close(&mut self, _device: u32) -> Result<(), i32> {
        Err(D_INVALID_OPERATION)
    }
    fn device_write(&mut self, _device: u32, _mode: u32, _recnum: u64, _data: OolArray) -> Result<u32, i32> {
        Err(D_INVALID_OPERATION)
    }
    fn device_read(&mut self, _device: u32, _mode: u32, _recnum: u64, _bytes_wanted: u32) -> Result<OolArray, i32> {
        let data = self.data.take().ok_or(D_INVALID_OPERATION)?;
        let count = data.len() as u32;
        Ok(OolArray {
            address: self.out.ool(data),
            count,
        })
    }
    fn device_get_status(&mut self, _device: u32, _flavor: u32) -> Result<DeviceGetStatusReply, i32> {
        Err(D_INVALID_OPERATION)
    }
}
