//! External pagers (layer 3): VM objects whose pages come from a user task
//! that implements a memory object (the seed's "user-level page fault
//! handlers"), and the default pager, which backs anonymous memory once it
//! is paged out.
//!
//! `vm_map` of a memory object port creates (or finds) the VM object for it,
//! gives the pager a control port (`memory_object_init`) and maps the object.
//! A fault on a page the object lacks asks for it once
//! (`memory_object_data_request`, [`request`]) and waits; the pager answers
//! on the control port (`kobject::memory_control`) with data, zero fill or an
//! error, and the waiters are woken ([`answered`]). Which pages are asked
//! for, answered or failed is the VM model's per-page state
//! (`mach_core::vm::pager`, in the objects of `kern::vm`): the fault learns
//! there whether to send a request or wait for one already out. The kernel watches each
//! pager's port with a dead-name request whose notification arrives on the
//! control port: when the pager dies, the threads waiting for it wake with a
//! memory error at once ([`pager_died`]). A thread waiting for a pager that
//! never answers waits until its task is terminated.
//!
//! Everything here runs with the kernel state in hand: the IPC model and the
//! pager table [`Pagers`] are arguments, never locked here.

use super::task::{self, Task};
use super::vm::{self, PagersGone};
use super::wait;
use alloc::vec;
use alloc::vec::Vec;
use hashbrown::HashMap;
use mach_abi::kern_return::*;
use mach_core::ipc::kimage::KernelReplyParts;
use mach_core::ipc::{Ipc, KObject, KRight, PortId, RightKind, WaitKey};
use mach_core::vm::{VmInherit, VmProt};
use mach_interfaces::default_pager as dp;
use mach_interfaces::memory_object as mo;

/// Size given to a pager-backed object (memory objects have no fixed size).
pub const PAGER_OBJECT_SIZE: u64 = 1 << 40;
const PAGE: u64 = 4096;

struct PagerInfo {
    object: u64,
    control: PortId,
    /// Made by the kernel at the default pager (`memory_object_create`).
    default: bool,
    /// From memory_object_ready / change_attributes (recorded only).
    may_cache: bool,
    copy_strategy: u32,
}

/// The memory objects the kernel maps and the default memory manager. (The
/// state of each page, requested or failed, is the VM model's.)
#[derive(Default)]
pub struct Pagers {
    /// By memory object port (a send right the kernel holds).
    by_port: HashMap<PortId, PagerInfo>,
    /// The default memory manager's port (a send right the kernel holds).
    default: Option<PortId>,
    /// The default pager's task (`vm_privileged`), while it is registered.
    default_task: u64,
}

/// What [`request`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// The request is out (sent now or by an earlier fault): wait for the answer.
    Wait,
    /// The page cannot come: the fault fails with a memory error.
    Failed,
}

impl Pagers {
    /// How the kernel holds a send right to `port` here, for a debugging dump.
    pub fn describe(&self, port: PortId) -> &'static str {
        if self.default == Some(port) {
            "the default memory manager"
        } else if self.by_port.contains_key(&port) {
            "a memory object's pager"
        } else {
            "no pager"
        }
    }

    /// Records `memory_object_ready` / `change_attributes` for `object`.
    pub fn set_attributes(&mut self, object: u64, may_cache: bool, copy_strategy: u32) {
        if let Some(p) = self.by_port.values_mut().find(|p| p.object == object) {
            p.may_cache = may_cache;
            p.copy_strategy = copy_strategy;
        }
    }
}

/// `vm_set_default_memory_manager` from `task`: keeps the send right
/// `right`, replacing (and releasing) an earlier registration; a null right
/// unregisters. While a default pager is alive only its own task may change
/// the registration (KERN_NO_ACCESS), even to another holder of host_priv
/// (the call's port): whoever holds this role sees every task's paged-out
/// memory, and a boot task that took it over would cut the default pager off.
pub fn set_default_pager(ipc: &mut Ipc, pagers: &mut Pagers, task: u64, right: KRight) -> Result<(), KernReturn> {
    if pagers.default.is_some_and(|p| ipc.port_is_alive(p)) && pagers.default_task != task {
        return Err(KERN_NO_ACCESS);
    }
    let new = if right.port_id().is_none() {
        None
    } else {
        Some(ipc.kernel_hold_send(right).ok_or(KERN_INVALID_CAPABILITY)?)
    };
    if let Some(old) = core::mem::replace(&mut pagers.default, new) {
        ipc.kernel_release_send(old);
    }
    set_default_task(pagers, if new.is_some() { task } else { 0 });
    Ok(())
}

/// Makes `task` (0: none) the default pager's task: its memory may use the
/// frame reserve and is never paged out (it would have to page itself in).
fn set_default_task(pagers: &mut Pagers, task: u64) {
    if let Some(t) = task::lookup(pagers.default_task) {
        t.set_vm_privileged(false);
    }
    pagers.default_task = task;
    if let Some(t) = task::lookup(task) {
        t.set_vm_privileged(true);
    }
}

/// Lets the default pager go once it is the last task: the kernel's send
/// right to its service port is released, so it hears no-senders and exits.
pub fn release_default_pager_if_alone(ipc: &mut Ipc, pagers: &mut Pagers) {
    let alone = {
        let tasks = task::all();
        tasks.len() == 1 && pagers.default_task != 0 && tasks[0].id == pagers.default_task
    };
    if alone && let Some(p) = pagers.default.take() {
        ipc.kernel_release_send(p);
        set_default_task(pagers, 0);
    }
}

/// Whether a live default pager is registered.
pub fn have_default_pager(ipc: &Ipc, pagers: &Pagers) -> bool {
    pagers.default.is_some_and(|p| ipc.port_is_alive(p))
}

/// Gives the anonymous `object` (of `size` bytes) a memory object served by
/// the default pager: a new port whose receive right goes to the default
/// pager with `memory_object_create`, and a control port. Returns the new
/// object port (the kernel keeps a send right to it), or `None` without a
/// live default pager.
pub fn attach_default_pager(ipc: &mut Ipc, pagers: &mut Pagers, object: u64, size: u64) -> Option<PortId> {
    let default = pagers.default.filter(|&p| ipc.port_is_alive(p))?;
    let (port, receive) = ipc.port_create_for_transfer();
    let Some(held) = ipc.make_send_right(port).and_then(|r| ipc.kernel_hold_send(r)) else {
        ipc.release_right(receive);
        return None;
    };
    if vm::with_objects(|o| o.set_pager(object, port)).is_err() {
        ipc.kernel_release_send(held);
        ipc.release_right(receive);
        return None;
    }
    let control = watch(ipc, port, object);
    pagers.by_port.insert(
        held,
        PagerInfo {
            object,
            control,
            default: true,
            may_cache: false,
            copy_strategy: 0,
        },
    );
    let mut buf = [0u8; 128];
    let n = dp::encode_memory_object_create_request(&mut buf, 0, 1, size, 2, PAGE);
    let dest = ipc.copy_kernel_send(default);
    let c = ipc.make_send_right(control);
    match (n, dest, c) {
        (Some(n), Some(dest), Some(c)) => {
            let parts = KernelReplyParts {
                rights: vec![receive, c],
                ..Default::default()
            };
            ipc.kernel_send_image(dest, KRight::NULL, &buf[..n], parts);
        }
        (_, dest, c) => {
            // The default pager died meanwhile: the new object port dies too,
            // so the object's page requests fail (its pager is gone).
            log::warn!("pager: memory_object_create to the default pager failed");
            for r in [dest, c].into_iter().flatten() {
                ipc.release_right(r);
            }
            ipc.release_right(receive);
        }
    }
    Some(held)
}

/// `vm_map` of the memory object behind the send right `right` (the caller
/// releases it on error).
#[allow(clippy::too_many_arguments)]
pub fn map(
    ipc: &mut Ipc,
    pagers: &mut Pagers,
    task: &Task,
    addr: u64,
    size: u64,
    anywhere: bool,
    right: KRight,
    offset: u64,
    copy: bool,
    prot: VmProt,
    max: VmProt,
    inheritance: VmInherit,
) -> Result<u64, KernReturn> {
    let port = right
        .port_id()
        .filter(|_| right.kind == RightKind::Send)
        .ok_or(KERN_INVALID_CAPABILITY)?;
    if let Some(object) = pagers.by_port.get(&port).map(|p| p.object) {
        let at = vm::map_object(task, addr, size, anywhere, object, offset, copy, prot, max, inheritance)?;
        ipc.release_right(right);
        return Ok(at);
    }
    // The kernel answers no pager protocol (faults would wait for ever),
    // and a task mapping its own port would keep itself alive.
    if ipc.is_kernel_port(port) {
        return Err(KERN_INVALID_ARGUMENT);
    }
    let object = vm::with_objects(|o| o.create(PAGER_OBJECT_SIZE, Some(port))).map_err(|e| e.kr())?;
    let mapped = vm::map_object(task, addr, size, anywhere, object, offset, copy, prot, max, inheritance);
    // The map holds the object now; drop the reference `create` gave us
    // (when the map did not take it, the object dies here, and with it the
    // pager it was never announced to: nobody to tell).
    let _ = vm::release(vm::with_objects(|o| o.deallocate(object)).unwrap_or_default());
    let at = mapped?;
    let held = ipc.kernel_hold_send(right).ok_or(KERN_INVALID_CAPABILITY)?;
    let control = watch(ipc, port, object);
    pagers.by_port.insert(
        held,
        PagerInfo {
            object,
            control,
            default: false,
            may_cache: false,
            copy_strategy: 0,
        },
    );
    send(ipc, port, Some(control), |buf| {
        mo::encode_memory_object_init_request(buf, 0, 1, PAGE)
    });
    Ok(at)
}

/// Makes the control port of `object`, whose pager is behind `pager`, and
/// asks to hear on it when the pager's port dies (a kernel dead-name
/// request): that is how faults waiting for a dead pager learn of it.
fn watch(ipc: &mut Ipc, pager: PortId, object: u64) -> PortId {
    let control = ipc.kobject_port_create(KObject::MemoryControl(object));
    if let Some(notify) = ipc.make_send_once_right(control) {
        ipc.kernel_request_dead_name(pager, notify);
    }
    control
}

/// The pager of `object` died (its port's dead-name notification came): the
/// pages asked of it fail, later faults on pages it would have to provide
/// fail at once (the model marks the object pager-dead), and the faults
/// waiting wake now.
pub fn pager_died(object: u64) {
    let death = vm::with_objects(|o| o.pager_died(object)).unwrap_or_default();
    for offset in death.woken {
        answered(object, offset);
    }
}

/// Sends a kernel-to-pager message, with a send right to `control` as
/// handle 1 if given (only memory_object_init carries one: as in XNU, the
/// other requests arrive on the memory object port, and the pager keeps the
/// control right it was given at init).
fn send(
    ipc: &mut Ipc,
    pager: PortId,
    control: Option<PortId>,
    encode: impl FnOnce(&mut [u8]) -> Option<usize>,
) -> bool {
    let mut buf = [0u8; 128];
    let Some(n) = encode(&mut buf) else { return false };
    deliver(ipc, pager, control, &buf[..n], Vec::new())
}

/// Sends the request `image` to `pager` with a send right to `control` (if
/// given) as port handle 1 and `ools` as out-of-line handles 1, 2, ...
fn deliver(ipc: &mut Ipc, pager: PortId, control: Option<PortId>, image: &[u8], ools: Vec<Vec<u8>>) -> bool {
    let Some(dest) = ipc.copy_kernel_send(pager) else {
        return false;
    };
    let mut rights = Vec::new();
    if let Some(control) = control {
        let Some(c) = ipc.make_send_right(control) else {
            ipc.release_right(dest);
            return false;
        };
        rights.push(c);
    }
    let parts = KernelReplyParts {
        rights,
        ools,
        ..Default::default()
    };
    ipc.kernel_send_image(dest, KRight::NULL, image, parts);
    true
}

/// Hands page `offset` of the object behind `pager` back to it with
/// `memory_object_data_return`: at page-out (the kernel has dropped its
/// copy) or for a lock_request without flush (`kept`: it still has it).
pub fn data_return(
    ipc: &mut Ipc,
    pagers: &Pagers,
    pager: PortId,
    offset: u64,
    data: Vec<u8>,
    dirty: bool,
    kept: bool,
) -> bool {
    if !pagers.by_port.contains_key(&pager) {
        return false;
    }
    let mut buf = [0u8; 128];
    let Some(n) =
        mo::encode_memory_object_data_return_request(&mut buf, 0, offset, &data, u32::from(dirty), u32::from(kept))
    else {
        return false;
    };
    // The out-of-line address becomes handle 1 into the message's parts.
    if mach_core::ipc::kimage::number_ool_handles(&mut buf[..n]) != 1 {
        return false;
    }
    deliver(ipc, pager, None, &buf[..n], vec![data])
}

/// A fault of `task` needs page `offset` of `object` from `pager` (with
/// `unlock`: the page is resident but locked against `access`), and the
/// model made it requested (`vm::FaultOutcome::NeedPager`: this fault is the
/// one to ask): sends the request. A request that cannot go out fails the
/// page (an unlock request is withdrawn) and wakes whoever waits.
#[allow(clippy::too_many_arguments)]
pub fn request(
    ipc: &mut Ipc,
    pagers: &mut Pagers,
    task: &Task,
    object: u64,
    pager: PortId,
    offset: u64,
    access: u32,
    unlock: bool,
) -> Request {
    let Some(info) = pagers.by_port.get(&pager) else {
        fail(object, offset, unlock);
        return Request::Failed;
    };
    if info.default && !unlock {
        vm::count_default_pagein(task);
    }
    let sent = send(ipc, pager, None, |buf| {
        if unlock {
            mo::encode_memory_object_data_unlock_request(buf, 0, offset, PAGE, access)
        } else {
            mo::encode_memory_object_data_request_request(buf, 0, offset, PAGE, access)
        }
    });
    if !sent {
        fail(object, offset, unlock);
        return Request::Failed;
    }
    Request::Wait
}

/// A request for page `offset` of `object` could not be sent: the page
/// fails as if the pager had answered `data_error` (an unlock request is
/// withdrawn instead: the page stays resident and locked).
fn fail(object: u64, offset: u64, unlock: bool) {
    let _ = vm::with_objects(|o| {
        if unlock {
            o.cancel_request(object, offset)
        } else {
            o.data_error(object, offset).map(|_| ())
        }
    });
    answered(object, offset);
}

/// The pager's answer for page `offset` of `object` is in the model (the
/// page, zero fill, an error, a lock change): the waiters wake and look again.
pub fn answered(object: u64, offset: u64) {
    wait::wake_all(WaitKey::Memory(object, offset));
}

/// Tells the pagers of dead objects and lets them go. (Usually there are
/// none: the message paths call this after every general send and receive.)
#[inline(always)]
pub fn objects_gone(ipc: &mut Ipc, pagers: &mut Pagers, gone: PagersGone) {
    if !gone.0.is_empty() {
        tell_gone(ipc, pagers, gone);
    }
}

#[cold]
#[inline(never)]
fn tell_gone(ipc: &mut Ipc, pagers: &mut Pagers, gone: PagersGone) {
    for pager in gone.0 {
        object_gone(ipc, pagers, pager);
    }
}

/// A pager-backed object died: tell the pager and let it go.
fn object_gone(ipc: &mut Ipc, pagers: &mut Pagers, pager: PortId) {
    let Some(info) = pagers.by_port.remove(&pager) else {
        return;
    };
    send(ipc, pager, None, |buf| {
        mo::encode_memory_object_terminate_request(buf, 0)
    });
    // The control port dies first, so cancelling the dead-name request
    // (releasing its send-once right to that port) sends nothing.
    ipc.kobject_port_destroy(info.control);
    ipc.kernel_cancel_dead_name(pager);
    ipc.kernel_release_send(pager);
}

/// How page-out reaches pagers: the IPC state and pager table in hand.
pub struct PagerIo<'a> {
    pub ipc: &'a mut Ipc,
    pub pagers: &'a mut Pagers,
}

impl vm::pageout::PageoutIo for PagerIo<'_> {
    fn have_default_pager(&mut self) -> bool {
        have_default_pager(self.ipc, self.pagers)
    }
    fn attach_default_pager(&mut self, object: u64, size: u64) -> Option<u64> {
        attach_default_pager(self.ipc, self.pagers, object, size)
    }
    fn data_return(&mut self, pager: u64, offset: u64, data: Vec<u8>, kept: bool) {
        data_return(self.ipc, self.pagers, pager, offset, data, true, kept);
    }
}
