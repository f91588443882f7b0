//! The server's state and its receive loop over one port set: every
//! process's port (requests from its emulation library, and the no-senders
//! notification that says its task is gone) and the exception port all
//! processes share. Replies go out with a zero send timeout, so no process
//! can make the server wait; a call that must wait keeps its reply right
//! and is answered later.

use crate::exec::Emulator;
use crate::process::Table;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use mach_interfaces::{Dispatch, Release, exc, unix, wire};
use mach_user::abi::message::*;
use mach_user::abi::port::{MACH_NOTIFY_NO_SENDERS, MACH_PORT_RIGHT_PORT_SET, MACH_PORT_RIGHT_RECEIVE};
use mach_user::ipc::{MsgBuf, mach_msg, mach_task_self};
use mach_user::rpc::{Discard, Rpc, mach_port};
use unix_core::errno::Errno;
use unix_core::fs::Fs;

/// The receive buffer: the largest request (two in-line paths) and its trailer.
pub const BUFFER: usize = 12 * 1024;

/// Why the server could not start.
#[derive(Debug)]
pub enum StartError {
    NoHostPriv,
    BootData(&'static str, i32),
    RootFs,
    Emulator,
    Ports(i32),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::NoHostPriv => write!(f, "no --host-priv-port on the command line"),
            StartError::BootData(what, kr) => write!(f, "no boot data module '{what}' (error {kr:#x})"),
            StartError::RootFs => write!(f, "the root file system archive is not a newc cpio archive"),
            StartError::Emulator => write!(f, "the emulation library is not a valid image"),
            StartError::Ports(kr) => write!(f, "cannot make its ports (error {kr:#x})"),
        }
    }
}

/// The request being served: its header (where its reply goes), and
/// whether its handler kept it to answer later.
#[derive(Clone, Copy, Default)]
pub struct Current {
    pub header: MachMsgHeader,
    pub deferred: bool,
}

pub struct Unix {
    pub rpc: Rpc,
    pub task: u32,
    pub port_set: u32,
    pub exception_port: u32,
    pub emulator: Emulator,
    pub fs: Fs,
    pub blocked: crate::blocking::Blocked,
    pub console: crate::console::ConsoleInput,
    pub files: crate::files::Files,
    pub procs: Table,
    /// Calls answered ENOSYS, by number.
    pub enosys: BTreeMap<u64, u32>,
    /// The first process's status once it has exited.
    pub init_status: Option<i32>,
    pub current: Current,
    /// `--trace` on the command line: every Unix call is printed.
    pub trace: bool,
    /// What the server and the kernel held before the first process
    /// (`census.rs`), compared at shutdown.
    pub baseline: Option<crate::census::Census>,
    random: u64,
}

fn boot_data(rpc: &mut Rpc, host_priv: u32, want: &'static str) -> Result<Vec<u8>, StartError> {
    let key = mach_user::abi::device::device_name(want.as_bytes());
    let mut index = 0;
    loop {
        let r = mach_interfaces::host_priv::host_boot_data(rpc, host_priv, index)
            .map_err(|kr| StartError::BootData(want, kr))?;
        let region = mach_user::ool::OolRegion::bytes(r.data);
        if r.name == key {
            return Ok(region.to_vec());
        }
        index += 1;
    }
}

impl Unix {
    pub fn start(args: &mach_user::start::Args) -> Result<Unix, StartError> {
        let mut rpc = Rpc::new();
        let task = mach_task_self();
        let host_priv = mach_user::start::port_arg(args, "--host-priv-port=").ok_or(StartError::NoHostPriv)?;
        let rootfs = boot_data(&mut rpc, host_priv, "rootfs")?;
        let emul = boot_data(&mut rpc, host_priv, "emul")?;
        let mut fs = Fs::from_cpio(&rootfs).map_err(|_| StartError::RootFs)?;
        crate::files::populate(&mut fs);
        drop(rootfs);
        let emulator = Emulator::parse(&emul).ok_or(StartError::Emulator)?;
        let port_set =
            mach_port::mach_port_allocate(&mut rpc, task, MACH_PORT_RIGHT_PORT_SET).map_err(StartError::Ports)?;
        let exception_port =
            mach_port::mach_port_allocate(&mut rpc, task, MACH_PORT_RIGHT_RECEIVE).map_err(StartError::Ports)?;
        mach_port::mach_port_move_member(&mut rpc, task, exception_port, port_set).map_err(StartError::Ports)?;
        let mut console = crate::console::ConsoleInput::new();
        if let Ok(master) = mach_interfaces::host_priv::host_get_io_master(&mut rpc, host_priv) {
            let mode = mach_user::abi::device::D_READ | mach_user::abi::device::D_WRITE;
            if let Ok(dev) = mach_interfaces::device::device_open(
                &mut rpc,
                master,
                mode,
                mach_user::abi::device::DEVICE_NAME_CONSOLE,
            ) {
                if let Ok(reply) = mach_port::mach_port_allocate(&mut rpc, task, MACH_PORT_RIGHT_RECEIVE) {
                    let _ = mach_port::mach_port_move_member(&mut rpc, task, reply, port_set);
                    console.device = dev;
                    console.reply_port = reply;
                }
            }
        }
        let seed = mach_user::trap::clock_get_time(mach_user::abi::clock::SYSTEM_CLOCK).unwrap_or(1) | 1;
        Ok(Unix {
            rpc,
            task,
            port_set,
            exception_port,
            emulator,
            fs,
            blocked: Default::default(),
            console,
            files: Default::default(),
            procs: Table::new(),
            enosys: BTreeMap::new(),
            init_status: None,
            current: Current::default(),
            trace: args.iter().any(|a| a == "--trace"),
            baseline: None,
            random: seed,
        })
    }

    /// 64 random bits (xorshift seeded from the clock: AT_RANDOM and
    /// getrandom need unpredictability across runs, not cryptography).
    pub fn random(&mut self) -> u64 {
        let mut x = self.random;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.random = x;
        x
    }

    /// The contents of a file of the root file system, as text.
    pub fn read_file_string(&mut self, path: &str) -> Option<String> {
        let bytes = self.read_whole_at(unix_core::fs::ROOT_INO, path.as_bytes()).ok()?;
        String::from_utf8(bytes).ok()
    }

    /// Serves until the first process has exited; returns its status as a
    /// shell reports it.
    pub fn run(&mut self) -> i32 {
        let mut req: MsgBuf<BUFFER> = MsgBuf::new();
        let mut reply: MsgBuf<BUFFER> = MsgBuf::new();
        loop {
            if let Some(status) = self.init_status {
                self.shutdown();
                return status;
            }
            // Wake in time for the nearest sleeper.
            let (option, timeout) = match self.next_deadline() {
                Some(d) => {
                    let ms = d.saturating_sub(crate::blocking::now()).div_ceil(1_000_000);
                    (MACH_RCV_MSG | MACH_RCV_TIMEOUT, ms.min(u32::MAX as u64) as u32)
                }
                None => (MACH_RCV_MSG, 0),
            };
            let r = mach_msg(&mut req, option, 0, self.port_set, timeout);
            self.wake_sleepers();
            match r {
                MACH_MSG_SUCCESS => {}
                MACH_RCV_INVALID_NAME | MACH_RCV_PORT_DIED => return 1,
                _ => continue,
            }
            let h = req.header();
            let size = (h.size as usize).saturating_add(MACH_MSG_TRAILER_SIZE).min(BUFFER);
            self.current = Current {
                header: h,
                deferred: false,
            };
            let d = self.route(&req.0[..size], &mut reply.0);
            if let Dispatch::Reply(n) | Dispatch::BadId(n) = d {
                if n > 0 {
                    send_reply(&mut reply, n);
                }
            }
            if let Dispatch::BadId(_) = d {
                wire::release_descriptors(&mut Discard, &req.0[..size]);
            }
        }
    }

    fn route(&mut self, request: &[u8], reply: &mut [u8]) -> Dispatch {
        let Some(h) = wire::read_header(request) else {
            return Dispatch::NoReply;
        };
        if h.local_port == self.console.reply_port && h.local_port != 0 {
            self.console_input(request);
            return Dispatch::NoReply;
        }
        if h.local_port == self.exception_port {
            return exc::exc_server(self, request, reply);
        }
        if self.procs.by_port(h.local_port).is_some() {
            if h.id == MACH_NOTIFY_NO_SENDERS {
                self.process_gone(h.local_port);
                return Dispatch::NoReply;
            }
            let d = unix::unix_server(self, request, reply);
            if self.trace {
                self.trace_call(&h, request, reply, &d);
            }
            return d;
        }
        mach_interfaces::wire::bad_id(&h, reply)
    }

    /// The request being served will not be answered (its caller is gone or
    /// goes on another way): its reply right is given back.
    pub fn drop_reply(&mut self) {
        let h = self.current.header;
        self.release_reply_of(&h);
        self.current.header.remote_port = 0;
    }

    /// Gives back the reply right of a request that will not be answered.
    pub fn release_reply_of(&mut self, h: &MachMsgHeader) {
        if mach_port_valid(h.remote_port) {
            Discard.release_port(h.remote_port, mach_msgh_bits_remote(h.bits));
        }
    }

    /// Sends a reply built later (`n` from a generated `reply_*`), without
    /// waiting; one that cannot go has its rights released.
    pub fn send_later(&mut self, buf: &mut [u8], n: Option<usize>) {
        let Some(n) = n else { return };
        let r = mach_user::ipc::mach_msg_buf(buf, MACH_SEND_MSG | MACH_SEND_TIMEOUT, n as u32, 0, 0);
        if r != MACH_MSG_SUCCESS {
            if let Some(h) = wire::read_header(buf) {
                Discard.release_port(h.remote_port, mach_msgh_bits_remote(h.bits));
            }
        }
    }

    /// `--trace`: one line per Unix call: pid, routine, Linux number, result.
    fn trace_call(&self, h: &MachMsgHeader, request: &[u8], reply: &[u8], d: &Dispatch) {
        let pid = self.procs.by_port(h.local_port).map(|p| p.pid).unwrap_or(0);
        let complex = h.bits & MACH_MSGH_BITS_COMPLEX != 0;
        let number_at = if complex {
            28 + 16 * wire::get_u32(request, 24).unwrap_or(0) as usize
        } else {
            24
        };
        let number = wire::get_u64(request, number_at).unwrap_or(u64::MAX);
        let routine = unix::routine_name(h.id).unwrap_or("?");
        match d {
            Dispatch::Reply(_) => {
                let rc = wire::get_i32(reply, 24).unwrap_or(-1);
                let result = wire::get_u64(reply, 28).unwrap_or(0) as i64;
                mach_user::println!("unix: trace pid {pid} {routine} #{number} -> {result} (rc {rc})");
            }
            _ => mach_user::println!("unix: trace pid {pid} {routine} #{number} -> (no reply now)"),
        }
    }

    /// Counts an unimplemented call and answers ENOSYS.
    pub fn enosys(&mut self, number: u64) -> i64 {
        *self.enosys.entry(number).or_insert(0) += 1;
        Errno::ENOSYS.as_return()
    }

    /// Ends every process still alive and reports the unimplemented calls.
    fn shutdown(&mut self) {
        let ports: Vec<u32> = self.procs.ports().collect();
        for p in ports {
            self.end_process(p, crate::process::killed_by(linux_raw_sys::general::SIGKILL));
        }
        if !self.enosys.is_empty() {
            mach_user::print!("unix: calls answered ENOSYS:");
            for (n, count) in &self.enosys {
                mach_user::print!(" {n}x{count}");
            }
            mach_user::println!();
        }
        self.report_baseline();
    }
}

/// Sends `reply[..n]` without waiting; if it cannot go, its rights are
/// released rather than kept.
fn send_reply(reply: &mut MsgBuf<BUFFER>, n: usize) {
    let n = n.min(BUFFER) as u32;
    if mach_msg(reply, MACH_SEND_MSG | MACH_SEND_TIMEOUT, n, 0, 0) != MACH_MSG_SUCCESS {
        let h = reply.header();
        Discard.release_port(h.remote_port, mach_msgh_bits_remote(h.bits));
    }
}
