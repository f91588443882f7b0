//! Port rights and the mach_port_* calls (served by the kernel on the task
//! port through the generated interface), notifications, and bad names.
//! Every test ends with the kernel's IPC invariant audit.
#![no_std]
#![no_main]

use mach_interfaces::PolyPort;
use mach_user::abi::kern_return::*;
use mach_user::abi::message::*;
use mach_user::abi::port::*;
use mach_user::rpc::mach_port as mp;
use test_programs::check_eq;
use test_programs::ipc_env::*;

mach_user::entry!(main);

fn audit(e: &mut Env, name: &str) -> bool {
    let mut n = alloc_name(name);
    n.push_str("_audit");
    check_eq!(n.as_str(), e.violations(), Ok(0))
}

/// A small fixed string buffer (no heap in this program).
struct Name {
    buf: [u8; 64],
    len: usize,
}
impl Name {
    fn push_str(&mut self, s: &str) {
        for &b in s.as_bytes() {
            if self.len < 64 {
                self.buf[self.len] = b;
                self.len += 1;
            }
        }
    }
    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("?")
    }
}
fn alloc_name(s: &str) -> Name {
    let mut n = Name { buf: [0; 64], len: 0 };
    n.push_str(s);
    n
}

fn main(_args: mach_user::start::Args) -> i32 {
    let mut e = Env::new();
    let mut ok = true;
    ok &= check_eq!("task_self_is_a_send_right", e.ptype(e.task), Ok(MACH_PORT_TYPE_SEND));
    ok &= allocate(&mut e);
    ok &= send_rights(&mut e);
    ok &= bad_names(&mut e);
    ok &= stale_names(&mut e);
    ok &= sets(&mut e);
    ok &= notifications(&mut e);
    ok &= ownership(&mut e);
    ok &= bad_kernel_requests(&mut e);
    ok &= unnamed_task_ends(&mut e);
    if ok { 0 } else { 1 }
}

fn allocate(e: &mut Env) -> bool {
    let p = e.port();
    let mut ok = check_eq!("mach_port_allocate_receive", e.ptype(p), Ok(MACH_PORT_TYPE_RECEIVE));
    ok &= check_eq!("mach_port_get_refs_receive", e.refs(p, MACH_PORT_RIGHT_RECEIVE), Ok(1));
    let set = mp::mach_port_allocate(&mut e.rpc, e.task, MACH_PORT_RIGHT_PORT_SET).unwrap_or(0);
    ok &= check_eq!("mach_port_allocate_set", e.ptype(set), Ok(MACH_PORT_TYPE_PORT_SET));
    let dn = mp::mach_port_allocate(&mut e.rpc, e.task, MACH_PORT_RIGHT_DEAD_NAME).unwrap_or(0);
    ok &= check_eq!(
        "mach_port_allocate_dead_name",
        e.ptype(dn),
        Ok(MACH_PORT_TYPE_DEAD_NAME)
    );
    ok &= check_eq!(
        "mach_port_allocate_bad_right",
        mp::mach_port_allocate(&mut e.rpc, e.task, 77),
        Err(KERN_INVALID_VALUE)
    );
    let want = (0x123 << 8) | 0x11;
    ok &= check_eq!(
        "mach_port_allocate_name",
        mp::mach_port_allocate_name(&mut e.rpc, e.task, MACH_PORT_RIGHT_RECEIVE, want),
        Ok(())
    );
    ok &= check_eq!(
        "mach_port_allocate_name_taken",
        mp::mach_port_allocate_name(&mut e.rpc, e.task, MACH_PORT_RIGHT_RECEIVE, want),
        Err(KERN_NAME_EXISTS)
    );
    ok &= check_eq!(
        "mach_port_set_qlimit",
        mp::mach_port_set_qlimit(&mut e.rpc, e.task, p, 2),
        Ok(())
    );
    ok &= check_eq!(
        "mach_port_get_qlimit",
        mp::mach_port_get_qlimit(&mut e.rpc, e.task, p),
        Ok(2)
    );
    ok &= check_eq!(
        "mach_port_set_qlimit_too_big",
        mp::mach_port_set_qlimit(&mut e.rpc, e.task, p, MACH_PORT_QLIMIT_MAX + 1),
        Err(KERN_INVALID_VALUE)
    );
    ok &= check_eq!(
        "mach_port_set_mscount",
        mp::mach_port_set_mscount(&mut e.rpc, e.task, p, 7),
        Ok(())
    );
    // mach_port_names: the OOL arrays list every name with its type.
    let found = match mp::mach_port_names(&mut e.rpc, e.task) {
        Ok(r) => (0..r.names.count as usize).any(|i| {
            // SAFETY: the kernel mapped the arrays for us.
            unsafe {
                *((r.names.address as *const u32).add(i)) == p
                    && *((r.types.address as *const u32).add(i)) == MACH_PORT_TYPE_RECEIVE
            }
        }),
        Err(_) => false,
    };
    ok &= check_eq!("mach_port_names_lists_ports", found, true);
    for n in [p, set, dn, want] {
        ok &= e.destroy(n).is_ok();
    }
    ok &= check_eq!("mach_port_destroy_frees_names", e.ptype(p), Err(KERN_INVALID_NAME));
    ok & audit(e, "allocate")
}

fn send_rights(e: &mut Env) -> bool {
    let p = e.port();
    let mut ok = check_eq!("mach_port_insert_right_make_send", e.make_send(p), 0);
    ok &= check_eq!(
        "send_and_receive_share_a_name",
        e.ptype(p),
        Ok(MACH_PORT_TYPE_SEND_RECEIVE)
    );
    ok &= check_eq!(
        "mach_port_mod_refs_add",
        mp::mach_port_mod_refs(&mut e.rpc, e.task, p, MACH_PORT_RIGHT_SEND, 2),
        Ok(())
    );
    ok &= check_eq!("mach_port_get_refs_send", e.refs(p, MACH_PORT_RIGHT_SEND), Ok(3));
    ok &= check_eq!(
        "mach_port_mod_refs_overflow",
        mp::mach_port_mod_refs(&mut e.rpc, e.task, p, MACH_PORT_RIGHT_SEND, MACH_PORT_UREFS_MAX as i32),
        Err(KERN_UREFS_OVERFLOW)
    );
    ok &= check_eq!(
        "mach_port_mod_refs_below_zero",
        mp::mach_port_mod_refs(&mut e.rpc, e.task, p, MACH_PORT_RIGHT_SEND, -4),
        Err(KERN_INVALID_VALUE)
    );
    ok &= check_eq!(
        "mach_port_mod_refs_max",
        mp::mach_port_mod_refs(
            &mut e.rpc,
            e.task,
            p,
            MACH_PORT_RIGHT_SEND,
            (MACH_PORT_UREFS_MAX - 3) as i32
        ),
        Ok(())
    );
    ok &= check_eq!(
        "urefs_at_maximum",
        e.refs(p, MACH_PORT_RIGHT_SEND),
        Ok(MACH_PORT_UREFS_MAX)
    );
    ok &= check_eq!("mach_port_insert_right_past_max", e.make_send(p), KERN_UREFS_OVERFLOW);
    ok &= check_eq!(
        "mach_port_mod_refs_drop_all",
        mp::mach_port_mod_refs(
            &mut e.rpc,
            e.task,
            p,
            MACH_PORT_RIGHT_SEND,
            -(MACH_PORT_UREFS_MAX as i32)
        ),
        Ok(())
    );
    ok &= check_eq!("send_right_gone_receive_stays", e.ptype(p), Ok(MACH_PORT_TYPE_RECEIVE));
    e.make_send(p);
    ok &= check_eq!("mach_port_deallocate_send", e.dealloc(p), Ok(()));
    ok &= check_eq!(
        "mach_port_deallocate_receive_only",
        e.dealloc(p),
        Err(KERN_INVALID_RIGHT)
    );
    // extract_right: a send-once right made from the receive right.
    let so = mp::mach_port_extract_right(&mut e.rpc, e.task, p, MACH_MSG_TYPE_MAKE_SEND_ONCE as u32);
    let so_ok = matches!(
        so,
        Ok(PolyPort {
            disposition: MACH_MSG_TYPE_PORT_SEND_ONCE,
            ..
        })
    );
    ok &= check_eq!("mach_port_extract_right_send_once", so_ok, true);
    if let Ok(r) = so {
        ok &= check_eq!(
            "extracted_send_once_type",
            e.ptype(r.name),
            Ok(MACH_PORT_TYPE_SEND_ONCE)
        );
        // Destroying it unused sends a send-once notification to p.
        let _ = e.dealloc(r.name);
        let mut b = Buf::new();
        let got = recv(&mut b, p, false);
        ok &= check_eq!(
            "send_once_notification",
            (got, b.header().id),
            (MACH_MSG_SUCCESS, MACH_NOTIFY_SEND_ONCE)
        );
    }
    ok &= check_eq!(
        "mach_port_extract_right_bad_type",
        mp::mach_port_extract_right(&mut e.rpc, e.task, p, 3).map(|_| ()),
        Err(KERN_INVALID_VALUE)
    );
    // Receive right destroyed while send rights exist elsewhere: dead name keeps urefs.
    let q = e.port();
    e.make_send(q);
    let _ = mp::mach_port_mod_refs(&mut e.rpc, e.task, q, MACH_PORT_RIGHT_SEND, 1);
    let _ = mp::mach_port_mod_refs(&mut e.rpc, e.task, q, MACH_PORT_RIGHT_RECEIVE, -1);
    ok &= check_eq!(
        "receive_death_leaves_dead_name",
        e.ptype(q),
        Ok(MACH_PORT_TYPE_DEAD_NAME)
    );
    ok &= check_eq!("dead_name_keeps_urefs", e.refs(q, MACH_PORT_RIGHT_DEAD_NAME), Ok(2));
    ok &= check_eq!(
        "dead_name_mod_refs",
        mp::mach_port_mod_refs(&mut e.rpc, e.task, q, MACH_PORT_RIGHT_DEAD_NAME, -2),
        Ok(())
    );
    ok &= check_eq!("dead_name_gone", e.ptype(q), Err(KERN_INVALID_NAME));
    let _ = e.destroy(p);
    ok & audit(e, "send_rights")
}

fn bad_names(e: &mut Env) -> bool {
    let p = e.port();
    let set = mp::mach_port_allocate(&mut e.rpc, e.task, MACH_PORT_RIGHT_PORT_SET).unwrap_or(0);
    let freed = e.port();
    let _ = e.destroy(freed);
    let mut ok = true;
    for (label, n) in [
        ("null", MACH_PORT_NULL),
        ("dead", MACH_PORT_DEAD),
        ("never_allocated", 0x7654_3200),
        ("freed", freed),
    ] {
        let mut all = e.ptype(n) == Err(KERN_INVALID_NAME);
        all &= e.dealloc(n) == Err(KERN_INVALID_NAME);
        all &= e.destroy(n) == Err(KERN_INVALID_NAME);
        all &= e.refs(n, MACH_PORT_RIGHT_SEND) == Err(KERN_INVALID_NAME);
        all &= mp::mach_port_mod_refs(&mut e.rpc, e.task, n, MACH_PORT_RIGHT_SEND, 1) == Err(KERN_INVALID_NAME);
        all &= mp::mach_port_move_member(&mut e.rpc, e.task, n, set) == Err(KERN_INVALID_NAME);
        all &= mp::mach_port_get_qlimit(&mut e.rpc, e.task, n) == Err(KERN_INVALID_NAME);
        all &= mp::mach_port_extract_right(&mut e.rpc, e.task, n, MACH_MSG_TYPE_MAKE_SEND as u32).is_err();
        let mut name = alloc_name("every_call_rejects_");
        name.push_str(label);
        name.push_str("_name");
        ok &= check_eq!(name.as_str(), all, true);
    }
    // Wrong right types.
    ok &= check_eq!(
        "set_is_not_a_receive_right",
        mp::mach_port_get_qlimit(&mut e.rpc, e.task, set),
        Err(KERN_INVALID_RIGHT)
    );
    ok &= check_eq!(
        "receive_right_is_not_a_set",
        mp::mach_port_move_member(&mut e.rpc, e.task, p, p),
        Err(KERN_INVALID_RIGHT)
    );
    ok &= check_eq!(
        "set_has_no_send_refs",
        mp::mach_port_mod_refs(&mut e.rpc, e.task, set, MACH_PORT_RIGHT_SEND, 1),
        Err(KERN_INVALID_RIGHT)
    );
    ok &= check_eq!("get_refs_bad_right", e.refs(p, 99), Err(KERN_INVALID_VALUE));
    let _ = e.destroy(p);
    let _ = e.destroy(set);
    ok & audit(e, "bad_names")
}

fn stale_names(e: &mut Env) -> bool {
    let first = e.port();
    let _ = e.destroy(first);
    let mut ok = true;
    let mut reused = false;
    // Enough cycles to wrap an 8-bit generation on one slot.
    for _ in 0..300 {
        let n = e.port();
        reused |= n == first;
        ok &= e.ptype(first) == Err(KERN_INVALID_NAME);
        let _ = e.destroy(n);
    }
    ok &= check_eq!("stale_name_never_resolves", ok, true);
    ok &= check_eq!("freed_name_not_handed_out_again", reused, false);
    ok & audit(e, "stale_names")
}

fn sets(e: &mut Env) -> bool {
    let set = mp::mach_port_allocate(&mut e.rpc, e.task, MACH_PORT_RIGHT_PORT_SET).unwrap_or(0);
    let a = e.port();
    let b = e.port();
    let mut ok = check_eq!(
        "mach_port_move_member_in",
        mp::mach_port_move_member(&mut e.rpc, e.task, a, set),
        Ok(())
    );
    ok &= mp::mach_port_move_member(&mut e.rpc, e.task, b, set).is_ok();
    let mut buf = Buf::new();
    send(&mut buf, b, MACH_MSG_TYPE_MAKE_SEND, 0, 0, 4242, 0, 0);
    ok &= check_eq!("receive_on_member_in_set", recv(&mut buf, b, false), MACH_RCV_IN_SET);
    let got = recv(&mut buf, set, false);
    ok &= check_eq!(
        "receive_on_port_set",
        (got, buf.header().id, buf.header().local_port),
        (MACH_MSG_SUCCESS, 4242, b)
    );
    ok &= check_eq!(
        "mach_port_move_member_out",
        mp::mach_port_move_member(&mut e.rpc, e.task, a, MACH_PORT_NULL),
        Ok(())
    );
    ok &= check_eq!(
        "mach_port_move_member_not_in_set",
        mp::mach_port_move_member(&mut e.rpc, e.task, a, MACH_PORT_NULL),
        Err(KERN_NOT_IN_SET)
    );
    ok &= check_eq!(
        "empty_set_poll_times_out",
        recv(&mut buf, set, false),
        MACH_RCV_TIMED_OUT
    );
    for n in [set, a, b] {
        let _ = e.destroy(n);
    }
    ok & audit(e, "sets")
}

/// A send-once right (MAKE_SEND_ONCE) to `notify`, as a PolyPort.
fn so(notify: u32) -> PolyPort {
    PolyPort {
        name: notify,
        disposition: MACH_MSG_TYPE_MAKE_SEND_ONCE,
    }
}

fn notifications(e: &mut Env) -> bool {
    let mut buf = Buf::new();
    let notify = e.port();
    let p = e.port();
    // No-senders: sync 1, so it waits for the first send right to come and go.
    let r = mp::mach_port_request_notification(&mut e.rpc, e.task, p, MACH_NOTIFY_NO_SENDERS, 1, so(notify));
    let mut ok = check_eq!("request_no_senders", r, Ok(MACH_PORT_NULL));
    e.make_send(p);
    let _ = mp::mach_port_mod_refs(&mut e.rpc, e.task, p, MACH_PORT_RIGHT_SEND, 1);
    let _ = e.dealloc(p);
    ok &= check_eq!(
        "no_senders_waits_for_last_right",
        recv(&mut buf, notify, false),
        MACH_RCV_TIMED_OUT
    );
    let _ = e.dealloc(p);
    let got = recv(&mut buf, notify, false);
    ok &= check_eq!(
        "no_senders_fires",
        (got, buf.header().id, buf.get32(24)),
        (MACH_MSG_SUCCESS, MACH_NOTIFY_NO_SENDERS, 1)
    );
    ok &= check_eq!("notification_comes_from_kernel", buf.trailer().sender_task(), 0);
    e.make_send(p);
    let _ = e.dealloc(p);
    ok &= check_eq!(
        "no_senders_fires_once",
        recv(&mut buf, notify, false),
        MACH_RCV_TIMED_OUT
    );

    // Dead-name: a send right under another name via a message to ourselves.
    let q = e.port();
    let holder = e.port();
    buf.put32(24, 1);
    let end = port_desc(&mut buf, 28, q, MACH_MSG_TYPE_MAKE_SEND);
    header(
        &mut buf,
        mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0) | MACH_MSGH_BITS_COMPLEX,
        end as u32,
        holder,
        0,
        1,
    );
    mach_user::ipc::mach_msg(&mut buf, MACH_SEND_MSG, end as u32, 0, 0);
    recv(&mut buf, holder, false);
    let sq = buf.get32(28);
    ok &= check_eq!("send_right_merges_with_receive", sq, q);
    let r = mp::mach_port_request_notification(&mut e.rpc, e.task, q, MACH_NOTIFY_DEAD_NAME, 0, so(notify));
    ok &= check_eq!("request_dead_name", r, Ok(MACH_PORT_NULL));
    ok &= check_eq!(
        "dnrequest_shows_in_type",
        e.ptype(q).map(|t| t & MACH_PORT_TYPE_DNREQUEST != 0),
        Ok(true)
    );
    let _ = mp::mach_port_mod_refs(&mut e.rpc, e.task, q, MACH_PORT_RIGHT_RECEIVE, -1);
    let got = recv(&mut buf, notify, false);
    ok &= check_eq!(
        "dead_name_fires",
        (got, buf.header().id, buf.get32(24)),
        (MACH_MSG_SUCCESS, MACH_NOTIFY_DEAD_NAME, q)
    );
    ok &= check_eq!(
        "dead_name_fires_once",
        recv(&mut buf, notify, false),
        MACH_RCV_TIMED_OUT
    );
    let _ = e.dealloc(q);

    // Port-deleted: the name with a request is deallocated while the port lives.
    let r2 = e.port();
    e.make_send(r2);
    let _ = mp::mach_port_request_notification(&mut e.rpc, e.task, r2, MACH_NOTIFY_DEAD_NAME, 0, so(notify));
    let _ = e.dealloc(r2);
    let got = recv(&mut buf, notify, false);
    ok &= check_eq!(
        "port_deleted_fires",
        (got, buf.header().id, buf.get32(24)),
        (MACH_MSG_SUCCESS, MACH_NOTIFY_PORT_DELETED, r2)
    );

    // Port-destroyed: destroying the receive right sends it to the requester.
    let r = mp::mach_port_request_notification(&mut e.rpc, e.task, r2, MACH_NOTIFY_PORT_DESTROYED, 0, so(notify));
    ok &= check_eq!("request_port_destroyed", r, Ok(MACH_PORT_NULL));
    let _ = e.destroy(r2);
    let got = recv(&mut buf, notify, false);
    let back = buf.get32(28);
    ok &= check_eq!(
        "port_destroyed_fires",
        (got, buf.header().id),
        (MACH_MSG_SUCCESS, MACH_NOTIFY_PORT_DESTROYED)
    );
    ok &= check_eq!(
        "port_destroyed_returns_receive_right",
        e.ptype(back),
        Ok(MACH_PORT_TYPE_RECEIVE)
    );
    let _ = e.destroy(back);
    // Replacing a request hands back the previous send-once right.
    let r3 = e.port();
    let _ = mp::mach_port_request_notification(&mut e.rpc, e.task, r3, MACH_NOTIFY_PORT_DESTROYED, 0, so(notify));
    let prev = mp::mach_port_request_notification(&mut e.rpc, e.task, r3, MACH_NOTIFY_PORT_DESTROYED, 0, so(notify));
    let prev_ok = prev.map(|n| e.ptype(n) == Ok(MACH_PORT_TYPE_SEND_ONCE)) == Ok(true);
    ok &= check_eq!("request_returns_previous", prev_ok, true);
    if let Ok(n) = prev {
        let _ = e.dealloc(n);
        let _ = recv(&mut buf, notify, false);
    }
    ok &= check_eq!(
        "request_bad_msgid",
        mp::mach_port_request_notification(&mut e.rpc, e.task, r3, 12345, 0, so(notify)),
        Err(KERN_INVALID_VALUE)
    );
    let _ = e.destroy(r3);
    while recv(&mut buf, notify, false) == MACH_MSG_SUCCESS {}
    let _ = e.destroy(p);
    let _ = e.destroy(notify);
    let _ = e.destroy(holder);
    ok & audit(e, "notifications")
}

/// A kernel call that fails releases the right it was handed exactly once;
/// one that succeeds keeps it.
fn ownership(e: &mut Env) -> bool {
    let mut buf = Buf::new();
    let notify = e.port();
    let p = e.port();
    let _ = mp::mach_port_request_notification(&mut e.rpc, e.task, p, MACH_NOTIFY_NO_SENDERS, 1, so(notify));
    let taken = e.port();
    // insert_right under a name that is taken fails: the made send right is released.
    let r = mp::mach_port_insert_right(
        &mut e.rpc,
        e.task,
        taken,
        PolyPort {
            name: p,
            disposition: MACH_MSG_TYPE_MAKE_SEND,
        },
    );
    let mut ok = check_eq!("failed_call_returns_error", r, Err(KERN_NAME_EXISTS));
    let got = recv(&mut buf, notify, false);
    ok &= check_eq!(
        "failed_call_released_the_right",
        (got, buf.header().id),
        (MACH_MSG_SUCCESS, MACH_NOTIFY_NO_SENDERS)
    );
    ok &= check_eq!(
        "released_exactly_once",
        recv(&mut buf, notify, false),
        MACH_RCV_TIMED_OUT
    );
    let _ = mp::mach_port_request_notification(&mut e.rpc, e.task, p, MACH_NOTIFY_NO_SENDERS, 2, so(notify));
    ok &= check_eq!("successful_call_keeps_the_right", e.make_send(p), 0);
    ok &= check_eq!(
        "kept_right_is_not_released",
        recv(&mut buf, notify, false),
        MACH_RCV_TIMED_OUT
    );
    let _ = e.dealloc(p);
    let _ = recv(&mut buf, notify, false);
    for n in [notify, p, taken] {
        let _ = e.destroy(n);
    }
    ok & audit(e, "ownership")
}

/// Requests to kernel ports that no routine matches, or that are malformed.
fn bad_kernel_requests(e: &mut Env) -> bool {
    let mut buf = Buf::new();
    let reply = e.port();
    header(
        &mut buf,
        mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE),
        24,
        e.task,
        reply,
        999_999,
    );
    let kr = mach_user::ipc::mach_msg(&mut buf, MACH_SEND_MSG | MACH_RCV_MSG, 24, reply, 0);
    let mut ok = check_eq!(
        "kernel_bad_id",
        (kr, buf.header().id, buf.get32(24) as i32),
        (MACH_MSG_SUCCESS, 1_000_099, MIG_BAD_ID)
    );
    // mach_port_allocate's id with a short body and a stray port descriptor.
    let stray = e.port();
    buf.put32(24, 1);
    let end = port_desc(&mut buf, 28, stray, MACH_MSG_TYPE_MAKE_SEND);
    header(
        &mut buf,
        mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE) | MACH_MSGH_BITS_COMPLEX,
        end as u32,
        e.task,
        reply,
        3204,
    );
    let kr = mach_user::ipc::mach_msg(&mut buf, MACH_SEND_MSG | MACH_RCV_MSG, end as u32, reply, 0);
    ok &= check_eq!(
        "kernel_bad_arguments",
        (kr, buf.get32(24) as i32),
        (MACH_MSG_SUCCESS, MIG_BAD_ARGUMENTS)
    );
    ok &= check_eq!(
        "bad_request_released_its_right",
        e.ptype(stray),
        Ok(MACH_PORT_TYPE_RECEIVE)
    );
    let _ = e.destroy(stray);
    let _ = e.destroy(reply);
    ok & audit(e, "bad_kernel_requests")
}

/// A task with no threads whose last send right goes is destroyed (issue 9:
/// such a task lived for ever and kept the system from shutting down). Seen
/// from outside through a receive right moved into the child's space: when
/// the child's space is destroyed our send right to it turns into a dead
/// name, whose notification is queued before our deallocate returns.
fn unnamed_task_ends(e: &mut Env) -> bool {
    let mut buf = Buf::new();
    let Ok(child) = mach_user::rpc::task::task_create(&mut e.rpc, e.task, 0) else {
        return check_eq!("unnamed_task_created", false, true);
    };
    let p = e.port();
    e.make_send(p);
    let notify = e.port();
    let moved = PolyPort {
        name: p,
        disposition: MACH_MSG_TYPE_MOVE_RECEIVE,
    };
    let mut ok = check_eq!(
        "unnamed_task_holds_a_receive_right",
        mp::mach_port_insert_right(&mut e.rpc, child, 0x1203, moved),
        Ok(())
    );
    let r = mp::mach_port_request_notification(&mut e.rpc, e.task, p, MACH_NOTIFY_DEAD_NAME, 0, so(notify));
    ok &= check_eq!("unnamed_task_watched", r, Ok(MACH_PORT_NULL));
    ok &= check_eq!("named_task_lives", recv(&mut buf, notify, false), MACH_RCV_TIMED_OUT);
    let _ = e.dealloc(child);
    ok &= check_eq!(
        "unnamed_task_without_threads_ends",
        (recv(&mut buf, notify, false), buf.header().id),
        (MACH_MSG_SUCCESS, MACH_NOTIFY_DEAD_NAME)
    );
    let _ = e.dealloc(p);
    let _ = e.destroy(notify);
    ok
}
