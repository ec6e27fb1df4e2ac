/* HMAC-SHA512 verification for run-task requests. The header is decoded
 * from hex once; a malformed header cannot match but still goes through the
 * same per-key work, so the answer's timing does not depend on the input.
 * Keys never reach a log line: messages name the file, not its content. */
#include "webhook/sig.h"

#include "common/hex.h"
#include "common/hmac.h"
#include "common/log.h"
#include "common/ulid.h"
#include "common/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_KEYS 64
#define MAX_KEY_LEN 1024

struct webhook_keys {
    char **keys;
    size_t *lens;
    size_t n;
};

static webhook_keys *keys_new(void)
{
    return xcalloc(1, sizeof(webhook_keys));
}

static void keys_add(webhook_keys *k, const char *s, size_t len)
{
    k->keys = xrealloc(k->keys, (k->n + 1) * sizeof(char *));
    k->lens = xrealloc(k->lens, (k->n + 1) * sizeof(size_t));
    k->keys[k->n] = xstrndup(s, len);
    k->lens[k->n] = len;
    k->n++;
}

webhook_keys *webhook_keys_from(const char *const *keys, size_t n)
{
    webhook_keys *k = keys_new();
    for (size_t i = 0; i < n; i++)
        keys_add(k, keys[i], strlen(keys[i]));
    return k;
}

void webhook_keys_free(webhook_keys *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < k->n; i++) {
        OPENSSL_cleanse(k->keys[i], k->lens[i]);
        free(k->keys[i]);
    }
    free(k->keys);
    free(k->lens);
    free(k);
}

size_t webhook_keys_count(const webhook_keys *k)
{
    return k ? k->n : 0;
}

const char *webhook_keys_get(const webhook_keys *k, size_t i)
{
    return k && i < k->n ? k->keys[i] : NULL;
}

webhook_keys *webhook_keys_load(const char *path, char *err, size_t errlen)
{
    webhook_keys *k = NULL;
    FILE *f = NULL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    struct stat st;

    f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot read the HMAC key file: %s", path, strerror(errno));
        goto fail;
    }
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077))
        log_warn("event=hmac_keys_mode file=%s mode=%03o msg=\"the HMAC key file is readable by "
                 "other users; chmod 600 it\"",
                 path, (unsigned)(st.st_mode & 0777));
    k = keys_new();
    while ((n = getline(&line, &cap, f)) >= 0) {
        char *s = line;
        size_t len = (size_t)n;
        while (len && isspace((unsigned char)s[len - 1]))
            len--;
        while (len && isspace((unsigned char)*s)) {
            s++;
            len--;
        }
        if (!len)
            continue;
        if (len > MAX_KEY_LEN || k->n >= MAX_KEYS) {
            snprintf(err, errlen, "%s: at most %d keys of at most %d bytes", path, MAX_KEYS,
                     MAX_KEY_LEN);
            goto fail;
        }
        keys_add(k, s, len);
    }
    if (k->n == 0) {
        snprintf(err, errlen, "%s: no HMAC key in the file (one key per line)", path);
        goto fail;
    }
    goto out;
fail:
    webhook_keys_free(k);
    k = NULL;
out:
    if (line) {
        OPENSSL_cleanse(line, cap);
        free(line);
    }
    if (f)
        fclose(f);
    return k;
}

int webhook_keys_generate(const char *path, char *err, size_t errlen)
{
    unsigned char raw[32];
    char hex[sizeof raw * 2 + 2];
    int rc = -1;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return 0;
        snprintf(err, errlen, "%s: cannot create the HMAC key file: %s", path, strerror(errno));
        return -1;
    }
    ig_random_bytes(raw, sizeof raw);
    size_t len = strlen(hex_encode(raw, sizeof raw, hex));
    hex[len++] = '\n';
    if (write(fd, hex, len) != (ssize_t)len || fsync(fd) < 0) {
        snprintf(err, errlen, "%s: cannot write the HMAC key file: %s", path, strerror(errno));
        unlink(path);
        goto out;
    }
    rc = 1;
out:
    OPENSSL_cleanse(raw, sizeof raw);
    OPENSSL_cleanse(hex, sizeof hex);
    close(fd);
    return rc;
}

webhook_sig_result webhook_sig_verify(const webhook_keys *k, const char *header, const void *body,
                                      size_t len)
{
    bool have_header = header && *header;
    if (!k || k->n == 0)
        return have_header ? WEBHOOK_SIG_UNEXPECTED : WEBHOOK_SIG_OK;
    if (!have_header)
        return WEBHOOK_SIG_BAD;

    unsigned char want[64] = {0};
    int wellformed = hex_decode(header, want, sizeof want) == 0;
    int match = 0;
    for (size_t i = 0; i < k->n; i++) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        HMAC(EVP_sha512(), k->keys[i], (int)k->lens[i], body, len, md, &mdlen);
        match |= mdlen == 64 && CRYPTO_memcmp(md, want, 64) == 0;
    }
    return match && wellformed ? WEBHOOK_SIG_OK : WEBHOOK_SIG_BAD;
}

void webhook_sig_sign(const char *key, const void *body, size_t len, char out[129])
{
    ig_hmac_sha512_hex(key, strlen(key), body, len, out);
}
