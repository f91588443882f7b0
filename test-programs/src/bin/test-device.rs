//! The Mach device interface on the IDE disk `hd0` (`make test` attaches a
//! fresh, zeroed 4 MiB image as the primary master): the device master port
//! from the privileged host port, device_open, the disk's size, records written with
//! patterns and read back (one record, many, the largest request, the last
//! record), every malformed request refused with its D_* code and without
//! changing the disk, a device opened read-only refusing writes, a closed
//! device refusing everything, and the data still there after reopening.
//!
//! With the argument `nodisk` (a boot without the disk, see `scripts/test.sh`)
//! it checks that opening `hd0` gives D_NO_SUCH_DEVICE.
#![no_std]
#![no_main]

use mach_user::abi::device::*;
use mach_user::ool::OolRegion;
use mach_user::rpc::{device, host_priv};
use test_programs::check_eq;
use test_programs::ipc_env::Env;

mach_user::entry!(main);

const REC: usize = DEVICE_RECORD_SIZE as usize;
const MAX: usize = DEVICE_IO_MAX as usize;
/// Records of the 4 MiB image `make test` attaches.
const RECORDS: u64 = 4 * 1024 * 1024 / REC as u64;

/// The byte at offset `i` of record `rec` for pattern `seed`.
fn pattern(seed: u8, rec: u64, i: usize) -> u8 {
    seed ^ (rec as u8).wrapping_mul(31) ^ (i as u8) ^ ((i >> 8) as u8).wrapping_mul(7)
}

/// `n` bytes of the pattern for records from `first`, in `buf`.
fn fill(buf: &mut [u8], seed: u8, first: u64) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = pattern(seed, first + (i / REC) as u64, i % REC);
    }
}

/// Reads `bytes` bytes at `recnum` and checks them against the pattern
/// (`seed` 0: all zero). Ok(true) if they match; the reply memory is freed.
fn read_check(e: &mut Env, dev: u32, recnum: u64, bytes: u32, seed: u8) -> Result<bool, i32> {
    let got = OolRegion::bytes(device::device_read(&mut e.rpc, dev, 0, recnum, bytes)?);
    let same = got.len() == bytes as usize && {
        got.iter().enumerate().all(|(i, &b)| {
            let want = if seed == 0 {
                0
            } else {
                pattern(seed, recnum + (i / REC) as u64, i % REC)
            };
            b == want
        })
    };
    Ok(same)
}

fn main(args: mach_user::start::Args) -> i32 {
    let mut e = Env::new();
    let mut ok = true;
    let master = host_priv::host_get_io_master(&mut e.rpc, e.host_priv);
    ok &= check_eq!("device_master_port", master.is_ok(), true);
    let master = master.unwrap_or(0);
    if args.get(1) == Some("nodisk") {
        let r = device::device_open(&mut e.rpc, master, D_READ | D_WRITE, DEVICE_NAME_HD0);
        ok &= check_eq!("device_open_without_disk", r, Err(D_NO_SUCH_DEVICE));
        ok &= check_eq!("device_nodisk_audit", e.violations(), Ok(0));
        return if ok { 0 } else { 1 };
    }
    let rw = D_READ | D_WRITE;
    let nope = device::device_open(&mut e.rpc, master, rw, device_name(b"hd9"));
    ok &= check_eq!("device_open_unknown_name", nope, Err(D_NO_SUCH_DEVICE));
    let bad_mode = device::device_open(&mut e.rpc, master, 0x100, DEVICE_NAME_HD0);
    ok &= check_eq!("device_open_bad_mode", bad_mode, Err(D_INVALID_OPERATION));
    let opened = device::device_open(&mut e.rpc, master, rw, DEVICE_NAME_HD0);
    ok &= check_eq!("device_open_hd0", opened.is_ok(), true);
    let Ok(dev) = opened else {
        return 1;
    };
    ok &= geometry(&mut e, master, dev);
    ok &= transfers(&mut e, dev);
    ok &= bad_requests(&mut e, dev);
    ok &= open_close(&mut e, master, dev);
    ok &= check_eq!("device_audit", e.violations(), Ok(0));
    if ok { 0 } else { 1 }
}

fn geometry(e: &mut Env, master: u32, dev: u32) -> bool {
    let mut ok = true;
    let size = device::device_get_status(&mut e.rpc, dev, DEV_GET_SIZE).map(|s| (s.status_0, s.status_1));
    ok &= check_eq!("device_get_status_size", size, Ok((RECORDS * REC as u64, REC as u64)));
    let recs = device::device_get_status(&mut e.rpc, dev, DEV_GET_RECORDS).map(|s| (s.status_0, s.status_1));
    ok &= check_eq!("device_get_status_records", recs, Ok((RECORDS, REC as u64)));
    let other = device::device_get_status(&mut e.rpc, dev, 99).map(|_| ());
    ok &= check_eq!("device_get_status_bad_flavor", other, Err(D_INVALID_OPERATION));
    let on_master = device::device_read(&mut e.rpc, master, 0, 0, 512).map(|d| drop(OolRegion::bytes(d)));
    ok &= check_eq!("device_read_on_master_port", on_master, Err(D_INVALID_OPERATION));
    let open_on_dev = device::device_open(&mut e.rpc, dev, D_READ, DEVICE_NAME_HD0);
    ok &= check_eq!("device_open_on_device_port", open_on_dev, Err(D_INVALID_OPERATION));
    ok
}

fn transfers(e: &mut Env, dev: u32) -> bool {
    let mut ok = true;
    let mut buf = [0u8; MAX];
    ok &= check_eq!(
        "device_fresh_disk_reads_zero",
        read_check(e, dev, 0, 4 * REC as u32, 0),
        Ok(true)
    );
    // One record.
    fill(&mut buf[..REC], 0x11, 5);
    let w = device::device_write(&mut e.rpc, dev, 0, 5, &buf[..REC]);
    ok &= check_eq!("device_write_one_record", w, Ok(REC as u32));
    ok &= check_eq!(
        "device_read_one_record",
        read_check(e, dev, 5, REC as u32, 0x11),
        Ok(true)
    );
    ok &= check_eq!(
        "device_neighbours_untouched",
        read_check(e, dev, 4, REC as u32, 0),
        Ok(true)
    );
    ok &= check_eq!(
        "device_neighbours_untouched_after",
        read_check(e, dev, 6, REC as u32, 0),
        Ok(true)
    );
    // Sixteen records, read back whole and in part.
    fill(&mut buf[..16 * REC], 0x22, 100);
    let w = device::device_write(&mut e.rpc, dev, 0, 100, &buf[..16 * REC]);
    ok &= check_eq!("device_write_multi_record", w, Ok(16 * REC as u32));
    ok &= check_eq!(
        "device_read_multi_record",
        read_check(e, dev, 100, 16 * REC as u32, 0x22),
        Ok(true)
    );
    ok &= check_eq!(
        "device_read_part_of_multi",
        read_check(e, dev, 107, 3 * REC as u32, 0x22),
        Ok(true)
    );
    // The largest request.
    fill(&mut buf, 0x33, 1000);
    let w = device::device_write(&mut e.rpc, dev, D_NOWAIT, 1000, &buf);
    ok &= check_eq!("device_write_max_size", w, Ok(MAX as u32));
    ok &= check_eq!(
        "device_read_max_size",
        read_check(e, dev, 1000, MAX as u32, 0x33),
        Ok(true)
    );
    // The last record.
    fill(&mut buf[..REC], 0x44, RECORDS - 1);
    let w = device::device_write(&mut e.rpc, dev, 0, RECORDS - 1, &buf[..REC]);
    ok &= check_eq!("device_write_last_record", w, Ok(REC as u32));
    ok &= check_eq!(
        "device_read_last_record",
        read_check(e, dev, RECORDS - 1, REC as u32, 0x44),
        Ok(true)
    );
    // Overwriting replaces.
    fill(&mut buf[..2 * REC], 0x55, 5);
    let w = device::device_write(&mut e.rpc, dev, 0, 5, &buf[..2 * REC]);
    ok &= check_eq!("device_overwrite", w, Ok(2 * REC as u32));
    ok &= check_eq!(
        "device_read_overwritten",
        read_check(e, dev, 5, 2 * REC as u32, 0x55),
        Ok(true)
    );
    ok
}

fn bad_requests(e: &mut Env, dev: u32) -> bool {
    let mut ok = true;
    let r = REC as u32;
    let read = |e: &mut Env, name: &str, mode: u32, recnum: u64, bytes: u32, want: i32| {
        let got = device::device_read(&mut e.rpc, dev, mode, recnum, bytes).map(|d| drop(OolRegion::bytes(d)));
        check_eq!(name, got, Err(want))
    };
    ok &= read(e, "device_read_zero_bytes", 0, 0, 0, D_INVALID_SIZE);
    ok &= read(e, "device_read_partial_record", 0, 0, 100, D_INVALID_SIZE);
    ok &= read(e, "device_read_record_and_a_byte", 0, 0, r + 1, D_INVALID_SIZE);
    ok &= read(e, "device_read_over_limit", 0, 0, DEVICE_IO_MAX + r, D_INVALID_SIZE);
    ok &= read(e, "device_read_u32_max", 0, 0, u32::MAX, D_INVALID_SIZE);
    ok &= read(e, "device_read_at_end", 0, RECORDS, r, D_INVALID_RECNUM);
    ok &= read(e, "device_read_recnum_max", 0, u64::MAX, r, D_INVALID_RECNUM);
    ok &= read(e, "device_read_past_end", 0, RECORDS - 1, 2 * r, D_INVALID_SIZE);
    ok &= read(e, "device_read_bad_mode", 0x80, 0, r, D_INVALID_OPERATION);
    let mut buf = [0u8; MAX + REC];
    fill(&mut buf, 0x66, 0);
    let write = |e: &mut Env, name: &str, mode: u32, recnum: u64, data: &[u8], want: i32| {
        let got = device::device_write(&mut e.rpc, dev, mode, recnum, data);
        check_eq!(name, got, Err(want))
    };
    ok &= write(e, "device_write_zero_bytes", 0, 0, &[], D_INVALID_SIZE);
    ok &= write(e, "device_write_partial_record", 0, 0, &buf[..100], D_INVALID_SIZE);
    ok &= write(e, "device_write_over_limit", 0, 0, &buf, D_INVALID_SIZE);
    ok &= write(e, "device_write_at_end", 0, RECORDS, &buf[..REC], D_INVALID_RECNUM);
    ok &= write(e, "device_write_recnum_max", 0, u64::MAX, &buf[..REC], D_INVALID_RECNUM);
    ok &= write(
        e,
        "device_write_past_end",
        0,
        RECORDS - 1,
        &buf[..2 * REC],
        D_INVALID_SIZE,
    );
    ok &= write(e, "device_write_bad_mode", 0x80, 0, &buf[..REC], D_INVALID_OPERATION);
    // Nothing the refused writes carried reached the disk.
    ok &= check_eq!(
        "device_refused_writes_left_start",
        read_check(e, dev, 0, 4 * r, 0),
        Ok(true)
    );
    ok &= check_eq!(
        "device_refused_writes_left_end",
        read_check(e, dev, RECORDS - 1, r, 0x44),
        Ok(true)
    );
    ok
}

fn open_close(e: &mut Env, master: u32, dev: u32) -> bool {
    let mut ok = true;
    ok &= check_eq!("device_close", device::device_close(&mut e.rpc, dev), Ok(()));
    let closed_read = device::device_read(&mut e.rpc, dev, 0, 0, 512).map(|d| drop(OolRegion::bytes(d)));
    ok &= check_eq!("device_read_closed", closed_read, Err(D_NO_SUCH_DEVICE));
    let closed_write = device::device_write(&mut e.rpc, dev, 0, 0, &[0u8; REC]);
    ok &= check_eq!("device_write_closed", closed_write, Err(D_NO_SUCH_DEVICE));
    let closed_status = device::device_get_status(&mut e.rpc, dev, DEV_GET_SIZE).map(|_| ());
    ok &= check_eq!("device_get_status_closed", closed_status, Err(D_NO_SUCH_DEVICE));
    ok &= check_eq!(
        "device_close_closed",
        device::device_close(&mut e.rpc, dev),
        Err(D_NO_SUCH_DEVICE)
    );
    // Read-only: reads work, writes are refused.
    let ro = device::device_open(&mut e.rpc, master, D_READ, DEVICE_NAME_HD0);
    ok &= check_eq!("device_reopen_read_only", ro, Ok(dev));
    let ro_write = device::device_write(&mut e.rpc, dev, 0, 5, &[0u8; REC]);
    ok &= check_eq!("device_write_read_only", ro_write, Err(D_READ_ONLY));
    ok &= check_eq!(
        "device_data_survives_reopen",
        read_check(e, dev, 5, 2 * REC as u32, 0x55),
        Ok(true)
    );
    ok &= check_eq!(
        "device_multi_survives_reopen",
        read_check(e, dev, 100, 16 * REC as u32, 0x22),
        Ok(true)
    );
    ok &= check_eq!("device_close_read_only", device::device_close(&mut e.rpc, dev), Ok(()));
    ok
}
