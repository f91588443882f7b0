//! The device interface's rules as data: which modes a request may carry,
//! whether a read or write of a record-addressed device is well-formed and
//! inside the device, and the open state of one device (open count, whether
//! some opener asked for writing). The kernel's device server asks these
//! before touching hardware; every request is untrusted input, so nothing here
//! panics or overflows, whatever the numbers.

use mach_abi::device::*;

/// Why a device request is refused; [`DeviceError::code`] is its `D_*` code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceError {
    /// `D_NO_SUCH_DEVICE`: no such device, or the device is not open.
    NoSuchDevice,
    /// `D_INVALID_OPERATION`: unknown mode bits, or the call does not apply.
    InvalidOperation,
    /// `D_INVALID_RECNUM`: the first record is outside the device.
    InvalidRecnum,
    /// `D_INVALID_SIZE`: zero bytes, a partial record, more than the
    /// per-request limit, or a transfer running past the last record.
    InvalidSize,
    /// `D_READ_ONLY`: a write to a device nobody opened with `D_WRITE`.
    ReadOnly,
    /// `D_NO_MEMORY`: the open count would overflow.
    NoMemory,
    /// `D_IO_ERROR`: the hardware failed the transfer.
    IoError,
}

impl DeviceError {
    pub fn code(self) -> IoReturn {
        match self {
            DeviceError::NoSuchDevice => D_NO_SUCH_DEVICE,
            DeviceError::InvalidOperation => D_INVALID_OPERATION,
            DeviceError::InvalidRecnum => D_INVALID_RECNUM,
            DeviceError::InvalidSize => D_INVALID_SIZE,
            DeviceError::ReadOnly => D_READ_ONLY,
            DeviceError::NoMemory => D_NO_MEMORY,
            DeviceError::IoError => D_IO_ERROR,
        }
    }
}

impl From<DeviceError> for i32 {
    fn from(e: DeviceError) -> i32 {
        e.code()
    }
}

/// A mode argument with no bits outside [`D_MODE_MASK`].
pub fn check_mode(mode: u32) -> Result<(), DeviceError> {
    if mode & !D_MODE_MASK != 0 {
        return Err(DeviceError::InvalidOperation);
    }
    Ok(())
}

/// A checked transfer: `count` records from record `first`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoRange {
    pub first: u64,
    pub count: u32,
}

impl IoRange {
    /// Length in bytes.
    pub fn bytes(self, record_size: u32) -> usize {
        self.count as usize * record_size as usize
    }
}

/// Checks a transfer of `bytes` bytes at record `recnum` on a device of
/// `records` records of `record_size` bytes, at most `max_bytes` per request.
///
/// The size is checked first (zero, a partial record or above the limit:
/// `InvalidSize`), then the start (`recnum` not below `records`:
/// `InvalidRecnum`), then the end (past the last record: `InvalidSize`).
pub fn check_io(
    record_size: u32,
    records: u64,
    max_bytes: u32,
    recnum: u64,
    bytes: u64,
) -> Result<IoRange, DeviceError> {
    if record_size == 0 || bytes == 0 || !bytes.is_multiple_of(u64::from(record_size)) || bytes > u64::from(max_bytes) {
        return Err(DeviceError::InvalidSize);
    }
    if recnum >= records {
        return Err(DeviceError::InvalidRecnum);
    }
    let count = bytes / u64::from(record_size);
    match recnum.checked_add(count) {
        Some(end) if end <= records => Ok(IoRange {
            first: recnum,
            count: count as u32,
        }),
        _ => Err(DeviceError::InvalidSize),
    }
}

/// The open state of one device. As in Mach, a device has one port however
/// often it is opened; each `device_open` counts, each `device_close` uncounts,
/// and a device whose count is back at zero refuses I/O with `NoSuchDevice`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenState {
    opens: u32,
    writable: bool,
}

impl OpenState {
    /// Not open.
    pub const fn new() -> Self {
        OpenState {
            opens: 0,
            writable: false,
        }
    }

    pub fn is_open(&self) -> bool {
        self.opens > 0
    }

    pub fn opens(&self) -> u32 {
        self.opens
    }

    /// One more open with `mode`.
    pub fn open(&mut self, mode: u32) -> Result<(), DeviceError> {
        check_mode(mode)?;
        self.opens = self.opens.checked_add(1).ok_or(DeviceError::NoMemory)?;
        self.writable |= mode & D_WRITE != 0;
        Ok(())
    }

    /// One open fewer; closing a device that is not open is `NoSuchDevice`.
    pub fn close(&mut self) -> Result<(), DeviceError> {
        self.opens = self.opens.checked_sub(1).ok_or(DeviceError::NoSuchDevice)?;
        if self.opens == 0 {
            self.writable = false;
        }
        Ok(())
    }

    /// May a request with `mode` read now?
    pub fn check_read(&self, mode: u32) -> Result<(), DeviceError> {
        check_mode(mode)?;
        if !self.is_open() {
            return Err(DeviceError::NoSuchDevice);
        }
        Ok(())
    }

    /// May a request with `mode` write now?
    pub fn check_write(&self, mode: u32) -> Result<(), DeviceError> {
        self.check_read(mode)?;
        if !self.writable {
            return Err(DeviceError::ReadOnly);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: u32 = 512;
    const MAX: u32 = 64 * 1024;

    #[test]
    fn device_names_pack_little_endian() {
        assert_eq!(device_name(b"hd0"), 0x30_64_68);
        assert_eq!(device_name(b""), 0);
        assert_eq!(device_name(b"abcdefghij"), device_name(b"abcdefgh"));
    }

    #[test]
    fn well_formed_transfers_pass() {
        assert_eq!(check_io(R, 100, MAX, 0, 512), Ok(IoRange { first: 0, count: 1 }));
        assert_eq!(check_io(R, 100, MAX, 96, 2048), Ok(IoRange { first: 96, count: 4 }));
        assert_eq!(check_io(R, 100, MAX, 99, 512), Ok(IoRange { first: 99, count: 1 }));
        assert_eq!(check_io(R, 1000, MAX, 0, MAX as u64).map(|r| r.count), Ok(128));
        assert_eq!(IoRange { first: 0, count: 3 }.bytes(R), 1536);
    }

    #[test]
    fn bad_sizes_are_invalid_size() {
        for bytes in [0, 1, 511, 513, 1000, MAX as u64 + 512, u64::MAX, u64::MAX - 511] {
            assert_eq!(
                check_io(R, 100, MAX, 0, bytes),
                Err(DeviceError::InvalidSize),
                "{bytes}"
            );
        }
        assert_eq!(check_io(0, 100, MAX, 0, 512), Err(DeviceError::InvalidSize));
    }

    #[test]
    fn bad_record_numbers_are_invalid_recnum() {
        for recnum in [100, 101, u64::MAX, u64::MAX - 1, 1 << 63] {
            assert_eq!(
                check_io(R, 100, MAX, recnum, 512),
                Err(DeviceError::InvalidRecnum),
                "{recnum}"
            );
        }
        assert_eq!(check_io(R, 0, MAX, 0, 512), Err(DeviceError::InvalidRecnum));
    }

    #[test]
    fn transfers_past_the_end_are_invalid_size() {
        assert_eq!(check_io(R, 100, MAX, 99, 1024), Err(DeviceError::InvalidSize));
        assert_eq!(check_io(R, 100, MAX, 50, 51 * 512), Err(DeviceError::InvalidSize));
        assert_eq!(
            check_io(R, u64::MAX, MAX, u64::MAX - 1, 1024),
            Err(DeviceError::InvalidSize)
        );
    }

    #[test]
    fn modes_outside_the_mask_are_refused() {
        assert_eq!(check_mode(D_READ | D_WRITE | D_NODELAY | D_NOWAIT), Ok(()));
        assert_eq!(check_mode(0), Ok(()));
        assert_eq!(check_mode(0x10), Err(DeviceError::InvalidOperation));
        assert_eq!(check_mode(u32::MAX), Err(DeviceError::InvalidOperation));
    }

    #[test]
    fn open_state_counts_opens_and_closes() {
        let mut s = OpenState::default();
        assert_eq!(s.check_read(D_READ), Err(DeviceError::NoSuchDevice));
        assert_eq!(s.close(), Err(DeviceError::NoSuchDevice));
        assert_eq!(s.open(D_READ), Ok(()));
        assert_eq!(s.check_read(0), Ok(()));
        assert_eq!(s.check_write(0), Err(DeviceError::ReadOnly));
        assert_eq!(s.open(D_READ | D_WRITE), Ok(()));
        assert_eq!(s.check_write(0), Ok(()));
        assert_eq!(s.check_write(0x100), Err(DeviceError::InvalidOperation));
        assert_eq!(s.close(), Ok(()));
        assert_eq!(s.check_write(0), Ok(()));
        assert_eq!(s.close(), Ok(()));
        assert_eq!(s.check_read(0), Err(DeviceError::NoSuchDevice));
        assert_eq!(s.check_write(0), Err(DeviceError::NoSuchDevice));
        assert_eq!(s.close(), Err(DeviceError::NoSuchDevice));
        assert_eq!(s.open(0x40), Err(DeviceError::InvalidOperation));
        assert_eq!(s.opens(), 0);
    }

    #[test]
    fn open_count_saturates_with_an_error() {
        let mut s = OpenState {
            opens: u32::MAX,
            writable: false,
        };
        assert_eq!(s.open(D_READ), Err(DeviceError::NoMemory));
        assert_eq!(s.opens(), u32::MAX);
    }

    #[test]
    fn errors_map_to_mach_codes() {
        assert_eq!(DeviceError::NoSuchDevice.code(), 2502);
        assert_eq!(DeviceError::InvalidRecnum.code(), 2506);
        assert_eq!(DeviceError::InvalidSize.code(), 2507);
        assert_eq!(DeviceError::IoError.code(), 2500);
        assert_eq!(i32::from(DeviceError::ReadOnly), D_READ_ONLY);
    }
}
