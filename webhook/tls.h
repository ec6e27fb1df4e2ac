/* The server side of TLS: a hardened SSL_CTX from a certificate chain and
 * key, and a self-signed certificate for first starts. Only webhook/ uses
 * OpenSSL's TLS layer. An SSL_CTX is reference-counted by OpenSSL: the server
 * swaps in a new one on SIGHUP (loop thread) and frees its own reference to
 * the old one, which lives on until its last connection closes. */
#ifndef IG_WEBHOOK_TLS_H
#define IG_WEBHOOK_TLS_H

#include <stddef.h>
#include <openssl/ssl.h>

/* TLS 1.2 and 1.3 only; TLS 1.2 limited to ECDHE with AEAD ciphers (AES-GCM,
 * ChaCha20-Poly1305); no compression, no renegotiation. Checks that the key
 * matches the certificate. Returns a new context or NULL with
 * "FILE: reason" in err. Any thread. */
SSL_CTX *webhook_tls_server_ctx(const char *cert_file, const char *key_file, char *err,
                                size_t errlen);

/* Makes a self-signed certificate (EC P-256, SHA-256, one year, SAN
 * localhost, 127.0.0.1, ::1 and the host name) at cert_file with its key at
 * key_file (mode 0600) unless both exist. Returns 1 when it made them, 0
 * when they were there, -1 with err. */
int webhook_tls_selfsigned(const char *cert_file, const char *key_file, char *err, size_t errlen);

#endif
