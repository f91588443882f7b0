//! Names a task asks for (`mach_port_allocate_name`): which names exist at
//! all, and the space's limit on names, which binds named allocations as
//! it binds fresh ones.

use super::harness::*;
use crate::ipc::name;
use mach_abi::kern_return::*;
use mach_abi::port::*;

#[test]
fn a_name_with_table_index_0_is_invalid() {
    let mut w = World::new();
    for g in [1, 5, name::GEN_LIMIT - 1] {
        let n = name::make(0, g);
        assert_eq!(
            w.ipc.port_allocate_name(A, MACH_PORT_RIGHT_RECEIVE, n),
            Err(KERN_INVALID_VALUE),
            "name {n:#x}"
        );
    }
    assert_eq!(w.ipc.object_counts(), (0, 0, 0));
    w.assert_audit();
}

#[test]
fn a_name_past_the_largest_index_is_invalid_not_out_of_space() {
    let mut w = World::new();
    let n = name::make(name::MAX_INDEX + 1, 0);
    assert_eq!(n, 0xffff_ff00);
    assert_eq!(
        w.ipc.port_allocate_name(A, MACH_PORT_RIGHT_DEAD_NAME, n),
        Err(KERN_INVALID_VALUE)
    );
    w.assert_audit();
}

#[test]
fn a_full_space_refuses_named_allocations_too() {
    let mut w = World::new();
    let c = 3;
    w.ipc.space_create(c, 4);
    // Named allocations far out (index 5, 9) leave lower vacant slots behind.
    w.ipc
        .port_allocate_name(c, MACH_PORT_RIGHT_DEAD_NAME, name::make(5, 0))
        .unwrap();
    w.ipc
        .port_allocate_name(c, MACH_PORT_RIGHT_DEAD_NAME, name::make(9, 0))
        .unwrap();
    w.ipc.port_allocate(c, MACH_PORT_RIGHT_DEAD_NAME).unwrap();
    w.ipc.port_allocate(c, MACH_PORT_RIGHT_DEAD_NAME).unwrap();
    // Four names: no more, not even under a vacant low index.
    let vacant = name::make(3, 7);
    assert_eq!(w.ipc.port_type(c, vacant), Err(KERN_INVALID_NAME));
    assert_eq!(
        w.ipc.port_allocate_name(c, MACH_PORT_RIGHT_DEAD_NAME, vacant),
        Err(KERN_NO_SPACE)
    );
    assert_eq!(w.ipc.port_allocate(c, MACH_PORT_RIGHT_DEAD_NAME), Err(KERN_NO_SPACE));
    w.assert_audit();
}

#[test]
fn a_named_allocation_far_past_the_limit_is_out_of_space() {
    let mut w = World::new();
    let c = 3;
    w.ipc.space_create(c, 4);
    // The table may grow to four times the limit for named allocations.
    w.ipc
        .port_allocate_name(c, MACH_PORT_RIGHT_DEAD_NAME, name::make(15, 0))
        .unwrap();
    assert_eq!(
        w.ipc
            .port_allocate_name(c, MACH_PORT_RIGHT_DEAD_NAME, name::make(16, 0)),
        Err(KERN_NO_SPACE)
    );
    assert_eq!(w.ipc.port_names(c).unwrap().len(), 1);
    w.assert_audit();
}
