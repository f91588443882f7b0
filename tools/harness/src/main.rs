//! `harness`: runs the kernel under QEMU as a test suite and symbolises
//! kernel backtraces.
//!
//! Command-line parsing lives here (by hand, no external parser); the work is
//! done in [`test_cmd`] (test runs) and [`symbolize`] (backtrace filter).
//! Exit status: 0 success, 1 test failure, 2 usage or setup error.

mod backtrace;
mod input;
mod report;
mod run;
mod symbolize;
mod symbols;
mod test_cmd;

use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "\
usage:
  harness test --kernel ELF --timeout SECS [--log FILE] [--host-log FILE]
               [--filter PAT] [--input SCRIPT] -- QEMU_CMD [ARGS...]
  harness symbolize --kernel ELF [ADDR...]
  harness help

test       Run QEMU_CMD (stdout = kernel serial output), echo every line
           (backtrace addresses symbolised) and to --log FILE, count
           `test NAME ... ok|FAILED[: reason]` lines (only names containing
           PAT with --filter), kill QEMU after SECS seconds, add the
           `test result:` totals of the cargo output in --host-log FILE, and
           end with the line `N passed, N failed`. With --input, QEMU's
           stdin (the guest's serial input) is fed by SCRIPT: lines
           `wait TEXT` (a guest line containing TEXT), `send TEXT` (escapes
           \\n \\r \\t \\\\ \\xHH), `repeat N TEXT`, `sleep MS`, `# comment`;
           without it stdin is /dev/null.
           QEMU exit status 33 (kernel wrote 0x10) after `mach: all tasks
           finished` is success; 35 is a kernel panic, 0 a triple fault or
           reset. Exits 0 iff nothing failed and a guest test passed.
symbolize  Copy stdin to stdout, appending ` <symbol+0xOFF>` to `bt#N 0xADDR`
           and panic/exception `rip=0xADDR` tokens; with ADDR arguments, print
           one line per hex address instead.

exit status: 0 success, 1 failure, 2 usage or setup error";

/// Options of `harness test`.
#[derive(Debug, Clone, PartialEq)]
pub struct TestArgs {
    pub kernel: PathBuf,
    pub timeout: Duration,
    pub log: Option<PathBuf>,
    pub host_log: Option<PathBuf>,
    pub filter: Option<String>,
    pub input: Option<PathBuf>,
    pub command: Vec<String>,
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq)]
enum Cmd {
    Test(TestArgs),
    Symbolize { kernel: PathBuf, addrs: Vec<u64> },
    Help,
}

/// Why the command line was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ArgError {
    NoSubcommand,
    UnknownSubcommand(String),
    UnknownOption(String),
    MissingValue(String),
    Repeated(String),
    Required(&'static str),
    BadTimeout(String),
    BadAddress(String),
    NoEmulator,
    Unexpected(String),
    NotUnicode,
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSubcommand => write!(f, "no subcommand given"),
            Self::UnknownSubcommand(s) => write!(f, "unknown subcommand `{s}`"),
            Self::UnknownOption(s) => write!(f, "unknown option `{s}`"),
            Self::MissingValue(s) => write!(f, "option `{s}` needs a value"),
            Self::Repeated(s) => write!(f, "option `{s}` given twice"),
            Self::Required(s) => write!(f, "option `{s}` is required"),
            Self::BadTimeout(s) => write!(f, "bad timeout `{s}` (want seconds > 0)"),
            Self::BadAddress(s) => {
                write!(f, "bad address `{s}` (want hex, e.g. 0xffffffff80100000)")
            }
            Self::NoEmulator => write!(f, "no emulator command after `--`"),
            Self::Unexpected(s) => write!(f, "unexpected argument `{s}`"),
            Self::NotUnicode => write!(f, "arguments must be valid UTF-8"),
        }
    }
}

impl std::error::Error for ArgError {}

fn main() -> ExitCode {
    let args: Option<Vec<String>> = std::env::args_os().skip(1).map(|a| a.into_string().ok()).collect();
    let cmd = args.ok_or(ArgError::NotUnicode).and_then(parse_args);
    match cmd {
        Ok(Cmd::Help) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Cmd::Test(args)) => match test_cmd::run_tests(&args) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(1),
            Err(e) => {
                eprintln!("harness: {e}");
                ExitCode::from(2)
            }
        },
        Ok(Cmd::Symbolize { kernel, addrs }) if addrs.is_empty() => match symbolize::filter_stdin(&kernel) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("harness: {e}");
                ExitCode::from(1)
            }
        },
        Ok(Cmd::Symbolize { kernel, addrs }) => {
            if symbolize::print_addrs(&kernel, &addrs) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("harness: {e}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// Parses the arguments after the program name.
fn parse_args(args: Vec<String>) -> Result<Cmd, ArgError> {
    let mut it = args.into_iter();
    match it.next().as_deref() {
        None => Err(ArgError::NoSubcommand),
        Some("help" | "-h" | "--help") => Ok(Cmd::Help),
        Some("test") => parse_test(it),
        Some("symbolize") => parse_symbolize(it),
        Some(other) => Err(ArgError::UnknownSubcommand(other.to_owned())),
    }
}

fn parse_test(mut it: impl Iterator<Item = String>) -> Result<Cmd, ArgError> {
    let (mut kernel, mut timeout, mut log, mut host_log, mut filter) = (None, None, None, None, None);
    let mut input = None;
    let mut command = None;
    while let Some(arg) = it.next() {
        if arg == "--" {
            command = Some(it.by_ref().collect::<Vec<_>>());
            break;
        }
        let (name, value) = option(&arg, &mut it)?;
        match name {
            "--kernel" => set(&mut kernel, name, PathBuf::from(value))?,
            "--timeout" => set(&mut timeout, name, parse_timeout(&value)?)?,
            "--log" => set(&mut log, name, PathBuf::from(value))?,
            "--host-log" => set(&mut host_log, name, PathBuf::from(value))?,
            "--filter" => set(&mut filter, name, value)?,
            "--input" => set(&mut input, name, PathBuf::from(value))?,
            _ => return Err(ArgError::UnknownOption(name.to_owned())),
        }
    }
    let command = command.filter(|c| !c.is_empty()).ok_or(ArgError::NoEmulator)?;
    Ok(Cmd::Test(TestArgs {
        kernel: kernel.ok_or(ArgError::Required("--kernel"))?,
        timeout: timeout.ok_or(ArgError::Required("--timeout"))?,
        log,
        host_log,
        filter,
        input,
        command,
    }))
}

fn parse_symbolize(mut it: impl Iterator<Item = String>) -> Result<Cmd, ArgError> {
    let mut kernel = None;
    let mut addrs = Vec::new();
    while let Some(arg) = it.next() {
        if arg.starts_with("--") {
            let (name, value) = option(&arg, &mut it)?;
            if name != "--kernel" {
                return Err(ArgError::UnknownOption(name.to_owned()));
            }
            set(&mut kernel, name, PathBuf::from(value))?;
        } else {
            addrs.push(parse_addr(&arg)?);
        }
    }
    Ok(Cmd::Symbolize {
        kernel: kernel.ok_or(ArgError::Required("--kernel"))?,
        addrs,
    })
}

const OPTIONS: [&str; 6] = ["--kernel", "--timeout", "--log", "--host-log", "--filter", "--input"];

/// Splits `--name value` or `--name=value`, taking the value from `rest` in
/// the first form. Returns the canonical option name.
fn option(arg: &str, rest: &mut impl Iterator<Item = String>) -> Result<(&'static str, String), ArgError> {
    let (name, inline) = match arg.split_once('=') {
        Some((n, v)) => (n, Some(v.to_owned())),
        None => (arg, None),
    };
    let Some(name) = OPTIONS.iter().copied().find(|o| *o == name) else {
        return Err(if arg.starts_with('-') {
            ArgError::UnknownOption(name.to_owned())
        } else {
            ArgError::Unexpected(arg.to_owned())
        });
    };
    let value = inline
        .or_else(|| rest.next())
        .ok_or_else(|| ArgError::MissingValue(name.to_owned()))?;
    Ok((name, value))
}

fn set<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<(), ArgError> {
    if slot.replace(value).is_some() {
        return Err(ArgError::Repeated(name.to_owned()));
    }
    Ok(())
}

fn parse_timeout(text: &str) -> Result<Duration, ArgError> {
    text.parse::<f64>()
        .ok()
        .filter(|s| *s > 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| ArgError::BadTimeout(text.to_owned()))
}

/// Parses a hex address with or without `0x`.
fn parse_addr(text: &str) -> Result<u64, ArgError> {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text)
        .replace('_', "");
    let bad = || ArgError::BadAddress(text.to_owned());
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    u64::from_str_radix(&digits, 16).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cmd, ArgError> {
        parse_args(args.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn parses_full_test_command() {
        let cmd = parse(&[
            "test",
            "--kernel",
            "k.elf",
            "--timeout=2.5",
            "--log",
            "out.log",
            "--host-log",
            "host.log",
            "--filter",
            "ipc",
            "--input=in.txt",
            "--",
            "qemu",
            "-m",
            "64",
            "--",
            "-x",
        ])
        .expect("parse");
        assert_eq!(
            cmd,
            Cmd::Test(TestArgs {
                kernel: "k.elf".into(),
                timeout: Duration::from_millis(2500),
                log: Some("out.log".into()),
                host_log: Some("host.log".into()),
                filter: Some("ipc".into()),
                input: Some("in.txt".into()),
                command: ["qemu", "-m", "64", "--", "-x"].map(String::from).to_vec(),
            })
        );
    }

    #[test]
    fn test_command_errors() {
        assert_eq!(parse(&[]), Err(ArgError::NoSubcommand));
        assert_eq!(parse(&["run"]), Err(ArgError::UnknownSubcommand("run".into())));
        assert_eq!(
            parse(&["test", "--kernel", "k", "--timeout", "1"]),
            Err(ArgError::NoEmulator)
        );
        assert_eq!(
            parse(&["test", "--kernel", "k", "--timeout", "1", "--"]),
            Err(ArgError::NoEmulator)
        );
        assert_eq!(
            parse(&["test", "--timeout", "1", "--", "q"]),
            Err(ArgError::Required("--kernel"))
        );
        assert_eq!(
            parse(&["test", "--kernel", "k", "--", "q"]),
            Err(ArgError::Required("--timeout"))
        );
        assert_eq!(
            parse(&["test", "--kernel", "k", "--timeout", "0", "--", "q"]),
            Err(ArgError::BadTimeout("0".into()))
        );
        assert_eq!(
            parse(&["test", "--kernel", "k", "--timeout", "soon", "--", "q"]),
            Err(ArgError::BadTimeout("soon".into()))
        );
        assert_eq!(
            parse(&["test", "--kernel"]),
            Err(ArgError::MissingValue("--kernel".into()))
        );
        assert_eq!(
            parse(&["test", "--kernel", "a", "--kernel", "b"]),
            Err(ArgError::Repeated("--kernel".into()))
        );
        assert_eq!(
            parse(&["test", "--verbose"]),
            Err(ArgError::UnknownOption("--verbose".into()))
        );
        assert_eq!(parse(&["test", "qemu"]), Err(ArgError::Unexpected("qemu".into())));
    }

    #[test]
    fn parses_symbolize() {
        assert_eq!(
            parse(&["symbolize", "--kernel", "k"]),
            Ok(Cmd::Symbolize {
                kernel: "k".into(),
                addrs: vec![]
            })
        );
        assert_eq!(
            parse(&["symbolize", "0xffffffff80100000", "--kernel=k", "1f"]),
            Ok(Cmd::Symbolize {
                kernel: "k".into(),
                addrs: vec![0xffff_ffff_8010_0000, 0x1f]
            })
        );
        assert_eq!(parse(&["symbolize", "1"]), Err(ArgError::Required("--kernel")));
        assert_eq!(
            parse(&["symbolize", "--kernel", "k", "0xzz"]),
            Err(ArgError::BadAddress("0xzz".into()))
        );
        assert_eq!(
            parse(&["symbolize", "--kernel", "k", "+1f"]),
            Err(ArgError::BadAddress("+1f".into()))
        );
        assert_eq!(
            parse(&["symbolize", "--kernel", "k", "--timeout", "1"]),
            Err(ArgError::UnknownOption("--timeout".into()))
        );
    }

    #[test]
    fn help_variants() {
        for h in ["help", "-h", "--help"] {
            assert_eq!(parse(&[h]), Ok(Cmd::Help));
        }
    }
}
