//! `rename` and its POSIX rules.

use super::*;
use crate::errno::Errno;

fn rename(fs: &mut Fs, old: &str, new: &str) -> crate::errno::Result<()> {
    fs.rename(R, old.as_bytes(), R, new.as_bytes())
}

#[test]
fn rename_moves_and_replaces_files() {
    let mut fs = fs();
    let f = file(&mut fs, "f", b"one");
    let g2 = file(&mut fs, "g", b"two");
    dir(&mut fs, "d");
    fs.set_time(Timespec { sec: 700, nsec: 0 });
    assert_eq!(rename(&mut fs, "f", "d/f2"), Ok(()));
    assert_eq!(look(&fs, "f"), Err(Errno::ENOENT));
    assert_eq!(look(&fs, "d/f2"), Ok(f));
    assert_eq!(fs.stat(f).unwrap().ctime.sec, 700);
    assert_eq!(fs.stat(R).unwrap().mtime.sec, 700);
    // Replacing a file frees the old one.
    assert_eq!(rename(&mut fs, "d/f2", "g"), Ok(()));
    assert_eq!(look(&fs, "g"), Ok(f));
    assert!(!fs.exists(g2));
    assert_eq!(fs.data_bytes(), 3);
    ok(&fs);
}

#[test]
fn replaced_file_that_is_open_lives_on() {
    let mut fs = fs();
    file(&mut fs, "a", b"a");
    let b = file(&mut fs, "b", b"b");
    fs.open_ref(b).unwrap();
    rename(&mut fs, "a", "b").unwrap();
    ok(&fs);
    assert_eq!(content(&fs, b), b"b");
    fs.close_ref(b).unwrap();
    assert!(!fs.exists(b));
    ok(&fs);
}

#[test]
fn rename_directories() {
    let mut fs = fs();
    let a = dir(&mut fs, "a");
    let b = dir(&mut fs, "b");
    let sub = dir(&mut fs, "a/sub");
    file(&mut fs, "a/sub/f", b"");
    assert_eq!(rename(&mut fs, "a/sub", "b/moved"), Ok(()));
    assert_eq!(fs.stat(a).unwrap().nlink, 2);
    assert_eq!(fs.stat(b).unwrap().nlink, 3);
    assert_eq!(fs.lookup(sub, b"..", true), Ok(b), ".. follows the move");
    assert_eq!(fs.path_of(sub).unwrap(), b"/b/moved");
    // Over an empty directory.
    let empty = dir(&mut fs, "a/empty");
    assert_eq!(rename(&mut fs, "b/moved", "a/empty"), Ok(()));
    assert!(!fs.exists(empty));
    assert!(look(&fs, "a/empty/f").is_ok());
    assert_eq!(fs.stat(a).unwrap().nlink, 3);
    assert_eq!(fs.stat(b).unwrap().nlink, 2);
    ok(&fs);
    // Within one directory, over an empty sibling.
    dir(&mut fs, "a/x");
    assert_eq!(rename(&mut fs, "a/empty", "a/x"), Ok(()));
    assert_eq!(fs.stat(a).unwrap().nlink, 3);
    assert_eq!(rename(&mut fs, "a/x/", "a/y/"), Ok(()));
    ok(&fs);
}

#[test]
fn rename_type_mismatches_and_busy_names() {
    let mut fs = fs();
    file(&mut fs, "f", b"");
    dir(&mut fs, "d");
    dir(&mut fs, "full");
    file(&mut fs, "full/x", b"");
    dir(&mut fs, "e");
    assert_eq!(rename(&mut fs, "f", "d"), Err(Errno::EISDIR));
    assert_eq!(rename(&mut fs, "d", "f"), Err(Errno::ENOTDIR));
    assert_eq!(rename(&mut fs, "d", "full"), Err(Errno::ENOTEMPTY));
    assert_eq!(rename(&mut fs, "f", "g/"), Err(Errno::ENOTDIR));
    assert_eq!(rename(&mut fs, "f/", "g"), Err(Errno::ENOTDIR));
    assert_eq!(rename(&mut fs, "missing", "g"), Err(Errno::ENOENT));
    assert_eq!(rename(&mut fs, "f", "no/g"), Err(Errno::ENOENT));
    for (old, new) in [
        (".", "x"),
        ("d/..", "x"),
        ("/", "x"),
        ("f", "."),
        ("f", "d/.."),
        ("e", "/"),
    ] {
        assert_eq!(rename(&mut fs, old, new), Err(Errno::EBUSY), "{old} {new}");
    }
    ok(&fs);
}

#[test]
fn directory_cannot_move_into_itself() {
    let mut fs = fs();
    dir(&mut fs, "a");
    dir(&mut fs, "a/b");
    dir(&mut fs, "a/b/c");
    assert_eq!(rename(&mut fs, "a", "a/x"), Err(Errno::EINVAL));
    assert_eq!(rename(&mut fs, "a", "a/b/c/x"), Err(Errno::EINVAL));
    assert_eq!(rename(&mut fs, "a/b", "a/b/c/x"), Err(Errno::EINVAL));
    // Over its own ancestor: that one is not empty.
    assert_eq!(rename(&mut fs, "a/b/c", "a"), Err(Errno::ENOTEMPTY));
    assert_eq!(rename(&mut fs, "a/b/c", "a/b"), Err(Errno::ENOTEMPTY));
    // A file may move anywhere.
    file(&mut fs, "a/f", b"");
    assert_eq!(rename(&mut fs, "a/f", "a/b/c/f"), Ok(()));
    ok(&fs);
}

#[test]
fn same_inode_is_a_no_op() {
    let mut fs = fs();
    let f = file(&mut fs, "f", b"");
    fs.link(R, b"f", R, b"g", false).unwrap();
    fs.set_time(Timespec { sec: 900, nsec: 0 });
    assert_eq!(rename(&mut fs, "f", "g"), Ok(()));
    assert_eq!(look(&fs, "f"), Ok(f), "both names stay");
    assert_eq!(look(&fs, "g"), Ok(f));
    assert_eq!(fs.stat(f).unwrap().nlink, 2);
    assert_eq!(fs.stat(R).unwrap().mtime.sec, 100, "nothing was touched");
    assert_eq!(rename(&mut fs, "f", "f"), Ok(()));
    let d = dir(&mut fs, "d");
    assert_eq!(rename(&mut fs, "d", "d/"), Ok(()));
    assert_eq!(look(&fs, "d"), Ok(d));
    ok(&fs);
}

#[test]
fn symlinks_are_renamed_not_followed() {
    let mut fs = fs();
    let d = dir(&mut fs, "d");
    let l = link(&mut fs, "d", "l");
    assert_eq!(rename(&mut fs, "l", "m"), Ok(()));
    assert_eq!(fs.lookup(R, b"m", false), Ok(l));
    assert_eq!(look(&fs, "m"), Ok(d));
    assert_eq!(rename(&mut fs, "m", "d"), Err(Errno::EISDIR));
    ok(&fs);
}

#[test]
fn rename_into_a_removed_directory_is_enoent() {
    let mut fs = fs();
    let gone = dir(&mut fs, "gone");
    file(&mut fs, "f", b"");
    fs.open_ref(gone).unwrap();
    fs.rmdir(R, b"gone").unwrap();
    assert_eq!(fs.rename(R, b"f", gone, b"f"), Err(Errno::ENOENT));
    assert!(look(&fs, "f").is_ok());
    fs.close_ref(gone).unwrap();
    ok(&fs);
}
