use super::*;
use crate::host_c::Rng;
use linux_raw_sys::general::{SIGKILL, SIGSTOP, SIGTSTP};
use std::collections::BTreeMap as Map;
use std::vec;
use std::vec::Vec;

const ANY: i32 = -1;

fn table() -> ProcessTable {
    let mut t = ProcessTable::default();
    assert_eq!(t.create_init(), Ok(1));
    t
}

fn exited(code: u8) -> WaitStatus {
    WaitStatus::Exited(code)
}

/// Recomputes everything the table keeps incrementally and checks it.
fn audit(t: &ProcessTable) {
    let mut groups: Map<Pid, usize> = Map::new();
    let mut sessions: Map<Pid, usize> = Map::new();
    for (&pid, p) in &t.procs {
        *groups.entry(p.pgid).or_default() += 1;
        *sessions.entry(p.sid).or_default() += 1;
        assert!(pid >= 1 && pid <= t.pid_max);
        if p.ppid != 0 {
            let parent = t.procs.get(&p.ppid).expect("parent exists");
            assert_eq!(
                parent.children.iter().filter(|&&c| c == pid).count(),
                1,
                "child {pid} listed once"
            );
        }
        for c in &p.children {
            assert_eq!(t.procs[c].ppid, pid);
        }
        if matches!(p.state, ProcState::Zombie(_)) {
            assert!(p.children.is_empty());
            assert!(p.report.is_none());
            assert!(!t.parked.iter().any(|w| w.waiter == pid));
        }
    }
    assert_eq!(groups, t.groups);
    assert_eq!(sessions, t.sessions);
    assert!(t.procs.len() <= t.max_processes);
}

#[test]
fn init_is_its_own_group_and_session() {
    let mut t = table();
    let i = t.get(1).unwrap();
    assert_eq!(
        (i.ppid, i.pgid, i.sid, i.state, i.execed),
        (0, 1, 1, ProcState::Running, false)
    );
    assert_eq!(t.create_init(), Err(Errno::EEXIST));
    assert_eq!(t.len(), 1);
    assert!(!t.is_empty());
    assert!(ProcessTable::new(0, 10).create_init() == Err(Errno::EAGAIN));
    audit(&t);
}

#[test]
fn fork_inherits_group_and_session() {
    let mut t = table();
    let a = t.fork(1).unwrap();
    assert_eq!(a, 2);
    t.setpgid(a, 0, 0).unwrap();
    let b = t.fork(a).unwrap();
    let c = t.fork(a).unwrap();
    assert_eq!(t.children(a), [b, c]);
    let bi = t.get(b).unwrap();
    assert_eq!((bi.ppid, bi.pgid, bi.sid), (a, a, 1));
    assert_eq!(t.getppid(b), Ok(a));
    assert_eq!(t.getppid(99), Err(Errno::ESRCH));
    assert_eq!(t.fork(99), Err(Errno::ESRCH));
    t.exit(c, exited(0)).unwrap();
    assert_eq!(t.fork(c), Err(Errno::ESRCH), "a zombie cannot fork");
    audit(&t);
}

#[test]
fn fork_beyond_the_limit_is_eagain() {
    let mut t = ProcessTable::new(3, PID_MAX);
    t.create_init().unwrap();
    let a = t.fork(1).unwrap();
    let b = t.fork(1).unwrap();
    assert_eq!(t.fork(1), Err(Errno::EAGAIN));
    // A zombie still counts; reaping frees the slot.
    t.exit(b, exited(0)).unwrap();
    assert_eq!(t.fork(a), Err(Errno::EAGAIN));
    assert_eq!(
        t.wait4(1, b, 0, 1),
        Ok(WaitNow::Done(WaitResult {
            pid: b,
            status: exited(0)
        }))
    );
    assert!(t.fork(a).is_ok());
    audit(&t);
}

#[test]
fn pids_wrap_around_and_skip_ids_in_use() {
    let mut t = ProcessTable::new(100, 6);
    t.create_init().unwrap();
    let pids: Vec<Pid> = (0..5).map(|_| t.fork(1).unwrap()).collect();
    assert_eq!(pids, [2, 3, 4, 5, 6]);
    assert_eq!(t.fork(1), Err(Errno::EAGAIN), "every id in 1..=6 is in use");
    // 3 leads a group that 5 joins; then 3 exits and is reaped, 2 as well.
    t.setpgid(3, 0, 0).unwrap();
    t.setpgid(1, 5, 3).unwrap();
    for p in [3, 2] {
        t.exit(p, exited(0)).unwrap();
        t.wait4(1, p, 0, 0).unwrap();
    }
    // Allocation goes on after 6, wraps to 1, skips init, takes 2 and skips
    // 3, which is still process group 5's id.
    assert_eq!(t.fork(1), Ok(2));
    assert_eq!(t.fork(1), Err(Errno::EAGAIN));
    // Once group 3 is gone, its id is free again.
    t.exit(5, exited(0)).unwrap();
    t.wait4(1, 5, 0, 0).unwrap();
    assert_eq!(t.fork(1), Ok(3));
    assert_eq!(t.fork(1), Ok(5));
    audit(&t);
}

#[test]
fn session_ids_are_not_reused_while_in_use() {
    let mut t = ProcessTable::new(100, 4);
    t.create_init().unwrap();
    let a = t.fork(1).unwrap();
    t.setsid(a).unwrap();
    let b = t.fork(a).unwrap();
    t.setpgid(b, 0, 0).unwrap();
    t.exit(a, exited(0)).unwrap();
    t.wait4(1, a, 0, 0).unwrap();
    // b is in session 2 (its parent's pid), which must not be reused.
    assert_eq!(t.get(b).unwrap().sid, a);
    assert_eq!(t.fork(1), Ok(4));
    assert_eq!(t.fork(1), Err(Errno::EAGAIN));
    audit(&t);
}

#[test]
fn exit_then_wait_reaps_once() {
    let mut t = table();
    let a = t.fork(1).unwrap();
    let ev = t.exit(a, exited(3)).unwrap();
    assert_eq!(
        ev.notices,
        [ChildNotice {
            parent: 1,
            child: a,
            status: exited(3)
        }]
    );
    assert!(ev.completed.is_empty() && ev.dropped.is_empty());
    assert_eq!(t.get(a).unwrap().state, ProcState::Zombie(exited(3)));
    assert_eq!(t.exit(a, exited(4)), Err(Errno::ESRCH), "a zombie cannot exit again");
    assert_eq!(
        t.wait4(1, ANY, 0, 7),
        Ok(WaitNow::Done(WaitResult {
            pid: a,
            status: exited(3)
        }))
    );
    assert_eq!(t.get(a), None);
    assert_eq!(t.wait4(1, ANY, 0, 7), Err(Errno::ECHILD));
    assert_eq!(t.wait4(1, ANY, WNOHANG, 7), Err(Errno::ECHILD));
    assert_eq!(t.exit(1, WaitStatus::Stopped(19)), Err(Errno::EINVAL));
    assert_eq!(t.exit(1, WaitStatus::Continued), Err(Errno::EINVAL));
    audit(&t);
}

#[test]
fn wait_for_a_pid_that_is_not_a_child() {
    let mut t = table();
    let a = t.fork(1).unwrap();
    let b = t.fork(a).unwrap();
    t.exit(b, exited(0)).unwrap();
    assert_eq!(
        t.wait4(1, b, WNOHANG, 0),
        Err(Errno::ECHILD),
        "a grandchild is not a child"
    );
    assert_eq!(t.wait4(1, 12345, 0, 0), Err(Errno::ECHILD));
    assert_eq!(
        t.wait4(a, b, WNOHANG, 0),
        Ok(WaitNow::Done(WaitResult {
            pid: b,
            status: exited(0)
        }))
    );
    assert_eq!(t.wait4(99, ANY, 0, 0), Err(Errno::ESRCH));
}

#[test]
fn wnohang_with_running_children() {
    let mut t = table();
    let a = t.fork(1).unwrap();
    let b = t.fork(1).unwrap();
    assert_eq!(t.wait4(1, ANY, WNOHANG, 0), Ok(WaitNow::NoChange));
    assert_eq!(t.wait4(1, a, WNOHANG, 0), Ok(WaitNow::NoChange));
    assert!(t.parked.is_empty(), "WNOHANG never parks");
    t.exit(b, exited(1)).unwrap();
    assert_eq!(
        t.wait4(1, a, WNOHANG, 0),
        Ok(WaitNow::NoChange),
        "b does not match pid a"
    );
    assert_eq!(
        t.wait4(1, ANY, WNOHANG, 0),
        Ok(WaitNow::Done(WaitResult {
            pid: b,
            status: exited(1)
        }))
    );
}

#[test]
fn selectors_by_process_group() {
    let mut t = table();
    let a = t.fork(1).unwrap();
    let b = t.fork(1).unwrap();
    let c = t.fork(1).unwrap();
    let d = t.fork(1).unwrap();
    t.setpgid(1, b, 0).unwrap(); // b leads group b
    t.setpgid(1, c, b).unwrap(); // c joins it
    for p in [a, b, c, d] {
        t.exit(p, exited(p as u8)).unwrap();
    }
    // -b: group b, oldest child first; 0: the waiter's own group (1).
    let done = |pid: Pid| {
        Ok(WaitNow::Done(WaitResult {
            pid,
            status: exited(pid as u8),
        }))
    };
    assert_eq!(t.wait4(1, -b, WNOHANG, 0), done(b));
    assert_eq!(t.wait4(1, 0, WNOHANG, 0), done(a));
    assert_eq!(t.wait4(1, 0, WNOHANG, 0), done(d));
    assert_eq!(t.wait4(1, 0, WNOHANG, 0), Err(Errno::ECHILD), "c is in group b");
    assert_eq!(t.wait4(1, -b, WNOHANG, 0), done(c));
    assert_eq!(t.wait4(1, -b, WNOHANG, 0), Err(Errno::ECHILD));
    assert_eq!(t.wait4(1, i32::MIN, 0, 0), Err(Errno::ESRCH));
}

#[test]
fn options_are_checked() {
    let mut t = table();
    let a = t.fork(1).unwrap();
    assert_eq!(t.wait4(1, ANY, 0x100, 0), Err(Errno::EINVAL));
    assert_eq!(t.wait4(1, ANY, WNOHANG | WEXITED_FOR_TEST, 0), Err(Errno::EINVAL));
    assert_eq!(
        t.wait4(1, ANY, WNOHANG | __WCLONE, 0),
        Err(Errno::ECHILD),
        "no clone children"
    );
    assert_eq!(t.wait4(1, ANY, WNOHANG | __WCLONE | __WALL, 0), Ok(WaitNow::NoChange));
    assert_eq!(
        t.wait4(1, ANY, WNOHANG | __WALL | __WNOTHREAD, 0),
        Ok(WaitNow::NoChange)
    );
    t.exit(a, exited(0)).unwrap();
    assert!(matches!(
        t.wait4(1, ANY, WNOHANG | WUNTRACED | WCONTINUED, 0),
        Ok(WaitNow::Done(_))
    ));
}

/// waitid's WEXITED is not a wait4 option.
const WEXITED_FOR_TEST: u32 = linux_raw_sys::general::WEXITED;

#[test]
fn stops_and_continues_are_reported_once() {
    let mut t = table();
    let a = t.fork(1).unwrap();
    let ev = t.stop(a, SIGTSTP).unwrap();
    assert_eq!(
        ev.notices,
        [ChildNotice {
            parent: 1,
            child: a,
            status: WaitStatus::Stopped(SIGTSTP as u8)
        }]
    );
    assert_eq!(t.get(a).unwrap().state, ProcState::Stopped(SIGTSTP as u8));
    assert_eq!(t.stop(a, SIGSTOP), Ok(Events::default()), "already stopped");
    assert_eq!(t.wait4(1, ANY, WNOHANG, 0), Ok(WaitNow::NoChange), "no WUNTRACED");
    let stopped = WaitResult {
        pid: a,
        status: WaitStatus::Stopped(SIGTSTP as u8),
    };
    assert_eq!(t.wait4(1, ANY, WNOHANG | WUNTRACED, 0), Ok(WaitNow::Done(stopped)));
    assert_eq!(
        t.wait4(1, ANY, WNOHANG | WUNTRACED, 0),
        Ok(WaitNow::NoChange),
        "reported once"
    );
    assert_eq!(
        t.get(a).unwrap().state,
        ProcState::Stopped(SIGTSTP as u8),
        "still stopped"
    );

    let ev = t.cont(a).unwrap();
    assert_eq!(ev.notices[0].status, WaitStatus::Continued);
    assert_eq!(t.cont(a), Ok(Events::default()), "already running");
    assert_eq!(t.wait4(1, ANY, WNOHANG | WUNTRACED, 0), Ok(WaitNow::NoChange));
    let continued = WaitResult {
        pid: a,
        status: WaitStatus::Continued,
    };
    assert_eq!(t.wait4(1, ANY, WNOHANG | WCONTINUED, 0), Ok(WaitNow::Done(continued)));
    assert_eq!(t.wait4(1, ANY, WNOHANG | WCONTINUED, 0), Ok(WaitNow::NoChange));
    assert_eq!(t.get(a).unwrap().state, ProcState::Running);

    // A stop overtaken by a continue is not reported; an exit replaces both.
    t.stop(a, SIGSTOP).unwrap();
    t.cont(a).unwrap();
    assert_eq!(t.wait4(1, ANY, WNOHANG | WUNTRACED, 0), Ok(WaitNow::NoChange));
    t.stop(a, SIGSTOP).unwrap();
    t.exit(a, WaitStatus::signaled(SIGKILL, false).unwrap()).unwrap();
    let killed = WaitResult {
        pid: a,
        status: WaitStatus::Signaled { sig: 9, core: false },
    };
    assert_eq!(
        t.wait4(1, ANY, WNOHANG | WUNTRACED | WCONTINUED, 0),
        Ok(WaitNow::Done(killed))
    );

    assert_eq!(t.stop(a, SIGSTOP), Err(Errno::ESRCH));
    assert_eq!(t.cont(a), Err(Errno::ESRCH));
    assert_eq!(t.stop(1, 0), Err(Errno::EINVAL));
    assert_eq!(t.stop(1, 65), Err(Errno::EINVAL));
    audit(&t);
}

#[test]
fn a_parked_wait_completes_on_exit() {
    let mut t = table();
    let a = t.fork(1).unwrap();
    let b = t.fork(1).unwrap();
    assert_eq!(t.wait4(1, b, 0, 10), Ok(WaitNow::Parked));
    assert_eq!(t.wait4(1, ANY, 0, 11), Ok(WaitNow::Parked));
    assert_eq!(t.wait4(1, ANY, 0, 11), Err(Errno::EBUSY), "token already parked");
    // a's exit completes the wait for any child, not the one for b.
    let ev = t.exit(a, exited(5)).unwrap();
    assert_eq!(
        ev.completed,
        [CompletedWait {
            token: 11,
            waiter: 1,
            result: Ok(WaitResult {
                pid: a,
                status: exited(5)
            })
        }]
    );
    assert_eq!(t.get(a), None, "the completed wait reaped it");
    let ev = t.exit(b, exited(6)).unwrap();
    assert_eq!(ev.completed[0].token, 10);
    assert_eq!(
        ev.completed[0].result,
        Ok(WaitResult {
            pid: b,
            status: exited(6)
        })
    );
    assert!(t.parked.is_empty());
    audit(&t);
}

#[test]
fn one_exit_completes_one_of_two_waits() {
    let mut t = table();
    let a = t.fork(1).unwrap();
    let _b = t.fork(1).unwrap();
    t.wait4(1, ANY, 0, 1).unwrap();
    t.wait4(1, ANY, 0, 2).unwrap();
    let ev = t.exit(a, exited(0)).unwrap();
    assert_eq!(ev.completed.len(), 1);
    assert_eq!(ev.completed[0].token, 1, "the oldest wait first");
    assert_eq!(t.parked.len(), 1);
    assert_eq!(t.cancel_wait(2), Some(1));
    assert_eq!(t.cancel_wait(2), None);
    assert!(t.parked.is_empty());
}

#[test]
fn parked_waits_for_stops_and_continues() {
    let mut t = table();
    let a = t.fork(1).unwrap();
    t.wait4(1, a, 0, 1).unwrap();
    t.wait4(1, a, WUNTRACED, 2).unwrap();
    t.wait4(1, a, WCONTINUED, 3).unwrap();
    let ev = t.stop(a, SIGSTOP).unwrap();
    assert_eq!(ev.completed.len(), 1);
    assert_eq!(ev.completed[0].token, 2);
    assert_eq!(
        ev.completed[0].result.unwrap().status,
        WaitStatus::Stopped(SIGSTOP as u8)
    );
    let ev = t.cont(a).unwrap();
    assert_eq!(ev.completed.len(), 1);
    assert_eq!(ev.completed[0].token, 3);
    assert_eq!(ev.completed[0].result.unwrap().status, WaitStatus::Continued);
    let ev = t.exit(a, exited(0)).unwrap();
    assert_eq!(ev.completed[0].token, 1);
}

#[test]
fn exit_drops_the_dying_processs_own_waits() {
    let mut t = table();
    let a = t.fork(1).unwrap();
    let _c = t.fork(a).unwrap();
    t.wait4(1, a, 0, 1).unwrap();
    t.wait4(a, ANY, 0, 2).unwrap();
    t.wait4(a, ANY, 0, 3).unwrap();
    let ev = t.exit(a, exited(0)).unwrap();
    assert_eq!(ev.dropped, [2, 3]);
    assert_eq!(ev.completed.len(), 1);
    assert_eq!(ev.completed[0].token, 1);
    audit(&t);
}

#[test]
fn parked_waits_are_bounded() {
    let mut t = table();
    t.fork(1).unwrap();
    for i in 0..MAX_PARKED_WAITS_PER_PROCESS as u64 {
        assert_eq!(t.wait4(1, ANY, 0, i), Ok(WaitNow::Parked));
    }
    assert_eq!(t.wait4(1, ANY, 0, 999), Err(Errno::EAGAIN));
    let b = t.fork(1).unwrap();
    assert_eq!(
        t.wait4(b, ANY, 0, 999),
        Err(Errno::ECHILD),
        "parking needs a matching child"
    );
}

#[test]
fn orphans_go_to_init_and_zombie_orphans_notify_it() {
    let mut t = table();
    let a = t.fork(1).unwrap();
    let b = t.fork(a).unwrap();
    let c = t.fork(a).unwrap();
    t.exit(c, exited(9)).unwrap(); // a zombie child of a
    t.wait4(1, c, 0, 77).unwrap_err(); // c is not init's child yet
    t.wait4(1, ANY, WUNTRACED, 77).unwrap_or(WaitNow::NoChange);
    assert_eq!(t.parked.len(), 1);
    let ev = t.exit(a, exited(0)).unwrap();
    assert_eq!(t.get(b).unwrap().ppid, 1);
    assert_eq!(
        ev.notices,
        [
            ChildNotice {
                parent: 1,
                child: a,
                status: exited(0)
            },
            ChildNotice {
                parent: 1,
                child: c,
                status: exited(9)
            },
        ]
    );
    // init's parked wait took its oldest changed child, a; c waits its turn.
    assert_eq!(ev.completed.len(), 1);
    assert_eq!(
        ev.completed[0].result,
        Ok(WaitResult {
            pid: a,
            status: exited(0)
        })
    );
    assert_eq!(t.children(1), [b, c]);
    assert_eq!(
        t.wait4(1, ANY, WNOHANG, 0),
        Ok(WaitNow::Done(WaitResult {
            pid: c,
            status: exited(9)
        }))
    );
    audit(&t);
}

#[test]
fn a_zombie_orphan_completes_a_parked_wait_of_init() {
    let mut t = table();
    let a = t.fork(1).unwrap();
    let b = t.fork(a).unwrap();
    let c = t.fork(b).unwrap();
    t.exit(c, exited(4)).unwrap();
    assert_eq!(t.wait4(1, ANY, 0, 8), Ok(WaitNow::Parked));
    let ev = t.exit(b, exited(0)).unwrap();
    assert_eq!(ev.notices[0].parent, a);
    assert_eq!(
        ev.notices[1],
        ChildNotice {
            parent: 1,
            child: c,
            status: exited(4)
        }
    );
    assert_eq!(
        ev.completed,
        [CompletedWait {
            token: 8,
            waiter: 1,
            result: Ok(WaitResult {
                pid: c,
                status: exited(4)
            })
        }]
    );
    audit(&t);
}

#[test]
fn with_init_gone_orphans_have_no_parent() {
    let mut t = table();
    let a = t.fork(1).unwrap();
    let z = t.fork(1).unwrap();
    t.exit(z, exited(0)).unwrap();
    let ev = t.exit(1, exited(0)).unwrap();
    assert!(ev.notices.is_empty());
    assert_eq!(t.get(1), None, "init has no parent to wait for it");
    assert_eq!(t.get(z), None, "nobody can wait for the zombie");
    assert_eq!(t.get(a).unwrap().ppid, 0);
    let b = t.fork(a).unwrap();
    let ev = t.exit(a, exited(0)).unwrap();
    assert!(ev.notices.is_empty());
    assert_eq!(t.get(a), None);
    assert_eq!(t.get(b).unwrap().ppid, 0);
    audit(&t);
}

#[test]
fn autoreap_removes_children_at_exit() {
    let mut t = table();
    let a = t.fork(1).unwrap();
    let b = t.fork(1).unwrap();
    t.set_autoreap(1, true).unwrap();
    assert_eq!(t.wait4(1, ANY, 0, 5), Ok(WaitNow::Parked));
    let ev = t.exit(a, exited(0)).unwrap();
    assert_eq!(
        ev.notices.len(),
        1,
        "SIGCHLD is still sent (the signal module ignores it)"
    );
    assert_eq!(t.get(a), None);
    assert!(ev.completed.is_empty(), "b still matches");
    let ev = t.exit(b, exited(0)).unwrap();
    assert_eq!(
        ev.completed,
        [CompletedWait {
            token: 5,
            waiter: 1,
            result: Err(Errno::ECHILD)
        }]
    );
    // fork copies the setting; it can be turned off.
    let c = t.fork(1).unwrap();
    let d = t.fork(c).unwrap();
    t.exit(d, exited(0)).unwrap();
    assert_eq!(t.get(d), None);
    t.set_autoreap(1, false).unwrap();
    t.exit(c, exited(0)).unwrap();
    assert!(t.get(c).is_some());
    assert_eq!(t.set_autoreap(c, true), Err(Errno::ESRCH));
    audit(&t);
}

#[test]
fn setpgid_rules() {
    let mut t = table();
    let sh = t.fork(1).unwrap();
    t.setsid(sh).unwrap();
    let job = t.fork(sh).unwrap();
    let other = t.fork(1).unwrap();
    assert_eq!(t.setpgid(sh, job, -1), Err(Errno::EINVAL));
    assert_eq!(t.setpgid(sh, other, 0), Err(Errno::ESRCH), "not a child");
    assert_eq!(t.setpgid(sh, 999, 0), Err(Errno::ESRCH));
    assert_eq!(t.setpgid(sh, 0, 0), Err(Errno::EPERM), "a session leader");
    assert_eq!(
        t.setpgid(sh, job, 1),
        Err(Errno::EPERM),
        "group 1 is in another session"
    );
    assert_eq!(t.setpgid(sh, job, other), Err(Errno::EPERM), "no group other");
    assert_eq!(t.setpgid(sh, job, 4242), Err(Errno::EPERM), "no such group");
    // The shell puts the job in its own group; the job may join it too.
    assert_eq!(t.setpgid(sh, job, job), Ok(()));
    assert_eq!(t.getpgid(sh, job), Ok(job));
    assert_eq!(
        t.setpgid(job, 0, sh),
        Ok(()),
        "back to an existing group of the session"
    );
    assert_eq!(t.getpgid(job, 0), Ok(sh));
    // A second child joins the first's group (pgid names an existing group).
    t.setpgid(sh, job, 0).unwrap();
    let job2 = t.fork(sh).unwrap();
    assert_eq!(t.setpgid(sh, job2, job), Ok(()));
    assert_eq!(t.group_members(job), [job, job2]);
    // After exec the parent may no longer move it, but it may move itself.
    t.exec(job2).unwrap();
    assert_eq!(t.setpgid(sh, job2, 0), Err(Errno::EACCES));
    assert_eq!(t.setpgid(job2, 0, 0), Ok(()));
    // A child in another session.
    let lone = t.fork(sh).unwrap();
    t.setsid(lone).unwrap();
    assert_eq!(t.setpgid(sh, lone, sh), Err(Errno::EPERM));
    assert_eq!(t.getpgid(1, 999), Err(Errno::ESRCH));
    assert_eq!(t.setpgid(999, 0, 0), Err(Errno::ESRCH));
    // A child left behind in the old session when its parent made a new one.
    let p = t.fork(1).unwrap();
    let left = t.fork(p).unwrap();
    t.setsid(p).unwrap();
    assert_eq!(t.get(left).unwrap().sid, 1);
    assert_eq!(t.setpgid(p, left, 0), Err(Errno::EPERM), "child in another session");
    audit(&t);
}

#[test]
fn setsid_and_getsid() {
    let mut t = table();
    assert_eq!(t.setsid(1), Err(Errno::EPERM), "init leads its group");
    let a = t.fork(1).unwrap();
    assert_eq!(t.getsid(a, 0), Ok(1));
    assert_eq!(t.setsid(a), Ok(a));
    let i = t.get(a).unwrap();
    assert_eq!((i.pgid, i.sid), (a, a));
    assert_eq!(t.getsid(1, a), Ok(a));
    assert_eq!(t.setsid(a), Err(Errno::EPERM));
    assert_eq!(t.getsid(1, 999), Err(Errno::ESRCH));
    // A former leader whose group still has members cannot make a session.
    let b = t.fork(1).unwrap();
    t.setpgid(b, 0, 0).unwrap();
    let c = t.fork(b).unwrap();
    t.setpgid(b, 0, 1).unwrap();
    assert_eq!(t.get(c).unwrap().pgid, b);
    assert_eq!(t.setsid(b), Err(Errno::EPERM));
    assert_eq!(t.setsid(c), Ok(c));
    assert_eq!(t.setsid(b), Ok(b), "group b is gone now");
    assert_eq!(t.setsid(999), Err(Errno::ESRCH));
    audit(&t);
}

#[test]
fn kill_targets_follow_kill2() {
    let mut t = table();
    let a = t.fork(1).unwrap();
    let b = t.fork(a).unwrap();
    let c = t.fork(a).unwrap();
    t.setpgid(a, b, 0).unwrap();
    t.setpgid(a, c, b).unwrap();
    assert_eq!(t.kill_targets(a, b), Ok(vec![b]));
    assert_eq!(t.kill_targets(a, 0), Ok(vec![1, a]));
    assert_eq!(t.kill_targets(a, -b), Ok(vec![b, c]));
    assert_eq!(t.kill_targets(a, ANY), Ok(vec![b, c]));
    assert_eq!(t.kill_targets(a, 999), Err(Errno::ESRCH));
    assert_eq!(t.kill_targets(a, -999), Err(Errno::ESRCH));
    assert_eq!(t.kill_targets(a, i32::MIN), Err(Errno::ESRCH));
    assert_eq!(t.kill_targets(999, 0), Err(Errno::ESRCH));
    let lone = ProcessTable::default;
    let mut l = lone();
    l.create_init().unwrap();
    assert_eq!(l.kill_targets(1, ANY), Err(Errno::ESRCH));
}

#[test]
fn random_operations_keep_the_table_consistent() {
    for seed in 1..=20u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let mut t = ProcessTable::new(40, 64);
        t.create_init().unwrap();
        let mut answered: Vec<WaitToken> = Vec::new();
        for step in 0..2000u64 {
            let pick = |rng: &mut Rng| rng.below(70) as i32 - 3;
            let a = pick(&mut rng);
            let b = pick(&mut rng);
            let c = pick(&mut rng);
            match rng.below(11) {
                0 | 1 => {
                    let _ = t.fork(a);
                }
                2 => {
                    if let Ok(ev) = t.exit(a, WaitStatus::Exited(b as u8)) {
                        answered.extend(ev.completed.iter().map(|w| w.token));
                    }
                }
                3 => {
                    let opts = [0, WNOHANG, WUNTRACED, WCONTINUED, WNOHANG | WUNTRACED, 0x40][rng.below(6) as usize];
                    let _ = t.wait4(a, b, opts, step);
                }
                4 => {
                    let _ = t.stop(a, 19);
                }
                5 => {
                    let _ = t.cont(a);
                }
                6 => {
                    let _ = t.setpgid(a, b, c);
                }
                7 => {
                    let _ = t.setsid(a);
                }
                8 => {
                    let _ = t.exec(a);
                    let _ = t.set_autoreap(a, b % 2 == 0);
                }
                9 => {
                    let _ = t.cancel_wait(rng.below(2000));
                }
                _ => {
                    let _ = t.kill_targets(a, b);
                    let _ = (t.getpgid(a, b), t.getsid(a, b), t.getppid(a));
                }
            }
            audit(&t);
        }
        // A token is answered at most once.
        let mut sorted = answered.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), answered.len(), "seed {seed}");
    }
}
