#ifndef CSTART_H
#define CSTART_H

/* Nothing to call: start.c's one function runs from the executable's .preinit_array, before any
   library (see there). The marker it leaves, EMBEDSCOPE_ADDRESS_LIMIT_RESTART, is read by
   `AddressSpace.restarted` / `restartedForThreads`. */

#endif
