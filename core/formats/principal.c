/*
 * Principal text as ic_principal's from_text/to_text: CRC32 (zlib's) of the
 * data, big-endian, prepended; base32 lower case without padding; a dash
 * after every five characters. Parsing decodes leniently and then insists
 * that re-encoding gives back the input (case aside), which is what makes
 * the grouping and the trailing bits exact.
 */
#include "snapfleet/principal.h"

#include <string.h>
#include <zlib.h>

static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";

static int b32_value(char c)
{
    if (c >= 'a' && c <= 'z')
        return c - 'a';
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= '2' && c <= '7')
        return c - '2' + 26;
    return -1;
}

static void encode(const uint8_t *data, size_t len, char *buf)
{
    uint8_t raw[4 + SF_PRINCIPAL_MAX_BYTES];
    uint32_t crc = (uint32_t)crc32(0L, data, (uInt)len);
    size_t n = 4 + len, i, chars = 0;
    unsigned acc = 0;
    int bits = 0;
    char *o = buf;

    raw[0] = (uint8_t)(crc >> 24);
    raw[1] = (uint8_t)(crc >> 16);
    raw[2] = (uint8_t)(crc >> 8);
    raw[3] = (uint8_t)crc;
    if (len > 0)
        memcpy(raw + 4, data, len);
    for (i = 0; i < n; i++) {
        acc = (acc << 8) | raw[i];
        bits += 8;
        while (bits >= 5) {
            if (chars > 0 && chars % 5 == 0)
                *o++ = '-';
            *o++ = b32[(acc >> (bits - 5)) & 31];
            chars++;
            bits -= 5;
        }
    }
    if (bits > 0) {
        if (chars > 0 && chars % 5 == 0)
            *o++ = '-';
        *o++ = b32[(acc << (5 - bits)) & 31];
    }
    *o = '\0';
}

static int invalid(sf_error *err, const char *text, const char *why)
{
    return sf_error_set(err, "invalid-principal", "",
                        "invalid principal text `%s`: %s", text, why);
}

int sf_principal_from_text(const char *text, sf_principal *out, sf_error *err)
{
    uint8_t raw[64];
    char canon[SF_PRINCIPAL_TEXT_MAX];
    size_t n = 0, i, tlen = strlen(text);
    unsigned acc = 0;
    int bits = 0;
    uint32_t crc;

    /* 33 raw bytes are 53 characters plus 10 dashes; anything longer cannot
     * be canonical and would only make us decode more. */
    if (tlen >= SF_PRINCIPAL_TEXT_MAX)
        return invalid(err, text, "too long");
    for (i = 0; i < tlen; i++) {
        int v;

        if (text[i] == '-')
            continue;
        v = b32_value(text[i]);
        if (v < 0)
            return invalid(err, text, "not base32");
        acc = (acc << 5) | (unsigned)v;
        bits += 5;
        if (bits >= 8) {
            raw[n++] = (uint8_t)(acc >> (bits - 8));
            bits -= 8;
        }
        acc &= 0xFF;
    }
    if (n < 4)
        return invalid(err, text, "too short");
    if (n - 4 > SF_PRINCIPAL_MAX_BYTES)
        return invalid(err, text, "more than 29 bytes");
    crc = (uint32_t)crc32(0L, raw + 4, (uInt)(n - 4));
    if (raw[0] != (uint8_t)(crc >> 24) || raw[1] != (uint8_t)(crc >> 16) ||
        raw[2] != (uint8_t)(crc >> 8) || raw[3] != (uint8_t)crc)
        return invalid(err, text, "checksum mismatch");
    encode(raw + 4, n - 4, canon);
    if (strlen(canon) != tlen)
        return invalid(err, text, "not in canonical form");
    for (i = 0; i < tlen; i++) {
        char c = text[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != canon[i])
            return invalid(err, text, "not in canonical form");
    }
    if (out != NULL) {
        out->len = n - 4;
        memcpy(out->bytes, raw + 4, n - 4);
    }
    return SF_OK;
}

bool sf_principal_is_valid(const char *text)
{
    return text != NULL && sf_principal_from_text(text, NULL, NULL) == SF_OK;
}

void sf_principal_to_text(const sf_principal *p, char *buf)
{
    encode(p->bytes, p->len, buf);
}

int sf_principal_text_from_bytes(const uint8_t *bytes, size_t len, char *buf,
                                 sf_error *err)
{
    if (len > SF_PRINCIPAL_MAX_BYTES)
        return sf_error_set(err, "invalid-principal", "",
                            "principal of %zu bytes exceeds 29 bytes", len);
    encode(bytes, len, buf);
    return SF_OK;
}

int sf_principal_canonical(const char *text, char *buf, sf_error *err)
{
    sf_principal p;

    if (sf_principal_from_text(text, &p, err) != SF_OK)
        return SF_ERR;
    sf_principal_to_text(&p, buf);
    return SF_OK;
}
