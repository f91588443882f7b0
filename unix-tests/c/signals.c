/* Signals delivered to handlers: a blocked read cut short (EINTR without
   SA_RESTART, restarted with it), SIGCHLD, the mask during a handler and
   after, sigsuspend. The expected output is this program's on the host. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int got, chld, masked_in_handler;
static void on_usr1(int s) {
    sigset_t now;
    sigprocmask(SIG_BLOCK, 0, &now);
    masked_in_handler = sigismember(&now, SIGUSR1);
    got = s;
    write(1, "handler\n", 8);
}
static void on_chld(int s) { chld = s; }

static void catch(int sig, void (*h)(int), int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = h;
    sa.sa_flags = flags;
    sigaction(sig, &sa, 0);
}

int main(void) {
    sigset_t block, old, now;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigaddset(&block, SIGCHLD);
    sigprocmask(SIG_BLOCK, &block, &old);

    catch(SIGUSR1, on_usr1, 0);
    pid_t c = fork();
    if (c == 0) {
        kill(getppid(), SIGUSR1);
        _exit(0);
    }
    int r = sigsuspend(&old);
    printf("sigsuspend %d %s, got %d, masked in handler %d\n", r, strerror(errno), got, masked_in_handler);
    sigprocmask(SIG_BLOCK, 0, &now);
    printf("masked after: usr1 %d chld %d\n", sigismember(&now, SIGUSR1), sigismember(&now, SIGCHLD));
    waitpid(c, 0, 0);

    catch(SIGCHLD, on_chld, 0);
    c = fork();
    if (c == 0) _exit(4);
    while (!chld) sigsuspend(&old);
    int status;
    waitpid(c, &status, 0);
    printf("sigchld %d, child status %d\n", chld, WEXITSTATUS(status));

    catch(SIGUSR1, SIG_IGN, 0);
    kill(getpid(), SIGUSR1);
    sigprocmask(SIG_SETMASK, &old, 0);
    printf("ignored: still here\n");

    /* pause() returns -1 EINTR once a caught signal's handler has run (the
       child waits a second so that the parent is already in pause). */
    fflush(stdout); /* the handler's write comes after what was printed */
    catch(SIGUSR2, on_usr1, 0);
    got = 0;
    pid_t p = getpid();
    c = fork();
    if (c == 0) {
        sleep(1);
        kill(p, SIGUSR2);
        _exit(0);
    }
    r = pause();
    printf("pause: %d %s, handler saw %d\n", r, strerror(errno), got);
    waitpid(c, &status, 0);
    return 0;
}
