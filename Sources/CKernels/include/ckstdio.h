#ifndef CKSTDIO_H
#define CKSTDIO_H

/* C's stdout (where Swift's print writes), without naming the global `stdout` from Swift 6,
   which refuses it as shared mutable state. */

/* Flushes stdout; 1 if it or any earlier write to it failed (the error indicator is cleared). */
int ck_stdout_flush_failed(void);

/* Drops what stdout holds unwritten (glibc's __fpurge): results found wrong before they left. */
void ck_stdout_discard(void);

/* The width of the terminal on `fd` in columns; 0 when it is not one or does not say. */
int ck_terminal_columns(int fd);

/* From now on SIGPIPE (stdout's reader gone: `| head`) writes `text` to stderr before it ends the
   process as it would have (exit status 141 in a shell). Set only while SIGPIPE has its default
   action (or this handler): a process that ignores it gets EPIPE and reports that instead. */
void ck_sigpipe_note(const char *text);

#endif
