//! Processes as Mach tasks: the table from a process's port (its identity)
//! to its state, and the calls that make, replace and end processes:
//! the first process, fork, execve, exit, and a task's death however it
//! came (the no-senders notification on the process's port, or a fault the
//! kernel reported to the exception port).

use crate::exec::{self, Ports, Segments, Start};
use crate::server::Unix;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use mach_interfaces::{PolyPort, exc::ExcServer, mach_port, task};
use mach_user::abi::message::MACH_MSG_TYPE_MAKE_SEND_ONCE;
use mach_user::abi::port::{MACH_NOTIFY_NO_SENDERS, MACH_PORT_RIGHT_RECEIVE};
use crate::signals::Signals;
use unix_core::errno::Errno;
use unix_core::fdtable::FdTable;
use unix_core::fs::{Ino, ROOT_INO};

/// A Unix process: its Mach task and thread, and its Unix state.
pub struct Process {
    pub pid: i32,
    pub ppid: i32,
    pub pgid: i32,
    pub sid: i32,
    /// The server's receive right for the process's requests.
    pub port: u32,
    pub task: u32,
    pub thread: u32,
    pub brk_start: u64,
    pub brk: u64,
    pub umask: u32,
    pub name: [u8; 16],
    pub exe: String,
    pub cwd: Ino,
    pub fds: FdTable<u32>,
    pub signals: Signals,
}

/// All processes, by port and by pid.
pub struct Table {
    by_port: BTreeMap<u32, Process>,
    pids: BTreeMap<i32, u32>,
    next_pid: i32,
}

impl Table {
    pub fn new() -> Table {
        Table {
            by_port: BTreeMap::new(),
            pids: BTreeMap::new(),
            next_pid: 1,
        }
    }

    pub fn by_port(&self, port: u32) -> Option<&Process> {
        self.by_port.get(&port)
    }

    pub fn by_port_mut(&mut self, port: u32) -> Option<&mut Process> {
        self.by_port.get_mut(&port)
    }

    pub fn port_of(&self, pid: i32) -> Option<u32> {
        self.pids.get(&pid).copied()
    }

    pub fn ports(&self) -> impl Iterator<Item = u32> + '_ {
        self.by_port.keys().copied()
    }

    fn new_pid(&mut self) -> i32 {
        loop {
            let pid = self.next_pid;
            self.next_pid = if pid >= 32767 { 2 } else { pid + 1 };
            if !self.pids.contains_key(&pid) {
                return pid;
            }
        }
    }

    fn insert(&mut self, p: Process) {
        self.pids.insert(p.pid, p.port);
        self.by_port.insert(p.port, p);
    }

    fn remove(&mut self, port: u32) -> Option<Process> {
        let p = self.by_port.remove(&port)?;
        self.pids.remove(&p.pid);
        Some(p)
    }
}

/// The status word of a process that exited with `code` (wait's encoding).
pub fn exited(code: i32) -> i32 {
    (code & 0xff) << 8
}

/// The status word of a process killed by `signal`.
pub fn signaled(signal: i32) -> i32 {
    signal & 0x7f
}

/// As a shell reports a status: the exit code, or 128 + the signal.
pub fn shell_status(status: i32) -> i32 {
    if status & 0x7f == 0 { (status >> 8) & 0xff } else { 128 + (status & 0x7f) }
}

impl Unix {
    /// A new port for a process, in the port set, with a no-senders
    /// request so the server hears when its task is gone.
    fn new_process_port(&mut self) -> Result<u32, Errno> {
        let port = mach_port::mach_port_allocate(&mut self.rpc, self.task, MACH_PORT_RIGHT_RECEIVE).map_err(|_| Errno::EAGAIN)?;
        let _ = mach_port::mach_port_move_member(&mut self.rpc, self.task, port, self.port_set);
        Ok(port)
    }

    fn arm_no_senders(&mut self, port: u32) {
        let notify = PolyPort {
            name: port,
            disposition: MACH_MSG_TYPE_MAKE_SEND_ONCE,
        };
        if let Ok(prev) = mach_port::mach_port_request_notification(&mut self.rpc, self.task, port, MACH_NOTIFY_NO_SENDERS, 1, notify) {
            if mach_user::abi::message::mach_port_valid(prev) {
                let _ = mach_port::mach_port_deallocate(&mut self.rpc, self.task, prev);
            }
        }
    }

    /// A file's bytes and its program image, for exec.
    fn program(&mut self, path: &[u8]) -> Result<(Vec<u8>, Segments), Errno> {
        let bytes = self.read_whole_at(ROOT_INO, path)?;
        let segs = Segments::of_elf(&bytes, 0x1000, unix_abi::EMUL_BASE)?;
        Ok((bytes, segs))
    }

    /// Makes a task running `path` with `argv` and `envp` for the process on
    /// `port`; returns the task and thread.
    fn spawn(&mut self, port: u32, path: &[u8], argv: &[&[u8]], envp: &[&[u8]]) -> Result<(u32, u32, u64), Errno> {
        let (_bytes, segs) = self.program(path)?;
        let task = task::task_create(&mut self.rpc, self.task, 0).map_err(|_| Errno::EAGAIN)?;
        let mut random = [0u8; 16];
        random[..8].copy_from_slice(&self.random().to_le_bytes());
        random[8..].copy_from_slice(&self.random().to_le_bytes());
        let start = Start {
            program: &segs,
            argv,
            envp,
            execfn: path,
            random,
            uid: 0,
            gid: 0,
        };
        let ports = Ports {
            process: port,
            exception: self.exception_port,
        };
        match exec::load(&mut self.rpc, task, &self.emulator, &start, &ports) {
            Ok(thread) => Ok((task, thread, segs.end())),
            Err(e) => {
                let _ = task::task_terminate(&mut self.rpc, task);
                let _ = mach_port::mach_port_deallocate(&mut self.rpc, self.task, task);
                Err(e)
            }
        }
    }

    /// Starts the first process (pid 1).
    pub fn start_init(&mut self, argv: &[String]) -> Result<(), Errno> {
        let port = self.new_process_port()?;
        let args: Vec<&[u8]> = argv.iter().map(|s| s.as_bytes()).collect();
        let env: [&[u8]; 3] = [b"PATH=/bin:/sbin:/usr/bin:/usr/sbin", b"HOME=/", b"TERM=vt100"];
        let path = args.first().copied().unwrap_or(b"/bin/sh");
        let (task, thread, brk) = self.spawn(port, path, &args, &env)?;
        self.arm_no_senders(port);
        let pid = self.procs.new_pid();
        let mut name = [0u8; 16];
        let base = path.rsplit(|&c| c == b'/').next().unwrap_or(path);
        let n = base.len().min(15);
        name[..n].copy_from_slice(&base[..n]);
        self.procs.insert(Process {
            pid,
            ppid: 0,
            pgid: pid,
            sid: pid,
            port,
            task,
            thread,
            brk_start: brk,
            brk,
            umask: 0o022,
            name,
            exe: String::from_utf8_lossy(path).into(),
        });
        Ok(())
    }

    /// Ends the process on `port` with wait status `status`: its task goes,
    /// and (for now) the first process's end ends the run.
    pub fn end_process(&mut self, port: u32, status: i32) {
        let Some(p) = self.procs.remove(port) else { return };
        let _ = task::task_terminate(&mut self.rpc, p.task);
        let _ = mach_port::mach_port_deallocate(&mut self.rpc, self.task, p.task);
        let _ = mach_port::mach_port_deallocate(&mut self.rpc, self.task, p.thread);
        let _ = mach_port::mach_port_mod_refs(&mut self.rpc, self.task, p.port, MACH_PORT_RIGHT_RECEIVE, -1);
        if p.pid == 1 && self.init_status.is_none() {
            self.init_status = Some(shell_status(status));
        }
    }

    /// The task of the process on `port` is gone without an exit (killed by
    /// the kernel, or ended itself with a Mach trap): as SIGKILL.
    pub fn process_gone(&mut self, port: u32) {
        self.end_process(port, signaled(linux_raw_sys::general::SIGKILL as i32));
    }

    /// exit and exit_group: no reply; the process ends.
    pub fn exit(&mut self, port: u32, code: i32) {
        self.drop_reply();
        self.end_process(port, exited(code));
    }
}

/// Faults of Unix processes arrive here (the server is every process's
/// exception port) and become the signal Linux would send; with no
/// handlers yet, the process ends as killed by it.
impl ExcServer for Unix {
    fn exception_raise(&mut self, _port: u32, thread: u32, task: u32, exception: i32, code: i64, subcode: i64) -> Result<(), i32> {
        use linux_raw_sys::general as g;
        use mach_user::abi::exception::*;
        let signal = match exception {
            EXC_BAD_ACCESS => g::SIGSEGV,
            EXC_BAD_INSTRUCTION => g::SIGILL,
            EXC_ARITHMETIC => g::SIGFPE,
            EXC_BREAKPOINT => g::SIGTRAP,
            _ => g::SIGKILL,
        } as i32;
        let victim = self.procs.ports().find(|&p| self.procs.by_port(p).is_some_and(|q| q.task == task));
        if let Some(port) = victim {
            let name = self.procs.by_port(port).map(|p| (p.pid, p.name)).unwrap_or((0, [0; 16]));
            mach_user::println!(
                "unix: pid {} ({}) signal {signal} (exception {exception} code {code:#x} subcode {subcode:#x})",
                name.0,
                core::str::from_utf8(&name.1).unwrap_or("?").trim_end_matches('\0')
            );
            self.end_process(port, signaled(signal));
        }
        let _ = mach_port::mach_port_deallocate(&mut self.rpc, self.task, thread);
        let _ = mach_port::mach_port_deallocate(&mut self.rpc, self.task, task);
        // The task is gone: no reply is wanted (the kernel ended the wait).
        Ok(())
    }
}

impl mach_interfaces::Release for Unix {
    fn release_port(&mut self, name: u32, received_type: u8) {
        mach_user::rpc::Discard.release_port(name, received_type);
    }
    fn release_ool(&mut self, address: u64, size: u64) {
        mach_user::rpc::Discard.release_ool(address, size);
    }
    fn release_ool_ports(&mut self, address: u64, count: u32, received_type: u8) {
        mach_user::rpc::Discard.release_ool_ports(address, count, received_type);
    }
}
