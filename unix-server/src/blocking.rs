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
                _ => None,
            })
            .min()
    }

    /// Answers the sleeps whose deadline has passed.
    pub fn wake_sleepers(&mut self) {
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
