use super::*;
use std::os::unix::fs::PermissionsExt;

/// A parse result with owned bytes: (interpreter, argument).
type Parsed = Result<Option<(Vec<u8>, Option<Vec<u8>>)>>;

fn sb(data: &[u8]) -> Parsed {
    parse_shebang(data).map(|o| o.map(|s| (s.interpreter.to_vec(), s.arg.map(|a| a.to_vec()))))
}

fn some(interp: &str, arg: Option<&str>) -> Parsed {
    Ok(Some((interp.as_bytes().to_vec(), arg.map(|a| a.as_bytes().to_vec()))))
}

fn repeat(b: u8, n: usize) -> Vec<u8> {
    vec![b; n]
}

/// The cases, with what Linux 6.18 did with each (see the host comparison).
fn cases() -> Vec<(Vec<u8>, Parsed)> {
    let cat = |parts: &[&[u8]]| parts.concat();
    vec![
        (b"#!/bin/sh\n".to_vec(), some("/bin/sh", None)),
        (b"#!/bin/sh".to_vec(), some("/bin/sh", None)),
        (b"#!/bin/echo a b  c  \n".to_vec(), some("/bin/echo", Some("a b  c"))),
        (b"#!  /bin/echo x\n".to_vec(), some("/bin/echo", Some("x"))),
        (b"#!\t/bin/echo\targ\t\n".to_vec(), some("/bin/echo", Some("arg"))),
        (b"#!/bin/echo   \nrest".to_vec(), some("/bin/echo", None)),
        (b"#!/bin/echo\0 arg\n".to_vec(), some("/bin/echo", None)),
        (b"#!/bin/echo a\0b\n".to_vec(), some("/bin/echo", Some("a"))),
        (b"#!/bin/echo \0x\n".to_vec(), some("/bin/echo", Some(""))),
        (b"#!/bin/echo -n\r\n".to_vec(), some("/bin/echo", Some("-n\r"))),
        (b"#!\n".to_vec(), Err(Errno::ENOEXEC)),
        (b"#!   \n".to_vec(), Err(Errno::ENOEXEC)),
        (b"#! \t ".to_vec(), Err(Errno::EACCES)),
        (b"#!".to_vec(), Err(Errno::EACCES)),
        // Long lines: the line ends at byte 255 at the latest.
        (
            cat(&[b"#!/bin/echo ", &repeat(b'x', 300)]),
            some("/bin/echo", Some(&"x".repeat(243))),
        ),
        (
            cat(&[b"#!/bin/echo ", &repeat(b'y', 243), b"\n"]),
            some("/bin/echo", Some(&"y".repeat(243))),
        ),
        (
            cat(&[b"#!/bin/echo ", &repeat(b'y', 244), b"\n"]),
            some("/bin/echo", Some(&"y".repeat(243))),
        ),
        (
            cat(&[b"#!/bin/echo ", &repeat(b'y', 242), b"\n"]),
            some("/bin/echo", Some(&"y".repeat(242))),
        ),
        (cat(&[b"#!/bin/echo ", &repeat(b' ', 300)]), some("/bin/echo", None)),
        (cat(&[b"#!", &repeat(b'/', 300)]), Err(Errno::ENOEXEC)),
        (cat(&[b"#!/bin/echo", &repeat(b'z', 250)]), Err(Errno::ENOEXEC)),
        (
            cat(&[b"#!/bin/echo", &repeat(b'z', 242), b" q"]),
            some(&std::format!("/bin/echo{}", "z".repeat(242)), Some("q")),
        ),
        (b"#/bin/sh\n".to_vec(), Ok(None)),
        (b"\x7fELF".to_vec(), Ok(None)),
        (b"".to_vec(), Ok(None)),
    ]
}

#[test]
fn shebang_lines() {
    for (data, want) in cases() {
        assert_eq!(
            sb(&data),
            want,
            "{:?}",
            String::from_utf8_lossy(&data[..data.len().min(40)])
        );
    }
}

/// Runs a script just written. Another test thread that forks while the
/// file is still open for writing gives its child a copy of that
/// descriptor, and exec then fails with ETXTBSY until the child has exec'd:
/// that is the test process's race, not the kernel's answer, so try again.
fn run(path: &std::path::Path, args: &[&str]) -> std::io::Result<std::process::Output> {
    for _ in 0..50 {
        match Command::new(path).args(args).output() {
            Err(e) if e.raw_os_error() == Some(Errno::ETXTBSY.0 as i32) => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            r => return r,
        }
    }
    Command::new(path).args(args).output()
}

#[test]
fn shebang_lines_as_the_host_kernel_reads_them() {
    if !Path::new("/bin/echo").exists() {
        return;
    }
    let dir = std::env::temp_dir().join(std::format!("unix-core-sb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (i, (data, want)) in cases().into_iter().enumerate() {
        if data.is_empty() || !data.starts_with(b"#!") {
            continue;
        }
        if matches!(&want, Ok(Some((interp, _))) if interp != b"/bin/echo") {
            continue;
        }
        let path = dir.join(std::format!("s{i}"));
        std::fs::write(&path, &data).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let got = run(&path, &["A1"]);
        let p = path.to_str().unwrap();
        match want {
            Ok(Some((_, arg))) => {
                let out = got.unwrap();
                let mut expect = String::new();
                if let Some(a) = arg {
                    expect += &String::from_utf8(a).unwrap();
                    expect += " ";
                }
                expect += &std::format!("{p} A1\n");
                assert_eq!(String::from_utf8(out.stdout).unwrap(), expect, "case {i}");
            }
            Err(e) => {
                assert_eq!(got.unwrap_err().raw_os_error(), Some(e.0 as i32), "case {i}");
            }
            Ok(None) => unreachable!(),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_interpreters_argv() {
    let s = Shebang {
        interpreter: b"/bin/sh",
        arg: Some(b"-e"),
    };
    assert_eq!(
        script_argv(&s, b"./run", &[b"run", b"x", b"y"]),
        [
            b"/bin/sh".to_vec(),
            b"-e".to_vec(),
            b"./run".to_vec(),
            b"x".to_vec(),
            b"y".to_vec()
        ]
    );
    let s = Shebang {
        interpreter: b"/bin/sh",
        arg: None,
    };
    assert_eq!(
        script_argv(&s, b"/t", &[]),
        [b"/bin/sh".to_vec(), b"/t".to_vec()],
        "argv may be empty"
    );
}

/// A file system of scripts s0..s7: s0 runs the ELF `/elf`, s<i> runs s<i-1>.
fn chain(path: &[u8]) -> Result<Vec<u8>> {
    match path {
        b"/elf" => Ok(standard()),
        b"/text" => Ok(b"echo hi\n".to_vec()),
        b"/bad" => Ok(b"#!/text\n".to_vec()),
        b"/missing" => Ok(b"#!/nowhere\n".to_vec()),
        [b'/', b's', d] if d.is_ascii_digit() => {
            let n = d - b'0';
            Ok(if n == 0 {
                b"#!/elf -x\n".to_vec()
            } else {
                std::format!("#!/s{}\n", n - 1).into_bytes()
            })
        }
        _ => Err(Errno::ENOENT),
    }
}

#[test]
fn resolve_follows_interpreters() {
    let cfg = ExecConfig::default();
    let r = resolve(b"/elf", &[b"elf", b"1"], &cfg, chain).unwrap();
    assert_eq!(
        (r.path.as_slice(), r.argv.clone()),
        (&b"/elf"[..], vec![b"elf".to_vec(), b"1".to_vec()])
    );
    assert_eq!(r.plan, plan(&standard()).unwrap());
    assert_eq!(r.file, standard());
    let r = resolve(b"/s2", &[b"s2", b"A1"], &cfg, chain).unwrap();
    assert_eq!(r.path, b"/elf");
    let want: Vec<Vec<u8>> = [&b"/elf"[..], b"-x", b"/s0", b"/s1", b"/s2", b"A1"]
        .iter()
        .map(|a| a.to_vec())
        .collect();
    assert_eq!(r.argv, want, "as Linux builds it (compare the host's nested scripts)");
    // Five rewrites run, the sixth is ELOOP (as on the host kernel).
    assert!(resolve(b"/s4", &[b"s4"], &cfg, chain).is_ok());
    assert_eq!(resolve(b"/s5", &[b"s5"], &cfg, chain).unwrap_err(), Errno::ELOOP);
    assert_eq!(resolve(b"/s7", &[b"s7"], &cfg, chain).unwrap_err(), Errno::ELOOP);
    assert_eq!(resolve(b"/text", &[], &cfg, chain).unwrap_err(), Errno::ENOEXEC);
    assert_eq!(resolve(b"/bad", &[], &cfg, chain).unwrap_err(), Errno::ENOEXEC);
    assert_eq!(resolve(b"/missing", &[], &cfg, chain).unwrap_err(), Errno::ENOENT);
    assert_eq!(resolve(b"/none", &[], &cfg, chain).unwrap_err(), Errno::ENOENT);
}

#[test]
fn nested_scripts_on_the_host_kernel_stop_where_ours_do() {
    if !Path::new("/bin/sh").exists() {
        return;
    }
    let dir = std::env::temp_dir().join(std::format!("unix-core-nest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.to_str().unwrap();
    for i in 0..=MAX_INTERPRETER_DEPTH + 1 {
        let body = if i == 0 {
            String::from("#!/bin/sh\necho ok\n")
        } else {
            std::format!("#!{d}/s{}\n", i - 1)
        };
        let p = dir.join(std::format!("s{i}"));
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // s<k> is k+1 scripts deep (then /bin/sh, an ELF or a link to one).
    let deepest_ok = dir.join(std::format!("s{}", MAX_INTERPRETER_DEPTH - 1));
    assert_eq!(run(&deepest_ok, &[]).unwrap().stdout, b"ok\n");
    let too_deep = dir.join(std::format!("s{}", MAX_INTERPRETER_DEPTH));
    assert_eq!(
        run(&too_deep, &[]).unwrap_err().raw_os_error(),
        Some(Errno::ELOOP.0 as i32)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
