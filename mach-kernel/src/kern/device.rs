//! Devices: the device master port, the devices found at boot, and their
//! state for the kernel's server of the Mach device interface
//! (`interfaces/device.defs`, `kobject::device`).
//!
//! Two devices: `hd0`, the ATA disk at the primary master (`arch::ata`), and
//! `console`, the serial line COM1 (`arch::serial`). `device_open` on the
//! master port gives a send right to the device's port (one port per device,
//! made at its first open, kept for the kernel's lifetime like the host
//! port); `device_read`, `device_write`, `device_get_status` and
//! `device_close` go to that port. The request checks live in
//! `mach_core::device` and `mach_core::console`; this module holds the state.
//!
//! Disk requests are served synchronously in the caller's context with the
//! kernel state in hand and interrupts off: the disk is polled, each request
//! moves at most `DEVICE_IO_MAX` bytes in one command, and every wait is
//! bounded. Console input comes by the UART's receive interrupt (IRQ 4
//! through the I/O APIC) into a bounded buffer; a `device_read` that finds
//! it empty waits there, without a thread: the kernel holds its reply right
//! and request ([`ConsoleRead`]) and answers when input arrives.
//!
//! Lock order: the kernel state, then `DISK` or `CONSOLE`.

use crate::arch::ata::{self, AtaDisk};
use crate::arch::idt::VECTOR_COM1;
use crate::arch::{ioapic, serial::Serial};
use alloc::vec::Vec;
use mach_abi::device::*;
use mach_core::console::ConsoleInput;
use mach_core::device::OpenState;
use mach_core::ipc::{Held, Ipc, KObject, PortId};
use spin::Mutex;

/// The disk `hd0` and its open state.
pub struct Disk {
    pub hw: AtaDisk,
    pub open: OpenState,
    /// Its device port, once someone opened it.
    pub port: Option<PortId>,
}

static DISK: Mutex<Option<Disk>> = Mutex::new(None);
static MASTER_PORT: Mutex<Option<PortId>> = Mutex::new(None);

/// `KObject::Device` index of `hd0`.
pub const HD0: u64 = 0;
/// `KObject::Device` index of `console`.
pub const CONSOLE: u64 = 1;

/// ISA interrupt line of COM1.
const COM1_IRQ: u8 = 4;

/// A console `device_read` waiting for input: the reply right (held in the
/// IPC model, which the audit counts) and the request, served again when
/// input comes.
pub struct ConsoleRead {
    pub reply: Held,
    pub request: Vec<u8>,
}

/// The console device: its input and waiting reads, open state and port.
pub struct Console {
    pub input: ConsoleInput<ConsoleRead>,
    pub open: OpenState,
    pub port: Option<PortId>,
}

static CONSOLE_STATE: Mutex<Console> = Mutex::new(Console {
    input: ConsoleInput::new(),
    open: OpenState::new(),
    port: None,
});

/// Runs `f` on the console.
pub fn with_console<R>(f: impl FnOnce(&mut Console) -> R) -> R {
    f(&mut CONSOLE_STATE.lock())
}

/// Looks for the devices (at boot, before any task runs): the disk, and the
/// console's receive interrupt.
pub fn probe() {
    if ioapic::route_isa_irq(COM1_IRQ, VECTOR_COM1) {
        Serial::enable_receive_interrupt();
        log::info!("device: console: COM1, input by IRQ {COM1_IRQ} (vector {VECTOR_COM1})");
    } else {
        log::warn!("device: console: no I/O APIC; console input will not arrive");
    }
    match ata::probe() {
        Some(hw) => {
            log::info!(
                "device: hd0: ATA disk, {} records of {DEVICE_RECORD_SIZE} bytes, lba48={}",
                hw.sectors,
                hw.lba48
            );
            *DISK.lock() = Some(Disk {
                hw,
                open: OpenState::default(),
                port: None,
            });
        }
        None => log::info!("device: hd0: no ATA disk at the primary master"),
    }
}

/// A new send right to the device master port (made on first use), for
/// `host_get_io_master`.
pub fn master_send_right(ipc: &mut Ipc) -> Option<mach_core::ipc::KRight> {
    let mut master = MASTER_PORT.lock();
    let port = *master.get_or_insert_with(|| ipc.kobject_port_create(KObject::DeviceMaster));
    ipc.make_send_right(port)
}

/// Runs `f` on the disk, if there is one.
pub fn with_disk<R>(f: impl FnOnce(&mut Disk) -> R) -> Option<R> {
    DISK.lock().as_mut().map(f)
}
