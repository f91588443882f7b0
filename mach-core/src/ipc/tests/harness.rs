//! Test fixtures: a fake user memory, message builders, and helpers that
//! receive and decode messages.

use crate::ipc::msg::{ReceiveOutcome, SendOutcome};
use crate::ipc::{Ipc, Name, SpaceId, UserMemory};
use mach_abi::message::*;
use mach_abi::port::*;
use std::collections::BTreeMap;
use std::vec::Vec;

/// A task's memory: regions by start address.
#[derive(Default)]
pub struct FakeMemory {
    pub regions: BTreeMap<u64, Vec<u8>>,
    next: u64,
    pub deallocated: Vec<(u64, u64)>,
    /// Take regions of a page or more as virtual copies (held in `COPIES`).
    pub virtual_copies: bool,
    /// Make `copyout_virtual` fail (no room in the receiver).
    pub refuse_copies: bool,
    /// Take regions of a page or more sent to kernel objects as kernel pages
    /// (held in `COPIES`, like virtual copies).
    pub kernel_pages: bool,
}

std::thread_local! {
    /// Virtual copies in flight, by handle (shared by all memories of a thread's test).
    pub static COPIES: core::cell::RefCell<BTreeMap<u64, Vec<u8>>> = const { core::cell::RefCell::new(BTreeMap::new()) };
    static NEXT_COPY: core::cell::Cell<u64> = const { core::cell::Cell::new(1) };
}

pub fn copies_in_flight() -> usize {
    COPIES.with(|c| c.borrow().len())
}

impl FakeMemory {
    pub fn new() -> Self {
        FakeMemory {
            regions: BTreeMap::new(),
            next: 0x1000_0000,
            deallocated: Vec::new(),
            virtual_copies: false,
            refuse_copies: false,
            kernel_pages: false,
        }
    }

    pub fn region(&self, addr: u64) -> Option<&Vec<u8>> {
        self.regions.get(&addr)
    }

    pub fn put(&mut self, data: &[u8]) -> u64 {
        let a = self.allocate(data.len() as u64).unwrap();
        self.write(a, data).unwrap();
        a
    }
}

impl UserMemory for FakeMemory {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<(), ()> {
        let (start, r) = self.regions.range(..=addr).next_back().ok_or(())?;
        let off = (addr - start) as usize;
        let src = r.get(off..off + buf.len()).ok_or(())?;
        buf.copy_from_slice(src);
        Ok(())
    }
    fn write(&mut self, addr: u64, buf: &[u8]) -> Result<(), ()> {
        let (start, r) = self.regions.range_mut(..=addr).next_back().ok_or(())?;
        let off = (addr - *start) as usize;
        let dst = r.get_mut(off..off + buf.len()).ok_or(())?;
        dst.copy_from_slice(buf);
        Ok(())
    }
    fn allocate(&mut self, size: u64) -> Result<u64, ()> {
        let a = self.next;
        self.next += size.next_multiple_of(4096).max(4096) + 4096;
        self.regions.insert(a, std::vec![0; size as usize]);
        Ok(a)
    }
    fn deallocate(&mut self, addr: u64, size: u64) -> Result<(), ()> {
        self.deallocated.push((addr, size));
        self.regions.remove(&addr).map(|_| ()).ok_or(())
    }
    fn copyin_virtual(&mut self, addr: u64, size: u64, dealloc: bool) -> Result<Option<u64>, ()> {
        if !self.virtual_copies || size < 4096 {
            return Ok(None);
        }
        self.take_copy(addr, size, dealloc).map(Some)
    }
    fn copyin_kernel_pages(&mut self, addr: u64, size: u64, dealloc: bool) -> Result<Option<u64>, ()> {
        assert!(size >= 4096, "kernel pages asked for less than a page");
        if !self.kernel_pages {
            return Ok(None);
        }
        self.take_copy(addr, size, dealloc).map(Some)
    }
    fn copyout_virtual(&mut self, copy: u64) -> Result<u64, ()> {
        if self.refuse_copies {
            return Err(());
        }
        let data = COPIES.with(|c| c.borrow_mut().remove(&copy)).ok_or(())?;
        Ok(self.put(&data))
    }
}

impl FakeMemory {
    /// Moves `[addr, addr + size)` into `COPIES`; returns its handle.
    fn take_copy(&mut self, addr: u64, size: u64, dealloc: bool) -> Result<u64, ()> {
        let mut data = std::vec![0; size as usize];
        self.read(addr, &mut data)?;
        if dealloc {
            self.deallocate(addr, size)?;
        }
        let h = NEXT_COPY.with(|n| n.replace(n.get() + 1));
        COPIES.with(|c| c.borrow_mut().insert(h, data));
        Ok(h)
    }
}

/// Builds a message byte image.
pub struct MsgBuilder {
    pub bytes: Vec<u8>,
    descs: u32,
}

impl MsgBuilder {
    pub fn new(remote: Name, remote_disp: u8, local: Name, local_disp: u8, id: i32) -> Self {
        let mut bytes = std::vec![0u8; MACH_MSG_HEADER_SIZE];
        bytes[0..4].copy_from_slice(&mach_msgh_bits(remote_disp, local_disp).to_le_bytes());
        bytes[8..12].copy_from_slice(&remote.to_le_bytes());
        bytes[12..16].copy_from_slice(&local.to_le_bytes());
        bytes[20..24].copy_from_slice(&id.to_le_bytes());
        MsgBuilder { bytes, descs: 0 }
    }

    fn complex(&mut self) {
        if self.descs == 0 {
            let bits = u32::from_le_bytes(self.bytes[0..4].try_into().unwrap()) | MACH_MSGH_BITS_COMPLEX;
            self.bytes[0..4].copy_from_slice(&bits.to_le_bytes());
            self.bytes.extend_from_slice(&0u32.to_le_bytes());
        }
        self.descs += 1;
        let n = self.descs;
        self.bytes[24..28].copy_from_slice(&n.to_le_bytes());
    }

    pub fn port(mut self, name: Name, disposition: u8) -> Self {
        self.complex();
        let mut d = [0u8; 12];
        d[0..4].copy_from_slice(&name.to_le_bytes());
        d[10] = disposition;
        d[11] = MACH_MSG_PORT_DESCRIPTOR;
        self.bytes.extend_from_slice(&d);
        self
    }

    pub fn ool(mut self, addr: u64, size: u32, deallocate: bool) -> Self {
        self.complex();
        let mut d = [0u8; 16];
        d[0..8].copy_from_slice(&addr.to_le_bytes());
        d[8] = deallocate as u8;
        d[11] = MACH_MSG_OOL_DESCRIPTOR;
        d[12..16].copy_from_slice(&size.to_le_bytes());
        self.bytes.extend_from_slice(&d);
        self
    }

    /// An out-of-line region the kernel may carry as a virtual copy.
    pub fn ool_virtual(mut self, addr: u64, size: u32, deallocate: bool) -> Self {
        self = self.ool(addr, size, deallocate);
        let n = self.bytes.len();
        self.bytes[n - 7] = MACH_MSG_VIRTUAL_COPY;
        self
    }

    pub fn ool_ports(mut self, addr: u64, count: u32, disposition: u8) -> Self {
        self.complex();
        let mut d = [0u8; 16];
        d[0..8].copy_from_slice(&addr.to_le_bytes());
        d[10] = disposition;
        d[11] = MACH_MSG_OOL_PORTS_DESCRIPTOR;
        d[12..16].copy_from_slice(&count.to_le_bytes());
        self.bytes.extend_from_slice(&d);
        self
    }

    pub fn data(mut self, data: &[u8]) -> Self {
        self.bytes.extend_from_slice(data);
        while !self.bytes.len().is_multiple_of(4) {
            self.bytes.push(0);
        }
        self
    }

    /// Inline data after the header and descriptors.
    pub fn inline(mut self, data: &[u8]) -> Self {
        self.bytes.extend_from_slice(data);
        self
    }

    pub fn build(mut self) -> Vec<u8> {
        let n = self.bytes.len() as u32;
        self.bytes[4..8].copy_from_slice(&n.to_le_bytes());
        self.bytes
    }
}

/// A world with two tasks (spaces 1 and 2) and their memories.
pub struct World {
    pub ipc: Ipc,
    pub mem: [FakeMemory; 3],
}

pub const A: SpaceId = 1;
pub const B: SpaceId = 2;

impl World {
    pub fn new() -> Self {
        let mut ipc = Ipc::new();
        ipc.space_create(A, 1024);
        ipc.space_create(B, 1024);
        World {
            ipc,
            mem: [FakeMemory::new(), FakeMemory::new(), FakeMemory::new()],
        }
    }

    /// A receive right in `space`.
    pub fn port(&mut self, space: SpaceId) -> Name {
        self.ipc.port_allocate(space, MACH_PORT_RIGHT_RECEIVE).unwrap()
    }

    /// Gives `to` a send right for the receive right `recv` of `from`; returns the name in `to`.
    pub fn give_send(&mut self, from: SpaceId, recv: Name, to: SpaceId) -> Name {
        let r = self
            .ipc
            .port_extract_right(from, recv, MACH_MSG_TYPE_MAKE_SEND as u32)
            .unwrap();
        if from == to {
            self.ipc.port_insert_right(to, recv, r).unwrap();
            return recv;
        }
        // Insert under a fresh name: allocate a dead name to reserve a name, then reuse it.
        let n = self.ipc.port_allocate(to, MACH_PORT_RIGHT_DEAD_NAME).unwrap();
        self.ipc.port_mod_refs(to, n, MACH_PORT_RIGHT_DEAD_NAME, -1).unwrap();
        let fresh = n.wrapping_add(1);
        self.ipc.port_insert_right(to, fresh, r).unwrap();
        fresh
    }

    pub fn send(&mut self, space: SpaceId, msg: &[u8]) -> Result<SendOutcome, MachMsgReturn> {
        self.ipc.msg_send(space, msg, &mut self.mem[space as usize])
    }

    pub fn recv(&mut self, space: SpaceId, name: Name) -> Result<ReceiveOutcome, MachMsgReturn> {
        self.ipc
            .msg_receive(space, name, 64 * 1024, false, &mut self.mem[space as usize])
    }

    /// Receives a message that must be there; returns its bytes.
    pub fn recv_ok(&mut self, space: SpaceId, name: Name) -> Vec<u8> {
        match self.recv(space, name) {
            Ok(ReceiveOutcome::Message { bytes, status }) => {
                assert_eq!(status, MACH_MSG_SUCCESS);
                bytes
            }
            other => panic!("expected a message, got {other:?}"),
        }
    }

    pub fn assert_empty(&mut self, space: SpaceId, name: Name) {
        match self.recv(space, name) {
            Ok(ReceiveOutcome::WouldBlock(_)) => {}
            other => panic!("expected no message, got {other:?}"),
        }
    }

    pub fn assert_audit(&self) {
        let r = self.ipc.audit();
        assert!(r.violations.is_empty(), "audit: {:#?}", r.violations);
    }

    /// Snapshot of a space: (name, type, send urefs) for every name.
    pub fn snapshot(&mut self, space: SpaceId) -> Vec<(Name, u32, u32)> {
        let names = self.ipc.port_names(space).unwrap();
        names
            .into_iter()
            .map(|(n, t)| {
                let refs = if t & MACH_PORT_TYPE_SEND != 0 {
                    self.ipc.port_get_refs(space, n, MACH_PORT_RIGHT_SEND).unwrap()
                } else if t & MACH_PORT_TYPE_DEAD_NAME != 0 {
                    self.ipc.port_get_refs(space, n, MACH_PORT_RIGHT_DEAD_NAME).unwrap()
                } else {
                    0
                };
                (n, t, refs)
            })
            .collect()
    }
}

pub fn word(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}

pub fn id_of(b: &[u8]) -> i32 {
    word(b, 20) as i32
}
