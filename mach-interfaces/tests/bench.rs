//! The `bench` interface (`interfaces/bench.defs`) that `make bench` measures
//! as `mach.mig_rpc_small`: its message sizes, which docs/BENCHMARKS.md
//! states, and a round trip of every argument through the generated stub and
//! dispatch function.

mod common;

use common::{Loopback, Releases, ret_code};
use mach_interfaces::Release;
use mach_interfaces::bench::{self, BenchServer, bench_server};

#[derive(Default)]
struct Fake {
    seen: Vec<(u32, [u64; 7])>,
    fail: Option<i32>,
    releases: Releases,
}

impl BenchServer for Fake {
    #[allow(clippy::too_many_arguments)]
    fn bench_syscall(
        &mut self,
        server: u32,
        number: u64,
        a0: u64,
        a1: u64,
        a2: u64,
        a3: u64,
        a4: u64,
        a5: u64,
    ) -> Result<u64, i32> {
        self.seen.push((server, [number, a0, a1, a2, a3, a4, a5]));
        self.fail.map_or(Ok(number ^ a5), Err)
    }
}

impl Release for Fake {
    fn release_port(&mut self, name: u32, t: u8) {
        self.releases.release_port(name, t);
    }
    fn release_ool(&mut self, a: u64, s: u64) {
        self.releases.release_ool(a, s);
    }
    fn release_ool_ports(&mut self, a: u64, c: u32, t: u8) {
        self.releases.release_ool_ports(a, c, t);
    }
}

#[test]
fn a_system_call_shaped_request_is_80_bytes_and_its_reply_36() {
    // Header (24) + seven u64 words (56); header + RetCode (4) + u64 (8),
    // packed to 4 bytes.
    assert_eq!(bench::BENCH_SYSCALL_REQUEST_SIZE, 80);
    assert_eq!(bench::BENCH_SYSCALL_REPLY_SIZE, 36);
    let mut t = Loopback::new(Fake::default(), bench_server::<Fake>);
    bench::bench_syscall(&mut t, 0x507, 39, 1, 2, 3, 4, 5, 6).unwrap();
    assert_eq!(t.last_request.len() - common::TRAILER, 80);
    assert_eq!(t.last_reply.len(), 36);
}

#[test]
fn every_word_arrives_and_the_result_comes_back() {
    let mut t = Loopback::new(Fake::default(), bench_server::<Fake>);
    let words = [39, u64::MAX, 1 << 63, 3, 0x0123_4567_89ab_cdef, 5, 0xfeed_f00d];
    let got = bench::bench_syscall(
        &mut t, 0x507, words[0], words[1], words[2], words[3], words[4], words[5], words[6],
    );
    assert_eq!(got, Ok(39 ^ 0xfeed_f00d));
    assert_eq!(t.server.seen, [(0x507, words)]);
    assert!(t.server.releases.0.is_empty());
}

#[test]
fn an_error_comes_back_as_the_return_code() {
    let mut t = Loopback::new(
        Fake {
            fail: Some(9),
            ..Default::default()
        },
        bench_server::<Fake>,
    );
    assert_eq!(bench::bench_syscall(&mut t, 0x507, 1, 2, 3, 4, 5, 6, 7), Err(9));
    assert_eq!(t.last_reply.len(), 28);
    assert_eq!(ret_code(&t.last_reply), 9);
}
