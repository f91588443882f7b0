/* System calls and their errors, printed one per line: the expected output
   is this program's own output on the host Linux. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void show(const char *what, long r) {
    if (r < 0)
        printf("%s: -1 %s\n", what, strerror(errno));
    else
        printf("%s: %ld\n", what, r);
    fflush(stdout);
}

int main(void) {
    char dir[] = "/tmp/sysXXXXXX";
    if (!mkdtemp(dir) || chdir(dir) != 0) { perror("setup"); return 1; }
    char buf[256];
    struct stat st;
    int p[2];

    show("open missing", open("missing", O_RDONLY));
    show("close bad", close(-1));
    show("close 99", close(99));
    int fd = open("f", O_CREAT | O_WRONLY | O_TRUNC, 0644);
    show("open create", fd >= 0 ? 0 : -1);
    show("write", write(fd, "hello world\n", 12));
    show("open excl", open("f", O_CREAT | O_EXCL | O_WRONLY, 0644));
    show("read on write-only", read(fd, buf, 4));
    show("close", close(fd));
    fd = open("f", O_RDONLY);
    show("lseek end", lseek(fd, 0, SEEK_END));
    show("lseek set", lseek(fd, 6, SEEK_SET));
    show("lseek negative", lseek(fd, -100, SEEK_CUR));
    long n = read(fd, buf, sizeof buf);
    show("read", n);
    if (n > 0) printf("read text: %.*s", (int)n, buf);
    show("read at end", read(fd, buf, sizeof buf));
    show("pread", pread(fd, buf, 5, 0));
    printf("pread text: %.5s\n", buf);
    show("write on read-only", write(fd, "x", 1));
    int d = dup(fd);
    show("dup is next", d == fd + 1 ? 0 : -1);
    show("dup2 same", dup2(fd, fd) == fd ? 0 : -1);
    show("dup2 bad", dup2(-5, 3));
    show("fcntl getfd", fcntl(d, F_GETFD));
    show("fcntl setfd", fcntl(d, F_SETFD, FD_CLOEXEC));
    show("fcntl getfd after", fcntl(d, F_GETFD));
    show("fstat", fstat(fd, &st));
    printf("size %ld regular %d\n", (long)st.st_size, S_ISREG(st.st_mode));
    close(d);
    close(fd);
    show("stat", stat("f", &st));
    show("stat missing", stat("nope/f", &st));
    show("stat through file", stat("f/x", &st));
    show("mkdir", mkdir("d", 0755));
    show("mkdir again", mkdir("d", 0755));
    show("open dir for write", open("d", O_WRONLY));
    fd = open("d", O_RDONLY | O_DIRECTORY);
    show("read dir", read(fd, buf, sizeof buf));
    close(fd);
    show("unlink dir", unlink("d"));
    show("creat in d", close(open("d/x", O_CREAT | O_WRONLY, 0600)));
    show("rmdir not empty", rmdir("d"));
    show("rename", rename("d/x", "y"));
    show("rmdir", rmdir("d"));
    show("rmdir gone", rmdir("d"));
    show("symlink", symlink("y", "ly"));
    n = readlink("ly", buf, sizeof buf);
    show("readlink", n);
    if (n > 0) printf("link: %.*s\n", (int)n, buf);
    show("readlink not link", readlink("y", buf, sizeof buf));
    show("link", link("y", "hy"));
    show("stat nlink", stat("y", &st) == 0 ? (long)st.st_nlink : -1);
    show("unlink", unlink("hy"));
    show("access", access("y", F_OK));
    show("access missing", access("z", F_OK));
    show("getcwd", getcwd(buf, sizeof buf) ? (long)(strcmp(buf, dir) == 0) : -1);
    show("getcwd small", getcwd(buf, 3) ? 0 : -1);
    show("truncate", truncate("f", 5));
    show("size after truncate", stat("f", &st) == 0 ? (long)st.st_size : -1);

    show("pipe", pipe(p));
    show("pipe write", write(p[1], "ping", 4));
    show("pipe read", read(p[0], buf, sizeof buf));
    close(p[1]);
    show("pipe eof", read(p[0], buf, sizeof buf));
    close(p[0]);
    show("pipe again", pipe(p));
    close(p[0]);
    signal(SIGPIPE, SIG_IGN);
    show("write no reader", write(p[1], "x", 1));
    close(p[1]);

    pid_t c = fork();
    if (c == 0) {
        printf("child runs\n");
        fflush(stdout);
        _exit(7);
    }
    int status = 0;
    show("wait child", waitpid(c, &status, 0) == c ? 0 : -1);
    printf("exited %d status %d\n", WIFEXITED(status), WEXITSTATUS(status));
    show("wait none", waitpid(-1, &status, 0));
    show("wait nohang none", waitpid(-1, &status, WNOHANG));

    c = fork();
    if (c == 0) {
        execl("/bin/sh", "sh", "-c", "echo exec ok; exit 3", (char *)0);
        _exit(127);
    }
    waitpid(c, &status, 0);
    printf("exec child status %d\n", WEXITSTATUS(status));

    c = fork();
    if (c == 0) {
        kill(getpid(), SIGTERM);
        _exit(0);
    }
    waitpid(c, &status, 0);
    printf("signaled %d sig %d\n", WIFSIGNALED(status), WTERMSIG(status));

    show("execve missing", execl("/nonexistent", "x", (char *)0));
    show("kill bad signal", kill(getpid(), 999));
    show("kill missing", kill(99999, 0));
    unlink("f");
    unlink("y");
    unlink("ly");
    chdir("/");
    show("rmdir tmp", rmdir(dir));
    return 0;
}
