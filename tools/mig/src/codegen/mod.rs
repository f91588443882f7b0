//! The code generator: turns a checked [`Interface`] into the Rust source of
//! one subsystem module (constants, client stubs, server trait and dispatch).
//! This file holds the module skeleton, naming and type mapping; `client.rs`
//! and `server.rs` emit the two halves.
//!
//! Generated code refers to `mach_interfaces::{runtime, wire}` and
//! `mach_interfaces::mach_abi`, so it compiles inside `mach-interfaces` (which
//! names itself with `extern crate self as mach_interfaces`) and in any crate
//! that depends on it. Its own locals and helpers use the reserved `mig_`
//! prefix so they never collide with argument names.

mod client;
mod server;

use std::collections::HashSet;

use crate::ast::{Arg, ArgKind, Interface, Routine};
use crate::error::{ErrorKind, MigError};
use crate::layout;

/// A tiny indenting line writer.
pub(crate) struct Code {
    buf: String,
    indent: usize,
}

impl Code {
    fn new() -> Self {
        Code {
            buf: String::new(),
            indent: 0,
        }
    }

    pub(crate) fn line(&mut self, s: &str) {
        if !s.is_empty() {
            for _ in 0..self.indent {
                self.buf.push_str("    ");
            }
            self.buf.push_str(s);
        }
        self.buf.push('\n');
    }

    /// A line that opens a block.
    pub(crate) fn open(&mut self, s: &str) {
        self.line(s);
        self.indent += 1;
    }

    /// A line that closes a block.
    pub(crate) fn close(&mut self, s: &str) {
        self.indent = self.indent.saturating_sub(1);
        self.line(s);
    }
}

/// `mach_port` → `MachPort`.
pub(crate) fn camel(s: &str) -> String {
    s.split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut cs = w.chars();
            cs.next()
                .map(|c| c.to_ascii_uppercase().to_string() + cs.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// `mach_port_allocate` → `MACH_PORT_ALLOCATE`.
pub(crate) fn upper(s: &str) -> String {
    s.to_ascii_uppercase()
}

pub(crate) fn reply_struct_name(r: &Routine) -> String {
    format!("{}Reply", camel(&r.name))
}

pub(crate) fn trait_name(iface: &Interface) -> String {
    format!("{}Server", camel(&iface.subsystem))
}

/// The Rust type of a decoded argument (outputs on both sides; server
/// inputs other than in-line arrays). An in-line output is its count: the
/// bytes are in the buffer the caller (client) or the dispatch (server)
/// passed for it.
pub(crate) fn value_type(kind: ArgKind) -> String {
    match kind {
        ArgKind::Scalar(s) => s.rust_type().into(),
        ArgKind::Port(_) => "u32".into(),
        ArgKind::PortPoly => "mig_rt::PolyPort".into(),
        ArgKind::Ool(_) => "mig_rt::OolArray".into(),
        ArgKind::OolPorts(_) => "mig_rt::OolPorts".into(),
        ArgKind::InlineBytes(_) => "usize".into(),
    }
}

/// The Rust type of a server input: in-line arrays borrow the request.
pub(crate) fn server_input_type(kind: ArgKind, lifetime: &str) -> String {
    match kind {
        ArgKind::InlineBytes(_) => format!("&{lifetime}[u8]"),
        other => value_type(other),
    }
}

/// The in-line outputs of `r`, for which the caller passes a buffer.
pub(crate) fn inline_outputs(r: &Routine) -> impl Iterator<Item = &Arg> {
    r.outputs.iter().filter(|a| a.kind.is_inline_array())
}

/// `, name: &mut [u8]` for every in-line output: the buffers client stubs
/// and server methods take after the inputs.
pub(crate) fn out_buffer_params(r: &Routine) -> String {
    inline_outputs(r).map(|a| format!(", {}: &mut [u8]", a.name)).collect()
}

/// The name of the `N` constant of in-line argument `a` of `r`.
pub(crate) fn max_const(r: &Routine, a: &Arg) -> String {
    format!("{}_{}_MAX", upper(&r.name), upper(&a.name))
}

/// The names of a message's size constants: `[..._SIZE]` for a fixed-size
/// message, `[..._MIN_SIZE, ..._MAX_SIZE]` for one with in-line arrays.
pub(crate) fn size_consts(r: &Routine, which: &str, variable: bool) -> Vec<String> {
    let up = upper(&r.name);
    if variable {
        vec![format!("{up}_{which}_MIN_SIZE"), format!("{up}_{which}_MAX_SIZE")]
    } else {
        vec![format!("{up}_{which}_SIZE")]
    }
}

/// What generated code says for a field kind that has no fixed place (an
/// in-line array): never emitted for a checked layout, and a compile error
/// in the output if it ever were.
const NOT_A_FIELD: &str = "compile_error!(\"mig: an in-line array is not a fixed field\")";

/// The type of what a routine returns on success: `()`, the single output,
/// or the generated `...Reply` struct.
pub(crate) fn output_type(r: &Routine) -> String {
    match r.outputs.as_slice() {
        [] => "()".into(),
        [one] => value_type(one.kind),
        _ => reply_struct_name(r),
    }
}

/// An expression reading argument `kind` at `off` of message `m`, with `?`.
pub(crate) fn read_expr(kind: ArgKind, off: usize, m: &str) -> String {
    match kind {
        ArgKind::Scalar(s) => format!("mig_wire::get_{}({m}, {off})?", s.rust_type()),
        ArgKind::Port(d) => format!("mig_wire::get_port({m}, {off}, mig_msg::{})?", d.received_const_name()),
        ArgKind::PortPoly => format!("mig_wire::get_port_poly({m}, {off})?"),
        ArgKind::Ool(e) => format!("mig_wire::get_ool({m}, {off}, {})?", e.size()),
        ArgKind::OolPorts(d) => {
            format!(
                "mig_wire::get_ool_ports({m}, {off}, mig_msg::{})?",
                d.received_const_name()
            )
        }
        ArgKind::InlineBytes(_) => NOT_A_FIELD.into(),
    }
}

/// A statement writing decoded-form value `v` of `kind` at `off` of `mig_m`
/// (server replies: out-of-line data is handed over, `deallocate` set).
pub(crate) fn write_value_stmt(kind: ArgKind, off: usize, v: &str) -> String {
    match kind {
        ArgKind::Scalar(s) => format!("mig_wire::put_{}(mig_m, {off}, {v})?;", s.rust_type()),
        ArgKind::Port(d) => format!("mig_wire::put_port(mig_m, {off}, {v}, mig_msg::{})?;", d.const_name()),
        ArgKind::PortPoly => format!("mig_wire::put_port(mig_m, {off}, {v}.name, {v}.disposition)?;"),
        ArgKind::Ool(e) => format!(
            "mig_wire::put_ool(mig_m, {off}, {v}.address, mig_wire::ool_bytes(usize::try_from({v}.count).ok()?, {})?, true)?;",
            e.size()
        ),
        ArgKind::OolPorts(d) => format!(
            "mig_wire::put_ool_ports(mig_m, {off}, {v}.address, {v}.count, mig_msg::{}, true)?;",
            d.const_name()
        ),
        ArgKind::InlineBytes(_) => format!("{NOT_A_FIELD};"),
    }
}

/// Functions taking the target, every input, the in-line output buffers and
/// one more parameter trip clippy's `too_many_arguments` past 7; the count is
/// the interface's choice.
pub(crate) fn allow_many_args(c: &mut Code, r: &Routine) {
    if r.inputs.len() + inline_outputs(r).count() + 2 > 7 {
        c.line("#[allow(clippy::too_many_arguments)]");
    }
}

/// `, name: type` list of a server method's inputs.
pub(crate) fn server_input_params(args: &[Arg]) -> String {
    args.iter()
        .map(|a| format!(", {}: {}", a.name, server_input_type(a.kind, "")))
        .collect()
}

/// Generates the module source for `iface`.
pub fn emit(iface: &Interface) -> Result<String, MigError> {
    check_names(iface)?;
    let mut c = Code::new();
    let shown = std::path::Path::new(&iface.file)
        .file_name()
        .map_or_else(|| iface.file.clone(), |f| f.to_string_lossy().into_owned());
    c.line(&format!(
        "// @generated by mig from `{shown}` (subsystem {} {}). Do not edit.",
        iface.subsystem, iface.base
    ));
    c.line("// Wire layout and ownership rules: see the `mach_interfaces` crate docs.");
    c.line("");
    c.line("use mach_interfaces::mach_abi::message as mig_msg;");
    c.line("use mach_interfaces::runtime as mig_rt;");
    c.line("use mach_interfaces::wire as mig_wire;");
    c.line("");
    let max_req = iface
        .routines
        .iter()
        .map(|r| layout::request(r).max_size)
        .max()
        .unwrap_or(layout::HEADER_SIZE);
    let max_rep = iface
        .routines
        .iter()
        .filter_map(|r| layout::reply(r).map(|l| l.max_size))
        .fold(layout::ERROR_REPLY_SIZE, usize::max);
    c.line("/// First message id of the subsystem.");
    c.line(&format!("pub const SUBSYSTEM_BASE: i32 = {};", iface.base));
    c.line("/// Largest request of the subsystem in bytes (without trailer).");
    c.line(&format!("pub const MAX_REQUEST_SIZE: usize = {max_req};"));
    c.line("/// A reply buffer this large holds any reply the dispatch function writes.");
    c.line(&format!("pub const MAX_REPLY_SIZE: usize = {max_rep};"));
    c.line("");
    emit_routine_name(&mut c, iface);
    for r in &iface.routines {
        emit_constants(&mut c, r);
        client::emit(&mut c, r);
    }
    server::emit(&mut c, iface);
    Ok(c.buf)
}

fn emit_routine_name(c: &mut Code, iface: &Interface) {
    c.line("/// The name of the routine with message id `id`.");
    c.open("pub fn routine_name(id: i32) -> Option<&'static str> {");
    c.open("match id {");
    for r in &iface.routines {
        c.line(&format!("{}_ID => Some(\"{}\"),", upper(&r.name), r.name));
    }
    c.line("_ => None,");
    c.close("}");
    c.close("}");
    c.line("");
}

fn emit_size_consts(c: &mut Code, r: &Routine, l: &layout::Layout<'_>, which: &str, what: &str) {
    let names = size_consts(r, which, l.is_variable());
    if let [exact] = names.as_slice() {
        c.line(&format!(
            "/// Size of {what} `{}` {}.",
            r.name,
            which.to_ascii_lowercase()
        ));
        c.line(&format!("pub const {exact}: usize = {};", l.size));
        return;
    }
    c.line(&format!(
        "/// Size of {what} `{}` {} whose in-line arrays are all empty.",
        r.name,
        which.to_ascii_lowercase()
    ));
    c.line(&format!("pub const {}: usize = {};", names[0], l.size));
    c.line(&format!(
        "/// Size of {what} `{}` {} whose in-line arrays are all full.",
        r.name,
        which.to_ascii_lowercase()
    ));
    c.line(&format!("pub const {}: usize = {};", names[1], l.max_size));
}

fn emit_constants(c: &mut Code, r: &Routine) {
    let up = upper(&r.name);
    c.line(&format!("// ---- {} ----", r.name));
    c.line("");
    c.line(&format!("/// Message id of `{}`.", r.name));
    c.line(&format!("pub const {up}_ID: i32 = {};", r.id));
    emit_size_consts(c, r, &layout::request(r), "REQUEST", "a");
    if let Some(rep) = layout::reply(r) {
        emit_size_consts(c, r, &rep, "REPLY", "a successful");
    }
    for a in r.inputs.iter().chain(&r.outputs) {
        if let ArgKind::InlineBytes(max) = a.kind {
            c.line(&format!("/// The most bytes `{}` of `{}` holds.", a.name, r.name));
            c.line(&format!("pub const {}: usize = {max};", max_const(r, a)));
        }
    }
    c.line("");
    if r.outputs.len() > 1 {
        c.line(&format!("/// The outputs of `{}`.", r.name));
        c.line("#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]");
        c.open(&format!("pub struct {} {{", reply_struct_name(r)));
        for a in &r.outputs {
            if a.kind.is_inline_array() {
                c.line(&format!(
                    "/// Bytes of `{}` (in the `{}` buffer passed to the call).",
                    a.name, a.name
                ));
            }
            c.line(&format!("pub {}: {},", a.name, value_type(a.kind)));
        }
        c.close("}");
        c.line("");
    }
}

/// Rejects interfaces whose generated items would share a name.
fn check_names(iface: &Interface) -> Result<(), MigError> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut claim = |name: String, r: Option<&Routine>| -> Result<(), MigError> {
        if seen.insert(name.clone()) {
            return Ok(());
        }
        let pos = r.map(|r| r.pos).unwrap_or_default();
        Err(MigError::at(
            &iface.file,
            pos.line,
            pos.column,
            ErrorKind::NameClash(name),
        ))
    };
    for fixed in ["SUBSYSTEM_BASE", "MAX_REQUEST_SIZE", "MAX_REPLY_SIZE", "routine_name"] {
        claim(fixed.into(), None)?;
    }
    claim(format!("{}_server", iface.subsystem), None)?;
    claim(trait_name(iface), None)?;
    for r in &iface.routines {
        let up = upper(&r.name);
        let mut names = vec![r.name.clone(), format!("{up}_ID"), format!("encode_{}_request", r.name)];
        names.extend(size_consts(r, "REQUEST", layout::request(r).is_variable()));
        if let Some(rep) = layout::reply(r) {
            names.extend(size_consts(r, "REPLY", rep.is_variable()));
            names.push(format!("decode_{}_reply", r.name));
        }
        for a in r.inputs.iter().chain(&r.outputs).filter(|a| a.kind.is_inline_array()) {
            names.push(max_const(r, a));
        }
        if r.outputs.len() > 1 {
            names.push(reply_struct_name(r));
        }
        for n in names {
            claim(n, Some(r))?;
        }
    }
    Ok(())
}
