//! End-to-end tests of the `harness` binary, with `sh -c` scripts standing in
//! for QEMU and the harness executable itself as the ELF to symbolise.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use object::{Object, ObjectSymbol, SymbolKind};

const HARNESS: &str = env!("CARGO_BIN_EXE_harness");

/// Runs the harness with `args`, feeding `stdin`.
fn harness(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(HARNESS)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn harness");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin).expect("write stdin");
    drop(input);
    child.wait_with_output().expect("wait harness")
}

/// Runs `harness test` with a fake QEMU shell script.
fn fake_qemu(extra: &[&str], script: &str) -> Output {
    let mut args = vec!["test", "--kernel", "/nonexistent/kernel", "--timeout", "5"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--", "sh", "-c", script]);
    harness(&args, b"")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn last_line(out: &Output) -> String {
    stdout(out).lines().last().unwrap_or_default().to_owned()
}

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("harness-cli-{}-{name}", std::process::id()))
}

#[test]
fn passing_run() {
    let out = fake_qemu(&[], r#"echo "test a ... ok"; echo "mach: all tasks finished"; exit 33"#);
    let text = stdout(&out);
    assert!(text.starts_with("test a ... ok\nmach: all tasks finished\n"), "{text}");
    assert_eq!(last_line(&out), "1 passed, 0 failed");
    assert_eq!(out.status.code(), Some(0));
    // The unreadable kernel is reported once, and does not stop the run.
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("warning").count(), 1, "{err}");
}

#[test]
fn timeout_kills_emulator() {
    let began = Instant::now();
    let out = harness(
        &[
            "test",
            "--kernel",
            "/nonexistent",
            "--timeout",
            "1",
            "--",
            "sleep",
            "10",
        ],
        b"",
    );
    assert!(began.elapsed() < Duration::from_secs(6), "took {:?}", began.elapsed());
    assert!(stdout(&out).contains("FAILED: timeout after 1 s"), "{}", stdout(&out));
    assert_eq!(last_line(&out), "0 passed, 1 failed");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn kernel_panic_fails_once() {
    let out = fake_qemu(
        &[],
        r#"echo "test a ... ok"; echo "KERNEL PANIC at x.rs:1: boom rip=0xffffffff80100000"; echo "  bt#0 0xffffffff80100000"; exit 35"#,
    );
    let text = stdout(&out);
    assert!(text.contains("  bt#0 0xffffffff80100000\n"), "{text}");
    assert!(text.contains("FAILED: kernel panic\n"), "{text}");
    assert_eq!(last_line(&out), "1 passed, 1 failed");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn exit_status_failures() {
    for (code, reason) in [
        (0, "triple fault or reset"),
        (33, "run did not complete"),
        (3, "qemu exited with status 3"),
    ] {
        let out = fake_qemu(&[], &format!(r#"echo "test a ... ok"; exit {code}"#));
        assert!(
            stdout(&out).contains(&format!("FAILED: {reason}\n")),
            "{}",
            stdout(&out)
        );
        assert_eq!(last_line(&out), "1 passed, 1 failed");
        assert_eq!(out.status.code(), Some(1));
    }
}

#[test]
fn failed_tests_are_listed() {
    let out = fake_qemu(
        &[],
        r#"echo "test a ... ok"; echo "test b ... FAILED: wrong port"; echo "test c ... FAILED"; echo "mach: all tasks finished"; exit 33"#,
    );
    let text = stdout(&out);
    assert!(text.contains("FAILED: test b: wrong port\nFAILED: test c\n"), "{text}");
    assert_eq!(last_line(&out), "1 passed, 2 failed");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn filter_counts_only_matching_tests() {
    let out = fake_qemu(
        &["--filter", "ipc"],
        r#"echo "test ipc_a ... ok"; echo "test vm_b ... FAILED"; echo "mach: all tasks finished"; exit 33"#,
    );
    assert!(stdout(&out).contains("test vm_b ... FAILED\n"));
    assert_eq!(last_line(&out), "1 passed, 0 failed");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn host_log_is_added_to_totals() {
    let host = temp_path("host.log");
    std::fs::write(
        &host,
        "test result: ok. 4 passed; 0 failed; 0 ignored\n\
         test result: ok. 2 passed; 0 failed; 1 ignored\n",
    )
    .expect("write host log");
    let host_arg = host.to_string_lossy().into_owned();
    let out = fake_qemu(
        &["--host-log", &host_arg],
        r#"echo "test a ... ok"; echo "mach: all tasks finished"; exit 33"#,
    );
    let _ = std::fs::remove_file(&host);
    let text = stdout(&out);
    assert!(
        text.contains("host: 6 passed, 0 failed\nguest: 1 passed, 0 failed\n"),
        "{text}"
    );
    assert_eq!(last_line(&out), "7 passed, 0 failed");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn missing_host_log_is_setup_error() {
    let out = fake_qemu(&["--host-log", "/nonexistent/host.log"], "exit 33");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/host.log"));
}

#[test]
fn crlf_binary_boot_time_and_log_file() {
    let log = temp_path("serial.log");
    let log_arg = log.to_string_lossy().into_owned();
    let out = fake_qemu(
        &["--log", &log_arg],
        r#"printf 'mach: first user instruction\r\n\377junk\r\ntest a ... ok\r\nmach: all tasks finished\r\n'; echo "qemu: note" >&2; exit 33"#,
    );
    let logged = std::fs::read_to_string(&log).expect("log written");
    let _ = std::fs::remove_file(&log);
    let text = stdout(&out);
    assert!(text.contains("\u{fffd}junk\ntest a ... ok\n"), "{text}");
    assert!(!text.contains('\r'));
    let boot = text
        .lines()
        .find(|l| l.starts_with("boot: first user instruction after "))
        .expect("boot line");
    assert!(boot.ends_with(" ms (wall clock, from QEMU start)"), "{boot}");
    assert!(logged.starts_with("mach: first user instruction\n"), "{logged}");
    assert!(logged.ends_with("1 passed, 0 failed\n"), "{logged}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("qemu: note\n"));
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn no_guest_tests_is_failure() {
    let out = fake_qemu(&[], r#"echo "mach: all tasks finished"; exit 33"#);
    assert!(stdout(&out).contains("boot: first user instruction not seen\n"));
    assert_eq!(last_line(&out), "0 passed, 0 failed");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn usage_errors_exit_2() {
    for args in [&["test", "--kernel", "k", "--timeout", "1"][..], &["frobnicate"], &[]] {
        let out = harness(args, b"");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("usage:"));
    }
    let out = harness(
        &["test", "--kernel", "k", "--timeout", "1", "--", "/nonexistent/qemu"],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    let help = harness(&["help"], b"");
    assert_eq!(help.status.code(), Some(0));
    assert!(stdout(&help).contains("harness symbolize --kernel ELF [ADDR...]"));
}

#[test]
fn symbolize_without_kernel_passes_through() {
    let input = b"hello\n  bt#0 0xffffffff80100000\r\nlast";
    let out = harness(&["symbolize", "--kernel", "/nonexistent/kernel"], input);
    assert_eq!(out.stdout, input.to_vec());
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("warning").count(), 1, "{err}");
}

/// A function symbol of the harness executable that is alone at its address:
/// (address, demangled name).
fn own_symbol() -> (u64, String) {
    let data = std::fs::read(HARNESS).expect("read harness binary");
    let file = object::File::parse(&*data).expect("parse harness binary");
    let addrs: Vec<u64> = file.symbols().map(|s| s.address()).collect();
    file.symbols()
        .filter(|s| s.kind() == SymbolKind::Text && s.size() >= 16)
        .find_map(|s| {
            let name = format!("{:#}", rustc_demangle::demangle(s.name().ok()?));
            let alone = addrs.iter().filter(|a| **a == s.address()).count() == 1;
            (alone && name.starts_with("harness::")).then_some((s.address(), name))
        })
        .expect("a harness:: function symbol")
}

#[test]
fn symbolize_real_elf() {
    let (addr, name) = own_symbol();
    let at = addr + 4;
    let want = format!("<{name}+0x4>");

    let out = harness(&["symbolize", "--kernel", HARNESS, &format!("{at:#x}")], b"");
    assert_eq!(stdout(&out), format!("{at:#018x} {want}\n"));
    assert_eq!(out.status.code(), Some(0));

    let input = format!("x\n  bt#0 {at:#018x}\nKERNEL PANIC rip={at:#018x} boom\n");
    let out = harness(&["symbolize", "--kernel", HARNESS], input.as_bytes());
    assert_eq!(
        stdout(&out),
        format!("x\n  bt#0 {at:#018x} {want}\nKERNEL PANIC rip={at:#018x} {want} boom\n")
    );
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn test_mode_symbolises_backtraces() {
    let (addr, name) = own_symbol();
    let script =
        format!(r#"echo "test a ... ok"; echo "  bt#0 {addr:#018x}"; echo "mach: all tasks finished"; exit 33"#);
    let out = harness(
        &["test", "--kernel", HARNESS, "--timeout", "5", "--", "sh", "-c", &script],
        b"",
    );
    assert!(
        stdout(&out).contains(&format!("  bt#0 {addr:#018x} <{name}+0x0>\n")),
        "{}",
        stdout(&out)
    );
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn symbolize_unknown_kernel_addr_mode_fails() {
    let out = harness(&["symbolize", "--kernel", "/nonexistent/kernel", "0x10"], b"");
    assert_eq!(stdout(&out), "0x0000000000000010\n");
    assert_eq!(out.status.code(), Some(1));
}
