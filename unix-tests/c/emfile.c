/* Descriptor exhaustion: with RLIMIT_NOFILE lowered, opens, pipes and dups
   fail with EMFILE at the limit, and a closed descriptor is reused. The
   highest descriptor obtained is printed (not the count), so descriptors
   the test was started with do not matter. Expected output: this
   program's own on the host. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static void show(const char *what, int r) {
    printf("%s: %d %s\n", what, r, r < 0 ? strerror(errno) : "");
}

int main(void) {
    struct rlimit rl = {40, 40};
    struct rlimit old;
    getrlimit(RLIMIT_NOFILE, &old);
    rl.rlim_max = old.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl)) { perror("setrlimit"); return 1; }
    int highest = -1, fd;
    while ((fd = open("/dev/null", O_RDONLY)) >= 0) highest = fd;
    printf("open at the limit: %s, highest fd %d\n", strerror(errno), highest);
    int p[2];
    show("pipe at the limit", pipe(p));
    show("dup at the limit", dup(0));
    show("fcntl F_DUPFD at the limit", fcntl(0, F_DUPFD, 0));
    show("dup2 past the limit", dup2(0, 40));
    show("dup3 past the limit", dup3(0, 1000, 0));
    close(highest);
    printf("after a close, open gives %d\n", open("/dev/null", O_RDONLY));
    close(highest);
    close(highest - 1);
    printf("after two closes, pipe: %d\n", pipe(p));
    printf("pipe fds %d %d\n", p[0], p[1]);
    rl.rlim_cur = 20;
    show("lowering below open fds", setrlimit(RLIMIT_NOFILE, &rl));
    show("open above the new limit", open("/dev/null", O_RDONLY));
    show("dup2 within the old limit", dup2(0, 30));
    return 0;
}
