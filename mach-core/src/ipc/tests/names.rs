//! Names a task asks for (`mach_port_allocate_name`): which names exist at
//! all, and the space's limit on names, which binds named allocations as
//! it binds fresh ones.

use super::harness::*;
use crate::ipc::name;
use mach_abi::kern_return::*;
use mach_abi::message::*;
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

#[test]
fn a_freed_name_is_reused_under_a_new_generation() {
    let mut w = World::new();
    let first = w.port(A);
    w.ipc.port_destroy(A, first).unwrap();
    let again = w.port(A);
    assert_eq!(name::index(again), name::index(first), "the slot is reused");
    assert_ne!(name::generation(again), name::generation(first));
    assert_eq!(
        w.ipc.port_type(A, first),
        Err(KERN_INVALID_NAME),
        "the old name is stale"
    );
    w.assert_audit();
}

/// One RPC from B to A's `p` with a send-once reply right, the reply sent
/// header-only on it (the simple path); returns A's name for the reply right.
fn rpc_round(w: &mut World, p: u32, s: u32, reply: u32) -> u32 {
    let req = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, 1).build();
    w.send(B, &req).unwrap();
    let got = w.recv_ok(A, p);
    let so = word(&got, 8);
    let queued = w.ipc.stats.simple_queued;
    let rep = MsgBuilder::new(so, MACH_MSG_TYPE_MOVE_SEND_ONCE, 0, 0, 2).build();
    w.send(A, &rep).unwrap();
    assert_eq!(w.ipc.stats.simple_queued, queued + 1, "the reply took the simple path");
    assert_eq!(id_of(&w.recv_ok(B, reply)), 2);
    so
}

#[test]
fn a_send_once_name_used_up_by_a_simple_reply_is_reused_then_retired() {
    let mut w = World::new();
    let p = w.port(A);
    let s = w.give_send(A, p, B);
    let reply = w.port(B);
    let names: std::vec::Vec<u32> = (0..name::GEN_LIMIT).map(|_| rpc_round(&mut w, p, s, reply)).collect();
    let index = name::index(names[0]);
    for (g, &n) in names.iter().enumerate() {
        assert_eq!(name::index(n), index, "round {g} reuses the slot");
        assert_eq!(name::generation(n), g as u32, "round {g} has the next generation");
        assert_eq!(
            w.ipc.port_type(A, n),
            Err(KERN_INVALID_NAME),
            "round {g}'s name is stale"
        );
    }
    // Its generations used up, the slot is retired: the next name is elsewhere.
    let next = rpc_round(&mut w, p, s, reply);
    assert_ne!(name::index(next), index);
    w.assert_audit();
}

/// All name tables share one budget of kernel memory: a space growing its
/// table past it gets KERN_RESOURCE_SHORTAGE (the table and the name count
/// stay as they were), other spaces stop growing too, and a destroyed
/// space's tables go back to the budget.
#[test]
fn name_tables_stop_at_their_shared_budget() {
    let mut w = World::new();
    let (c, d) = (3, 4);
    let base = w.ipc.name_table_bytes();
    w.ipc.set_name_table_limit(base + 16 * 1024);
    w.ipc.space_create(c, 1 << 14);
    w.ipc.space_create(d, 1 << 14);
    let mut made = 0;
    let last = loop {
        match w.ipc.port_allocate(c, MACH_PORT_RIGHT_RECEIVE) {
            Ok(_) => made += 1,
            Err(e) => break e,
        }
        assert!(made < 1 << 14, "the budget never bound");
    };
    assert_eq!(last, KERN_RESOURCE_SHORTAGE);
    assert!(made > 16, "only {made} names before the budget bound");
    assert!(w.ipc.name_table_bytes() <= base + 16 * 1024);
    assert_eq!(w.ipc.port_names(c).unwrap().len(), made);
    // A far-out name asks for a table the budget cannot hold either.
    assert_eq!(
        w.ipc
            .port_allocate_name(d, MACH_PORT_RIGHT_DEAD_NAME, name::make(50_000, 0)),
        Err(KERN_RESOURCE_SHORTAGE)
    );
    assert_eq!(w.ipc.port_names(d).unwrap().len(), 0);
    w.assert_audit();
    w.ipc.space_destroy(c);
    assert!(w.ipc.port_allocate(d, MACH_PORT_RIGHT_RECEIVE).is_ok());
    w.ipc.space_destroy(d);
    assert_eq!(w.ipc.name_table_bytes(), base);
}
