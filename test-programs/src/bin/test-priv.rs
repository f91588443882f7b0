//! Privilege (issue 10): the host name port every task gets from
//! `mach_host_self()` answers only harmless information; what changes or
//! inspects the system is on the privileged host port, which the kernel
//! gives boot tasks (`--host-priv-port=` on their command line) and nobody
//! else.
//!
//! Checked here, as a boot task: host_priv came and works (its own calls and
//! the host ones); every host_priv call on the host name port fails with
//! KERN_INVALID_HOST and keeps no right it was sent; on a port of another
//! subsystem (the task port) with MIG_BAD_ID; the old id of
//! host_get_io_master on the host port is gone; host_priv is a kernel port
//! (no memory object, no exception port). Then, in tasks made with
//! `task_create`: one given nothing gets KERN_INVALID_HOST from every
//! privileged call through `mach_host_self()`, its inherited copy of the
//! parent's host_priv name names nothing privileged, and none of its send
//! rights is host_priv or the device master port (each is extracted into
//! this task and compared: a right to a port this task holds comes back
//! under its name here); one given host_priv explicitly can use it.
#![no_std]
#![no_main]

use mach_interfaces::PolyPort;
use mach_user::abi::kern_return::*;
use mach_user::abi::message::*;
use mach_user::abi::port::*;
use mach_user::ipc::{MsgBuf, mach_host_self, mach_msg};
use mach_user::ool::OolRegion;
use mach_user::rpc::{Rpc, host, host_priv, mach_port as mp, task, vm};
use test_programs::check_eq;
use test_programs::ipc_env::Env;

mach_user::entry!(main);

/// The host_priv calls [`privileged_calls`] makes, in order.
const CALLS: [&str; 6] = [
    "ipc_audit",
    "vm_pageout",
    "get_io_master",
    "default_memory_manager",
    "tasks_dump",
    "boot_data",
];

fn code<T>(r: &Result<T, i32>) -> i32 {
    match r {
        Ok(_) => KERN_SUCCESS,
        Err(e) => *e,
    }
}

/// Makes every host_priv call on `port`; returns each one's result code.
/// `manager` is the port offered as default memory manager (a send right).
/// Whatever a call that wrongly succeeded returned is given back.
fn privileged_calls(rpc: &mut Rpc, task: u32, port: u32, manager: u32) -> [i32; 6] {
    let audit = host_priv::host_ipc_audit(rpc, port);
    let pageout = host_priv::host_vm_pageout(rpc, port, 16);
    let master = host_priv::host_get_io_master(rpc, port);
    if let Ok(m) = master {
        let _ = mp::mach_port_deallocate(rpc, task, m);
    }
    let dmm = host_priv::vm_set_default_memory_manager(rpc, port, manager);
    let dump = host_priv::host_tasks_dump(rpc, port);
    let data = host_priv::host_boot_data(rpc, port, 0);
    let data_code = code(&data);
    if let Ok(d) = data {
        drop(OolRegion::bytes(d.data));
    }
    [
        code(&audit),
        code(&pageout),
        code(&master),
        code(&dmm),
        code(&dump),
        data_code,
    ]
}

#[repr(C, align(16))]
struct ChildStack([u8; 16384]);
static mut CHILD_STACK: ChildStack = ChildStack([0; 16384]);

/// The id of a child's report.
const REPORT_ID: i32 = 0x5052;
/// The child's names for the report port and for a granted host_priv.
const REPORT_NAME: u32 = 0x1000;
const GRANTED_NAME: u32 = 0x1100;
/// Words of a report: the six privileged calls through mach_host_self(),
/// host_info_basic through it, host_ipc_audit through the inherited copy of
/// the parent's host_priv name and through the granted name (0 if none).
const REPORT_WORDS: usize = 9;

/// Runs in a child made by `task_create` from this image: makes the
/// privileged calls with what it holds, reports the codes, and waits to be
/// terminated (so the parent can look at its names).
extern "C" fn child_main(granted: u64) -> ! {
    // The parent's name, remembered in the memory this task copied.
    let inherited = mach_user::start::host_priv().unwrap_or(0);
    mach_user::ipc::forget_task_self();
    let task = mach_user::ipc::task_self();
    let mut rpc = Rpc::new();
    let host = mach_host_self();
    let manager = mp::mach_port_allocate(&mut rpc, task, MACH_PORT_RIGHT_RECEIVE).unwrap_or(0);
    let poly = PolyPort {
        name: manager,
        disposition: MACH_MSG_TYPE_MAKE_SEND,
    };
    let _ = mp::mach_port_insert_right(&mut rpc, task, manager, poly);
    let mut words = [0i32; REPORT_WORDS];
    words[..6].copy_from_slice(&privileged_calls(&mut rpc, task, host, manager));
    words[6] = code(&host::host_info_basic(&mut rpc, host));
    words[7] = code(&host_priv::host_ipc_audit(&mut rpc, inherited));
    if granted != 0 {
        words[8] = code(&host_priv::host_ipc_audit(&mut rpc, granted as u32));
    }
    let mut b: MsgBuf<128> = MsgBuf::new();
    b.set_header(&MachMsgHeader {
        bits: mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, 0),
        size: 24 + 4 * REPORT_WORDS as u32,
        remote_port: REPORT_NAME,
        local_port: 0,
        voucher_port: 0,
        id: REPORT_ID,
    });
    for (i, w) in words.iter().enumerate() {
        b.put32(24 + 4 * i, *w as u32);
    }
    mach_msg(&mut b, MACH_SEND_MSG, 24 + 4 * REPORT_WORDS as u32, 0, 0);
    loop {
        mach_msg(&mut b, MACH_RCV_MSG, 0, manager, 0);
    }
}

/// What a child reported and which of its send rights were host_priv, the
/// device master port and the host name port.
struct ChildRun {
    words: Option<[i32; REPORT_WORDS]>,
    had_host_priv: bool,
    had_master: bool,
    had_host: bool,
}

/// Makes a child with `task_create` (given host_priv under GRANTED_NAME if
/// `grant`), runs [`child_main`] in it, and looks at its rights.
fn run_child(e: &mut Env, master: u32, grant: bool) -> ChildRun {
    let mut run = ChildRun {
        words: None,
        had_host_priv: false,
        had_master: false,
        had_host: false,
    };
    let report = e.port();
    let Ok(child) = task::task_create(&mut e.rpc, e.task, 1) else {
        let _ = e.destroy(report);
        return run;
    };
    let give = |e: &mut Env, name: u32, poly: PolyPort| mp::mach_port_insert_right(&mut e.rpc, child, name, poly);
    let _ = give(
        e,
        REPORT_NAME,
        PolyPort {
            name: report,
            disposition: MACH_MSG_TYPE_MAKE_SEND,
        },
    );
    if grant {
        let _ = give(
            e,
            GRANTED_NAME,
            PolyPort {
                name: e.host_priv,
                disposition: MACH_MSG_TYPE_COPY_SEND,
            },
        );
    }
    let stack_top = (&raw const CHILD_STACK as u64) + 16384 - 8;
    let arg = if grant { GRANTED_NAME as u64 } else { 0 };
    let th = task::thread_create_running(
        &mut e.rpc,
        child,
        child_main as *const () as usize as u64,
        stack_top,
        arg,
    );
    let mut b: MsgBuf<256> = MsgBuf::new();
    let kr = mach_msg(&mut b, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, report, 10_000);
    if kr == MACH_MSG_SUCCESS && b.header().id == REPORT_ID {
        let mut w = [0i32; REPORT_WORDS];
        for (i, x) in w.iter_mut().enumerate() {
            *x = b.get32(24 + 4 * i) as i32;
        }
        run.words = Some(w);
    }
    // Every send right the child holds, brought here: one to a port this
    // task holds comes back under this task's name for it.
    if let Ok(r) = mp::mach_port_names(&mut e.rpc, child) {
        let (names, types) = (OolRegion::u32s(r.names), OolRegion::u32s(r.types));
        for (n, t) in names.words().zip(types.words()) {
            if t & MACH_PORT_TYPE_SEND == 0 {
                continue;
            }
            if let Ok(p) = mp::mach_port_extract_right(&mut e.rpc, child, n, MACH_MSG_TYPE_COPY_SEND as u32) {
                run.had_host_priv |= p.name == e.host_priv;
                run.had_master |= p.name == master;
                run.had_host |= p.name == e.host;
                let _ = e.dealloc(p.name);
            }
        }
    }
    let _ = task::task_terminate(&mut e.rpc, child);
    let _ = e.dealloc(child);
    if let Ok(t) = th {
        let _ = e.dealloc(t);
    }
    let _ = e.destroy(report);
    run
}

/// host_priv in a boot task: given, and serving both subsystems.
fn boot_task(e: &mut Env, args: &mach_user::start::Args) -> (bool, u32) {
    let given = mach_user::start::host_priv_port(args);
    let mut ok = check_eq!("host_priv_port_given", given.is_some_and(|n| n == e.host_priv), true);
    ok &= check_eq!(
        "host_priv_is_a_send_right",
        e.ptype(e.host_priv),
        Ok(MACH_PORT_TYPE_SEND)
    );
    ok &= check_eq!("host_priv_is_not_the_host_port", e.host_priv != e.host, true);
    ok &= check_eq!(
        "host_calls_on_host_priv",
        host::host_info_basic(&mut e.rpc, e.host_priv).map(|i| i.max_cpus),
        Ok(1)
    );
    let audit = host_priv::host_ipc_audit(&mut e.rpc, e.host_priv).map(|a| a.violations);
    ok &= check_eq!("host_priv_ipc_audit", audit, Ok(0));
    ok &= check_eq!(
        "host_priv_vm_pageout",
        host_priv::host_vm_pageout(&mut e.rpc, e.host_priv, 0),
        Ok(0)
    );
    let master = host_priv::host_get_io_master(&mut e.rpc, e.host_priv);
    ok &= check_eq!("host_priv_get_io_master", master.is_ok(), true);
    ok &= check_eq!(
        "host_priv_tasks_dump",
        host_priv::host_tasks_dump(&mut e.rpc, e.host_priv),
        Ok(())
    );
    // No default pager is registered in this boot: unregistering none succeeds.
    ok &= check_eq!(
        "host_priv_default_memory_manager",
        host_priv::vm_set_default_memory_manager(&mut e.rpc, e.host_priv, MACH_PORT_NULL),
        Ok(())
    );
    ok &= check_eq!(
        "host_priv_boot_data_index_checked",
        host_priv::host_boot_data(&mut e.rpc, e.host_priv, u32::MAX).map(|d| d.name),
        Err(KERN_INVALID_ARGUMENT)
    );
    (ok, master.unwrap_or(0))
}

/// Every host_priv call on the host name port: KERN_INVALID_HOST, and the
/// right offered as default memory manager is released (its no-senders
/// notification fires once this task gives up its own right).
fn host_name_port(e: &mut Env) -> bool {
    let manager = e.port();
    e.make_send(manager);
    let notify = e.port();
    let poly = PolyPort {
        name: notify,
        disposition: MACH_MSG_TYPE_MAKE_SEND_ONCE,
    };
    let _ = mp::mach_port_request_notification(&mut e.rpc, e.task, manager, MACH_NOTIFY_NO_SENDERS, 0, poly);
    let codes = privileged_calls(&mut e.rpc, e.task, e.host, manager);
    let mut ok = true;
    for (name, code) in CALLS.iter().zip(codes) {
        let n = alloc_name("host_", name, "_needs_host_priv");
        ok &= check_eq!(n.as_str(), code, KERN_INVALID_HOST);
    }
    let _ = mp::mach_port_mod_refs(&mut e.rpc, e.task, manager, MACH_PORT_RIGHT_SEND, -1);
    let mut b: MsgBuf<128> = MsgBuf::new();
    let kr = mach_msg(&mut b, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, notify, 5_000);
    ok &= check_eq!(
        "host_priv_call_refused_keeps_no_right",
        (kr, b.header().id),
        (MACH_MSG_SUCCESS, MACH_NOTIFY_NO_SENDERS)
    );
    let _ = e.destroy(manager);
    let _ = e.destroy(notify);
    // Another subsystem's port: the id is unknown there.
    ok &= check_eq!(
        "host_priv_call_on_task_port",
        host_priv::host_ipc_audit(&mut e.rpc, e.task).map(|a| a.ports),
        Err(MIG_BAD_ID)
    );
    // host_get_io_master's old id on the host port (205) is served by nothing.
    let reply = e.port();
    let mut b: MsgBuf<128> = MsgBuf::new();
    let kr = test_programs::ipc_env::send(
        &mut test_programs::ipc_env::Buf::new(),
        e.host,
        MACH_MSG_TYPE_COPY_SEND,
        reply,
        MACH_MSG_TYPE_MAKE_SEND_ONCE,
        205,
        0,
        0,
    );
    let rkr = mach_msg(&mut b, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, reply, 5_000);
    ok &= check_eq!(
        "host_old_io_master_id_refused",
        (kr, rkr, b.header().id, b.get32(24) as i32),
        (MACH_MSG_SUCCESS, MACH_MSG_SUCCESS, 305, MIG_BAD_ID)
    );
    let _ = e.destroy(reply);
    ok
}

/// host_priv is a kernel port: no memory object, no exception port.
fn kernel_port(e: &mut Env) -> bool {
    let mapped = vm::vm_map(&mut e.rpc, e.task, 0, 4096, 1, e.host_priv, 0, 0, 3, 7, 1);
    let mut ok = check_eq!("vm_map_host_priv_refused", mapped, Err(KERN_INVALID_ARGUMENT));
    let poly = PolyPort {
        name: e.host_priv,
        disposition: MACH_MSG_TYPE_COPY_SEND,
    };
    ok &= check_eq!(
        "exception_port_not_host_priv",
        task::task_set_exception_port(&mut e.rpc, e.task, poly),
        Err(KERN_INVALID_ARGUMENT)
    );
    ok
}

fn children(e: &mut Env, master: u32) -> bool {
    let plain = run_child(e, master, false);
    let mut ok = check_eq!("task_create_child_reported", plain.words.is_some(), true);
    let w = plain.words.unwrap_or([KERN_SUCCESS; REPORT_WORDS]);
    for (i, name) in CALLS.iter().enumerate() {
        let n = alloc_name("task_create_child_", name, "_refused");
        ok &= check_eq!(n.as_str(), w[i], KERN_INVALID_HOST);
    }
    ok &= check_eq!("task_create_child_host_info", w[6], KERN_SUCCESS);
    ok &= check_eq!(
        "task_create_child_inherited_name_not_privileged",
        w[7] != KERN_SUCCESS,
        true
    );
    ok &= check_eq!(
        "task_create_child_rights",
        (plain.had_host, plain.had_host_priv, plain.had_master),
        (true, false, false)
    );
    let granted = run_child(e, master, true);
    ok &= check_eq!(
        "task_create_child_given_host_priv",
        (granted.words.map(|w| w[8]), granted.had_host_priv),
        (Some(KERN_SUCCESS), true)
    );
    ok
}

/// `PREFIX` `MIDDLE` `SUFFIX` as a test name.
fn alloc_name(prefix: &str, middle: &str, suffix: &str) -> Name {
    let mut n = Name { buf: [0; 64], len: 0 };
    n.push(prefix);
    n.push(middle);
    n.push(suffix);
    n
}

struct Name {
    buf: [u8; 64],
    len: usize,
}

impl Name {
    fn push(&mut self, s: &str) {
        for &b in s.as_bytes() {
            if self.len < self.buf.len() {
                self.buf[self.len] = b;
                self.len += 1;
            }
        }
    }
    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("?")
    }
}

fn main(args: mach_user::start::Args) -> i32 {
    let mut e = Env::new();
    let (mut ok, master) = boot_task(&mut e, &args);
    ok &= host_name_port(&mut e);
    ok &= kernel_port(&mut e);
    ok &= children(&mut e, master);
    if master != 0 {
        let _ = e.dealloc(master);
    }
    ok &= check_eq!("priv_audit", e.violations(), Ok(0));
    if ok { 0 } else { 1 }
}
