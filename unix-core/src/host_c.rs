//! Test-only: compiles and runs a small C program on the host, so that tests
//! can compare this crate's layouts and encodings with the system headers'
//! (`offsetof`, `sizeof`, the `W*` macros). Returns None, and the test skips
//! that comparison, when no C compiler is installed. Also the tests' small
//! deterministic random number generator.

use std::format;
use std::path::PathBuf;
use std::process::Command;
use std::string::String;

/// Compiles `source` with `cc` (gcc by default, `$CC` if set) and returns what
/// the program printed. Panics if the compiler exists but the build or the
/// run fails: that is a broken test, not a missing tool.
pub fn run(name: &str, source: &str) -> Option<String> {
    let cc = std::env::var("CC").unwrap_or_else(|_| String::from("gcc"));
    if Command::new(&cc).arg("--version").output().is_err() {
        std::eprintln!("{cc} not found: skipping the comparison with the C headers");
        return None;
    }
    let dir: PathBuf = std::env::temp_dir().join(format!("unix-core-{}-{}", name, std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("probe.c");
    let exe = dir.join("probe");
    std::fs::write(&src, source).unwrap();
    let out = Command::new(&cc).arg("-o").arg(&exe).arg(&src).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let run = Command::new(&exe).output().unwrap();
    assert!(run.status.success());
    let _ = std::fs::remove_dir_all(&dir);
    Some(String::from_utf8(run.stdout).unwrap())
}

#[allow(dead_code)] // used by the layout tests
/// Parses `name value` lines (decimal values) into pairs.
pub fn pairs(text: &str) -> std::vec::Vec<(String, i64)> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((String::from(k), v.trim().parse().ok()?))
        })
        .collect()
}

#[allow(dead_code)]
/// The value printed for `key`; panics if the probe did not print it.
pub fn get(pairs: &[(String, i64)], key: &str) -> i64 {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("probe printed no {key}"))
}

/// A small deterministic PRNG for the randomized tests.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}
