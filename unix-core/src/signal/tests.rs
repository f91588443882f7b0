use super::siginfo::{SIGINFO_SIZE, SigFields, SigInfo};
use super::*;
use crate::host_c;
use core::mem::{offset_of, size_of};
use linux_raw_sys::general::{
    SA_UNSUPPORTED, SI_TKILL, SIGALRM, SIGHUP, SIGINT, SIGPIPE, SIGPWR, SIGRTMIN, SIGSTKFLT, SIGTERM, SIGUSR1, SIGUSR2,
    SS_AUTODISARM, SS_DISABLE, SS_ONSTACK,
};
use std::format;

const H: u64 = 0x40_1000;

fn handler(flags: u32, mask: SigSet) -> SigAction {
    SigAction {
        handler: Handler::At(H),
        flags: u64::from(flags | SA_RESTORER),
        restorer: 0x40_2000,
        mask,
    }
}

fn ignore() -> SigAction {
    SigAction {
        handler: Handler::Ignore,
        ..SigAction::default()
    }
}

#[test]
fn sigsets() {
    let s = SigSet::of(SIGINT).with(SIGTERM).with(64);
    assert!(s.contains(SIGINT) && s.contains(SIGTERM) && s.contains(64));
    assert_eq!(s.0, (1 << 1) | (1 << 14) | (1 << 63));
    assert_eq!(s.lowest(), Some(SIGINT));
    assert_eq!(s.without(SIGINT).lowest(), Some(SIGTERM));
    assert_eq!(SigSet::EMPTY.lowest(), None);
    assert_eq!(SigSet::of(0), SigSet::EMPTY);
    assert_eq!(SigSet::of(65), SigSet::EMPTY);
    assert!(!s.contains(0) && !s.contains(65));
    assert_eq!(
        SigSet(u64::MAX).blockable().0,
        !((1 << 8) | (1 << 18)),
        "SIGKILL is bit 8, SIGSTOP bit 18"
    );
    assert_eq!(s.union(SigSet::of(1)).minus(s), SigSet::of(1));
    assert!(SigSet::EMPTY.is_empty() && !s.is_empty());
    assert_eq!(check_signal(0), Err(Errno::EINVAL));
    assert_eq!(check_signal(64), Ok(()));
    assert_eq!(check_signal(65), Err(Errno::EINVAL));
}

#[test]
fn kernel_sigaction_layout_is_linuxs() {
    use linux_raw_sys::general::kernel_sigaction as K;
    assert_eq!(size_of::<K>(), KERNEL_SIGACTION_SIZE);
    assert_eq!(offset_of!(K, sa_handler_kernel), 0);
    assert_eq!(offset_of!(K, sa_flags), 8);
    assert_eq!(offset_of!(K, sa_restorer), 16);
    assert_eq!(offset_of!(K, sa_mask), 24);
    assert_eq!(size_of::<linux_raw_sys::general::kernel_sigset_t>(), SIGSET_SIZE);
    let a = SigAction {
        handler: Handler::At(0x1122_3344_5566_7788),
        flags: 0x0400_0004,
        restorer: 0x99aa_bbcc_ddee_ff00,
        mask: SigSet(0x8000_0000_0000_0001),
    };
    let b = a.encode();
    assert_eq!(b[0..8], 0x1122_3344_5566_7788u64.to_le_bytes());
    assert_eq!(b[8..16], 0x0400_0004u64.to_le_bytes());
    assert_eq!(b[16..24], 0x99aa_bbcc_ddee_ff00u64.to_le_bytes());
    assert_eq!(b[24..32], 0x8000_0000_0000_0001u64.to_le_bytes());
    assert_eq!(SigAction::decode(&b), Ok(a));
    assert_eq!(SigAction::decode(&b[..31]), Err(Errno::EFAULT));
    assert_eq!(Handler::from_raw(0), Handler::Default);
    assert_eq!(Handler::from_raw(1), Handler::Ignore);
    assert_eq!(Handler::from_raw(2), Handler::At(2));
    assert_eq!(Handler::Ignore.raw(), 1);
}

#[test]
fn default_actions_follow_signal7() {
    use DefaultAction::*;
    let core = [3, 4, 5, 6, 7, 8, 11, 24, 25, 31];
    let ignore = [17, 23, 28];
    let stop = [19, 20, 21, 22];
    for sig in 1..=64 {
        let want = if core.contains(&sig) {
            Core
        } else if ignore.contains(&sig) {
            Ignore
        } else if stop.contains(&sig) {
            Stop
        } else if sig == 18 {
            Continue
        } else {
            Terminate
        };
        assert_eq!(default_action(sig), Some(want), "signal {sig}");
    }
    for sig in [
        SIGHUP, SIGINT, SIGKILL, SIGPIPE, SIGALRM, SIGTERM, SIGSTKFLT, SIGPWR, SIGRTMIN, 64,
    ] {
        assert_eq!(default_action(sig), Some(Terminate));
    }
    assert_eq!(default_action(0), None);
    assert_eq!(default_action(65), None);
}

#[test]
fn sigaction_rules() {
    let mut s = SignalState::new();
    assert_eq!(s.sigaction(SIGINT, None), Ok(SigAction::default()));
    let a = handler(
        SA_SIGINFO | SA_UNSUPPORTED,
        SigSet::of(SIGKILL).with(SIGSTOP).with(SIGUSR2),
    );
    assert_eq!(s.sigaction(SIGINT, Some(a)), Ok(SigAction::default()));
    let stored = s.action(SIGINT).unwrap();
    assert_eq!(
        stored.flags,
        u64::from(SA_SIGINFO | SA_RESTORER),
        "SA_UNSUPPORTED is cleared"
    );
    assert_eq!(stored.mask, SigSet::of(SIGUSR2), "SIGKILL/SIGSTOP never in a mask");
    assert_eq!(s.sigaction(SIGINT, None), Ok(stored));
    for sig in [SIGKILL, SIGSTOP] {
        assert_eq!(s.sigaction(sig, Some(SigAction::default())), Err(Errno::EINVAL));
        assert_eq!(s.sigaction(sig, Some(ignore())), Err(Errno::EINVAL));
        assert_eq!(s.sigaction(sig, None), Ok(SigAction::default()), "querying is allowed");
    }
    assert_eq!(s.sigaction(0, None), Err(Errno::EINVAL));
    assert_eq!(s.sigaction(65, Some(a)), Err(Errno::EINVAL));
    // The system call form.
    let old = s
        .rt_sigaction(SIGINT, Some(&handler(0, SigSet::EMPTY).encode()), 8)
        .unwrap();
    assert_eq!(SigAction::decode(&old), Ok(stored));
    assert_eq!(s.rt_sigaction(SIGINT, None, 16), Err(Errno::EINVAL));
    assert_eq!(s.rt_sigaction(SIGINT, None, 4), Err(Errno::EINVAL));
    assert_eq!(s.rt_sigaction(SIGINT, Some(&[0; 8]), 8), Err(Errno::EFAULT));
}

#[test]
fn ignoring_a_pending_signal_discards_it() {
    let mut s = SignalState::new();
    s.sigprocmask(SIG_BLOCK, Some(SigSet::of(SIGUSR1).with(SIGCHLD)), 8)
        .unwrap();
    assert_eq!(s.post(SIGUSR1), Ok(Posted::Blocked));
    assert_eq!(
        s.post(SIGCHLD),
        Ok(Posted::Blocked),
        "blocked signals stay pending even if ignored"
    );
    s.sigaction(SIGUSR1, Some(handler(0, SigSet::EMPTY))).unwrap();
    assert!(s.pending().contains(SIGUSR1));
    s.sigaction(SIGUSR1, Some(ignore())).unwrap();
    assert!(!s.pending().contains(SIGUSR1));
    // Back to SIG_DFL for a default-ignored signal discards it too.
    s.sigaction(SIGCHLD, Some(SigAction::default())).unwrap();
    assert!(!s.pending().contains(SIGCHLD));
}

#[test]
fn sigprocmask_rules() {
    let mut s = SignalState::new();
    let a = SigSet::of(SIGINT).with(SIGKILL).with(SIGSTOP);
    assert_eq!(s.sigprocmask(SIG_BLOCK, Some(a), 8), Ok(SigSet::EMPTY));
    assert_eq!(s.blocked(), SigSet::of(SIGINT), "SIGKILL and SIGSTOP cannot be blocked");
    assert_eq!(
        s.sigprocmask(SIG_BLOCK, Some(SigSet::of(SIGTERM)), 8),
        Ok(SigSet::of(SIGINT))
    );
    assert_eq!(
        s.sigprocmask(SIG_UNBLOCK, Some(SigSet::of(SIGINT)), 8),
        Ok(SigSet::of(SIGINT).with(SIGTERM))
    );
    assert_eq!(s.blocked(), SigSet::of(SIGTERM));
    assert_eq!(
        s.sigprocmask(SIG_SETMASK, Some(SigSet(u64::MAX)), 8),
        Ok(SigSet::of(SIGTERM))
    );
    assert_eq!(s.blocked(), SigSet(u64::MAX).blockable());
    assert_eq!(s.sigprocmask(3, Some(SigSet::EMPTY), 8), Err(Errno::EINVAL));
    assert_eq!(
        s.sigprocmask(3, None, 8),
        Ok(SigSet(u64::MAX).blockable()),
        "how is unused without a set"
    );
    assert_eq!(s.sigprocmask(SIG_SETMASK, Some(SigSet::EMPTY), 7), Err(Errno::EINVAL));
    assert_eq!(s.sigprocmask(SIG_SETMASK, None, 128), Err(Errno::EINVAL));
    assert_eq!(s.blocked(), SigSet(u64::MAX).blockable());
}

#[test]
fn posting_and_default_ignored_signals() {
    let mut s = SignalState::new();
    for sig in [SIGCHLD, SIGWINCH, SIGURG, SIGCONT] {
        assert_eq!(s.post(sig), Ok(Posted::Discarded), "signal {sig}");
        assert!(s.is_ignored(sig));
    }
    assert!(s.pending().is_empty());
    assert_eq!(s.post(SIGTERM), Ok(Posted::Deliverable));
    s.sigaction(SIGTERM, Some(ignore())).unwrap();
    assert_eq!(s.post(SIGTERM), Ok(Posted::Discarded));
    assert_eq!(s.post(SIGKILL), Ok(Posted::Deliverable));
    assert_eq!(s.post(0), Err(Errno::EINVAL));
    assert_eq!(s.post(65), Err(Errno::EINVAL));
    // A handled SIGCHLD is kept.
    s.sigaction(SIGCHLD, Some(handler(0, SigSet::EMPTY))).unwrap();
    assert_eq!(s.post(SIGCHLD), Ok(Posted::Deliverable));
}

#[test]
fn sigcont_and_stop_signals_cancel_each_other() {
    let mut s = SignalState::new();
    s.sigprocmask(SIG_BLOCK, Some(SigSet::STOP.union(SigSet::of(SIGCONT))), 8)
        .unwrap();
    for sig in [SIGTSTP, SIGTTIN, SIGTTOU] {
        s.post(sig).unwrap();
    }
    s.post(SIGSTOP).unwrap();
    assert_eq!(s.pending(), SigSet::STOP);
    assert_eq!(s.post(SIGCONT), Ok(Posted::Blocked));
    assert_eq!(s.pending(), SigSet::of(SIGCONT));
    s.post(SIGTSTP).unwrap();
    assert_eq!(s.pending(), SigSet::of(SIGTSTP));
}

#[test]
fn delivery_order_and_default_actions() {
    let mut s = SignalState::new();
    s.sigprocmask(SIG_BLOCK, Some(SigSet::of(SIGUSR1)), 8).unwrap();
    for sig in [SIGTERM, SIGINT, SIGUSR1, SIGSEGV, SIGTSTP, 40] {
        s.post(sig).unwrap();
    }
    s.sigaction(SIGCHLD, Some(handler(0, SigSet::EMPTY))).unwrap();
    s.post(SIGCHLD).unwrap();
    s.sigaction(SIGCHLD, Some(SigAction::default())).unwrap();
    s.sigprocmask(SIG_BLOCK, Some(SigSet::of(SIGQUIT)), 8).unwrap();
    s.post(SIGQUIT).unwrap();
    s.sigaction(SIGQUIT, Some(ignore())).unwrap();
    s.sigprocmask(SIG_UNBLOCK, Some(SigSet::of(SIGQUIT)), 8).unwrap();
    assert!(!s.pending().contains(SIGQUIT), "ignoring it discarded it");
    let got: std::vec::Vec<Delivery> = core::iter::from_fn(|| s.next_deliverable()).collect();
    assert_eq!(
        got,
        [
            Delivery::Terminate {
                sig: SIGSEGV,
                core: true
            }, // synchronous first
            Delivery::Terminate {
                sig: SIGINT,
                core: false
            },
            Delivery::Terminate {
                sig: SIGTERM,
                core: false
            },
            Delivery::Stop { sig: SIGTSTP },
            Delivery::Terminate { sig: 40, core: false },
        ]
    );
    assert_eq!(s.pending(), SigSet::of(SIGUSR1), "the blocked one stays");
    // A signal that is pending while blocked and ignored is ignored on delivery.
    s.sigprocmask(SIG_SETMASK, Some(SigSet::of(SIGHUP).with(SIGWINCH)), 8)
        .unwrap();
    s.sigaction(SIGHUP, Some(ignore())).unwrap();
    s.post(SIGHUP).unwrap();
    s.post(SIGWINCH).unwrap();
    s.sigprocmask(SIG_SETMASK, Some(SigSet::EMPTY), 8).unwrap();
    assert_eq!(s.next_deliverable(), Some(Delivery::Ignore { sig: SIGHUP }));
    assert_eq!(
        s.next_deliverable(),
        Some(Delivery::Terminate {
            sig: SIGUSR1,
            core: false
        })
    );
    assert_eq!(s.next_deliverable(), Some(Delivery::Ignore { sig: SIGWINCH }));
    assert_eq!(s.next_deliverable(), None);
    // SIGCONT by default: ignore at delivery.
    s.sigprocmask(SIG_SETMASK, Some(SigSet::of(SIGCONT)), 8).unwrap();
    s.post(SIGCONT).unwrap();
    s.sigprocmask(SIG_SETMASK, Some(SigSet::EMPTY), 8).unwrap();
    assert_eq!(s.next_deliverable(), Some(Delivery::Ignore { sig: SIGCONT }));
}

#[test]
fn handler_masks_nodefer_and_resethand() {
    let mut s = SignalState::new();
    s.sigprocmask(SIG_SETMASK, Some(SigSet::of(SIGHUP)), 8).unwrap();
    let a = handler(SA_RESTART, SigSet::of(SIGTERM));
    s.sigaction(SIGUSR1, Some(a)).unwrap();
    s.post(SIGUSR1).unwrap();
    let d = s.next_deliverable().unwrap();
    let stored = s.action(SIGUSR1).unwrap();
    assert_eq!(
        d,
        Delivery::Handle {
            sig: SIGUSR1,
            action: stored,
            saved_mask: SigSet::of(SIGHUP),
            handler_mask: SigSet::of(SIGHUP).with(SIGTERM).with(SIGUSR1),
        }
    );
    assert_eq!(s.blocked(), SigSet::of(SIGHUP).with(SIGTERM).with(SIGUSR1));
    // While it runs, another SIGUSR1 waits.
    assert_eq!(s.post(SIGUSR1), Ok(Posted::Blocked));
    // rt_sigreturn restores the saved mask; the second one is delivered.
    s.sigreturn(SigSet::of(SIGHUP), StackT::default(), 0x7000_0000);
    assert_eq!(s.blocked(), SigSet::of(SIGHUP));
    assert!(matches!(
        s.next_deliverable(),
        Some(Delivery::Handle { sig: SIGUSR1, .. })
    ));

    // SA_NODEFER: the signal itself is not added; SA_RESETHAND: the handler
    // is reset to SIG_DFL (flags and mask stay, as in Linux).
    let mut s = SignalState::new();
    let a = handler(SA_NODEFER | SA_RESETHAND, SigSet::of(SIGTERM));
    s.sigaction(SIGUSR2, Some(a)).unwrap();
    s.post(SIGUSR2).unwrap();
    let Some(Delivery::Handle {
        action, handler_mask, ..
    }) = s.next_deliverable()
    else {
        panic!("not a handler")
    };
    assert_eq!(action.handler, Handler::At(H), "delivered with the handler");
    assert_eq!(handler_mask, SigSet::of(SIGTERM));
    let after = s.action(SIGUSR2).unwrap();
    assert_eq!(after.handler, Handler::Default);
    assert_eq!(after.flags, u64::from(SA_NODEFER | SA_RESETHAND | SA_RESTORER));
    assert_eq!(after.mask, SigSet::of(SIGTERM));
    s.post(SIGUSR2).unwrap();
    assert_eq!(
        s.next_deliverable(),
        Some(Delivery::Terminate {
            sig: SIGUSR2,
            core: false
        })
    );
    // A handler mask never holds SIGKILL or SIGSTOP, even via sigreturn.
    s.sigreturn(SigSet(u64::MAX), StackT::default(), 0);
    assert_eq!(s.blocked(), SigSet(u64::MAX).blockable());
}

#[test]
fn sigsuspend_swaps_the_mask() {
    let mut s = SignalState::new();
    s.sigaction(SIGUSR1, Some(handler(0, SigSet::of(SIGUSR2)))).unwrap();
    s.sigprocmask(SIG_SETMASK, Some(SigSet::of(SIGUSR1).with(SIGINT)), 8)
        .unwrap();
    s.post(SIGUSR1).unwrap();
    assert_eq!(s.next_deliverable(), None);
    assert_eq!(s.suspend(SigSet::of(SIGINT).with(SIGKILL), 4), Err(Errno::EINVAL));
    assert!(!s.is_suspended());
    s.suspend(SigSet::of(SIGINT).with(SIGKILL), 8).unwrap();
    assert!(s.is_suspended());
    assert_eq!(s.blocked(), SigSet::of(SIGINT));
    let Some(Delivery::Handle {
        saved_mask,
        handler_mask,
        ..
    }) = s.next_deliverable()
    else {
        panic!("not a handler")
    };
    assert_eq!(
        saved_mask,
        SigSet::of(SIGUSR1).with(SIGINT),
        "the frame restores the pre-suspend mask"
    );
    assert_eq!(
        handler_mask,
        SigSet::of(SIGINT).with(SIGUSR2).with(SIGUSR1),
        "from the suspend mask"
    );
    assert!(!s.is_suspended());
    // Without a handler, the server ends the suspend itself.
    s.sigprocmask(SIG_SETMASK, Some(SigSet::of(SIGHUP)), 8).unwrap();
    s.suspend(SigSet::EMPTY, 8).unwrap();
    s.suspend(SigSet::of(SIGINT), 8).unwrap();
    s.end_suspend();
    assert_eq!(
        s.blocked(),
        SigSet::of(SIGHUP),
        "a second suspend keeps the first saved mask"
    );
    s.end_suspend();
    assert_eq!(s.blocked(), SigSet::of(SIGHUP));
}

#[test]
fn force_unblocks_and_resets() {
    let mut s = SignalState::new();
    s.sigaction(SIGSEGV, Some(handler(0, SigSet::EMPTY))).unwrap();
    assert_eq!(s.force(SIGSEGV), Ok(Posted::Deliverable));
    assert_eq!(
        s.action(SIGSEGV).unwrap().handler,
        Handler::At(H),
        "a caught, unblocked fault keeps its handler"
    );
    s.next_deliverable();
    s.sigprocmask(SIG_BLOCK, Some(SigSet::of(SIGSEGV)), 8).unwrap();
    assert_eq!(s.force(SIGSEGV), Ok(Posted::Deliverable));
    assert!(!s.blocked().contains(SIGSEGV));
    assert_eq!(
        s.next_deliverable(),
        Some(Delivery::Terminate {
            sig: SIGSEGV,
            core: true
        })
    );
    s.sigaction(SIGBUS, Some(ignore())).unwrap();
    assert_eq!(s.force(SIGBUS), Ok(Posted::Deliverable));
    assert_eq!(
        s.next_deliverable(),
        Some(Delivery::Terminate {
            sig: SIGBUS,
            core: true
        })
    );
    assert_eq!(s.force(0), Err(Errno::EINVAL));
}

#[test]
fn child_signal_semantics() {
    let mut s = SignalState::new();
    assert!(!s.reaps_children(), "SIGCHLD's default keeps zombies");
    assert!(s.wants_child_stops());
    s.sigaction(SIGCHLD, Some(ignore())).unwrap();
    assert!(s.reaps_children());
    s.sigaction(SIGCHLD, Some(handler(SA_NOCLDWAIT | SA_NOCLDSTOP, SigSet::EMPTY)))
        .unwrap();
    assert!(s.reaps_children());
    assert!(!s.wants_child_stops());
    s.sigaction(SIGCHLD, Some(handler(0, SigSet::EMPTY))).unwrap();
    assert!(!s.reaps_children() && s.wants_child_stops());
}

#[test]
fn exec_and_fork() {
    let mut s = SignalState::new();
    s.sigaction(SIGINT, Some(handler(SA_RESTART, SigSet::of(SIGTERM))))
        .unwrap();
    s.sigaction(
        SIGQUIT,
        Some(SigAction {
            flags: u64::from(SA_RESTART),
            mask: SigSet::of(SIGTERM),
            ..ignore()
        }),
    )
    .unwrap();
    s.sigprocmask(SIG_SETMASK, Some(SigSet::of(SIGUSR1)), 8).unwrap();
    s.post(SIGUSR1).unwrap();
    s.sigaltstack(
        Some(StackT {
            sp: 0x10000,
            flags: 0,
            size: 0x4000,
        }),
        0x7fff_0000,
    )
    .unwrap();

    let child = s.fork();
    assert_eq!(child.action(SIGINT), s.action(SIGINT));
    assert_eq!(child.blocked(), s.blocked());
    assert_eq!(child.altstack(), s.altstack());
    assert!(child.pending().is_empty(), "nothing pending in a new child");

    s.exec();
    assert_eq!(s.action(SIGINT), Ok(SigAction::default()));
    assert_eq!(
        s.action(SIGQUIT),
        Ok(ignore()),
        "ignored stays ignored, without flags or mask"
    );
    assert_eq!(s.blocked(), SigSet::of(SIGUSR1));
    assert_eq!(s.pending(), SigSet::of(SIGUSR1));
    assert_eq!(s.altstack(), AltStack::DISABLED);
}

#[test]
fn sigaltstack_rules_match_linux() {
    let mut s = SignalState::new();
    let sp = 0x7fff_0000;
    // Never set: disabled, reported with SS_DISABLE.
    assert_eq!(
        s.sigaltstack(None, sp),
        Ok(StackT {
            sp: 0,
            flags: SS_DISABLE,
            size: 0
        })
    );
    let alt = StackT {
        sp: 0x10000,
        flags: 0,
        size: 0x10000,
    };
    assert_eq!(
        s.sigaltstack(Some(StackT { size: 2047, ..alt }), sp),
        Err(Errno::ENOMEM)
    );
    assert_eq!(s.sigaltstack(Some(StackT { flags: 4, ..alt }), sp), Err(Errno::EINVAL));
    assert_eq!(
        s.sigaltstack(
            Some(StackT {
                flags: SS_ONSTACK | SS_DISABLE,
                ..alt
            }),
            sp
        ),
        Err(Errno::EINVAL)
    );
    assert!(s.sigaltstack(Some(StackT { size: 2048, ..alt }), sp).is_ok());
    assert!(
        s.sigaltstack(
            Some(StackT {
                flags: SS_ONSTACK,
                ..alt
            }),
            sp
        )
        .is_ok()
    );
    assert_eq!(s.altstack().flags, SS_ONSTACK, "flags kept as given");
    assert_eq!(
        s.sigaltstack(None, sp).unwrap().flags,
        0,
        "but reported from sp: not on it"
    );
    assert!(s.sigaltstack(Some(alt), sp).is_ok());
    assert_eq!(s.sigaltstack(None, sp), Ok(alt));
    // On the stack (its top counts, its base does not): reported, and EPERM to change.
    let top = 0x20000;
    assert_eq!(s.sigaltstack(None, top).unwrap().flags, SS_ONSTACK);
    assert_eq!(s.sigaltstack(None, 0x10000).unwrap().flags, 0);
    assert_eq!(s.sigaltstack(None, top + 1).unwrap().flags, 0);
    assert_eq!(s.sigaltstack(Some(alt), top - 8), Err(Errno::EPERM));
    // SS_AUTODISARM: never "on" it, reported with the flag.
    s.sigaltstack(
        Some(StackT {
            flags: SS_AUTODISARM,
            ..alt
        }),
        sp,
    )
    .unwrap();
    assert_eq!(s.sigaltstack(None, top - 8).unwrap().flags, SS_AUTODISARM);
    assert_eq!(s.altstack().saved().flags, SS_AUTODISARM);
    // SS_DISABLE zeroes address and size but keeps the flags for the frame.
    s.sigaltstack(
        Some(StackT {
            flags: SS_DISABLE,
            ..alt
        }),
        top - 8,
    )
    .unwrap();
    assert_eq!(
        s.altstack(),
        AltStack {
            sp: 0,
            size: 0,
            flags: SS_DISABLE
        }
    );
    assert_eq!(
        s.sigaltstack(None, sp).unwrap(),
        StackT {
            sp: 0,
            flags: SS_DISABLE,
            size: 0
        }
    );
    // A bad uc_stack at sigreturn is ignored.
    s.sigaltstack(Some(alt), sp).unwrap();
    s.sigreturn(SigSet::EMPTY, StackT { size: 1, ..alt }, sp);
    assert_eq!(s.altstack().size, alt.size);
    s.sigreturn(
        SigSet::EMPTY,
        StackT {
            flags: SS_AUTODISARM,
            ..alt
        },
        sp,
    );
    assert!(s.altstack().autodisarm());
    s.disarm_altstack();
    assert!(!s.altstack().is_enabled());
    // Wrapping stacks never count as containing anything.
    let wrap = AltStack {
        sp: u64::MAX - 10,
        size: 0x1000,
        flags: 0,
    };
    assert_eq!(wrap.top(), None);
    assert!(wrap.contains(u64::MAX));
    assert!(!wrap.contains(5));
}

#[test]
fn stack_t_layout_is_linuxs() {
    use linux_raw_sys::general::stack_t as S;
    assert_eq!(size_of::<S>(), altstack::STACK_T_SIZE);
    assert_eq!(offset_of!(S, ss_sp), 0);
    assert_eq!(offset_of!(S, ss_flags), 8);
    assert_eq!(offset_of!(S, ss_size), 16);
    let t = StackT {
        sp: 0x1234_5678_9abc,
        flags: 0x8000_0001,
        size: 0x2_0000,
    };
    let b = t.encode();
    assert_eq!(b[0..8], 0x1234_5678_9abcu64.to_le_bytes());
    assert_eq!(b[8..12], 0x8000_0001u32.to_le_bytes());
    assert_eq!(b[12..16], [0; 4]);
    assert_eq!(b[16..24], 0x2_0000u64.to_le_bytes());
    assert_eq!(StackT::decode(&b), Ok(t));
    assert_eq!(StackT::decode(&b[..23]), Err(Errno::EFAULT));
    assert_eq!(StackT::decode(&b[..11]), Err(Errno::EFAULT));
}

#[test]
fn siginfo_layout_matches_the_c_library() {
    let child = SigInfo {
        signo: SIGCHLD,
        errno: -3,
        code: 1,
        fields: SigFields::Child {
            pid: 0x1111,
            uid: 0x2222,
            status: 0x3333,
            utime: 0x4444,
            stime: 0x5555,
        },
    };
    let b = child.encode();
    let at = |off: usize, n: usize| -> i64 {
        let mut v = [0u8; 8];
        v[..n].copy_from_slice(&b[off..off + n]);
        i64::from_le_bytes(v)
    };
    assert_eq!(b.len(), SIGINFO_SIZE);
    let fault = SigInfo {
        signo: SIGSEGV,
        errno: 0,
        code: 1,
        fields: SigFields::Fault { addr: 0xdead_beef_f00d },
    };
    let timer = SigInfo {
        signo: SIGALRM,
        errno: 0,
        code: -2,
        fields: SigFields::Timer {
            tid: 7,
            overrun: 8,
            value: 9,
        },
    };
    let queue = SigInfo {
        signo: 40,
        errno: 0,
        code: -1,
        fields: SigFields::Queue {
            pid: 5,
            uid: 6,
            value: 0xabcd,
        },
    };
    let kill = SigInfo::user(SIGTERM, 42, 1000);
    assert_eq!(kill.code, 0);
    assert_eq!(SigInfo::kernel(SIGSEGV).encode()[8..12], 128i32.to_le_bytes());
    assert!(SigInfo::kernel(SIGSEGV).encode()[12..].iter().all(|&x| x == 0));
    let Some(out) = host_c::run(
        "siginfo",
        "#include <stdio.h>\n#include <stddef.h>\n#include <signal.h>\n#define O(f) printf(#f \" %zu\\n\", offsetof(siginfo_t, f))\n\
         int main(void) { O(si_signo); O(si_errno); O(si_code); O(si_pid); O(si_uid); O(si_status); O(si_utime); \
         O(si_stime); O(si_addr); O(si_value); O(si_timerid); O(si_overrun); printf(\"size %zu\\n\", sizeof(siginfo_t)); return 0; }\n",
    ) else {
        return;
    };
    let p = host_c::pairs(&out);
    let off = |k: &str| host_c::get(&p, k) as usize;
    assert_eq!(off("size"), SIGINFO_SIZE);
    assert_eq!(at(off("si_signo"), 4), i64::from(SIGCHLD));
    assert_eq!(at(off("si_errno"), 4), -3i32 as u32 as i64);
    assert_eq!(at(off("si_code"), 4), 1);
    assert_eq!(at(off("si_pid"), 4), 0x1111);
    assert_eq!(at(off("si_uid"), 4), 0x2222);
    assert_eq!(at(off("si_status"), 4), 0x3333);
    assert_eq!(at(off("si_utime"), 8), 0x4444);
    assert_eq!(at(off("si_stime"), 8), 0x5555);
    let f = fault.encode();
    assert_eq!(f[off("si_addr")..off("si_addr") + 8], 0xdead_beef_f00du64.to_le_bytes());
    let t = timer.encode();
    assert_eq!(t[off("si_timerid")..off("si_timerid") + 4], 7i32.to_le_bytes());
    assert_eq!(t[off("si_overrun")..off("si_overrun") + 4], 8i32.to_le_bytes());
    assert_eq!(t[off("si_value")..off("si_value") + 8], 9u64.to_le_bytes());
    let q = queue.encode();
    assert_eq!(q[off("si_pid")..off("si_pid") + 4], 5i32.to_le_bytes());
    assert_eq!(q[off("si_uid")..off("si_uid") + 4], 6u32.to_le_bytes());
    assert_eq!(q[off("si_value")..off("si_value") + 8], 0xabcdu64.to_le_bytes());
    let k = kill.encode();
    assert_eq!(k[off("si_pid")..off("si_pid") + 4], 42i32.to_le_bytes());
    assert_eq!(k[off("si_uid")..off("si_uid") + 4], 1000u32.to_le_bytes());
    assert_eq!(SI_TKILL, -6);
    let _ = format!("{:?}", SigFields::default());
}
