#ifndef CKSTDIO_H
#define CKSTDIO_H

/* C's stdout (where Swift's print writes), without naming the global `stdout` from Swift 6,
   which refuses it as shared mutable state. */

/* Flushes stdout; 1 if it or any earlier write to it failed (the error indicator is cleared). */
int ck_stdout_flush_failed(void);

/* Drops what stdout holds unwritten (glibc's __fpurge): results found wrong before they left. */
void ck_stdout_discard(void);

#endif
