/*
 * snapfleet: keys for encrypted copies in object storage
 * (libsnapfleet-remote, libsodium). A key pair is two files:
 *
 *   KEYFILE       the identity (mode 0600): the X25519 secret key, its
 *                 public key and the object-name key; it decrypts
 *                 (pull --identity, backup verify --identity)
 *   KEYFILE.pub   the recipient: the public key and the object-name key;
 *                 it encrypts (push --encrypt-to) and cannot decrypt
 *
 * The object-name key names encrypted objects by a keyed hash of their
 * content's SHA-256, so object storage cannot confirm a guess of the
 * content; the recipient file is therefore not for publication: it goes to
 * the machines that push, not to the storage. See snapfleet-push(1).
 */
#ifndef SNAPFLEET_CRYPT_H
#define SNAPFLEET_CRYPT_H

#include "snapfleet/error.h"
#include "snapfleet/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sf_recipient sf_recipient;
typedef struct sf_identity sf_identity;

/* Writes a new key pair: path (the identity, mode 0600) and path.pub (the
 * recipient, mode 0644), each complete or absent (written to a temporary
 * file, fsynced, then linked into place). An existing path or path.pub is
 * never overwritten ("keygen-exists"). */
SF_API int sf_keygen(const char *path, sf_error *err);

/* Reads a recipient file (KEYFILE.pub). An identity file is refused
 * ("crypt-key": give the .pub; the pushing machine needs no secret). */
SF_API int sf_recipient_load(const char *path, sf_recipient **out, sf_error *err);
SF_API void sf_recipient_free(sf_recipient *r);

/* Reads an identity file; refused when others may read it
 * ("crypt-key-mode") or its public key is not its secret key's. */
SF_API int sf_identity_load(const char *path, sf_identity **out, sf_error *err);
SF_API void sf_identity_free(sf_identity *id);

/* The key id (16 bytes, hex): names the key pair in messages. out holds
 * 33 bytes. */
SF_API void sf_recipient_id(const sf_recipient *r, char out[33]);
SF_API void sf_identity_id(const sf_identity *id, char out[33]);

#ifdef __cplusplus
}
#endif

#endif
