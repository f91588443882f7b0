//! Death at random points with everything held (issue 9), run by
//! `test-exhaust` in its boot of its own, where the kernel's counts are its.
//!
//! Each round makes two child tasks from this image (`task_create` with
//! inherited memory, a thread started at a function here) and a page shared
//! with both, on which they report how far they got:
//!
//! * The **victim** sets up, one step per yield: ports and a port set with
//!   members; a request to the parent's service port carrying a send right to
//!   a receive right of its own (the parent puts a dead-name request on it)
//!   and answered with two send-once rights to a parent port and the only
//!   send right to a parent port with a no-senders request; messages queued
//!   on a port of its own carrying out-of-line memory (virtual and physical
//!   copies), an out-of-line port array, those rights, and a receive right
//!   with a message of its own queued; a thread blocked sending to a parent
//!   port whose queue (limit 1) it filled; a thread blocked receiving; a
//!   mapping of a memory object whose pager is the parent (which never
//!   answers) and a thread blocked in a fault on it; and the pager role: it
//!   holds the receive right of a memory object the mapper maps, and
//!   receives the kernel's requests without answering them. Its main thread
//!   ends blocked receiving on the port set. From the start it also holds a
//!   receive right (its inbox) the parent holds a dead-name request on.
//! * The **mapper** maps the victim's memory object and reads it: it waits
//!   for a pager that never answers.
//!
//! The parent answers the victim's one request while it yields (so what it
//! armed is known exactly), kills the victim with `task_terminate` after `k`
//! yields (`k` from a fixed seed; the last rounds wait until everything is
//! set up), and then checks, for each test over all rounds:
//!
//! * `death_setup_complete`: every step the victim got to worked, and the
//!   last rounds killed it with everything above held (the tests test what
//!   they say);
//! * `death_notifications_fire_once`: one send-once notification per
//!   send-once right given, one no-senders (make-send count 1) if the send
//!   right was given, one dead-name per armed request (inbox, watched port),
//!   and nothing more;
//! * `death_raises_no_exception`: the victim's threads die in their waits
//!   without an `exception_raise` to its exception port;
//! * `death_aborts_blocked_send`: the full port holds the one message that
//!   filled it, never the blocked sender's;
//! * `death_terminates_pager_objects`: the object the victim mapped from the
//!   parent is terminated once if it was initialised;
//! * `death_releases_blocked_mapper`: the mapper, blocked on the dead pager
//!   (or reading after its death), ends with one `EXC_BAD_ACCESS` at the
//!   address it read; a mapper that starts after the death fails `vm_map`;
//! * `death_audit_clean`: the kernel's audit after the kill and after the round;
//! * `death_reclaims_everything`: after the round, ports, port sets, queued
//!   messages, tasks, threads, the parent's names and the free frames are
//!   back at their count before it.
//!
//! [`children`] holds the children's code, [`parent`] the parent's side of
//! their messages (its ports, the answer to the victim, draining and
//! releasing what arrives, the mapper's exception), [`round`] one round and
//! its checks.

mod children;
mod parent;
mod round;

use crate::fuzz::Rng;
use crate::ipc_env::Env;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use mach_user::println;
use mach_user::rpc::vm;
use round::{Plan, Tally};

const PAGE: u64 = 4096;
/// Rounds killed after a random number of yields, then rounds killed once
/// everything is set up.
const RANDOM_ROUNDS: u32 = 24;
const FULL_ROUNDS: u32 = 2;
const SEED: u64 = 9;
/// Yields before the kill in a random round: below this.
const MAX_YIELDS: u64 = 14;

// Names the parent gives the victim.
/// Receive right: its inbox (the parent holds a send right with a dead-name request).
const INBOX: u32 = 0x3000;
/// Receive right: the memory object it is the pager of.
const OBJECT: u32 = 0x3100;
/// Send rights to the parent's service port, full port and memory object.
const SVC: u32 = 0x3200;
const FULL: u32 = 0x3300;
const POBJ: u32 = 0x3400;
// The mapper's name for the victim's memory object.
const MOBJ: u32 = 0x3000;

const ID_ASK: i32 = 0x0dea_0001;
const ID_GIVE: i32 = 0x0dea_0002;
const ID_QUEUED: i32 = 0x0dea_0003;
const ID_FULL: i32 = 0x0dea_0004;

// The victim's steps (the shared page's STEP word: the last one done).
const STARTED: u32 = 1;
const PORTS: u32 = 2;
const ASKED: u32 = 3;
const GOT: u32 = 4;
const QUEUED: u32 = 5;
const SENDER: u32 = 6;
const RECEIVER: u32 = 7;
const MAPPED: u32 = 8;
const FAULTER: u32 = 9;
const PAGER: u32 = 10;
const READY: u32 = 11;
const STEPS: usize = 12;

// The mapper's steps.
const M_MAPPING: u32 = 1;
const M_MAP_FAILED: u32 = 2;
const M_TOUCHING: u32 = 3;
const M_TOUCHED: u32 = 4;

/// The page shared with the children.
#[repr(C)]
struct Shared {
    /// The victim's last step done.
    step: AtomicU32,
    /// Its blocked threads: 1 once about to block (the sender: once its
    /// first message is queued), 2 if the blocking call ever returned.
    sender: AtomicU32,
    receiver: AtomicU32,
    faulter: AtomicU32,
    /// The mapper's last step.
    mapper: AtomicU32,
    /// The victim's failed step and the error (0 if none).
    failed_step: AtomicU32,
    failed_code: AtomicU32,
    /// Requests the victim received as the pager (and kept unanswered).
    pager_requests: AtomicU32,
    /// The error of the mapper's vm_map, if it failed.
    map_error: AtomicU32,
    /// Where the mapper reads.
    touch: AtomicU64,
}

/// Address of the shared page (inherited by the children with the rest of
/// this task's memory; the page itself is inherited shared).
static SHARED: AtomicU64 = AtomicU64::new(0);

fn shared() -> &'static Shared {
    // SAFETY: SHARED holds the address of a page mapped (inherited shared)
    // in this task and both children for as long as any of them runs (the
    // parent deallocates it only after its last round); Shared is a few
    // atomics, smaller than the page and aligned by it.
    unsafe { &*(SHARED.load(Ordering::Acquire) as *const Shared) }
}

/// Touches the next 64 KiB of this thread's stack, so that the rounds'
/// deeper calls find its pages resident and the free frames a round ends
/// with are all the round gave back.
#[inline(never)]
fn prefault_stack() {
    let mut pages = [0u8; 64 * 1024];
    for i in (0..pages.len()).step_by(PAGE as usize) {
        // SAFETY: an index into the array just made.
        unsafe { core::ptr::write_volatile(pages.as_mut_ptr().add(i), 1) };
    }
    core::hint::black_box(&pages);
}

/// Runs the rounds and reports one result per test; true if all passed.
pub fn run(e: &mut Env) -> bool {
    let Ok(page) = vm::vm_allocate(&mut e.rpc, e.task, 0, PAGE, 1) else {
        return crate::report("death_setup_complete", false, format_args!("no shared page"));
    };
    // Shared with the children (VM_INHERIT_SHARE), and faulted in before
    // the first round's counts are taken.
    let _ = vm::vm_inherit(&mut e.rpc, e.task, page, PAGE, 0);
    SHARED.store(page, Ordering::Release);
    shared().step.store(0, Ordering::Release);
    prefault_stack();
    let mut t = Tally::new();
    let mut rng = Rng::new(SEED);
    for n in 0..RANDOM_ROUNDS + FULL_ROUNDS {
        let plan = Plan {
            kill_after: (n < RANDOM_ROUNDS).then(|| rng.below(MAX_YIELDS)),
            mapper_after: rng.below(MAX_YIELDS),
        };
        round::round(e, n, plan, &mut t);
    }
    let _ = vm::vm_deallocate(&mut e.rpc, e.task, page, PAGE);
    println!(
        "death: {} rounds, {} failed checks; victim's step at the kill (rounds per step 0..{READY}): {:?}; mapper blocked at {} kills; largest free-frame drift {}",
        RANDOM_ROUNDS + FULL_ROUNDS,
        t.failures,
        t.at_step,
        t.mapper_blocked,
        t.max_frame_drift
    );
    let why = format_args!("see the death: lines above");
    let mut ok = crate::report("death_setup_complete", t.setup, why);
    ok &= crate::report("death_notifications_fire_once", t.notifications, why);
    ok &= crate::report("death_raises_no_exception", t.no_exception, why);
    ok &= crate::report("death_aborts_blocked_send", t.blocked_send, why);
    ok &= crate::report("death_terminates_pager_objects", t.pager_objects, why);
    ok &= crate::report("death_releases_blocked_mapper", t.mapper, why);
    ok &= crate::report("death_audit_clean", t.audit, why);
    ok &= crate::report("death_reclaims_everything", t.reclaimed, why);
    ok
}
