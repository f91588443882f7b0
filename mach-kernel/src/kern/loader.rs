//! Starting a program: an ELF image becomes a new task with one thread.
//!
//! The image is checked completely (`mach_core::elf`) before anything is
//! allocated; its segments are copied into fresh frames (pages shared by two
//! segments get the union of their permissions), a stack is mapped below
//! `USER_STACK_TOP` and filled with the System V start-up layout (argc, argv,
//! envp, auxv), and the first thread starts at the entry point.
//!
//! Pages are mapped eagerly for now; with the VM issue segments become
//! copy-on-write mappings of memory objects.

use super::sched;
use super::task::{Expectation, Task};
use super::thread::Thread;
use crate::arch::cpu;
use crate::arch::paging::{self, AddressSpace, MapError, PAGE_SIZE, PageFlags};
use crate::arch::trapframe::TrapFrame;
use crate::mem;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use mach_abi::layout::{USER_MIN, USER_STACK_SIZE, USER_STACK_TOP};
use mach_core::elf::{ElfError, ElfFile, ElfType, LoadSegment};
use mach_core::user_stack::{self, StackError};

#[derive(Debug)]
#[allow(dead_code)] // fields are shown through Debug in the boot log
pub enum LoadError {
    Elf(ElfError),
    NotExecutable,
    Map(MapError),
    Stack(StackError),
    NoThread,
}

impl From<ElfError> for LoadError {
    fn from(e: ElfError) -> Self {
        LoadError::Elf(e)
    }
}
impl From<MapError> for LoadError {
    fn from(e: MapError) -> Self {
        LoadError::Map(e)
    }
}
impl From<StackError> for LoadError {
    fn from(e: StackError) -> Self {
        LoadError::Stack(e)
    }
}

/// Largest initial stack image (arguments, environment, auxiliary vector).
const MAX_STACK_IMAGE: usize = 64 * 1024;

/// Loads `image` into a new task named `name` and makes its first thread
/// runnable. `more_args` may add arguments once the task (and its IPC space)
/// exists, for example the names of ports the kernel gave it.
pub fn load(
    name: &str,
    image: &[u8],
    args: &[&str],
    expectation: Option<Expectation>,
    more_args: &dyn Fn(&Arc<Task>) -> Vec<String>,
) -> Result<Arc<Task>, LoadError> {
    let elf = ElfFile::parse(image)?;
    if elf.elf_type() != ElfType::Exec {
        return Err(LoadError::NotExecutable);
    }
    let stack_bottom = USER_STACK_TOP - USER_STACK_SIZE;
    let segments = elf.validate_for_user(USER_MIN, stack_bottom - PAGE_SIZE)?;
    let mut space = AddressSpace::new()?;
    for seg in segments.iter() {
        load_segment(&mut space, &elf, seg)?;
    }
    let mut va = stack_bottom;
    while va < USER_STACK_TOP {
        map_zeroed(&mut space, va, PageFlags::user(true, false))?;
        va += PAGE_SIZE;
    }
    let mut auxv = Vec::new();
    auxv.push((user_stack::AT_PAGESZ, PAGE_SIZE));
    auxv.push((user_stack::AT_ENTRY, elf.entry()));
    let (phoff, phent, phnum) = elf.program_headers_info();
    if let Some(phdr) = segments.iter().find_map(|s| phdr_address(s, phoff)) {
        auxv.push((user_stack::AT_PHDR, phdr));
        auxv.push((user_stack::AT_PHENT, phent as u64));
        auxv.push((user_stack::AT_PHNUM, phnum as u64));
    }
    let task = Task::create(String::from(name), space, expectation);
    let started = start_thread(&task, &elf, args, &auxv, more_args);
    if let Err(e) = started {
        task.terminate(super::task::TaskExit::Exited(-1));
        return Err(e);
    }
    Ok(task)
}

fn start_thread(
    task: &Arc<Task>,
    elf: &ElfFile,
    args: &[&str],
    auxv: &[(u64, u64)],
    more_args: &dyn Fn(&Arc<Task>) -> Vec<String>,
) -> Result<(), LoadError> {
    let extra = more_args(task);
    let mut arg_bytes: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    arg_bytes.extend(extra.iter().map(|a| a.as_bytes()));
    let image = user_stack::build_initial_stack(
        USER_STACK_TOP,
        &arg_bytes,
        &[],
        auxv,
        Some(random_bytes()),
        MAX_STACK_IMAGE,
    )?;
    task.with_space(|space| write_user(space, image.initial_sp, &image.bytes))?;
    let frame = TrapFrame::new_user(elf.entry(), image.initial_sp, 0);
    let thread = Thread::new_user(task.clone(), &frame).map_err(|_| LoadError::NoThread)?;
    task.add_thread(thread.clone()).map_err(|_| LoadError::NoThread)?;
    sched::make_runnable(thread);
    Ok(())
}

/// Where the program headers are in memory, if a segment maps them.
fn phdr_address(seg: &LoadSegment, phoff: u64) -> Option<u64> {
    (phoff >= seg.file_offset && phoff < seg.file_offset + seg.filesz).then(|| seg.vaddr + (phoff - seg.file_offset))
}

/// Union of two sets of page permissions (writable if either is, executable if either is).
fn merge(a: PageFlags, b: PageFlags) -> PageFlags {
    let nx = PageFlags::NO_EXECUTE;
    PageFlags(((a.0 | b.0) & !nx) | (a.0 & b.0 & nx))
}

fn map_zeroed(space: &mut AddressSpace, va: u64, flags: PageFlags) -> Result<u64, MapError> {
    let frame = mem::alloc_frame().ok_or(MapError::OutOfMemory)?;
    paging::zero_frame(frame);
    if let Err(e) = space.map(va, frame, flags) {
        mem::free_frame(frame);
        return Err(e);
    }
    Ok(frame)
}

fn load_segment(space: &mut AddressSpace, elf: &ElfFile, seg: &LoadSegment) -> Result<(), LoadError> {
    let flags = PageFlags::user(seg.flags.write, seg.flags.execute);
    let bytes = elf.segment_bytes(seg);
    let file_end = seg.vaddr + seg.filesz;
    let mut page = seg.vaddr & !(PAGE_SIZE - 1);
    let end = seg.vaddr + seg.memsz;
    while page < end {
        let frame = match space.translate(page) {
            Some((frame, old)) => {
                space.set_flags(page, merge(old, flags))?;
                frame
            }
            None => map_zeroed(space, page, flags)?,
        };
        let lo = page.max(seg.vaddr);
        let hi = (page + PAGE_SIZE).min(file_end);
        if lo < hi {
            let src = &bytes[(lo - seg.vaddr) as usize..(hi - seg.vaddr) as usize];
            paging::write_frame(frame, (lo - page) as usize, src);
        }
        page += PAGE_SIZE;
    }
    Ok(())
}

/// Copies `bytes` to user address `addr` of a space that is not running, page by page.
fn write_user(space: &AddressSpace, addr: u64, bytes: &[u8]) -> Result<(), MapError> {
    let mut done = 0usize;
    while done < bytes.len() {
        let va = addr + done as u64;
        let page = va & !(PAGE_SIZE - 1);
        let (frame, _) = space.translate(page).ok_or(MapError::NotMapped)?;
        let offset = (va - page) as usize;
        let n = (PAGE_SIZE as usize - offset).min(bytes.len() - done);
        paging::write_frame(frame, offset, &bytes[done..done + n]);
        done += n;
    }
    Ok(())
}

/// AT_RANDOM bytes: not cryptographic, but different on every start.
fn random_bytes() -> [u8; 16] {
    let mut x = cpu::rdtsc() ^ 0x9e37_79b9_7f4a_7c15;
    let mut out = [0u8; 16];
    for chunk in out.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes());
    }
    out
}
