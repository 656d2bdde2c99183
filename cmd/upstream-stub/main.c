/*
 * main.c - the upstream-stub program: arguments (--help only), settings from
 * the environment (config.c), start (server.c), wait for SIGTERM/SIGINT,
 * orderly stop. Exit status: 0 after a clean stop, 2 for a bad argument or
 * setting, 1 when it cannot start or cannot drain. What the stub is and how
 * it works: stub.h.
 */
#include <signal.h>
#include <string.h>

#include "stub.h"

int main(int argc, char **argv)
{
    struct stub_config cfg;
    struct stub st;
    sigset_t sigs;
    int sig = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            stub_config_usage(stdout);
            return 0;
        }
        fprintf(stderr, STUB_PROG ": unknown argument \"%s\" (try --help)\n", argv[i]);
        return 2;
    }
    if (stub_config_load(&cfg) != 0)
        return 2;

    /* Block the stop signals before any thread exists, so that every thread inherits
     * the mask and only sigwait below receives them. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (stub_start(&st, &cfg) != 0)
        return 1;
    while (sig != SIGINT && sig != SIGTERM)
        if (sigwait(&sigs, &sig) != 0)
            break;
    stub_log("info", "stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    return stub_stop(&st) == 0 ? 0 : 1;
}
