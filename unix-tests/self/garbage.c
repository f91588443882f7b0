/* A process passing garbage to every system call, and garbage messages to
   its own port at the Unix server, must not hurt the server or anyone else:
   for each Linux call number (and each Mach trap the kernel has), a child
   makes the call with arguments drawn from bad values (null, small and
   huge numbers, unmapped, kernel and non-canonical addresses, the
   emulation library's own range, read-only memory, random bytes), then
   exits; a call that blocks is ended by SIGKILL after a while. Afterwards
   the system must still fork, exec, pipe and write files. Not compared
   with the host (garbage system calls are not safe to make there): it
   checks itself and prints `test NAME ... ok|FAILED`. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

#define ROUNDS 12
#define WATCHDOG_MS 3000

static uint64_t seed;
static uint64_t next(void) {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed;
}

static char buffer[8192];
static const char rodata[64] = "read-only bytes";

static long garbage(void) {
    switch (next() % 16) {
    case 0: return 0;
    case 1: return 1;
    case 2: return -1;
    case 3: return next() % 8;                 /* a small descriptor */
    case 4: return 1000;
    case 5: return 1l << 40;
    case 6: return 0x10;
    case 7: return 0x7ff000000000l + (long)(next() % 0x100000); /* the library */
    case 8: return (long)0xffff800000001000ul;  /* kernel */
    case 9: return 0x0000800000000000l;          /* non-canonical */
    case 10: return (long)buffer;
    case 11: return (long)(buffer + sizeof buffer - 1);
    case 12: return (long)rodata;
    case 13: return (long)next();
    case 14: return (long)(next() & 0xffffffff);
    default: return -(long)(next() % 4096);
    }
}

/* Calls the test itself cannot survive or that reach past the child:
   signals to other processes (kill(-1, ...) would end the test), and new
   processes (each would go on making garbage calls). */
static int skipped(long n) {
    return n == SYS_kill || n == SYS_tkill || n == SYS_tgkill || n == SYS_fork || n == SYS_vfork ||
           n == SYS_clone || n == SYS_clone3 || n == SYS_rt_sigqueueinfo || n == SYS_rt_tgsigqueueinfo ||
           n == SYS_pidfd_send_signal;
}

/* One child's work: ROUNDS calls of number n with garbage. */
static void garbage_calls(long n) {
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    seed = 0x9e3779b97f4a7c15ull ^ (uint64_t)(n * 7919 + 1);
    for (int i = 0; i < (int)sizeof buffer; i++) buffer[i] = (char)next();
    for (int r = 0; r < ROUNDS; r++) {
        long a[6];
        for (int i = 0; i < 6; i++) a[i] = garbage();
        syscall(n, a[0], a[1], a[2], a[3], a[4], a[5]);
    }
}

/* Raw Mach traps (negative numbers) with garbage. */
static long mach_trap(long n, long a0, long a1, long a2, long a3, long a4, long a5) {
    long ret;
    register long r10 __asm__("r10") = a3;
    register long r8 __asm__("r8") = a4;
    register long r9 __asm__("r9") = a5;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a0), "S"(a1), "d"(a2), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

/* A child's work: messages of random bytes (with plausible headers) to
   its own process port (name 0x4000) and making Mach traps with garbage. */
static void mach_garbage(long which) {
    seed = 0x1234567ull + (uint64_t)which;
    for (int r = 0; r < 64; r++) {
        uint32_t *m = (uint32_t *)buffer;
        for (int i = 0; i < 256; i++) m[i] = (uint32_t)next();
        if (which == 0) {
            /* bits: copy-send to the remote, make-send-once reply (or
               garbage), size up to 1 KiB, remote 0x4000, local a reply
               port, id in the unix subsystem's range */
            m[0] = (next() & 1) ? (19u | (21u << 8)) : (uint32_t)next();
            m[1] = (uint32_t)(next() % 1024) & ~3u;
            m[2] = 0x4000;
            m[3] = (uint32_t)mach_trap(-26, 0, 0, 0, 0, 0, 0);
            m[5] = 100000 + (uint32_t)(next() % 16);
            /* MACH_SEND_MSG | MACH_RCV_MSG with a timeout: the reply, if
               any, comes back into the buffer */
            mach_trap(-31, (long)buffer, 3 | 0x100, m[1], sizeof buffer, m[3], 100);
        } else {
            long n = -(long)(next() % 128);
            if (n == -101 || n == -103) continue; /* task_exit, thread_exit: would only end the child early */
            long a[6];
            for (int i = 0; i < 6; i++) a[i] = garbage();
            mach_trap(n, a[0], a[1], a[2], a[3], a[4], a[5]);
        }
    }
}

int main(void) {
    int exited = 0, signalled = 0, timeouts = 0, lost = 0;
    for (long n = 0; n < 460; n++) {
        if (skipped(n)) continue;
        int t = 0;
        int s = watched(garbage_calls, n, WATCHDOG_MS, &t);
        timeouts += t;
        if (s == -1) lost++;
        else if (WIFEXITED(s)) exited++;
        else if (WIFSIGNALED(s)) signalled++;
    }
    int usable = still_usable();
    printf("test unix_garbage_calls ... %s (%d exited, %d killed by a signal, %d stopped by the watchdog, %d lost)\n",
           usable && lost == 0 ? "ok" : "FAILED", exited, signalled, timeouts, lost);
    int mlost = 0, mtimeouts = 0;
    for (int i = 0; i < 8; i++) {
        int t = 0;
        if (watched(mach_garbage, i % 2, WATCHDOG_MS, &t) == -1) mlost++;
        mtimeouts += t;
    }
    usable = still_usable();
    printf("test unix_garbage_messages ... %s (%d stopped by the watchdog, %d lost)\n",
           usable && mlost == 0 ? "ok" : "FAILED", mtimeouts, mlost);
    return 0;
}
