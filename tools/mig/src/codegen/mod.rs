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

/// The Rust type of a decoded argument (server inputs; outputs on both sides).
pub(crate) fn value_type(kind: ArgKind) -> String {
    match kind {
        ArgKind::Scalar(s) => s.rust_type().into(),
        ArgKind::Port(_) => "u32".into(),
        ArgKind::PortPoly => "mig_rt::PolyPort".into(),
        ArgKind::Ool(_) => "mig_rt::OolArray".into(),
        ArgKind::OolPorts(_) => "mig_rt::OolPorts".into(),
    }
}

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
    }
}

/// Functions taking the target, every input and one more parameter trip
/// clippy's `too_many_arguments` past 7; the count is the interface's choice.
pub(crate) fn allow_many_args(c: &mut Code, r: &Routine) {
    if r.inputs.len() + 2 > 7 {
        c.line("#[allow(clippy::too_many_arguments)]");
    }
}

/// `name: type` list of decoded-form arguments.
pub(crate) fn value_params(args: &[Arg]) -> String {
    args.iter()
        .map(|a| format!(", {}: {}", a.name, value_type(a.kind)))
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
        .map(|r| layout::request(r).size)
        .max()
        .unwrap_or(layout::HEADER_SIZE);
    let max_rep = iface
        .routines
        .iter()
        .filter_map(|r| layout::reply(r).map(|l| l.size))
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

fn emit_constants(c: &mut Code, r: &Routine) {
    let up = upper(&r.name);
    c.line(&format!("// ---- {} ----", r.name));
    c.line("");
    c.line(&format!("/// Message id of `{}`.", r.name));
    c.line(&format!("pub const {up}_ID: i32 = {};", r.id));
    c.line(&format!("/// Size of a `{}` request.", r.name));
    c.line(&format!(
        "pub const {up}_REQUEST_SIZE: usize = {};",
        layout::request(r).size
    ));
    if let Some(rep) = layout::reply(r) {
        c.line(&format!("/// Size of a successful `{}` reply.", r.name));
        c.line(&format!("pub const {up}_REPLY_SIZE: usize = {};", rep.size));
    }
    c.line("");
    if r.outputs.len() > 1 {
        c.line(&format!("/// The outputs of `{}`.", r.name));
        c.line("#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]");
        c.open(&format!("pub struct {} {{", reply_struct_name(r)));
        for a in &r.outputs {
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
        let mut names = vec![
            r.name.clone(),
            format!("{up}_ID"),
            format!("{up}_REQUEST_SIZE"),
            format!("encode_{}_request", r.name),
        ];
        if !r.is_simple() {
            names.push(format!("{up}_REPLY_SIZE"));
            names.push(format!("decode_{}_reply", r.name));
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
