//! Creating the first tasks from GRUB's modules, and noticing when they are all
//! gone.
//!
//! Each `module2` line becomes a task; its command line's first word names the
//! task and all words except the kernel's own (`ktest=`, `expect=`) become its
//! `argv`. The first such module is the bootstrap task. (GNU Mach creates boot
//! tasks the same way; in later issues the bootstrap task starts the servers.)
//!
//! A line with the word `boot-data` is no program: its bytes are kept as boot
//! data (`vm::boot_data`, handed out by `host_boot_data`), unparsed, under
//! the line's first word. They are kept before the first task starts, so the
//! end-of-run frame audit's baseline already counts them.
//!
//! Every boot task gets a send right to the privileged host port, named on
//! its command line as GNU Mach names ports for boot modules
//! (`--host-priv-port=NAME`); tasks they make with `task_create` get none
//! unless given one.
//!
//! When every task has ended the kernel checks that every frame the tasks used
//! is free again (`test frames_reclaimed`), prints `mach: all tasks finished`
//! and, unless the kernel command line says `stay`, ends the QEMU run.

use super::lock;
use crate::arch::{cpu, multiboot::BootInfo, paging, phys};
use crate::kern::task::{self, Expectation, Task};
use crate::kern::{loader, pager, vm, wait};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use mach_core::cmdline;
use mach_core::ipc::{Ipc, PortId};

static STARTED: AtomicBool = AtomicBool::new(false);
static REPORTED: AtomicBool = AtomicBool::new(false);
static STAY: AtomicBool = AtomicBool::new(false);
/// `heap_slack=BYTES` on the command line: at the end of the run the kernel
/// reports `test heap_returned`, ok when the heap in use is back within
/// that many bytes of its figure before the first task.
static HEAP_SLACK: AtomicUsize = AtomicUsize::new(usize::MAX);
/// Free frames plus kernel page-table frames before the first task existed.
static BASELINE: AtomicUsize = AtomicUsize::new(0);
/// Kernel heap bytes in use before the first task existed.
static HEAP_BASELINE: AtomicUsize = AtomicUsize::new(0);

fn frames_accounted() -> usize {
    crate::mem::free_frames() + paging::kernel_table_frames()
}

fn expectation(words: &str) -> Option<Expectation> {
    let test_name = cmdline::value(words, "ktest")?;
    let vector = match cmdline::value(words, "expect")? {
        "syscall" => None,
        v => Some(v.parse().ok()?),
    };
    Some(Expectation {
        test_name: String::from(test_name),
        vector,
    })
}

/// The bootstrap port: its receive right belongs to the first boot task,
/// which serves names on it; every other boot task gets a send right.
static BOOTSTRAP_PORT: spin::Mutex<Option<PortId>> = spin::Mutex::new(None);

/// Gives a boot task its ports and says their names on the command line, as
/// GNU Mach passes port names to boot modules: the bootstrap port
/// (`--bootstrap-receive=NAME` for the first task, which serves it,
/// `--bootstrap-port=NAME` for the others) and the privileged host port
/// (`--host-priv-port=NAME`, every boot task).
fn boot_task_args(ipc: &mut Ipc, task: &Arc<Task>, first: bool, host_priv: PortId) -> Vec<String> {
    let mut args = Vec::new();
    if first {
        let name = (|| {
            let n = ipc
                .port_allocate(task.id, mach_abi::port::MACH_PORT_RIGHT_RECEIVE)
                .ok()?;
            let port = ipc.port_of(task.id, n)?;
            *BOOTSTRAP_PORT.lock() = Some(port);
            Some(n)
        })();
        args.extend(name.map(|n| alloc::format!("--bootstrap-receive={n:#x}")));
    } else if let Some(port) = *BOOTSTRAP_PORT.lock()
        && let Ok(n) = ipc.insert_make_send(task.id, port)
    {
        args.push(alloc::format!("--bootstrap-port={n:#x}"));
    }
    if let Ok(n) = ipc.insert_make_send(task.id, host_priv) {
        args.push(alloc::format!("--host-priv-port={n:#x}"));
    }
    args
}

/// Whether a module line is boot data rather than a program.
fn is_boot_data(line: &str) -> bool {
    line.split_whitespace().any(|w| w == "boot-data")
}

/// Keeps every boot data module (before the first task).
fn keep_boot_data(boot: &BootInfo) {
    for module in boot.modules().iter().filter(|m| is_boot_data(m.cmdline.as_str())) {
        let line = module.cmdline.as_str();
        let name = line.split_whitespace().next().unwrap_or("");
        let bytes = phys::module_bytes(module.range);
        let index = vm::boot_data::count();
        match vm::boot_data::keep(mach_abi::device::device_name(name.as_bytes()), bytes) {
            Ok(()) => log::info!("boot data {index} '{name}': {} bytes", bytes.len()),
            Err(kr) => log::error!("cannot keep boot data '{line}': {kr}"),
        }
    }
}

/// Creates a task for every boot module.
pub fn start(boot: &BootInfo) {
    STAY.store(cmdline::has_flag(boot.cmdline.as_str(), "stay"), Ordering::Relaxed);
    if let Some(slack) = cmdline::value(boot.cmdline.as_str(), "heap_slack").and_then(|v| v.parse().ok()) {
        HEAP_SLACK.store(slack, Ordering::Relaxed);
    }
    crate::kern::prof::ENABLED.store(cmdline::has_flag(boot.cmdline.as_str(), "profile"), Ordering::Relaxed);
    keep_boot_data(boot);
    BASELINE.store(frames_accounted(), Ordering::Relaxed);
    HEAP_BASELINE.store(phys::heap_usage().0, Ordering::Relaxed);
    let host_priv = lock::with(|k| k.host_priv);
    let programs = boot.modules().iter().filter(|m| !is_boot_data(m.cmdline.as_str()));
    for (i, module) in programs.enumerate() {
        let line = module.cmdline.as_str();
        let args: Vec<&str> = line
            .split_whitespace()
            .filter(|w| !w.starts_with("ktest=") && !w.starts_with("expect="))
            .collect();
        let name = args.first().copied().unwrap_or("(unnamed)");
        let expect = expectation(line);
        let image = phys::module_bytes(module.range);
        let more_args = |ipc: &mut Ipc, task: &Arc<Task>| boot_task_args(ipc, task, i == 0, host_priv);
        match lock::with(|k| loader::load(k, name, image, &args, expect.clone(), &more_args)) {
            Ok(task) => log::info!(
                "started task {} '{}'{} ({} KiB image)",
                task.id,
                name,
                if i == 0 { " (bootstrap)" } else { "" },
                image.len() / 1024
            ),
            Err(e) => {
                log::error!("cannot start module '{line}': {e:?}");
                if let Some(x) = expect {
                    crate::kprintln!("test {} ... FAILED: module did not load: {e:?}", x.test_name);
                }
            }
        }
    }
    STARTED.store(true, Ordering::Release);
}

/// Called by the idle loop: once all tasks are gone, audits frames and ends the run.
pub fn on_idle() {
    // Free slabs of the heap go back to its pool once a quarter MiB of small
    // blocks has been freed (a walk of the free lists: not on every idle).
    phys::heap_reclaim(256 * 1024);
    // Tables that grew for ports and VM objects since destroyed give their
    // memory back.
    lock::with(|k| k.ipc.shrink(256));
    vm::shrink_objects(256);
    if STARTED.load(Ordering::Acquire) && task::task_count() == 1 {
        lock::with(|k| pager::release_default_pager_if_alone(&mut k.ipc, &mut k.pagers));
    }
    if !STARTED.load(Ordering::Acquire) || task::task_count() != 0 || task::thread_count() != 0 {
        return;
    }
    if REPORTED.swap(true, Ordering::AcqRel) {
        return;
    }
    let before = BASELINE.load(Ordering::Relaxed);
    let now = frames_accounted();
    if now == before {
        crate::kprintln!("test frames_reclaimed ... ok");
    } else {
        crate::kprintln!(
            "test frames_reclaimed ... FAILED: {} frames free before the first task, {} after the last",
            before,
            now
        );
    }
    let copies = vm::copy::in_flight() + vm::kpages::in_flight();
    if copies == 0 {
        crate::kprintln!("test vm_copies_released ... ok");
    } else {
        crate::kprintln!(
            "test vm_copies_released ... FAILED: {} out-of-line copies never released",
            copies
        );
    }
    let f = vm::global_stats();
    log::info!(
        "vm: {} faults: {} zero-fill, {} copy-on-write, {} pager requests, {} soft",
        f.faults,
        f.zero_fill,
        f.cow_copy,
        f.pager_request,
        f.soft
    );
    lock::with(|k| k.ipc.shrink(0));
    vm::shrink_objects(0);
    wait::shrink();
    task::shrink();
    phys::heap_reclaim(0);
    let (used, free) = phys::heap_usage();
    let boot = HEAP_BASELINE.load(Ordering::Relaxed);
    log::info!("kernel heap: {used} bytes in use ({boot} before the first task), {free} free");
    let slack = HEAP_SLACK.load(Ordering::Relaxed);
    if slack != usize::MAX {
        if used <= boot + slack {
            crate::kprintln!("test heap_returned ... ok");
        } else {
            crate::kprintln!(
                "test heap_returned ... FAILED: {used} bytes in use, {boot} before the first task (slack {slack})"
            );
        }
    }
    crate::kern::prof::report();
    crate::kprintln!("mach: all tasks finished");
    if !STAY.load(Ordering::Relaxed) {
        cpu::qemu_exit(cpu::QemuExit::Success);
    }
}
