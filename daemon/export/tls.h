/* tls.h — a small OpenSSL client wrapper driven by memory BIOs, so that a TLS session
 * runs over any byte stream (a libuv TCP handle here) without OpenSSL touching a socket.
 *
 * The caller moves bytes both ways: ciphertext read from the network goes in with
 * tls_feed(); ciphertext OpenSSL wants sent (handshake records, encrypted data, alerts)
 * comes out with tls_take_out() after every call that may produce it (tls_handshake,
 * tls_read, tls_write, tls_close_notify). Nothing here blocks or allocates per byte.
 *
 * Security defaults: TLS 1.2 or newer; the peer certificate is verified against the
 * system CA store, or against the PEM file given; the host name is checked (SNI sent
 * for names, IP addresses checked against the certificate's IP entries). insecure
 * skips verification, nothing else. Errors are one line, e.g.
 *   "certificate verify failed: unable to get local issuer certificate"
 *   "certificate verify failed: hostname mismatch" */
#ifndef SPANRELAY_TLS_H
#define SPANRELAY_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum tls_status {
    TLS_OK = 0,
    TLS_WANT = 1,     /* needs more ciphertext from the peer */
    TLS_ERR = -1,     /* failed; tls_error() says why */
    TLS_CLOSED = -2,  /* the peer ended the session (close_notify) */
};

struct tls_ctx;
struct tls_conn;

/* A client context. ca_file: PEM bundle to trust instead of the system store (NULL or
 * "" for the system store); it is read now, so an unreadable file fails here. insecure:
 * 1 to accept any certificate and name. NULL with a message in err on failure. */
struct tls_ctx *tls_ctx_new(const char *ca_file, int insecure, char *err, size_t errlen);
void tls_ctx_free(struct tls_ctx *ctx);

/* A client session for host (a DNS name or an IP address literal, no brackets) that
 * offers the comma-separated ALPN protocols in alpn ("h2"; NULL or "" for none). */
struct tls_conn *tls_conn_new(struct tls_ctx *ctx, const char *host, const char *alpn,
                              char *err, size_t errlen);
void tls_conn_free(struct tls_conn *c);

/* Ciphertext received from the peer. 0, or TLS_ERR when out of memory. */
int tls_feed(struct tls_conn *c, const uint8_t *data, size_t len);

/* Ciphertext waiting to be sent, and taking up to len bytes of it (returns how many). */
size_t tls_out_pending(const struct tls_conn *c);
size_t tls_take_out(struct tls_conn *c, uint8_t *buf, size_t len);

/* Advances the handshake: TLS_OK when complete, TLS_WANT, or TLS_ERR. */
int tls_handshake(struct tls_conn *c);

/* The ALPN protocol the server selected ("" when none); valid while c lives. */
const char *tls_alpn_selected(const struct tls_conn *c);

/* Decrypts up to len bytes into buf: the count (> 0), 0 when more ciphertext is
 * needed, TLS_CLOSED or TLS_ERR. */
ssize_t tls_read(struct tls_conn *c, uint8_t *buf, size_t len);

/* Encrypts all of data (after the handshake). 0 or TLS_ERR. */
int tls_write(struct tls_conn *c, const uint8_t *data, size_t len);

/* Queues a close_notify alert, best effort. */
void tls_close_notify(struct tls_conn *c);

/* Why the last call returned TLS_ERR (or TLS_CLOSED). */
const char *tls_error(const struct tls_conn *c);

#endif
