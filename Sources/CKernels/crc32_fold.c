#include "ckcrc.h"

#if defined(__x86_64__)
#include <immintrin.h>

int ck_crc32_fold_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
}

#define FOLD_ATTR __attribute__((target("pclmul,sse4.1")))

/* One 128-bit fold: x·k (its low half by k's low, its high half by k's high) xor the next data. */
FOLD_ATTR static inline __m128i fold(__m128i x, __m128i k, __m128i data) {
    __m128i lo = _mm_clmulepi64_si128(x, k, 0x00);
    __m128i hi = _mm_clmulepi64_si128(x, k, 0x11);
    return _mm_xor_si128(_mm_xor_si128(lo, hi), data);
}

FOLD_ATTR uint32_t ck_crc32_fold(uint32_t crc, const unsigned char *buf, size_t len) {
    /* x^(4·128+32), x^(4·128−32) mod P (reflected, as the kernel's R1, R2); x^(128+32), x^(128−32)
       (R3, R4); x^64 (R5); P and its Barrett constant u = floor(x^64 / P), bit-reflected. */
    const __m128i k1k2 = _mm_set_epi64x(0x1c6e41596LL, 0x154442bd4LL);
    const __m128i k3k4 = _mm_set_epi64x(0x0ccaa009eLL, 0x1751997d0LL);
    const __m128i k5 = _mm_set_epi64x(0, 0x163cd6124LL);
    const __m128i poly = _mm_set_epi64x(0x1F7011641LL, 0x1DB710641LL);
    const __m128i mask32 = _mm_set_epi32(0, 0, 0, -1);

    __m128i x1 = _mm_loadu_si128((const __m128i *)(buf + 0x00));
    __m128i x2 = _mm_loadu_si128((const __m128i *)(buf + 0x10));
    __m128i x3 = _mm_loadu_si128((const __m128i *)(buf + 0x20));
    __m128i x4 = _mm_loadu_si128((const __m128i *)(buf + 0x30));
    x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128((int)crc));
    buf += 64;
    len -= 64;
    while (len >= 64) {
        x1 = fold(x1, k1k2, _mm_loadu_si128((const __m128i *)(buf + 0x00)));
        x2 = fold(x2, k1k2, _mm_loadu_si128((const __m128i *)(buf + 0x10)));
        x3 = fold(x3, k1k2, _mm_loadu_si128((const __m128i *)(buf + 0x20)));
        x4 = fold(x4, k1k2, _mm_loadu_si128((const __m128i *)(buf + 0x30)));
        buf += 64;
        len -= 64;
    }
    /* Four lanes into one. */
    x1 = fold(x1, k3k4, x2);
    x1 = fold(x1, k3k4, x3);
    x1 = fold(x1, k3k4, x4);
    while (len >= 16) {
        x1 = fold(x1, k3k4, _mm_loadu_si128((const __m128i *)buf));
        buf += 16;
        len -= 16;
    }
    /* 128 -> 64 bits (also appends 32 zero bits): R4 · low half, xor the high half. */
    __m128i t = _mm_clmulepi64_si128(k3k4, x1, 0x01);
    x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), t);
    /* 64 -> 32 bits. */
    t = _mm_srli_si128(x1, 4);
    x1 = _mm_clmulepi64_si128(_mm_and_si128(x1, mask32), k5, 0x00);
    x1 = _mm_xor_si128(x1, t);
    /* Barrett reduction to the 32-bit remainder. */
    t = x1;
    x1 = _mm_clmulepi64_si128(_mm_and_si128(x1, mask32), poly, 0x10);
    x1 = _mm_clmulepi64_si128(_mm_and_si128(x1, mask32), poly, 0x00);
    x1 = _mm_xor_si128(x1, t);
    return (uint32_t)_mm_extract_epi32(x1, 1);
}

#else

int ck_crc32_fold_supported(void) { return 0; }
uint32_t ck_crc32_fold(uint32_t crc, const unsigned char *buf, size_t len) { (void)buf; (void)len; return crc; }

#endif
