//! Path lookup: `.`, `..`, slashes, symlinks, and the lookup errors.

use super::*;
use crate::errno::Errno;
use alloc::vec;

fn tree() -> Fs {
    let mut fs = fs();
    dir(&mut fs, "a");
    dir(&mut fs, "a/b");
    file(&mut fs, "a/b/f", b"data");
    file(&mut fs, "top", b"");
    fs
}

#[test]
fn absolute_relative_dot_and_dotdot() {
    let fs = tree();
    let a = look(&fs, "/a").unwrap();
    let b = look(&fs, "a/b").unwrap();
    let f = look(&fs, "/a/b/f").unwrap();
    assert_eq!(fs.lookup(a, b"b/f", true), Ok(f));
    assert_eq!(fs.lookup(b, b"f", true), Ok(f));
    assert_eq!(fs.lookup(b, b"/a", true), Ok(a), "absolute ignores cwd");
    assert_eq!(fs.lookup(b, b"..", true), Ok(a));
    assert_eq!(fs.lookup(b, b"../..", true), Ok(R));
    assert_eq!(
        fs.lookup(b, b"../../../../..", true),
        Ok(R),
        "the root's parent is itself"
    );
    assert_eq!(fs.lookup(b, b".", true), Ok(b));
    assert_eq!(fs.lookup(b, b"./f", true), Ok(f));
    assert_eq!(look(&fs, "/a/./b/../b/./f"), Ok(f));
    assert_eq!(look(&fs, "/.."), Ok(R));
    assert_eq!(look(&fs, "/"), Ok(R));
    ok(&fs);
}

#[test]
fn repeated_and_trailing_slashes() {
    let fs = tree();
    let b = look(&fs, "a/b").unwrap();
    let f = look(&fs, "a/b/f").unwrap();
    assert_eq!(look(&fs, "//a///b////f"), Ok(f));
    assert_eq!(look(&fs, "a/b/"), Ok(b));
    assert_eq!(look(&fs, "a/b//"), Ok(b));
    assert_eq!(look(&fs, "////"), Ok(R));
    // A trailing slash needs a directory.
    assert_eq!(look(&fs, "a/b/f/"), Err(Errno::ENOTDIR));
    assert_eq!(look(&fs, "top/"), Err(Errno::ENOTDIR));
    assert_eq!(look(&fs, "a/b/f/."), Err(Errno::ENOTDIR));
}

#[test]
fn lookup_errors() {
    let fs = tree();
    assert_eq!(look(&fs, ""), Err(Errno::ENOENT));
    assert_eq!(look(&fs, "missing"), Err(Errno::ENOENT));
    assert_eq!(look(&fs, "missing/x"), Err(Errno::ENOENT));
    assert_eq!(look(&fs, "a/missing/x"), Err(Errno::ENOENT));
    assert_eq!(look(&fs, "top/x"), Err(Errno::ENOTDIR));
    assert_eq!(look(&fs, "a/b/f/x"), Err(Errno::ENOTDIR));
    assert_eq!(look(&fs, "top/.."), Err(Errno::ENOTDIR));
    let f = look(&fs, "a/b/f").unwrap();
    assert_eq!(fs.lookup(f, b"x", true), Err(Errno::ENOTDIR), "cwd must be a directory");
    assert_eq!(fs.lookup(f, b"/a", true), Ok(look(&fs, "a").unwrap()));
    assert_eq!(fs.lookup(999, b"x", true), Err(Errno::ENOENT), "cwd must exist");
}

#[test]
fn name_and_path_length_limits() {
    let mut fs = fs();
    let name = "n".repeat(NAME_MAX);
    let ino = file(&mut fs, &name, b"");
    assert_eq!(look(&fs, &name), Ok(ino));
    let long = "n".repeat(NAME_MAX + 1);
    assert_eq!(look(&fs, &long), Err(Errno::ENAMETOOLONG));
    assert_eq!(
        fs.mknod(R, long.as_bytes(), 0o644, (0, 0), 0, 0),
        Err(Errno::ENAMETOOLONG)
    );
    // A path of 4095 bytes (4096 with its NUL: Linux's PATH_MAX) is fine;
    // one more is not.
    assert_eq!((PATH_MAX, NAME_MAX), (4095, 255));
    let mut path = "./".repeat(2047);
    path.push('/');
    assert_eq!(path.len(), 4095);
    assert_eq!(look(&fs, &path), Ok(R));
    path.push('/');
    assert_eq!(look(&fs, &path), Err(Errno::ENAMETOOLONG));
}

#[test]
fn symlinks_in_the_middle_are_always_followed() {
    let mut fs = tree();
    let f = look(&fs, "a/b/f").unwrap();
    let b = look(&fs, "a/b").unwrap();
    link(&mut fs, "a/b", "rel");
    link(&mut fs, "/a/b", "abs");
    link(&mut fs, "b", "a/sib"); // relative to the link's directory
    link(&mut fs, "../../a", "a/b/up");
    assert_eq!(fs.lookup(R, b"rel/f", false), Ok(f));
    assert_eq!(fs.lookup(R, b"abs/f", false), Ok(f));
    assert_eq!(fs.lookup(b, b"/abs/f", false), Ok(f));
    assert_eq!(fs.lookup(R, b"a/sib/f", false), Ok(f));
    assert_eq!(fs.lookup(R, b"a/b/up/b/f", false), Ok(f));
    assert_eq!(
        fs.lookup(R, b"rel/../b/f", false),
        Ok(f),
        ".. after a link goes up from its target"
    );
    link(&mut fs, "top", "tl");
    assert_eq!(look(&fs, "tl/x"), Err(Errno::ENOTDIR));
    link(&mut fs, "nowhere", "dangling");
    assert_eq!(look(&fs, "dangling/x"), Err(Errno::ENOENT));
    ok(&fs);
}

#[test]
fn final_symlink_followed_on_request_or_trailing_slash() {
    let mut fs = tree();
    let b = look(&fs, "a/b").unwrap();
    let f = look(&fs, "a/b/f").unwrap();
    let l = link(&mut fs, "a/b", "l");
    let lf = link(&mut fs, "a/b/f", "lf");
    assert_eq!(fs.lookup(R, b"l", false), Ok(l));
    assert_eq!(fs.lookup(R, b"l", true), Ok(b));
    assert_eq!(fs.lookup(R, b"l/", false), Ok(b), "a trailing slash follows");
    assert_eq!(fs.lookup(R, b"lf", true), Ok(f));
    assert_eq!(fs.lookup(R, b"lf", false), Ok(lf));
    assert_eq!(fs.lookup(R, b"lf/", false), Err(Errno::ENOTDIR));
    // Chains, and a target that ends in a slash must be a directory.
    link(&mut fs, "l", "l2");
    link(&mut fs, "l2/", "l3");
    assert_eq!(fs.lookup(R, b"l3", true), Ok(b));
    link(&mut fs, "lf/", "lfs");
    assert_eq!(fs.lookup(R, b"lfs", true), Err(Errno::ENOTDIR));
    link(&mut fs, "nowhere", "dangling");
    assert_eq!(fs.lookup(R, b"dangling", true), Err(Errno::ENOENT));
    assert!(fs.lookup(R, b"dangling", false).is_ok());
}

#[test]
fn symlink_loops_give_eloop_after_40() {
    let mut fs = fs();
    link(&mut fs, "self", "self");
    assert_eq!(look(&fs, "self"), Err(Errno::ELOOP));
    assert_eq!(look(&fs, "self/x"), Err(Errno::ELOOP));
    assert!(fs.lookup(R, b"self", false).is_ok());
    link(&mut fs, "b", "a");
    link(&mut fs, "a", "b");
    assert_eq!(look(&fs, "a"), Err(Errno::ELOOP));
    // A chain of exactly 40 links resolves; 41 do not.
    let target = dir(&mut fs, "d");
    link(&mut fs, "d", "c0");
    for i in 1..=40 {
        link(&mut fs, &alloc::format!("c{}", i - 1), &alloc::format!("c{i}"));
    }
    assert_eq!(look(&fs, "c39"), Ok(target));
    assert_eq!(look(&fs, "c39/"), Ok(target));
    assert_eq!(look(&fs, "c40"), Err(Errno::ELOOP));
    assert_eq!(look(&fs, "c40/."), Err(Errno::ELOOP));
}

#[test]
fn path_of_gives_absolute_paths() {
    let mut fs = tree();
    let b = look(&fs, "a/b").unwrap();
    assert_eq!(fs.path_of(b).unwrap(), b"/a/b");
    assert_eq!(fs.path_of(R).unwrap(), b"/");
    let f = look(&fs, "a/b/f").unwrap();
    assert_eq!(fs.path_of(f), Err(Errno::ENOTDIR));
    fs.open_ref(b).unwrap();
    fs.unlink(R, b"a/b/f").unwrap();
    fs.rmdir(R, b"a/b").unwrap();
    assert_eq!(fs.path_of(b), Err(Errno::ENOENT));
    ok(&fs);
}

#[test]
fn removed_directory_as_cwd() {
    let mut fs = tree();
    let d = dir(&mut fs, "gone");
    fs.open_ref(d).unwrap();
    fs.rmdir(R, b"gone").unwrap();
    ok(&fs);
    assert_eq!(fs.lookup(d, b".", true), Ok(d));
    assert_eq!(fs.lookup(d, b"..", true), Ok(R));
    assert_eq!(fs.lookup(d, b"x", true), Err(Errno::ENOENT));
    assert_eq!(fs.mknod(d, b"x", 0o644, (0, 0), 0, 0), Err(Errno::ENOENT));
    assert_eq!(fs.mkdir(d, b"x", 0o755, 0, 0), Err(Errno::ENOENT));
    assert_eq!(names(&fs, d), Vec::<Vec<u8>>::new());
    fs.close_ref(d).unwrap();
    assert!(!fs.exists(d));
    ok(&fs);
    let _ = vec![0];
}
