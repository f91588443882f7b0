//! Calls that wait, answered later: a read of an empty pipe, a write to a
//! full one, a sleep. The server never waits for a process: it keeps the
//! request's header (its reply right) here and answers when the pipe
//! changes or the deadline passes (the receive loop wakes for the nearest
//! deadline). A waiting call of a process that ends is dropped with it.

use crate::server::Unix;
use alloc::vec::Vec;
use mach_interfaces::{OolArray, unix};
use mach_user::abi::message::MachMsgHeader;
use mach_user::ool::OolRegion;
use unix_core::errno::Errno;

/// What a waiting call waits for.
pub enum Wait {
    /// A read of `count` bytes from pipe `pipe` (answered as the request's
    /// routine: unix_read in-line, or unix_read_ool).
    PipeRead { pipe: u32, count: usize },
    /// A write of `data` (of which `done` bytes are in) to pipe `pipe`.
    PipeWrite { pipe: u32, data: Vec<u8>, done: usize },
    /// A sleep until the system clock reads `deadline` (ns); the time left
    /// is the answer if it is cut short.
    Sleep { deadline: u64 },
    /// rt_sigsuspend: until a signal is delivered.
    Suspend,
    /// A read of at most `count` bytes from the console.
    ConsoleRead { count: usize },
    /// poll of `fds` (its `struct pollfd` records) until one is ready or
    /// `deadline` (ns on the system clock) passes.
    Poll { fds: Vec<u8>, deadline: Option<u64> },
}

pub struct Waiting {
    pub port: u32,
    pub header: MachMsgHeader,
    pub wait: Wait,
}

/// The waiting calls, oldest first.
#[derive(Default)]
pub struct Blocked {
    pub list: Vec<Waiting>,
}

pub fn now() -> u64 {
    mach_user::trap::clock_get_time(mach_user::abi::clock::SYSTEM_CLOCK).unwrap_or(0)
}

impl Unix {
    /// Keeps the current request to answer when `wait` is over.
    pub fn block(&mut self, port: u32, wait: Wait) {
        self.current.deferred = true;
        self.blocked.list.push(Waiting {
            port,
            header: self.current.header,
            wait,
        });
        // A signal already waiting for it cuts the call short at once.
        self.interrupt(port);
    }

    /// The nearest deadline of a sleeping call, if any.
    pub fn next_deadline(&self) -> Option<u64> {
        self.blocked
            .list
            .iter()
            .filter_map(|w| match w.wait {
                Wait::Sleep { deadline } => Some(deadline),
                Wait::Poll { deadline, .. } => deadline,
                _ => None,
            })
            .min()
    }

    /// Answers the waiting polls that something is ready for now, or whose
    /// deadline has passed (with 0).
    pub fn retry_polls(&mut self) {
        let t = now();
        let mut i = 0;
        while i < self.blocked.list.len() {
            let (port, fds, deadline) = match &self.blocked.list[i].wait {
                Wait::Poll { fds, deadline } => (self.blocked.list[i].port, fds.clone(), *deadline),
                _ => {
                    i += 1;
                    continue;
                }
            };
            let mut out = alloc::vec![0u8; fds.len()];
            let (ready, n) = self.poll_now(port, fds.len() / 8, &fds, &mut out).unwrap_or((0, 0));
            if ready > 0 || deadline.is_some_and(|d| d <= t) {
                let w = self.blocked.list.remove(i);
                self.reply_exchange_later(&w.header, ready, &out[..n]);
                continue;
            }
            i += 1;
        }
    }

    /// Answers the sleeps whose deadline has passed.
    pub fn wake_sleepers(&mut self) {
        // The common case, no sleeper and no poll waiting: no clock read
        // (this runs after every message the server receives).
        if !self
            .blocked
            .list
            .iter()
            .any(|w| matches!(w.wait, Wait::Sleep { .. } | Wait::Poll { .. }))
        {
            return;
        }
        self.retry_polls();
        let t = now();
        let mut i = 0;
        while i < self.blocked.list.len() {
            if matches!(self.blocked.list[i].wait, Wait::Sleep { deadline } if deadline <= t) {
                let w = self.blocked.list.remove(i);
                self.reply_exchange_later(&w.header, 0, &[]);
            } else {
                i += 1;
            }
        }
    }

    /// Pipe `pipe` changed (data, room, or an end closed): the waiting
    /// reads and writes on it that can now go on are answered, in order.
    pub fn pipe_changed(&mut self, pipe: u32) {
        let mut i = 0;
        let mut progressed = false;
        while i < self.blocked.list.len() {
            let w = &mut self.blocked.list[i];
            let done = match &mut w.wait {
                Wait::PipeRead { pipe: p, count } if *p == pipe => {
                    let count = *count;
                    let Some(pp) = self.files.pipes.get_mut(&pipe) else {
                        // The pipe is gone (both ends closed): end of file.
                        let w = self.blocked.list.remove(i);
                        self.reply_read_later(&w.header, 0, &[]);
                        continue;
                    };
                    let mut buf = alloc::vec![0u8; count];
                    match pp.read(&mut buf) {
                        Ok(io) => {
                            buf.truncate(io.n);
                            let w = self.blocked.list.remove(i);
                            self.reply_read_later(&w.header, io.n as i64, &buf);
                            progressed = true;
                            continue;
                        }
                        Err(e) if e == Errno::EAGAIN => false,
                        Err(e) => {
                            let w = self.blocked.list.remove(i);
                            self.reply_read_later(&w.header, e.as_return(), &[]);
                            continue;
                        }
                    }
                }
                Wait::PipeWrite { pipe: p, data, done } if *p == pipe => {
                    let Some(pp) = self.files.pipes.get_mut(&pipe) else {
                        let w = self.blocked.list.remove(i);
                        self.reply_scalar_later(&w.header, Errno::EPIPE.as_return());
                        continue;
                    };
                    match pp.write(&data[*done..]) {
                        Ok(io) => {
                            *done += io.n;
                            progressed |= io.n > 0;
                            *done == data.len()
                        }
                        Err(e) if e == Errno::EAGAIN => false,
                        Err(e) => {
                            let w = self.blocked.list.remove(i);
                            self.reply_scalar_later(&w.header, e.as_return());
                            continue;
                        }
                    }
                }
                _ => false,
            };
            if done {
                let w = self.blocked.list.remove(i);
                if let Wait::PipeWrite { done, .. } = w.wait {
                    self.reply_scalar_later(&w.header, done as i64);
                }
                continue;
            }
            i += 1;
        }
        self.retry_polls();
        // A read made room or a write brought data: the other side's
        // waiters may go on now.
        if progressed {
            self.pipe_changed_again(pipe);
        }
    }

    /// One more pass (bounded: each pass either answers a call or stops).
    fn pipe_changed_again(&mut self, pipe: u32) {
        let before = self.blocked.list.len();
        let waiting_here = self.blocked.list.iter().any(|w| match &w.wait {
            Wait::PipeRead { pipe: p, .. } | Wait::PipeWrite { pipe: p, .. } => *p == pipe,
            _ => false,
        });
        if waiting_here && before > 0 {
            let len = self.blocked.list.len();
            self.pipe_changed(pipe);
            debug_assert!(self.blocked.list.len() <= len);
        }
    }

    /// Console input arrived (or end of file): waiting console reads that
    /// can be answered are, oldest first; if some still wait, the device
    /// is read again.
    pub fn serve_console_readers(&mut self) {
        let mut i = 0;
        while i < self.blocked.list.len() {
            if let Wait::ConsoleRead { count } = self.blocked.list[i].wait {
                match self.console.take(count) {
                    Some(bytes) => {
                        let w = self.blocked.list.remove(i);
                        self.reply_read_later(&w.header, bytes.len() as i64, &bytes);
                        continue;
                    }
                    None => break,
                }
            }
            i += 1;
        }
        self.retry_polls();
        if self
            .blocked
            .list
            .iter()
            .any(|w| matches!(w.wait, Wait::ConsoleRead { .. } | Wait::Poll { .. }))
        {
            self.start_console_read();
        }
    }

    /// Asks the console device for input, if no read is outstanding: the
    /// reply comes to the console reply port (in the port set).
    pub fn start_console_read(&mut self) {
        use mach_user::abi::message::*;
        if self.console.reading || self.console.device == 0 {
            return;
        }
        let mut buf = mach_interfaces::MsgBuf::<128>::new();
        let dev = self.console.device;
        let Some(n) = mach_interfaces::device::encode_device_read_request(
            &mut buf.0,
            dev,
            mach_user::abi::device::D_READ,
            0,
            256,
        ) else {
            return;
        };
        let bits = u32::from_le_bytes(buf.0[0..4].try_into().unwrap_or([0; 4]));
        let bits = (bits & !MACH_MSGH_BITS_LOCAL_MASK) | ((MACH_MSG_TYPE_MAKE_SEND_ONCE as u32) << 8);
        buf.0[0..4].copy_from_slice(&bits.to_le_bytes());
        buf.0[12..16].copy_from_slice(&self.console.reply_port.to_le_bytes());
        if mach_user::ipc::mach_msg_buf(&mut buf.0, MACH_SEND_MSG | MACH_SEND_TIMEOUT, n as u32, 0, 0)
            == MACH_MSG_SUCCESS
        {
            self.console.reading = true;
        }
    }

    /// The console device's answer to a read: the typed bytes go through the
    /// line discipline (echo included), then to the waiting readers.
    pub fn console_input(&mut self, reply: &[u8]) {
        self.console.reading = false;
        match mach_interfaces::device::decode_device_read_reply(reply) {
            Ok(data) => {
                let region = OolRegion::bytes(data);
                let echo = self.console.typed(&region);
                if !echo.is_empty() {
                    crate::console::write(&echo);
                }
            }
            Err(_) => self.console.device = 0,
        }
        self.serve_console_readers();
    }

    /// The waiting calls of a process that ended go without an answer.
    pub fn drop_blocked_of(&mut self, port: u32) {
        let mut i = 0;
        while i < self.blocked.list.len() {
            if self.blocked.list[i].port == port {
                let w = self.blocked.list.remove(i);
                self.release_reply_of(&w.header);
            } else {
                i += 1;
            }
        }
    }

    /// Answers a kept read (unix_read or unix_read_ool, as it came).
    pub fn reply_read_later(&mut self, h: &MachMsgHeader, result: i64, data: &[u8]) {
        let mut buf = mach_interfaces::MsgBuf::<{ unix::UNIX_READ_REPLY_MAX_SIZE + 64 }>::new();
        let n = if h.id == unix::UNIX_READ_OOL_ID {
            let region = self.ool_copy(data);
            let n = unix::reply_unix_read_ool(&mut buf.0, h, || unix::UnixReadOolReply { result, data: region });
            if n.is_none() {
                let _ =
                    mach_interfaces::vm::vm_deallocate(&mut self.rpc, self.task, region.address, region.count as u64);
            }
            n
        } else {
            unix::reply_unix_read(&mut buf.0, h, |out| {
                let len = data.len().min(out.len());
                out[..len].copy_from_slice(&data[..len]);
                unix::UnixReadReply { result, data: len }
            })
        };
        self.send_later(&mut buf.0, n);
    }

    /// Answers a kept request of the scalar shapes (unix_scalar, unix_write,
    /// unix_write_ool, unix_path: every routine whose only output is `result`).
    pub fn reply_scalar_later(&mut self, h: &MachMsgHeader, result: i64) {
        let mut buf = mach_interfaces::MsgBuf::<256>::new();
        let n = match h.id {
            unix::UNIX_WRITE_ID => unix::reply_unix_write(&mut buf.0, h, || result),
            unix::UNIX_WRITE_OOL_ID => unix::reply_unix_write_ool(&mut buf.0, h, || result),
            unix::UNIX_PATH_ID => unix::reply_unix_path(&mut buf.0, h, || result),
            _ => unix::reply_unix_scalar(&mut buf.0, h, || result),
        };
        self.send_later(&mut buf.0, n);
    }

    /// Answers a kept unix_exchange (nanosleep's time left, poll's records).
    pub fn reply_exchange_later(&mut self, h: &MachMsgHeader, result: i64, data: &[u8]) {
        let mut buf = mach_interfaces::MsgBuf::<{ unix::UNIX_EXCHANGE_REPLY_MAX_SIZE + 64 }>::new();
        let n = unix::reply_unix_exchange(&mut buf.0, h, |out| {
            let len = data.len().min(out.len());
            out[..len].copy_from_slice(&data[..len]);
            unix::UnixExchangeReply { result, data_out: len }
        });
        self.send_later(&mut buf.0, n);
    }

    /// `data` in fresh pages of this task, to hand over in a reply.
    fn ool_copy(&mut self, data: &[u8]) -> OolArray {
        if data.is_empty() {
            return OolArray { address: 0, count: 0 };
        }
        let size = crate::exec::page_up(data.len() as u64).unwrap_or(0);
        match mach_interfaces::vm::vm_allocate(&mut self.rpc, self.task, 0, size, 1) {
            Ok(address) => {
                let mut region = OolRegion::from_received(address, data.len() as u64);
                region.copy_from_slice(data);
                let (address, _) = region.into_raw();
                OolArray {
                    address,
                    count: data.len() as u32,
                }
            }
            Err(_) => OolArray { address: 0, count: 0 },
        }
    }
}
