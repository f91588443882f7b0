//! `harness test`: runs the emulator, echoes (and logs) its output with
//! symbolised backtraces, feeds every line to the [`Report`] and prints the
//! summary.

use std::fmt;
use std::fs::File;
use std::io::{self, LineWriter, Write};
use std::path::PathBuf;

use crate::TestArgs;
use crate::backtrace::annotate;
use crate::input::{ScriptError, parse as parse_script};
use crate::report::{Report, parse_host_log};
use crate::run::{RunError, run};
use crate::symbolize::{load_or_warn, resolver};

/// A problem that prevents a meaningful test run.
#[derive(Debug)]
pub enum TestError {
    HostLog { path: PathBuf, source: io::Error },
    LogCreate { path: PathBuf, source: io::Error },
    Input { path: PathBuf, source: io::Error },
    Script(ScriptError),
    Run(RunError),
}

impl fmt::Display for TestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HostLog { path, source } => {
                write!(f, "cannot read host log {}: {source}", path.display())
            }
            Self::LogCreate { path, source } => {
                write!(f, "cannot create log {}: {source}", path.display())
            }
            Self::Input { path, source } => {
                write!(f, "cannot read input script {}: {source}", path.display())
            }
            Self::Script(e) => e.fmt(f),
            Self::Run(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for TestError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::HostLog { source, .. } | Self::LogCreate { source, .. } | Self::Input { source, .. } => Some(source),
            Self::Script(e) => Some(e),
            Self::Run(e) => Some(e),
        }
    }
}

/// The `--log` file; a write error is reported once and stops logging.
struct Log {
    path: PathBuf,
    file: Option<LineWriter<File>>,
}

impl Log {
    fn write_line(&mut self, line: &str) {
        if let Some(file) = &mut self.file
            && let Err(e) = writeln!(file, "{line}")
        {
            eprintln!("harness: warning: cannot write {}: {e}", self.path.display());
            self.file = None;
        }
    }
}

/// Runs the test command; `Ok(true)` iff the run succeeded.
pub fn run_tests(args: &TestArgs) -> Result<bool, TestError> {
    let host = match &args.host_log {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|source| TestError::HostLog {
                path: path.clone(),
                source,
            })?;
            Some(parse_host_log(&String::from_utf8_lossy(&bytes)))
        }
        None => None,
    };
    let mut log = match &args.log {
        Some(path) => Some(Log {
            path: path.clone(),
            file: Some(LineWriter::new(File::create(path).map_err(|source| {
                TestError::LogCreate {
                    path: path.clone(),
                    source,
                }
            })?)),
        }),
        None => None,
    };
    let input = match &args.input {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| TestError::Input {
                path: path.clone(),
                source,
            })?;
            Some(parse_script(&text).map_err(TestError::Script)?)
        }
        None => None,
    };
    let table = load_or_warn(&args.kernel);
    let resolve = resolver(table.as_ref());
    let mut report = Report::new(args.filter.clone(), host);
    let stdout = io::stdout();

    let outcome = run(&args.command, args.timeout, input, |line, elapsed| {
        let shown = annotate(line, &resolve);
        // A closed stdout must not stop the run; the log and verdict still matter.
        let _ = writeln!(stdout.lock(), "{shown}");
        if let Some(log) = &mut log {
            log.write_line(&shown);
        }
        report.observe(line, elapsed);
    })
    .map_err(TestError::Run)?;
    report.finish(outcome);

    let mut out = stdout.lock();
    for line in report.summary() {
        let _ = writeln!(out, "{line}");
        if let Some(log) = &mut log {
            log.write_line(&line);
        }
    }
    let _ = out.flush();
    Ok(report.success())
}
