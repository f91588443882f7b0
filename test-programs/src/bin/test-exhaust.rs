//! Exhaustion, in a boot of its own (scripts/test.sh; `make exhaust-iso`),
//! so that the kernel's global counts belong to this program alone: a task
//! that creates tasks, fills a name space or a VM map gets the documented
//! error at the kernel's limit, others keep working, and once the hogs are
//! gone the counts (ports, port sets, messages) are back at their baseline;
//! and tasks killed at random points with everything held give it all back
//! (`test_programs::death`).
#![no_std]
#![no_main]

use mach_user::abi::kern_return::*;
use mach_user::abi::port::*;
use mach_user::ool::OolRegion;
use mach_user::rpc::host_priv;
use mach_user::rpc::mach_port as mp;
use test_programs::check_eq;
use test_programs::ipc_env::*;

mach_user::entry!(main);

fn main(_args: mach_user::start::Args) -> i32 {
    let mut e = Env::new();
    // The bootstrap task finishes starting us first (it makes and drops
    // ports meanwhile): the counts are taken once nothing else runs.
    test_programs::bench::settle();
    let base = host_priv::host_ipc_audit(&mut e.rpc, e.host_priv).map(|a| (a.ports, a.port_sets, a.messages));
    let mut ok = true;
    ok &= task_limit(&mut e);
    ok &= space_limits(&mut e);
    ok &= test_programs::death::run(&mut e);
    test_programs::bench::settle();
    let after = host_priv::host_ipc_audit(&mut e.rpc, e.host_priv).map(|a| (a.ports, a.port_sets, a.messages));
    ok &= check_eq!("exhaustion_counts_back_at_baseline", after, base);
    if ok { 0 } else { 1 }
}

fn audit(e: &mut Env, name: &str) -> bool {
    test_programs::report(name, e.violations() == Ok(0), format_args!("{:?}", e.violations()))
}

/// A task that creates tasks in a loop is stopped with
/// KERN_RESOURCE_SHORTAGE at the kernel's per-creator limit (128 alive at
/// once) instead of running the kernel out of memory; its children work,
/// and once they are gone it can create again.
fn task_limit(e: &mut Env) -> bool {
    use mach_user::rpc::task;
    let mut children = [0u32; 200];
    let mut made = 0;
    let mut last = Ok(0);
    while made < children.len() {
        last = task::task_create(&mut e.rpc, e.task, 0);
        match last {
            Ok(c) => {
                children[made] = c;
                made += 1;
            }
            Err(_) => break,
        }
    }
    let mut ok = check_eq!("task_create_stops_at_the_limit", last, Err(KERN_RESOURCE_SHORTAGE));
    ok &= check_eq!("task_create_limit_is_128", made, 128);
    // A child made last is a working task: its port answers.
    ok &= check_eq!(
        "task_at_the_limit_answers",
        mp::mach_port_names(&mut e.rpc, children[made.saturating_sub(1)]).is_ok(),
        true
    );
    for &c in &children[..made] {
        let _ = task::task_terminate(&mut e.rpc, c);
        let _ = e.dealloc(c);
    }
    let again = task::task_create(&mut e.rpc, e.task, 0);
    ok &= check_eq!("task_create_after_the_children_end", again.is_ok(), true);
    if let Ok(c) = again {
        let _ = task::task_terminate(&mut e.rpc, c);
        let _ = e.dealloc(c);
    }
    ok & audit(e, "task_limit")
}

/// A task filling its name space and its VM map gets the documented errors
/// (KERN_NO_SPACE) at the kernel's limits (16,384 names, 4,096 map
/// entries), nothing else is held up, and its death gives everything back.
/// The victim is a child with no threads, filled through its task port.
fn space_limits(e: &mut Env) -> bool {
    use mach_user::rpc::{task, vm};
    const PAGE: u64 = 4096;
    let Ok(child) = task::task_create(&mut e.rpc, e.task, 0) else {
        return check_eq!("space_limits_child", false, true);
    };
    let mut names = 0u32;
    let mut last = Ok(0);
    while names < 20_000 {
        last = mp::mach_port_allocate(&mut e.rpc, child, MACH_PORT_RIGHT_RECEIVE);
        if last.is_err() {
            break;
        }
        names += 1;
    }
    let mut ok = check_eq!("name_space_full", last, Err(KERN_NO_SPACE));
    let held = mp::mach_port_names(&mut e.rpc, child).map(|r| OolRegion::u32s(r.names).words().count());
    ok &= check_eq!("name_space_limit_is_16384", held, Ok(16_384));
    let mine = mp::mach_port_allocate(&mut e.rpc, e.task, MACH_PORT_RIGHT_RECEIVE);
    ok &= check_eq!("others_allocate_names", mine.is_ok(), true);
    if let Ok(n) = mine {
        let _ = mp::mach_port_destroy(&mut e.rpc, e.task, n);
    }
    // Separate pages (a hole between each, so no two entries merge).
    let base = 0x1000_0000_0000u64;
    let mut entries = 0u64;
    let mut last = Ok(0);
    while entries < 5_000 {
        last = vm::vm_allocate(&mut e.rpc, child, base + 2 * entries * PAGE, PAGE, 0);
        if last.is_err() {
            break;
        }
        entries += 1;
    }
    ok &= check_eq!("vm_map_full", (last, entries), (Err(KERN_NO_SPACE), 4096));
    let mine = vm::vm_allocate(&mut e.rpc, e.task, 0, PAGE, 1);
    ok &= check_eq!("others_allocate_memory", mine.is_ok(), true);
    if let Ok(a) = mine {
        let _ = vm::vm_deallocate(&mut e.rpc, e.task, a, PAGE);
    }
    ok &= check_eq!("full_task_terminates", task::task_terminate(&mut e.rpc, child), Ok(()));
    let _ = e.dealloc(child);
    ok & audit(e, "space_limits")
}
