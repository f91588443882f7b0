//! One round: the children started, the victim killed at the planned point,
//! the mapper waited for, and every check, then everything given back and
//! the counts compared with the round's start.

use super::children::{entry, mapper_main, stack_top, victim_main};
use super::parent::{Exceptions, Ports, Served, discard, drain, handle_exception, serve};
use super::*;
use crate::fuzz::sweep::{Counts, boot_info, counts};
use crate::ipc_env::Buf;
use mach_interfaces::PolyPort;
use mach_interfaces::exc;
use mach_interfaces::memory_object as mo;
use mach_user::abi::exception::EXC_BAD_ACCESS;
use mach_user::abi::message::*;
use mach_user::abi::port::*;
use mach_user::abi::traps::BootInfoKind;
use mach_user::ipc::{MsgBuf, mach_msg};
use mach_user::rpc::{mach_port as mp, task};
use mach_user::trap::swtch;

/// Bounds on the waits (yields), so that a stall fails instead of hanging.
const FULL_WAIT: u32 = 5000;
const MAPPER_WAIT: u32 = 5000;

/// When things happen in a round, in the parent's yields.
#[derive(Clone, Copy, Debug)]
pub(super) struct Plan {
    /// Yields before the kill (None: once everything is set up).
    pub(super) kill_after: Option<u64>,
    /// Yields before the mapper starts (after the kill if not below `kill_after`).
    pub(super) mapper_after: u64,
}

/// Results over all rounds: one flag per test, and what the rounds covered.
#[derive(Default)]
pub(super) struct Tally {
    pub(super) setup: bool,
    pub(super) notifications: bool,
    pub(super) no_exception: bool,
    pub(super) blocked_send: bool,
    pub(super) pager_objects: bool,
    pub(super) mapper: bool,
    pub(super) audit: bool,
    pub(super) reclaimed: bool,
    pub(super) failures: u32,
    /// Rounds by the victim's step at the kill.
    pub(super) at_step: [u32; STEPS],
    pub(super) mapper_blocked: u32,
    pub(super) max_frame_drift: i64,
}

impl Tally {
    pub(super) fn new() -> Tally {
        Tally {
            setup: true,
            notifications: true,
            no_exception: true,
            blocked_send: true,
            pager_objects: true,
            mapper: true,
            audit: true,
            reclaimed: true,
            ..Default::default()
        }
    }
}

/// Checks `ok`; on failure prints the round and `what` and clears `flag`.
fn expect(t: &mut Tally, flag: fn(&mut Tally) -> &mut bool, ok: bool, round: u32, what: core::fmt::Arguments) {
    if !ok {
        *flag(t) = false;
        t.failures += 1;
        println!("death: round {round}: FAILED: {what}");
    }
}

/// The counts a round must return to, with the parent's names and the free frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Baseline {
    counts: Option<Counts>,
    names: u32,
    frames: u64,
}

fn baseline(e: &mut Env) -> Baseline {
    Baseline {
        counts: counts(e),
        names: e.name_count(),
        frames: boot_info(BootInfoKind::FreeFrames),
    }
}

/// What the children had reached when the victim was killed.
#[derive(Debug, Clone, Copy)]
struct AtKill {
    step: u32,
    sender: u32,
    receiver: u32,
    faulter: u32,
    mapper: u32,
    pager_requests: u32,
}

fn at_kill() -> AtKill {
    let s = shared();
    AtKill {
        step: s.step.load(Ordering::Acquire),
        sender: s.sender.load(Ordering::Acquire),
        receiver: s.receiver.load(Ordering::Acquire),
        faulter: s.faulter.load(Ordering::Acquire),
        mapper: s.mapper.load(Ordering::Acquire),
        pager_requests: s.pager_requests.load(Ordering::Acquire),
    }
}

fn everything_held(a: &AtKill) -> bool {
    a.step == READY
        && a.sender == 1
        && a.receiver == 1
        && a.faulter == 1
        && a.mapper == M_TOUCHING
        && a.pager_requests == 2
}

/// The round's tasks, their threads and the parent's send right to the
/// victim's inbox (0 where making one failed).
struct Children {
    victim: u32,
    mapper: u32,
    victim_thread: u32,
    mapper_thread: u32,
    inbox: u32,
}

fn so(name: u32) -> PolyPort {
    PolyPort {
        name,
        disposition: MACH_MSG_TYPE_MAKE_SEND_ONCE,
    }
}

fn make_send(name: u32) -> PolyPort {
    PolyPort {
        name,
        disposition: MACH_MSG_TYPE_MAKE_SEND,
    }
}

/// Makes the children and what the parent gives them before the victim
/// starts (its inbox with a dead-name request, the object it serves with a
/// send right for the mapper, send rights to the parent's ports, exception
/// ports), and starts the victim. False if any of it failed.
fn start(e: &mut Env, p: &Ports) -> (Children, bool) {
    let mut ok = mp::mach_port_set_qlimit(&mut e.rpc, e.task, p.full, 1).is_ok();
    // No senders yet and a make-send count of 0: armed, it fires once the
    // right the victim may be given is gone.
    ok &= mp::mach_port_request_notification(&mut e.rpc, e.task, p.ns, MACH_NOTIFY_NO_SENDERS, 1, so(p.ns_notify))
        == Ok(0);
    let victim = task::task_create(&mut e.rpc, e.task, 1).unwrap_or(0);
    let mapper = task::task_create(&mut e.rpc, e.task, 1).unwrap_or(0);
    ok &= victim != 0 && mapper != 0;
    let rpc = &mut e.rpc;
    ok &= mp::mach_port_allocate_name(rpc, victim, MACH_PORT_RIGHT_RECEIVE, INBOX).is_ok();
    let inbox = mp::mach_port_extract_right(rpc, victim, INBOX, MACH_MSG_TYPE_MAKE_SEND as u32).map_or(0, |r| r.name);
    ok &= mp::mach_port_request_notification(rpc, e.task, inbox, MACH_NOTIFY_DEAD_NAME, 0, so(p.dn_notify)) == Ok(0);
    ok &= mp::mach_port_allocate_name(rpc, victim, MACH_PORT_RIGHT_RECEIVE, OBJECT).is_ok();
    let object = mp::mach_port_extract_right(rpc, victim, OBJECT, MACH_MSG_TYPE_MAKE_SEND as u32).map_or(0, |r| r.name);
    let moved = PolyPort {
        name: object,
        disposition: MACH_MSG_TYPE_MOVE_SEND,
    };
    ok &= mp::mach_port_insert_right(rpc, mapper, MOBJ, moved).is_ok();
    for (name, port) in [(SVC, p.svc), (FULL, p.full), (POBJ, p.object)] {
        ok &= mp::mach_port_insert_right(rpc, victim, name, make_send(port)).is_ok();
    }
    ok &= task::task_set_exception_port(rpc, victim, make_send(p.victim_exc)).is_ok();
    ok &= task::task_set_exception_port(rpc, mapper, make_send(p.mapper_exc)).is_ok();
    let victim_thread = task::thread_create_running(rpc, victim, entry(victim_main), stack_top(0), 0).unwrap_or(0);
    ok &= victim_thread != 0;
    let c = Children {
        victim,
        mapper,
        victim_thread,
        mapper_thread: 0,
        inbox,
    };
    (c, ok)
}

/// Starts the mapper's thread, unless it runs already.
fn start_mapper(e: &mut Env, c: &mut Children) {
    if c.mapper_thread == 0 {
        c.mapper_thread =
            task::thread_create_running(&mut e.rpc, c.mapper, entry(mapper_main), stack_top(0), 0).unwrap_or(0);
    }
}

/// Yields as planned (answering the victim's request meanwhile) and kills
/// the victim; returns how far the children had got.
fn run_until_kill(e: &mut Env, p: &Ports, c: &mut Children, plan: Plan, served: &mut Served) -> (AtKill, bool) {
    match plan.kill_after {
        Some(k) => {
            for i in 0..k {
                if i == plan.mapper_after {
                    start_mapper(e, c);
                }
                serve(e, p, served);
                swtch();
            }
        }
        None => {
            start_mapper(e, c);
            for _ in 0..FULL_WAIT {
                serve(e, p, served);
                if everything_held(&at_kill()) {
                    break;
                }
                swtch();
            }
            // Let the blocked threads settle into their waits.
            crate::bench::settle();
        }
    }
    let at = at_kill();
    let killed = task::task_terminate(&mut e.rpc, c.victim).is_ok();
    // A mapper started after the kill finds the object's pager dead.
    start_mapper(e, c);
    (at, killed)
}

/// The mapper's read waited for the victim (or found it dead): it must end
/// with one memory exception at the address it read if it got to read, or
/// fail its `vm_map` if the victim was dead before, and never wait for ever.
fn release_mapper(e: &mut Env, p: &Ports, c: &Children, n: u32, t: &mut Tally) {
    let mut seen = Exceptions::default();
    let mut dead = false;
    for _ in 0..MAPPER_WAIT {
        handle_exception(e, p.mapper_exc, &mut seen);
        if e.ptype(c.mapper).is_ok_and(|ty| ty & MACH_PORT_TYPE_DEAD_NAME != 0) {
            dead = true;
            break;
        }
        swtch();
    }
    handle_exception(e, p.mapper_exc, &mut seen);
    if !dead {
        // Failed below; ended here so that the boot can end.
        let _ = task::task_terminate(&mut e.rpc, c.mapper);
    }
    crate::bench::settle();
    let s = shared();
    let m = s.mapper.load(Ordering::Acquire);
    let touch = s.touch.load(Ordering::Acquire);
    let want = u32::from(m == M_TOUCHING);
    expect(
        t,
        |t| &mut t.mapper,
        dead && (m == M_TOUCHING || m == M_MAP_FAILED)
            && seen.count == want
            && (want == 0 || (seen.exception, seen.code, seen.subcode as u64) == (EXC_BAD_ACCESS as i32, 14, touch)),
        n,
        format_args!(
            "mapper: dead {dead}, step {m} (map error {:#x}), {} exceptions (want {want}): type {} code {} subcode {:#x}, read at {touch:#x}",
            s.map_error.load(Ordering::Acquire),
            seen.count,
            seen.exception,
            seen.code,
            seen.subcode
        ),
    );
}

/// What arrived on the parent's ports because of the death.
fn check_messages(e: &mut Env, p: &Ports, c: &Children, served: &Served, at: &AtKill, n: u32, t: &mut Tally) {
    // The victim's request, if it was never answered, goes unanswered.
    let _ = drain(e, p.svc, ID_ASK);
    // Notifications: each armed one exactly once, nothing else.
    let given = u32::from(served.given);
    let sos = drain(e, p.so, MACH_NOTIFY_SEND_ONCE);
    let nss = drain(e, p.ns_notify, MACH_NOTIFY_NO_SENDERS);
    let dns = drain(e, p.dn_notify, MACH_NOTIFY_DEAD_NAME);
    let mut names = [c.inbox, if served.armed { served.watched } else { 0 }];
    names.sort_unstable();
    let mut got = [dns.2[0], if dns.0 > 1 { dns.2[1] } else { 0 }];
    got.sort_unstable();
    let want_dn = 1 + u32::from(served.armed);
    expect(
        t,
        |t| &mut t.notifications,
        (sos.0, sos.1) == (2 * given, 0)
            && (nss.0, nss.1) == (given, 0)
            && (given == 0 || nss.2[0] == 1)
            && (dns.0, dns.1) == (want_dn, 0)
            && got == names,
        n,
        format_args!(
            "at {at:?}, {served:?}: send-once {sos:?} (want {}), no-senders {nss:?} (want {given}, make-send count 1), dead-name {dns:?} (want names {names:?})",
            2 * given
        ),
    );
    // The victim's threads died in their waits: no exception for a dying task.
    let vexc = drain(e, p.victim_exc, exc::EXCEPTION_RAISE_ID);
    expect(
        t,
        |t| &mut t.no_exception,
        (vexc.0, vexc.1) == (0, 0),
        n,
        format_args!("the dying victim raised {vexc:?} exceptions (at {at:?})"),
    );
    // The blocked send never completes: at most the one message that filled the queue.
    let full = drain(e, p.full, ID_FULL);
    let want_full = u32::from(at.sender >= 1);
    expect(
        t,
        |t| &mut t.blocked_send,
        full.0 <= 1 && full.0 >= want_full && full.1 == 0,
        n,
        format_args!(
            "{full:?} messages on the full port (sender at {}), want 1 at most",
            at.sender
        ),
    );
    // The object the victim mapped from the parent: terminated as often as initialised.
    let (mut init, mut request, mut term, mut other) = (0, 0, 0, 0);
    let mut b: Buf = MsgBuf::new();
    for _ in 0..16 {
        if mach_msg(&mut b, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, p.object, 0) != MACH_MSG_SUCCESS {
            break;
        }
        match b.header().id {
            mo::MEMORY_OBJECT_INIT_ID => init += 1,
            mo::MEMORY_OBJECT_DATA_REQUEST_ID => request += 1,
            mo::MEMORY_OBJECT_TERMINATE_ID => term += 1,
            _ => other += 1,
        }
        discard(e, &b);
    }
    expect(
        t,
        |t| &mut t.pager_objects,
        init == term && init <= 1 && (at.step < MAPPED || init == 1) && request <= init && other == 0,
        n,
        format_args!(
            "the parent's object: init {init}, data_request {request}, terminate {term}, other {other} (at {at:?})"
        ),
    );
}

/// One round.
pub(super) fn round(e: &mut Env, n: u32, plan: Plan, t: &mut Tally) {
    crate::bench::settle();
    let base = baseline(e);
    let s = shared();
    for w in [
        &s.step,
        &s.sender,
        &s.receiver,
        &s.faulter,
        &s.mapper,
        &s.failed_step,
        &s.failed_code,
        &s.pager_requests,
        &s.map_error,
    ] {
        w.store(0, Ordering::Release);
    }
    s.touch.store(0, Ordering::Release);

    let p = Ports::new(e);
    let (mut c, ok) = start(e, &p);
    expect(t, |t| &mut t.setup, ok, n, format_args!("the round's setup failed"));
    let mut served = Served::default();
    let (at, killed) = run_until_kill(e, &p, &mut c, plan, &mut served);
    t.at_step[(at.step as usize).min(STEPS - 1)] += 1;
    if at.mapper == M_TOUCHING {
        t.mapper_blocked += 1;
    }
    let failed = s.failed_step.load(Ordering::Acquire);
    expect(
        t,
        |t| &mut t.setup,
        killed && c.mapper_thread != 0 && failed == 0 && (plan.kill_after.is_some() || everything_held(&at)),
        n,
        format_args!(
            "killed {killed}, mapper thread {:#x}, the victim's step {failed} failed ({:#x}), at {at:?}",
            c.mapper_thread,
            s.failed_code.load(Ordering::Acquire)
        ),
    );

    release_mapper(e, &p, &c, n, t);
    let victim_dead = e.ptype(c.victim).is_ok_and(|ty| ty & MACH_PORT_TYPE_DEAD_NAME != 0);
    expect(
        t,
        |t| &mut t.reclaimed,
        victim_dead,
        n,
        format_args!("the victim's task port is not dead"),
    );
    let v = e.violations();
    expect(
        t,
        |t| &mut t.audit,
        v == Ok(0),
        n,
        format_args!("audit after the kill: {v:?}"),
    );
    check_messages(e, &p, &c, &served, &at, n, t);

    // Give everything of the round back.
    for name in p.all() {
        let _ = e.destroy(name);
    }
    for name in [
        c.victim,
        c.mapper,
        c.victim_thread,
        c.mapper_thread,
        c.inbox,
        served.watched,
    ] {
        if name != 0 {
            let _ = e.destroy(name);
        }
    }
    crate::bench::settle();
    let after = baseline(e);
    let v = e.violations();
    expect(
        t,
        |t| &mut t.audit,
        v == Ok(0),
        n,
        format_args!("audit after the round: {v:?}"),
    );
    let drift = after.frames as i64 - base.frames as i64;
    t.max_frame_drift = t.max_frame_drift.max(drift.abs());
    expect(
        t,
        |t| &mut t.reclaimed,
        (after.counts, after.names) == (base.counts, base.names) && drift == 0,
        n,
        format_args!("after the round {after:?}, before {base:?}"),
    );
    println!("death: round {n}: {plan:?}: killed at {at:?}; served {served:?}; free frames {drift:+}",);
}
