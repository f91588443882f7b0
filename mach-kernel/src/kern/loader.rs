//! Starting a program: an ELF image becomes a new task with one thread.
//!
//! The image is checked completely (`mach_core::elf`) before anything is
//! allocated; its segments are copied into fresh frames (pages shared by two
//! segments get the union of their permissions) that become the resident pages
//! of VM objects mapped in the task's VM map; a stack is mapped below
//! `USER_STACK_TOP` with the System V start-up layout (argc, argv, envp, auxv)
//! already in its top pages, and the first thread starts at the entry point.
//! Nothing is entered in the page tables here: the first touches fault the
//! pages in.

use super::lifecycle;
use super::sched;
use super::state::KernelState;
use super::task::{Expectation, Task, TaskExit};
use super::thread::Thread;
use crate::arch::cpu;
use crate::arch::paging::{AddressSpace, MapError, PAGE_SIZE};
use crate::arch::trapframe::TrapFrame;
use crate::mem::{self, Frame};
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use mach_abi::layout::{USER_MIN, USER_STACK_SIZE, USER_STACK_TOP};
use mach_core::elf::{ElfError, ElfFile, ElfType, LoadSegment};
use mach_core::ipc::Ipc;
use mach_core::user_stack::{self, StackError};
use mach_core::vm::VmProt;

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
    k: &mut KernelState,
    name: &str,
    image: &[u8],
    args: &[&str],
    expectation: Option<Expectation>,
    more_args: &dyn Fn(&mut Ipc, &Arc<Task>) -> Vec<String>,
) -> Result<Arc<Task>, LoadError> {
    let elf = ElfFile::parse(image)?;
    if elf.elf_type() != ElfType::Exec {
        return Err(LoadError::NotExecutable);
    }
    let stack_bottom = USER_STACK_TOP - USER_STACK_SIZE;
    let segments = elf.validate_for_user(USER_MIN, stack_bottom - PAGE_SIZE)?;
    let pages = build_image(&elf, &segments)?;
    let mut auxv = Vec::new();
    auxv.push((user_stack::AT_PAGESZ, PAGE_SIZE));
    auxv.push((user_stack::AT_ENTRY, elf.entry()));
    let (phoff, phent, phnum) = elf.program_headers_info();
    if let Some(phdr) = segments.iter().find_map(|s| phdr_address(s, phoff)) {
        auxv.push((user_stack::AT_PHDR, phdr));
        auxv.push((user_stack::AT_PHENT, phent as u64));
        auxv.push((user_stack::AT_PHNUM, phnum as u64));
    }
    let space = match AddressSpace::new() {
        Ok(s) => s,
        Err(e) => {
            pages.into_iter().for_each(|p| mem::free_frame(p.frame));
            return Err(e.into());
        }
    };
    let task = lifecycle::create_task(&mut k.ipc, String::from(name), space, expectation);
    let started = map_image(&task, pages).and_then(|()| start_thread(&mut k.ipc, &task, &elf, args, &auxv, more_args));
    if let Err(e) = started {
        lifecycle::terminate_task(&mut k.ipc, &mut k.pagers, &task, TaskExit::Exited(-1));
        return Err(e);
    }
    Ok(task)
}

fn start_thread(
    ipc: &mut Ipc,
    task: &Arc<Task>,
    elf: &ElfFile,
    args: &[&str],
    auxv: &[(u64, u64)],
    more_args: &dyn Fn(&mut Ipc, &Arc<Task>) -> Vec<String>,
) -> Result<(), LoadError> {
    let extra = more_args(ipc, task);
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
    map_stack(task, image.initial_sp, &image.bytes)?;
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

/// One page of the program image: its address, frame, and the union of the
/// permissions of the segments that cover it.
struct ImagePage {
    va: u64,
    frame: Frame,
    prot: VmProt,
}

/// Copies the segments into fresh frames, page by page (a page two segments
/// share gets both their bytes and the union of their permissions). On error
/// the frames made so far are dropped back to the allocator.
fn build_image(elf: &ElfFile, segments: &[LoadSegment]) -> Result<Vec<ImagePage>, LoadError> {
    let mut pages: BTreeMap<u64, (Frame, VmProt)> = BTreeMap::new();
    let release = |pages: BTreeMap<u64, (Frame, VmProt)>| pages.into_values().for_each(|(f, _)| mem::free_frame(f));
    for seg in segments {
        let mut prot = VmProt::READ;
        if seg.flags.write {
            prot = prot | VmProt::WRITE;
        }
        if seg.flags.execute {
            prot = prot | VmProt::EXECUTE;
        }
        let bytes = elf.segment_bytes(seg);
        let file_end = seg.vaddr + seg.filesz;
        let mut page = seg.vaddr & !(PAGE_SIZE - 1);
        while page < seg.vaddr + seg.memsz {
            if !pages.contains_key(&page) {
                let Some(frame) = mem::alloc_zeroed() else {
                    release(pages);
                    return Err(LoadError::Map(MapError::OutOfMemory));
                };
                pages.insert(page, (frame, VmProt::NONE));
            }
            if let Some((frame, p)) = pages.get_mut(&page) {
                *p = *p | prot;
                let lo = page.max(seg.vaddr);
                let hi = (page + PAGE_SIZE).min(file_end);
                if lo < hi {
                    frame.write(
                        (lo - page) as usize,
                        &bytes[(lo - seg.vaddr) as usize..(hi - seg.vaddr) as usize],
                    );
                }
            }
            page += PAGE_SIZE;
        }
    }
    Ok(pages
        .into_iter()
        .map(|(va, (frame, prot))| ImagePage { va, frame, prot })
        .collect())
}

/// Maps the image into the task's VM map: one object per run of contiguous
/// pages with the same permissions, its pages already resident.
fn map_image(task: &Task, pages: Vec<ImagePage>) -> Result<(), LoadError> {
    let mut pages = pages.into_iter().peekable();
    while let Some(first) = pages.next() {
        let (start, prot) = (first.va, first.prot);
        let mut run: Vec<(u64, Frame)> = alloc::vec![(0, first.frame)];
        while let Some(next) = pages.next_if(|p| p.prot == prot && p.va == start + (run.len() as u64) * PAGE_SIZE) {
            run.push((next.va - start, next.frame));
        }
        let size = run.len() as u64 * PAGE_SIZE;
        if let Err(e) = super::vm::map_resident(task, start, size, run, prot) {
            // Pages not yet handed to an object are still ours.
            pages.for_each(|p| mem::free_frame(p.frame));
            return Err(LoadError::Map(e));
        }
    }
    Ok(())
}

/// Maps the initial stack with the start-up block `bytes` ending at its top.
fn map_stack(task: &Task, initial_sp: u64, bytes: &[u8]) -> Result<(), LoadError> {
    let bottom = USER_STACK_TOP - USER_STACK_SIZE;
    let mut resident: Vec<(u64, Frame)> = Vec::new();
    let mut page = initial_sp & !(PAGE_SIZE - 1);
    while page < USER_STACK_TOP {
        let Some(mut frame) = mem::alloc_zeroed() else {
            resident.into_iter().for_each(|(_, f)| mem::free_frame(f));
            return Err(LoadError::Map(MapError::OutOfMemory));
        };
        let lo = page.max(initial_sp);
        let hi = page + PAGE_SIZE;
        let from = (lo - initial_sp) as usize;
        let to = ((hi - initial_sp) as usize).min(bytes.len());
        if from < to {
            frame.write((lo - page) as usize, &bytes[from..to]);
        }
        resident.push((page - bottom, frame));
        page += PAGE_SIZE;
    }
    super::vm::map_resident(task, bottom, USER_STACK_SIZE, resident, VmProt::READ | VmProt::WRITE)
        .map_err(LoadError::Map)
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
