#include "jpeg_shim.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>

typedef struct {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    /* volatile: written after setjmp (by the handlers below) and read after longjmp returns to it. */
    volatile int status;
} es_error_mgr;

static void es_error_exit(j_common_ptr cinfo) {
    es_error_mgr *err = (es_error_mgr *)cinfo->err;
    if (err->status == ES_JPEG_OK) {
        switch (err->base.msg_code) {
        case JERR_BAD_PRECISION:     /* 12-bit or 16-bit samples */
        case JERR_ARITH_NOTIMPL:
        case JERR_NOT_COMPILED:
        case JERR_SOF_UNSUPPORTED:   /* lossless (SOF3), hierarchical and other processes */
            err->status = ES_JPEG_UNSUPPORTED_FEATURE;
            break;
        default:
            err->status = ES_JPEG_CORRUPT;
        }
    }
    longjmp(err->jump, 1);
}

/// Warnings are silent, except premature end of data: a truncated file is an error, not a gray image.
static void es_emit_message(j_common_ptr cinfo, int msg_level) {
    es_error_mgr *err = (es_error_mgr *)cinfo->err;
    if (msg_level < 0 && err->base.msg_code == JWRN_JPEG_EOF) {
        err->status = ES_JPEG_TRUNCATED;
        longjmp(err->jump, 1);
    }
    if (msg_level < 0) err->base.num_warnings++;
}

static void es_output_message(j_common_ptr cinfo) { (void)cinfo; }

/// Called by libjpeg between steps of its passes; stops a progressive file past ES_JPEG_MAX_SCANS
/// scans (libjpeg-turbo's djpeg -maxscans does the same from its progress monitor).
static void es_progress(j_common_ptr cinfo) {
    if (!cinfo->is_decompressor) return;
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (d->input_scan_number > ES_JPEG_MAX_SCANS) {
        es_error_mgr *err = (es_error_mgr *)cinfo->err;
        err->status = ES_JPEG_TOO_MANY_SCANS;
        longjmp(err->jump, 1);
    }
}

/// CMYK samples as libjpeg returns them -> RGB, exactly as Pillow's `Image.open(f).convert("RGB")`:
/// Pillow reads every CMYK JPEG with Adobe's inverted polarity ("CMYK;I": c = 255 - sample; the
/// Adobe marker that Photoshop and libjpeg write means the same), then converts with
/// r = clip(nk - nk * c / 255) where nk = 255 - k, the division rounded as its MULDIV255 does.
/// With inverted samples nk is K's sample itself.
void es_cmyk_to_rgb(const unsigned char *cmyk, unsigned char *rgb, unsigned width) {
    for (unsigned x = 0; x < width; x++) {
        int nk = cmyk[4 * x + 3];
        for (int ch = 0; ch < 3; ch++) {
            int c = 255 - cmyk[4 * x + ch];
            int t = c * nk + 128;
            int v = nk - (((t >> 8) + t) >> 8);
            rgb[3 * x + ch] = (unsigned char)(v < 0 ? 0 : v);
        }
    }
}

void es_jpeg_decode_rgb(const unsigned char *data, size_t size, long max_pixels,
                        unsigned char **out_rgb, es_jpeg_result *result) {
    struct jpeg_decompress_struct cinfo;
    es_error_mgr err;
    struct jpeg_progress_mgr progress;
    memset(&progress, 0, sizeof(progress));
    unsigned char *volatile buffer = NULL;
    unsigned char *volatile cmyk_row = NULL;
    int cmyk = 0;

    memset(result, 0, sizeof(*result));
    *out_rgb = NULL;
    memset(&cinfo, 0, sizeof(cinfo));
    cinfo.err = jpeg_std_error(&err.base);
    err.base.error_exit = es_error_exit;
    err.base.emit_message = es_emit_message;
    err.base.output_message = es_output_message;
    err.status = ES_JPEG_OK;

    if (setjmp(err.jump)) {
        result->status = err.status;
        if (err.status == ES_JPEG_OUT_OF_MEMORY) {
            /* raised by this shim, not libjpeg: msg_code would be stale */
            snprintf(result->message, sizeof(result->message), "cannot allocate %dx%d RGB pixels",
                     result->width, result->height);
        } else if (err.status == ES_JPEG_TOO_MANY_SCANS) {
            snprintf(result->message, sizeof(result->message),
                     "a progressive JPEG of more than %d scans (encoders write about 10; each is a pass over all %dx%d pixels)",
                     ES_JPEG_MAX_SCANS, result->width, result->height);
        } else {
            result->jpeg_msg_code = err.base.msg_code;
            err.base.format_message((j_common_ptr)&cinfo, result->message);
        }
        free(buffer);
        free(cmyk_row);
        jpeg_destroy_decompress(&cinfo);
        return;
    }

    jpeg_CreateDecompress(&cinfo, JPEG_LIB_VERSION, sizeof(cinfo));
    progress.progress_monitor = es_progress;
    cinfo.progress = &progress;
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    result->width = (int)cinfo.image_width;
    result->height = (int)cinfo.image_height;
    result->components = cinfo.num_components;
    result->color_space = (int)cinfo.jpeg_color_space;

    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
    case JCS_YCbCr:
    case JCS_RGB:
        cinfo.out_color_space = JCS_RGB;
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        /* libjpeg turns YCCK into CMYK; the CMYK -> RGB step is ours (below), as Pillow does it. */
        cinfo.out_color_space = JCS_CMYK;
        cmyk = 1;
        break;
    default:
        result->status = ES_JPEG_UNSUPPORTED_COLOR;
        snprintf(result->message, sizeof(result->message),
                 "colour space %d (%d components) is not supported; convert the image to RGB",
                 (int)cinfo.jpeg_color_space, cinfo.num_components);
        jpeg_destroy_decompress(&cinfo);
        return;
    }
    if (max_pixels > 0 && (long)cinfo.image_width * (long)cinfo.image_height > max_pixels) {
        result->status = ES_JPEG_TOO_LARGE;
        snprintf(result->message, sizeof(result->message), "%ux%u pixels is above the limit of %ld",
                 cinfo.image_width, cinfo.image_height, max_pixels);
        jpeg_destroy_decompress(&cinfo);
        return;
    }

    jpeg_start_decompress(&cinfo);
    size_t stride = (size_t)cinfo.output_width * 3;
    buffer = malloc(stride * cinfo.output_height);
    if (buffer == NULL) {
        err.status = ES_JPEG_OUT_OF_MEMORY;
        longjmp(err.jump, 1);
    }
    if (cmyk) {
        cmyk_row = malloc((size_t)cinfo.output_width * 4);
        if (cmyk_row == NULL) {
            err.status = ES_JPEG_OUT_OF_MEMORY;
            longjmp(err.jump, 1);
        }
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        unsigned char *out = buffer + stride * cinfo.output_scanline;
        if (cmyk) {
            JSAMPROW row = cmyk_row;
            jpeg_read_scanlines(&cinfo, &row, 1);
            es_cmyk_to_rgb(cmyk_row, out, cinfo.output_width);
        } else {
            JSAMPROW row = out;
            jpeg_read_scanlines(&cinfo, &row, 1);
        }
    }
    jpeg_finish_decompress(&cinfo);
    free(cmyk_row);
    cmyk_row = NULL;
    result->width = (int)cinfo.output_width;
    result->height = (int)cinfo.output_height;
    jpeg_destroy_decompress(&cinfo);
    *out_rgb = buffer;
    result->status = ES_JPEG_OK;
}
