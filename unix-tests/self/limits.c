/* Limits a process runs into must stop it, not the system: a fork bomb
   ends in EAGAIN at the server's process limit, a process touching memory
   without end gets ENOMEM from mmap or is killed (with --hog), and afterwards the
   system forks, execs and pipes as before. Checks itself and prints
   `test NAME ... ok|FAILED` (a fork bomb is not a thing to run on the
   host). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

#define MAX_CHILDREN 4096

static pid_t kids[MAX_CHILDREN];

static void fork_bomb(void) {
    int n = 0, err = 0;
    int hold[2];
    pipe(hold);
    while (n < MAX_CHILDREN) {
        pid_t c = fork();
        if (c < 0) {
            err = errno;
            break;
        }
        if (c == 0) {
            char b;
            close(hold[1]);
            read(hold[0], &b, 1); /* until the parent lets go */
            _exit(0);
        }
        kids[n++] = c;
    }
    close(hold[1]); /* every child's read ends */
    close(hold[0]);
    int reaped = 0;
    for (int i = 0; i < n; i++)
        if (waitpid(kids[i], 0, 0) == kids[i]) reaped++;
    int usable = still_usable();
    printf("test unix_fork_bomb ... %s (%d processes, then %s; %d reaped)\n",
           err == EAGAIN && n >= 32 && reaped == n && usable ? "ok" : "FAILED", n, strerror(err), reaped);
}

static void memory_hog(void) {
    pid_t c = fork();
    if (c == 0) {
        /* 64 MiB at a time, every page touched, until mmap says no. */
        for (long total = 0;; total += 64) {
            char *m = mmap(0, 64 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (m == MAP_FAILED) _exit(errno == ENOMEM ? 42 : 43);
            for (long i = 0; i < 64 << 20; i += 4096) m[i] = 1;
        }
    }
    int status = 0;
    waitpid(c, &status, 0);
    int ended = (WIFEXITED(status) && WEXITSTATUS(status) == 42) ||
                (WIFSIGNALED(status) && (WTERMSIG(status) == SIGKILL || WTERMSIG(status) == SIGSEGV ||
                                         WTERMSIG(status) == SIGBUS));
    int usable = still_usable();
    printf("test unix_memory_hog ... %s (%s %d)\n", ended && usable ? "ok" : "FAILED",
           WIFEXITED(status) ? "exit" : "signal", WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

/* The memory hog runs only when asked (`limits --hog`): when the kernel's
   free frames run out, the process that faults next is ended, which is
   the hog most of the time but once was its parent (a bystander: there is
   no per-task memory budget yet), so it is not in make test. */
int main(int argc, char **argv) {
    fork_bomb();
    if (argc > 1 && strcmp(argv[1], "--hog") == 0) memory_hog();
    return 0;
}
