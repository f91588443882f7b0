//! Building a Unix process's address space in a fresh task: the program's
//! ELF segments, the emulation library at its fixed place, the main stack
//! with argv, envp and the auxiliary vector, the process's two port names,
//! its emulation vector and exception port, and its first thread.
//!
//! Segments are written into memory the server allocates in the task
//! (`vm_allocate` + `vm_write`, which the kernel turns into copy-on-write
//! when a page or more); bss is demand-zero.

use alloc::vec;
use alloc::vec::Vec;
use mach_core::elf::{ElfFile, ElfType};
use mach_core::user_stack;
use mach_interfaces::{PolyPort, mach_port, task, vm};
use mach_user::abi::message::MACH_MSG_TYPE_MAKE_SEND;
use mach_user::abi::port::MACH_PORT_RIGHT_RECEIVE;
use mach_user::rpc::Rpc;
use unix_abi::{EMUL_BASE, EmulHeader, PROCESS_PORT_NAME, REPLY_PORT_NAME, STACK_SIZE, STACK_TOP};
use unix_core::errno::Errno;

pub const PAGE: u64 = 4096;

pub fn page_down(a: u64) -> u64 {
    a & !(PAGE - 1)
}

pub fn page_up(a: u64) -> Option<u64> {
    Some(a.checked_add(PAGE - 1)? & !(PAGE - 1))
}

/// A loadable image: its segments as (address, memory size, file bytes,
/// protection), in address order.
pub struct Segments {
    pub list: Vec<Segment>,
    pub entry: u64,
    /// Where the program headers are in memory (AT_PHDR), their entry size
    /// and count.
    pub phdr: (u64, u64, u64),
}

pub struct Segment {
    pub vaddr: u64,
    pub memsz: u64,
    pub bytes: Vec<u8>,
    pub prot: u32,
}

impl Segments {
    /// The segments of a static x86_64 executable (ET_EXEC) placed within
    /// `[min, limit)`: ENOEXEC for anything else.
    pub fn of_elf(data: &[u8], min: u64, limit: u64) -> Result<Segments, Errno> {
        let elf = ElfFile::parse(data).map_err(|_| Errno::ENOEXEC)?;
        if elf.elf_type() != ElfType::Exec {
            return Err(Errno::ENOEXEC);
        }
        let segs = elf.validate_for_user(min, limit).map_err(|_| Errno::ENOEXEC)?;
        let (phoff, phent, phnum) = elf.program_headers_info();
        let mut list = Vec::new();
        let mut phdr = 0;
        for s in segs.iter() {
            // AT_PHDR: the program headers' address, from the segment that
            // maps their file offset.
            if phoff >= s.file_offset && phoff < s.file_offset.saturating_add(s.filesz) {
                phdr = s.vaddr + (phoff - s.file_offset);
            }
            let prot = (s.flags.read as u32) | (s.flags.write as u32) << 1 | (s.flags.execute as u32) << 2;
            list.push(Segment {
                vaddr: s.vaddr,
                memsz: s.memsz,
                bytes: elf.segment_bytes(s).to_vec(),
                prot,
            });
        }
        list.sort_by_key(|s| s.vaddr);
        Ok(Segments {
            list,
            entry: elf.entry(),
            phdr: (phdr, phent as u64, phnum as u64),
        })
    }

    /// The page-aligned end of the highest segment (the initial break).
    pub fn end(&self) -> u64 {
        self.list
            .iter()
            .filter_map(|s| page_up(s.vaddr.saturating_add(s.memsz)))
            .max()
            .unwrap_or(0)
    }
}

/// Maps `segs` into `task`: each run of pages the segments cover is
/// allocated once, written with the segments' bytes, and protected segment
/// by segment (a page two segments share gets both protections).
pub fn map_segments(rpc: &mut Rpc, task: u32, segs: &Segments) -> Result<(), Errno> {
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for s in &segs.list {
        let start = page_down(s.vaddr);
        let end = page_up(s.vaddr + s.memsz).ok_or(Errno::ENOEXEC)?;
        match runs.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => runs.push((start, end)),
        }
    }
    for &(start, end) in &runs {
        vm::vm_allocate(rpc, task, start, end - start, 0).map_err(|_| Errno::ENOMEM)?;
        // The bytes of every segment in the run, page-aligned.
        let inside = |s: &&Segment| s.vaddr >= start && s.vaddr < end;
        let written_end = segs
            .list
            .iter()
            .filter(inside)
            .filter_map(|s| page_up(s.vaddr + s.bytes.len() as u64))
            .max()
            .unwrap_or(start);
        if written_end > start {
            let mut image = vec![0u8; (written_end - start) as usize];
            for s in segs.list.iter().filter(inside) {
                let at = (s.vaddr - start) as usize;
                image[at..at + s.bytes.len()].copy_from_slice(&s.bytes);
            }
            vm::vm_write(rpc, task, start, &image).map_err(|_| Errno::ENOMEM)?;
        }
    }
    for (i, s) in segs.list.iter().enumerate() {
        let start = page_down(s.vaddr);
        let end = page_up(s.vaddr + s.memsz).ok_or(Errno::ENOEXEC)?;
        let mut prot = s.prot;
        if let Some(prev) = i.checked_sub(1).and_then(|j| segs.list.get(j)) {
            if page_up(prev.vaddr + prev.memsz).unwrap_or(0) > start {
                prot |= prev.prot;
            }
        }
        if let Some(next) = segs.list.get(i + 1) {
            if page_down(next.vaddr) < end {
                prot |= next.prot;
            }
        }
        vm::vm_protect(rpc, task, start, end - start, 0, prot).map_err(|_| Errno::ENOMEM)?;
    }
    Ok(())
}

/// The emulation library, parsed once: its segments and header.
pub struct Emulator {
    pub segments: Segments,
    pub header: EmulHeader,
}

impl Emulator {
    pub fn parse(image: &[u8]) -> Option<Emulator> {
        let segments = Segments::of_elf(image, EMUL_BASE, unix_abi::EMUL_END).ok()?;
        let first = segments.list.first()?;
        if first.vaddr != EMUL_BASE {
            return None;
        }
        let header = EmulHeader::parse(&first.bytes)?;
        Some(Emulator { segments, header })
    }
}

/// What a process's start needs beyond its task.
pub struct Start<'a> {
    pub program: &'a Segments,
    pub argv: &'a [&'a [u8]],
    pub envp: &'a [&'a [u8]],
    pub random: [u8; 16],
    pub uid: u32,
    pub gid: u32,
}

/// Ports a process's task is given.
pub struct Ports {
    /// The server's receive right for the process (its identity).
    pub process: u32,
    /// The server's exception port.
    pub exception: u32,
}

/// Fills a fresh `task` for `start`: segments, the emulation library, the
/// stack, the port names, the emulation vector and exception port; then
/// starts its thread at the program's entry. Returns the thread's port.
pub fn load(rpc: &mut Rpc, task: u32, emul: &Emulator, start: &Start, ports: &Ports) -> Result<u32, Errno> {
    map_segments(rpc, task, start.program)?;
    map_segments(rpc, task, &emul.segments)?;
    let sp = stack(rpc, task, start)?;
    give_ports(rpc, task, emul, ports)?;
    let thread = task::thread_create_running(rpc, task, start.program.entry, sp, 0).map_err(|_| Errno::EAGAIN)?;
    Ok(thread)
}

/// The process's two names, its emulation vector (every number to the
/// library's entry) and its exception port: what `load` and a fork's
/// child both need.
pub fn give_ports(rpc: &mut Rpc, task: u32, emul: &Emulator, ports: &Ports) -> Result<(), Errno> {
    let send = PolyPort {
        name: ports.process,
        disposition: MACH_MSG_TYPE_MAKE_SEND,
    };
    mach_port::mach_port_insert_right(rpc, task, PROCESS_PORT_NAME, send).map_err(|_| Errno::EAGAIN)?;
    mach_port::mach_port_allocate_name(rpc, task, MACH_PORT_RIGHT_RECEIVE, REPLY_PORT_NAME)
        .map_err(|_| Errno::EAGAIN)?;
    task::task_set_emulation_vector(
        rpc,
        task,
        mach_user::abi::emulation::EMULATION_CATCH_ALL,
        &[emul.header.syscall_entry],
    )
    .map_err(|_| Errno::EAGAIN)?;
    let exc = PolyPort {
        name: ports.exception,
        disposition: MACH_MSG_TYPE_MAKE_SEND,
    };
    task::task_set_exception_port(rpc, task, exc).map_err(|_| Errno::EAGAIN)?;
    Ok(())
}

/// The main stack: demand-zero, with the start-up image at its top.
fn stack(rpc: &mut Rpc, task: u32, s: &Start) -> Result<u64, Errno> {
    use linux_raw_sys::auxvec as g;
    let bottom = STACK_TOP - STACK_SIZE;
    vm::vm_allocate(rpc, task, bottom, STACK_SIZE, 0).map_err(|_| Errno::ENOMEM)?;
    let (phdr, phent, phnum) = s.program.phdr;
    let auxv = [
        (g::AT_PHDR as u64, phdr),
        (g::AT_PHENT as u64, phent),
        (g::AT_PHNUM as u64, phnum),
        (g::AT_PAGESZ as u64, PAGE),
        (g::AT_BASE as u64, 0),
        (g::AT_FLAGS as u64, 0),
        (g::AT_ENTRY as u64, s.program.entry),
        (g::AT_UID as u64, s.uid as u64),
        (g::AT_EUID as u64, s.uid as u64),
        (g::AT_GID as u64, s.gid as u64),
        (g::AT_EGID as u64, s.gid as u64),
        (g::AT_SECURE as u64, 0),
        (g::AT_CLKTCK as u64, 100),
        (g::AT_HWCAP as u64, 0),
    ];
    let image = user_stack::build_initial_stack(STACK_TOP, s.argv, s.envp, &auxv, Some(s.random), 256 * 1024)
        .map_err(|_| Errno::E2BIG)?;
    let len = image.bytes.len() as u64;
    let start = page_down(STACK_TOP - len);
    let mut pages = vec![0u8; (STACK_TOP - start) as usize];
    let at = (STACK_TOP - len - start) as usize;
    pages[at..].copy_from_slice(&image.bytes);
    vm::vm_write(rpc, task, start, &pages).map_err(|_| Errno::ENOMEM)?;
    Ok(image.initial_sp)
}
