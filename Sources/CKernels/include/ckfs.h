#ifndef CKFS_H
#define CKFS_H

/* renameat2(2) flags Swift's Glibc module does not bring in (it needs _GNU_SOURCE). */

/* Renames `from` to `to` only if `to` does not exist (RENAME_NOREPLACE): 0, or -1 with errno
   (EEXIST: it exists; EINVAL / ENOSYS: the file system or kernel cannot do it). */
int ck_rename_noreplace(const char *from, const char *to);

/* Exchanges `a` and `b` atomically (RENAME_EXCHANGE): both must exist. 0, or -1 with errno
   (ENOENT: one is missing; EINVAL / ENOSYS: the file system or kernel cannot do it). */
int ck_rename_exchange(const char *a, const char *b);

#endif
