/* The SBOM's wire form (sbom.h): base64 of zstd frames, as Packer's
 * hcp-sbom provisioner sends compressed_sbom (klauspost/compress's
 * EncodeAll at its best level: one frame, content size recorded).
 *
 * Decompression is libzstd's streaming API into a 64 KiB buffer that is
 * handed to the parser (or appended to the output) chunk by chunk, so the
 * cap on the decompressed size (--max-sbom-bytes) stops a bomb after at
 * most that many bytes of work. Two more guards come before any output:
 * a frame whose header declares a larger content size is refused at once,
 * and the window a frame may ask for is bounded by the cap (rounded up to
 * a power of two), so a 20-byte frame cannot make us allocate a gigabyte.
 * Base64 and SHA-256 are OpenSSL's (EVP). */
#include "sbom/sbom.h"

#include "common/xalloc.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include <zstd_errors.h>

#define CHUNK (64 * 1024)

typedef int (*sink_fn)(void *arg, const void *buf, size_t len, char *err, size_t errlen);

/* ---- zstd --------------------------------------------------------------- */

static unsigned window_log_for(uint64_t max)
{
    unsigned log = 10; /* ZSTD_WINDOWLOG_ABSOLUTEMIN */
    while (log < 31 && (1ULL << log) < max)
        log++;
    return log;
}

/* Refuses a frame whose header declares more than max bytes. */
static int check_declared(const void *z, size_t zlen, uint64_t max, char *err, size_t errlen)
{
    unsigned long long declared = ZSTD_getFrameContentSize(z, zlen);
    if (declared == ZSTD_CONTENTSIZE_ERROR) {
        snprintf(err, errlen, "compressed_sbom: not a zstd frame (base64 of zstd-compressed JSON)");
        return -1;
    }
    if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared > max) {
        snprintf(err, errlen,
                 "the SBOM decompresses to %llu bytes, more than %llu (--max-sbom-bytes); refused",
                 declared, (unsigned long long)max);
        return -2;
    }
    return 0;
}

static int zstd_fail(size_t rc, uint64_t max, char *err, size_t errlen)
{
    if (ZSTD_getErrorCode(rc) == ZSTD_error_frameParameter_windowTooLarge) {
        snprintf(err, errlen,
                 "compressed_sbom: the zstd frame asks for a window larger than --max-sbom-bytes "
                 "(%llu)",
                 (unsigned long long)max);
        return -2;
    }
    snprintf(err, errlen, "compressed_sbom: zstd: %s", ZSTD_getErrorName(rc));
    return -1;
}

/* Streams the frames of z into sink, at most max bytes. */
static int inflate(const void *z, size_t zlen, uint64_t max, sink_fn sink, void *arg, char *err,
                   size_t errlen)
{
    if (zlen == 0) {
        snprintf(err, errlen, "compressed_sbom: empty");
        return -1;
    }
    int declared = check_declared(z, zlen, max, err, errlen);
    if (declared < 0)
        return declared;
    ZSTD_DCtx *dc = ZSTD_createDCtx();
    ZSTD_DCtx_setParameter(dc, ZSTD_d_windowLogMax, (int)window_log_for(max));
    char *buf = xmalloc(CHUNK);
    ZSTD_inBuffer in = {z, zlen, 0};
    uint64_t total = 0;
    size_t rc = 1;
    int out = -1;
    while (in.pos < in.size || rc != 0) {
        ZSTD_outBuffer ob = {buf, CHUNK, 0};
        size_t before = in.pos;
        rc = ZSTD_decompressStream(dc, &ob, &in);
        if (ZSTD_isError(rc)) {
            out = zstd_fail(rc, max, err, errlen);
            goto done;
        }
        total += ob.pos;
        if (total > max) {
            snprintf(err, errlen,
                     "the SBOM decompresses to more than %llu bytes (--max-sbom-bytes); refused",
                     (unsigned long long)max);
            out = -2;
            goto done;
        }
        int rc2 = ob.pos ? sink(arg, buf, ob.pos, err, errlen) : 0;
        if (rc2 < 0) {
            out = rc2;
            goto done;
        }
        if (in.pos == before && ob.pos == 0 && in.pos == in.size) {
            snprintf(err, errlen, "compressed_sbom: the zstd frame is truncated");
            out = -1;
            goto done;
        }
    }
    out = 0;
done:
    free(buf);
    ZSTD_freeDCtx(dc);
    return out;
}

typedef struct parse_sink {
    sbom_parser *p;
    EVP_MD_CTX *md;
} parse_sink;

static int to_parser(void *arg, const void *buf, size_t len, char *err, size_t errlen)
{
    parse_sink *s = arg;
    EVP_DigestUpdate(s->md, buf, len);
    return sbom_parser_feed(s->p, buf, len, err, errlen);
}

static void digest_hex(EVP_MD_CTX *md, char out[65])
{
    unsigned char h[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_DigestFinal_ex(md, h, &n);
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < n && i < 32; i++) {
        out[2 * i] = digits[h[i] >> 4];
        out[2 * i + 1] = digits[h[i] & 15];
    }
    out[64] = '\0';
}

int sbom_parse_zstd(const void *z, size_t zlen, const sbom_limits *lim, sbom_doc *out, char *err,
                    size_t errlen)
{
    sbom_limits l = lim ? *lim : (sbom_limits){0};
    if (!l.max_json_bytes)
        l.max_json_bytes = SBOM_DEFAULT_MAX_BYTES;
    parse_sink s = {sbom_parser_new(&l), EVP_MD_CTX_new()};
    EVP_DigestInit_ex(s.md, EVP_sha256(), NULL);
    int rc = inflate(z, zlen, l.max_json_bytes, to_parser, &s, err, errlen);
    if (rc == 0)
        rc = sbom_parser_finish(s.p, out, err, errlen);
    else
        memset(out, 0, sizeof *out), arena_init(&out->strings);
    rc = rc < 0 ? rc : 0;
    if (rc == 0)
        digest_hex(s.md, out->sha256);
    EVP_MD_CTX_free(s.md);
    sbom_parser_free(s.p);
    return rc;
}

typedef struct grow_sink {
    char *buf;
    size_t len, cap;
} grow_sink;

static int to_buffer(void *arg, const void *buf, size_t len, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    grow_sink *g = arg;
    if (g->len + len + 1 > g->cap) {
        while (g->len + len + 1 > g->cap)
            g->cap = g->cap ? g->cap * 2 : CHUNK;
        g->buf = xrealloc(g->buf, g->cap);
    }
    memcpy(g->buf + g->len, buf, len);
    g->len += len;
    return 0;
}

int sbom_zstd_decompress(const void *z, size_t zlen, uint64_t max, char **out, size_t *outlen,
                         char *err, size_t errlen)
{
    grow_sink g = {0};
    *out = NULL;
    *outlen = 0;
    unsigned long long declared = zlen ? ZSTD_getFrameContentSize(z, zlen) : 0;
    if (declared != ZSTD_CONTENTSIZE_ERROR && declared != ZSTD_CONTENTSIZE_UNKNOWN &&
        declared <= max) {
        g.cap = (size_t)declared + 1; /* one allocation for Packer's single frame */
        g.buf = xmalloc(g.cap);
    }
    if (inflate(z, zlen, max, to_buffer, &g, err, errlen) < 0) {
        free(g.buf);
        return -1;
    }
    to_buffer(&g, "", 0, err, errlen); /* room for the NUL */
    g.buf[g.len] = '\0';
    *out = g.buf;
    *outlen = g.len;
    return 0;
}

int sbom_zstd_compress(const void *src, size_t len, void **out, size_t *outlen, char *err,
                       size_t errlen)
{
    size_t cap = ZSTD_compressBound(len);
    void *buf = xmalloc(cap ? cap : 1);
    size_t rc = ZSTD_compress(buf, cap, src, len, 9);
    if (ZSTD_isError(rc)) {
        free(buf);
        snprintf(err, errlen, "zstd: %s", ZSTD_getErrorName(rc));
        return -1;
    }
    *out = buf;
    *outlen = rc;
    return 0;
}

/* ---- base64 ------------------------------------------------------------- */

char *sbom_b64_encode(const void *src, size_t len)
{
    char *out = xmalloc(4 * ((len + 2) / 3) + 1);
    size_t o = 0;
    /* EVP_EncodeBlock takes an int length: large inputs go in slices of a
     * multiple of 3 bytes, so the pieces join without padding between them */
    for (size_t done = 0; done < len;) {
        size_t n = len - done > ((size_t)3 << 28) ? ((size_t)3 << 28) : len - done;
        o += (size_t)EVP_EncodeBlock((unsigned char *)out + o, (const unsigned char *)src + done,
                                     (int)n);
        done += n;
    }
    out[o] = '\0';
    return out;
}

static bool b64_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

int sbom_b64_decode(const char *b64, size_t len, unsigned char **out, size_t *outlen, char *err,
                    size_t errlen)
{
    *out = NULL;
    *outlen = 0;
    size_t pad = 0;
    while (pad < 2 && len > pad && b64[len - 1 - pad] == '=')
        pad++;
    bool ok = len % 4 == 0;
    for (size_t i = 0; ok && i < len - pad; i++)
        ok = b64_char((unsigned char)b64[i]);
    if (!ok) {
        snprintf(err, errlen,
                 "compressed_sbom: not standard base64 (A-Z a-z 0-9 + /, padded with '=')");
        return -1;
    }
    unsigned char *buf = xmalloc(len / 4 * 3 + 1);
    size_t o = 0;
    for (size_t done = 0; done < len;) {
        size_t n = len - done > (size_t)1 << 30 ? (size_t)1 << 30 : len - done; /* 4 | 2^30 */
        int got = EVP_DecodeBlock(buf + o, (const unsigned char *)b64 + done, (int)n);
        if (got < 0) {
            free(buf);
            snprintf(err, errlen, "compressed_sbom: not valid base64");
            return -1;
        }
        o += (size_t)got;
        done += n;
    }
    *out = buf;
    *outlen = o - pad; /* EVP_DecodeBlock counts the padding as zero bytes */
    return 0;
}
