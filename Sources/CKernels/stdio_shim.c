#include <stdio.h>
#include <stdio_ext.h>
#include "ckstdio.h"

int ck_stdout_flush_failed(void) {
    int failed = fflush(stdout) != 0 || ferror(stdout);
    clearerr(stdout);
    return failed;
}

void ck_stdout_discard(void) {
    __fpurge(stdout);
}

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int ck_terminal_columns(int fd) {
    struct winsize size;
    if (ioctl(fd, TIOCGWINSZ, &size) != 0 || size.ws_col == 0) return 0;
    return size.ws_col;
}

/* The note SIGPIPE's handler writes: made whole before the handler can see it (one pointer),
   never freed (a handler may be writing the old one while a new one is set; a few bytes stay). */
struct ck_note { size_t length; char text[]; };
static struct ck_note *volatile sigpipe_note;

static void on_sigpipe(int sig) {
    struct ck_note *note = sigpipe_note;
    if (note) {
        size_t done = 0;
        while (done < note->length) {
            ssize_t n = write(STDERR_FILENO, note->text + done, note->length - done);
            if (n <= 0) break;
            done += (size_t)n;
        }
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

void ck_sigpipe_note(const char *text) {
    size_t length = strlen(text);
    struct ck_note *note = malloc(sizeof *note + length + 1);
    if (!note) return;
    note->length = length;
    memcpy(note->text, text, length + 1);
    struct sigaction current;
    if (sigaction(SIGPIPE, NULL, &current) != 0) { free(note); return; }
    int ours = !(current.sa_flags & SA_SIGINFO) && current.sa_handler == on_sigpipe;
    if (!ours && current.sa_handler != SIG_DFL) { free(note); return; }  /* ignored, or someone else's */
    __atomic_store_n(&sigpipe_note, note, __ATOMIC_RELEASE);
    if (!ours) {
        struct sigaction action;
        memset(&action, 0, sizeof action);
        action.sa_handler = on_sigpipe;
        sigemptyset(&action.sa_mask);
        sigaction(SIGPIPE, &action, NULL);
    }
}
