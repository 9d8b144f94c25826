/* tls.c — OpenSSL client sessions over memory BIOs (see tls.h for the contract).
 *
 * Each session owns two memory BIOs: "in" holds ciphertext fed by the caller until
 * OpenSSL consumes it, "out" holds ciphertext OpenSSL produced until the caller takes
 * it. An empty "in" BIO reports "retry" rather than EOF, so OpenSSL answers WANT_READ
 * and the caller simply waits for the next read from the network.
 *
 * OpenSSL's error queue is per thread and shared by every session; each operation
 * clears it first so an error is always attributed to the session that caused it. */
#include "export/tls.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct tls_ctx {
    SSL_CTX *ssl_ctx;
};

struct tls_conn {
    SSL *ssl;
    BIO *in;
    BIO *out;
    char alpn[32];
    char error[256];
};

/* The reason of the oldest queued OpenSSL error, or fallback when the queue is empty. */
static const char *queued_reason(const char *fallback)
{
    unsigned long code = ERR_get_error();
    const char *reason = code ? ERR_reason_error_string(code) : NULL;
    ERR_clear_error();
    return reason ? reason : fallback;
}

struct tls_ctx *tls_ctx_new(const char *ca_file, int insecure, char *err, size_t errlen)
{
    ERR_clear_error();
    struct tls_ctx *ctx = calloc(1, sizeof(*ctx));
    if (!ctx) {
        snprintf(err, errlen, "TLS: out of memory");
        return NULL;
    }
    ctx->ssl_ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx->ssl_ctx) {
        snprintf(err, errlen, "TLS: cannot create a context: %s", queued_reason("unknown error"));
        free(ctx);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx->ssl_ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx->ssl_ctx, insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    /* The CA file is read even when insecure, so that a wrong path is reported at
     * startup rather than silently ignored. */
    if (ca_file && ca_file[0]) {
        if (SSL_CTX_load_verify_locations(ctx->ssl_ctx, ca_file, NULL) != 1) {
            snprintf(err, errlen, "cannot load CA certificates from %s: %s", ca_file,
                     queued_reason("no certificate found"));
            tls_ctx_free(ctx);
            return NULL;
        }
    } else if (!insecure && SSL_CTX_set_default_verify_paths(ctx->ssl_ctx) != 1) {
        snprintf(err, errlen, "cannot load the system CA store: %s",
                 queued_reason("unknown error"));
        tls_ctx_free(ctx);
        return NULL;
    }
    return ctx;
}

void tls_ctx_free(struct tls_ctx *ctx)
{
    if (!ctx)
        return;
    SSL_CTX_free(ctx->ssl_ctx);
    free(ctx);
}

/* "h2,http/1.1" → "\x02h2\x08http/1.1" (the wire format OpenSSL takes). */
static int alpn_wire(const char *list, unsigned char *out, size_t outlen, size_t *len)
{
    size_t o = 0;
    const char *p = list;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 0 || n > 255 || o + 1 + n > outlen)
            return -1;
        out[o++] = (unsigned char)n;
        memcpy(out + o, p, n);
        o += n;
        p += n;
        if (*p == ',')
            p++;
    }
    *len = o;
    return 0;
}

static int is_ip_literal(const char *host)
{
    unsigned char addr[16];
    return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

struct tls_conn *tls_conn_new(struct tls_ctx *ctx, const char *host, const char *alpn,
                              char *err, size_t errlen)
{
    ERR_clear_error();
    struct tls_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "TLS: out of memory");
        return NULL;
    }
    c->ssl = SSL_new(ctx->ssl_ctx);
    c->in = BIO_new(BIO_s_mem());
    c->out = BIO_new(BIO_s_mem());
    if (!c->ssl || !c->in || !c->out) {
        snprintf(err, errlen, "TLS: cannot create a session: %s", queued_reason("out of memory"));
        BIO_free(c->in);
        BIO_free(c->out);
        SSL_free(c->ssl);
        free(c);
        return NULL;
    }
    BIO_set_mem_eof_return(c->in, -1);
    SSL_set_bio(c->ssl, c->in, c->out);
    SSL_set_connect_state(c->ssl);

    if (alpn && alpn[0]) {
        unsigned char wire[256];
        size_t len;
        /* SSL_set_alpn_protos returns 0 on success, unlike most of OpenSSL. */
        if (alpn_wire(alpn, wire, sizeof(wire), &len) != 0 ||
            SSL_set_alpn_protos(c->ssl, wire, (unsigned)len) != 0) {
            snprintf(err, errlen, "TLS: bad ALPN protocol list \"%s\"", alpn);
            tls_conn_free(c);
            return NULL;
        }
    }

    int ok;
    if (is_ip_literal(host)) {
        /* RFC 6066 forbids an IP address in SNI; the certificate's IP SAN is checked. */
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), host) == 1;
    } else {
        ok = SSL_set_tlsext_host_name(c->ssl, host) == 1 && SSL_set1_host(c->ssl, host) == 1;
    }
    if (!ok) {
        snprintf(err, errlen, "TLS: cannot use host name \"%s\": %s", host,
                 queued_reason("invalid name"));
        tls_conn_free(c);
        return NULL;
    }
    return c;
}

void tls_conn_free(struct tls_conn *c)
{
    if (!c)
        return;
    /* SSL_free frees the BIOs SSL_set_bio gave it. */
    SSL_free(c->ssl);
    free(c);
}

int tls_feed(struct tls_conn *c, const uint8_t *data, size_t len)
{
    while (len > 0) {
        int chunk = len > INT_MAX ? INT_MAX : (int)len;
        int n = BIO_write(c->in, data, chunk);
        if (n <= 0) {
            snprintf(c->error, sizeof(c->error), "TLS: out of memory");
            return TLS_ERR;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

size_t tls_out_pending(const struct tls_conn *c)
{
    return BIO_ctrl_pending(c->out);
}

size_t tls_take_out(struct tls_conn *c, uint8_t *buf, size_t len)
{
    int chunk = len > INT_MAX ? INT_MAX : (int)len;
    int n = BIO_read(c->out, buf, chunk);
    return n > 0 ? (size_t)n : 0;
}

/* Records why an SSL call failed, in the words an operator can act on. */
static void set_error(struct tls_conn *c, int ssl_err)
{
    long verify = SSL_get_verify_result(c->ssl);
    if (verify != X509_V_OK && SSL_get_verify_mode(c->ssl) != SSL_VERIFY_NONE) {
        snprintf(c->error, sizeof(c->error), "certificate verify failed: %s",
                 X509_verify_cert_error_string(verify));
        ERR_clear_error();
        return;
    }
    if (ssl_err == SSL_ERROR_SYSCALL || ssl_err == SSL_ERROR_ZERO_RETURN) {
        snprintf(c->error, sizeof(c->error), "%s",
                 queued_reason("connection closed during the TLS exchange"));
        return;
    }
    snprintf(c->error, sizeof(c->error), "%s", queued_reason("TLS error"));
}

int tls_handshake(struct tls_conn *c)
{
    ERR_clear_error();
    int rc = SSL_do_handshake(c->ssl);
    if (rc == 1) {
        const unsigned char *proto;
        unsigned len;
        SSL_get0_alpn_selected(c->ssl, &proto, &len);
        if (len >= sizeof(c->alpn))
            len = 0;
        if (len)
            memcpy(c->alpn, proto, len);
        c->alpn[len] = '\0';
        return TLS_OK;
    }
    int e = SSL_get_error(c->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return TLS_WANT;
    set_error(c, e);
    return TLS_ERR;
}

const char *tls_alpn_selected(const struct tls_conn *c)
{
    return c->alpn;
}

ssize_t tls_read(struct tls_conn *c, uint8_t *buf, size_t len)
{
    ERR_clear_error();
    int chunk = len > INT_MAX ? INT_MAX : (int)len;
    int n = SSL_read(c->ssl, buf, chunk);
    if (n > 0)
        return n;
    int e = SSL_get_error(c->ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    if (e == SSL_ERROR_ZERO_RETURN) {
        snprintf(c->error, sizeof(c->error), "peer closed the TLS session");
        return TLS_CLOSED;
    }
    set_error(c, e);
    return TLS_ERR;
}

int tls_write(struct tls_conn *c, const uint8_t *data, size_t len)
{
    ERR_clear_error();
    while (len > 0) {
        int chunk = len > INT_MAX ? INT_MAX : (int)len;
        int n = SSL_write(c->ssl, data, chunk);
        if (n <= 0) {
            set_error(c, SSL_get_error(c->ssl, n));
            return TLS_ERR;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

void tls_close_notify(struct tls_conn *c)
{
    ERR_clear_error();
    if (SSL_is_init_finished(c->ssl))
        SSL_shutdown(c->ssl);
    ERR_clear_error();
}

const char *tls_error(const struct tls_conn *c)
{
    return c->error;
}
