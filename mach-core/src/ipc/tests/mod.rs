//! Host tests of the IPC model.

mod dead_name_requests;
mod dead_names;
mod handoff;
mod harness;
mod held;
mod kernel_api;
mod kernel_images;
mod kernel_pages;
mod kernel_send;
mod message_accounts;
mod message_limits;
mod messages;
mod names;
mod notifications;
mod port_calls;
mod rights;
mod simple;
mod virtual_copy;
