/* What the self-checking tests share: running a child under a watchdog,
   and checking that the system still forks, execs, pipes and keeps files. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs body(arg) in a child; the child's end of a pipe closes when it
   ends, and a child still running after watchdog_ms is sent SIGKILL
   (*timed_out set). Returns its wait status, or -1 if it was lost. */
static inline int watched(void (*body)(long), long arg, int watchdog_ms, int *timed_out) {
    int p[2];
    if (pipe(p)) return -1;
    pid_t c = fork();
    if (c < 0) return -1;
    if (c == 0) {
        close(p[0]);
        body(arg);
        _exit(0);
    }
    close(p[1]);
    struct pollfd w = {p[0], POLLIN, 0};
    if (poll(&w, 1, watchdog_ms) == 0) {
        *timed_out = 1;
        kill(c, SIGKILL);
    }
    close(p[0]);
    int status = 0;
    if (waitpid(c, &status, 0) != c) return -1;
    return status;
}

/* Whether a fork+exec of /bin/true, a pipe and a file in /tmp work; what
   failed first goes to stderr. */
static inline int still_usable(void) {
    int p[2];
    if (pipe(p)) return 0;
    pid_t c = fork();
    if (c < 0) return 0;
    if (c == 0) {
        write(p[1], "ok", 2);
        execl("/bin/true", "true", (char *)0);
        fprintf(stderr, "still_usable: execve: %s\n", strerror(errno));
        _exit(99);
    }
    char b[2];
    int got = read(p[0], b, 2);
    int status;
    close(p[0]);
    close(p[1]);
    if (waitpid(c, &status, 0) != c || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || got != 2) {
        fprintf(stderr, "still_usable: exec of /bin/true: status %#x, pipe read %d\n", status, got);
        return 0;
    }
    int fd = open("/tmp/self-test-after", O_CREAT | O_RDWR | O_TRUNC, 0600);
    if (fd < 0 || write(fd, "after", 5) != 5 || lseek(fd, 0, SEEK_SET) != 0) return 0;
    char r[5];
    int ok = read(fd, r, 5) == 5 && memcmp(r, "after", 5) == 0;
    close(fd);
    unlink("/tmp/self-test-after");
    return ok;
}
