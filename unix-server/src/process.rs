//! Processes as Mach tasks: each live process's Mach side (its port, which
//! is its identity, its task and thread) and the server's state for it
//! (descriptors, cwd, signal actions, break), beside `unix_core::process`'s
//! table of pids, parents, groups, zombies and waits; and the calls that make,
//! replace and end processes: the first process, fork, execve, exit, wait4,
//! and a task's death however it came (the no-senders notification on the
//! process's port, or a fault the kernel reported to the exception port).

use crate::exec::{self, Ports, Segments, Start};
use crate::server::Unix;
use crate::signals::Signals;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use mach_interfaces::{PolyPort, exc::ExcServer, mach_port, task, unix};
use mach_user::abi::message::{MACH_MSG_TYPE_MAKE_SEND_ONCE, MachMsgHeader};
use mach_user::abi::port::{MACH_NOTIFY_NO_SENDERS, MACH_PORT_RIGHT_RECEIVE};
use unix_core::errno::Errno;
use unix_core::fdtable::FdTable;
use unix_core::fs::{Ino, ROOT_INO};
use unix_core::process::{Events, Pid, ProcessTable, WaitNow, WaitResult, WaitStatus};

/// A live process: its Mach task and thread, and the server's state for it.
pub struct Process {
    pub pid: Pid,
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
    /// A vfork parent waits for this child to exec or exit: its request.
    pub vfork_parent: Option<MachMsgHeader>,
}

/// Live processes by port, the pid of each, and the Unix table.
pub struct Table {
    by_port: BTreeMap<u32, Process>,
    pids: BTreeMap<Pid, u32>,
    pub unix: ProcessTable,
    /// Parked wait4 requests by token: the request's header.
    pub waits: BTreeMap<u64, MachMsgHeader>,
    next_token: u64,
}

impl Table {
    pub fn new() -> Table {
        Table {
            by_port: BTreeMap::new(),
            pids: BTreeMap::new(),
            unix: ProcessTable::default(),
            waits: BTreeMap::new(),
            next_token: 0,
        }
    }

    pub fn by_port(&self, port: u32) -> Option<&Process> {
        self.by_port.get(&port)
    }

    pub fn by_port_mut(&mut self, port: u32) -> Option<&mut Process> {
        self.by_port.get_mut(&port)
    }

    pub fn port_of(&self, pid: Pid) -> Option<u32> {
        self.pids.get(&pid).copied()
    }

    pub fn ports(&self) -> impl Iterator<Item = u32> + '_ {
        self.by_port.keys().copied()
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

/// As a shell reports a status: the exit code, or 128 + the signal.
pub fn shell_status(status: WaitStatus) -> i32 {
    match status {
        WaitStatus::Exited(code) => code as i32,
        WaitStatus::Signaled { sig, .. } => 128 + sig as i32,
        _ => 0,
    }
}

/// `exit`'s status word for a signal.
pub fn killed_by(sig: u32) -> WaitStatus {
    WaitStatus::signaled(sig, false).unwrap_or(WaitStatus::Exited(255))
}

fn basename(path: &[u8]) -> [u8; 16] {
    let base = path.rsplit(|&c| c == b'/').next().unwrap_or(path);
    let mut name = [0u8; 16];
    let n = base.len().min(15);
    name[..n].copy_from_slice(&base[..n]);
    name
}

/// The most `#!` interpreters one exec follows (Linux's limit).
const MAX_INTERPRETERS: usize = 4;

impl Unix {
    /// A new port for a process, in the port set.
    fn new_process_port(&mut self) -> Result<u32, Errno> {
        let port = mach_port::mach_port_allocate(&mut self.rpc, self.task, MACH_PORT_RIGHT_RECEIVE)
            .map_err(|_| Errno::EAGAIN)?;
        let _ = mach_port::mach_port_move_member(&mut self.rpc, self.task, port, self.port_set);
        Ok(port)
    }

    /// Asks for the no-senders notification on a process's port: it
    /// arrives on the port itself when the process's task is gone.
    fn arm_no_senders(&mut self, port: u32) {
        let notify = PolyPort {
            name: port,
            disposition: MACH_MSG_TYPE_MAKE_SEND_ONCE,
        };
        if let Ok(prev) =
            mach_port::mach_port_request_notification(&mut self.rpc, self.task, port, MACH_NOTIFY_NO_SENDERS, 1, notify)
        {
            if mach_user::abi::message::mach_port_valid(prev) {
                let _ = mach_port::mach_port_deallocate(&mut self.rpc, self.task, prev);
            }
        }
    }

    fn drop_port(&mut self, port: u32) {
        let _ = mach_port::mach_port_mod_refs(&mut self.rpc, self.task, port, MACH_PORT_RIGHT_RECEIVE, -1);
    }

    /// The program at `path` (from `cwd`), following `#!` lines: its image
    /// and the argument list to start it with.
    fn program(&mut self, cwd: Ino, path: &[u8], argv: &[&[u8]]) -> Result<(Segments, Vec<Vec<u8>>, Vec<u8>), Errno> {
        let mut path: Vec<u8> = path.into();
        let mut args: Vec<Vec<u8>> = argv.iter().map(|a| Vec::from(*a)).collect();
        for _ in 0..=MAX_INTERPRETERS {
            let bytes = self.read_whole_at(cwd, &path)?;
            if bytes.starts_with(b"#!") {
                let line = bytes[2..].split(|&c| c == b'\n').next().unwrap_or(&[]);
                let line = &line[..line.len().min(256)];
                let mut words = line.splitn(2, |&c| c == b' ' || c == b'\t');
                let interp: Vec<u8> = words
                    .next()
                    .unwrap_or(&[])
                    .iter()
                    .copied()
                    .filter(|&c| c != b'\r')
                    .collect();
                let interp = trim(&interp).to_vec();
                if interp.is_empty() {
                    return Err(Errno::ENOEXEC);
                }
                let arg = words.next().map(|a| trim(a).to_vec()).filter(|a| !a.is_empty());
                let mut new_args = alloc::vec![interp.clone()];
                new_args.extend(arg);
                new_args.push(path.clone());
                new_args.extend(args.into_iter().skip(1));
                args = new_args;
                path = interp;
                continue;
            }
            let segs = Segments::of_elf(&bytes, 0x1000, unix_abi::EMUL_BASE)?;
            return Ok((segs, args, path));
        }
        Err(Errno::ELOOP)
    }

    /// Makes a task running `path` for the process on `port`; returns the
    /// task, thread, break and the program's path.
    #[allow(clippy::type_complexity)]
    fn spawn(
        &mut self,
        port: u32,
        cwd: Ino,
        path: &[u8],
        argv: &[&[u8]],
        envp: &[&[u8]],
    ) -> Result<(u32, u32, u64, Vec<u8>), Errno> {
        let (segs, args, path) = self.program(cwd, path, argv)?;
        let args: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
        let task = task::task_create(&mut self.rpc, self.task, 0).map_err(|_| Errno::EAGAIN)?;
        let mut random = [0u8; 16];
        random[..8].copy_from_slice(&self.random().to_le_bytes());
        random[8..].copy_from_slice(&self.random().to_le_bytes());
        let start = Start {
            program: &segs,
            argv: &args,
            envp,
            random,
            uid: 0,
            gid: 0,
        };
        let ports = Ports {
            process: port,
            exception: self.exception_port,
        };
        match exec::load(&mut self.rpc, task, &self.emulator, &start, &ports) {
            Ok(thread) => Ok((task, thread, segs.end(), path)),
            Err(e) => {
                let _ = task::task_terminate(&mut self.rpc, task);
                let _ = mach_port::mach_port_deallocate(&mut self.rpc, self.task, task);
                Err(e)
            }
        }
    }

    /// Starts the first process (pid 1), its descriptors 0, 1, 2 on the console.
    pub fn start_init(&mut self, argv: &[String]) -> Result<(), Errno> {
        self.baseline = self.census();
        let port = self.new_process_port()?;
        let args: Vec<&[u8]> = argv.iter().map(|s| s.as_bytes()).collect();
        let env: [&[u8]; 3] = [b"PATH=/bin:/sbin:/usr/bin:/usr/sbin", b"HOME=/root", b"TERM=vt100"];
        let path = args.first().copied().unwrap_or(b"/bin/sh");
        let (task, thread, brk, exe) = match self.spawn(port, ROOT_INO, path, &args, &env) {
            Ok(x) => x,
            Err(e) => {
                self.drop_port(port);
                return Err(e);
            }
        };
        self.arm_no_senders(port);
        let pid = self.procs.unix.create_init()?;
        let mut fds = FdTable::new();
        let console = self
            .files
            .add(crate::files::Object::Console, linux_raw_sys::general::O_RDWR);
        for _ in 0..3 {
            self.files.retain(console);
            let _ = fds.insert(console, false);
        }
        self.release_file(console);
        self.procs.insert(Process {
            pid,
            port,
            task,
            thread,
            brk_start: brk,
            brk,
            umask: 0o022,
            name: basename(&exe),
            exe: String::from_utf8_lossy(&exe).into(),
            cwd: ROOT_INO,
            fds,
            signals: Signals::default(),
            vfork_parent: None,
        });
        Ok(())
    }

    /// fork and vfork: a copy-on-write copy of the caller's task whose first
    /// thread starts at the emulation library's fork entry on `stack` (the
    /// library restores the caller's registers there, rax = 0). The parent
    /// gets the child's pid; a vfork parent only once the child has exec'd
    /// or exited.
    pub fn fork(&mut self, port: u32, stack: u64, vfork: bool) -> Result<i64, Errno> {
        let parent = self.procs.by_port(port).ok_or(Errno::ESRCH)?;
        let (ppid, ptask) = (parent.pid, parent.task);
        let pid = self.procs.unix.fork(ppid)?;
        let undo = |s: &mut Unix| {
            let _ = s.procs.unix.exit(pid, WaitStatus::Exited(0));
            let _ = s.procs.unix.wait4(ppid, pid, linux_raw_sys::general::WNOHANG, u64::MAX);
        };
        let child_port = match self.new_process_port() {
            Ok(p) => p,
            Err(e) => {
                undo(self);
                return Err(e);
            }
        };
        let made = (|| {
            let task = task::task_create(&mut self.rpc, ptask, 1).map_err(|_| Errno::EAGAIN)?;
            let ports = Ports {
                process: child_port,
                exception: self.exception_port,
            };
            let started = exec::give_ports(&mut self.rpc, task, &self.emulator, &ports).and_then(|_| {
                task::thread_create_running(
                    &mut self.rpc,
                    task,
                    self.emulator.header.fork_child_entry,
                    stack,
                    pid as u64,
                )
                .map_err(|_| Errno::EAGAIN)
            });
            match started {
                Ok(thread) => Ok((task, thread)),
                Err(e) => {
                    let _ = task::task_terminate(&mut self.rpc, task);
                    let _ = mach_port::mach_port_deallocate(&mut self.rpc, self.task, task);
                    Err(e)
                }
            }
        })();
        let (task, thread) = match made {
            Ok(x) => x,
            Err(e) => {
                self.drop_port(child_port);
                undo(self);
                return Err(e);
            }
        };
        self.arm_no_senders(child_port);
        let parent = self.procs.by_port(port).ok_or(Errno::ESRCH)?;
        let fds = parent.fds.clone();
        let child = Process {
            pid,
            port: child_port,
            task,
            thread,
            brk_start: parent.brk_start,
            brk: parent.brk,
            umask: parent.umask,
            name: parent.name,
            exe: parent.exe.clone(),
            cwd: parent.cwd,
            fds,
            signals: parent.signals.for_child(),
            vfork_parent: vfork.then_some(self.current.header),
        };
        for (_, id, _) in child.fds.iter() {
            self.files.retain(*id);
        }
        self.procs.insert(child);
        self.current.deferred = vfork;
        Ok(pid as i64)
    }

    /// A vfork child has exec'd or exited: its parent's vfork returns.
    fn release_vfork_parent(&mut self, port: u32) {
        let Some(p) = self.procs.by_port_mut(port) else { return };
        let (Some(h), pid) = (p.vfork_parent.take(), p.pid) else {
            return;
        };
        self.reply_scalar_later(&h, pid as i64);
    }

    /// execve: the process's new program in a new task (its port, pid,
    /// descriptors without FD_CLOEXEC, cwd and ignored signals stay); the
    /// old task ends. No reply on success.
    pub fn execve(&mut self, port: u32, argc: u32, envc: u32, image: &[u8]) -> Result<(), Errno> {
        let mut strings = image.split(|&b| b == 0);
        let path = strings.next().filter(|p| !p.is_empty()).ok_or(Errno::ENOENT)?;
        let argv: Vec<&[u8]> = strings.by_ref().take(argc as usize).collect();
        let envp: Vec<&[u8]> = strings.take(envc as usize).collect();
        if argv.len() != argc as usize || envp.len() != envc as usize {
            return Err(Errno::EFAULT);
        }
        let cwd = self.procs.by_port(port).ok_or(Errno::ESRCH)?.cwd;
        let (task, thread, brk, exe) = self.spawn(port, cwd, path, &argv, &envp)?;
        self.drop_reply();
        let p = self.procs.by_port_mut(port).ok_or(Errno::ESRCH)?;
        let old_task = core::mem::replace(&mut p.task, task);
        let old_thread = core::mem::replace(&mut p.thread, thread);
        p.brk_start = brk;
        p.brk = brk;
        p.name = basename(&exe);
        p.exe = String::from_utf8_lossy(&exe).into();
        p.signals.reset_for_exec();
        let closed = p.fds.close_on_exec();
        let pid = p.pid;
        for (_, id) in closed {
            self.release_file(id);
        }
        let _ = self.procs.unix.exec(pid);
        let _ = task::task_terminate(&mut self.rpc, old_task);
        let _ = mach_port::mach_port_deallocate(&mut self.rpc, self.task, old_task);
        let _ = mach_port::mach_port_deallocate(&mut self.rpc, self.task, old_thread);
        self.release_vfork_parent(port);
        Ok(())
    }

    /// wait4(pid, options): answered now, or parked until a child changes.
    pub fn wait4(&mut self, port: u32, pid: i32, options: u32, out: &mut [u8]) -> Option<(i64, usize)> {
        let waiter = self.procs.by_port(port)?.pid;
        self.procs.next_token += 1;
        let token = self.procs.next_token;
        Some(match self.procs.unix.wait4(waiter, pid, options, token) {
            Ok(WaitNow::Done(r)) => wait_reply(Ok(r), out),
            Ok(WaitNow::NoChange) => (0, 0),
            Ok(WaitNow::Parked) => {
                self.procs.waits.insert(token, self.current.header);
                self.current.deferred = true;
                self.interrupt(port);
                (0, 0)
            }
            Err(e) => (e.as_return(), 0),
        })
    }

    /// Acts on what an exit did: SIGCHLD to the parents, parked waits
    /// answered, the waits of the process that went dropped.
    fn events(&mut self, ev: Events) {
        for c in ev.completed {
            if let Some(h) = self.procs.waits.remove(&c.token) {
                let mut buf = mach_interfaces::MsgBuf::<{ unix::UNIX_READ_REPLY_MAX_SIZE }>::new();
                let n = unix::reply_unix_read(&mut buf.0, &h, |data| {
                    let (result, len) = wait_reply(c.result, data);
                    unix::UnixReadReply { result, data: len }
                });
                self.send_later(&mut buf.0, n);
            }
        }
        for t in ev.dropped {
            if let Some(h) = self.procs.waits.remove(&t) {
                self.release_reply_of(&h);
            }
        }
        // SIGCHLD after the waits are answered: a wait this exit completed
        // gets its child, not EINTR.
        for n in &ev.notices {
            if let Some(port) = self.procs.port_of(n.parent) {
                self.signal(port, linux_raw_sys::general::SIGCHLD);
            }
        }
    }

    /// Ends the process on `port` with `status`: its task goes, its
    /// descriptors close, it becomes a zombie for its parent. The first
    /// process's end ends the run.
    pub fn end_process(&mut self, port: u32, status: WaitStatus) {
        let Some(mut p) = self.procs.remove(port) else { return };
        self.drop_blocked_of(port);
        if let Some(h) = p.vfork_parent.take() {
            self.reply_scalar_later(&h, p.pid as i64);
        }
        let _ = task::task_terminate(&mut self.rpc, p.task);
        let _ = mach_port::mach_port_deallocate(&mut self.rpc, self.task, p.task);
        let _ = mach_port::mach_port_deallocate(&mut self.rpc, self.task, p.thread);
        self.drop_port(p.port);
        for id in p.fds.close_all() {
            self.release_file(id);
        }
        if let Ok(ev) = self.procs.unix.exit(p.pid, status) {
            self.events(ev);
        }
        if p.pid == 1 && self.init_status.is_none() {
            self.init_status = Some(shell_status(status));
        }
    }

    /// The task of the process on `port` is gone without an exit (killed by
    /// the kernel, or ended itself with a Mach trap): as SIGKILL.
    pub fn process_gone(&mut self, port: u32) {
        self.end_process(port, killed_by(linux_raw_sys::general::SIGKILL));
    }

    /// exit and exit_group: no reply; the process ends.
    pub fn exit(&mut self, port: u32, code: i32) {
        self.drop_reply();
        self.end_process(port, WaitStatus::Exited(code as u8));
    }
}

/// wait4's answer: the pid, and in-line the status word then a zeroed
/// `struct rusage`.
fn wait_reply(r: Result<WaitResult, Errno>, out: &mut [u8]) -> (i64, usize) {
    match r {
        Ok(w) => {
            let n = (4 + 144).min(out.len());
            out[..n].fill(0);
            out[..4].copy_from_slice(&w.status.encode().to_le_bytes());
            (w.pid as i64, n)
        }
        Err(e) => (e.as_return(), 0),
    }
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&c| c != b' ' && c != b'\t').unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&c| c != b' ' && c != b'\t' && c != b'\r')
        .map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

impl Unix {
    /// A fault inside the emulation library's copies of program memory is
    /// the program's bad pointer, not its crash: the thread (waiting for
    /// this exception's answer, so not running) resumes at the library's
    /// recovery point, and the copy returns its failure (the call answers
    /// EFAULT). False if the fault was anywhere else.
    fn recover_copy(&mut self, thread: u32) -> bool {
        let h = self.emulator.header;
        let Ok(s) = mach_interfaces::thread::thread_get_state(&mut self.rpc, thread) else {
            return false;
        };
        if !h.in_copy(s.rip) {
            return false;
        }
        mach_interfaces::thread::thread_set_state(
            &mut self.rpc,
            thread,
            h.copy_fault,
            s.rsp,
            s.rflags,
            s.rax,
            s.rbx,
            s.rcx,
            s.rdx,
            s.rsi,
            s.rdi,
            s.rbp,
            s.r8,
            s.r9,
            s.r10,
            s.r11,
            s.r12,
            s.r13,
            s.r14,
            s.r15,
        )
        .is_ok()
    }
}

/// Faults of Unix processes arrive here (the server is every process's
/// exception port) and become the signal Linux would send; with no
/// handlers delivered yet, the process ends as killed by it.
impl ExcServer for Unix {
    fn exception_raise(
        &mut self,
        _port: u32,
        thread: u32,
        task: u32,
        exception: i32,
        code: i64,
        subcode: i64,
    ) -> Result<(), i32> {
        use linux_raw_sys::general as g;
        use mach_user::abi::exception::*;
        // A page fault, or the general protection fault of a non-canonical
        // address, inside the library's copies.
        if matches!(exception as u32, EXC_BAD_ACCESS | EXC_BAD_INSTRUCTION) && self.recover_copy(thread) {
            let _ = mach_port::mach_port_deallocate(&mut self.rpc, self.task, thread);
            let _ = mach_port::mach_port_deallocate(&mut self.rpc, self.task, task);
            return Ok(());
        }
        let signal = match exception as u32 {
            EXC_BAD_ACCESS => g::SIGSEGV,
            EXC_BAD_INSTRUCTION => g::SIGILL,
            EXC_ARITHMETIC => g::SIGFPE,
            EXC_BREAKPOINT => g::SIGTRAP,
            _ => g::SIGKILL,
        };
        let victim = self
            .procs
            .ports()
            .find(|&p| self.procs.by_port(p).is_some_and(|q| q.task == task));
        if let Some(port) = victim {
            if let Some(p) = self.procs.by_port(port) {
                mach_user::println!(
                    "unix: pid {} ({}): signal {signal} (exception {exception}, code {code:#x}, subcode {subcode:#x})",
                    p.pid,
                    core::str::from_utf8(&p.name).unwrap_or("?").trim_end_matches('\0')
                );
            }
            self.end_process(port, killed_by(signal));
        }
        let _ = mach_port::mach_port_deallocate(&mut self.rpc, self.task, thread);
        let _ = mach_port::mach_port_deallocate(&mut self.rpc, self.task, task);
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
