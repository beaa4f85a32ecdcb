#ifndef CKMAPGUARD_H
#define CKMAPGUARD_H

#include <stddef.h>

/* Read-only file mappings that survive their file being cut short.

   Reading a page of a MAP_SHARED mapping that lies past the end of its file (another program
   truncated it) or that the disk cannot deliver (EIO) raises SIGBUS, which ends the process. A
   mapping registered here is guarded instead: a SIGBUS at an address inside it replaces the
   mapping from the faulting page to its end with zero pages (the read is retried and finds
   zeros), and marks the mapping faulted, for the owner to see when it checks the mapping after
   reading it and to discard what it computed. A SIGBUS anywhere else goes to the handler that
   was installed before (Swift's backtracer, or the default action).

   The handler is installed when the first mapping is registered. It uses only atomic loads,
   mmap and sigaction. At most CK_MAPGUARD_SLOTS mappings are guarded at once; registering
   another returns -1 (the caller maps unguarded, as before). */

#define CK_MAPGUARD_SLOTS 4096

/* Guards [base, base + length); base page-aligned (an mmap result). Returns a slot, or -1 when
   every slot is taken or the handler could not be installed. */
int ck_mapguard_register(const void *base, size_t length);

/* Stops guarding the slot (before the mapping is unmapped). */
void ck_mapguard_unregister(int slot);

/* 1 if a SIGBUS was handled inside the slot's mapping since it was registered. */
int ck_mapguard_faulted(int slot);

#endif
