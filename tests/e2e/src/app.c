/* The main process of the shell-less test image, and the only tool in it.
 *   app serve PIDFILE       write PIDFILE, say "app ready pid=N", exit 0 on SIGTERM or SIGQUIT
 *                           (removing PIDFILE first)
 *   app echo WORDS...       print WORDS
 *   app kill PIDFILE SIGNUM send SIGNUM to the pid in PIDFILE
 * Built statically with musl-gcc: the image has no libc of its own. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t got;

static void on_signal(int signum) { got = signum; }

static int serve(const char *pidfile) {
    FILE *f = fopen(pidfile, "w");
    if (!f) { perror(pidfile); return 1; }
    fprintf(f, "%d\n", (int)getpid());
    fclose(f);
    signal(SIGTERM, on_signal);
    signal(SIGQUIT, on_signal);
    printf("app ready pid=%d\n", (int)getpid());
    fflush(stdout);
    for (int i = 0; i < 36000 && !got; i++) sleep(1); /* at most ten hours */
    unlink(pidfile);
    printf("app: signal %d, exiting\n", (int)got);
    fflush(stdout);
    return got ? 0 : 1;
}

static int kill_pidfile(const char *pidfile, int signum) {
    FILE *f = fopen(pidfile, "r");
    int pid = 0;
    if (!f || fscanf(f, "%d", &pid) != 1) { fprintf(stderr, "app: no pid in %s\n", pidfile); return 1; }
    fclose(f);
    if (kill(pid, signum) != 0) { perror("kill"); return 1; }
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "serve") == 0) return serve(argv[2]);
    if (argc == 4 && strcmp(argv[1], "kill") == 0) return kill_pidfile(argv[2], atoi(argv[3]));
    if (argc >= 2 && strcmp(argv[1], "echo") == 0) {
        for (int i = 2; i < argc; i++) printf("%s%s", argv[i], i + 1 < argc ? " " : "\n");
        return 0;
    }
    fprintf(stderr, "usage: app serve PIDFILE | echo WORDS... | kill PIDFILE SIGNUM\n");
    return 2;
}
