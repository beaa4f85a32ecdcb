#ifndef CKCRC_H
#define CKCRC_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32 (the zlib / gzip / PNG polynomial, reflected 0xEDB88320) by carry-less multiplication
   (PCLMULQDQ): four 128-bit lanes folded 64 bytes a step, then a Barrett reduction — Intel's
   "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ" (2009), as the Linux kernel's
   crc32-pclmul and zlib-ng do it. Several times zlib's table-driven CRC on the same core.

   `ck_crc32_fold` updates the raw CRC register (zlib's crc32(c, …) is ~ck_crc32_fold(~c, …)) over
   `len` bytes, `len` >= 64 and a multiple of 16, any alignment. Only call it where
   `ck_crc32_fold_supported()` is 1 (x86-64 with PCLMULQDQ and SSE4.1); elsewhere it returns `crc`
   unchanged. */
int ck_crc32_fold_supported(void);
uint32_t ck_crc32_fold(uint32_t crc, const unsigned char *buf, size_t len);

#endif
