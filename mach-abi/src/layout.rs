//! The user half of every address space.

/// First address above user space (the lower canonical half ends here).
pub const USER_END: u64 = 0x0000_8000_0000_0000;
/// Lowest address a program may be loaded at: page zero stays unmapped so null
/// pointers fault.
pub const USER_MIN: u64 = 0x1000;
/// Top of the initial thread's stack (a guard page above it stays unmapped).
pub const USER_STACK_TOP: u64 = 0x0000_7fff_ffff_0000;
/// Size of the initial thread's stack.
pub const USER_STACK_SIZE: u64 = 256 * 1024;
/// Page size.
pub const PAGE_SIZE: u64 = 4096;
