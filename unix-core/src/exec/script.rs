//! `#!` scripts, parsed as Linux's binfmt_script does.
//!
//! Linux reads the first 256 bytes of the file into a zero-filled buffer and
//! treats its last byte as the end: the first line is what comes before the
//! first `\n` (the search stops at a NUL byte); with no newline, the line is
//! the whole buffer, provided the interpreter name ends (in a space, tab or
//! NUL) inside it, else ENOEXEC. Trailing spaces and tabs are dropped; the
//! interpreter is the first word after `#!` and optional leading spaces and
//! tabs; everything after the spaces that follow it is one argument (as a C
//! string: up to a NUL). These rules were checked against the host kernel.

use crate::errno::{Errno, Result};
use alloc::vec::Vec;

/// Bytes of the file Linux looks at (BINPRM_BUF_SIZE).
pub const BINPRM_BUF_SIZE: usize = 256;

/// A script's interpreter line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shebang<'a> {
    pub interpreter: &'a [u8],
    pub arg: Option<&'a [u8]>,
}

fn spacetab(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Whether the file starts with `#!`.
pub fn is_script(data: &[u8]) -> bool {
    data.starts_with(b"#!")
}

/// Parses the `#!` line of `data`. None if `data` does not start with `#!`;
/// ENOEXEC if the line names no interpreter or the name does not end within
/// the first 255 bytes; EACCES for an empty interpreter name (`#!` alone:
/// what Linux answers).
pub fn parse_shebang(data: &[u8]) -> Result<Option<Shebang<'_>>> {
    if !is_script(data) {
        return Ok(None);
    }
    let len = data.len().min(BINPRM_BUF_SIZE);
    let buf = data.get(..len).unwrap_or(&[]);
    // The byte at `i`, as in the zero-filled buffer.
    let at = |i: usize| buf.get(i).copied().unwrap_or(0);
    let buf_end = BINPRM_BUF_SIZE - 1;
    let next_non_spacetab = |from: usize, last: usize| (from..=last).find(|&i| !spacetab(at(i)));
    let next_terminator = |from: usize, last: usize| (from..=last).find(|&i| spacetab(at(i)) || at(i) == 0);

    let newline = (0..BINPRM_BUF_SIZE)
        .take_while(|&i| at(i) != 0)
        .find(|&i| at(i) == b'\n');
    let mut end = match newline {
        Some(i) => i,
        None => {
            let first = next_non_spacetab(2, buf_end).ok_or(Errno::ENOEXEC)?;
            next_terminator(first, buf_end).ok_or(Errno::ENOEXEC)?;
            buf_end
        }
    };
    while end > 2 && spacetab(at(end - 1)) {
        end -= 1;
    }
    let name = match next_non_spacetab(2, end) {
        Some(i) if i != end => i,
        _ => return Err(Errno::ENOEXEC),
    };
    let sep = next_terminator(name, end);
    let name_end = sep.unwrap_or(end);
    let arg = match sep {
        Some(s) if at(s) != 0 => next_non_spacetab(s, end).filter(|&a| a < end),
        _ => None,
    };
    let interpreter = c_string(buf, name, name_end);
    if interpreter.is_empty() {
        return Err(Errno::EACCES);
    }
    Ok(Some(Shebang {
        interpreter,
        arg: arg.map(|a| c_string(buf, a, end)),
    }))
}

/// `buf[from..to]` up to its first NUL (bytes past `buf` are NULs).
fn c_string(buf: &[u8], from: usize, to: usize) -> &[u8] {
    let s = buf.get(from..to.min(buf.len())).unwrap_or(&[]);
    let n = s.iter().position(|&b| b == 0).unwrap_or(s.len());
    s.get(..n).unwrap_or(&[])
}

/// The argument vector the interpreter gets: the interpreter, its optional
/// argument, the script's path as given to execve, then the original
/// arguments without `argv[0]`.
pub fn script_argv(shebang: &Shebang, path: &[u8], argv: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(argv.len().saturating_add(2));
    out.push(shebang.interpreter.to_vec());
    if let Some(a) = shebang.arg {
        out.push(a.to_vec());
    }
    out.push(path.to_vec());
    out.extend(argv.iter().skip(1).map(|a| a.to_vec()));
    out
}
