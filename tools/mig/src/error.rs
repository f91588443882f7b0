//! Errors of the interface generator: what went wrong and where (`file:line:column`).

use std::fmt;

/// A `.defs` problem or an I/O failure, with the place it was found.
///
/// `line` and `column` are 1-based; both are 0 when the error has no position
/// (I/O errors, an empty file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigError {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub kind: ErrorKind,
}

/// What is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// A character that starts no token.
    UnexpectedChar(char),
    /// `/*` without a matching `*/`.
    UnterminatedComment,
    /// A malformed or too large number.
    BadNumber(String),
    /// The parser wanted one thing and found another.
    Expected { expected: &'static str, found: String },
    /// The file declares no `subsystem`.
    MissingSubsystem,
    /// A second `subsystem` statement.
    DuplicateSubsystem,
    /// The `subsystem` statement is not the first statement.
    SubsystemNotFirst,
    /// A name that cannot be used (keyword, reserved prefix, not snake case...).
    BadName { name: String, reason: &'static str },
    /// An argument type that does not exist.
    UnknownType(String),
    /// A disposition keyword that does not exist.
    UnknownDisposition(String),
    /// A disposition that is not allowed in this place.
    BadDisposition { disposition: String, reason: &'static str },
    /// A routine whose first argument is not `target`.
    MissingTarget { routine: String },
    /// `target` anywhere but as the first input.
    MisplacedTarget { argument: String },
    /// A `simpleroutine` with outputs.
    SimpleRoutineOutputs { routine: String },
    /// Two arguments of one routine share a name.
    DuplicateArgument { routine: String, argument: String },
    /// Two routines share a name.
    DuplicateRoutine(String),
    /// Two routines share a message id.
    DuplicateId { id: i32, first: String },
    /// A subsystem base or routine id outside `0..=i32::MAX - 100`.
    IdOutOfRange(i64),
    /// `inline<u8, N>` with `N` 0 or larger than a message can be.
    BadInlineLength { argument: String, len: u64 },
    /// A message would exceed `MACH_MSG_SIZE_MAX` or `MACH_MSG_DESCRIPTORS_MAX`.
    MessageTooLarge { routine: String, size: usize },
    /// Two generated Rust items would get the same name.
    NameClash(String),
    /// Two `.defs` files declare the same subsystem.
    DuplicateSubsystemFile { subsystem: String, other_file: String },
    /// Reading or writing a file failed.
    Io(String),
}

impl MigError {
    pub(crate) fn at(file: &str, line: u32, column: u32, kind: ErrorKind) -> Self {
        MigError {
            file: file.to_string(),
            line,
            column,
            kind,
        }
    }

    pub(crate) fn io(path: &std::path::Path, err: &std::io::Error) -> Self {
        MigError {
            file: path.display().to_string(),
            line: 0,
            column: 0,
            kind: ErrorKind::Io(err.to_string()),
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::UnexpectedChar(c) => write!(f, "unexpected character {c:?}"),
            ErrorKind::UnterminatedComment => write!(f, "unterminated /* comment"),
            ErrorKind::BadNumber(s) => write!(f, "bad number `{s}`"),
            ErrorKind::Expected { expected, found } => write!(f, "expected {expected}, found {found}"),
            ErrorKind::MissingSubsystem => write!(f, "missing `subsystem NAME BASE;` statement"),
            ErrorKind::DuplicateSubsystem => write!(f, "a second `subsystem` statement"),
            ErrorKind::SubsystemNotFirst => write!(f, "`subsystem` must be the first statement"),
            ErrorKind::BadName { name, reason } => write!(f, "bad name `{name}`: {reason}"),
            ErrorKind::UnknownType(t) => write!(
                f,
                "unknown argument type `{t}` (expected u32, i32, u64, i64, target, port<..>, port_poly, \
                 ool<u8|u32|u64>, ool_ports<..> or inline<u8, N>)"
            ),
            ErrorKind::UnknownDisposition(d) => write!(
                f,
                "unknown disposition `{d}` (expected move_receive, move_send, move_send_once, copy_send, \
                 make_send or make_send_once)"
            ),
            ErrorKind::BadDisposition { disposition, reason } => write!(f, "disposition `{disposition}` {reason}"),
            ErrorKind::MissingTarget { routine } => {
                write!(
                    f,
                    "routine `{routine}`: the first argument must be the destination (`name: target`)"
                )
            }
            ErrorKind::MisplacedTarget { argument } => {
                write!(f, "argument `{argument}`: `target` is only allowed as the first input")
            }
            ErrorKind::SimpleRoutineOutputs { routine } => {
                write!(f, "simpleroutine `{routine}` cannot have outputs (it gets no reply)")
            }
            ErrorKind::DuplicateArgument { routine, argument } => {
                write!(f, "routine `{routine}`: argument `{argument}` declared twice")
            }
            ErrorKind::DuplicateRoutine(r) => write!(f, "routine `{r}` declared twice"),
            ErrorKind::DuplicateId { id, first } => write!(f, "message id {id} is already used by `{first}`"),
            ErrorKind::IdOutOfRange(v) => write!(f, "id {v} out of range 0..={}", i32::MAX - 100),
            ErrorKind::BadInlineLength { argument, len } => write!(
                f,
                "argument `{argument}`: an in-line array of at most {len} bytes (expected 1..={})",
                crate::layout::MSG_SIZE_MAX
            ),
            ErrorKind::MessageTooLarge { routine, size } => {
                write!(f, "routine `{routine}`: a {size}-byte message or too many descriptors")
            }
            ErrorKind::NameClash(n) => write!(f, "two generated items would both be named `{n}`"),
            ErrorKind::DuplicateSubsystemFile { subsystem, other_file } => {
                write!(f, "subsystem `{subsystem}` is also declared in {other_file}")
            }
            ErrorKind::Io(e) => write!(f, "{e}"),
        }
    }
}

impl fmt::Display for MigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.kind)
        } else {
            write!(f, "{}:{}:{}: {}", self.file, self.line, self.column, self.kind)
        }
    }
}

impl std::error::Error for MigError {}
