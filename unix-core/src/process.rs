//! The process table and the exit/wait state machine.
//!
//! This module owns which processes exist and how they relate: process ids
//! (allocated in `1..=pid_max`, never reusing an id that is still a live
//! process, process group or session id, wrapping around), parent and
//! children, process group and session ids, the run state (running, stopped
//! by a signal, zombie with its wait status), and the limit on the number of
//! processes (`fork` beyond it gives EAGAIN).
//!
//! It decides what `exit`, `wait4`, `setpgid`, `setsid` and friends do, and
//! tells the server what follows as data: which parent to send SIGCHLD to
//! ([`ChildNotice`]), which parked `wait4` requests an event completes
//! ([`CompletedWait`]; the server keeps their reply ports under the
//! [`WaitToken`] it chose) and which were dropped because their process died.
//! Signal dispositions live in [`crate::signal`]; the server tells this table
//! whether a process has SIGCHLD ignored (children reaped at once) with
//! [`ProcessTable::set_autoreap`].
//!
//! Processes are single-threaded here (one thread group per process).

use crate::errno::{Errno, Result};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use linux_raw_sys::general::{__WALL, __WCLONE, __WNOTHREAD, WCONTINUED, WNOHANG, WUNTRACED};

mod status;
pub use status::{CONTINUED_STATUS, WaitStatus, exited_status, signaled_status, stopped_status};

/// A Linux process id (`pid_t`).
pub type Pid = i32;

/// The largest process id handed out by default (Linux's default `pid_max` is
/// 32768, so ids run up to 32767).
pub const PID_MAX: Pid = 32767;

/// The process orphans are reparented to.
pub const INIT_PID: Pid = 1;

/// Default limit on the number of processes (zombies included).
pub const DEFAULT_MAX_PROCESSES: usize = 1024;

/// Most `wait4` requests one process may have parked at once.
pub const MAX_PARKED_WAITS_PER_PROCESS: usize = 16;

/// The server's name for a parked `wait4` (it keeps the reply port under it).
pub type WaitToken = u64;

/// Run state of a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcState {
    Running,
    /// Stopped by this signal.
    Stopped(u8),
    /// Exited; kept until its parent waits for it.
    Zombie(WaitStatus),
}

/// What the table knows about one process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: Pid,
    /// 0 for init and for processes orphaned after init died.
    pub ppid: Pid,
    pub pgid: Pid,
    pub sid: Pid,
    pub state: ProcState,
    /// Whether the process has called execve since it was forked.
    pub execed: bool,
}

/// Tells the server to send SIGCHLD to `parent` about `child`; the siginfo's
/// `si_code`/`si_status` come from [`WaitStatus::child_code`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChildNotice {
    pub parent: Pid,
    pub child: Pid,
    pub status: WaitStatus,
}

/// What a completed `wait4` returns: the child's pid and its status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitResult {
    pub pid: Pid,
    pub status: WaitStatus,
}

/// A parked `wait4` that an event completed: answer `token` with `result`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompletedWait {
    pub token: WaitToken,
    pub waiter: Pid,
    pub result: Result<WaitResult>,
}

/// What the server must do after an exit, stop or continue.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Events {
    /// SIGCHLD notices, in order (the parent first, then init for zombies it inherited).
    pub notices: Vec<ChildNotice>,
    /// Parked waits to answer now.
    pub completed: Vec<CompletedWait>,
    /// Parked waits of the process that exited: drop their reply ports.
    pub dropped: Vec<WaitToken>,
}

/// What `wait4` did at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitNow {
    /// A child changed state; reply now.
    Done(WaitResult),
    /// WNOHANG and no child has changed state: reply 0.
    NoChange,
    /// Parked under the token; an event will complete it.
    Parked,
}

/// Which children a `wait4` is for, resolved at call time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Selector {
    Pid(Pid),
    Any,
    Group(Pid),
}

/// The `wait4` options this table implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct WaitOptions {
    nohang: bool,
    untraced: bool,
    continued: bool,
    /// `__WCLONE` without `__WALL`: only "clone" children, and there are none.
    clone_only: bool,
}

impl WaitOptions {
    fn parse(raw: u32) -> Result<WaitOptions> {
        if raw & !(WNOHANG | WUNTRACED | WCONTINUED | __WNOTHREAD | __WCLONE | __WALL) != 0 {
            return Err(Errno::EINVAL);
        }
        Ok(WaitOptions {
            nohang: raw & WNOHANG != 0,
            untraced: raw & WUNTRACED != 0,
            continued: raw & WCONTINUED != 0,
            clone_only: raw & __WCLONE != 0 && raw & __WALL == 0,
        })
    }
}

/// A stop or continue not yet reported to a WUNTRACED / WCONTINUED wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Report {
    Stopped(u8),
    Continued,
}

#[derive(Clone, Debug)]
struct Process {
    ppid: Pid,
    pgid: Pid,
    sid: Pid,
    state: ProcState,
    execed: bool,
    autoreap: bool,
    report: Option<Report>,
    /// In the order they became children (fork or reparenting).
    children: Vec<Pid>,
}

#[derive(Clone, Copy, Debug)]
struct ParkedWait {
    waiter: Pid,
    selector: Selector,
    options: WaitOptions,
    token: WaitToken,
}

/// The process table.
#[derive(Clone, Debug)]
pub struct ProcessTable {
    procs: BTreeMap<Pid, Process>,
    /// Members (zombies included) per process group id, and per session id:
    /// an id in use as either is not handed out as a new pid.
    groups: BTreeMap<Pid, usize>,
    sessions: BTreeMap<Pid, usize>,
    parked: Vec<ParkedWait>,
    last_pid: Pid,
    pid_max: Pid,
    max_processes: usize,
}

impl Default for ProcessTable {
    fn default() -> Self {
        ProcessTable::new(DEFAULT_MAX_PROCESSES, PID_MAX)
    }
}

fn bump(map: &mut BTreeMap<Pid, usize>, id: Pid) {
    *map.entry(id).or_insert(0) += 1;
}

fn drop_one(map: &mut BTreeMap<Pid, usize>, id: Pid) {
    if let Some(n) = map.get_mut(&id) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(&id);
        }
    }
}

impl ProcessTable {
    /// An empty table holding at most `max_processes` processes with ids in
    /// `1..=pid_max` (`pid_max` is clamped to at least 1).
    pub fn new(max_processes: usize, pid_max: Pid) -> ProcessTable {
        ProcessTable {
            procs: BTreeMap::new(),
            groups: BTreeMap::new(),
            sessions: BTreeMap::new(),
            parked: Vec::new(),
            last_pid: 0,
            pid_max: pid_max.max(1),
            max_processes,
        }
    }

    /// Creates init (pid 1, its own process group and session, no parent).
    /// EEXIST if pid 1 is in use, EAGAIN if the table is full.
    pub fn create_init(&mut self) -> Result<Pid> {
        if self.id_in_use(INIT_PID) {
            return Err(Errno::EEXIST);
        }
        if self.procs.len() >= self.max_processes {
            return Err(Errno::EAGAIN);
        }
        self.insert(INIT_PID, 0, INIT_PID, INIT_PID, false);
        self.last_pid = self.last_pid.max(INIT_PID);
        Ok(INIT_PID)
    }

    /// Number of processes, zombies included.
    pub fn len(&self) -> usize {
        self.procs.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.procs.is_empty()
    }

    /// Facts about `pid`, if it exists (zombies included).
    pub fn get(&self, pid: Pid) -> Option<ProcessInfo> {
        self.procs.get(&pid).map(|p| ProcessInfo {
            pid,
            ppid: p.ppid,
            pgid: p.pgid,
            sid: p.sid,
            state: p.state,
            execed: p.execed,
        })
    }

    /// The children of `pid`, oldest first (empty if it does not exist).
    pub fn children(&self, pid: Pid) -> &[Pid] {
        self.procs.get(&pid).map(|p| p.children.as_slice()).unwrap_or(&[])
    }

    /// `getppid`. ESRCH if `pid` does not exist.
    pub fn getppid(&self, pid: Pid) -> Result<Pid> {
        self.procs.get(&pid).map(|p| p.ppid).ok_or(Errno::ESRCH)
    }

    /// Records whether `pid` has SIGCHLD ignored (SIG_IGN or SA_NOCLDWAIT): its
    /// children are then removed as they exit, never becoming zombies. fork
    /// copies the setting. ESRCH if `pid` does not exist.
    pub fn set_autoreap(&mut self, pid: Pid, on: bool) -> Result<()> {
        self.live_mut(pid)?.autoreap = on;
        Ok(())
    }

    /// `fork`: a new child of `parent` in its process group and session.
    /// ESRCH if `parent` is missing or a zombie; EAGAIN at the process limit
    /// or when no pid is free.
    pub fn fork(&mut self, parent: Pid) -> Result<Pid> {
        let p = self.live(parent)?;
        let (pgid, sid, autoreap) = (p.pgid, p.sid, p.autoreap);
        if self.procs.len() >= self.max_processes {
            return Err(Errno::EAGAIN);
        }
        let pid = self.alloc_pid()?;
        self.insert(pid, parent, pgid, sid, autoreap);
        if let Some(p) = self.procs.get_mut(&parent) {
            p.children.push(pid);
        }
        Ok(pid)
    }

    /// `execve` succeeded in `pid`: from now on its parent may no longer
    /// change its process group (EACCES).
    pub fn exec(&mut self, pid: Pid) -> Result<()> {
        self.live_mut(pid)?.execed = true;
        Ok(())
    }

    /// `exit`/`exit_group` or death by a signal: `pid` becomes a zombie with
    /// `status` (Exited or Signaled, else EINVAL); its children go to init
    /// (zombies among them notify init); its parent is notified and its parked
    /// waits may complete; with no parent, or a parent that ignores SIGCHLD,
    /// the process is removed at once. ESRCH if missing or already a zombie.
    pub fn exit(&mut self, pid: Pid, status: WaitStatus) -> Result<Events> {
        if !status.is_exit() {
            return Err(Errno::EINVAL);
        }
        let proc = self.live_mut(pid)?;
        proc.state = ProcState::Zombie(status);
        proc.report = None;
        let children = core::mem::take(&mut proc.children);
        let ppid = proc.ppid;

        let mut ev = Events::default();
        let mut kept = Vec::new();
        for w in self.parked.drain(..) {
            if w.waiter == pid {
                ev.dropped.push(w.token);
            } else {
                kept.push(w);
            }
        }
        self.parked = kept;

        let mut orphan_notices = Vec::new();
        let init_has_zombie = self.reparent_to_init(children, &mut orphan_notices);

        let parent = self.procs.get(&ppid).filter(|_| ppid != 0).map(|p| p.autoreap);
        match parent {
            Some(autoreap) => {
                ev.notices.push(ChildNotice {
                    parent: ppid,
                    child: pid,
                    status,
                });
                if autoreap {
                    self.remove(pid);
                }
            }
            None => self.remove(pid),
        }
        ev.notices.extend(orphan_notices);
        if parent.is_some() {
            self.settle_waits(ppid, &mut ev);
        }
        if init_has_zombie && ppid != INIT_PID {
            self.settle_waits(INIT_PID, &mut ev);
        }
        Ok(ev)
    }

    /// A stop signal took effect in `pid`: it stops, and a WUNTRACED wait of
    /// its parent may report it (once). Nothing happens if it is already
    /// stopped. ESRCH if missing or a zombie; EINVAL for a bad signal number.
    pub fn stop(&mut self, pid: Pid, sig: u32) -> Result<Events> {
        let sig = status::signal_byte(sig)?;
        let proc = self.live_mut(pid)?;
        if proc.state != ProcState::Running {
            return Ok(Events::default());
        }
        proc.state = ProcState::Stopped(sig);
        proc.report = Some(Report::Stopped(sig));
        Ok(self.notify_parent(pid, WaitStatus::Stopped(sig)))
    }

    /// SIGCONT reached a stopped `pid`: it runs again, and a WCONTINUED wait of
    /// its parent may report it (once). Nothing happens if it is running.
    /// ESRCH if missing or a zombie.
    pub fn cont(&mut self, pid: Pid) -> Result<Events> {
        let proc = self.live_mut(pid)?;
        if !matches!(proc.state, ProcState::Stopped(_)) {
            return Ok(Events::default());
        }
        proc.state = ProcState::Running;
        proc.report = Some(Report::Continued);
        Ok(self.notify_parent(pid, WaitStatus::Continued))
    }

    /// `wait4(pid, &status, options, NULL)` by `waiter`. `pid` > 0: that
    /// child; -1: any child; 0: children in the waiter's process group;
    /// < -1: children in group `-pid` (`i32::MIN` gives ESRCH). EINVAL for
    /// unknown options; ECHILD if no child matches. A zombie found is reaped;
    /// a stop (WUNTRACED) or continue (WCONTINUED) is reported once. When
    /// nothing changed: WNOHANG gives [`WaitNow::NoChange`], otherwise the
    /// request is parked under `token` (EBUSY if the token is already
    /// parked, EAGAIN past [`MAX_PARKED_WAITS_PER_PROCESS`]).
    pub fn wait4(&mut self, waiter: Pid, pid: i32, options: u32, token: WaitToken) -> Result<WaitNow> {
        let options = WaitOptions::parse(options)?;
        let w = self.live(waiter)?;
        let selector = match pid {
            i32::MIN => return Err(Errno::ESRCH),
            -1 => Selector::Any,
            0 => Selector::Group(w.pgid),
            p if p < 0 => Selector::Group(-p),
            p => Selector::Pid(p),
        };
        let wait = ParkedWait {
            waiter,
            selector,
            options,
            token,
        };
        if let Some(r) = self.try_wait(&wait)? {
            return Ok(WaitNow::Done(r));
        }
        if options.nohang {
            return Ok(WaitNow::NoChange);
        }
        if self.parked.iter().any(|p| p.token == token) {
            return Err(Errno::EBUSY);
        }
        if self.parked.iter().filter(|p| p.waiter == waiter).count() >= MAX_PARKED_WAITS_PER_PROCESS {
            return Err(Errno::EAGAIN);
        }
        self.parked.push(wait);
        Ok(WaitNow::Parked)
    }

    /// Withdraws a parked wait (a signal interrupted it: the server answers
    /// EINTR). Returns its waiter, or None if no such wait is parked.
    pub fn cancel_wait(&mut self, token: WaitToken) -> Option<Pid> {
        let i = self.parked.iter().position(|w| w.token == token)?;
        Some(self.parked.remove(i).waiter)
    }

    /// `getpgid(pid)` by `caller` (`pid` 0: the caller). ESRCH if missing.
    pub fn getpgid(&self, caller: Pid, pid: Pid) -> Result<Pid> {
        let target = if pid == 0 { caller } else { pid };
        self.procs.get(&target).map(|p| p.pgid).ok_or(Errno::ESRCH)
    }

    /// `getsid(pid)` by `caller` (`pid` 0: the caller). ESRCH if missing.
    pub fn getsid(&self, caller: Pid, pid: Pid) -> Result<Pid> {
        let target = if pid == 0 { caller } else { pid };
        self.procs.get(&target).map(|p| p.sid).ok_or(Errno::ESRCH)
    }

    /// `setpgid(pid, pgid)` by `caller`, with Linux's rules: `pid` 0 means the
    /// caller and `pgid` 0 means `pid`; EINVAL if `pgid` < 0; ESRCH unless the
    /// target is the caller or one of its children; EPERM for a child in
    /// another session; EACCES for a child that has exec'd; EPERM for a
    /// session leader; EPERM unless `pgid` equals the target's pid or names
    /// an existing group in the caller's session.
    pub fn setpgid(&mut self, caller: Pid, pid: Pid, pgid: Pid) -> Result<()> {
        if pgid < 0 {
            return Err(Errno::EINVAL);
        }
        let c = self.live(caller)?;
        let caller_sid = c.sid;
        let target = if pid == 0 { caller } else { pid };
        let pgid = if pgid == 0 { target } else { pgid };
        let t = self.procs.get(&target).ok_or(Errno::ESRCH)?;
        if target != caller {
            if t.ppid != caller {
                return Err(Errno::ESRCH);
            }
            if t.sid != caller_sid {
                return Err(Errno::EPERM);
            }
            if t.execed {
                return Err(Errno::EACCES);
            }
        }
        if t.sid == target {
            return Err(Errno::EPERM);
        }
        if pgid != target && !self.procs.values().any(|p| p.pgid == pgid && p.sid == caller_sid) {
            return Err(Errno::EPERM);
        }
        let old = t.pgid;
        if old != pgid {
            if let Some(t) = self.procs.get_mut(&target) {
                t.pgid = pgid;
            }
            drop_one(&mut self.groups, old);
            bump(&mut self.groups, pgid);
        }
        Ok(())
    }

    /// `setsid()` by `caller`: a new session and process group, both with the
    /// caller's pid. EPERM if a process group with that id exists (the caller
    /// leads a group, or once did and members remain).
    pub fn setsid(&mut self, caller: Pid) -> Result<Pid> {
        self.live(caller)?;
        if self.groups.contains_key(&caller) {
            return Err(Errno::EPERM);
        }
        let p = self.live_mut(caller)?;
        let (old_pgid, old_sid) = (p.pgid, p.sid);
        p.pgid = caller;
        p.sid = caller;
        drop_one(&mut self.groups, old_pgid);
        drop_one(&mut self.sessions, old_sid);
        bump(&mut self.groups, caller);
        bump(&mut self.sessions, caller);
        Ok(caller)
    }

    /// The members of process group `pgid` (zombies included), in pid order.
    pub fn group_members(&self, pgid: Pid) -> Vec<Pid> {
        self.procs
            .iter()
            .filter(|(_, p)| p.pgid == pgid)
            .map(|(&pid, _)| pid)
            .collect()
    }

    /// The processes `kill(pid, sig)` by `caller` addresses: `pid` > 0 that
    /// process; 0 the caller's group; -1 every process but init and the
    /// caller; < -1 group `-pid`. ESRCH if there is none (or `pid` is
    /// `i32::MIN`). Zombies are included: a signal to one has no effect.
    pub fn kill_targets(&self, caller: Pid, pid: i32) -> Result<Vec<Pid>> {
        let targets = match pid {
            i32::MIN => return Err(Errno::ESRCH),
            p if p > 0 => {
                if self.procs.contains_key(&p) {
                    alloc::vec![p]
                } else {
                    Vec::new()
                }
            }
            0 => self.group_members(self.procs.get(&caller).ok_or(Errno::ESRCH)?.pgid),
            -1 => self
                .procs
                .keys()
                .copied()
                .filter(|&p| p != INIT_PID && p != caller)
                .collect(),
            p => self.group_members(-p),
        };
        if targets.is_empty() {
            return Err(Errno::ESRCH);
        }
        Ok(targets)
    }

    fn live(&self, pid: Pid) -> Result<&Process> {
        match self.procs.get(&pid) {
            Some(p) if !matches!(p.state, ProcState::Zombie(_)) => Ok(p),
            _ => Err(Errno::ESRCH),
        }
    }

    fn live_mut(&mut self, pid: Pid) -> Result<&mut Process> {
        match self.procs.get_mut(&pid) {
            Some(p) if !matches!(p.state, ProcState::Zombie(_)) => Ok(p),
            _ => Err(Errno::ESRCH),
        }
    }

    fn id_in_use(&self, id: Pid) -> bool {
        self.procs.contains_key(&id) || self.groups.contains_key(&id) || self.sessions.contains_key(&id)
    }

    /// The next free id after the last one handed out, wrapping to 1.
    fn alloc_pid(&mut self) -> Result<Pid> {
        let mut candidate = self.last_pid;
        for _ in 0..self.pid_max {
            candidate = if candidate >= self.pid_max { 1 } else { candidate + 1 };
            if !self.id_in_use(candidate) {
                self.last_pid = candidate;
                return Ok(candidate);
            }
        }
        Err(Errno::EAGAIN)
    }

    fn insert(&mut self, pid: Pid, ppid: Pid, pgid: Pid, sid: Pid, autoreap: bool) {
        self.procs.insert(
            pid,
            Process {
                ppid,
                pgid,
                sid,
                state: ProcState::Running,
                execed: false,
                autoreap,
                report: None,
                children: Vec::new(),
            },
        );
        bump(&mut self.groups, pgid);
        bump(&mut self.sessions, sid);
    }

    /// Takes `pid` out of the table and out of its parent's children.
    fn remove(&mut self, pid: Pid) {
        let Some(p) = self.procs.remove(&pid) else {
            return;
        };
        drop_one(&mut self.groups, p.pgid);
        drop_one(&mut self.sessions, p.sid);
        if let Some(parent) = self.procs.get_mut(&p.ppid) {
            parent.children.retain(|&c| c != pid);
        }
    }

    /// Gives the children of a dying process to init, or to nobody if init is
    /// gone (or is the one dying), in which case their zombies are removed.
    /// Returns whether init inherited a zombie (its waits need settling).
    fn reparent_to_init(&mut self, children: Vec<Pid>, notices: &mut Vec<ChildNotice>) -> bool {
        // The dying process is already a zombie, so init dying counts as gone.
        let init_alive = self.live(INIT_PID).is_ok();
        let mut init_has_zombie = false;
        for child in children {
            let Some(c) = self.procs.get_mut(&child) else {
                continue;
            };
            let zombie = match c.state {
                ProcState::Zombie(s) => Some(s),
                _ => None,
            };
            if init_alive {
                c.ppid = INIT_PID;
                if let Some(init) = self.procs.get_mut(&INIT_PID) {
                    init.children.push(child);
                }
                if let Some(status) = zombie {
                    notices.push(ChildNotice {
                        parent: INIT_PID,
                        child,
                        status,
                    });
                    init_has_zombie = true;
                }
            } else {
                c.ppid = 0;
                if zombie.is_some() {
                    self.remove(child);
                }
            }
        }
        init_has_zombie
    }

    /// Notifies `pid`'s parent of a stop or continue and settles its waits.
    fn notify_parent(&mut self, pid: Pid, status: WaitStatus) -> Events {
        let mut ev = Events::default();
        let Some(ppid) = self.procs.get(&pid).map(|p| p.ppid) else {
            return ev;
        };
        if ppid != 0 && self.procs.contains_key(&ppid) {
            ev.notices.push(ChildNotice {
                parent: ppid,
                child: pid,
                status,
            });
            self.settle_waits(ppid, &mut ev);
        }
        ev
    }

    /// Completes the parked waits of `waiter` that can complete now, oldest
    /// first: with a result if a child changed state, with ECHILD if no child
    /// matches any more.
    fn settle_waits(&mut self, waiter: Pid, ev: &mut Events) {
        let mut i = 0;
        while let Some(w) = self.parked.get(i).copied() {
            if w.waiter != waiter {
                i += 1;
                continue;
            }
            match self.try_wait(&w) {
                Ok(None) => i += 1,
                result => {
                    self.parked.remove(i);
                    ev.completed.push(CompletedWait {
                        token: w.token,
                        waiter,
                        result: result.and_then(|r| r.ok_or(Errno::ECHILD)),
                    });
                }
            }
        }
    }

    /// One pass over the waiter's matching children: reaps or reports the
    /// first that changed state. ECHILD if none matches.
    fn try_wait(&mut self, w: &ParkedWait) -> Result<Option<WaitResult>> {
        let children = self.procs.get(&w.waiter).map(|p| p.children.as_slice()).unwrap_or(&[]);
        let mut matched = false;
        let mut found = None;
        for &child in children {
            let Some(c) = self.procs.get(&child) else {
                continue;
            };
            let matches = !w.options.clone_only
                && match w.selector {
                    Selector::Pid(p) => p == child,
                    Selector::Any => true,
                    Selector::Group(g) => c.pgid == g,
                };
            if !matches {
                continue;
            }
            matched = true;
            let event = match (c.state, c.report) {
                (ProcState::Zombie(s), _) => Some(s),
                (_, Some(Report::Stopped(sig))) if w.options.untraced => Some(WaitStatus::Stopped(sig)),
                (_, Some(Report::Continued)) if w.options.continued => Some(WaitStatus::Continued),
                _ => None,
            };
            if let Some(status) = event {
                found = Some(WaitResult { pid: child, status });
                break;
            }
        }
        let Some(r) = found else {
            return if matched { Ok(None) } else { Err(Errno::ECHILD) };
        };
        if r.status.is_exit() {
            self.remove(r.pid);
        } else if let Some(c) = self.procs.get_mut(&r.pid) {
            c.report = None;
        }
        Ok(Some(r))
    }
}

#[cfg(test)]
mod tests;
