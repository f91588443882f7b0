//! Emits the client half of one routine: the request encoder, the reply
//! decoder and the stub that runs both around a `Transport` call.

use super::{
    Code, inline_outputs, max_const, out_buffer_params, output_type, read_expr, reply_struct_name, size_consts, upper,
};
use crate::ast::{ArgKind, Routine};
use crate::layout::{self, Layout};

/// The client-side type of an input: slices for out-of-line and in-line data.
fn input_type(kind: ArgKind) -> String {
    match kind {
        ArgKind::Ool(e) => format!("&[{}]", e.rust_type()),
        ArgKind::OolPorts(_) => "&[u32]".into(),
        ArgKind::InlineBytes(_) => "&[u8]".into(),
        other => super::value_type(other),
    }
}

/// A statement writing client input `v` at `off` of `mig_m`.
fn write_input_stmt(kind: ArgKind, off: usize, v: &str) -> String {
    match kind {
        ArgKind::Ool(e) => format!(
            "mig_wire::put_ool(mig_m, {off}, mig_wire::slice_address({v}), mig_wire::ool_bytes({v}.len(), {})?, false)?;",
            e.size()
        ),
        ArgKind::OolPorts(d) => format!(
            "mig_wire::put_ool_ports(mig_m, {off}, mig_wire::slice_address({v}), u32::try_from({v}.len()).ok()?, mig_msg::{}, false)?;",
            d.const_name()
        ),
        other => super::write_value_stmt(other, off, v),
    }
}

pub(super) fn emit(c: &mut Code, r: &Routine) {
    let req = layout::request(r);
    emit_encoder(c, r, &req);
    if let Some(rep) = layout::reply(r) {
        emit_decoder(c, r, &rep);
    }
    emit_stub(c, r);
}

/// The target and the inputs (what the request encoder takes).
fn client_params(r: &Routine) -> String {
    let mut s = format!("{}: u32", r.target.name);
    for a in &r.inputs {
        s.push_str(&format!(", {}: {}", a.name, input_type(a.kind)));
    }
    s
}

/// The statements that compute `mig_size` from the in-line arrays' lengths
/// (each checked against its `N`), for a message of layout `l` whose arrays
/// are `len(name)` bytes long.
pub(super) fn emit_variable_size(c: &mut Code, r: &Routine, l: &Layout<'_>, len: &dyn Fn(&str) -> String) {
    c.line(&format!("let mig_size = {};", l.arrays_offset));
    for s in &l.arrays {
        c.line(&format!(
            "let mig_size = mig_wire::inline_end(mig_size, {}, {})?;",
            len(&s.arg.name),
            max_const(r, s.arg)
        ));
    }
}

fn emit_encoder(c: &mut Code, r: &Routine, req: &Layout<'_>) {
    let up = upper(&r.name);
    c.line(&format!(
        "/// Encodes a `{}` request (id {}) for `{}` into `buf`.",
        r.name, r.id, r.target.name
    ));
    if r.is_simple() {
        c.line("///");
        c.line("/// The local port and its disposition stay zero (no reply).");
    } else {
        c.line("///");
        c.line("/// The local (reply) port and its disposition stay zero for the transport to fill in.");
    }
    c.line("/// Returns the message size, or `None` if `buf` is too short or an array too long.");
    super::allow_many_args(c, r);
    c.open(&format!(
        "pub fn encode_{}_request(buf: &mut [u8], {}) -> Option<usize> {{",
        r.name,
        client_params(r)
    ));
    let size = if req.is_variable() {
        emit_variable_size(c, r, req, &|name| format!("{name}.len()"));
        c.line(&format!(
            "let mig_m = mig_wire::begin_fixed(buf, mig_size, {})?;",
            req.arrays_offset
        ));
        "mig_size".to_string()
    } else {
        let size = format!("{up}_REQUEST_SIZE");
        c.line(&format!("let mig_m = mig_wire::begin(buf, {size})?;"));
        size
    };
    let mut bits = format!(
        "mig_msg::mach_msgh_bits(mig_msg::{}, 0)",
        r.target.disposition.const_name()
    );
    if req.is_complex() {
        bits.push_str(" | mig_msg::MACH_MSGH_BITS_COMPLEX");
    }
    c.line(&format!(
        "mig_wire::put_request_header(mig_m, {bits}, {size}, {}, {up}_ID)?;",
        r.target.name
    ));
    if req.is_complex() {
        c.line(&format!(
            "mig_wire::put_u32(mig_m, mig_wire::BODY_OFFSET, {})?;",
            req.descriptor_count()
        ));
    }
    for s in req.descriptors.iter().chain(&req.scalars) {
        c.line(&write_input_stmt(s.arg.kind, s.offset, &s.arg.name));
    }
    if req.is_variable() {
        c.line(&format!("let mig_off = {};", req.arrays_offset));
        for s in &req.arrays {
            c.line(&format!(
                "let mig_off = mig_wire::put_inline(mig_m, mig_off, {})?;",
                s.arg.name
            ));
        }
        c.line("mig_wire::check_end(mig_m, mig_off)?;");
    }
    c.line(&format!("Some({size})"));
    c.close("}");
    c.line("");
}

fn emit_decoder(c: &mut Code, r: &Routine, rep: &Layout<'_>) {
    let up = upper(&r.name);
    let out = output_type(r);
    let ret_code = rep.ret_code.unwrap_or(layout::HEADER_SIZE);
    c.line(&format!(
        "/// Checks and decodes a `{}` reply (id {} + 100).",
        r.name, r.id
    ));
    c.line("///");
    c.line("/// Errors: `MIG_REPLY_MISMATCH` for another id, `MIG_TYPE_ERROR` for a bad size or");
    c.line("/// layout, the server's code for an error reply.");
    if rep.is_variable() {
        c.line("/// The in-line arrays are copied into the buffers given for them, once the whole");
        c.line("/// reply is checked: `MIG_ARRAY_TOO_LARGE` (nothing copied) if one is too short.");
    }
    let sizes = size_consts(r, "REPLY", rep.is_variable());
    let check = if let [min, max] = sizes.as_slice() {
        format!(
            "mig_wire::check_reply_in(msg, {up}_ID + mig_msg::MIG_REPLY_ID_OFFSET, {min}, {max}, {}, {ret_code})",
            rep.descriptor_count()
        )
    } else {
        format!(
            "mig_wire::check_reply(msg, {up}_ID + mig_msg::MIG_REPLY_ID_OFFSET, {up}_REPLY_SIZE, {}, {ret_code})",
            rep.descriptor_count()
        )
    };
    c.open(&format!(
        "pub fn decode_{}_reply(msg: &[u8]{}) -> Result<{out}, i32> {{",
        r.name,
        out_buffer_params(r)
    ));
    if r.outputs.is_empty() {
        c.line(&format!("{check}.map(|_| ())"));
        c.close("}");
        c.line("");
        return;
    }
    c.line(&format!("let mig_m = {check}?;"));
    let arrays: Vec<String> = (0..rep.arrays.len()).map(|i| format!("mig_a{i}")).collect();
    if rep.is_variable() {
        c.line(&format!(
            "let (mig_out, [{}]) = mig_{}_reply_fields(mig_m).ok_or(mig_msg::MIG_TYPE_ERROR)?;",
            arrays.join(", "),
            r.name
        ));
        let pairs: Vec<String> = inline_outputs(r)
            .zip(&arrays)
            .map(|(a, v)| format!("({}, {v})", a.name))
            .collect();
        c.line(&format!("mig_wire::copy_out([{}])?;", pairs.join(", ")));
        c.line("Ok(mig_out)");
    } else {
        c.line(&format!(
            "mig_{}_reply_fields(mig_m).ok_or(mig_msg::MIG_TYPE_ERROR)",
            r.name
        ));
    }
    c.close("}");
    c.line("");
    let ret = if rep.is_variable() {
        format!("({out}, [&[u8]; {}])", arrays.len())
    } else {
        out.clone()
    };
    c.open(&format!("fn mig_{}_reply_fields(m: &[u8]) -> Option<{ret}> {{", r.name));
    if rep.is_variable() {
        c.line(&format!("let mig_off = {};", rep.arrays_offset));
        for (s, v) in rep.arrays.iter().zip(&arrays) {
            c.line(&format!(
                "let ({v}, mig_off) = mig_wire::get_inline(m, mig_off, {})?;",
                max_const(r, s.arg)
            ));
        }
        c.line("mig_wire::check_end(m, mig_off)?;");
    }
    let expr = |name: &str| {
        if let Some(i) = rep.arrays.iter().position(|s| s.arg.name == name) {
            return format!("mig_a{i}.len()");
        }
        let slot = rep.descriptors.iter().chain(&rep.scalars).find(|s| s.arg.name == name);
        slot.map(|s| read_expr(s.arg.kind, s.offset, "m")).unwrap_or_default()
    };
    let tail = if rep.is_variable() {
        format!(", [{}]))", arrays.join(", "))
    } else {
        ")".to_string()
    };
    let head = if rep.is_variable() { "Some((" } else { "Some(" };
    if let [one] = r.outputs.as_slice() {
        let e = expr(&one.name);
        if rep.is_variable() {
            c.line(&format!("{head}{e}{tail}"));
        } else {
            c.line(e.strip_suffix('?').unwrap_or(&e));
        }
    } else {
        c.open(&format!("{head}{} {{", reply_struct_name(r)));
        for a in &r.outputs {
            c.line(&format!("{}: {},", a.name, expr(&a.name)));
        }
        c.close(&format!("}}{tail}"));
    }
    c.close("}");
    c.line("");
}

fn emit_stub(c: &mut Code, r: &Routine) {
    let args: String = std::iter::once(r.target.name.as_str())
        .chain(r.inputs.iter().map(|a| a.name.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    if r.is_simple() {
        c.line(&format!(
            "/// Sends `{}` (id {}) to `{}`; no reply.",
            r.name, r.id, r.target.name
        ));
        super::allow_many_args(c, r);
        c.open(&format!(
            "pub fn {}<T: mig_rt::Transport + ?Sized>(transport: &mut T, {}) -> Result<(), i32> {{",
            r.name,
            client_params(r)
        ));
    } else {
        c.line(&format!(
            "/// Calls `{}` (id {}) on `{}` and waits for the reply.",
            r.name, r.id, r.target.name
        ));
        super::allow_many_args(c, r);
        if inline_outputs(r).next().is_some() {
            c.line("///");
            c.line("/// The in-line outputs are copied into the buffers passed for them (the result");
            c.line("/// says how many bytes each got); `MIG_ARRAY_TOO_LARGE` if one is too short.");
        }
        c.open(&format!(
            "pub fn {}<T: mig_rt::Transport + ?Sized>(transport: &mut T, {}{}) -> Result<{}, i32> {{",
            r.name,
            client_params(r),
            out_buffer_params(r),
            output_type(r)
        ));
    }
    c.line(&format!(
        "let mut mig_buf = mig_rt::MsgBuf::<{}>::new();",
        layout::client_buffer_size(r)
    ));
    c.line(&format!(
        "let mig_size = encode_{}_request(&mut mig_buf.0, {args}).ok_or(mig_msg::MIG_ARRAY_TOO_LARGE)?;",
        r.name
    ));
    if r.is_simple() {
        c.line("transport.send(&mut mig_buf.0, mig_size)");
    } else if inline_outputs(r).next().is_some() {
        let bufs: String = inline_outputs(r).map(|a| format!(", {}", a.name)).collect();
        c.line(&format!(
            "mig_wire::rpc(transport, &mut mig_buf.0, mig_size, |mig_r| decode_{}_reply(mig_r{bufs}))",
            r.name
        ));
    } else {
        c.line(&format!(
            "mig_wire::rpc(transport, &mut mig_buf.0, mig_size, decode_{}_reply)",
            r.name
        ));
    }
    c.close("}");
    c.line("");
}
