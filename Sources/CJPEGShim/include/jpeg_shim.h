#ifndef EMBEDSCOPE_JPEG_SHIM_H
#define EMBEDSCOPE_JPEG_SHIM_H

#include <stddef.h>

/// Why a decode failed. The Swift side switches on this code; it never parses `message`.
typedef enum {
    ES_JPEG_OK = 0,
    ES_JPEG_CORRUPT = 1,            ///< libjpeg raised a fatal error (bad marker, bad Huffman data, not a JPEG, ...)
    ES_JPEG_TRUNCATED = 2,          ///< the data ended before the image did (libjpeg's JWRN_JPEG_EOF)
    ES_JPEG_UNSUPPORTED_COLOR = 3,  ///< a colour space other than grayscale, YCbCr, RGB, CMYK and YCCK
    ES_JPEG_TOO_LARGE = 4,          ///< width * height above the caller's limit
    ES_JPEG_OUT_OF_MEMORY = 5,
    ES_JPEG_UNSUPPORTED_FEATURE = 6, ///< a valid JPEG this libjpeg cannot decode (12-bit samples, arithmetic coding not built in)
    ES_JPEG_TOO_MANY_SCANS = 7,     ///< a progressive JPEG of more than ES_JPEG_MAX_SCANS scans (each costs a pass over the image)
} es_jpeg_status;

/// Scans a progressive JPEG may have. Encoders write about 10 (libjpeg's default script) and at
/// most a few dozen; each scan is one more pass over the whole image, so a 535 KB file of 3,000
/// scans over 8000 x 8000 pixels took 45 s. libjpeg-turbo's own guard (djpeg -maxscans, its
/// fuzzers' scan limit) is the model; 500 is the limit its fuzzers use.
#define ES_JPEG_MAX_SCANS 500

typedef struct {
    int status;          ///< an es_jpeg_status
    int width;
    int height;
    int components;      ///< components in the file (1 gray, 3 YCbCr/RGB, 4 CMYK/YCCK)
    int color_space;     ///< the file's colour space as libjpeg's J_COLOR_SPACE (JCS_CMYK, JCS_YCCK, ...), 0 if unknown
    int jpeg_msg_code;   ///< libjpeg's message code for the failure, 0 if none
    char message[200];   ///< libjpeg's human-readable text, for display only
} es_jpeg_result;

/// Decodes a whole JPEG held in memory into interleaved 8-bit RGB (grayscale is expanded; CMYK and
/// YCCK are converted as Pillow converts them, see es_cmyk_to_rgb).
/// On success `*out_rgb` is a malloc'd buffer of width*height*3 bytes owned by the caller (free()).
/// On failure `*out_rgb` is NULL and `result->status` says why. Never prints, never exits.
void es_jpeg_decode_rgb(const unsigned char *data, size_t size, long max_pixels,
                        unsigned char **out_rgb, es_jpeg_result *result);

/// One row of libjpeg CMYK samples (4 bytes a pixel) to RGB (3 bytes a pixel), Pillow's conversion.
void es_cmyk_to_rgb(const unsigned char *cmyk, unsigned char *rgb, unsigned width);

#endif
