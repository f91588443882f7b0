//! `kern_return_t`: the result code of every Mach call and trap.

/// A Mach `kern_return_t` value as carried in `rax` on return from a trap.
pub type KernReturn = i32;

pub const KERN_SUCCESS: KernReturn = 0;
pub const KERN_INVALID_ADDRESS: KernReturn = 1;
pub const KERN_PROTECTION_FAILURE: KernReturn = 2;
pub const KERN_NO_SPACE: KernReturn = 3;
pub const KERN_INVALID_ARGUMENT: KernReturn = 4;
pub const KERN_FAILURE: KernReturn = 5;
pub const KERN_RESOURCE_SHORTAGE: KernReturn = 6;
pub const KERN_NOT_RECEIVER: KernReturn = 7;
pub const KERN_NO_ACCESS: KernReturn = 8;
pub const KERN_MEMORY_FAILURE: KernReturn = 9;
pub const KERN_MEMORY_ERROR: KernReturn = 10;
pub const KERN_NOT_IN_SET: KernReturn = 12;
pub const KERN_NAME_EXISTS: KernReturn = 13;
pub const KERN_ABORTED: KernReturn = 14;
pub const KERN_INVALID_NAME: KernReturn = 15;
pub const KERN_INVALID_TASK: KernReturn = 16;
pub const KERN_INVALID_RIGHT: KernReturn = 17;
pub const KERN_INVALID_VALUE: KernReturn = 18;
pub const KERN_UREFS_OVERFLOW: KernReturn = 19;
pub const KERN_INVALID_CAPABILITY: KernReturn = 20;
pub const KERN_RIGHT_EXISTS: KernReturn = 21;
pub const KERN_INVALID_HOST: KernReturn = 22;
pub const KERN_MEMORY_PRESENT: KernReturn = 23;
pub const KERN_TERMINATED: KernReturn = 37;

/// A short symbolic name for a return code, for logs and test reports.
pub fn name(kr: KernReturn) -> &'static str {
    match kr {
        KERN_SUCCESS => "KERN_SUCCESS",
        KERN_INVALID_ADDRESS => "KERN_INVALID_ADDRESS",
        KERN_PROTECTION_FAILURE => "KERN_PROTECTION_FAILURE",
        KERN_NO_SPACE => "KERN_NO_SPACE",
        KERN_INVALID_ARGUMENT => "KERN_INVALID_ARGUMENT",
        KERN_FAILURE => "KERN_FAILURE",
        KERN_RESOURCE_SHORTAGE => "KERN_RESOURCE_SHORTAGE",
        KERN_NOT_RECEIVER => "KERN_NOT_RECEIVER",
        KERN_NO_ACCESS => "KERN_NO_ACCESS",
        KERN_MEMORY_FAILURE => "KERN_MEMORY_FAILURE",
        KERN_MEMORY_ERROR => "KERN_MEMORY_ERROR",
        KERN_NOT_IN_SET => "KERN_NOT_IN_SET",
        KERN_NAME_EXISTS => "KERN_NAME_EXISTS",
        KERN_ABORTED => "KERN_ABORTED",
        KERN_INVALID_NAME => "KERN_INVALID_NAME",
        KERN_INVALID_TASK => "KERN_INVALID_TASK",
        KERN_INVALID_RIGHT => "KERN_INVALID_RIGHT",
        KERN_INVALID_VALUE => "KERN_INVALID_VALUE",
        KERN_UREFS_OVERFLOW => "KERN_UREFS_OVERFLOW",
        KERN_INVALID_CAPABILITY => "KERN_INVALID_CAPABILITY",
        KERN_RIGHT_EXISTS => "KERN_RIGHT_EXISTS",
        KERN_INVALID_HOST => "KERN_INVALID_HOST",
        KERN_MEMORY_PRESENT => "KERN_MEMORY_PRESENT",
        KERN_TERMINATED => "KERN_TERMINATED",
        _ => "KERN_(unknown)",
    }
}
