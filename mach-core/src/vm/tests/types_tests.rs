//! Tests of protections, inheritance codes, page rounding and error codes.

use crate::vm::*;
use mach_abi::kern_return::*;

#[test]
fn prot_bits_and_sets() {
    assert_eq!(VmProt::from_bits(7), Some(VmProt::ALL));
    assert_eq!(VmProt::from_bits(8), None);
    assert_eq!(VmProt::from_bits_truncate(0xff), VmProt::ALL);
    assert!(VmProt::ALL.contains(VmProt::READ | VmProt::WRITE));
    assert!(!VmProt::READ.contains(VmProt::WRITE));
    assert!(VmProt::READ.contains(VmProt::NONE));
    assert_eq!(VmProt::ALL.difference(VmProt::WRITE), VmProt::READ | VmProt::EXECUTE);
    assert_eq!((VmProt::DEFAULT & VmProt::EXECUTE), VmProt::NONE);
    assert!(VmProt::NONE.is_empty());
}

#[test]
fn inherit_codes() {
    for i in [VmInherit::Share, VmInherit::Copy, VmInherit::None] {
        assert_eq!(VmInherit::from_raw(i.raw()), Some(i));
    }
    assert_eq!(VmInherit::from_raw(3), None);
    assert_eq!(VmInherit::default(), VmInherit::Copy);
}

#[test]
fn rounding_is_checked() {
    assert_eq!(trunc_page(0x1fff), 0x1000);
    assert_eq!(round_page(0x1001), Some(0x2000));
    assert_eq!(round_page(0x1000), Some(0x1000));
    assert_eq!(round_page(0), Some(0));
    assert_eq!(round_page(u64::MAX), None);
    assert_eq!(round_page(u64::MAX - PAGE_SIZE + 2), None);
    assert_eq!(round_page(u64::MAX - PAGE_SIZE + 1), Some(u64::MAX - PAGE_SIZE + 1));
}

#[test]
fn page_range_rejects_wrap() {
    assert_eq!(page_range(0x1234, 0), Ok(None));
    assert_eq!(page_range(0x1234, 1), Ok(Some((0x1000, 0x2000))));
    assert_eq!(page_range(0x1fff, 2), Ok(Some((0x1000, 0x3000))));
    // addr + size wraps.
    assert_eq!(page_range(u64::MAX - 10, 20), Err(VmError::InvalidArgument));
    // addr + size fits but rounding it up would wrap to 0 (the "Smith" bug class).
    assert_eq!(page_range(u64::MAX - 0x1000, 0x800), Err(VmError::InvalidArgument));
    assert_eq!(page_range(0, u64::MAX), Err(VmError::InvalidArgument));
}

#[test]
fn errors_map_to_kern_return() {
    assert_eq!(VmError::InvalidAddress.kr(), KERN_INVALID_ADDRESS);
    assert_eq!(VmError::InvalidArgument.kr(), KERN_INVALID_ARGUMENT);
    assert_eq!(VmError::InvalidObject.kr(), KERN_INVALID_ARGUMENT);
    assert_eq!(VmError::NoSpace.kr(), KERN_NO_SPACE);
    assert_eq!(VmError::ProtectionFailure.kr(), KERN_PROTECTION_FAILURE);
    assert_eq!(VmError::ResourceShortage.kr(), KERN_RESOURCE_SHORTAGE);
    assert_eq!(VmError::MemoryFailure.kr(), KERN_MEMORY_FAILURE);
    assert_eq!(VmError::MemoryPresent.kr(), KERN_MEMORY_PRESENT);
}

#[test]
fn memory_error_is_kern_memory_error() {
    assert_eq!(VmError::MemoryError.kr(), KERN_MEMORY_ERROR);
}

#[test]
fn prot_bits_and_debug_form() {
    assert_eq!(VmProt::READ.bits(), 1);
    assert_eq!((VmProt::WRITE | VmProt::EXECUTE).bits(), 6);
    assert_eq!(VmProt::from_bits(5).map(VmProt::bits), Some(5));
    assert!(!VmProt::READ.is_empty());
    assert_eq!(std::format!("{:?}", VmProt::NONE), "VmProt(---)");
    assert_eq!(std::format!("{:?}", VmProt::DEFAULT), "VmProt(rw-)");
    assert_eq!(std::format!("{:?}", VmProt::EXECUTE), "VmProt(--x)");
    assert_eq!(std::format!("{:?}", VmProt::ALL), "VmProt(rwx)");
}

#[test]
fn errors_display_distinctly() {
    use std::string::{String, ToString};
    let all = [
        VmError::InvalidAddress,
        VmError::InvalidArgument,
        VmError::InvalidObject,
        VmError::NoSpace,
        VmError::ProtectionFailure,
        VmError::ResourceShortage,
        VmError::MemoryFailure,
        VmError::MemoryPresent,
        VmError::MemoryError,
    ];
    let texts: std::vec::Vec<String> = all.iter().map(|e| e.to_string()).collect();
    assert_eq!(texts[0], "invalid address");
    assert_eq!(texts[8], "the pager cannot provide the page");
    for (i, t) in texts.iter().enumerate() {
        assert!(!t.is_empty());
        assert!(texts[..i].iter().all(|u| u != t), "{t:?} twice");
    }
}

#[test]
fn union_of_overlapping_sets_keeps_shared_rights() {
    assert_eq!(VmProt::READ | VmProt::READ, VmProt::READ);
    assert_eq!(VmProt::DEFAULT.union(VmProt::READ | VmProt::EXECUTE), VmProt::ALL);
}
