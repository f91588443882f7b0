//! The invariant checker catches each kind of corruption.

use super::*;

/// A small tree: /d (dir), /d/f (file, 2 links: also /g), /l (symlink).
fn tree() -> (Fs, Ino, Ino) {
    let mut fs = fs();
    let d = dir(&mut fs, "d");
    let f = file(&mut fs, "d/f", b"abc");
    fs.link(R, b"d/f", R, b"g", false).unwrap();
    link(&mut fs, "d", "l");
    ok(&fs);
    (fs, d, f)
}

fn inode(fs: &mut Fs, ino: Ino) -> &mut Inode {
    fs.inodes.get_mut(&ino).unwrap()
}

fn dirm(fs: &mut Fs, ino: Ino) -> &mut Dir {
    match &mut inode(fs, ino).node {
        Node::Directory(d) => d,
        _ => panic!("not a dir"),
    }
}

#[track_caller]
fn broken(fs: &Fs, what: &str) {
    let e = fs.check().expect_err(what);
    assert!(e.contains(what), "expected {what:?}, got {e:?}");
}

#[test]
fn check_catches_each_corruption() {
    let (mut fs, d, f) = tree();
    inode(&mut fs, f).nlink = 1;
    broken(&fs, "names");

    let (mut fs, d2, _) = tree();
    inode(&mut fs, d2).nlink = 3;
    broken(&fs, "subdirs");
    let (mut fs, _, _) = tree();
    inode(&mut fs, R).nlink = 2;
    broken(&fs, "subdirs");

    let (mut fs, _, _) = tree();
    let e = dir(&mut fs, "e");
    dirm(&mut fs, e).parent = d;
    broken(&fs, "does not name it");

    let (mut fs, _, _) = tree();
    dirm(&mut fs, d).insert(b"ghost", 999).unwrap();
    broken(&fs, "missing inode");

    // An inode with a link that nobody names.
    let (mut fs, _, _) = tree();
    let orphan = fs.new_inode(Node::Symlink(b"x".to_vec()), 0o777, 0, 0, 1).unwrap();
    broken(&fs, &alloc::format!("inode {orphan}: nlink 1 but 0 names"));

    // Two directories naming each other, cut off from the root.
    let (mut fs, _, _) = tree();
    let a = dir(&mut fs, "a");
    let b = dir(&mut fs, "a/b");
    dirm(&mut fs, R).remove(b"a");
    inode(&mut fs, R).nlink -= 1;
    dirm(&mut fs, b).insert(b"a", a).unwrap();
    dirm(&mut fs, a).parent = b;
    inode(&mut fs, b).nlink += 1;
    broken(&fs, "unreachable");

    let (mut fs, _, _) = tree();
    fs.new_inode(Node::Special(FileType::Fifo), 0o644, 0, 0, 0).unwrap();
    broken(&fs, "not freed");

    let (mut fs, _, _) = tree();
    fs.data_bytes += 1;
    broken(&fs, "data_bytes");

    for bad in [&b"."[..], b"..", b"", b"a/b", b"nul\0"] {
        let (mut fs, _, f) = tree();
        dirm(&mut fs, R).insert(bad, f).unwrap();
        inode(&mut fs, f).nlink += 1;
        broken(&fs, "bad name");
    }
    let (mut fs, _, f) = tree();
    dirm(&mut fs, R).insert(&[b'n'; NAME_MAX + 1], f).unwrap();
    inode(&mut fs, f).nlink += 1;
    broken(&fs, "bad name");

    let (mut fs, _, _) = tree();
    dirm(&mut fs, R).order.clear();
    broken(&fs, "differ in length");
    let (mut fs, _, _) = tree();
    let o = &mut dirm(&mut fs, R).order;
    let (first, name) = o.pop_first().unwrap();
    o.insert(first + 100, name);
    broken(&fs, "does not name");
    let (mut fs, _, _) = tree();
    let dd = dirm(&mut fs, R);
    dd.next_pos = 2;
    broken(&fs, "out of range");

    let (mut fs, _, f) = tree();
    if let Node::Regular { size, .. } = &mut inode(&mut fs, f).node {
        *size = 2;
    }
    broken(&fs, "past size");

    let (mut fs, _, _) = tree();
    dirm(&mut fs, R).parent = d;
    broken(&fs, "own parent");
    let (mut fs, _, _) = tree();
    inode(&mut fs, R).node = Node::Special(FileType::Fifo);
    broken(&fs, "own parent");
    let (mut fs, _, _) = tree();
    fs.inodes.remove(&R);
    broken(&fs, "no root");

    let (mut fs, _, _) = tree();
    dirm(&mut fs, R).insert(b"d2", d).unwrap();
    broken(&fs, "two names");

    let (mut fs, _, _) = tree();
    let gone = dir(&mut fs, "gone");
    fs.open_ref(gone).unwrap();
    fs.rmdir(R, b"gone").unwrap();
    ok(&fs);
    let x = fs.mknod(R, b"x", 0o644, (0, 0), 0, 0).unwrap();
    dirm(&mut fs, gone).insert(b"x", x).unwrap();
    inode(&mut fs, x).nlink += 1;
    broken(&fs, "removed dir");

    let (mut fs, _, f) = tree();
    inode(&mut fs, f).perm |= linux_raw_sys::general::S_IFREG;
    broken(&fs, "type bits");

    let (mut fs, _, _) = tree();
    fs.next_ino = 2;
    broken(&fs, "next_ino");

    let (mut fs, _, _) = tree();
    inode(&mut fs, R).nlink = 0;
    broken(&fs, "root has no links");
}
