//! The Mach device interface's constants (`device/device_types.h` in Mach 3
//! and GNU Mach): open and I/O modes, `io_return_t` codes, status flavors,
//! and how a device name travels (`interfaces/device.defs`).

/// An `io_return_t`: `D_SUCCESS` or one of the `D_*` codes below (Mach
/// returns them where a `kern_return_t` would go).
pub type IoReturn = i32;

/// `device_open` / `device_read` / `device_write` mode bits.
pub const D_READ: u32 = 0x1;
pub const D_WRITE: u32 = 0x2;
/// Do not wait for the device to become ready at open.
pub const D_NODELAY: u32 = 0x4;
/// Return `D_WOULD_BLOCK` instead of waiting (a console read with nothing
/// buffered; the disk never waits: accepted, no effect).
pub const D_NOWAIT: u32 = 0x8;
/// Every mode bit a request may carry; others give `D_INVALID_OPERATION`.
pub const D_MODE_MASK: u32 = D_READ | D_WRITE | D_NODELAY | D_NOWAIT;

pub const D_SUCCESS: IoReturn = 0;
/// The hardware reported an error (or did not answer in time).
pub const D_IO_ERROR: IoReturn = 2500;
pub const D_WOULD_BLOCK: IoReturn = 2501;
/// No device of that name, or the device is not open (closed devices, as in Mach).
pub const D_NO_SUCH_DEVICE: IoReturn = 2502;
pub const D_ALREADY_OPEN: IoReturn = 2503;
pub const D_DEVICE_DOWN: IoReturn = 2504;
/// The operation does not apply to this port (e.g. `device_open` on a device
/// port, `device_read` on the master port) or the mode has unknown bits.
pub const D_INVALID_OPERATION: IoReturn = 2505;
/// The first record lies outside the device.
pub const D_INVALID_RECNUM: IoReturn = 2506;
/// Zero bytes, not a whole number of records, above [`DEVICE_IO_MAX`], or
/// running past the device's last record.
pub const D_INVALID_SIZE: IoReturn = 2507;
pub const D_NO_MEMORY: IoReturn = 2508;
/// The device was not opened with `D_WRITE`.
pub const D_READ_ONLY: IoReturn = 2509;

/// `device_get_status` flavor: status 0 = device size in bytes, status 1 = record size.
pub const DEV_GET_SIZE: u32 = 0;
/// `device_get_status` flavor (GNU Mach): status 0 = number of records, status 1 = record size.
pub const DEV_GET_RECORDS: u32 = 1;
/// `device_get_status` flavor of the console (this system's): status 0 =
/// input bytes buffered now, status 1 = input bytes dropped since boot
/// because the buffer was full. (The console's DEV_GET_SIZE and
/// DEV_GET_RECORDS answer 0 records of 1 byte: a stream has no size.)
pub const DEV_GET_INPUT: u32 = 2;

/// Record (sector) size of the disk devices.
pub const DEVICE_RECORD_SIZE: u32 = 512;
/// Largest single `device_read` / `device_write`, in bytes (128 records).
pub const DEVICE_IO_MAX: u32 = 64 * 1024;

/// Largest device name, in bytes.
pub const DEVICE_NAME_MAX: usize = 8;

/// A device name (Mach's `dev_name_t` string) as it travels in `device_open`:
/// up to eight ASCII bytes packed little-endian into a `u64` (the interface
/// generator has no inline strings). Longer names are cut at eight bytes.
pub const fn device_name(name: &[u8]) -> u64 {
    let mut k = 0u64;
    let mut i = 0;
    while i < name.len() && i < DEVICE_NAME_MAX {
        k |= (name[i] as u64) << (8 * i);
        i += 1;
    }
    k
}

/// The first IDE disk (primary master).
pub const DEVICE_NAME_HD0: u64 = device_name(b"hd0");
/// The console: COM1, the serial line the kernel prints on. Records of one
/// byte; `device_write` prints (`\n` as `\r\n`, as the kernel's own lines),
/// `device_read` returns what arrived, at least one byte and at most the
/// bytes wanted, and waits for input when there is none (`D_NOWAIT`:
/// `D_WOULD_BLOCK` instead). The record number is ignored.
pub const DEVICE_NAME_CONSOLE: u64 = device_name(b"console");
/// Record size of the console.
pub const CONSOLE_RECORD_SIZE: u32 = 1;
