//! Helpers for the IPC test programs: the task and host ports (the host name
//! port and, in a boot task, the privileged host port), a transport for
//! kernel calls, message building, and the invariant audit every test ends
//! with (a host_priv call).

use mach_user::abi::message::*;
use mach_user::abi::port::*;
use mach_user::ipc::{MsgBuf, mach_host_self, mach_msg};
use mach_user::ool::OolRegion;
use mach_user::rpc::{Rpc, host_priv, mach_port};

pub struct Env {
    pub rpc: Rpc,
    pub task: u32,
    /// The host name port (`mach_host_self()`).
    pub host: u32,
    /// The privileged host port the kernel gave this boot task
    /// (`--host-priv-port=`); 0 in a task made with `task_create`.
    pub host_priv: u32,
    /// Ports, sets and messages when the program started.
    pub baseline: (u32, u32, u32),
}

pub type Buf = MsgBuf<4096>;

impl Env {
    pub fn new() -> Self {
        let mut e = Env {
            rpc: Rpc::new(),
            // Remembered for the task's life (see `task_self`): out-of-line
            // regions use the same name when they deallocate themselves, so
            // they change no user reference count the tests compare.
            task: mach_user::ipc::task_self(),
            host: mach_host_self(),
            host_priv: mach_user::start::host_priv().unwrap_or(0),
            baseline: (0, 0, 0),
        };
        if let Ok(a) = host_priv::host_ipc_audit(&mut e.rpc, e.host_priv) {
            e.baseline = (a.ports, a.port_sets, a.messages);
        }
        e
    }

    /// A new receive right.
    pub fn port(&mut self) -> u32 {
        mach_port::mach_port_allocate(&mut self.rpc, self.task, MACH_PORT_RIGHT_RECEIVE).unwrap_or(0)
    }

    /// Adds a send right under the receive right's own name.
    pub fn make_send(&mut self, name: u32) -> i32 {
        let poly = mach_interfaces::PolyPort {
            name,
            disposition: MACH_MSG_TYPE_MAKE_SEND,
        };
        match mach_port::mach_port_insert_right(&mut self.rpc, self.task, name, poly) {
            Ok(()) => 0,
            Err(e) => e,
        }
    }

    pub fn ptype(&mut self, name: u32) -> Result<u32, i32> {
        mach_port::mach_port_type(&mut self.rpc, self.task, name)
    }

    pub fn refs(&mut self, name: u32, right: u32) -> Result<u32, i32> {
        mach_port::mach_port_get_refs(&mut self.rpc, self.task, name, right)
    }

    pub fn dealloc(&mut self, name: u32) -> Result<(), i32> {
        mach_port::mach_port_deallocate(&mut self.rpc, self.task, name)
    }

    pub fn destroy(&mut self, name: u32) -> Result<(), i32> {
        mach_port::mach_port_destroy(&mut self.rpc, self.task, name)
    }

    /// How many names the task's space holds (`u32::MAX` if the call fails).
    pub fn name_count(&mut self) -> u32 {
        mach_port::mach_port_names(&mut self.rpc, self.task).map_or(u32::MAX, |r| {
            let (names, _types) = (OolRegion::u32s(r.names), OolRegion::u32s(r.types));
            names.words().count() as u32
        })
    }

    /// The audit's violation count, or the call's error.
    pub fn violations(&mut self) -> Result<u32, i32> {
        host_priv::host_ipc_audit(&mut self.rpc, self.host_priv).map(|a| a.violations)
    }

    /// Every name with its type and send/dead-name references (the snapshot
    /// the error-class tests compare).
    pub fn snapshot(&mut self) -> [(u32, u32, u32); 64] {
        let mut out = [(0, 0, 0); 64];
        let Ok(r) = mach_port::mach_port_names(&mut self.rpc, self.task) else {
            return out;
        };
        let (names, types) = (OolRegion::u32s(r.names), OolRegion::u32s(r.types));
        for (i, (n, t)) in names.words().zip(types.words()).take(64).enumerate() {
            let refs = if t & MACH_PORT_TYPE_SEND != 0 {
                self.refs(n, MACH_PORT_RIGHT_SEND).unwrap_or(0)
            } else if t & MACH_PORT_TYPE_DEAD_NAME != 0 {
                self.refs(n, MACH_PORT_RIGHT_DEAD_NAME).unwrap_or(0)
            } else {
                0
            };
            out[i] = (n, t, refs);
        }
        out
    }
}

impl Default for Env {
    fn default() -> Self {
        Self::new()
    }
}

/// Writes a header into `buf`.
pub fn header(buf: &mut Buf, bits: u32, size: u32, remote: u32, local: u32, id: i32) {
    buf.set_header(&MachMsgHeader {
        bits,
        size,
        remote_port: remote,
        local_port: local,
        voucher_port: 0,
        id,
    });
}

/// Sends a header-only message `dest`/`disp` with reply `reply`/`rdisp`.
pub fn send(buf: &mut Buf, dest: u32, disp: u8, reply: u32, rdisp: u8, id: i32, option: u32, timeout: u32) -> i32 {
    header(buf, mach_msgh_bits(disp, rdisp), 24, dest, reply, id);
    mach_msg(buf, MACH_SEND_MSG | option, 24, 0, timeout)
}

/// Receives on `name` polling (timeout 0) unless `wait`.
pub fn recv(buf: &mut Buf, name: u32, wait: bool) -> i32 {
    let opt = if wait {
        MACH_RCV_MSG
    } else {
        MACH_RCV_MSG | MACH_RCV_TIMEOUT
    };
    mach_msg(buf, opt, 0, name, 0)
}

/// Appends a port descriptor at `off` (after a body count at 24); returns the next offset.
pub fn port_desc(buf: &mut Buf, off: usize, name: u32, disposition: u8) -> usize {
    buf.put32(off, name);
    buf.put32(off + 4, 0);
    buf.0[off + 8] = 0;
    buf.0[off + 9] = 0;
    buf.0[off + 10] = disposition;
    buf.0[off + 11] = MACH_MSG_PORT_DESCRIPTOR;
    off + 12
}

/// Appends an out-of-line descriptor at `off`; returns the next offset.
pub fn ool_desc(buf: &mut Buf, off: usize, addr: u64, size: u32, dealloc: bool, ty: u8, disposition: u8) -> usize {
    buf.put64(off, addr);
    buf.0[off + 8] = dealloc as u8;
    buf.0[off + 9] = 0;
    buf.0[off + 10] = disposition;
    buf.0[off + 11] = ty;
    buf.put32(off + 12, size);
    off + 16
}
