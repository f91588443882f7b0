//! The Unix server: one Mach task that runs unmodified static x86_64 Linux
//! programs as Mach tasks (Mach 3.0's UX, Lites). Each Linux process is a
//! task whose `syscall`s the kernel bounces to the emulation library the
//! server mapped into it; the library turns each into an RPC on the
//! process's own port here (`interfaces/unix.defs`), and the server answers.
//!
//! Start-up (this module): the privileged host port from the command line,
//! the boot data (the root file system archive and the emulation library,
//! GRUB modules the kernel hands out without reading them), the root file
//! system, and the first process (`--cmd-file=PATH`: `/bin/sh -c` with that
//! file's contents; otherwise the words after `--`), then [`server::run`].
//! The server's pure logic (file system, descriptors, pipes, processes,
//! signals) is `unix-core`, tested on the host.
//!
//! When the first process exits the server prints `unix: exit status N` (N
//! as a shell reports it: 128 + the signal for a killed process), ends every
//! process left, and exits; `make guest` reads that line.
#![no_std]
#![no_main]

extern crate alloc;

mod blocking;
mod calls;
mod census;
mod console;
mod exec;
mod files;
mod info;
mod io;
mod memory;
mod paths;
mod process;
mod server;
mod signals;

use alloc::string::String;
use alloc::vec::Vec;
use mach_user::println;
use mach_user::start::Args;

mach_user::entry!(main);

fn main(args: Args) -> i32 {
    let mut cmd: Vec<String> = Vec::new();
    let mut cmd_file: Option<String> = None;
    let mut rest = false;
    for a in args.iter().skip(1) {
        if rest {
            cmd.push(a.into());
        } else if a == "--" {
            rest = true;
        } else if let Some(f) = a.strip_prefix("--cmd-file=") {
            cmd_file = Some(f.into());
        }
    }
    let mut unix = match server::Unix::start(&args) {
        Ok(u) => u,
        Err(e) => {
            println!("unix: cannot start: {e}");
            return 1;
        }
    };
    let argv: Vec<String> = match cmd_file {
        Some(f) => match unix.read_file_string(&f) {
            Some(text) => alloc::vec!["/bin/sh".into(), "-c".into(), text],
            None => {
                println!("unix: cannot read {f}");
                return 1;
            }
        },
        None if !cmd.is_empty() => cmd,
        None => alloc::vec!["/bin/sh".into()],
    };
    if args.iter().any(|a| a == "--banner") {
        println!();
        println!("Unix on Mach: Debian's busybox, unmodified, runs as Mach tasks; every Linux");
        println!("system call is bounced by the kernel to the emulation library in the process,");
        println!("which makes it an RPC to the Unix server. Try: ls /bin, cat /etc/passwd,");
        println!("echo $((6*7)) | tee /tmp/x, sleep 1 & wait. `exit` ends the run.");
        println!();
    }
    if let Err(e) = unix.start_init(&argv) {
        println!("unix: cannot start {}: errno {}", argv[0], e.0);
        println!("unix: exit status 127");
        return 127;
    }
    let status = unix.run();
    println!("unix: exit status {status}");
    0
}
