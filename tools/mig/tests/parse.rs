//! Parser tests: the grammar, implicit ids, argument kinds, the project's real
//! `.defs` files, and every error with its `file:line:column`.

use mig::{ArgKind, Disposition, ErrorKind, MigError, OolElem, RoutineKind, Scalar, parse};

fn err(src: &str) -> MigError {
    parse("t.defs", src).expect_err("should not parse")
}

/// The error kind and its line.
fn err_at(src: &str) -> (ErrorKind, u32) {
    let e = err(src);
    (e.kind, e.line)
}

#[test]
fn parses_every_kind() {
    let src = "
        /* block
           comment */
        subsystem demo 0x100; // trailing comment
        routine a(t: target, x: u32, y: i32, z: u64, w: i64) -> (o: u32);
        routine b(t: target<make_send_once>, p: port<move_receive>, q: port_poly,
                  m: ool<u8>, n: ool<u32>, l: ool<u64>, r: ool_ports<copy_send>,) -> (s: port_poly, u: ool_ports<move_send>) = 300;
        simpleroutine c(t: target<move_send_once>);
    ";
    let i = parse("demo.defs", src).unwrap();
    assert_eq!(
        (i.subsystem.as_str(), i.base, i.file.as_str()),
        ("demo", 256, "demo.defs")
    );
    let [a, b, c] = &i.routines[..] else {
        panic!("three routines")
    };
    assert_eq!(
        (a.id, a.kind, a.target.disposition),
        (256, RoutineKind::Routine, Disposition::CopySend)
    );
    assert_eq!(a.target.name, "t");
    let kinds: Vec<ArgKind> = a.inputs.iter().map(|x| x.kind).collect();
    assert_eq!(
        kinds,
        [Scalar::U32, Scalar::I32, Scalar::U64, Scalar::I64]
            .map(ArgKind::Scalar)
            .to_vec()
    );
    assert_eq!(a.outputs[0].kind, ArgKind::Scalar(Scalar::U32));
    assert_eq!(b.id, 300);
    assert_eq!(b.target.disposition, Disposition::MakeSendOnce);
    let kinds: Vec<ArgKind> = b.inputs.iter().map(|x| x.kind).collect();
    assert_eq!(
        kinds,
        [
            ArgKind::Port(Disposition::MoveReceive),
            ArgKind::PortPoly,
            ArgKind::Ool(OolElem::U8),
            ArgKind::Ool(OolElem::U32),
            ArgKind::Ool(OolElem::U64),
            ArgKind::OolPorts(Disposition::CopySend),
        ]
    );
    assert_eq!(b.outputs[1].kind, ArgKind::OolPorts(Disposition::MoveSend));
    assert_eq!(
        (c.id, c.kind, c.target.disposition),
        (258, RoutineKind::SimpleRoutine, Disposition::MoveSendOnce)
    );
    assert!(c.inputs.is_empty() && c.outputs.is_empty());
    assert_eq!((a.pos.line, b.pos.line, c.pos.line), (5, 6, 8));
    assert_eq!(b.inputs[1].pos.line, 6);
    assert_eq!(b.inputs[2].pos.line, 7);
}

#[test]
fn implicit_ids_are_base_plus_index_counting_skips() {
    let src =
        "subsystem s 10; routine a(t: target); skip; routine b(t: target) = 50; skip; skip; routine c(t: target);";
    let ids: Vec<i32> = parse("s", src).unwrap().routines.iter().map(|r| r.id).collect();
    assert_eq!(ids, [10, 50, 15]);
    let src = "subsystem s 0o100; routine a(t: target) -> ();";
    assert_eq!(parse("s", src).unwrap().routines[0].id, 64);
}

#[test]
fn an_interface_may_be_empty() {
    let i = parse("e", "subsystem empty 7;").unwrap();
    assert!(i.routines.is_empty());
}

fn real(file: &str) -> mig::Interface {
    let path = format!("{}/../../interfaces/{file}", env!("CARGO_MANIFEST_DIR"));
    let src = std::fs::read_to_string(&path).unwrap();
    parse(&path, &src).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_projects_interfaces_have_the_mach_ids() {
    let ids =
        |i: &mig::Interface| -> Vec<(String, i32)> { i.routines.iter().map(|r| (r.name.clone(), r.id)).collect() };
    let mp = real("mach_port.defs");
    assert_eq!((mp.subsystem.as_str(), mp.base), ("mach_port", 3200));
    let want = [
        ("mach_port_names", 3200),
        ("mach_port_type", 3201),
        ("mach_port_allocate_name", 3203),
        ("mach_port_allocate", 3204),
        ("mach_port_destroy", 3205),
        ("mach_port_deallocate", 3206),
        ("mach_port_get_refs", 3207),
        ("mach_port_mod_refs", 3208),
        ("mach_port_set_mscount", 3210),
        ("mach_port_move_member", 3212),
        ("mach_port_request_notification", 3213),
        ("mach_port_insert_right", 3214),
        ("mach_port_extract_right", 3215),
        ("mach_port_set_qlimit", 3230),
        ("mach_port_get_qlimit", 3231),
    ];
    assert_eq!(ids(&mp), want.map(|(n, i)| (n.to_string(), i)));
    assert!(mp.routines.iter().all(|r| r.kind == RoutineKind::Routine));

    let n = real("notify.defs");
    assert_eq!((n.subsystem.as_str(), n.base), ("notify", 64));
    let want = [
        ("mach_notify_port_deleted", 65),
        ("mach_notify_port_destroyed", 69),
        ("mach_notify_no_senders", 70),
        ("mach_notify_send_once", 71),
        ("mach_notify_dead_name", 72),
    ];
    assert_eq!(ids(&n), want.map(|(n, i)| (n.to_string(), i)));
    assert!(
        n.routines
            .iter()
            .all(|r| r.is_simple() && r.target.disposition == Disposition::MoveSendOnce)
    );

    let h = real("host.defs");
    assert_eq!((h.subsystem.as_str(), h.base), ("host", 200));
    assert_eq!(
        ids(&h),
        [
            ("host_info_basic".to_string(), 211),
            ("host_vm_statistics".to_string(), 212),
        ]
    );

    let hp = real("host_priv.defs");
    assert_eq!((hp.subsystem.as_str(), hp.base), ("host_priv", 400));
    assert_eq!(
        ids(&hp),
        [
            ("vm_set_default_memory_manager".to_string(), 403),
            ("host_get_io_master".to_string(), 450),
            ("host_vm_pageout".to_string(), 451),
            ("host_ipc_audit".to_string(), 452),
            ("host_tasks_dump".to_string(), 453),
            ("host_boot_data".to_string(), 454),
        ]
    );

    let d = real("device.defs");
    assert_eq!((d.subsystem.as_str(), d.base), ("device", 2800));
    let want = [
        ("device_open", 2800),
        ("device_close", 2801),
        ("device_write", 2802),
        ("device_read", 2804),
        ("device_get_status", 2807),
    ];
    assert_eq!(ids(&d), want.map(|(n, i)| (n.to_string(), i)));
}

#[test]
fn lexical_errors() {
    assert_eq!(
        err_at("subsystem s 1;\nroutine a(t: target) $"),
        (ErrorKind::UnexpectedChar('$'), 2)
    );
    assert_eq!(
        err_at("subsystem s 1;\n\n/* never closed"),
        (ErrorKind::UnterminatedComment, 3)
    );
    assert_eq!(err_at("subsystem s 0100;"), (ErrorKind::BadNumber("0100".into()), 1));
    assert_eq!(err_at("subsystem s 0x;"), (ErrorKind::BadNumber("0x".into()), 1));
    assert_eq!(err_at("subsystem s 12ab;"), (ErrorKind::BadNumber("12ab".into()), 1));
    assert_eq!(
        err_at("subsystem s 99999999999999999999999;").0,
        ErrorKind::BadNumber("99999999999999999999999".into())
    );
    // A lone minus is not an arrow.
    assert_eq!(
        err_at("subsystem s 1; routine a(t: target) - (x: u32);"),
        (ErrorKind::UnexpectedChar('-'), 1)
    );
}

#[test]
fn structure_errors() {
    assert_eq!(err_at("").0, ErrorKind::MissingSubsystem);
    assert_eq!(err_at("// only a comment\n").0, ErrorKind::MissingSubsystem);
    assert_eq!(err_at("routine a(t: target);").0, ErrorKind::SubsystemNotFirst);
    assert_eq!(
        err_at("subsystem a 1;\nsubsystem b 2;"),
        (ErrorKind::DuplicateSubsystem, 2)
    );
    let e = err("subsystem s 1;\nroutine a(t: target)\nroutine b(t: target);");
    assert_eq!((e.line, e.column), (3, 1));
    assert!(matches!(e.kind, ErrorKind::Expected { expected: "`;`", .. }), "{e}");
    let e = err("subsystem s 1;\nfunction a();");
    assert!(matches!(e.kind, ErrorKind::Expected { .. }) && e.line == 2, "{e}");
    let e = err("subsystem s 1; routine a(t: target, x u32);");
    assert!(
        matches!(
            e.kind,
            ErrorKind::Expected {
                expected: "`:` after the argument name",
                ..
            }
        ),
        "{e}"
    );
    let e = err("subsystem s 1; routine a(t: target x: u32);");
    assert!(
        matches!(
            e.kind,
            ErrorKind::Expected {
                expected: "`,` or `)`",
                ..
            }
        ),
        "{e}"
    );
    let e = err("subsystem s 1; routine a(t: target");
    assert!(
        matches!(&e.kind, ErrorKind::Expected { found, .. } if found == "end of file"),
        "{e}"
    );
}

#[test]
fn type_errors() {
    let src = |ty: &str| format!("subsystem s 1;\nroutine a(t: target,\n  x: {ty});");
    assert_eq!(err_at(&src("u16")), (ErrorKind::UnknownType("u16".into()), 3));
    assert_eq!(
        err_at(&src("port<send>")),
        (ErrorKind::UnknownDisposition("send".into()), 3)
    );
    assert_eq!(
        err_at(&src("ool_ports<give>")).0,
        ErrorKind::UnknownDisposition("give".into())
    );
    let e = err(&src("port"));
    assert!(matches!(e.kind, ErrorKind::Expected { .. }) && e.line == 3, "{e}");
    let e = err(&src("ool<u16>"));
    assert!(
        matches!(
            e.kind,
            ErrorKind::Expected {
                expected: "`u8`, `u32` or `u64`",
                ..
            }
        ),
        "{e}"
    );
    let e = err(&src("port<move_send"));
    assert!(matches!(e.kind, ErrorKind::Expected { expected: "`>`", .. }), "{e}");
    let e = err("subsystem s 1; routine a(t: target<move_receive>);");
    assert!(matches!(e.kind, ErrorKind::BadDisposition { .. }), "{e}");
}

#[test]
fn target_errors() {
    let e = err("subsystem s 1;\nroutine a(x: u32, t: target);");
    assert_eq!(
        (e.kind, e.line, e.column),
        (ErrorKind::MissingTarget { routine: "a".into() }, 2, 11)
    );
    assert_eq!(
        err_at("subsystem s 1; routine a();").0,
        ErrorKind::MissingTarget { routine: "a".into() }
    );
    let e = err("subsystem s 1; routine a(t: target, u: target);");
    assert_eq!(e.kind, ErrorKind::MisplacedTarget { argument: "u".into() });
    let e = err("subsystem s 1; routine a(t: target) -> (u: target);");
    assert_eq!(e.kind, ErrorKind::MisplacedTarget { argument: "u".into() });
    let e = err("subsystem s 1; simpleroutine a(t: target) -> (x: u32);");
    assert_eq!(e.kind, ErrorKind::SimpleRoutineOutputs { routine: "a".into() });
    assert_eq!(e.column, 43);
}

#[test]
fn name_errors() {
    let bad = |src: &str| matches!(err(src).kind, ErrorKind::BadName { .. });
    assert!(bad("subsystem Mach 1;"));
    assert!(bad("subsystem s 1; routine fn(t: target);"));
    assert!(bad("subsystem s 1; routine mig_x(t: target);"));
    assert!(bad("subsystem s 1; routine a(t: target, type: u32);"));
    assert!(bad("subsystem s 1; routine a(t: target, Name: u32);"));
    assert!(bad("subsystem s 1; routine a(t: target, _: u32);"));
    assert!(bad("subsystem s 1; routine a(transport: target);"));
    assert!(bad("subsystem s 1; routine a(t: target, buf: ool<u8>);"));
    assert!(bad("subsystem s 1; routine a(t: target) -> (gen: u32);"));
    let e = err("subsystem s 1;\nroutine a(t: target,\n    mig_buf: u32);");
    assert_eq!((e.line, e.column), (3, 5));
}

#[test]
fn duplicate_errors() {
    let e = err("subsystem s 1; routine a(t: target, x: u32) -> (x: u32);");
    assert_eq!(
        e.kind,
        ErrorKind::DuplicateArgument {
            routine: "a".into(),
            argument: "x".into()
        }
    );
    let e = err("subsystem s 1; routine a(t: target, t: u32);");
    assert_eq!(
        e.kind,
        ErrorKind::DuplicateArgument {
            routine: "a".into(),
            argument: "t".into()
        }
    );
    let e = err("subsystem s 1;\nroutine a(t: target);\nroutine a(t: target);");
    assert_eq!((e.kind, e.line), (ErrorKind::DuplicateRoutine("a".into()), 3));
    let e = err("subsystem s 1;\nroutine a(t: target) = 5;\nroutine b(t: target) = 5;");
    assert_eq!(
        (e.kind, e.line),
        (
            ErrorKind::DuplicateId {
                id: 5,
                first: "a".into()
            },
            3
        )
    );
    // An implicit id colliding with an explicit one.
    let e = err("subsystem s 1; routine a(t: target) = 2; routine b(t: target);");
    assert_eq!(
        e.kind,
        ErrorKind::DuplicateId {
            id: 2,
            first: "a".into()
        }
    );
}

#[test]
fn id_range_errors() {
    let max = i32::MAX as i64 - 100;
    assert!(parse("s", &format!("subsystem s {max};")).is_ok());
    assert_eq!(
        err_at(&format!("subsystem s {};", max + 1)).0,
        ErrorKind::IdOutOfRange(max + 1)
    );
    let e = err(&format!("subsystem s 1; routine a(t: target) = {};", max + 1));
    assert_eq!(e.kind, ErrorKind::IdOutOfRange(max + 1));
    let e = err(&format!(
        "subsystem s {max}; routine a(t: target); routine b(t: target);"
    ));
    assert_eq!(e.kind, ErrorKind::IdOutOfRange(max + 1));
}

#[test]
fn oversized_messages_are_refused() {
    let args: Vec<String> = (0..1100).map(|i| format!("p{i}: port<move_send>")).collect();
    let e = err(&format!("subsystem s 1; routine big(t: target, {});", args.join(", ")));
    assert!(matches!(e.kind, ErrorKind::MessageTooLarge { .. }), "{e}");
    let args: Vec<String> = (0..9000).map(|i| format!("x{i}: u64")).collect();
    let e = err(&format!(
        "subsystem s 1; routine big(t: target) -> ({});",
        args.join(", ")
    ));
    assert!(matches!(e.kind, ErrorKind::MessageTooLarge { .. }), "{e}");
}

#[test]
fn errors_display_file_line_column() {
    let e = parse("iface/x.defs", "subsystem s 1;\nroutine a(t: target, x: float);").unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with("iface/x.defs:2:25: unknown argument type `float`"),
        "{text}"
    );
    let e = parse("x.defs", "").unwrap_err();
    assert!(e.to_string().starts_with("x.defs: missing `subsystem"), "{e}");
}

#[test]
fn parses_inline_arrays() {
    let src = "subsystem s 1;
        routine a(t: target, p: inline<u8, 4096>, x: u32, q: inline<u8, 0x10>) -> (o: inline<u8, 1>, n: u64);
        simpleroutine b(t: target, m: inline < u8 , 0o17 >);";
    let i = parse("s", src).unwrap();
    let kinds = |args: &[mig::Arg]| -> Vec<ArgKind> { args.iter().map(|x| x.kind).collect() };
    assert_eq!(
        kinds(&i.routines[0].inputs),
        [
            ArgKind::InlineBytes(4096),
            ArgKind::Scalar(Scalar::U32),
            ArgKind::InlineBytes(16)
        ]
    );
    assert_eq!(
        kinds(&i.routines[0].outputs),
        [ArgKind::InlineBytes(1), ArgKind::Scalar(Scalar::U64)]
    );
    assert_eq!(kinds(&i.routines[1].inputs), [ArgKind::InlineBytes(15)]);
    assert!(!ArgKind::InlineBytes(1).is_descriptor());
}

#[test]
fn inline_array_errors() {
    let src = |ty: &str| format!("subsystem s 1;\nroutine a(t: target,\n  x: {ty});");
    // N = 0, or more than a message holds: at the number.
    for (ty, len) in [
        ("inline<u8, 0>", 0),
        ("inline<u8, 65537>", 65537),
        ("inline<u8, 0xffffffffff>", 0xff_ffff_ffff),
    ] {
        let e = err(&src(ty));
        assert_eq!(
            (e.kind, e.line, e.column),
            (
                ErrorKind::BadInlineLength {
                    argument: "x".into(),
                    len
                },
                3,
                17
            ),
            "{ty}"
        );
    }
    let expected = |ty: &str| match err(&src(ty)) {
        MigError {
            kind: ErrorKind::Expected { expected, .. },
            line: 3,
            ..
        } => expected,
        e => panic!("{ty}: {e}"),
    };
    assert_eq!(expected("inline<u16, 4>"), "`u8`");
    assert_eq!(expected("inline<u32, 4>"), "`u8`");
    assert!(expected("inline<u8>").starts_with("`,` and the most bytes"));
    assert!(expected("inline<u8, n>").starts_with("the most bytes"));
    assert_eq!(err_at(&src("inline<u8, -1>")), (ErrorKind::UnexpectedChar('-'), 3));
    assert!(expected("inline").starts_with("`<`"));
    assert_eq!(expected("inline<u8, 4"), "`>`");
    assert_eq!(expected("inline<u8, 4, 5>"), "`>`");
    // The message-size limit counts every array at its largest, in requests and replies.
    assert!(parse("s", "subsystem s 1; routine a(t: target, x: inline<u8, 65508>);").is_ok());
    for src in [
        "subsystem s 1;\nroutine a(t: target, x: inline<u8, 65509>);",
        "subsystem s 1;\nroutine a(t: target, x: inline<u8, 40000>, y: inline<u8, 30000>);",
        "subsystem s 1;\nroutine a(t: target) -> (x: inline<u8, 65505>);",
        "subsystem s 1;\nsimpleroutine a(t: target, x: u32, y: inline<u8, 65508>);",
    ] {
        let e = err(src);
        assert!(matches!(e.kind, ErrorKind::MessageTooLarge { .. }), "{src}: {e}");
        assert_eq!((e.line, e.column), (2, 1), "{src}");
    }
    assert!(parse("s", "subsystem s 1; routine a(t: target) -> (x: inline<u8, 65504>);").is_ok());
}

#[test]
fn inline_errors_display_file_line_column() {
    let e = parse("u.defs", "subsystem s 1;\nroutine a(t: target, path: inline<u8, 0>);").unwrap_err();
    assert_eq!(
        e.to_string(),
        "u.defs:2:39: argument `path`: an in-line array of at most 0 bytes (expected 1..=65536)"
    );
}
