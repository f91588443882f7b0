//! Tests of open file descriptions and the reference-counted table.

use super::*;
use linux_raw_sys::general as g;

fn file(flags: u32) -> OpenFile {
    OpenFile::new(
        Target::Inode {
            ino: 5,
            file_type: FileType::Regular,
        },
        flags,
    )
    .unwrap()
}

fn dir() -> OpenFile {
    OpenFile::new(
        Target::Inode {
            ino: 1,
            file_type: FileType::Directory,
        },
        g::O_RDONLY | g::O_DIRECTORY,
    )
    .unwrap()
}

#[test]
fn status_flags_keep_only_what_f_getfl_shows() {
    let f = file(g::O_WRONLY | g::O_CREAT | g::O_TRUNC | g::O_EXCL | g::O_CLOEXEC | g::O_APPEND);
    assert_eq!(f.flags(), g::O_WRONLY | g::O_APPEND);
    assert!(f.append());
    assert!(!f.nonblocking());
    assert_eq!(f.offset, 0);
    assert_eq!(OpenFile::new(f.target, 3).err(), Some(Errno::EINVAL));
    assert_eq!(OpenFile::new(f.target, 3 | g::O_APPEND).err(), Some(Errno::EINVAL));
}

#[test]
fn f_setfl_changes_only_append_and_nonblock() {
    let mut f = file(g::O_RDONLY);
    f.set_flags(g::O_RDWR | g::O_NONBLOCK | g::O_APPEND | g::O_DIRECTORY | g::O_TRUNC);
    assert_eq!(f.flags(), g::O_RDONLY | g::O_NONBLOCK | g::O_APPEND);
    assert!(f.nonblocking());
    assert_eq!(f.check_write(), Err(Errno::EBADF), "the access mode did not change");
    f.set_flags(0);
    assert_eq!(f.flags(), g::O_RDONLY);
    let mut d = dir();
    d.set_flags(g::O_NONBLOCK);
    assert_eq!(d.flags(), g::O_DIRECTORY | g::O_NONBLOCK);
}

#[test]
fn access_mode_checks() {
    let r = file(g::O_RDONLY);
    let w = file(g::O_WRONLY);
    let rw = file(g::O_RDWR);
    assert_eq!((r.check_read(), r.check_write()), (Ok(()), Err(Errno::EBADF)));
    assert_eq!((w.check_read(), w.check_write()), (Err(Errno::EBADF), Ok(())));
    assert_eq!((rw.check_read(), rw.check_write()), (Ok(()), Ok(())));
    // Other status flags do not disturb the access mode.
    let wa = file(g::O_WRONLY | g::O_APPEND | g::O_NONBLOCK);
    assert_eq!((wa.check_read(), wa.check_write()), (Err(Errno::EBADF), Ok(())));
    let ra = file(g::O_RDONLY | g::O_APPEND);
    assert_eq!((ra.check_read(), ra.check_write()), (Ok(()), Err(Errno::EBADF)));
    let rwa = file(g::O_RDWR | g::O_APPEND);
    assert_eq!((rwa.check_read(), rwa.check_write()), (Ok(()), Ok(())));
}

#[test]
fn append_writes_at_the_end() {
    let mut f = file(g::O_WRONLY);
    f.offset = 3;
    assert_eq!(f.write_offset(100), 3);
    f.set_flags(g::O_APPEND);
    assert_eq!(f.write_offset(100), 100);
    assert_eq!(f.advance(100, 5), Ok(105));
    assert_eq!(f.offset, 105);
    assert_eq!(f.advance(i64::MAX as u64, 1), Err(Errno::EOVERFLOW));
    assert_eq!(f.advance(u64::MAX, 1), Err(Errno::EOVERFLOW));
    assert_eq!(f.offset, 105, "unchanged after an error");
    assert_eq!(f.advance(i64::MAX as u64 - 1, 1), Ok(i64::MAX as u64));
}

#[test]
fn lseek_on_files() {
    let mut f = file(g::O_RDONLY);
    assert_eq!(f.seek(10, g::SEEK_SET, 100), Ok(10));
    assert_eq!(f.seek(5, g::SEEK_CUR, 100), Ok(15));
    assert_eq!(f.seek(-15, g::SEEK_CUR, 100), Ok(0));
    assert_eq!(f.seek(-1, g::SEEK_CUR, 100), Err(Errno::EINVAL));
    assert_eq!(f.offset, 0, "unchanged after an error");
    assert_eq!(f.seek(-10, g::SEEK_END, 100), Ok(90));
    assert_eq!(f.seek(10, g::SEEK_END, 100), Ok(110), "past the end is allowed");
    assert_eq!(f.seek(-101, g::SEEK_END, 100), Err(Errno::EINVAL));
    assert_eq!(f.seek(-1, g::SEEK_SET, 100), Err(Errno::EINVAL));
    assert_eq!(f.seek(0, 7, 100), Err(Errno::EINVAL));
    assert_eq!(f.seek(i64::MAX, g::SEEK_SET, 100), Ok(i64::MAX as u64));
    assert_eq!(f.seek(1, g::SEEK_CUR, 100), Err(Errno::EINVAL), "overflow");
    assert_eq!(f.seek(i64::MAX, g::SEEK_END, 1), Err(Errno::EINVAL));
    assert_eq!(f.seek(i64::MIN, g::SEEK_CUR, 1), Err(Errno::EINVAL), "MAX + MIN = -1");
    assert_eq!(f.offset, i64::MAX as u64);
}

#[test]
fn seek_data_and_hole() {
    let mut f = file(g::O_RDONLY);
    assert_eq!(f.seek(0, g::SEEK_DATA, 100), Ok(0));
    assert_eq!(f.seek(0, g::SEEK_HOLE, 100), Ok(100));
    assert_eq!(f.seek(0, g::SEEK_DATA, 0), Err(Errno::ENXIO));
    assert_eq!(f.seek(30, g::SEEK_DATA, 100), Ok(30));
    assert_eq!(f.seek(30, g::SEEK_HOLE, 100), Ok(100));
    assert_eq!(f.seek(100, g::SEEK_DATA, 100), Err(Errno::ENXIO));
    assert_eq!(f.seek(100, g::SEEK_HOLE, 100), Err(Errno::ENXIO));
    assert_eq!(f.seek(-1, g::SEEK_DATA, 100), Err(Errno::EINVAL));
    assert_eq!(f.offset, 100);
}

#[test]
fn lseek_on_directories_pipes_and_devices() {
    let mut d = dir();
    assert_eq!(d.seek(5, g::SEEK_SET, 60), Ok(5));
    assert_eq!(d.seek(1, g::SEEK_CUR, 60), Ok(6));
    assert_eq!(d.seek(0, g::SEEK_END, 60), Err(Errno::EINVAL));
    assert_eq!(d.seek(0, g::SEEK_DATA, 60), Err(Errno::EINVAL));
    for t in [
        Target::Pipe {
            id: 1,
            end: PipeEnd::Read,
        },
        Target::Device(Device::Console),
        Target::Inode {
            ino: 3,
            file_type: FileType::Fifo,
        },
    ] {
        let mut p = OpenFile::new(t, g::O_RDONLY).unwrap();
        assert_eq!(p.seek(0, g::SEEK_SET, 0), Err(Errno::ESPIPE), "{t:?}");
        assert_eq!(p.seek(0, g::SEEK_CUR, 0), Err(Errno::ESPIPE));
    }
    for dev in [Device::Null, Device::Zero, Device::Full] {
        let mut n = OpenFile::new(Target::Device(dev), g::O_RDWR).unwrap();
        n.offset = 7;
        assert_eq!(n.seek(100, g::SEEK_SET, 0), Ok(0));
        assert_eq!(n.seek(-5, 99, 0), Ok(0), "always 0, as Linux's null_lseek");
        assert_eq!(n.offset, 0);
    }
    let mut r = OpenFile::new(Target::Device(Device::Random), g::O_RDONLY).unwrap();
    r.offset = 9;
    assert_eq!(r.seek(100, g::SEEK_SET, 0), Ok(9), "noop_llseek");
}

#[test]
fn simple_devices_read_and_write() {
    let mut buf = [7u8; 4];
    assert_eq!(Device::Null.read_fill(&mut buf), Some(0));
    assert_eq!(buf, [7; 4]);
    assert_eq!(Device::Zero.read_fill(&mut buf), Some(4));
    assert_eq!(buf, [0; 4]);
    buf = [7; 4];
    assert_eq!(Device::Full.read_fill(&mut buf), Some(4));
    assert_eq!(buf, [0; 4]);
    assert_eq!(Device::Console.read_fill(&mut buf), None);
    assert_eq!(Device::Random.read_fill(&mut buf), None);
    assert_eq!(Device::Null.write_result(10), Ok(10));
    assert_eq!(Device::Zero.write_result(10), Ok(10));
    assert_eq!(Device::Random.write_result(3), Ok(3));
    assert_eq!(Device::Full.write_result(10), Err(Errno::ENOSPC));
    assert_eq!(Device::Full.write_result(0), Ok(0));
}

#[test]
fn table_counts_references() {
    let mut t: Table<&str> = Table::new();
    assert!(t.is_empty());
    let a = t.insert("a").unwrap();
    let b = t.insert("b").unwrap();
    assert_ne!(a, b);
    assert_eq!(t.refs(a), 1);
    t.retain(a).unwrap();
    t.retain(a).unwrap();
    assert_eq!(t.refs(a), 3);
    assert_eq!(t.release(a), Ok(None));
    assert_eq!(t.release(a), Ok(None));
    assert_eq!(t.get(a), Ok(&"a"));
    assert_eq!(t.release(a), Ok(Some("a")));
    assert_eq!(t.get(a), Err(Errno::EBADF));
    assert_eq!(t.refs(a), 0);
    assert_eq!(t.release(a), Err(Errno::EBADF));
    assert_eq!(t.retain(a), Err(Errno::EBADF));
    *t.get_mut(b).unwrap() = "B";
    assert_eq!(t.get(b), Ok(&"B"));
    assert_eq!(t.get_mut(a), Err(Errno::EBADF));
    assert_eq!(t.len(), 1);
    // Ids are not reused.
    t.release(b).unwrap();
    let c = t.insert("c").unwrap();
    assert!(c > b);
}

#[test]
fn table_limits() {
    let mut t: Table<u8> = Table::new();
    let a = t.insert(1).unwrap();
    t.entries.get_mut(&a).unwrap().1 = u32::MAX;
    assert_eq!(t.retain(a), Err(Errno::ENFILE));
    t.next_id = u64::MAX;
    assert_eq!(t.insert(2), Err(Errno::ENFILE));
    assert_eq!(t.len(), 1);
}

#[test]
fn shared_offset_through_the_table() {
    // Two descriptors (after dup or fork) name one description: one offset.
    let mut t = Table::new();
    let id = t.insert(file(g::O_RDWR)).unwrap();
    t.retain(id).unwrap();
    let f = t.get_mut(id).unwrap();
    let start = f.offset;
    f.advance(start, 10).unwrap();
    assert_eq!(t.get(id).unwrap().offset, 10);
    assert_eq!(t.release(id).map(|v| v.is_some()), Ok(false));
    assert_eq!(t.release(id).map(|v| v.map(|f| f.offset)), Ok(Some(10)));
}
