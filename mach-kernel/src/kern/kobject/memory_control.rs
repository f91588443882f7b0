//! The memory-object control port's server (`memory_object_control`): a
//! pager's answers about the object behind the port: data, zero fill and
//! errors for pages the kernel asked for, lock requests, attributes. Each
//! answer goes to the VM model's page state (`mach_core::vm::pager`), which
//! refuses what does not fit (a duplicate supply, a page outside the
//! object), and the faults waiting on the pages wake.
//!
//! Work per call is bounded whatever a pager sends: `data_error` and
//! `data_unavailable` cover at most `MAX_ANSWER_PAGES` pages of the object
//! (the range is cut at the object's end and after that many pages) and, as
//! in Mach, answer only the pages in it that were asked for; a
//! supply at most the pages of its data, and `lock_request` walks the
//! object's resident pages and its outstanding unlock requests, never the
//! range page by page.

use crate::kern::pager::{self, PAGER_OBJECT_SIZE, PagerIo, Pagers};
use crate::kern::vm::{self, pageout};
use mach_abi::kern_return::*;
use mach_abi::port::MACH_NOTIFY_DEAD_NAME;
use mach_core::ipc::kimage::{KernelReplyParts, KernelRequest};
use mach_core::ipc::kmsg::KMsg;
use mach_core::ipc::{Ipc, KERNEL_SPACE, KRight};
use mach_core::vm::{PageState, VmError, VmProt};
use mach_interfaces::memory_object as mo;
use mach_interfaces::memory_object_control::{self as moc, MemoryObjectControlServer};
use mach_interfaces::{OolArray, Release};

const PAGE: u64 = 4096;

/// The pager's answers, on an object's control port.
struct Control<'a> {
    ipc: &'a mut Ipc,
    pagers: &'a mut Pagers,
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
        if let Some(h) = self.req.take_ool_pages(address) {
            vm::kpages::discard(h);
        }
    }
    fn release_ool_ports(&mut self, address: u64, _c: u32, _t: u8) {
        for r in self.req.take_ool_ports(address).unwrap_or_default() {
            self.ipc.release_right(r);
        }
    }
}

/// The pages of `[offset, offset + length)`, if the range is page-aligned and sane.
fn pages(offset: u64, length: u64) -> Result<impl Iterator<Item = u64>, i32> {
    if !offset.is_multiple_of(PAGE) || length == 0 || offset.checked_add(length).is_none_or(|e| e > PAGER_OBJECT_SIZE) {
        return Err(KERN_INVALID_ARGUMENT);
    }
    Ok((0..length.div_ceil(PAGE)).map(move |i| offset + i * PAGE))
}

/// The pages `[start, end)` a pager's answer for `[offset, offset +
/// length)` of `object` covers, cut to the object and `MAX_ANSWER_PAGES`.
fn answer_range(object: u64, offset: u64, length: u64) -> Result<core::ops::Range<u64>, i32> {
    let (start, end) = vm::with_objects(|o| o.answer_range(object, offset, length)).map_err(VmError::kr)?;
    Ok(start..end)
}

impl Control<'_> {
    /// Whether the pager sending this is the default pager's task (which
    /// may use the frames kept in reserve for it).
    fn privileged(&self) -> bool {
        crate::kern::task::lookup(self.req.sender).is_some_and(|t| t.is_vm_privileged())
    }

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

    /// Makes `frame` page `page` of the object (a duplicate or a page outside
    /// it is refused and the frame freed), locked against `lock`, and wakes
    /// the faults waiting for it.
    fn commit(&mut self, page: u64, frame: crate::mem::Frame, lock: VmProt) {
        if vm::supply_frame(self.object, page, frame) && lock != VmProt::NONE {
            let _ = vm::with_objects(|o| o.set_lock(self.object, page, lock));
        }
        pager::answered(self.object, page);
    }

    fn set_attributes(&mut self, may_cache: u32, copy_strategy: u32) {
        self.pagers.set_attributes(self.object, may_cache != 0, copy_strategy);
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
        let _ = pages(offset, size)?;
        let pager = vm::with_objects(|o| o.get(self.object).and_then(|x| x.pager())).ok_or(KERN_INVALID_ARGUMENT)?;
        let last = offset + size;
        // The faults waiting for an unlock in the range (bounded by the
        // requests an object may have out), found before a flush drops them.
        let waiting = vm::with_objects(|o| o.unlock_requests_in(self.object, offset, last));
        let mut io = PagerIo {
            ipc: self.ipc,
            pagers: self.pagers,
        };
        pageout::clean(
            &mut io,
            self.object,
            pager,
            offset..last,
            should_return,
            should_flush != 0,
        );
        pageout::lock(self.object, offset..last, lock);
        // Faults waiting for an unlock look again (`lock` ended the requests).
        for page in waiting {
            let _ = vm::with_objects(|o| o.cancel_request(self.object, page));
            pager::answered(self.object, page);
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
        // A page or more came as kernel pages, copied once from the pager:
        // they become the object's pages as they are.
        if let Some(kp) = self.req.take_ool_pages(data.address).and_then(vm::kpages::take) {
            let mut frames = kp.frames.into_iter();
            let range = match pages(offset, kp.len.max(1)) {
                Ok(r) => r,
                Err(e) => {
                    frames.for_each(crate::mem::free_frame);
                    return Err(e);
                }
            };
            for page in range {
                let Some(frame) = frames.next() else { break };
                self.commit(page, frame, lock);
            }
            frames.for_each(crate::mem::free_frame);
            return Ok(());
        }
        let bytes = self.req.take_ool(data.address).unwrap_or_default();
        let range = pages(offset, (bytes.len() as u64).max(1))?;
        let chunks = (0..bytes.len().div_ceil(PAGE as usize).max(1)).map(|i| {
            let from = i * PAGE as usize;
            bytes.get(from..(from + PAGE as usize).min(bytes.len())).unwrap_or(&[])
        });
        // Every frame first, then the commits: a shortage commits nothing.
        // The pages asked for go back to absent and their faults wake, wait
        // for memory if it is still short, and ask again: the data is gone.
        let Some(frames) = vm::supply_frames(chunks, self.privileged()) else {
            log::warn!("pager: data_supply dropped: no frames");
            for page in range {
                let asked = vm::with_objects(|o| {
                    let asked = o.page_state(self.object, page) == Ok(PageState::Requested);
                    if asked {
                        let _ = o.cancel_request(self.object, page);
                    }
                    asked
                });
                if asked {
                    pager::answered(self.object, page);
                }
            }
            return Ok(());
        };
        for (page, frame) in range.zip(frames) {
            self.commit(page, frame, lock);
        }
        Ok(())
    }
    fn memory_object_data_unavailable(&mut self, _c: u32, offset: u64, length: u64) -> Result<(), i32> {
        // The faults zero-fill the pages themselves (where they can wait for
        // memory): nothing is allocated here.
        for page in answer_range(self.object, offset, length)?.step_by(PAGE as usize) {
            if vm::with_objects(|o| o.data_unavailable(self.object, page)) == Ok(true) {
                pager::answered(self.object, page);
            }
        }
        Ok(())
    }
    fn memory_object_data_error(&mut self, _c: u32, offset: u64, length: u64, _error: i32) -> Result<(), i32> {
        for page in answer_range(self.object, offset, length)?.step_by(PAGE as usize) {
            if vm::with_objects(|o| o.data_error(self.object, page)) == Ok(true) {
                pager::answered(self.object, page);
            }
        }
        Ok(())
    }
}

/// Serves a message on the control port of `object`: a pager's answer, or
/// the kernel's own dead-name notification for the pager's port (only the
/// kernel can send that: the sender is checked, so a forged one is ignored).
pub fn serve(ipc: &mut Ipc, pagers: &mut Pagers, object: u64, kmsg: KMsg) {
    if kmsg.sender == KERNEL_SPACE && kmsg.id == MACH_NOTIFY_DEAD_NAME {
        pager::pager_died(object);
    }
    let mut req = ipc.kernel_request(kmsg);
    let image = core::mem::take(&mut req.image);
    let reply = core::mem::replace(&mut req.reply, KRight::NULL);
    let mut out = [0u8; 64];
    let mut c = Control {
        ipc,
        pagers,
        req,
        object,
    };
    let _ = moc::memory_object_control_server(&mut c, &image, &mut out);
    let Control { ipc, req, .. } = c;
    ipc.kernel_request_done(req);
    ipc.release_right(reply);
}
