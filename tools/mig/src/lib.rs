//! `mig`, this project's interface generator: it owns the `.defs` language
//! (specified below), its parser and the generator of Rust client stubs and
//! server dispatch code. `mach-interfaces` runs it from its build script over
//! `interfaces/*.defs`; the generated code builds on `mach_interfaces::runtime`
//! and `mach_interfaces::wire`.
//!
//! # The `.defs` language
//!
//! ```text
//! // Line comments and /* block comments */.
//! subsystem mach_port 3200;
//! routine mach_port_allocate(task: target, right: u32) -> (name: u32) = 3204;
//! routine mach_port_names(task: target) -> (names: ool<u32>, types: ool<u32>) = 3200;
//! routine unix_stat(server: target, flags: u32, path: inline<u8, 1024>) -> (err: i32, st: inline<u8, 144>);
//! simpleroutine mach_notify_no_senders(notify: target<move_send_once>, mscount: u32) = 70;
//! skip;
//! ```
//!
//! * `subsystem NAME BASE;` comes first, exactly once. `NAME` becomes the
//!   module name, the server trait `<Name>Server` and the dispatch function
//!   `<name>_server`.
//! * `routine NAME(INPUTS) -> (OUTPUTS) = ID;` is a request with a reply; the
//!   `-> (...)` part may be left out when there are no outputs.
//!   `simpleroutine NAME(INPUTS) = ID;` is a one-way request: no outputs, no reply.
//! * `= ID` is optional: without it a routine's id is `BASE + index`, where
//!   the index counts the `routine`, `simpleroutine` and `skip;` statements before
//!   it. Ids (and `BASE`) must be in `0..=i32::MAX - 100` and unique.
//! * Numbers are decimal, `0x` hex or `0o` octal (`0100` is refused as ambiguous).
//! * Names are lower snake_case, not Rust keywords, not starting with `mig_`;
//!   arguments may not be called `transport` or `buf`.
//!
//! Argument kinds (`name: kind`):
//!
//! | kind | wire | client passes / gets | server gets / returns |
//! |------|------|----------------------|-----------------------|
//! | `u32` `i32` `u64` `i64` | inline | the value | the value |
//! | `target`, `target<D>` | `msgh_remote_port`, disposition D (default `copy_send`) | `u32` name | `u32`: the port the request came in on |
//! | `port<D>` | port descriptor, disposition D | `u32` name | `u32` name (received type fixed by D) |
//! | `port_poly` | port descriptor, disposition chosen at run time | `PolyPort { name, disposition }` | `PolyPort { name, received type }` |
//! | `ool<u8>` `ool<u32>` `ool<u64>` | out-of-line memory descriptor | input `&[T]`, output `OolArray` | `OolArray { address, count }` |
//! | `ool_ports<D>` | out-of-line ports descriptor, disposition D | input `&[u32]`, output `OolPorts` | `OolPorts { address, count }` |
//! | `inline<u8, N>` | in the body: `u32` count, bytes, padding (after all fixed fields) | input `&[u8]`; output: a `&mut [u8]` buffer, result `usize` (bytes written) | input `&[u8]`; output: a `&mut [u8]` of `N` bytes to fill, result `usize` |
//!
//! `D` is one of `move_receive`, `move_send`, `move_send_once`, `copy_send`,
//! `make_send`, `make_send_once`. The first input must be the `target` (not
//! `move_receive`); `target` appears nowhere else. Outputs use the same kinds
//! except `target`; a `port_poly` output lets the server pick the disposition.
//!
//! `inline<u8, N>` is an array of at most `N` bytes carried in the message
//! itself (`N` a number in `1..=65536`; only `u8` elements). Use it for small
//! buffers (paths, short reads and writes, `struct stat`): a message without
//! descriptors is simple, and one of at most 4096 bytes takes the kernel's
//! RPC fast path (`mach_core::ipc::simple::MAX_INLINE`). A message is as
//! long as its arrays actually are, so a 5-byte write is a 40-byte message
//! whatever `N`; only the buffers are sized by `N`. A routine whose messages
//! could exceed `MACH_MSG_SIZE_MAX` with every array full is refused.
//!
//! # Wire layout
//!
//! Request: the 24-byte header; if any argument is a descriptor,
//! `MACH_MSGH_BITS_COMPLEX`, the body (`u32` count) and the descriptors in
//! declaration order (12-byte port, 16-byte out-of-line memory / ports); then
//! the scalars in declaration order, each 4-byte aligned (a `u64` may be only
//! 4-aligned, XNU `pack(4)`). Reply (id = request id + 100): header, then
//! body and descriptors for port and out-of-line outputs, then `RetCode: i32`,
//! then the scalar outputs. An error reply (`RetCode != 0`) is header +
//! `RetCode`, 28 bytes, simple. See `layout.rs`.
//!
//! # Generated code
//!
//! Per routine: `<NAME>_ID`, `<NAME>_REQUEST_SIZE`, `<NAME>_REPLY_SIZE`, a
//! `<Name>Reply` struct when there are several outputs, `encode_<name>_request`,
//! `decode_<name>_reply` and the client stub `<name>(transport, target, inputs...)`.
//! A message with in-line arrays has `<NAME>_REQUEST_MIN_SIZE` (all empty)
//! and `<NAME>_REQUEST_MAX_SIZE` (all full) instead of `<NAME>_REQUEST_SIZE`
//! (the same for replies), and each array a `<NAME>_<ARG>_MAX` (its `N`).
//!
//! In-line outputs are allocation-free on both sides. The client passes one
//! `&mut [u8]` per in-line output after the inputs (`unix_stat(t, server,
//! flags, path, &mut st)`); the stub copies each array into its buffer, once,
//! from the message buffer, after checking the whole reply, and returns its
//! length (`usize`, a field of `<Name>Reply` when there are several
//! outputs). A buffer shorter than the array gives `MIG_ARRAY_TOO_LARGE`,
//! nothing copied, and the reply goes to `Transport::discard_reply`. The
//! server method gets, after its inputs, one `&mut [u8]` of exactly `N` bytes
//! per in-line output: a window into the reply buffer itself (not cleared),
//! so the bytes it writes are sent without another copy; it returns the
//! count it wrote. A count beyond `N` gives the client a `MIG_ARRAY_TOO_LARGE`
//! error reply. The dispatch then moves the second and later arrays up
//! behind the first and zeroes the padding. In-line inputs are `&[u8]`
//! borrowing the request (client) or the received message (server), and
//! need no release.
//! Per subsystem: `SUBSYSTEM_BASE`, `MAX_REQUEST_SIZE`, `MAX_REPLY_SIZE`,
//! `routine_name(id)`, the server trait and the dispatch function. The
//! ownership rule the dispatch enforces is documented in `mach-interfaces`.

mod ast;
mod codegen;
mod error;
mod layout;
mod lexer;
mod parser;

use std::path::{Path, PathBuf};

pub use ast::{Arg, ArgKind, Disposition, Interface, OolElem, Pos, Routine, RoutineKind, Scalar, Target};
pub use error::{ErrorKind, MigError};
pub use layout::{Layout, Slot};

/// Parses and checks a `.defs` file; `file` names it in error messages.
pub fn parse(file: &str, src: &str) -> Result<Interface, MigError> {
    parser::parse(file, src)
}

/// The request layout of a routine.
pub fn request_layout(r: &Routine) -> Layout<'_> {
    layout::request(r)
}

/// The success-reply layout of a routine (`None` for a simpleroutine).
pub fn reply_layout(r: &Routine) -> Option<Layout<'_>> {
    layout::reply(r)
}

/// Generates the Rust module source for one `.defs` file.
pub fn generate(defs_source: &str) -> Result<String, MigError> {
    generate_named("<input>", defs_source)
}

/// [`generate`], naming the source `file` in errors and in the generated header.
pub fn generate_named(file: &str, defs_source: &str) -> Result<String, MigError> {
    codegen::emit(&parser::parse(file, defs_source)?)
}

/// One module written by [`generate_files`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedModule {
    pub subsystem: String,
    pub defs_path: PathBuf,
    pub out_path: PathBuf,
}

/// For build scripts: generates `<out_dir>/<subsystem>.rs` for every
/// `<in_dir>/*.defs` (in file-name order). A file whose content would not
/// change is not rewritten. Fails on the first error, and if two files declare
/// the same subsystem.
pub fn generate_files(in_dir: &Path, out_dir: &Path) -> Result<Vec<GeneratedModule>, MigError> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(in_dir)
        .map_err(|e| MigError::io(in_dir, &e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "defs") && p.is_file())
        .collect();
    paths.sort();
    let mut done: Vec<GeneratedModule> = Vec::new();
    for path in paths {
        let src = std::fs::read_to_string(&path).map_err(|e| MigError::io(&path, &e))?;
        let name = path.display().to_string();
        let iface = parser::parse(&name, &src)?;
        if let Some(other) = done.iter().find(|m| m.subsystem == iface.subsystem) {
            return Err(MigError::at(
                &name,
                0,
                0,
                ErrorKind::DuplicateSubsystemFile {
                    subsystem: iface.subsystem,
                    other_file: other.defs_path.display().to_string(),
                },
            ));
        }
        let code = codegen::emit(&iface)?;
        let out_path = out_dir.join(format!("{}.rs", iface.subsystem));
        if std::fs::read_to_string(&out_path).ok().as_deref() != Some(code.as_str()) {
            std::fs::write(&out_path, code).map_err(|e| MigError::io(&out_path, &e))?;
        }
        done.push(GeneratedModule {
            subsystem: iface.subsystem,
            defs_path: path,
            out_path,
        });
    }
    Ok(done)
}
