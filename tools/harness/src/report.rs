//! Pure bookkeeping for a test run: classifies guest output lines, sums
//! `cargo test` result lines from a host log, judges the emulator's exit
//! status and renders the closing summary.

use std::time::Duration;

use crate::run::Outcome;

/// `isa-debug-exit` status for a kernel that wrote 0x10 (success).
pub const EXIT_SUCCESS: i32 = 33;
/// `isa-debug-exit` status for a kernel that wrote 0x11 (panic).
pub const EXIT_PANIC: i32 = 35;

/// What a guest output line means to the harness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind<'a> {
    TestOk { name: &'a str },
    TestFailed { name: &'a str, reason: Option<&'a str> },
    KernelPanic,
    FirstUserInstruction,
    AllTasksFinished,
    Other,
}

/// Classifies one guest output line (terminator already stripped).
pub fn classify(line: &str) -> LineKind<'_> {
    let text = line.trim();
    if text.starts_with("KERNEL PANIC") {
        LineKind::KernelPanic
    } else if text.starts_with("mach: first user instruction") {
        LineKind::FirstUserInstruction
    } else if text.starts_with("mach: all tasks finished") {
        LineKind::AllTasksFinished
    } else {
        classify_test(text).unwrap_or(LineKind::Other)
    }
}

/// Parses `test NAME ... ok` and `test NAME ... FAILED[: reason]`.
fn classify_test(text: &str) -> Option<LineKind<'_>> {
    let (name, tail) = text.strip_prefix("test ")?.split_once(char::is_whitespace)?;
    if name.is_empty() {
        return None;
    }
    let verdict = tail.trim_start().strip_prefix("...")?.trim_start();
    if verdict == "ok" {
        return Some(LineKind::TestOk { name });
    }
    let rest = verdict.strip_prefix("FAILED")?.trim();
    let reason = if rest.is_empty() {
        None
    } else {
        Some(rest.strip_prefix(':')?.trim()).filter(|r| !r.is_empty())
    };
    Some(LineKind::TestFailed { name, reason })
}

/// Passed and failed counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub passed: u64,
    pub failed: u64,
}

/// Sums every `test result: ok|FAILED. X passed; Y failed; ...` line.
pub fn parse_host_log(text: &str) -> Counts {
    text.lines()
        .filter_map(parse_result_line)
        .fold(Counts::default(), |acc, c| Counts {
            passed: acc.passed.saturating_add(c.passed),
            failed: acc.failed.saturating_add(c.failed),
        })
}

fn parse_result_line(line: &str) -> Option<Counts> {
    let rest = line.trim().strip_prefix("test result: ")?;
    let rest = rest.strip_prefix("ok.").or_else(|| rest.strip_prefix("FAILED."))?;
    let mut parts = rest.split(';').map(str::trim);
    let passed = parts.next()?.strip_suffix(" passed")?.parse().ok()?;
    let failed = parts.next()?.strip_suffix(" failed")?.parse().ok()?;
    Some(Counts { passed, failed })
}

/// The run-level verdict of the emulator's exit, if it is a failure.
pub fn exit_failure(outcome: Outcome, finished: bool) -> Option<String> {
    match outcome {
        Outcome::TimedOut(t) => Some(format!("timeout after {} s", t.as_secs_f64())),
        Outcome::Exited(EXIT_SUCCESS) if finished => None,
        Outcome::Exited(EXIT_SUCCESS) => Some("run did not complete".into()),
        Outcome::Exited(EXIT_PANIC) => Some("kernel panic".into()),
        Outcome::Exited(0) => Some("triple fault or reset".into()),
        Outcome::Exited(code) => Some(format!("qemu exited with status {code}")),
        Outcome::Signalled(Some(sig)) => Some(format!("qemu killed by signal {sig}")),
        Outcome::Signalled(None) => Some("qemu killed by a signal".into()),
    }
}

/// Accumulated state of one harness run.
#[derive(Debug, Default)]
pub struct Report {
    filter: Option<String>,
    host: Option<Counts>,
    passed: u64,
    failed_tests: Vec<(String, Option<String>)>,
    run_failures: Vec<String>,
    first_user: Option<Duration>,
    finished: bool,
}

impl Report {
    /// A fresh report; `filter` restricts which test names count, `host`
    /// holds the totals from the host log, if one was given.
    pub fn new(filter: Option<String>, host: Option<Counts>) -> Self {
        Self {
            filter,
            host,
            ..Self::default()
        }
    }

    /// Accounts for one guest line seen `elapsed` after the emulator started.
    pub fn observe(&mut self, line: &str, elapsed: Duration) {
        match classify(line) {
            LineKind::TestOk { name } if self.counts(name) => self.passed += 1,
            LineKind::TestFailed { name, reason } if self.counts(name) => {
                self.failed_tests.push((name.to_owned(), reason.map(str::to_owned)))
            }
            LineKind::KernelPanic => self.fail_run("kernel panic".into()),
            LineKind::FirstUserInstruction => {
                self.first_user.get_or_insert(elapsed);
            }
            LineKind::AllTasksFinished => self.finished = true,
            _ => {}
        }
    }

    /// Accounts for how the emulator ended.
    pub fn finish(&mut self, outcome: Outcome) {
        if let Some(reason) = exit_failure(outcome, self.finished) {
            self.fail_run(reason);
        }
    }

    /// Guest test counts (run-level failures included in `failed`).
    pub fn guest(&self) -> Counts {
        Counts {
            passed: self.passed,
            failed: (self.failed_tests.len() + self.run_failures.len()) as u64,
        }
    }

    /// Host plus guest counts.
    pub fn totals(&self) -> Counts {
        let host = self.host.unwrap_or_default();
        let guest = self.guest();
        Counts {
            passed: host.passed.saturating_add(guest.passed),
            failed: host.failed.saturating_add(guest.failed),
        }
    }

    /// True iff nothing failed and at least one guest test passed.
    pub fn success(&self) -> bool {
        self.totals().failed == 0 && self.passed > 0
    }

    /// The closing summary; the last line is `N passed, N failed`.
    pub fn summary(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(h) = self.host {
            out.push(format!("host: {} passed, {} failed", h.passed, h.failed));
        }
        let g = self.guest();
        out.push(format!("guest: {} passed, {} failed", g.passed, g.failed));
        for reason in &self.run_failures {
            out.push(format!("FAILED: {reason}"));
        }
        for (name, reason) in &self.failed_tests {
            match reason {
                Some(r) => out.push(format!("FAILED: test {name}: {r}")),
                None => out.push(format!("FAILED: test {name}")),
            }
        }
        out.push(match self.first_user {
            Some(t) => format!(
                "boot: first user instruction after {} ms (wall clock, from QEMU start)",
                t.as_millis()
            ),
            None => "boot: first user instruction not seen".into(),
        });
        let t = self.totals();
        out.push(format!("{} passed, {} failed", t.passed, t.failed));
        out
    }

    fn counts(&self, name: &str) -> bool {
        self.filter.as_deref().is_none_or(|pat| name.contains(pat))
    }

    fn fail_run(&mut self, reason: String) {
        if !self.run_failures.contains(&reason) {
            self.run_failures.push(reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_millis(5);

    #[test]
    fn classifies_test_lines() {
        assert_eq!(classify("test ipc_send ... ok"), LineKind::TestOk { name: "ipc_send" });
        assert_eq!(
            classify("test vm_map ... FAILED"),
            LineKind::TestFailed {
                name: "vm_map",
                reason: None
            }
        );
        assert_eq!(
            classify("test vm_map ... FAILED: expected 3, got 4"),
            LineKind::TestFailed {
                name: "vm_map",
                reason: Some("expected 3, got 4")
            }
        );
        assert_eq!(classify("  test a ... ok  "), LineKind::TestOk { name: "a" });
    }

    #[test]
    fn rejects_near_miss_test_lines() {
        for line in [
            "test a ... ignored",
            "test a ok",
            "test two words ... ok",
            "test a ... okay",
            "test a ... FAILEDx",
            "test result: ok. 3 passed; 0 failed",
            "test  ... ok",
            "testing a ... ok",
        ] {
            assert_eq!(classify(line), LineKind::Other, "{line}");
        }
    }

    #[test]
    fn classifies_markers() {
        assert_eq!(classify("KERNEL PANIC at src/x.rs:3: boom"), LineKind::KernelPanic);
        assert_eq!(classify("mach: first user instruction"), LineKind::FirstUserInstruction);
        assert_eq!(classify("mach: all tasks finished"), LineKind::AllTasksFinished);
        assert_eq!(classify("a KERNEL PANIC later"), LineKind::Other);
    }

    #[test]
    fn sums_host_log() {
        let log = "running 3 tests\n\
                   test a ... ok\n\
                   test result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s\n\
                   \n\
                   test result: FAILED. 5 passed; 2 failed; 1 ignored\n\
                   test result: ok. 0 passed; 0 failed; 0 ignored\n\
                   test result: bogus. 9 passed; 9 failed\n";
        assert_eq!(parse_host_log(log), Counts { passed: 8, failed: 2 });
        assert_eq!(parse_host_log(""), Counts::default());
    }

    #[test]
    fn exit_status_verdicts() {
        assert_eq!(exit_failure(Outcome::Exited(33), true), None);
        assert_eq!(
            exit_failure(Outcome::Exited(33), false).as_deref(),
            Some("run did not complete")
        );
        assert_eq!(exit_failure(Outcome::Exited(35), true).as_deref(), Some("kernel panic"));
        assert_eq!(
            exit_failure(Outcome::Exited(0), true).as_deref(),
            Some("triple fault or reset")
        );
        assert_eq!(
            exit_failure(Outcome::Exited(1), true).as_deref(),
            Some("qemu exited with status 1")
        );
        assert_eq!(
            exit_failure(Outcome::TimedOut(Duration::from_secs(90)), false).as_deref(),
            Some("timeout after 90 s")
        );
        assert_eq!(
            exit_failure(Outcome::Signalled(Some(9)), true).as_deref(),
            Some("qemu killed by signal 9")
        );
    }

    #[test]
    fn successful_run() {
        let mut r = Report::new(None, None);
        r.observe("mach: first user instruction", Duration::from_millis(1234));
        r.observe("mach: first user instruction", Duration::from_millis(9999));
        r.observe("test a ... ok", T);
        r.observe("test b ... ok", T);
        r.observe("mach: all tasks finished", T);
        r.finish(Outcome::Exited(33));
        assert!(r.success());
        assert_eq!(
            r.summary(),
            [
                "guest: 2 passed, 0 failed",
                "boot: first user instruction after 1234 ms (wall clock, from QEMU start)",
                "2 passed, 0 failed",
            ]
        );
    }

    #[test]
    fn panic_counts_once_with_its_exit_code() {
        let mut r = Report::new(None, None);
        r.observe("test a ... ok", T);
        r.observe("KERNEL PANIC at x.rs:1: oops rip=0x1", T);
        r.observe("KERNEL PANIC again", T);
        r.finish(Outcome::Exited(35));
        assert!(!r.success());
        assert_eq!(r.totals(), Counts { passed: 1, failed: 1 });
        assert!(r.summary().contains(&"FAILED: kernel panic".to_owned()));
    }

    #[test]
    fn failed_tests_and_run_failures_add_up() {
        let mut r = Report::new(None, Some(Counts { passed: 10, failed: 1 }));
        r.observe("test a ... ok", T);
        r.observe("test b ... FAILED: bad value", T);
        r.observe("test c ... FAILED", T);
        r.finish(Outcome::TimedOut(Duration::from_secs(2)));
        let s = r.summary();
        assert_eq!(s[0], "host: 10 passed, 1 failed");
        assert_eq!(s[1], "guest: 1 passed, 3 failed");
        assert_eq!(s[2], "FAILED: timeout after 2 s");
        assert_eq!(s[3], "FAILED: test b: bad value");
        assert_eq!(s[4], "FAILED: test c");
        assert_eq!(s[5], "boot: first user instruction not seen");
        assert_eq!(s[6], "11 passed, 4 failed");
        assert!(!r.success());
    }

    #[test]
    fn filter_restricts_counted_tests() {
        let mut r = Report::new(Some("ipc".into()), None);
        r.observe("test ipc_send ... ok", T);
        r.observe("test vm_map ... FAILED", T);
        r.observe("mach: all tasks finished", T);
        r.finish(Outcome::Exited(33));
        assert_eq!(r.totals(), Counts { passed: 1, failed: 0 });
        assert!(r.success());
    }

    #[test]
    fn no_guest_pass_is_not_success() {
        let mut r = Report::new(None, Some(Counts { passed: 4, failed: 0 }));
        r.observe("mach: all tasks finished", T);
        r.finish(Outcome::Exited(33));
        assert_eq!(r.totals(), Counts { passed: 4, failed: 0 });
        assert!(!r.success());
    }
}
