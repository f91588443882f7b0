/* Values a process chooses that must not hurt the server: a file mapping
   far longer than the file (the server copies only the file's pages), bad
   descriptors, signal numbers and lengths. Expected output: this program's
   own on the host. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void) {
    int fd = open("/tmp/hostile-map", O_CREAT | O_RDWR | O_TRUNC, 0600);
    write(fd, "mapped", 6);
    char *m = mmap(0, 1ull << 40, PROT_READ, MAP_PRIVATE, fd, 0);
    printf("huge file mapping: %s\n", m == MAP_FAILED ? strerror(errno) : "ok");
    if (m != MAP_FAILED) {
        printf("first bytes: %.6s\n", m);
        munmap(m, 1ull << 40);
    }
    close(fd);
    unlink("/tmp/hostile-map");
    printf("mmap bad fd: %s\n", mmap(0, 4096, PROT_READ, MAP_PRIVATE, 1000, 0) == MAP_FAILED ? strerror(errno) : "mapped");
    printf("read bad fd: %ld %s\n", (long)read(-7, 0, 1 << 30), strerror(errno));
    printf("dup2 huge: %d %s\n", dup2(0, 1 << 30), strerror(errno));
    printf("fcntl huge fd: %d %s\n", fcntl(1 << 30, F_GETFD), strerror(errno));
    printf("kill sig 1000: %d %s\n", kill(getpid(), 1000), strerror(errno));
    printf("sigaction 0: %d %s\n", sigaction(0, 0, 0), strerror(errno));
    printf("lseek huge: %ld %s\n", (long)lseek(1, -1, SEEK_SET), strerror(errno));
    printf("still here\n");
    return 0;
}
