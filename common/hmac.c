#include "common/hmac.h"

#include "common/hex.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

char *ig_hmac_sha512_hex(const void *key, size_t keylen, const void *data, size_t len,
                         char out[IG_HMAC_SHA512_HEX])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    HMAC(EVP_sha512(), key, (int)keylen, data, len, md, &mdlen);
    return hex_encode(md, mdlen < 64 ? mdlen : 64, out);
}
