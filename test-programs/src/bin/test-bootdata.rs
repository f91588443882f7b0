//! Boot data modules (issue 10): GRUB modules with the word `boot-data` on
//! their line are not started as tasks; `host_boot_data` on the privileged
//! host port hands out a private copy of each. The test boot carries two,
//! made at build time by `scripts/make-testdata.py` (its pattern is
//! [`pattern`] here): `testdata` (three pages and 123 bytes) and `onepage`
//! (exactly one page), with program modules between them.
//!
//! Checked: names, sizes and every byte (and zeros past the end, to the
//! page); the index counts only data modules (past the last:
//! KERN_INVALID_ARGUMENT); the copy is page aligned, shared with the
//! kernel's until written (one object, its pages resident) and private once
//! written (the next copy is the module's bytes again, and this one keeps
//! its writes); many calls, each copy deallocated, and a reply destroyed
//! unreceived leave nothing behind (the kernel's end-of-run audits count
//! every copy and frame).
#![no_std]
#![no_main]

use mach_user::abi::device::device_name;
use mach_user::abi::kern_return::*;
use mach_user::abi::message::*;
use mach_user::ipc::{MsgBuf, mach_msg};
use mach_user::ool::OolRegion;
use mach_user::rpc::{host_priv, vm};
use test_programs::check_eq;
use test_programs::ipc_env::{self, Env};

mach_user::entry!(main);

const PAGE: usize = 4096;
/// The modules' lengths (scripts/make-testdata.py).
const TESTDATA_LEN: usize = 3 * PAGE + 123;
const ONEPAGE_LEN: usize = PAGE;

/// Byte `i` of module `seed` (scripts/make-testdata.py writes the same):
/// a multiplicative hash, so that a page in the wrong place shows.
fn pattern(seed: u32, i: usize) -> u8 {
    ((i as u32).wrapping_add(seed).wrapping_mul(2_654_435_761) >> 24) as u8
}

/// Where the first byte that differs from module `seed`'s is, if any.
fn first_difference(data: &[u8], seed: u32) -> Option<usize> {
    data.iter().enumerate().position(|(i, &b)| b != pattern(seed, i))
}

/// The bytes from `len` to the end of its last page, read from `region`'s
/// mapping (the copy is page-granular): all zero?
fn tail_is_zero(region: &OolRegion, len: usize) -> bool {
    let end = len.next_multiple_of(PAGE);
    (len..end).all(|i| {
        // SAFETY: the kernel mapped whole pages for the region, readable,
        // from its address to the end of the last page it touches.
        unsafe { core::ptr::read_volatile((region.address() as usize + i) as *const u8) == 0 }
    })
}

fn main(_args: mach_user::start::Args) -> i32 {
    let mut e = Env::new();
    let hp = e.host_priv;
    let mut ok = true;

    let first = host_priv::host_boot_data(&mut e.rpc, hp, 0);
    ok &= check_eq!(
        "boot_data_first",
        first.as_ref().map(|d| (d.name, d.data.count as usize)),
        Ok((device_name(b"testdata"), TESTDATA_LEN))
    );
    let Ok(first) = first else { return 1 };
    let mut a = OolRegion::bytes(first.data);
    ok &= check_eq!("boot_data_contents", first_difference(&a, 1), None);
    ok &= check_eq!("boot_data_page_aligned", a.address() % PAGE as u64, 0);
    ok &= check_eq!("boot_data_zero_past_the_end", tail_is_zero(&a, TESTDATA_LEN), true);
    // Shared with the kernel's object (all its pages resident) until written.
    let chain = |e: &mut Env, at: u64| vm::vm_object_chain(&mut e.rpc, e.task, at).map(|c| (c.depth, c.resident_pages));
    ok &= check_eq!("boot_data_shared", chain(&mut e, a.address()), Ok((1, 4)));

    let second = host_priv::host_boot_data(&mut e.rpc, hp, 1);
    ok &= check_eq!(
        "boot_data_second",
        second.as_ref().map(|d| (d.name, d.data.count as usize)),
        Ok((device_name(b"onepage"), ONEPAGE_LEN))
    );
    if let Ok(d) = second {
        let b = OolRegion::bytes(d.data);
        ok &= check_eq!("boot_data_second_contents", first_difference(&b, 2), None);
    }
    let past = [2, 3, u32::MAX].map(|index| host_priv::host_boot_data(&mut e.rpc, hp, index).map(|d| d.name));
    ok &= check_eq!("boot_data_past_the_last", past, [Err(KERN_INVALID_ARGUMENT); 3]);

    // Written, the copy is private: the next copy is the module again.
    for i in (0..TESTDATA_LEN).step_by(PAGE / 2) {
        a[i] = !pattern(1, i);
    }
    ok &= check_eq!(
        "boot_data_written_pushes_a_shadow",
        chain(&mut e, a.address()),
        Ok((2, 8))
    );
    let again = host_priv::host_boot_data(&mut e.rpc, hp, 0).map(|d| OolRegion::bytes(d.data));
    ok &= check_eq!(
        "boot_data_copy_is_private",
        again
            .as_ref()
            .map(|b| (b.len(), first_difference(b, 1), b.address() != a.address())),
        Ok((TESTDATA_LEN, None, true))
    );
    ok &= check_eq!("boot_data_keeps_its_writes", first_difference(&a, 1), Some(0));
    drop(again);
    drop(a);

    // Many copies, each given back; one reply destroyed unreceived.
    let mut same = true;
    for _ in 0..64 {
        match host_priv::host_boot_data(&mut e.rpc, hp, 0) {
            Ok(d) => {
                let r = OolRegion::bytes(d.data);
                same &= r.len() == TESTDATA_LEN && drop_checked(r);
            }
            Err(_) => same = false,
        }
    }
    ok &= check_eq!("boot_data_many_calls", same, true);
    ok &= check_eq!("boot_data_reply_destroyed", reply_destroyed(&mut e), true);
    ok &= check_eq!("boot_data_audit", e.violations(), Ok(0));
    if ok { 0 } else { 1 }
}

/// Checks the first and last byte of a copy before it goes.
fn drop_checked(r: OolRegion) -> bool {
    r.first() == Some(&pattern(1, 0)) && r.last() == Some(&pattern(1, TESTDATA_LEN - 1))
}

/// A `host_boot_data` request whose reply port is destroyed before the reply
/// (queued when the send returns: the kernel serves it at once) is received:
/// the reply and its copy are destroyed with the port.
fn reply_destroyed(e: &mut Env) -> bool {
    let reply = e.port();
    let mut b = ipc_env::Buf::new();
    let n = host_priv::encode_host_boot_data_request(&mut b.0, e.host_priv, 0).unwrap_or(0);
    let h = b.header();
    ipc_env::header(
        &mut b,
        mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE),
        n as u32,
        e.host_priv,
        reply,
        h.id,
    );
    let kr = mach_msg(&mut b, MACH_SEND_MSG, n as u32, 0, 0);
    let destroyed = e.destroy(reply);
    let mut r: MsgBuf<64> = MsgBuf::new();
    let gone = mach_msg(&mut r, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, reply, 0);
    kr == MACH_MSG_SUCCESS && n > 0 && destroyed.is_ok() && gone != MACH_MSG_SUCCESS
}
