/* Bad pointers given to system calls answer EFAULT (Linux's copies of user
   memory fail; the emulation library's copies are recovered by the Unix
   server, which is the process's exception port) and the process goes on.
   Every call is a raw syscall(), so the host's vDSO is not involved.
   Expected output: this program's own on the host. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* Addresses no process maps: the bottom page, one in the middle of the
   user half (where our emulation library sits, and where Linux maps
   nothing), a non-canonical one, and a kernel one. */
static const unsigned long bad[] = {
    0x10, 0x7ff000001000ul, 0x0000800000000000ul, 0xffff800000001000ul,
};
#define NBAD (sizeof bad / sizeof bad[0])

static void show(const char *what, long r) {
    printf("%-22s %ld %s\n", what, r, r < 0 ? strerror(errno) : "");
    errno = 0;
}

int main(void) {
    int p[2];
    if (pipe(p)) return 1;
    for (unsigned i = 0; i < NBAD; i++) {
        void *b = (void *)bad[i];
        printf("-- pointer %u\n", i);
        write(p[1], "x", 1);
        show("read", syscall(SYS_read, p[0], b, 1));
        show("write", syscall(SYS_write, p[1], b, 1));
        show("open", syscall(SYS_open, b, O_RDONLY));
        show("stat path", syscall(SYS_stat, b, b));
        show("fstat buf", syscall(SYS_fstat, 0, b));
        show("pipe", syscall(SYS_pipe, b));
        show("clock_gettime", syscall(SYS_clock_gettime, CLOCK_MONOTONIC, b));
        show("nanosleep", syscall(SYS_nanosleep, b, 0));
        show("poll", syscall(SYS_poll, b, 1, 0));
        show("uname", syscall(SYS_uname, b));
        show("getcwd", syscall(SYS_getcwd, b, 100));
        show("rt_sigaction new", syscall(SYS_rt_sigaction, SIGUSR1, b, 0, 8));
        show("rt_sigprocmask old", syscall(SYS_rt_sigprocmask, SIG_BLOCK, 0, b, 8));
        show("execve path", syscall(SYS_execve, b, 0, 0));
        char *argv[] = {"/bin/true", (char *)b, 0};
        show("execve argv", syscall(SYS_execve, "/bin/true", argv, 0));
        show("execve argv array", syscall(SYS_execve, "/bin/true", b, 0));
        show("readv iov", syscall(SYS_readv, p[0], b, 1));
        struct iovec v[2] = {{"ab", 2}, {b, 3}};
        show("writev one bad", syscall(SYS_writev, p[1], v, 2));
        show("wait4 status", syscall(SYS_wait4, -1, b, 1 /* WNOHANG */, 0));
        show("prlimit new", syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, b, 0));
        /* Drain what the writes above put in the pipe, so each round
           starts empty. */
        char junk[64];
        fcntl(p[0], F_SETFL, O_NONBLOCK);
        while (read(p[0], junk, sizeof junk) > 0) {}
        fcntl(p[0], F_SETFL, 0);
    }
    /* A string that runs off the end of mapped memory: the page after a
       mapping is unmapped. */
    char *page = (char *)syscall(SYS_mmap, 0, 8192, 3, 0x22 /* private|anon */, -1, 0);
    syscall(SYS_munmap, page + 4096, 4096);
    memset(page, 'a', 4096);
    show("open runs off the end", syscall(SYS_open, page, O_RDONLY));
    show("still here", 0);
    return 0;
}
