//! Shared helpers for the in-QEMU test programs: reporting results in the
//! `test NAME ... ok` / `test NAME ... FAILED: reason` format the harness counts.
#![no_std]

use mach_user::println;

pub mod bench;
pub mod death;
pub mod exc_handler;
pub mod fuzz;
pub mod ipc_env;
pub mod pager;

/// Reports one test result (`why` explains a failure); returns `passed`.
pub fn report(name: &str, passed: bool, why: core::fmt::Arguments) -> bool {
    if passed {
        println!("test {name} ... ok");
    } else {
        println!("test {name} ... FAILED: {why}");
    }
    passed
}

/// Checks that `got == want`, for `report`.
#[macro_export]
macro_rules! check_eq {
    ($name:expr, $got:expr, $want:expr) => {{
        let got = $got;
        let want = $want;
        $crate::report($name, got == want, format_args!("got {:?}, want {:?}", got, want))
    }};
}
