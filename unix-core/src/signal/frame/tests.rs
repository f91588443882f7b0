use super::*;
use crate::host_c;
use crate::signal::siginfo::SigFields;
use linux_raw_sys::general::{SI_TKILL, SIGSEGV, SIGUSR1, SS_AUTODISARM, SS_ONSTACK};
use std::string::String;
use std::vec::Vec;

const USER: UserSelectors = UserSelectors { cs: 0x2b, ss: 0x23 };

fn regs() -> Registers {
    Registers {
        r8: 0x0808,
        r9: 0x0909,
        r10: 0x1010,
        r11: 0x1111,
        r12: 0x1212,
        r13: 0x1313,
        r14: 0x1414,
        r15: 0x1515,
        rdi: 0xd1d1,
        rsi: 0x5151,
        rbp: 0xb0b0,
        rbx: 0xb1b1,
        rdx: 0xd0d0,
        rax: 0xa0a0,
        rcx: 0xc0c0,
        rsp: 0x7fff_ffff_e008,
        rip: 0x40_1234,
        rflags: 0x246 | 0x400 | 0x100,
        cs: 0x2b,
        ss: 0x23,
        fs_base: 0x4c_0000,
        gs_base: 0,
    }
}

fn setup() -> FrameSetup {
    FrameSetup {
        regs: regs(),
        info: SigInfo::user(SIGUSR1, 7, 1000),
        mask: SigSet::of(2).with(15),
        altstack: AltStack::DISABLED,
        onstack: false,
        restorer: 0x40_5000,
        fpu: None,
        fault: FaultInfo::default(),
    }
}

fn word(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}

#[test]
fn offsets_match_the_kernel_headers() {
    // Each register in its sigcontext slot, checked by value against the
    // offsets <asm/sigcontext.h> and <asm/ucontext.h> give.
    let mut buf = [0u8; FRAME_SIZE];
    let mut s = setup();
    s.fault = FaultInfo {
        err: 0xe1,
        trapno: 14,
        cr2: 0xc2c2,
    };
    s.fpu = Some(FpuArea {
        size: 512,
        xstate: false,
    });
    s.altstack = AltStack {
        sp: 0x1000,
        size: 0x8000,
        flags: SS_AUTODISARM,
    };
    let plan = build_frame(&s, &mut buf).unwrap();
    let Some(out) = host_c::run(
        "sigcontext",
        "#include <stdio.h>\n#include <stddef.h>\n#include <asm/sigcontext.h>\n#include <asm/signal.h>\n#include <asm/ucontext.h>\n\
         #define S(f) printf(\"sc.\" #f \" %zu\\n\", offsetof(struct sigcontext, f))\n\
         #define U(f) printf(\"uc.\" #f \" %zu\\n\", offsetof(struct ucontext, f))\n\
         int main(void) { S(r8); S(r9); S(r10); S(r11); S(r12); S(r13); S(r14); S(r15); S(rdi); S(rsi); S(rbp); S(rbx); S(rdx); \
         S(rax); S(rcx); S(rsp); S(rip); S(eflags); S(cs); S(gs); S(fs); S(ss); S(err); S(trapno); S(oldmask); S(cr2); \
         S(fpstate); S(reserved1); U(uc_flags); U(uc_link); U(uc_stack); U(uc_mcontext); U(uc_sigmask); \
         printf(\"sizeof.sigcontext %zu\\nsizeof.ucontext %zu\\nsizeof.stack %zu\\n\", sizeof(struct sigcontext), sizeof(struct ucontext), sizeof(stack_t)); \
         printf(\"UC_FP_XSTATE %d\\nUC_SIGCONTEXT_SS %d\\nUC_STRICT_RESTORE_SS %d\\n\", UC_FP_XSTATE, UC_SIGCONTEXT_SS, UC_STRICT_RESTORE_SS); return 0; }\n",
    ) else {
        return;
    };
    let p = host_c::pairs(&out);
    let g = |k: &str| host_c::get(&p, k) as usize;
    assert_eq!(g("sizeof.sigcontext"), 256);
    assert_eq!(g("sizeof.stack"), STACK_T_SIZE);
    assert_eq!(
        UCONTEXT_OFFSET + g("sizeof.ucontext"),
        SIGINFO_OFFSET,
        "siginfo follows the ucontext"
    );
    assert_eq!(SIGINFO_OFFSET + 128, FRAME_SIZE);
    assert_eq!(UCONTEXT_OFFSET + g("uc.uc_mcontext"), SIGCONTEXT_OFFSET);
    assert_eq!(UCONTEXT_OFFSET + g("uc.uc_sigmask"), SIGMASK_OFFSET);
    assert_eq!(g("UC_FP_XSTATE") as u64, UC_FP_XSTATE);
    assert_eq!(g("UC_SIGCONTEXT_SS") as u64, UC_SIGCONTEXT_SS);
    assert_eq!(g("UC_STRICT_RESTORE_SS") as u64, UC_STRICT_RESTORE_SS);
    let uc = |f: &str| UCONTEXT_OFFSET + g(&std::format!("uc.{f}"));
    let sc = |f: &str| SIGCONTEXT_OFFSET + g(&std::format!("sc.{f}"));
    assert_eq!(word(&buf, uc("uc_flags")), UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS);
    assert_eq!(word(&buf, uc("uc_link")), 0);
    assert_eq!(StackT::decode(&buf[uc("uc_stack")..]).unwrap(), s.altstack.saved());
    assert_eq!(word(&buf, uc("uc_sigmask")), s.mask.0);
    let r = s.regs;
    for (f, v) in [
        ("r8", r.r8),
        ("r9", r.r9),
        ("r10", r.r10),
        ("r11", r.r11),
        ("r12", r.r12),
        ("r13", r.r13),
        ("r14", r.r14),
        ("r15", r.r15),
        ("rdi", r.rdi),
        ("rsi", r.rsi),
        ("rbp", r.rbp),
        ("rbx", r.rbx),
        ("rdx", r.rdx),
        ("rax", r.rax),
        ("rcx", r.rcx),
        ("rsp", r.rsp),
        ("rip", r.rip),
        ("eflags", r.rflags),
        ("err", 0xe1),
        ("trapno", 14),
        ("oldmask", s.mask.0),
        ("cr2", 0xc2c2),
        ("fpstate", plan.fpstate),
    ] {
        assert_eq!(word(&buf, sc(f)), v, "sigcontext.{f}");
    }
    let half = |off: usize| u16::from_le_bytes([buf[off], buf[off + 1]]);
    assert_eq!(half(sc("cs")), 0x2b);
    assert_eq!(half(sc("gs")), 0);
    assert_eq!(half(sc("fs")), 0);
    assert_eq!(half(sc("ss")), 0x23);
    assert!(buf[sc("reserved1")..sc("reserved1") + 64].iter().all(|&b| b == 0));
    assert_eq!(buf[SIGINFO_OFFSET..], s.info.encode());
    assert_eq!(word(&buf, 0), s.restorer);
}

#[test]
fn placement_on_the_normal_stack() {
    for rsp in [
        0x7fff_ffff_e008u64,
        0x7fff_ffff_e000,
        0x7fff_ffff_e00f,
        0x7fff_ffff_e001,
    ] {
        let mut s = setup();
        s.regs.rsp = rsp;
        let p = place_frame(&s).unwrap();
        assert_eq!(p.frame % 16, 8, "as after a call");
        let end = p.frame + FRAME_SIZE as u64;
        assert!(end <= rsp - RED_ZONE, "the red zone is left alone");
        assert!(end + 24 > rsp - RED_ZONE, "no more room than alignment needs");
        assert_eq!(p.frame, ((rsp - 128 - 440) & !15) - 8);
        assert_eq!(p.fpstate, 0);
        assert!(!p.entered_altstack && !p.disarm_altstack);
        // With an FPU area: 64-aligned above the frame.
        for size in [0x340, 0x350, 0x201, 512] {
            s.fpu = Some(FpuArea { size, xstate: true });
            let q = place_frame(&s).unwrap();
            assert_eq!(q.fpstate % 64, 0);
            assert_eq!(q.fpstate, (rsp - 128 - size) & !63);
            assert!(q.fpstate + 64 > rsp - 128 - size);
            assert_eq!(q.frame, ((q.fpstate - 440) & !15) - 8);
            assert_eq!((q.ucontext(), q.siginfo()), (q.frame + 8, q.frame + 312));
        }
    }
    // SA_ONSTACK without an altstack: the normal stack.
    let mut s = setup();
    s.onstack = true;
    assert_eq!(place_frame(&s).unwrap().frame, ((s.regs.rsp - 128 - 440) & !15) - 8);
}

#[test]
fn placement_on_the_altstack() {
    let alt = AltStack {
        sp: 0x10_0000,
        size: 0x4000,
        flags: 0,
    };
    let mut s = setup();
    s.altstack = alt;
    s.onstack = true;
    let p = place_frame(&s).unwrap();
    assert!(p.entered_altstack && !p.disarm_altstack);
    assert_eq!(p.frame, ((0x10_4000 - 440) & !15) - 8, "from the top, no red zone");
    s.altstack.flags = SS_AUTODISARM;
    assert!(place_frame(&s).unwrap().disarm_altstack);
    // Without SA_ONSTACK: the normal stack, and nothing to disarm.
    s.onstack = false;
    let p = place_frame(&s).unwrap();
    assert!(!p.entered_altstack && !p.disarm_altstack);
    // Already on it (nested): below the interrupted rsp, and it must fit.
    s.altstack.flags = 0;
    s.regs.rsp = 0x10_3000;
    for onstack in [false, true] {
        s.onstack = onstack;
        let p = place_frame(&s).unwrap();
        assert!(!p.entered_altstack);
        assert_eq!(p.frame, ((0x10_3000 - 128 - 440) & !15) - 8);
    }
    s.regs.rsp = 0x10_0000 + 128 + 440;
    assert_eq!(
        place_frame(&s),
        Err(Errno::EFAULT),
        "nested frame would leave the altstack"
    );
    // Entering a stack too small for the frame and the FPU area.
    let mut s = setup();
    s.onstack = true;
    s.altstack = AltStack {
        sp: 0x10_0000,
        size: 2048,
        flags: 0,
    };
    s.fpu = Some(FpuArea {
        size: 0x700,
        xstate: true,
    });
    assert_eq!(place_frame(&s), Err(Errno::EFAULT));
    s.fpu = Some(FpuArea {
        size: 0x200,
        xstate: false,
    });
    assert!(place_frame(&s).is_ok());
    // An altstack with SS_AUTODISARM is never "nested": a signal while on it
    // enters it again from the top.
    let mut s = setup();
    s.onstack = true;
    s.altstack = AltStack {
        sp: 0x10_0000,
        size: 0x4000,
        flags: SS_AUTODISARM,
    };
    s.regs.rsp = 0x10_1000;
    assert_eq!(place_frame(&s).unwrap().frame, ((0x10_4000 - 440) & !15) - 8);
}

#[test]
fn placement_arithmetic_never_wraps() {
    let mut s = setup();
    for rsp in [0, 127, 128, 500, 128 + 440 + 7] {
        s.regs.rsp = rsp;
        assert_eq!(place_frame(&s), Err(Errno::EFAULT), "rsp {rsp}");
    }
    s.regs.rsp = 128 + 440 + 15;
    assert_eq!(place_frame(&s), Err(Errno::EFAULT));
    s.regs.rsp = 128 + 440 + 16;
    assert_eq!(place_frame(&s).map(|p| p.frame), Ok(8), "the lowest frame there is");
    s.regs.rsp = 0x10_0000;
    s.fpu = Some(FpuArea {
        size: u64::MAX,
        xstate: true,
    });
    assert_eq!(place_frame(&s), Err(Errno::EFAULT));
    s.fpu = None;
    s.onstack = true;
    s.altstack = AltStack {
        sp: u64::MAX - 0x100,
        size: 0x1000,
        flags: 0,
    };
    assert_eq!(place_frame(&s), Err(Errno::EFAULT), "altstack top wraps");
    s.altstack = AltStack {
        sp: 0,
        size: 0x100,
        flags: 0,
    };
    assert_eq!(place_frame(&s), Err(Errno::EFAULT));
}

#[test]
fn frame_contents_and_handler_entry() {
    let mut s = setup();
    let mut short = [0u8; FRAME_SIZE - 1];
    assert_eq!(build_frame(&s, &mut short), Err(Errno::EINVAL));
    let mut buf = [0xaau8; FRAME_SIZE + 8];
    let p = build_frame(&s, &mut buf).unwrap();
    assert_eq!(buf[FRAME_SIZE..], [0xaa; 8], "nothing past the frame is touched");
    assert_eq!(word(&buf, 0), 0x40_5000);
    assert_eq!(word(&buf, 8), UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS);
    s.fpu = Some(FpuArea {
        size: 0x400,
        xstate: true,
    });
    build_frame(&s, &mut buf).unwrap();
    assert_eq!(word(&buf, 8), 7);
    let h = handler_registers(&s.regs, &p, SIGUSR1, 0x40_9000);
    assert_eq!(
        (h.rip, h.rsp, h.rdi, h.rsi, h.rdx, h.rax),
        (0x40_9000, p.frame, 10, p.frame + 312, p.frame + 8, 0)
    );
    assert_eq!(h.rflags, 0x246, "DF and TF cleared");
    let mut rf = s.regs;
    rf.rflags = 0x1_0202;
    assert_eq!(handler_registers(&rf, &p, 1, 0).rflags, 0x202, "RF cleared");
    assert_eq!(
        (h.rbx, h.r15, h.rcx, h.fs_base, h.cs, h.ss),
        (0xb1b1, 0x1515, 0xc0c0, 0x4c_0000, 0x2b, 0x23)
    );
    assert_eq!(frame_at_sigreturn(h.rsp + 8), Some(p.frame));
    assert_eq!(frame_at_sigreturn(7), None);
}

#[test]
fn sigreturn_reads_back_and_sanitises() {
    let mut s = setup();
    s.altstack = AltStack {
        sp: 0x10_0000,
        size: 0x4000,
        flags: SS_AUTODISARM,
    };
    s.fpu = Some(FpuArea {
        size: 512,
        xstate: false,
    });
    let mut buf = [0u8; FRAME_SIZE];
    let p = build_frame(&s, &mut buf).unwrap();
    let current = Registers {
        fs_base: 0x77_0000,
        gs_base: 0x88_0000,
        ..Registers::default()
    };
    let r = read_frame(&buf, &current, USER).unwrap();
    let mut want = s.regs;
    want.rflags = 0x746 | 0x200; // TF, DF, ZF, PF, IF kept, bit 1
    want.fs_base = 0x77_0000;
    want.gs_base = 0x88_0000;
    assert_eq!(r.regs, want);
    assert_eq!(r.mask, s.mask);
    assert_eq!(
        r.uc_stack,
        StackT {
            sp: 0x10_0000,
            flags: SS_AUTODISARM,
            size: 0x4000
        }
    );
    assert_eq!(r.fpstate, p.fpstate);
    assert_eq!(r.uc_flags, UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS);

    // The program rewrote its frame: privileged flags, kernel selectors, a
    // mask with SIGKILL, a kernel rip.
    let put = |b: &mut [u8], off: usize, v: u64| b[off..off + 8].copy_from_slice(&v.to_le_bytes());
    put(&mut buf, SIGCONTEXT_OFFSET + 136, u64::MAX);
    buf[SIGCONTEXT_OFFSET + 144..SIGCONTEXT_OFFSET + 146].copy_from_slice(&8u16.to_le_bytes());
    buf[SIGCONTEXT_OFFSET + 150..SIGCONTEXT_OFFSET + 152].copy_from_slice(&0x10u16.to_le_bytes());
    put(&mut buf, SIGMASK_OFFSET, u64::MAX);
    let r = read_frame(&buf, &current, USER).unwrap();
    assert_eq!(
        r.regs.rflags, 0x50fd7,
        "CF PF AF ZF SF TF DF OF RF AC from the frame, IF and bit 1 forced"
    );
    assert_eq!(r.regs.rflags, USER_RFLAGS | FORCED_RFLAGS);
    assert_eq!(
        r.regs.rflags & (3 << 12 | 1 << 14 | 1 << 17 | 1 << 21),
        0,
        "no IOPL, NT, VM or ID"
    );
    assert_eq!((r.regs.cs, r.regs.ss), (USER.cs, USER.ss));
    assert_eq!(r.mask, SigSet(u64::MAX).blockable());
    put(&mut buf, SIGCONTEXT_OFFSET + 128, USER_ADDRESS_END);
    assert_eq!(read_frame(&buf, &current, USER), Err(Errno::EFAULT));
    put(&mut buf, SIGCONTEXT_OFFSET + 128, USER_ADDRESS_END - 1);
    assert!(read_frame(&buf, &current, USER).is_ok());
    assert_eq!(read_frame(&buf[..FRAME_SIZE - 1], &current, USER), Err(Errno::EFAULT));
}

#[test]
fn random_inputs_never_panic() {
    let mut x = 0x1234_5678_9abc_def1u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut buf = [0u8; FRAME_SIZE];
    for _ in 0..20_000 {
        let pick = |v: u64| match v % 5 {
            0 => 0,
            1 => u64::MAX - (v >> 60),
            2 => v >> 16,
            3 => 1 << 47,
            _ => v,
        };
        let mut s = setup();
        s.regs.rsp = pick(next());
        s.onstack = next() % 2 == 0;
        s.altstack = AltStack {
            sp: pick(next()),
            size: pick(next()),
            flags: next() as u32,
        };
        s.fpu = (next() % 2 == 0).then(|| FpuArea {
            size: pick(next()),
            xstate: true,
        });
        if let Ok(p) = build_frame(&s, &mut buf) {
            assert_eq!(p.frame % 16, 8);
            assert!(p.frame.checked_add(FRAME_SIZE as u64).is_some());
            let _ = handler_registers(&s.regs, &p, 64, pick(next()));
        }
        for b in buf.iter_mut().step_by(7) {
            *b = next() as u8;
        }
        let _ = read_frame(&buf, &s.regs, USER);
    }
}

/// A host program that takes SIGUSR1 three times (normal stack, altstack,
/// altstack with SS_AUTODISARM) and prints each frame the kernel built.
const KERNEL_FRAMES: &str = r#"
#define _GNU_SOURCE
#include <stdio.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
static char alt[65536] __attribute__((aligned(64)));
static stack_t cur_alt;
static void handler(int sig, siginfo_t *si, void *ctx) {
    unsigned char *frame = (unsigned char *)ctx - 8;
    ucontext_t *uc = ctx;
    printf("frame %lu fpregs %lu alt %lu %lu %d pid %d uid %d bytes ", (unsigned long)frame,
           (unsigned long)uc->uc_mcontext.fpregs, (unsigned long)cur_alt.ss_sp, (unsigned long)cur_alt.ss_size,
           cur_alt.ss_flags, (int)getpid(), (int)getuid());
    for (int i = 0; i < 440; i++) printf("%02x", frame[i]);
    printf("\n");
}
int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);
    stack_t ss = { .ss_sp = alt, .ss_size = sizeof alt, .ss_flags = 0 };
    sigaltstack(&ss, NULL); cur_alt = ss; raise(SIGUSR1);
    ss.ss_flags = (int)(1U << 31); sigaltstack(&ss, NULL); cur_alt = ss; raise(SIGUSR1);
    return 0;
}
"#;

#[test]
fn frames_match_the_ones_the_host_kernel_builds() {
    let Some(out) = host_c::run("kframes", KERNEL_FRAMES) else {
        return;
    };
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("frame ")).collect();
    assert_eq!(lines.len(), 3);
    for line in lines {
        let f: Vec<&str> = line.split(' ').collect();
        let num = |i: usize| f[i].parse::<u64>().unwrap();
        let (frame_addr, fpregs) = (num(1), num(3));
        let alt = AltStack {
            sp: num(5),
            size: num(6),
            flags: f[7].parse::<i32>().unwrap() as u32,
        };
        let (pid, uid) = (f[9].parse::<i32>().unwrap(), f[11].parse::<u32>().unwrap());
        let hex = f[13];
        let kernel: Vec<u8> = (0..FRAME_SIZE)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect();

        // What the kernel saved, read with our parser.
        let current = Registers::default();
        let back = read_frame(&kernel, &current, USER).unwrap();
        let mut regs = back.regs;
        regs.rflags = word(&kernel, SIGCONTEXT_OFFSET + 136);
        regs.cs = u16::from_le_bytes([kernel[SIGCONTEXT_OFFSET + 144], kernel[SIGCONTEXT_OFFSET + 145]]);
        regs.ss = u16::from_le_bytes([kernel[SIGCONTEXT_OFFSET + 150], kernel[SIGCONTEXT_OFFSET + 151]]);
        assert_eq!(back.uc_stack, alt.saved(), "uc_stack records the stored altstack");
        assert_eq!(back.fpstate, fpregs);
        assert_eq!(back.uc_flags, UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS);

        // Our frame for the same interruption: the same place, the same bytes.
        let start = if alt.is_enabled() {
            alt.top().unwrap()
        } else {
            regs.rsp - RED_ZONE
        };
        let s = FrameSetup {
            regs,
            info: SigInfo {
                signo: SIGUSR1,
                errno: 0,
                code: SI_TKILL,
                fields: SigFields::Kill { pid, uid },
            },
            mask: back.mask,
            altstack: alt,
            onstack: true,
            restorer: word(&kernel, 0),
            fpu: Some(FpuArea {
                size: start - fpregs,
                xstate: true,
            }),
            fault: FaultInfo {
                err: word(&kernel, SIGCONTEXT_OFFSET + 152),
                trapno: word(&kernel, SIGCONTEXT_OFFSET + 160),
                cr2: word(&kernel, SIGCONTEXT_OFFSET + 176),
            },
        };
        let mut ours = [0u8; FRAME_SIZE];
        let plan = build_frame(&s, &mut ours).unwrap();
        assert_eq!(plan.frame, frame_addr, "frame address");
        assert_eq!(plan.fpstate, fpregs);
        assert_eq!(plan.entered_altstack, alt.is_enabled());
        assert_eq!(plan.disarm_altstack, alt.flags == SS_AUTODISARM);
        // Linux leaves two holes unwritten: the padding after uc_stack.ss_flags
        // and the sigcontext's reserved words.
        let padding = UCONTEXT_OFFSET + 16 + 12..UCONTEXT_OFFSET + 16 + 16;
        let reserved = SIGCONTEXT_OFFSET + 192..SIGCONTEXT_OFFSET + 256;
        for i in (0..FRAME_SIZE).filter(|i| !reserved.contains(i) && !padding.contains(i)) {
            assert_eq!(
                ours[i],
                kernel[i],
                "byte {i} of the frame ({})",
                String::from(line.get(..40).unwrap_or(""))
            );
        }
    }
    let _ = (SIGSEGV, SS_ONSTACK);
}
