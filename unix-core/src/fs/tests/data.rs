//! File data, truncation, attributes, and `stat` with its byte layout.

use super::*;
use crate::errno::Errno;
use core::mem::offset_of;
use linux_raw_sys::general as g;
use linux_raw_sys::general::stat as linux_stat;

#[test]
fn write_and_read_at_offsets() {
    let mut fs = fs();
    let f = file(&mut fs, "f", b"hello");
    assert_eq!(fs.write_at(f, 3, b"p me"), Ok(4));
    assert_eq!(content(&fs, f), b"help me");
    let mut buf = [0u8; 4];
    assert_eq!(fs.read_at(f, 5, &mut buf), Ok(2));
    assert_eq!(&buf[..2], b"me");
    assert_eq!(fs.read_at(f, 7, &mut buf), Ok(0));
    assert_eq!(fs.read_at(f, u64::MAX, &mut buf), Ok(0));
    assert_eq!(fs.read_at(f, 0, &mut []), Ok(0));
    assert_eq!(fs.write_at(f, 0, b""), Ok(0));
    assert_eq!(fs.size(f), Ok(7));
    assert_eq!(fs.data_bytes(), 7);
    ok(&fs);
}

#[test]
fn writing_past_the_end_fills_a_zero_hole() {
    let mut fs = fs();
    let f = file(&mut fs, "f", b"ab");
    assert_eq!(fs.write_at(f, 6, b"z"), Ok(1));
    assert_eq!(content(&fs, f), b"ab\0\0\0\0z");
    ok(&fs);
}

#[test]
fn truncate_is_sparse_safe() {
    let mut fs = fs();
    let f = file(&mut fs, "f", b"abcdef");
    fs.set_time(Timespec { sec: 400, nsec: 0 });
    // Extending allocates nothing; the new part reads as zeros.
    assert_eq!(fs.truncate(f, 1 << 40), Ok(()));
    assert_eq!(fs.size(f), Ok(1 << 40));
    assert_eq!(fs.data_bytes(), 6);
    assert_eq!(fs.stat(f).unwrap().blocks, 1);
    assert_eq!(fs.stat(f).unwrap().mtime.sec, 400);
    let mut buf = [0xffu8; 8];
    assert_eq!(fs.read_at(f, 4, &mut buf), Ok(8));
    assert_eq!(&buf, b"ef\0\0\0\0\0\0");
    assert_eq!(fs.read_at(f, (1 << 40) - 3, &mut buf), Ok(3));
    assert_eq!(&buf[..3], b"\0\0\0");
    ok(&fs);
    // Shrinking drops bytes; growing again does not bring them back.
    fs.truncate(f, 2).unwrap();
    assert_eq!(fs.data_bytes(), 2);
    fs.truncate(f, 4).unwrap();
    assert_eq!(content(&fs, f), b"ab\0\0");
    // A write inside the hole below the size.
    fs.write_at(f, 3, b"Z").unwrap();
    assert_eq!(content(&fs, f), b"ab\0Z");
    assert_eq!(fs.size(f), Ok(4));
    fs.truncate(f, 0).unwrap();
    assert_eq!(fs.data_bytes(), 0);
    ok(&fs);
}

#[test]
fn data_errors() {
    let mut fs = fs();
    let d = dir(&mut fs, "d");
    let l = link(&mut fs, "d", "l");
    let c = fs.mknod(R, b"c", g::S_IFCHR, (1, 3), 0, 0).unwrap();
    let f = file(&mut fs, "f", b"");
    let mut buf = [0u8; 4];
    assert_eq!(fs.read_at(d, 0, &mut buf), Err(Errno::EISDIR));
    assert_eq!(fs.write_at(d, 0, b"x"), Err(Errno::EISDIR));
    assert_eq!(fs.truncate(d, 0), Err(Errno::EISDIR));
    for ino in [l, c] {
        assert_eq!(fs.read_at(ino, 0, &mut buf), Err(Errno::EINVAL));
        assert_eq!(fs.write_at(ino, 0, b"x"), Err(Errno::EINVAL));
        assert_eq!(fs.truncate(ino, 0), Err(Errno::EINVAL));
    }
    assert_eq!(fs.truncate(f, -1), Err(Errno::EINVAL));
    assert_eq!(fs.read_at(999, 0, &mut buf), Err(Errno::ENOENT));
    assert_eq!(fs.write_at(999, 0, b"x"), Err(Errno::ENOENT));
    ok(&fs);
}

#[test]
fn file_size_limit_gives_efbig() {
    let mut fs = fs();
    let f = file(&mut fs, "f", b"");
    fs.set_limits(Limits {
        max_file_size: 10,
        ..Limits::default()
    });
    assert_eq!(fs.write_at(f, 10, b"x"), Err(Errno::EFBIG));
    assert_eq!(fs.write_at(f, u64::MAX, b"x"), Err(Errno::EFBIG));
    assert_eq!(fs.write_at(f, 8, b"abcd"), Ok(2), "cut at the limit");
    assert_eq!(fs.size(f), Ok(10));
    assert_eq!(fs.truncate(f, 11), Err(Errno::EFBIG));
    assert_eq!(fs.truncate(f, 10), Ok(()));
    // With the default limit, offsets near 2^63 are EFBIG, not a crash.
    fs.set_limits(Limits::default());
    assert_eq!(fs.write_at(f, i64::MAX as u64, b"x"), Err(Errno::EFBIG));
    assert_eq!(fs.write_at(f, 1 << 62, b"x"), Err(Errno::ENOSPC));
    assert_eq!(fs.truncate(f, i64::MAX), Ok(()));
    assert_eq!(fs.stat(f).unwrap().size, i64::MAX);
    ok(&fs);
}

#[test]
fn chmod_chown_utimens() {
    let mut fs = fs();
    let f = file(&mut fs, "f", b"");
    let d = dir(&mut fs, "d");
    fs.set_time(Timespec { sec: 1000, nsec: 1 });
    fs.chmod(f, g::S_IFDIR | 0o7755).unwrap();
    assert_eq!(
        fs.stat(f).unwrap().mode,
        g::S_IFREG | 0o7755,
        "type bits are not changed"
    );
    assert_eq!(fs.stat(f).unwrap().ctime, Timespec { sec: 1000, nsec: 1 });
    fs.chown(f, Some(10), None).unwrap();
    let st = fs.stat(f).unwrap();
    assert_eq!((st.uid, st.gid), (10, 0));
    // set-user-ID dropped; set-group-ID too, since group-executable.
    assert_eq!(st.mode & 0o7777, 0o1755);
    fs.chmod(f, 0o6745).unwrap();
    fs.chown(f, None, Some(20)).unwrap();
    let st = fs.stat(f).unwrap();
    assert_eq!(
        (st.uid, st.gid, st.mode & 0o7777),
        (10, 20, 0o2745),
        "sgid kept without group exec"
    );
    fs.chmod(d, 0o6755).unwrap();
    fs.chown(d, Some(1), Some(1)).unwrap();
    assert_eq!(fs.stat(d).unwrap().mode & 0o7777, 0o6755, "directories keep theirs");

    fs.set_time(Timespec { sec: 2000, nsec: 0 });
    let t = Timespec { sec: 5, nsec: 6 };
    fs.utimens(f, SetTime::At(t), SetTime::Omit).unwrap();
    let st = fs.stat(f).unwrap();
    assert_eq!((st.atime, st.mtime.sec, st.ctime.sec), (t, 100, 2000));
    fs.set_time(Timespec { sec: 3000, nsec: 0 });
    fs.utimens(f, SetTime::Omit, SetTime::Now).unwrap();
    let st = fs.stat(f).unwrap();
    assert_eq!((st.atime, st.mtime.sec, st.ctime.sec), (t, 3000, 3000));
    fs.set_time(Timespec { sec: 4000, nsec: 0 });
    fs.utimens(f, SetTime::Omit, SetTime::Omit).unwrap();
    assert_eq!(fs.stat(f).unwrap().ctime.sec, 3000, "omitting both changes nothing");
    assert_eq!(fs.chmod(999, 0), Err(Errno::ENOENT));
    assert_eq!(fs.chown(999, None, None), Err(Errno::ENOENT));
    assert_eq!(fs.utimens(999, SetTime::Now, SetTime::Now), Err(Errno::ENOENT));
    ok(&fs);
}

#[test]
fn set_time_decodes_utime_now_and_omit() {
    assert_eq!(SetTime::from_timespec(1, (1 << 30) - 1), Ok(SetTime::Now));
    assert_eq!(SetTime::from_timespec(1, (1 << 30) - 2), Ok(SetTime::Omit));
    assert_eq!(
        SetTime::from_timespec(-5, 999_999_999),
        Ok(SetTime::At(Timespec {
            sec: -5,
            nsec: 999_999_999
        }))
    );
    assert_eq!(SetTime::from_timespec(0, 0), Ok(SetTime::At(Timespec::default())));
    assert_eq!(SetTime::from_timespec(0, 1_000_000_000), Err(Errno::EINVAL));
    assert_eq!(SetTime::from_timespec(0, -1), Err(Errno::EINVAL));
}

#[test]
fn stat_fields() {
    let mut fs = fs();
    let d = dir(&mut fs, "d");
    file(&mut fs, "d/a", b"");
    let f = file(&mut fs, "f", &[1; 513]);
    let st = fs.stat(f).unwrap();
    assert_eq!((st.ino, st.dev, st.size, st.blksize, st.blocks), (f, 1, 513, 4096, 2));
    assert_eq!(fs.stat(d).unwrap().size, 60, "tmpfs-style: 20 bytes an entry");
    assert_eq!(fs.stat(999), Err(Errno::ENOENT));
}

#[test]
fn device_numbers() {
    assert_eq!(makedev(8, 1), 0x801);
    assert_eq!(makedev(4095, 255), 0xfffff);
    assert_eq!(makedev(4096, 256), (1 << 44) | (1 << 20));
    for (ma, mi) in [
        (0, 0),
        (1, 3),
        (136, 0),
        (259, 65536),
        (u32::MAX, u32::MAX),
        (0x12345, 0xabcdef),
    ] {
        let dev = makedev(ma, mi);
        assert_eq!((major(dev), minor(dev)), (ma, mi));
    }
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}

#[test]
fn stat_bytes_follow_the_x86_64_layout() {
    assert_eq!(STAT_SIZE, 144);
    let st = Stat {
        dev: 0x0102,
        ino: 0x1122_3344_5566_7788,
        nlink: 3,
        mode: g::S_IFREG | 0o644,
        uid: 1000,
        gid: 100,
        rdev: makedev(5, 1),
        size: 0x1_0000_0001,
        blksize: 4096,
        blocks: 8,
        atime: Timespec { sec: 1, nsec: 2 },
        mtime: Timespec { sec: -3, nsec: 4 },
        ctime: Timespec {
            sec: 5,
            nsec: 999_999_999,
        },
    };
    let b = st.to_bytes();
    // Offsets written out, as x86_64 Linux's struct stat has them.
    assert_eq!(u64_at(&b, 0), 0x0102);
    assert_eq!(u64_at(&b, 8), 0x1122_3344_5566_7788);
    assert_eq!(u64_at(&b, 16), 3);
    assert_eq!(u32_at(&b, 24), g::S_IFREG | 0o644);
    assert_eq!(u32_at(&b, 28), 1000);
    assert_eq!(u32_at(&b, 32), 100);
    assert_eq!(u32_at(&b, 36), 0, "padding");
    assert_eq!(u64_at(&b, 40), 0x501);
    assert_eq!(u64_at(&b, 48), 0x1_0000_0001);
    assert_eq!(u64_at(&b, 56), 4096);
    assert_eq!(u64_at(&b, 64), 8);
    assert_eq!(u64_at(&b, 72), 1);
    assert_eq!(u64_at(&b, 80), 2);
    assert_eq!(u64_at(&b, 88) as i64, -3);
    assert_eq!(u64_at(&b, 96), 4);
    assert_eq!(u64_at(&b, 104), 5);
    assert_eq!(u64_at(&b, 112), 999_999_999);
    assert_eq!(&b[120..144], &[0; 24]);
    // And as linux-raw-sys names them.
    assert_eq!(offset_of!(linux_stat, st_mode), 24);
    assert_eq!(offset_of!(linux_stat, st_ctime_nsec), 112);
}
