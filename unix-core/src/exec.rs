//! execve: turning an executable file into a plan the server carries out.
//!
//! This module owns the decision of what an executable is and where its
//! pieces go: for a static x86_64 ELF ([`plan_elf`]) the page-aligned
//! file-backed mappings with their protections, the part of the last file
//! page to zero, the anonymous bss pages, the initial program break, the
//! PT_TLS facts, and the auxiliary vector ([`auxv`], [`build_exec_stack`]);
//! for a `#!` script ([`script`]) the interpreter and the new argument
//! vector; and the loop between the two ([`resolve`]), with Linux's limit on
//! nested interpreters.
//!
//! Accepted: ET_EXEC without PT_INTERP (Debian's busybox-static, `musl-gcc
//! -static`) at its link addresses, and ET_DYN without PT_INTERP (static-pie,
//! e.g. Rust's musl target) with its lowest page placed at
//! [`ExecConfig::dyn_base`]. Dynamically linked programs (PT_INTERP) and
//! anything else give ENOEXEC. Every rejected ELF gives ENOEXEC.

use crate::errno::{Errno, Result};
use alloc::vec::Vec;
use linux_raw_sys::auxvec::{
    AT_BASE, AT_CLKTCK, AT_EGID, AT_ENTRY, AT_EUID, AT_EXECFN, AT_FLAGS, AT_GID, AT_HWCAP, AT_PAGESZ, AT_PHDR,
    AT_PHENT, AT_PHNUM, AT_PLATFORM, AT_RANDOM, AT_SECURE, AT_UID,
};
use mach_core::elf::{ElfFile, ElfType, PT_INTERP, PT_PHDR, PT_TLS, SegmentFlags};
use mach_core::user_stack::{self, AuxValue, StackError, StackImage};

pub mod script;
pub use script::{Shebang, parse_shebang, script_argv};

/// The page size programs are told (AT_PAGESZ) and segments are mapped with.
pub const PAGE_SIZE: u64 = 4096;

/// Clock ticks per second (AT_CLKTCK), as Linux reports.
pub const CLOCK_TICKS: u64 = 100;

/// `#!` rewrites allowed before ELOOP: a chain of 5 scripts runs, 6 fail
/// (measured on Linux 6.18, whose exec_binprm allows depths 0..=5).
pub const MAX_INTERPRETER_DEPTH: usize = 5;

/// AT_PLATFORM's string.
pub const PLATFORM: &[u8] = b"x86_64";

/// Where images may go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecConfig {
    /// Lowest address a segment may use.
    pub min_addr: u64,
    /// Segments must end at or below this address.
    pub user_limit: u64,
    /// Where the lowest page of an ET_DYN (static-pie) image goes; page aligned.
    pub dyn_base: u64,
}

/// Linux's `mmap_min_addr` default.
pub const DEFAULT_MIN_ADDR: u64 = 0x1_0000;
/// Where static-pie images go by default (Linux's non-randomised ELF_ET_DYN_BASE).
pub const DEFAULT_DYN_BASE: u64 = 0x5555_5555_4000;

impl Default for ExecConfig {
    fn default() -> Self {
        ExecConfig {
            min_addr: DEFAULT_MIN_ADDR,
            user_limit: 0x7f00_0000_0000,
            dyn_base: DEFAULT_DYN_BASE,
        }
    }
}

/// How to map one PT_LOAD segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// Page-aligned address of the first file-backed page.
    pub vaddr: u64,
    /// Page-aligned file offset mapped at `vaddr`.
    pub file_offset: u64,
    /// Length of the file-backed mapping in bytes (whole pages; 0 if the
    /// segment has no file bytes). Bytes past the end of the file read as 0.
    pub file_len: u64,
    /// `[zero_start, zero_end)`: the rest of the last file page after the
    /// file bytes, to be zeroed (when the segment has bss); empty otherwise.
    pub zero_start: u64,
    pub zero_end: u64,
    /// `[anon_start, anon_end)`: anonymous zero-filled pages (the bss beyond
    /// the file pages); empty if `anon_start == anon_end`.
    pub anon_start: u64,
    pub anon_end: u64,
    pub prot: SegmentFlags,
}

/// The PT_TLS segment, load bias applied (the C library sets up TLS from it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tls {
    pub vaddr: u64,
    pub filesz: u64,
    pub memsz: u64,
    pub align: u64,
}

/// What loading an ELF image means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecPlan {
    pub elf_type: ElfType,
    /// Added to every address of the file (0 for ET_EXEC).
    pub load_bias: u64,
    /// The entry point, bias applied.
    pub entry: u64,
    /// One per PT_LOAD segment, in file order; map them in this order (a
    /// page two segments share ends up as the later one maps it, as in Linux).
    pub mappings: Vec<Mapping>,
    /// The initial program break: the page-aligned end of the highest segment.
    pub brk: u64,
    /// AT_PHDR: where the program headers are in memory (from PT_PHDR, else
    /// from the segment holding them in the file; 0 if none does, as in Linux).
    pub phdr: u64,
    pub phent: u64,
    pub phnum: u64,
    pub tls: Option<Tls>,
}

const fn page_down(x: u64) -> u64 {
    x & !(PAGE_SIZE - 1)
}

fn page_up(x: u64) -> Result<u64> {
    x.checked_add(PAGE_SIZE - 1).map(page_down).ok_or(Errno::ENOEXEC)
}

/// Checks a static x86_64 ELF image and plans its mappings. ENOEXEC for
/// anything this server cannot run (see the module documentation).
pub fn plan_elf(data: &[u8], config: &ExecConfig) -> Result<ExecPlan> {
    let noexec = |_| Errno::ENOEXEC;
    let elf = ElfFile::parse(data).map_err(noexec)?;
    if elf.find_program_header(PT_INTERP).map_err(noexec)?.is_some() {
        return Err(Errno::ENOEXEC);
    }
    let load_bias = match elf.elf_type() {
        ElfType::Exec => 0,
        ElfType::Dyn => {
            let lowest = elf
                .load_segments()
                .map_err(noexec)?
                .iter()
                .map(|s| s.vaddr)
                .min()
                .unwrap_or(0);
            page_down(config.dyn_base)
                .checked_sub(page_down(lowest))
                .ok_or(Errno::ENOEXEC)?
        }
    };
    let limit = config.user_limit.checked_sub(load_bias).ok_or(Errno::ENOEXEC)?;
    let segments = elf
        .validate_for_user(config.min_addr.saturating_sub(load_bias), limit)
        .map_err(noexec)?;
    let bias = |a: u64| a.checked_add(load_bias).ok_or(Errno::ENOEXEC);

    let mut mappings = Vec::new();
    mappings.try_reserve_exact(segments.len()).map_err(|_| Errno::ENOMEM)?;
    let mut brk = 0;
    for s in &segments {
        // Pages are mapped from the file, so address and offset must agree
        // modulo the page size whatever p_align says.
        if s.vaddr % PAGE_SIZE != s.file_offset % PAGE_SIZE {
            return Err(Errno::ENOEXEC);
        }
        let start = bias(s.vaddr)?;
        let page = page_down(start);
        let file_offset = s.file_offset - (start - page);
        let file_end = start.checked_add(s.filesz).ok_or(Errno::ENOEXEC)?;
        let mem_end = start.checked_add(s.memsz).ok_or(Errno::ENOEXEC)?;
        let (file_len, anon_start) = if s.filesz == 0 {
            (0, page)
        } else {
            let end = page_up(file_end)?;
            (end - page, end)
        };
        let (zero_start, zero_end) = if s.memsz > s.filesz && s.filesz > 0 {
            (file_end, page_up(file_end)?)
        } else {
            (file_end, file_end)
        };
        let anon_end = page_up(mem_end)?;
        brk = brk.max(page_up(mem_end)?);
        mappings.push(Mapping {
            vaddr: page,
            file_offset,
            file_len,
            zero_start,
            zero_end,
            anon_start,
            anon_end,
            prot: s.flags,
        });
    }

    let (phoff, phent, phnum) = elf.program_headers_info();
    let phdr = match elf.find_program_header(PT_PHDR).map_err(noexec)? {
        Some(ph) => bias(ph.vaddr)?,
        None => match segments
            .iter()
            .find(|s| phoff >= s.file_offset && phoff - s.file_offset < s.filesz)
        {
            Some(s) => bias(s.vaddr + (phoff - s.file_offset))?,
            None => 0,
        },
    };
    let tls = match elf.tls_segment().map_err(noexec)? {
        Some(t) => Some(Tls {
            vaddr: bias(t.vaddr)?,
            filesz: t.filesz,
            memsz: t.memsz,
            align: elf.find_program_header(PT_TLS).map_err(noexec)?.map_or(1, |p| p.align),
        }),
        None => None,
    };
    Ok(ExecPlan {
        elf_type: elf.elf_type(),
        load_bias,
        entry: bias(elf.entry())?,
        mappings,
        brk,
        phdr,
        phent: u64::from(phent),
        phnum: u64::from(phnum),
        tls,
    })
}

/// The ids AT_UID, AT_EUID, AT_GID and AT_EGID report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    pub egid: u32,
}

/// Number of entries [`auxv`] gives (AT_NULL is added by the stack builder).
pub const AUXV_LEN: usize = 17;

/// The auxiliary vector for `plan`, in Linux's order: AT_HWCAP, AT_PAGESZ,
/// AT_CLKTCK, AT_PHDR, AT_PHENT, AT_PHNUM, AT_BASE (0: no interpreter),
/// AT_FLAGS (0), AT_ENTRY, AT_UID, AT_EUID, AT_GID, AT_EGID, AT_SECURE (0),
/// AT_RANDOM, AT_EXECFN, AT_PLATFORM. AT_RANDOM, AT_EXECFN and AT_PLATFORM
/// point into the stack image [`user_stack::build_stack`] makes.
pub fn auxv<'a>(
    plan: &ExecPlan,
    creds: Credentials,
    hwcap: u64,
    execfn: &'a [u8],
    random: [u8; 16],
) -> [(u64, AuxValue<'a>); AUXV_LEN] {
    let w = AuxValue::Word;
    let t = u64::from;
    [
        (t(AT_HWCAP), w(hwcap)),
        (t(AT_PAGESZ), w(PAGE_SIZE)),
        (t(AT_CLKTCK), w(CLOCK_TICKS)),
        (t(AT_PHDR), w(plan.phdr)),
        (t(AT_PHENT), w(plan.phent)),
        (t(AT_PHNUM), w(plan.phnum)),
        (t(AT_BASE), w(0)),
        (t(AT_FLAGS), w(0)),
        (t(AT_ENTRY), w(plan.entry)),
        (t(AT_UID), w(t(creds.uid))),
        (t(AT_EUID), w(t(creds.euid))),
        (t(AT_GID), w(t(creds.gid))),
        (t(AT_EGID), w(t(creds.egid))),
        (t(AT_SECURE), w(0)),
        (t(AT_RANDOM), AuxValue::Random(random)),
        (t(AT_EXECFN), AuxValue::String(execfn)),
        (t(AT_PLATFORM), AuxValue::String(PLATFORM)),
    ]
}

/// The initial stack for `plan` ending at `stack_top` (argc, argv, envp,
/// [`auxv`], strings), at most `max_size` bytes. E2BIG if it does not fit.
#[allow(clippy::too_many_arguments)]
pub fn build_exec_stack(
    plan: &ExecPlan,
    stack_top: u64,
    args: &[&[u8]],
    env: &[&[u8]],
    execfn: &[u8],
    creds: Credentials,
    hwcap: u64,
    random: [u8; 16],
    max_size: usize,
) -> Result<StackImage> {
    let aux = auxv(plan, creds, hwcap, execfn, random);
    user_stack::build_stack(stack_top, args, env, &aux, max_size).map_err(|e| match e {
        StackError::TooLarge | StackError::TooManyStrings => Errno::E2BIG,
    })
}

/// What a file is to execve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Image<'a> {
    Elf(ExecPlan),
    Script(Shebang<'a>),
}

/// Classifies a file: an ELF image (planned), a `#!` script (parsed), or
/// ENOEXEC for anything else.
pub fn examine<'a>(data: &'a [u8], config: &ExecConfig) -> Result<Image<'a>> {
    if data.starts_with(b"\x7fELF") {
        return plan_elf(data, config).map(Image::Elf);
    }
    match parse_shebang(data)? {
        Some(s) => Ok(Image::Script(s)),
        None => Err(Errno::ENOEXEC),
    }
}

/// The outcome of [`resolve`]: the ELF file to load, the path it was opened
/// by, the arguments it gets, and its plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved<F> {
    pub file: F,
    pub path: Vec<u8>,
    pub argv: Vec<Vec<u8>>,
    pub plan: ExecPlan,
}

/// Follows `#!` interpreters from `path` to an ELF image. `open` gives a
/// file's contents by path (or its error: ENOENT, EACCES...). ELOOP past
/// [`MAX_INTERPRETER_DEPTH`] rewrites; ENOEXEC for a file that is neither.
pub fn resolve<F: AsRef<[u8]>>(
    path: &[u8],
    argv: &[&[u8]],
    config: &ExecConfig,
    mut open: impl FnMut(&[u8]) -> Result<F>,
) -> Result<Resolved<F>> {
    let mut path = path.to_vec();
    let mut args: Vec<Vec<u8>> = argv.iter().map(|a| a.to_vec()).collect();
    for depth in 0..=MAX_INTERPRETER_DEPTH {
        let file = open(&path)?;
        let next = match examine(file.as_ref(), config)? {
            Image::Elf(plan) => {
                return Ok(Resolved {
                    file,
                    path,
                    argv: args,
                    plan,
                });
            }
            Image::Script(s) => {
                if depth == MAX_INTERPRETER_DEPTH {
                    return Err(Errno::ELOOP);
                }
                let old: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
                (s.interpreter.to_vec(), script_argv(&s, &path, &old))
            }
        };
        (path, args) = next;
    }
    Err(Errno::ELOOP)
}

#[cfg(test)]
mod tests;
