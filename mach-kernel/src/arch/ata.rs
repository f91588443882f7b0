//! The ATA (IDE) disk on the primary channel's master position, driven by
//! polled PIO: IDENTIFY at probe time, then READ/WRITE SECTORS (LBA28, or the
//! EXT commands with LBA48 for records beyond 2^28), one command per request.
//!
//! This module owns the channel's I/O ports (0x1f0..0x1f7, control 0x3f6).
//! Interrupts from the channel are masked (nIEN): the kernel runs with
//! interrupts off and every wait here is a bounded polling loop, so a missing
//! or stuck disk gives an error, never a hang.

use x86_64::instructions::port::Port;

const BASE: u16 = 0x1f0;
const CONTROL: u16 = 0x3f6;

const REG_DATA: u16 = 0;
const REG_ERROR: u16 = 1;
const REG_COUNT: u16 = 2;
const REG_LBA0: u16 = 3;
const REG_LBA1: u16 = 4;
const REG_LBA2: u16 = 5;
const REG_DRIVE: u16 = 6;
const REG_STATUS: u16 = 7;
const REG_COMMAND: u16 = 7;

const ST_ERR: u8 = 0x01;
const ST_DRQ: u8 = 0x08;
const ST_DF: u8 = 0x20;
const ST_BSY: u8 = 0x80;

const CMD_READ: u8 = 0x20;
const CMD_READ_EXT: u8 = 0x24;
const CMD_WRITE: u8 = 0x30;
const CMD_WRITE_EXT: u8 = 0x34;
const CMD_FLUSH: u8 = 0xe7;
const CMD_FLUSH_EXT: u8 = 0xea;
const CMD_IDENTIFY: u8 = 0xec;

/// Bytes per sector.
pub const SECTOR_SIZE: usize = 512;
/// Most sectors one command moves here (the LBA28 count register's limit is 256).
pub const MAX_SECTORS: usize = 128;
/// Status polls before a wait gives up (QEMU answers within a few).
const SPIN_LIMIT: u32 = 2_000_000;
/// Sectors addressable with LBA28 commands.
const LBA28_LIMIT: u64 = 1 << 28;

/// What went wrong talking to the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtaError {
    /// The drive stayed busy or never asked for data.
    Timeout,
    /// The drive set ERR or DF (the error register's value).
    Device(u8),
    /// The request is outside what this driver or the disk can address.
    BadRequest,
}

/// The probed disk.
#[derive(Clone, Copy, Debug)]
pub struct AtaDisk {
    /// Number of 512-byte sectors.
    pub sectors: u64,
    pub lba48: bool,
}

fn inb(reg: u16) -> u8 {
    // SAFETY: reading a register of the primary ATA channel has no effect on
    // memory; this module is the only user of these ports.
    unsafe { Port::<u8>::new(BASE + reg).read() }
}

fn outb(reg: u16, value: u8) {
    // SAFETY: as in `inb`; register writes only program the ATA controller.
    unsafe { Port::<u8>::new(BASE + reg).write(value) }
}

/// The alternate status register (reading it acknowledges nothing).
fn alt_status() -> u8 {
    // SAFETY: as in `inb`; 0x3f6 is the channel's control/alt-status port.
    unsafe { Port::<u8>::new(CONTROL).read() }
}

/// The ~400 ns the drive needs after a select or command before its status means anything.
fn settle() {
    for _ in 0..4 {
        alt_status();
    }
}

/// Waits until BSY is clear; returns the status.
fn wait_not_busy() -> Result<u8, AtaError> {
    for _ in 0..SPIN_LIMIT {
        let s = inb(REG_STATUS);
        if s & ST_BSY == 0 {
            return Ok(s);
        }
        core::hint::spin_loop();
    }
    Err(AtaError::Timeout)
}

/// Waits until the drive asks for (or offers) a sector's data.
fn wait_drq() -> Result<(), AtaError> {
    for _ in 0..SPIN_LIMIT {
        let s = inb(REG_STATUS);
        if s & ST_BSY == 0 {
            if s & (ST_ERR | ST_DF) != 0 {
                return Err(AtaError::Device(inb(REG_ERROR)));
            }
            if s & ST_DRQ != 0 {
                return Ok(());
            }
        }
        core::hint::spin_loop();
    }
    Err(AtaError::Timeout)
}

fn read_words(buf: &mut [u8]) {
    let mut data = Port::<u16>::new(BASE + REG_DATA);
    for pair in buf.chunks_exact_mut(2) {
        // SAFETY: the drive has DRQ set, so reading the data register takes
        // the next word of the sector; no memory is touched.
        let w = unsafe { data.read() };
        pair.copy_from_slice(&w.to_le_bytes());
    }
}

fn write_words(buf: &[u8]) {
    let mut data = Port::<u16>::new(BASE + REG_DATA);
    for pair in buf.chunks_exact(2) {
        // SAFETY: the drive has DRQ set and takes the next word of the sector.
        unsafe { data.write(u16::from_le_bytes([pair[0], pair[1]])) };
    }
}

/// Looks for an ATA disk at the primary master. `None`: nothing there (a
/// floating bus, no answer, an ATAPI or SATA signature, or an error).
pub fn probe() -> Option<AtaDisk> {
    // SAFETY: setting nIEN in the device control register only stops the
    // channel from raising interrupts.
    unsafe { Port::<u8>::new(CONTROL).write(0x02) };
    if inb(REG_STATUS) == 0xff {
        return None; // Floating bus: no controller or no drives.
    }
    outb(REG_DRIVE, 0xa0);
    settle();
    for reg in [REG_COUNT, REG_LBA0, REG_LBA1, REG_LBA2] {
        outb(reg, 0);
    }
    outb(REG_COMMAND, CMD_IDENTIFY);
    settle();
    if inb(REG_STATUS) == 0 {
        return None; // No drive.
    }
    wait_not_busy().ok()?;
    if inb(REG_LBA1) != 0 || inb(REG_LBA2) != 0 {
        return None; // Not an ATA disk (ATAPI or SATA signature).
    }
    wait_drq().ok()?;
    let mut id = [0u8; SECTOR_SIZE];
    read_words(&mut id);
    let word = |i: usize| u64::from(u16::from_le_bytes([id[2 * i], id[2 * i + 1]]));
    let lba48 = word(83) & (1 << 10) != 0;
    let lba28_sectors = word(60) | (word(61) << 16);
    let sectors = if lba48 {
        word(100) | (word(101) << 16) | (word(102) << 32) | (word(103) << 48)
    } else {
        lba28_sectors
    };
    (sectors > 0).then_some(AtaDisk { sectors, lba48 })
}

impl AtaDisk {
    /// Selects the drive and programs the address and count for a command
    /// on `count` sectors at `lba`; returns the command to use.
    fn setup(&self, lba: u64, count: usize, cmd28: u8, cmd48: u8) -> Result<u8, AtaError> {
        let end = lba.checked_add(count as u64).ok_or(AtaError::BadRequest)?;
        if count == 0 || count > MAX_SECTORS || end > self.sectors {
            return Err(AtaError::BadRequest);
        }
        wait_not_busy()?;
        if end <= LBA28_LIMIT {
            outb(REG_DRIVE, 0xe0 | ((lba >> 24) & 0x0f) as u8);
            settle();
            outb(REG_COUNT, count as u8);
            outb(REG_LBA0, lba as u8);
            outb(REG_LBA1, (lba >> 8) as u8);
            outb(REG_LBA2, (lba >> 16) as u8);
            Ok(cmd28)
        } else if self.lba48 {
            outb(REG_DRIVE, 0x40);
            settle();
            // High bytes first, then low bytes, through the same registers.
            outb(REG_COUNT, (count >> 8) as u8);
            outb(REG_LBA0, (lba >> 24) as u8);
            outb(REG_LBA1, (lba >> 32) as u8);
            outb(REG_LBA2, (lba >> 40) as u8);
            outb(REG_COUNT, count as u8);
            outb(REG_LBA0, lba as u8);
            outb(REG_LBA1, (lba >> 8) as u8);
            outb(REG_LBA2, (lba >> 16) as u8);
            Ok(cmd48)
        } else {
            Err(AtaError::BadRequest)
        }
    }

    /// Reads `buf.len() / 512` sectors (at most [`MAX_SECTORS`]) from `lba`.
    pub fn read(&self, lba: u64, buf: &mut [u8]) -> Result<(), AtaError> {
        if !buf.len().is_multiple_of(SECTOR_SIZE) {
            return Err(AtaError::BadRequest);
        }
        let cmd = self.setup(lba, buf.len() / SECTOR_SIZE, CMD_READ, CMD_READ_EXT)?;
        outb(REG_COMMAND, cmd);
        settle();
        for sector in buf.chunks_exact_mut(SECTOR_SIZE) {
            wait_drq()?;
            read_words(sector);
            settle();
        }
        Ok(())
    }

    /// Writes `buf.len() / 512` sectors (at most [`MAX_SECTORS`]) at `lba`
    /// and flushes the drive's write cache.
    pub fn write(&self, lba: u64, buf: &[u8]) -> Result<(), AtaError> {
        if !buf.len().is_multiple_of(SECTOR_SIZE) {
            return Err(AtaError::BadRequest);
        }
        let cmd = self.setup(lba, buf.len() / SECTOR_SIZE, CMD_WRITE, CMD_WRITE_EXT)?;
        outb(REG_COMMAND, cmd);
        settle();
        for sector in buf.chunks_exact(SECTOR_SIZE) {
            wait_drq()?;
            write_words(sector);
            settle();
        }
        let status = wait_not_busy()?;
        if status & (ST_ERR | ST_DF) != 0 {
            return Err(AtaError::Device(inb(REG_ERROR)));
        }
        outb(
            REG_COMMAND,
            if cmd == CMD_WRITE_EXT { CMD_FLUSH_EXT } else { CMD_FLUSH },
        );
        settle();
        let status = wait_not_busy()?;
        if status & (ST_ERR | ST_DF) != 0 {
            return Err(AtaError::Device(inb(REG_ERROR)));
        }
        Ok(())
    }
}
