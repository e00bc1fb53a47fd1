/*
 * The simulator's randomness and the memory contents it generates.
 *
 * splitmix64 (seeding, mixing) and xoshiro256** (streams), both by
 * Blackman and Vigna, public domain. Written out here, not taken from the
 * C library, because rand() and random() differ between libcs: the same
 * seed must give the same fleet and the same bytes on every machine.
 * Words are serialised little-endian explicitly for the same reason.
 *
 * Content bytes are a pure function of (seed, part, size), produced as
 * they are read: a 4 GiB heap costs a read buffer, not 4 GiB.
 */
#include "sim_internal.h"

#include <stdlib.h>
#include <string.h>

uint64_t sf_sim_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t sf_sim_mix(uint64_t a, uint64_t b)
{
    uint64_t s = a ^ (b * 0xd6e8feb86659fd93ull);

    return sf_sim_splitmix64(&s);
}

uint64_t sf_sim_hash_text(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

void sf_sim_rng_seed(sim_rng *r, uint64_t seed)
{
    uint64_t sm = seed;
    int i;

    for (i = 0; i < 4; i++)
        r->s[i] = sf_sim_splitmix64(&sm);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t sf_sim_rng_next(sim_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t sf_sim_rng_range(sim_rng *r, uint64_t lo, uint64_t hi)
{
    uint64_t span, threshold, x;

    if (hi <= lo)
        return lo;
    span = hi - lo + 1;
    if (span == 0) /* the whole 64-bit range */
        return sf_sim_rng_next(r);
    threshold = (0 - span) % span; /* reject the biased low values */
    do {
        x = sf_sim_rng_next(r);
    } while (x < threshold);
    return lo + x % span;
}

/* ---- streams ---- */

static const uint8_t wasm_header[8] = {0x00, 0x61, 0x73, 0x6d,
                                       0x01, 0x00, 0x00, 0x00};

void sf_sim_stream_init(sim_stream *st, uint64_t seed, uint64_t part,
                        uint64_t size)
{
    memset(st, 0, sizeof *st);
    sf_sim_rng_seed(&st->rng, sf_sim_mix(seed, part));
    st->left = size;
    /* Modules look like wasm to anything that sniffs them. */
    st->wasm_header = part == SIM_PART_MODULE;
}

size_t sf_sim_stream_read(sim_stream *st, uint8_t *buf, size_t cap)
{
    size_t n = 0;

    if ((uint64_t)cap > st->left)
        cap = (size_t)st->left;
    while (n < cap && st->wasm_header && st->header_pos < 8)
        buf[n++] = wasm_header[st->header_pos++];
    while (n < cap) {
        if (st->word_left == 0) {
            uint64_t w = sf_sim_rng_next(&st->rng);
            int i;

            /* Whole words straight into the buffer when they fit. */
            while (cap - n >= 8) {
                for (i = 0; i < 8; i++)
                    buf[n + (size_t)i] = (uint8_t)(w >> (8 * i));
                n += 8;
                w = sf_sim_rng_next(&st->rng);
            }
            for (i = 0; i < 8; i++)
                st->word[i] = (uint8_t)(w >> (8 * i));
            st->word_left = 8;
            continue;
        }
        buf[n++] = st->word[8 - st->word_left];
        st->word_left--;
    }
    st->left -= n;
    return n;
}

uint64_t sf_sim_chunk_size(const sim_image *img, uint64_t i)
{
    if (img->chunk_count == 0)
        return 0;
    return img->chunk_bytes / img->chunk_count +
           (i < img->chunk_bytes % img->chunk_count ? 1 : 0);
}

#define DIGEST_BUF (256u * 1024u)

static int stream_into(sf_sha256 *h, uint8_t *buf, uint64_t seed,
                       uint64_t part, uint64_t size)
{
    sim_stream st;
    size_t n;

    sf_sim_stream_init(&st, seed, part, size);
    while ((n = sf_sim_stream_read(&st, buf, DIGEST_BUF)) > 0)
        if (sf_sha256_update(h, buf, n) != SF_OK)
            return SF_ERR;
    return SF_OK;
}

static int digest_parts(uint64_t seed, const uint64_t *parts,
                        const uint64_t *sizes, size_t count,
                        char out[SF_SHA256_HEX_SIZE], sf_error *err)
{
    sf_sha256 *h = sf_sha256_new();
    uint8_t *buf = malloc(DIGEST_BUF);
    size_t i;
    int rc = SF_OK;

    if (h == NULL || buf == NULL)
        rc = sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    for (i = 0; i < count && rc == SF_OK; i++)
        if (stream_into(h, buf, seed, parts[i], sizes[i]) != SF_OK)
            rc = sf_error_set(err, SF_EK_NOMEM, "", "SHA-256 failed");
    if (rc == SF_OK && sf_sha256_final(h, out) != SF_OK)
        rc = sf_error_set(err, SF_EK_NOMEM, "", "SHA-256 failed");
    sf_sha256_free(h);
    free(buf);
    return rc;
}

int sf_sim_stream_sha256(uint64_t seed, uint64_t part, uint64_t size,
                         char out[SF_SHA256_HEX_SIZE], sf_error *err)
{
    return digest_parts(seed, &part, &size, 1, out, err);
}

int sf_sim_memory_digest(const sim_image *img, char out[SF_SHA256_HEX_SIZE],
                         sf_error *err)
{
    const uint64_t parts[2] = {SIM_PART_HEAP, SIM_PART_STABLE};
    const uint64_t sizes[2] = {img->heap_size, img->stable_size};

    if (img->opaque) {
        memcpy(out, img->digest, SF_SHA256_HEX_SIZE);
        return SF_OK;
    }
    return digest_parts(img->seed, parts, sizes, 2, out, err);
}

static void small_part(const sim_image *img, uint64_t part, uint8_t *out,
                       size_t n)
{
    sim_stream st;

    sf_sim_stream_init(&st, img->seed, part, n);
    sf_sim_stream_read(&st, out, n);
}

int32_t sf_sim_global_i32(const sim_image *img)
{
    uint8_t b[12];

    small_part(img, SIM_PART_GLOBALS, b, sizeof b);
    return (int32_t)((uint32_t)b[0] | (uint32_t)b[1] << 8 |
                     (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24);
}

int64_t sf_sim_global_i64(const sim_image *img)
{
    uint8_t b[12];
    uint64_t v = 0;
    int i;

    small_part(img, SIM_PART_GLOBALS, b, sizeof b);
    for (i = 0; i < 8; i++)
        v |= (uint64_t)b[4 + i] << (8 * i);
    return (int64_t)v;
}

void sf_sim_certified_data(const sim_image *img, uint8_t out[32])
{
    small_part(img, SIM_PART_CERT, out, 32);
}

uint64_t sf_sim_module_seed(uint64_t fleet_seed, const char *role,
                            uint64_t version)
{
    return sf_sim_mix(sf_sim_mix(fleet_seed, sf_sim_hash_text(role)),
                      version);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int sf_sim_hex_to_bytes(const char *hex, uint8_t *out, size_t n)
{
    size_t i;

    if (strlen(hex) != 2 * n)
        return SF_ERR;
    for (i = 0; i < n; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return SF_ERR;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return SF_OK;
}
