//! Parses `.defs` source into a checked [`Interface`]: the grammar (see the
//! crate docs) plus every semantic rule (target first, unique names and ids,
//! id range, message size), each error carrying `file:line:column`.

use crate::ast::{Arg, ArgKind, Disposition, Interface, OolElem, Pos, Routine, RoutineKind, Scalar, Target};
use crate::error::{ErrorKind, MigError};
use crate::layout;
use crate::lexer::{Tok, Token, lex};

/// Largest id (so that `id + MIG_REPLY_ID_OFFSET` still fits an `i32`).
pub const MAX_ID: i64 = i32::MAX as i64 - 100;

const RUST_KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate", "do", "dyn", "else",
    "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "macro", "match", "mod",
    "move", "mut", "override", "priv", "pub", "ref", "return", "self", "static", "struct", "super", "trait", "true",
    "try", "type", "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Argument names the generated code itself uses.
const RESERVED_ARG_NAMES: &[&str] = &["transport", "buf"];

/// Parses and checks one `.defs` file. `file` names it in error messages.
pub fn parse(file: &str, src: &str) -> Result<Interface, MigError> {
    let toks = lex(file, src)?;
    let eof = toks.last().cloned().unwrap_or(Token {
        tok: Tok::Eof,
        line: 1,
        column: 1,
    });
    Parser { file, toks, i: 0, eof }.interface()
}

enum TypeSpec {
    Target(Disposition),
    Kind(ArgKind),
}

struct Param {
    name: String,
    pos: Pos,
    spec: TypeSpec,
}

struct Parser<'a> {
    file: &'a str,
    toks: Vec<Token>,
    i: usize,
    eof: Token,
}

fn pos_of(t: &Token) -> Pos {
    Pos {
        line: t.line,
        column: t.column,
    }
}

impl Parser<'_> {
    fn err(&self, pos: Pos, kind: ErrorKind) -> MigError {
        MigError::at(self.file, pos.line, pos.column, kind)
    }

    fn peek(&self) -> &Token {
        self.toks.get(self.i).unwrap_or(&self.eof)
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.i < self.toks.len() {
            self.i += 1;
        }
        t
    }

    fn expected(&self, t: &Token, expected: &'static str) -> MigError {
        self.err(
            pos_of(t),
            ErrorKind::Expected {
                expected,
                found: t.tok.describe(),
            },
        )
    }

    fn expect(&mut self, want: Tok, expected: &'static str) -> Result<Token, MigError> {
        let t = self.next();
        if t.tok == want {
            Ok(t)
        } else {
            Err(self.expected(&t, expected))
        }
    }

    fn ident(&mut self, expected: &'static str) -> Result<(String, Pos), MigError> {
        let t = self.next();
        match t.tok {
            Tok::Ident(ref s) => Ok((s.clone(), pos_of(&t))),
            _ => Err(self.expected(&t, expected)),
        }
    }

    fn id_number(&mut self, expected: &'static str) -> Result<(i32, Pos), MigError> {
        let t = self.next();
        let Tok::Int(v) = t.tok else {
            return Err(self.expected(&t, expected));
        };
        let v = i64::try_from(v).unwrap_or(i64::MAX);
        if v > MAX_ID {
            return Err(self.err(pos_of(&t), ErrorKind::IdOutOfRange(v)));
        }
        Ok((v as i32, pos_of(&t)))
    }

    fn check_name(&self, name: &str, pos: Pos, is_arg: bool) -> Result<(), MigError> {
        let bad = |reason| {
            Err(self.err(
                pos,
                ErrorKind::BadName {
                    name: name.to_string(),
                    reason,
                },
            ))
        };
        let mut chars = name.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_');
        if !first_ok || !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
            return bad("names must be lower snake_case (a-z, 0-9, _)");
        }
        if name == "_" {
            return bad("`_` is not a name");
        }
        if RUST_KEYWORDS.contains(&name) {
            return bad("it is a Rust keyword");
        }
        if name.starts_with("mig_") {
            return bad("the `mig_` prefix is reserved for generated code");
        }
        if is_arg && RESERVED_ARG_NAMES.contains(&name) {
            return bad("the generated code uses this argument name itself");
        }
        Ok(())
    }

    fn interface(mut self) -> Result<Interface, MigError> {
        let mut subsystem: Option<(String, i32)> = None;
        let mut routines: Vec<Routine> = Vec::new();
        let mut index: i64 = 0;
        loop {
            let t = self.next();
            let word = match &t.tok {
                Tok::Eof => break,
                Tok::Ident(w) => w.clone(),
                _ => return Err(self.expected(&t, "`subsystem`, `routine`, `simpleroutine` or `skip`")),
            };
            match word.as_str() {
                "subsystem" => {
                    if subsystem.is_some() {
                        return Err(self.err(pos_of(&t), ErrorKind::DuplicateSubsystem));
                    }
                    let (name, pos) = self.ident("a subsystem name")?;
                    self.check_name(&name, pos, false)?;
                    let (base, _) = self.id_number("the subsystem's base id")?;
                    self.expect(Tok::Semi, "`;`")?;
                    subsystem = Some((name, base));
                }
                "routine" | "simpleroutine" | "skip" => {
                    let Some((_, base)) = &subsystem else {
                        return Err(self.err(pos_of(&t), ErrorKind::SubsystemNotFirst));
                    };
                    let implicit = i64::from(*base) + index;
                    index += 1;
                    if word == "skip" {
                        self.expect(Tok::Semi, "`;`")?;
                        continue;
                    }
                    let kind = if word == "routine" {
                        RoutineKind::Routine
                    } else {
                        RoutineKind::SimpleRoutine
                    };
                    let r = self.routine(kind, implicit, pos_of(&t))?;
                    self.check_unique(&r, &routines)?;
                    routines.push(r);
                }
                _ => return Err(self.expected(&t, "`subsystem`, `routine`, `simpleroutine` or `skip`")),
            }
        }
        let Some((subsystem, base)) = subsystem else {
            return Err(self.err(Pos::default(), ErrorKind::MissingSubsystem));
        };
        Ok(Interface {
            file: self.file.to_string(),
            subsystem,
            base,
            routines,
        })
    }

    fn check_unique(&self, r: &Routine, earlier: &[Routine]) -> Result<(), MigError> {
        for o in earlier {
            if o.name == r.name {
                return Err(self.err(r.pos, ErrorKind::DuplicateRoutine(r.name.clone())));
            }
            if o.id == r.id {
                return Err(self.err(
                    r.pos,
                    ErrorKind::DuplicateId {
                        id: r.id,
                        first: o.name.clone(),
                    },
                ));
            }
        }
        Ok(())
    }

    fn routine(&mut self, kind: RoutineKind, implicit_id: i64, start: Pos) -> Result<Routine, MigError> {
        let (name, name_pos) = self.ident("a routine name")?;
        self.check_name(&name, name_pos, false)?;
        self.expect(Tok::LParen, "`(`")?;
        let params = self.params()?;
        let mut outputs = Vec::new();
        if self.peek().tok == Tok::Arrow {
            let arrow = self.next();
            if kind == RoutineKind::SimpleRoutine {
                return Err(self.err(pos_of(&arrow), ErrorKind::SimpleRoutineOutputs { routine: name }));
            }
            self.expect(Tok::LParen, "`(`")?;
            outputs = self.params()?;
        }
        let id = if self.peek().tok == Tok::Eq {
            self.next();
            self.id_number("a message id")?.0
        } else if implicit_id > MAX_ID {
            return Err(self.err(name_pos, ErrorKind::IdOutOfRange(implicit_id)));
        } else {
            implicit_id as i32
        };
        self.expect(Tok::Semi, "`;`")?;

        let mut params = params.into_iter();
        let target = match params.next() {
            Some(Param {
                name: tname,
                pos,
                spec: TypeSpec::Target(d),
            }) => {
                if d == Disposition::MoveReceive {
                    return Err(self.err(
                        pos,
                        ErrorKind::BadDisposition {
                            disposition: d.keyword().into(),
                            reason: "cannot be used for a message's destination",
                        },
                    ));
                }
                self.check_name(&tname, pos, true)?;
                (
                    Target {
                        name: tname,
                        disposition: d,
                    },
                    pos,
                )
            }
            Some(p) => return Err(self.err(p.pos, ErrorKind::MissingTarget { routine: name })),
            None => return Err(self.err(name_pos, ErrorKind::MissingTarget { routine: name })),
        };
        let inputs = self.args(params.collect())?;
        let outputs = self.args(outputs)?;
        let mut seen: Vec<&str> = vec![target.0.name.as_str()];
        for a in inputs.iter().chain(&outputs) {
            if seen.contains(&a.name.as_str()) {
                return Err(self.err(
                    a.pos,
                    ErrorKind::DuplicateArgument {
                        routine: name.clone(),
                        argument: a.name.clone(),
                    },
                ));
            }
            seen.push(&a.name);
        }
        let r = Routine {
            name,
            kind,
            id,
            target: target.0,
            inputs,
            outputs,
            pos: start,
        };
        layout::check_limits(&r).map_err(|kind| self.err(start, kind))?;
        Ok(r)
    }

    /// Checks non-target arguments and turns them into [`Arg`]s.
    fn args(&self, params: Vec<Param>) -> Result<Vec<Arg>, MigError> {
        params
            .into_iter()
            .map(|p| match p.spec {
                TypeSpec::Target(_) => Err(self.err(p.pos, ErrorKind::MisplacedTarget { argument: p.name })),
                TypeSpec::Kind(kind) => {
                    self.check_name(&p.name, p.pos, true)?;
                    Ok(Arg {
                        name: p.name,
                        kind,
                        pos: p.pos,
                    })
                }
            })
            .collect()
    }

    /// Parses `name: type, ...)` (the `(` already consumed).
    fn params(&mut self) -> Result<Vec<Param>, MigError> {
        let mut out = Vec::new();
        loop {
            if self.peek().tok == Tok::RParen {
                self.next();
                return Ok(out);
            }
            let (name, pos) = self.ident("an argument name or `)`")?;
            self.expect(Tok::Colon, "`:` after the argument name")?;
            let spec = self.type_spec(&name)?;
            out.push(Param { name, pos, spec });
            let t = self.next();
            match t.tok {
                Tok::Comma => {}
                Tok::RParen => return Ok(out),
                _ => return Err(self.expected(&t, "`,` or `)`")),
            }
        }
    }

    fn type_spec(&mut self, arg: &str) -> Result<TypeSpec, MigError> {
        let (t, pos) = self.ident("an argument type")?;
        let kind = match t.as_str() {
            "u32" => ArgKind::Scalar(Scalar::U32),
            "i32" => ArgKind::Scalar(Scalar::I32),
            "u64" => ArgKind::Scalar(Scalar::U64),
            "i64" => ArgKind::Scalar(Scalar::I64),
            "port_poly" => ArgKind::PortPoly,
            "target" => {
                if self.peek().tok != Tok::Lt {
                    return Ok(TypeSpec::Target(Disposition::CopySend));
                }
                self.next();
                let d = self.disposition()?;
                self.expect(Tok::Gt, "`>`")?;
                return Ok(TypeSpec::Target(d));
            }
            "port" | "ool_ports" => {
                self.expect(Tok::Lt, "`<` and a disposition (e.g. `port<move_send>`)")?;
                let d = self.disposition()?;
                self.expect(Tok::Gt, "`>`")?;
                if t == "port" {
                    ArgKind::Port(d)
                } else {
                    ArgKind::OolPorts(d)
                }
            }
            "ool" => {
                self.expect(Tok::Lt, "`<` and an element type (`ool<u8>`, `ool<u32>` or `ool<u64>`)")?;
                let (e, epos) = self.ident("`u8`, `u32` or `u64`")?;
                let elem = match e.as_str() {
                    "u8" => OolElem::U8,
                    "u32" => OolElem::U32,
                    "u64" => OolElem::U64,
                    _ => {
                        return Err(self.err(
                            epos,
                            ErrorKind::Expected {
                                expected: "`u8`, `u32` or `u64`",
                                found: format!("`{e}`"),
                            },
                        ));
                    }
                };
                self.expect(Tok::Gt, "`>`")?;
                ArgKind::Ool(elem)
            }
            "inline" => {
                self.expect(Tok::Lt, "`<` and an element type (`inline<u8, N>`)")?;
                let (e, epos) = self.ident("`u8`")?;
                if e != "u8" {
                    return Err(self.err(
                        epos,
                        ErrorKind::Expected {
                            expected: "`u8`",
                            found: format!("`{e}`"),
                        },
                    ));
                }
                self.expect(Tok::Comma, "`,` and the most bytes the array holds (`inline<u8, N>`)")?;
                let t = self.next();
                let Tok::Int(len) = t.tok else {
                    return Err(self.expected(&t, "the most bytes the array holds (a number)"));
                };
                let max = usize::try_from(len)
                    .ok()
                    .filter(|n| (1..=layout::MSG_SIZE_MAX).contains(n));
                let Some(max) = max else {
                    return Err(self.err(
                        pos_of(&t),
                        ErrorKind::BadInlineLength {
                            argument: arg.to_string(),
                            len,
                        },
                    ));
                };
                self.expect(Tok::Gt, "`>`")?;
                ArgKind::InlineBytes(max)
            }
            _ => return Err(self.err(pos, ErrorKind::UnknownType(t))),
        };
        Ok(TypeSpec::Kind(kind))
    }

    fn disposition(&mut self) -> Result<Disposition, MigError> {
        let (d, pos) = self.ident("a disposition")?;
        Disposition::from_keyword(&d).ok_or_else(|| self.err(pos, ErrorKind::UnknownDisposition(d)))
    }
}
