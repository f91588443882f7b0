//! External pagers: VM objects whose pages come from a user task that
//! implements a memory object (the seed's "user-level page fault handlers").
//!
//! `vm_map` of a memory object port creates (or finds) the VM object for it,
//! gives the pager a control port (`memory_object_init`) and maps the object.
//! A fault on a page the object lacks sends `memory_object_data_request` once
//! per page and blocks the thread; the pager answers on the control port with
//! `memory_object_data_supply` (the data becomes resident; a duplicate never
//! overwrites a resident page), `memory_object_data_unavailable` (zero fill)
//! or `memory_object_data_error` (faults on the page fail). A thread waiting
//! for a pager that has died gives up with a memory error; one waiting for a
//! pager that never answers waits until its task is terminated.

use super::ipc;
use super::task::Task;
use super::vm;
use super::wait;
use alloc::vec;
use alloc::vec::Vec;
use hashbrown::{HashMap, HashSet};
use mach_abi::kern_return::*;
use mach_core::ipc::kimage::{KernelReplyParts, KernelRequest};
use mach_core::ipc::kmsg::KMsg;
use mach_core::ipc::{Ipc, KObject, KRight, PortId, RightKind, WaitKey};
use mach_core::vm::{VmInherit, VmProt};
use mach_interfaces::default_pager as dp;
use mach_interfaces::memory_object as mo;
use mach_interfaces::memory_object_control::{self as moc, MemoryObjectControlServer};
use mach_interfaces::{OolArray, Release};
use spin::Mutex;

/// Size given to a pager-backed object (memory objects have no fixed size).
const PAGER_OBJECT_SIZE: u64 = 1 << 40;
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

struct State {
    /// By memory object port.
    pagers: HashMap<PortId, PagerInfo>,
    /// Data requests sent and not yet answered: (object, page offset).
    pending: HashSet<(u64, u64)>,
    /// Pages the pager said it cannot provide.
    failed: HashSet<(u64, u64)>,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    let mut g = STATE.lock();
    f(g.get_or_insert_with(|| State {
        pagers: HashMap::new(),
        pending: HashSet::new(),
        failed: HashSet::new(),
    }))
}

/// The default memory manager's port (a send right the kernel holds).
static DEFAULT_PAGER: Mutex<Option<PortId>> = Mutex::new(None);

/// The default pager's task: its memory is never paged out (it would have
/// to page itself in).
static DEFAULT_PAGER_TASK: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// `vm_set_default_memory_manager` from `task`: keeps the send right
/// `right`, replacing (and releasing) an earlier registration; a null right
/// unregisters. While a default pager is alive only its own task may change
/// the registration (KERN_NO_ACCESS): there is no host_priv port yet, and
/// whoever holds this role sees every task's paged-out memory.
pub fn set_default_pager(ipc: &mut Ipc, task: u64, right: KRight) -> Result<(), KernReturn> {
    let current = *DEFAULT_PAGER.lock();
    if current.is_some_and(|p| ipc.port_is_alive(p)) && !is_default_pager_task(task) {
        return Err(KERN_NO_ACCESS);
    }
    let new = if right.port_id().is_none() {
        None
    } else {
        Some(ipc.kernel_hold_send(right).ok_or(KERN_INVALID_CAPABILITY)?)
    };
    let old = core::mem::replace(&mut *DEFAULT_PAGER.lock(), new);
    if let Some(old) = old {
        ipc.kernel_release_send(old);
    }
    DEFAULT_PAGER_TASK.store(
        if new.is_some() { task } else { 0 },
        core::sync::atomic::Ordering::Relaxed,
    );
    Ok(())
}

/// Whether `pager` is a memory object the kernel made at the default pager.
pub fn is_default_object(pager: PortId) -> bool {
    with_state(|s| s.pagers.get(&pager).is_some_and(|p| p.default))
}

/// Lets the default pager go once it is the last task: the kernel's send
/// right to its service port is released, so it hears no-senders and exits.
pub fn release_default_pager_if_alone() {
    let alone = {
        let tasks = super::task::all();
        tasks.len() == 1 && is_default_pager_task(tasks[0].id)
    };
    if alone && DEFAULT_PAGER.lock().is_some() {
        ipc::with(|ipc| {
            if let Some(p) = DEFAULT_PAGER.lock().take() {
                ipc.kernel_release_send(p);
            }
        });
        DEFAULT_PAGER_TASK.store(0, core::sync::atomic::Ordering::Relaxed);
    }
}

/// Whether `task` is the default pager's (exempt from page-out).
pub fn is_default_pager_task(task: u64) -> bool {
    task != 0 && DEFAULT_PAGER_TASK.load(core::sync::atomic::Ordering::Relaxed) == task
}

/// Whether a live default pager is registered.
pub fn have_default_pager(ipc: &Ipc) -> bool {
    DEFAULT_PAGER.lock().is_some_and(|p| ipc.port_is_alive(p))
}

/// Gives the anonymous `object` (of `size` bytes) a memory object served by
/// the default pager: a new port whose receive right goes to the default
/// pager with `memory_object_create`, and a control port. Returns the new
/// object port (the kernel keeps a send right to it), or `None` without a
/// live default pager.
pub fn attach_default_pager(ipc: &mut Ipc, object: u64, size: u64) -> Option<PortId> {
    let default = (*DEFAULT_PAGER.lock()).filter(|&p| ipc.port_is_alive(p))?;
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
    let control = ipc.kobject_port_create(KObject::MemoryControl(object));
    with_state(|s| {
        s.pagers.insert(
            held,
            PagerInfo {
                object,
                control,
                default: true,
                may_cache: false,
                copy_strategy: 0,
            },
        )
    });
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

/// Whether the pager failed this page (faults on it end with a memory error).
pub fn failed(object: u64, offset: u64) -> bool {
    with_state(|s| s.failed.contains(&(object, offset)))
}

/// `vm_map` of the memory object behind the send right `right` (the caller
/// releases it on error).
#[allow(clippy::too_many_arguments)]
pub fn map(
    ipc: &mut Ipc,
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
    if let Some(object) = with_state(|s| s.pagers.get(&port).map(|p| p.object)) {
        let at = vm::map_object(task, addr, size, anywhere, object, offset, copy, prot, max, inheritance)?;
        ipc.release_right(right);
        return Ok(at);
    }
    let object = vm::with_objects(|o| o.create(PAGER_OBJECT_SIZE, Some(port))).map_err(|e| e.kr())?;
    let mapped = vm::map_object(task, addr, size, anywhere, object, offset, copy, prot, max, inheritance);
    // The map holds the object now; drop the reference `create` gave us.
    let reclaim = vm::with_objects(|o| o.deallocate(object)).unwrap_or_default();
    let at = match mapped {
        Ok(at) => at,
        Err(e) => {
            drop(reclaim);
            return Err(e);
        }
    };
    let held = ipc.kernel_hold_send(right).ok_or(KERN_INVALID_CAPABILITY)?;
    let control = ipc.kobject_port_create(KObject::MemoryControl(object));
    with_state(|s| {
        s.pagers.insert(
            held,
            PagerInfo {
                object,
                control,
                default: false,
                may_cache: false,
                copy_strategy: 0,
            },
        )
    });
    send(ipc, port, Some(control), |buf| {
        mo::encode_memory_object_init_request(buf, 0, 1, PAGE)
    });
    Ok(at)
}

/// Sends a kernel-to-pager message, with a send right to `control` as handle 1
/// if given (only memory_object_init carries one).
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
pub fn data_return(ipc: &mut Ipc, pager: PortId, offset: u64, data: Vec<u8>, dirty: bool, kept: bool) -> bool {
    if !with_state(|s| s.pagers.contains_key(&pager)) {
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

/// A fault needs page `offset` of `object` from `pager`: asks for it (once)
/// and waits for the answer. Returns false if the thread should give up.
pub fn wait_for_page(object: u64, pager: PortId, offset: u64, access: u32, unlock: bool) -> bool {
    let first = with_state(|s| s.pending.insert((object, offset)));
    if first {
        let sent = ipc::with(|ipc| {
            if !with_state(|s| s.pagers.contains_key(&pager)) {
                return false;
            }
            send(ipc, pager, None, |buf| {
                if unlock {
                    mo::encode_memory_object_data_unlock_request(buf, 0, offset, PAGE, access)
                } else {
                    mo::encode_memory_object_data_request_request(buf, 0, offset, PAGE, access)
                }
            })
        });
        if !sent {
            with_state(|s| {
                s.pending.remove(&(object, offset));
                s.failed.insert((object, offset));
            });
            return false;
        }
    }
    loop {
        if !with_state(|s| s.pending.contains(&(object, offset))) {
            return !failed(object, offset);
        }
        // Wake up now and then to notice a pager that died without answering.
        let deadline = super::sched::ticks() + 100;
        match wait::block(Some(WaitKey::Memory(object, offset)), Some(deadline)) {
            super::thread::WakeReason::Interrupted => return false,
            super::thread::WakeReason::Timeout => {
                if !ipc::with(|ipc| ipc.port_is_alive(pager)) {
                    with_state(|s| {
                        s.pending.remove(&(object, offset));
                        s.failed.insert((object, offset));
                    });
                    return false;
                }
            }
            _ => {}
        }
    }
}

/// The pager's answers, on an object's control port.
struct Control<'a> {
    ipc: &'a mut Ipc,
    req: KernelRequest,
    object: u64,
}

impl Release for Control<'_> {
    fn release_port(&mut self, name: u32, _t: u8) {
        if let Some(r) = self.req.take_right(name) {
            self.ipc.release_right(r);
        }
    }
    fn release_ool(&mut self, address: u64, _size: u64) {
        let _ = self.req.take_ool(address);
    }
    fn release_ool_ports(&mut self, address: u64, _c: u32, _t: u8) {
        for r in self.req.take_ool_ports(address).unwrap_or_default() {
            self.ipc.release_right(r);
        }
    }
}

fn answered(ipc: &mut Ipc, object: u64, offset: u64, failed: bool) {
    with_state(|s| {
        s.pending.remove(&(object, offset));
        if failed {
            s.failed.insert((object, offset));
        }
    });
    let _ = ipc;
    wait::wake_all(WaitKey::Memory(object, offset));
}

/// The pages of `[offset, offset + length)`, if the range is page-aligned and sane.
fn pages(offset: u64, length: u64) -> Result<impl Iterator<Item = u64>, i32> {
    if !offset.is_multiple_of(PAGE) || length == 0 || offset.checked_add(length).is_none_or(|e| e > PAGER_OBJECT_SIZE) {
        return Err(KERN_INVALID_ARGUMENT);
    }
    Ok((0..length.div_ceil(PAGE)).map(move |i| offset + i * PAGE))
}

impl Control<'_> {
    /// Sends memory_object_lock_completed to the send-once right behind
    /// handle `reply_to` (nothing for a null one).
    fn completed(&mut self, reply_to: u32, offset: u64, length: u64) {
        let Some(reply) = self.req.take_right(reply_to).filter(|r| r.port_id().is_some()) else {
            return;
        };
        let mut buf = [0u8; 128];
        match mo::encode_memory_object_lock_completed_request(&mut buf, 0, offset, length) {
            Some(n) => self
                .ipc
                .kernel_send_image(reply, KRight::NULL, &buf[..n], KernelReplyParts::default()),
            None => self.ipc.release_right(reply),
        }
    }

    fn set_attributes(&mut self, may_cache: u32, copy_strategy: u32) {
        with_state(|s| {
            if let Some(p) = s.pagers.values_mut().find(|p| p.object == self.object) {
                p.may_cache = may_cache != 0;
                p.copy_strategy = copy_strategy;
            }
        });
    }
}

impl MemoryObjectControlServer for Control<'_> {
    #[allow(clippy::too_many_arguments)]
    fn memory_object_lock_request(
        &mut self,
        _c: u32,
        offset: u64,
        size: u64,
        should_return: u32,
        should_flush: u32,
        lock_value: u32,
        reply_to: u32,
    ) -> Result<(), i32> {
        let lock = VmProt::from_bits(lock_value).ok_or(KERN_INVALID_ARGUMENT)?;
        if should_return > 2 {
            return Err(KERN_INVALID_ARGUMENT);
        }
        let range: Vec<u64> = pages(offset, size)?.collect();
        let pager = vm::with_objects(|o| o.get(self.object).and_then(|x| x.pager())).ok_or(KERN_INVALID_ARGUMENT)?;
        let last = offset + size;
        let mut io = super::pageout::Locked(self.ipc);
        super::pageout::clean(
            &mut io,
            self.object,
            pager,
            offset..last,
            should_return,
            should_flush != 0,
        );
        super::pageout::lock(self.object, offset..last, lock);
        // Faults waiting for an unlock look again.
        for page in range {
            if with_state(|s| s.pending.contains(&(self.object, page))) {
                answered(self.ipc, self.object, page, false);
            }
        }
        self.completed(reply_to, offset, size);
        Ok(())
    }
    fn memory_object_ready(&mut self, _c: u32, may_cache: u32, copy_strategy: u32) -> Result<(), i32> {
        self.set_attributes(may_cache, copy_strategy);
        Ok(())
    }
    fn memory_object_change_attributes(
        &mut self,
        _c: u32,
        may_cache: u32,
        copy: u32,
        reply_to: u32,
    ) -> Result<(), i32> {
        self.set_attributes(may_cache, copy);
        self.completed(reply_to, 0, 0);
        Ok(())
    }
    fn memory_object_data_supply(&mut self, _c: u32, offset: u64, data: OolArray, lock: u32) -> Result<(), i32> {
        let lock = VmProt::from_bits(lock).ok_or(KERN_INVALID_ARGUMENT)?;
        let bytes = self.req.take_ool(data.address).unwrap_or_default();
        for (i, page) in pages(offset, (bytes.len() as u64).max(1))?.enumerate() {
            let from = i * PAGE as usize;
            let chunk = bytes.get(from..(from + PAGE as usize).min(bytes.len())).unwrap_or(&[]);
            if vm::supply_page(self.object, page, chunk) && lock != VmProt::NONE {
                let _ = vm::with_objects(|o| o.set_lock(self.object, page, lock));
            }
            answered(self.ipc, self.object, page, false);
        }
        Ok(())
    }
    fn memory_object_data_unavailable(&mut self, _c: u32, offset: u64, length: u64) -> Result<(), i32> {
        for page in pages(offset, length)? {
            vm::supply_page(self.object, page, &[]);
            answered(self.ipc, self.object, page, false);
        }
        Ok(())
    }
    fn memory_object_data_error(&mut self, _c: u32, offset: u64, length: u64, _error: i32) -> Result<(), i32> {
        for page in pages(offset, length)? {
            answered(self.ipc, self.object, page, true);
        }
        Ok(())
    }
}

/// Serves a message on the control port of `object`.
pub fn control_message(ipc: &mut Ipc, object: u64, kmsg: KMsg) {
    let mut req = ipc.kernel_request(kmsg);
    let image = core::mem::take(&mut req.image);
    let reply = core::mem::replace(&mut req.reply, KRight::NULL);
    let mut out = [0u8; 64];
    let mut c = Control { ipc, req, object };
    let _ = moc::memory_object_control_server(&mut c, &image, &mut out);
    let Control { ipc, req, .. } = c;
    ipc.kernel_request_done(req);
    ipc.release_right(reply);
}

/// A pager-backed object died: tell the pager and let it go.
pub fn object_gone(ipc: &mut Ipc, pager: PortId) {
    let Some(info) = with_state(|s| {
        let info = s.pagers.remove(&pager)?;
        s.pending.retain(|&(o, _)| o != info.object);
        s.failed.retain(|&(o, _)| o != info.object);
        Some(info)
    }) else {
        return;
    };
    send(ipc, pager, None, |buf| {
        mo::encode_memory_object_terminate_request(buf, 0)
    });
    ipc.kobject_port_destroy(info.control);
    ipc.kernel_release_send(pager);
}
