//! Reading directories: positions, `getdents64` records and buffer sizes.

use super::*;
use crate::errno::Errno;
use alloc::vec;
use linux_raw_sys::general as g;

/// Decodes `linux_dirent64` records: (ino, off, type, name).
fn decode(buf: &[u8]) -> Vec<(u64, i64, u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let rec = &buf[at..];
        let ino = u64::from_le_bytes(rec[0..8].try_into().unwrap());
        let off = i64::from_le_bytes(rec[8..16].try_into().unwrap());
        let reclen = u16::from_le_bytes(rec[16..18].try_into().unwrap()) as usize;
        assert_eq!(reclen % 8, 0);
        let name = &rec[19..reclen];
        let nul = name.iter().position(|&b| b == 0).expect("NUL-terminated name");
        assert!(name[nul..].iter().all(|&b| b == 0), "padding is zero");
        out.push((ino, off, rec[18], name[..nul].to_vec()));
        at += reclen;
    }
    out
}

#[test]
fn dot_dotdot_then_entries_in_creation_order() {
    let mut fs = fs();
    let d = dir(&mut fs, "d");
    let z = file(&mut fs, "d/z", b"");
    let a = dir(&mut fs, "d/a");
    let l = link(&mut fs, "z", "d/l");
    let c = fs.mknod(R, b"d/c", g::S_IFCHR, (1, 3), 0, 0).unwrap();
    let mut buf = vec![0; 4096];
    let (n, next) = fs.getdents64(d, 0, &mut buf).unwrap();
    let recs = decode(&buf[..n]);
    let dt = |t: u32| t as u8;
    assert_eq!(
        recs,
        vec![
            (d, 1, dt(g::DT_DIR), b".".to_vec()),
            (R, 2, dt(g::DT_DIR), b"..".to_vec()),
            (z, 3, dt(g::DT_REG), b"z".to_vec()),
            (a, 4, dt(g::DT_DIR), b"a".to_vec()),
            (l, 5, dt(g::DT_LNK), b"l".to_vec()),
            (c, 6, dt(g::DT_CHR), b"c".to_vec()),
        ]
    );
    assert_eq!(next, 6);
    // At the end: nothing, same position.
    assert_eq!(fs.getdents64(d, next, &mut buf), Ok((0, 6)));
    // The root's `..` is itself.
    let (n, _) = fs.getdents64(R, 0, &mut buf).unwrap();
    assert_eq!(decode(&buf[..n])[1], (R, 2, dt(g::DT_DIR), b"..".to_vec()));
}

#[test]
fn record_sizes_and_small_buffers() {
    let mut fs = fs();
    let d = dir(&mut fs, "d");
    file(&mut fs, "d/abcde", b""); // 19 + 5 + 1 = 25 -> 32
    file(&mut fs, "d/abcd", b""); // 19 + 4 + 1 = 24 -> 24
    // `.` and `..` take 24 bytes each.
    let mut buf = vec![0; 23];
    assert_eq!(fs.getdents64(d, 0, &mut buf), Err(Errno::EINVAL));
    let mut buf = vec![0; 24];
    assert_eq!(fs.getdents64(d, 0, &mut buf), Ok((24, 1)));
    let mut buf = vec![0; 24 + 24 + 31];
    assert_eq!(
        fs.getdents64(d, 0, &mut buf),
        Ok((48, 2)),
        "stops before a record that does not fit"
    );
    let mut buf = vec![0; 31];
    assert_eq!(fs.getdents64(d, 2, &mut buf), Err(Errno::EINVAL));
    let mut buf = vec![0; 32];
    assert_eq!(fs.getdents64(d, 2, &mut buf), Ok((32, 3)));
    assert_eq!(fs.getdents64(d, 3, &mut buf), Ok((24, 4)));
    assert_eq!(fs.getdents64(d, 3, &mut []), Err(Errno::EINVAL));
    // A name of NAME_MAX bytes: 19 + 255 + 1 = 275 -> 280.
    file(&mut fs, &alloc::format!("d/{}", "n".repeat(NAME_MAX)), b"");
    let mut buf = vec![0; 279];
    assert_eq!(fs.getdents64(d, 4, &mut buf), Err(Errno::EINVAL));
    let mut buf = vec![0; 280];
    assert_eq!(fs.getdents64(d, 4, &mut buf), Ok((280, 5)));
}

#[test]
fn resuming_is_stable_while_entries_change() {
    let mut fs = fs();
    let d = dir(&mut fs, "d");
    for i in 0..20 {
        file(&mut fs, &alloc::format!("d/f{i}"), b"");
    }
    // Read in small steps; between steps remove an entry already read and
    // one not yet read, and add one.
    let mut seen = Vec::new();
    let mut pos = 0;
    let mut buf = vec![0; 64];
    let mut step = 0;
    loop {
        let (n, next) = fs.getdents64(d, pos, &mut buf).unwrap();
        if n == 0 {
            break;
        }
        for (_, off, _, name) in decode(&buf[..n]) {
            seen.push(String::from_utf8(name).unwrap());
            assert!(off as u64 <= next);
        }
        pos = next;
        if step < 5 {
            fs.unlink(R, alloc::format!("d/f{step}").as_bytes()).unwrap();
            fs.unlink(R, alloc::format!("d/f{}", 19 - step).as_bytes()).unwrap();
            file(&mut fs, &alloc::format!("d/new{step}"), b"");
        }
        step += 1;
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no entry twice: {seen:?}");
    // Every entry that stayed throughout was seen.
    for i in 5..15 {
        assert!(seen.contains(&alloc::format!("f{i}")), "f{i} missing from {seen:?}");
    }
    for i in 15..20 {
        assert!(!seen.contains(&alloc::format!("f{i}")), "removed before being reached");
    }
    ok(&fs);
}

#[test]
fn read_dir_errors_and_removed_directories() {
    let mut fs = fs();
    let f = file(&mut fs, "f", b"");
    let mut buf = vec![0; 100];
    assert_eq!(fs.getdents64(f, 0, &mut buf), Err(Errno::ENOTDIR));
    assert_eq!(fs.read_dir(f, 0), Err(Errno::ENOTDIR));
    assert_eq!(fs.read_dir(999, 0), Err(Errno::ENOENT));
    assert_eq!(fs.read_dir(R, u64::MAX), Ok(None));
    let d = dir(&mut fs, "d");
    fs.open_ref(d).unwrap();
    fs.rmdir(R, b"d").unwrap();
    assert_eq!(fs.getdents64(d, 0, &mut buf), Ok((0, 0)));
    fs.close_ref(d).unwrap();
}

#[test]
fn encode_dirent64_rejects_short_buffers() {
    let mut buf = [0xaau8; 40];
    assert_eq!(encode_dirent64(&mut buf, 7, 9, 8, b"hello"), Some(32));
    assert_eq!(decode(&buf[..32]), vec![(7, 9, 8, b"hello".to_vec())]);
    assert_eq!(buf[32], 0xaa, "nothing written past the record");
    assert_eq!(encode_dirent64(&mut buf[..31], 7, 9, 8, b"hello"), None);
    assert_eq!(encode_dirent64(&mut buf, 1, 1, 1, b""), Some(24));
    assert_eq!(DIRENT64_HEADER, 19);
    let long = vec![b'x'; 70000];
    let mut big = vec![0; 80000];
    assert_eq!(
        encode_dirent64(&mut big, 1, 1, 1, &long),
        None,
        "d_reclen must fit 16 bits"
    );
}

use alloc::string::String;
