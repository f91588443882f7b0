//! Splits `.defs` source into tokens with their line and column; strips
//! `//` and `/* */` comments.

use crate::error::{ErrorKind, MigError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    Ident(String),
    /// A non-negative integer literal (decimal, `0x` hex or `0o` octal).
    Int(u64),
    LParen,
    RParen,
    Comma,
    Colon,
    Semi,
    Lt,
    Gt,
    Eq,
    Arrow,
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Int(v) => format!("`{v}`"),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::Comma => "`,`".into(),
            Tok::Colon => "`:`".into(),
            Tok::Semi => "`;`".into(),
            Tok::Lt => "`<`".into(),
            Tok::Gt => "`>`".into(),
            Tok::Eq => "`=`".into(),
            Tok::Arrow => "`->`".into(),
            Tok::Eof => "end of file".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub line: u32,
    pub column: u32,
}

struct Cursor<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    line: u32,
    column: u32,
}

impl Cursor<'_> {
    fn peek(&mut self) -> Option<char> {
        self.chars.peek().copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.line = self.line.saturating_add(1);
            self.column = 1;
        } else {
            self.column = self.column.saturating_add(1);
        }
        Some(c)
    }
}

/// Tokenizes `src`; `file` names it in errors. The result always ends with [`Tok::Eof`].
pub(crate) fn lex(file: &str, src: &str) -> Result<Vec<Token>, MigError> {
    let mut cur = Cursor {
        chars: src.chars().peekable(),
        line: 1,
        column: 1,
    };
    let mut out = Vec::new();
    loop {
        let (line, column) = (cur.line, cur.column);
        let Some(c) = cur.bump() else {
            out.push(Token {
                tok: Tok::Eof,
                line,
                column,
            });
            return Ok(out);
        };
        let tok = match c {
            c if c.is_whitespace() => continue,
            '/' if cur.peek() == Some('/') => {
                while cur.peek().is_some_and(|c| c != '\n') {
                    cur.bump();
                }
                continue;
            }
            '/' if cur.peek() == Some('*') => {
                cur.bump();
                let mut prev = ' ';
                loop {
                    match cur.bump() {
                        None => return Err(MigError::at(file, line, column, ErrorKind::UnterminatedComment)),
                        Some('/') if prev == '*' => break,
                        Some(c) => prev = c,
                    }
                }
                continue;
            }
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            ',' => Tok::Comma,
            ':' => Tok::Colon,
            ';' => Tok::Semi,
            '<' => Tok::Lt,
            '>' => Tok::Gt,
            '=' => Tok::Eq,
            '-' if cur.peek() == Some('>') => {
                cur.bump();
                Tok::Arrow
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let mut s = String::from(c);
                while let Some(c) = cur.peek().filter(|c| c.is_ascii_alphanumeric() || *c == '_') {
                    s.push(c);
                    cur.bump();
                }
                Tok::Ident(s)
            }
            c if c.is_ascii_digit() => {
                let mut s = String::from(c);
                while let Some(c) = cur.peek().filter(|c| c.is_ascii_alphanumeric() || *c == '_') {
                    s.push(c);
                    cur.bump();
                }
                match parse_int(&s) {
                    Some(v) => Tok::Int(v),
                    None => return Err(MigError::at(file, line, column, ErrorKind::BadNumber(s))),
                }
            }
            c => return Err(MigError::at(file, line, column, ErrorKind::UnexpectedChar(c))),
        };
        out.push(Token { tok, line, column });
    }
}

fn parse_int(s: &str) -> Option<u64> {
    let s = s.replace('_', "");
    if let Some(hex) = s.strip_prefix("0x") {
        u64::from_str_radix(hex, 16).ok()
    } else if let Some(oct) = s.strip_prefix("0o") {
        u64::from_str_radix(oct, 8).ok()
    } else if s.len() > 1 && s.starts_with('0') {
        // `0100` would be octal in C and decimal in Rust: make the writer say which.
        None
    } else {
        s.parse().ok()
    }
}
