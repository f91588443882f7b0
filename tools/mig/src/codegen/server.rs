//! Emits the server half of a subsystem: the server trait, the dispatch
//! function, and per routine the request decoder, the reply encoder and the
//! glue that applies the ownership rule (release the inputs when the server
//! method fails; release everything a malformed request brought).

use super::{
    Code, inline_outputs, max_const, out_buffer_params, output_type, read_expr, server_input_params, size_consts,
    trait_name, upper, write_value_stmt,
};
use crate::ast::{Arg, ArgKind, INLINE_COUNT_SIZE, Interface, Routine};
use crate::layout::{self, Layout};

const HDR: &str = "mig_msg::MachMsgHeader";

pub(super) fn emit(c: &mut Code, iface: &Interface) {
    c.line("// ---- Server side ----");
    c.line("");
    emit_trait(c, iface);
    emit_dispatch(c, iface);
    for r in &iface.routines {
        let req = layout::request(r);
        emit_request_decoder(c, r, &req);
        if let Some(rep) = layout::reply(r) {
            emit_reply_encoder(c, r, &rep);
            emit_later_reply(c, r);
        }
        emit_serve(c, iface, r);
    }
}

fn method_signature(r: &Routine) -> String {
    let out = if r.is_simple() {
        "()".to_string()
    } else {
        output_type(r)
    };
    format!(
        "fn {}(&mut self, {}: u32{}{}) -> Result<{out}, i32>",
        r.name,
        r.target.name,
        server_input_params(&r.inputs),
        out_buffer_params(r)
    )
}

fn emit_trait(c: &mut Code, iface: &Interface) {
    c.line(&format!(
        "/// The server side of subsystem `{}`: one method per routine, called by",
        iface.subsystem
    ));
    c.line(&format!(
        "/// [`{}_server`] with the decoded inputs, the target port name first.",
        iface.subsystem
    ));
    c.line("///");
    c.line("/// Ownership: a method that returns `Ok` owns every right and out-of-line region it");
    c.line("/// was passed; when it returns `Err` the dispatch function releases them through");
    c.line("/// `Release` and sends an error reply. `Err(MIG_NO_REPLY)` means the method kept");
    c.line("/// everything, reply right included, and will answer later itself.");
    let has_inline = |r: &Routine| r.inputs.iter().chain(&r.outputs).any(|a| a.kind.is_inline_array());
    if iface.routines.iter().any(has_inline) {
        c.line("///");
        c.line("/// In-line arrays: an input is the bytes as received (at most its `N`); for an");
        c.line("/// output the method gets a buffer of exactly `N` bytes (in the reply buffer, not");
        c.line("/// cleared), writes the array's bytes at its start and returns how many it wrote.");
    }
    c.open(&format!("pub trait {} {{", trait_name(iface)));
    for (i, r) in iface.routines.iter().enumerate() {
        if i > 0 {
            c.line("");
        }
        let kind = if r.is_simple() {
            "simpleroutine, never answered"
        } else {
            "routine"
        };
        c.line(&format!("/// `{}` (id {}, {kind}).", r.name, r.id));
        super::allow_many_args(c, r);
        c.line(&format!("{};", method_signature(r)));
    }
    c.close("}");
    c.line("");
}

fn emit_dispatch(c: &mut Code, iface: &Interface) {
    let sub = &iface.subsystem;
    c.line(&format!("/// Serves one `{sub}` request."));
    c.line("///");
    c.line("/// `request` is a received message (header fields as the receiver sees them:");
    c.line("/// `msgh_remote_port` the reply right, `msgh_local_port` the target), optionally");
    c.line("/// followed by its trailer. The reply is written into `reply`, which should hold");
    c.line("/// [`MAX_REPLY_SIZE`] bytes. Port names and addresses are never interpreted.");
    c.open(&format!(
        "pub fn {sub}_server<S: {} + mig_rt::Release + ?Sized>(server: &mut S, request: &[u8], reply: &mut [u8]) -> mig_rt::Dispatch {{",
        trait_name(iface)
    ));
    c.open("let Some(mig_hdr) = mig_wire::read_header(request) else {");
    c.line("return mig_rt::Dispatch::NoReply;");
    c.close("};");
    c.open("match mig_hdr.id {");
    for r in &iface.routines {
        let call_args = if r.is_simple() {
            "server, &mig_hdr, request"
        } else {
            "server, &mig_hdr, request, reply"
        };
        c.line(&format!("{}_ID => mig_serve_{}({call_args}),", upper(&r.name), r.name));
    }
    c.line("_ => mig_wire::bad_id(&mig_hdr, reply),");
    c.close("}");
    c.close("}");
    c.line("");
}

fn input_tuple_type(inputs: &[Arg]) -> String {
    let ty = |a: &Arg| super::server_input_type(a.kind, "'a ");
    match inputs {
        [] => "()".into(),
        [one] => format!("({},)", ty(one)),
        many => format!("({})", many.iter().map(ty).collect::<Vec<_>>().join(", ")),
    }
}

fn emit_request_decoder(c: &mut Code, r: &Routine, req: &Layout<'_>) {
    let up = upper(&r.name);
    // The inputs come back as one tuple, however many a routine has.
    c.line("#[allow(clippy::type_complexity)]");
    let lifetime = if req.is_variable() { "<'a>" } else { "" };
    let request_ty = if req.is_variable() { "&'a [u8]" } else { "&[u8]" };
    c.open(&format!(
        "fn mig_decode_{}_request{lifetime}(hdr: &{HDR}, request: {request_ty}) -> Option<{}> {{",
        r.name,
        input_tuple_type(&r.inputs)
    ));
    let body = if let [min, max] = size_consts(r, "REQUEST", req.is_variable()).as_slice() {
        format!(
            "mig_wire::request_body_in(request, hdr, {min}, {max}, {})",
            req.descriptor_count()
        )
    } else {
        format!(
            "mig_wire::request_body(request, hdr, {up}_REQUEST_SIZE, {})",
            req.descriptor_count()
        )
    };
    if r.inputs.is_empty() {
        c.line(&format!("{body}.map(|_| ())"));
    } else {
        c.line(&format!("let m = {body}?;"));
        if req.is_variable() {
            c.line(&format!("let mig_off = {};", req.arrays_offset));
            for (i, s) in req.arrays.iter().enumerate() {
                c.line(&format!(
                    "let (mig_a{i}, mig_off) = mig_wire::get_inline(m, mig_off, {})?;",
                    max_const(r, s.arg)
                ));
            }
            c.line("mig_wire::check_end(m, mig_off)?;");
        }
        c.open("Some((");
        for a in &r.inputs {
            if let Some(i) = req.arrays.iter().position(|s| s.arg.name == a.name) {
                c.line(&format!("mig_a{i},"));
                continue;
            }
            let slot = req
                .descriptors
                .iter()
                .chain(&req.scalars)
                .find(|s| s.arg.name == a.name);
            let off = slot.map(|s| s.offset).unwrap_or_default();
            c.line(&format!("{},", read_expr(a.kind, off, "m")));
        }
        c.close("))");
    }
    c.close("}");
    c.line("");
}

fn emit_reply_encoder(c: &mut Code, r: &Routine, rep: &Layout<'_>) {
    let up = upper(&r.name);
    let out_param = if r.outputs.is_empty() {
        String::new()
    } else {
        format!(", mig_out: {}", output_type(r))
    };
    let value = |a: &Arg| {
        if r.outputs.len() == 1 {
            "mig_out".to_string()
        } else {
            format!("mig_out.{}", a.name)
        }
    };
    c.open(&format!(
        "fn mig_encode_{}_reply(reply: &mut [u8], hdr: &{HDR}{out_param}) -> Option<usize> {{",
        r.name
    ));
    let size = if rep.is_variable() {
        // The method wrote each array at its place in a full reply; move
        // them together behind their counts, then write the fixed part.
        super::client::emit_variable_size(c, r, rep, &|name| {
            if r.outputs.len() == 1 {
                "mig_out".to_string()
            } else {
                format!("mig_out.{name}")
            }
        });
        c.line(&format!("let mig_off = {};", rep.arrays_offset));
        for s in &rep.arrays {
            c.line(&format!(
                "let mig_off = mig_wire::place_inline(reply, mig_off, {}, {})?;",
                s.offset + INLINE_COUNT_SIZE,
                value(s.arg)
            ));
        }
        c.line(&format!(
            "let mig_m = mig_wire::begin_fixed(reply, mig_size, {})?;",
            rep.arrays_offset
        ));
        c.line("mig_wire::check_end(mig_m, mig_off)?;");
        "mig_size".to_string()
    } else {
        c.line(&format!("let mig_m = mig_wire::begin(reply, {up}_REPLY_SIZE)?;"));
        format!("{up}_REPLY_SIZE")
    };
    c.line(&format!(
        "mig_wire::put_reply_header(mig_m, hdr, {size}, {})?;",
        rep.is_complex()
    ));
    if rep.is_complex() {
        c.line(&format!(
            "mig_wire::put_u32(mig_m, mig_wire::BODY_OFFSET, {})?;",
            rep.descriptor_count()
        ));
    }
    for s in &rep.descriptors {
        c.line(&write_value_stmt(s.arg.kind, s.offset, &value(s.arg)));
    }
    c.line(&format!(
        "mig_wire::put_i32(mig_m, {}, 0)?; // RetCode: KERN_SUCCESS",
        rep.ret_code.unwrap_or(0)
    ));
    for s in &rep.scalars {
        c.line(&write_value_stmt(s.arg.kind, s.offset, &value(s.arg)));
    }
    c.line(&format!("Some({size})"));
    c.close("}");
    c.line("");
}

/// Statements releasing input `i` (`mig_in.i`) of `kind`; empty for scalars.
fn release_stmt(kind: ArgKind, i: usize) -> Option<String> {
    let v = format!("mig_in.{i}");
    Some(match kind {
        ArgKind::Scalar(_) | ArgKind::InlineBytes(_) => return None,
        ArgKind::Port(d) => format!("server.release_port({v}, mig_msg::{});", d.received_const_name()),
        ArgKind::PortPoly => format!("server.release_port({v}.name, {v}.disposition);"),
        ArgKind::Ool(e) if e.size() == 1 => format!("server.release_ool({v}.address, u64::from({v}.count));"),
        ArgKind::Ool(e) => {
            format!(
                "server.release_ool({v}.address, u64::from({v}.count).saturating_mul({}));",
                e.size()
            )
        }
        ArgKind::OolPorts(d) => {
            format!(
                "server.release_ool_ports({v}.address, {v}.count, mig_msg::{});",
                d.received_const_name()
            )
        }
    })
}

/// `reply_<name>`: the reply to a request whose method answered
/// `MIG_NO_REPLY` and kept the reply right, built later from the request's
/// header (kept by the server) and the outputs `fill` returns (it gets the
/// reply's in-line output buffers, as the method would have).
fn emit_later_reply(c: &mut Code, r: &Routine) {
    let Some(rep) = layout::reply(r) else { return };
    let variable = rep.is_variable();
    let reply_size = size_consts(r, "REPLY", variable).pop().unwrap_or_default();
    let windows: Vec<String> = (0..inline_outputs(r).count()).map(|i| format!("mig_o{i}")).collect();
    let bufs = vec!["&mut [u8]"; windows.len()].join(", ");
    let out = output_type(r);
    c.line(&format!(
        "/// Answers a `{}` request kept with `MIG_NO_REPLY`: `request` is its header as",
        r.name
    ));
    c.line("/// received; `fill` gets the in-line output buffers (as the method does) and");
    c.line("/// returns the outputs. The reply's size in `reply`, or None if it does not fit.");
    if r.outputs.is_empty() {
        c.open(&format!(
            "pub fn reply_{}(reply: &mut [u8], request: &{HDR}) -> Option<usize> {{",
            r.name
        ));
        c.open(&format!("if reply.len() < {reply_size} {{"));
        c.line("return None;");
        c.close("}");
        c.line(&format!("mig_encode_{}_reply(reply, request)", r.name));
        c.close("}");
        c.line("");
        return;
    }
    c.open(&format!(
        "pub fn reply_{}(reply: &mut [u8], request: &{HDR}, fill: impl FnOnce({bufs}) -> {out}) -> Option<usize> {{",
        r.name
    ));
    c.open(&format!("if reply.len() < {reply_size} {{"));
    c.line("return None;");
    c.close("}");
    if variable {
        let spans: Vec<String> = rep
            .arrays
            .iter()
            .map(|s| format!("({}, {})", s.offset + INLINE_COUNT_SIZE, max_const(r, s.arg)))
            .collect();
        c.line(&format!(
            "let [{}] = mig_wire::out_windows(reply, [{}])?;",
            windows.join(", "),
            spans.join(", ")
        ));
    }
    c.line(&format!("let mig_out = fill({});", windows.join(", ")));
    c.line(&format!("mig_encode_{}_reply(reply, request, mig_out)", r.name));
    c.close("}");
    c.line("");
}

fn emit_serve(c: &mut Code, iface: &Interface, r: &Routine) {
    let bound = format!("S: {} + mig_rt::Release + ?Sized", trait_name(iface));
    let reply_param = if r.is_simple() { "" } else { ", reply: &mut [u8]" };
    c.open(&format!(
        "fn mig_serve_{}<{bound}>(server: &mut S, hdr: &{HDR}, request: &[u8]{reply_param}) -> mig_rt::Dispatch {{",
        r.name
    ));
    let on_malformed: &[&str] = if r.is_simple() {
        &[
            "mig_wire::release_descriptors(server, request);",
            "return mig_rt::Dispatch::NoReply;",
        ]
    } else {
        &["return mig_wire::reject(server, hdr, request, reply, mig_msg::MIG_BAD_ARGUMENTS);"]
    };
    if r.is_simple() {
        c.line("// A simpleroutine is never answered: give back a reply right that came along.");
        c.line("mig_wire::release_reply_right(server, hdr);");
    }
    if r.inputs.is_empty() {
        c.open(&format!("if mig_decode_{}_request(hdr, request).is_none() {{", r.name));
    } else {
        c.open(&format!(
            "let Some(mig_in) = mig_decode_{}_request(hdr, request) else {{",
            r.name
        ));
    }
    for l in on_malformed {
        c.line(l);
    }
    c.close(if r.inputs.is_empty() { "}" } else { "};" });
    let mut args = vec!["hdr.local_port".to_string()];
    args.extend((0..r.inputs.len()).map(|i| format!("mig_in.{i}")));
    let windows: Vec<String> = (0..inline_outputs(r).count()).map(|i| format!("mig_o{i}")).collect();
    args.extend(windows.iter().cloned());
    let call = format!("server.{}({})", r.name, args.join(", "));
    let releases: Vec<String> = r
        .inputs
        .iter()
        .enumerate()
        .filter_map(|(i, a)| release_stmt(a.kind, i))
        .collect();

    if r.is_simple() {
        if releases.is_empty() {
            c.line(&format!("let _ = {call};"));
        } else {
            c.open(&format!(
                "if let Err(mig_code) = {call} && mig_code != mig_msg::MIG_NO_REPLY {{"
            ));
            for l in &releases {
                c.line(l);
            }
            c.close("}");
        }
        c.line("mig_rt::Dispatch::NoReply");
        c.close("}");
        c.line("");
        return;
    }

    let rep = layout::reply(r);
    let variable = rep.as_ref().is_some_and(|l| l.is_variable());
    let reply_size = size_consts(r, "REPLY", variable).pop().unwrap_or_default();
    c.open(&format!("if reply.len() < {reply_size} {{"));
    c.line("return mig_wire::reply_too_small(server, hdr, request, reply);");
    c.close("}");
    if let Some(rep) = rep.filter(|l| l.is_variable()) {
        // The method writes its in-line outputs straight into the reply buffer.
        let spans: Vec<String> = rep
            .arrays
            .iter()
            .map(|s| format!("({}, {})", s.offset + INLINE_COUNT_SIZE, max_const(r, s.arg)))
            .collect();
        c.open(&format!(
            "let Some([{}]) = mig_wire::out_windows(reply, [{}]) else {{",
            windows.join(", "),
            spans.join(", ")
        ));
        c.line("return mig_wire::reply_too_small(server, hdr, request, reply);");
        c.close("};");
    }
    let (ok_pat, enc_args) = if r.outputs.is_empty() {
        ("Ok(())", "reply, hdr")
    } else {
        ("Ok(mig_out)", "reply, hdr, mig_out")
    };
    c.open(&format!("match {call} {{"));
    c.open(&format!("{ok_pat} => match mig_encode_{}_reply({enc_args}) {{", r.name));
    c.line("Some(mig_n) => mig_rt::Dispatch::Reply(mig_n),");
    c.line("None => mig_wire::error_reply(hdr, reply, mig_msg::MIG_ARRAY_TOO_LARGE),");
    c.close("},");
    c.line("Err(mig_msg::MIG_NO_REPLY) => mig_rt::Dispatch::NoReply,");
    if releases.is_empty() {
        c.line("Err(mig_code) => mig_wire::error_reply(hdr, reply, mig_code),");
    } else {
        c.open("Err(mig_code) => {");
        for l in &releases {
            c.line(l);
        }
        c.line("mig_wire::error_reply(hdr, reply, mig_code)");
        c.close("}");
    }
    c.close("}");
    c.close("}");
    c.line("");
}
