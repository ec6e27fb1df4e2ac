/* TLS contexts and the first-start self-signed certificate, with OpenSSL 3
 * APIs only. The cipher list is Mozilla's "intermediate" TLS 1.2 list minus
 * finite-field DHE; TLS 1.3 keeps OpenSSL's default (all AEAD). */
#include "webhook/tls.h"

#include "common/ulid.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char tls12_ciphers[] = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

static void ssl_reason(char *buf, size_t n)
{
    unsigned long e = ERR_get_error();
    if (e)
        ERR_error_string_n(e, buf, n);
    else
        snprintf(buf, n, "unknown TLS error");
    ERR_clear_error();
}

SSL_CTX *webhook_tls_server_ctx(const char *cert_file, const char *key_file, char *err,
                                size_t errlen)
{
    char why[256];
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        ssl_reason(why, sizeof why);
        snprintf(err, errlen, "TLS: %s", why);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_set_cipher_list(ctx, tls12_ciphers) != 1) {
        ssl_reason(why, sizeof why);
        snprintf(err, errlen, "TLS cipher list: %s", why);
        goto fail;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        ssl_reason(why, sizeof why);
        snprintf(err, errlen, "%s: cannot use the certificate: %s", cert_file, why);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        ssl_reason(why, sizeof why);
        snprintf(err, errlen, "%s: cannot use the private key: %s", key_file, why);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ERR_clear_error();
        snprintf(err, errlen, "%s: the key does not match the certificate %s", key_file, cert_file);
        goto fail;
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

static int add_ext(X509 *cert, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, cert, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (!ext)
        return -1;
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}

int webhook_tls_selfsigned(const char *cert_file, const char *key_file, char *err, size_t errlen)
{
    int rc = -1;
    EVP_PKEY *pkey = NULL;
    X509 *cert = NULL;
    FILE *kf = NULL, *cf = NULL;
    int kfd = -1;
    char why[256];
    char host[256] = "localhost";
    char san[600];

    if (access(cert_file, F_OK) == 0 && access(key_file, F_OK) == 0)
        return 0;
    pkey = EVP_EC_gen("P-256");
    cert = X509_new();
    if (!pkey || !cert)
        goto ssl_fail;
    X509_set_version(cert, 2);
    unsigned char serial[16];
    ig_random_bytes(serial, sizeof serial);
    serial[0] &= 0x7f;
    BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
    if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert))) {
        BN_free(bn);
        goto ssl_fail;
    }
    BN_free(bn);
    X509_gmtime_adj(X509_getm_notBefore(cert), -300);
    X509_gmtime_adj(X509_getm_notAfter(cert), 365L * 24 * 3600);
    X509_set_pubkey(cert, pkey);
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"imagegate", -1, -1,
                               0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)host, -1, -1, 0);
    X509_set_issuer_name(cert, name);
    snprintf(san, sizeof san, "DNS:localhost,IP:127.0.0.1,IP:::1%s%s",
             strcmp(host, "localhost") ? ",DNS:" : "", strcmp(host, "localhost") ? host : "");
    if (add_ext(cert, NID_subject_alt_name, san) < 0 ||
        add_ext(cert, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
        add_ext(cert, NID_key_usage, "critical,digitalSignature") < 0 ||
        add_ext(cert, NID_ext_key_usage, "serverAuth") < 0)
        goto ssl_fail;
    if (!X509_sign(cert, pkey, EVP_sha256()))
        goto ssl_fail;

    kfd = open(key_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (kfd < 0 || fchmod(kfd, 0600) < 0 || !(kf = fdopen(kfd, "w"))) {
        snprintf(err, errlen, "%s: cannot write the TLS key: %s", key_file, strerror(errno));
        goto out;
    }
    kfd = -1;
    cf = fopen(cert_file, "w");
    if (!cf) {
        snprintf(err, errlen, "%s: cannot write the certificate: %s", cert_file, strerror(errno));
        goto out;
    }
    if (!PEM_write_PrivateKey(kf, pkey, NULL, NULL, 0, NULL, NULL) || !PEM_write_X509(cf, cert))
        goto ssl_fail;
    if (fflush(kf) != 0 || fflush(cf) != 0) {
        snprintf(err, errlen, "%s: cannot write: %s", cert_file, strerror(errno));
        goto out;
    }
    rc = 1;
    goto out;
ssl_fail:
    ssl_reason(why, sizeof why);
    snprintf(err, errlen, "self-signed certificate %s: %s", cert_file, why);
out:
    if (kfd >= 0)
        close(kfd);
    if (kf)
        fclose(kf);
    if (cf)
        fclose(cf);
    if (rc < 0) {
        unlink(cert_file);
        unlink(key_file);
    }
    X509_free(cert);
    EVP_PKEY_free(pkey);
    return rc;
}
