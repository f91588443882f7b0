//! Creating and removing names, links, symlinks, `open`, and unlinked files
//! that stay open.

use super::*;
use crate::errno::Errno;
use linux_raw_sys::general as g;

#[test]
fn mknod_makes_each_kind() {
    let mut fs = fs();
    assert_eq!(fs.root(), 1);
    assert_eq!(fs.time(), Timespec { sec: 100, nsec: 0 });
    assert_eq!(fs.file_type(fs.root()), Ok(FileType::Directory));
    let f = fs.mknod(R, b"f", g::S_IFREG | 0o640, (0, 0), 5, 6).unwrap();
    let plain = fs.mknod(R, b"plain", 0o600, (0, 0), 0, 0).unwrap();
    let c = fs.mknod(R, b"null", g::S_IFCHR | 0o666, (1, 3), 0, 0).unwrap();
    let bl = fs.mknod(R, b"sda", g::S_IFBLK | 0o660, (8, 0), 0, 0).unwrap();
    let p = fs.mknod(R, b"fifo", g::S_IFIFO | 0o644, (9, 9), 0, 0).unwrap();
    let s = fs.mknod(R, b"sock", g::S_IFSOCK | 0o755, (0, 0), 0, 0).unwrap();
    let st = fs.stat(f).unwrap();
    assert_eq!(
        (st.mode, st.uid, st.gid, st.nlink, st.size),
        (g::S_IFREG | 0o640, 5, 6, 1, 0)
    );
    assert_eq!(fs.file_type(plain), Ok(FileType::Regular));
    assert_eq!(fs.stat(c).unwrap().rdev, makedev(1, 3));
    assert_eq!(fs.stat(c).unwrap().mode, g::S_IFCHR | 0o666);
    assert_eq!(fs.stat(bl).unwrap().rdev, makedev(8, 0));
    assert_eq!(fs.file_type(bl), Ok(FileType::BlockDevice));
    assert_eq!(fs.stat(p).unwrap().rdev, 0, "only devices keep rdev");
    assert_eq!(fs.file_type(p), Ok(FileType::Fifo));
    assert_eq!(fs.file_type(s), Ok(FileType::Socket));
    assert_eq!(fs.stat(f).unwrap().ctime, Timespec { sec: 100, nsec: 0 });
    assert_eq!(fs.mknod(R, b"d", g::S_IFDIR | 0o755, (0, 0), 0, 0), Err(Errno::EPERM));
    assert_eq!(fs.mknod(R, b"l", g::S_IFLNK | 0o777, (0, 0), 0, 0), Err(Errno::EINVAL));
    assert_eq!(fs.mknod(R, b"x", 0o170000, (0, 0), 0, 0), Err(Errno::EINVAL));
    assert_eq!(fs.mknod(R, b"f", 0o644, (0, 0), 0, 0), Err(Errno::EEXIST));
    assert_eq!(fs.mknod(R, b"new/", 0o644, (0, 0), 0, 0), Err(Errno::ENOENT));
    assert_eq!(fs.mknod(R, b"no/such", 0o644, (0, 0), 0, 0), Err(Errno::ENOENT));
    assert_eq!(fs.mknod(R, b"f/x", 0o644, (0, 0), 0, 0), Err(Errno::ENOTDIR));
    ok(&fs);
}

#[test]
fn mkdir_counts_links_and_refuses_existing_names() {
    let mut fs = fs();
    let a = dir(&mut fs, "a");
    assert_eq!(fs.stat(R).unwrap().nlink, 3);
    assert_eq!(fs.stat(a).unwrap().nlink, 2);
    assert_eq!(fs.stat(a).unwrap().mode, g::S_IFDIR | 0o755);
    dir(&mut fs, "a/b");
    dir(&mut fs, "a/c/");
    assert_eq!(fs.stat(a).unwrap().nlink, 4);
    file(&mut fs, "a/f", b"");
    assert_eq!(fs.stat(a).unwrap().nlink, 4, "files add no link to their directory");
    link(&mut fs, "nowhere", "dangling");
    for p in ["a", "a/", "a/b", "/", ".", "..", "a/..", "dangling", "a/f"] {
        assert_eq!(fs.mkdir(R, p.as_bytes(), 0o755, 0, 0), Err(Errno::EEXIST), "{p}");
    }
    assert_eq!(fs.mkdir(R, b"x/y", 0o755, 0, 0), Err(Errno::ENOENT));
    assert_eq!(fs.mkdir(R, b"a/f/y", 0o755, 0, 0), Err(Errno::ENOTDIR));
    ok(&fs);
}

#[test]
fn rmdir_rules() {
    let mut fs = fs();
    let a = dir(&mut fs, "a");
    dir(&mut fs, "a/b");
    file(&mut fs, "f", b"");
    link(&mut fs, "a", "la");
    assert_eq!(fs.rmdir(R, b"a"), Err(Errno::ENOTEMPTY));
    assert_eq!(fs.rmdir(R, b"a/b/."), Err(Errno::EINVAL));
    assert_eq!(fs.rmdir(a, b"."), Err(Errno::EINVAL));
    assert_eq!(fs.rmdir(R, b"a/b/.."), Err(Errno::ENOTEMPTY));
    assert_eq!(fs.rmdir(R, b"/"), Err(Errno::EBUSY));
    assert_eq!(fs.rmdir(R, b"f"), Err(Errno::ENOTDIR));
    assert_eq!(fs.rmdir(R, b"la"), Err(Errno::ENOTDIR), "rmdir does not follow");
    assert_eq!(fs.rmdir(R, b"la/"), Err(Errno::ENOTDIR));
    assert_eq!(fs.rmdir(R, b"missing"), Err(Errno::ENOENT));
    fs.set_time(Timespec { sec: 200, nsec: 5 });
    assert_eq!(fs.rmdir(R, b"a/b/"), Ok(()));
    assert_eq!(fs.stat(a).unwrap().nlink, 2);
    assert_eq!(fs.stat(a).unwrap().mtime, Timespec { sec: 200, nsec: 5 });
    assert_eq!(fs.rmdir(R, b"a"), Ok(()));
    assert_eq!(fs.stat(R).unwrap().nlink, 2);
    assert!(!fs.exists(a));
    ok(&fs);
}

#[test]
fn unlink_rules() {
    let mut fs = fs();
    let f = file(&mut fs, "f", b"x");
    dir(&mut fs, "d");
    let l = link(&mut fs, "f", "l");
    assert_eq!(fs.unlink(R, b"d"), Err(Errno::EISDIR));
    assert_eq!(fs.unlink(R, b"d/"), Err(Errno::EISDIR));
    assert_eq!(fs.unlink(R, b"."), Err(Errno::EISDIR));
    assert_eq!(fs.unlink(R, b"/"), Err(Errno::EISDIR));
    assert_eq!(fs.unlink(R, b"f/"), Err(Errno::ENOTDIR));
    assert_eq!(fs.unlink(R, b"missing"), Err(Errno::ENOENT));
    // Unlinking a symlink removes the link, not its target.
    assert_eq!(fs.unlink(R, b"l"), Ok(()));
    assert!(!fs.exists(l));
    assert!(fs.exists(f));
    assert_eq!(fs.unlink(R, b"f"), Ok(()));
    assert!(!fs.exists(f));
    assert_eq!(fs.data_bytes(), 0);
    assert_eq!(look(&fs, "f"), Err(Errno::ENOENT));
    ok(&fs);
}

#[test]
fn hard_links() {
    let mut fs = fs();
    let f = file(&mut fs, "f", b"shared");
    dir(&mut fs, "d");
    let l = link(&mut fs, "f", "sym");
    fs.set_time(Timespec { sec: 300, nsec: 0 });
    assert_eq!(fs.link(R, b"f", R, b"d/g", false), Ok(()));
    assert_eq!(look(&fs, "d/g"), Ok(f));
    assert_eq!(fs.stat(f).unwrap().nlink, 2);
    assert_eq!(fs.stat(f).unwrap().ctime.sec, 300);
    // Following a final symlink only on request.
    assert_eq!(fs.link(R, b"sym", R, b"s2", false), Ok(()));
    assert_eq!(fs.lookup(R, b"s2", false), Ok(l));
    assert_eq!(fs.link(R, b"sym", R, b"s3", true), Ok(()));
    assert_eq!(fs.lookup(R, b"s3", false), Ok(f));
    assert_eq!(fs.link(R, b"d", R, b"d2", false), Err(Errno::EPERM));
    assert_eq!(fs.link(R, b"f", R, b"d/g", false), Err(Errno::EEXIST));
    assert_eq!(fs.link(R, b"f", R, b"d", false), Err(Errno::EEXIST));
    assert_eq!(fs.link(R, b"missing", R, b"x", false), Err(Errno::ENOENT));
    assert_eq!(fs.link(R, b"f", R, b"x/", false), Err(Errno::ENOENT));
    // The data lives while any name does.
    fs.unlink(R, b"f").unwrap();
    fs.unlink(R, b"s3").unwrap();
    assert_eq!(content(&fs, f), b"shared");
    fs.unlink(R, b"d/g").unwrap();
    assert!(!fs.exists(f));
    ok(&fs);
}

#[test]
fn symlink_and_readlink() {
    let mut fs = fs();
    file(&mut fs, "f", b"");
    let l = fs.symlink(b"../some/where", R, b"l", 7, 8).unwrap();
    let st = fs.stat(l).unwrap();
    assert_eq!((st.mode, st.size, st.uid, st.gid), (g::S_IFLNK | 0o777, 13, 7, 8));
    assert_eq!(fs.readlink(R, b"l"), Ok(&b"../some/where"[..]));
    assert_eq!(fs.readlink(R, b"f"), Err(Errno::EINVAL));
    assert_eq!(fs.readlink(R, b"/"), Err(Errno::EINVAL));
    assert_eq!(fs.readlink(R, b"missing"), Err(Errno::ENOENT));
    assert_eq!(fs.symlink(b"", R, b"e", 0, 0), Err(Errno::ENOENT));
    assert_eq!(fs.symlink(b"x", R, b"f", 0, 0), Err(Errno::EEXIST));
    assert_eq!(fs.symlink(b"x", R, b"l", 0, 0), Err(Errno::EEXIST));
    assert_eq!(fs.symlink(b"x", R, b"new/", 0, 0), Err(Errno::ENOENT));
    let long = alloc::vec![b'x'; PATH_MAX + 1];
    assert_eq!(fs.symlink(&long, R, b"long", 0, 0), Err(Errno::ENAMETOOLONG));
    let max = alloc::vec![b'x'; PATH_MAX];
    assert!(fs.symlink(&max, R, b"max", 0, 0).is_ok());
    assert_eq!(fs.data_bytes(), 13 + PATH_MAX as u64);
    ok(&fs);
}

fn open(fs: &mut Fs, path: &str, flags: u32) -> crate::errno::Result<Opened> {
    fs.open(R, path.as_bytes(), flags, 0o600, 1, 2)
}

#[test]
fn open_creates_and_checks() {
    let mut fs = fs();
    let o = open(&mut fs, "new", g::O_CREAT | g::O_WRONLY).unwrap();
    assert!(o.created);
    assert_eq!(o.file_type, FileType::Regular);
    let st = fs.stat(o.ino).unwrap();
    assert_eq!((st.mode, st.uid, st.gid), (g::S_IFREG | 0o600, 1, 2));
    let again = open(&mut fs, "new", g::O_CREAT | g::O_RDWR).unwrap();
    assert_eq!((again.ino, again.created), (o.ino, false));
    assert_eq!(open(&mut fs, "new", g::O_CREAT | g::O_EXCL), Err(Errno::EEXIST));
    assert_eq!(open(&mut fs, "missing", g::O_RDONLY), Err(Errno::ENOENT));
    assert_eq!(open(&mut fs, "no/such", g::O_CREAT), Err(Errno::ENOENT));
    assert_eq!(open(&mut fs, "newdir/", g::O_CREAT), Err(Errno::EISDIR));
    assert_eq!(open(&mut fs, "new/", g::O_RDONLY), Err(Errno::ENOTDIR));
    let d = dir(&mut fs, "d");
    assert_eq!(open(&mut fs, "d", g::O_RDONLY).map(|o| o.ino), Ok(d));
    assert_eq!(open(&mut fs, "d", g::O_RDONLY | g::O_DIRECTORY).map(|o| o.ino), Ok(d));
    assert_eq!(open(&mut fs, "d", g::O_WRONLY), Err(Errno::EISDIR));
    assert_eq!(open(&mut fs, "d", g::O_RDWR), Err(Errno::EISDIR));
    assert_eq!(open(&mut fs, "d", g::O_CREAT), Err(Errno::EISDIR));
    assert_eq!(open(&mut fs, "/", g::O_CREAT | g::O_EXCL), Err(Errno::EEXIST));
    assert_eq!(open(&mut fs, "new", g::O_DIRECTORY), Err(Errno::ENOTDIR));
    ok(&fs);
}

#[test]
fn open_and_symlinks() {
    let mut fs = fs();
    let f = file(&mut fs, "f", b"abc");
    link(&mut fs, "f", "l");
    link(&mut fs, "target", "dangling");
    assert_eq!(open(&mut fs, "l", g::O_RDONLY).map(|o| o.ino), Ok(f));
    assert_eq!(open(&mut fs, "l", g::O_RDONLY | g::O_NOFOLLOW), Err(Errno::ELOOP));
    assert_eq!(open(&mut fs, "l", g::O_CREAT | g::O_EXCL), Err(Errno::EEXIST));
    assert_eq!(open(&mut fs, "dangling", g::O_CREAT | g::O_EXCL), Err(Errno::EEXIST));
    // O_CREAT through a dangling link makes its target.
    let t = open(&mut fs, "dangling", g::O_CREAT | g::O_WRONLY).unwrap();
    assert!(t.created);
    assert_eq!(look(&fs, "target"), Ok(t.ino));
    ok(&fs);
}

#[test]
fn open_trunc_empties_regular_files() {
    let mut fs = fs();
    let f = file(&mut fs, "f", b"abcdef");
    fs.set_time(Timespec { sec: 500, nsec: 0 });
    assert_eq!(
        open(&mut fs, "f", g::O_WRONLY | g::O_TRUNC).map(|o| o.created),
        Ok(false)
    );
    assert_eq!(fs.size(f), Ok(0));
    assert_eq!(fs.stat(f).unwrap().mtime.sec, 500);
    assert_eq!(fs.data_bytes(), 0);
    let c = fs.mknod(R, b"c", g::S_IFCHR | 0o666, (1, 3), 0, 0).unwrap();
    assert_eq!(open(&mut fs, "c", g::O_WRONLY | g::O_TRUNC).map(|o| o.ino), Ok(c));
    ok(&fs);
}

#[test]
fn unlinked_open_file_keeps_its_data_until_last_close() {
    let mut fs = fs();
    let f = file(&mut fs, "f", b"still here");
    fs.open_ref(f).unwrap();
    fs.open_ref(f).unwrap();
    assert_eq!(fs.opens(f), Ok(2));
    fs.unlink(R, b"f").unwrap();
    ok(&fs);
    assert_eq!(fs.stat(f).unwrap().nlink, 0);
    assert_eq!(content(&fs, f), b"still here");
    assert_eq!(fs.write_at(f, 10, b"!"), Ok(1));
    assert_eq!(look(&fs, "f"), Err(Errno::ENOENT));
    // A new file of the same name is another inode.
    let g2 = file(&mut fs, "f", b"new");
    assert_ne!(g2, f);
    fs.close_ref(f).unwrap();
    assert!(fs.exists(f));
    fs.close_ref(f).unwrap();
    assert!(!fs.exists(f));
    assert_eq!(fs.data_bytes(), 3);
    assert_eq!(fs.close_ref(f), Err(Errno::ENOENT));
    assert_eq!(fs.close_ref(g2), Err(Errno::EINVAL), "no reference to drop");
    assert_eq!(fs.open_ref(12345), Err(Errno::ENOENT));
    // Closing a linked file frees nothing.
    fs.open_ref(g2).unwrap();
    fs.close_ref(g2).unwrap();
    assert!(fs.exists(g2));
    ok(&fs);
}

#[test]
fn inode_and_data_limits_give_enospc() {
    let mut fs = fs();
    fs.set_limits(Limits {
        max_inodes: 3,
        max_data_bytes: 10,
        max_file_size: 100,
    });
    let f = file(&mut fs, "f", b"0123456789");
    assert_eq!(fs.write_at(f, 10, b"x"), Err(Errno::ENOSPC));
    assert_eq!(fs.symlink(b"t", R, b"l", 0, 0), Err(Errno::ENOSPC));
    dir(&mut fs, "d");
    assert_eq!(fs.mkdir(R, b"e", 0o755, 0, 0), Err(Errno::ENOSPC));
    assert_eq!(fs.mknod(R, b"g", 0o644, (0, 0), 0, 0), Err(Errno::ENOSPC));
    assert_eq!(open(&mut fs, "g", g::O_CREAT), Err(Errno::ENOSPC));
    assert_eq!(fs.inode_count(), 3);
    ok(&fs);
    fs.truncate(f, 4).unwrap();
    assert_eq!(fs.write_at(f, 4, b"abcdef"), Ok(6));
    assert_eq!(fs.limits().max_inodes, 3);
    ok(&fs);
}
