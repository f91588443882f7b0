//! Host tests of the IPC model.

mod harness;
mod messages;
mod notifications;
mod kernel_send;
mod rights;
mod virtual_copy;
