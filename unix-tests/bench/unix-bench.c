/* Unix-level benchmarks on the Unix server (make bench): guest instructions
   per operation, read with rdtsc, which QEMU's -icount shift=0 makes count
   guest instructions (kernel, server and process alike). Prints
   `bench NAME VALUE instructions` lines; each figure is the median of
   batches, the batch's total divided by its operations. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static inline uint64_t tsc(void) {
    uint32_t lo, hi;
    __asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

#define BATCHES 9
static int cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}
static void report(const char *name, uint64_t *per) {
    qsort(per, BATCHES, sizeof per[0], cmp);
    printf("bench %s %llu instructions\n", name, (unsigned long long)per[BATCHES / 2]);
    fflush(stdout);
}

/* The emulation library's direct entry (unix_abi::EmulHeader at
   EMUL_BASE: magic, version, syscall entry, fork entry, direct entry). */
static long direct_getpid(uint64_t entry) {
    long r;
    __asm__ volatile("call *%1" : "=a"(r) : "r"(entry), "a"((long)SYS_getpid) : "rcx", "r11", "memory");
    return r;
}

int main(int argc, char **argv) {
    (void)argv;
    uint64_t per[BATCHES];
    enum { N = 200 };
    for (int b = 0; b < BATCHES; b++) {
        uint64_t t = tsc();
        for (int i = 0; i < N; i++) syscall(SYS_getpid);
        per[b] = (tsc() - t) / N;
    }
    report("unix.getpid.trampoline", per);

    const uint64_t *header = (const uint64_t *)0x7ff000000000ull;
    if (argc > 1 && header[0] == 0x4c554d454843414dull) {
        for (int b = 0; b < BATCHES; b++) {
            uint64_t t = tsc();
            for (int i = 0; i < N; i++) direct_getpid(header[4]);
            per[b] = (tsc() - t) / N;
        }
        report("unix.getpid.direct", per);
    }

    int p[2], q[2];
    pipe(p);
    pipe(q);
    pid_t c = fork();
    if (c == 0) {
        char x;
        close(p[1]);
        close(q[0]);
        while (read(p[0], &x, 1) == 1) write(q[1], &x, 1);
        _exit(0);
    }
    close(p[0]);
    close(q[1]);
    for (int b = 0; b < BATCHES; b++) {
        uint64_t t = tsc();
        for (int i = 0; i < 50; i++) {
            char x = 'x';
            write(p[1], &x, 1);
            read(q[0], &x, 1);
        }
        per[b] = (tsc() - t) / 50;
    }
    report("unix.pipe_rtt", per);
    close(p[1]);
    waitpid(c, 0, 0);

    char *mem = malloc(1 << 20);
    memset(mem, 1, 1 << 20);
    for (int b = 0; b < BATCHES; b++) {
        uint64_t t = tsc();
        for (int i = 0; i < 4; i++) {
            pid_t k = fork();
            if (k == 0) _exit(0);
            waitpid(k, 0, 0);
        }
        per[b] = (tsc() - t) / 4;
    }
    report("unix.fork_exit", per);

    for (int b = 0; b < BATCHES; b++) {
        uint64_t t = tsc();
        for (int i = 0; i < 2; i++) {
            pid_t k = fork();
            if (k == 0) {
                execl("/bench/true", "true", (char *)0);
                _exit(127);
            }
            waitpid(k, 0, 0);
        }
        per[b] = (tsc() - t) / 2;
    }
    report("unix.fork_exec", per);

    for (int b = 0; b < BATCHES; b++) {
        char *z = mmap(0, 64 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        uint64_t t = tsc();
        for (int i = 0; i < 64; i++) z[i * 4096] = 1;
        per[b] = (tsc() - t) / 64;
        munmap(z, 64 * 4096);
    }
    report("unix.zero_fill_fault", per);
    return 0;
}
