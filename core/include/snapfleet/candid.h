/*
 * snapfleet: a Candid binary decoder ("DIDL" wire format, the IDL spec's
 * "Binary Format" section), generic over the type table, and the mapping
 * of canic's registry reply onto sf_registry.
 *
 * `icp canister call ... --json` prints the raw reply as hex
 * (`response_bytes`); its text renderings (`response_candid`) are meant for
 * people and change between versions, so the driver decodes the bytes.
 *
 * What is accepted: the magic, a type table of opt, vec, record, variant,
 * func and service entries (field ids strictly increasing), the argument
 * types, then one value per argument, and nothing after them. Values of
 * every primitive type (null, bool, nat, int, nat8..nat64, int8..int64,
 * float32, float64, text, reserved, principal) and of opt, vec, record and
 * variant decode into a value tree; vec nat8 becomes one BLOB value.
 * Refused: func and service values, opaque principal references, values of
 * type empty, future (unknown) type opcodes.
 *
 * Bounds (hostile input): the input size, the type table size, the depth of
 * nested values (recursive types are legal Candid, so a cycle in the type
 * table is bounded by depth rather than refused), the total number of
 * values (so a vec of a zero-size type cannot ask for 2^60 elements), and
 * the length of nat/int literals. Lengths and counts never exceed the bytes
 * left. LEB128 that overflows 64 bits where a length, count, index or
 * opcode is read is refused; redundant zero groups are accepted, as the
 * Rust reference decoder accepts them.
 *
 * Errors: "candid-syntax" (malformed; field "byte N" names the offset),
 * "candid-limit" (a bound was hit), "candid-unsupported", "candid-schema"
 * (well-formed Candid that is not the shape a mapping expects; field is the
 * path, e.g. "Ok[2].record.parent_pid"), "registry-err" (the registry
 * answered Err), "out-of-memory".
 */
#ifndef SNAPFLEET_CANDID_H
#define SNAPFLEET_CANDID_H

#include "snapfleet/export.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapfleet/error.h"
#include "snapfleet/registry.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sf_candid_kind {
    SF_CANDID_NULL,
    SF_CANDID_BOOL,
    SF_CANDID_NAT,
    SF_CANDID_INT,
    SF_CANDID_NAT8,
    SF_CANDID_NAT16,
    SF_CANDID_NAT32,
    SF_CANDID_NAT64,
    SF_CANDID_INT8,
    SF_CANDID_INT16,
    SF_CANDID_INT32,
    SF_CANDID_INT64,
    SF_CANDID_FLOAT32,
    SF_CANDID_FLOAT64,
    SF_CANDID_TEXT,
    SF_CANDID_RESERVED,
    SF_CANDID_PRINCIPAL,
    SF_CANDID_OPT,
    SF_CANDID_VEC,
    SF_CANDID_BLOB, /* vec nat8 */
    SF_CANDID_RECORD,
    SF_CANDID_VARIANT
} sf_candid_kind;

/* "null", "bool", "nat", ..., "blob", "record", "variant". */
SF_API const char *sf_candid_kind_name(sf_candid_kind kind);

typedef struct sf_candid_field sf_candid_field;

typedef struct sf_candid_value {
    sf_candid_kind kind;
    bool b;          /* BOOL */
    bool fits;       /* NAT, INT: the value fits u / i */
    uint64_t u;      /* NAT8..NAT64, NAT when fits */
    int64_t i;       /* INT8..INT64, INT when fits */
    double f;        /* FLOAT32 (widened), FLOAT64 */
    /* TEXT: the UTF-8 text (it may hold U+0000: use text_len);
     * NAT, INT: decimal digits, "-" first when negative;
     * PRINCIPAL: its canonical text. NUL-terminated. */
    char *text;
    size_t text_len;
    uint8_t *bytes;  /* BLOB, PRINCIPAL (raw) */
    size_t byte_len;
    struct sf_candid_value *items; /* OPT: 0 or 1; VEC */
    size_t count;
    sf_candid_field *fields; /* RECORD: every field in id order;
                              * VARIANT: the one case present */
    size_t field_count;
    size_t variant_index; /* VARIANT: the case's position in its type */
} sf_candid_value;

struct sf_candid_field {
    uint32_t id; /* sf_candid_idl_hash(name), or the position in a tuple */
    sf_candid_value value;
};

/* The decoded argument (or reply) tuple. */
typedef struct sf_candid_args {
    sf_candid_value *values;
    size_t count;
} sf_candid_args;

typedef struct sf_candid_limits {
    size_t max_bytes;     /* whole message */
    size_t max_types;     /* type table entries */
    size_t max_depth;     /* nesting of values */
    size_t max_values;    /* values decoded in all */
    size_t max_nat_bytes; /* LEB128 bytes of one nat or int */
} sf_candid_limits;

#define SF_CANDID_DEFAULT_MAX_BYTES ((size_t)16 << 20)
#define SF_CANDID_DEFAULT_MAX_TYPES 4096
#define SF_CANDID_DEFAULT_MAX_DEPTH 64
#define SF_CANDID_DEFAULT_MAX_VALUES ((size_t)1 << 20)
#define SF_CANDID_DEFAULT_MAX_NAT_BYTES 1024

/* The defaults above. */
SF_API sf_candid_limits sf_candid_default_limits(void);

/* Candid's field-name hash: sum of byte * 223^(k-i) mod 2^32. */
SF_API uint32_t sf_candid_idl_hash(const char *name);

/* Decodes a whole message. limits may be NULL (the defaults). On failure
 * *out is empty. Release with sf_candid_args_free. */
SF_API int sf_candid_decode(const void *data, size_t len,
                            const sf_candid_limits *limits, sf_candid_args *out,
                            sf_error *err);
SF_API void sf_candid_args_free(sf_candid_args *args);

/* A record's field, or a variant's case when it is the one present, by
 * name or by id; NULL when absent or v is neither. */
SF_API const sf_candid_value *sf_candid_field_get(const sf_candid_value *v,
                                                  const char *name);
SF_API const sf_candid_value *sf_candid_field_by_id(const sf_candid_value *v,
                                                    uint32_t id);

/*
 * canic_subnet_registry's reply,
 *   Result<vec record {pid: principal; role: text;
 *                      record: record {pid: principal; role: text;
 *                                      parent_pid: opt principal;
 *                                      module_hash: opt blob;
 *                                      created_at: nat64}},
 *          record {code: variant {...}; message: text}>
 * onto registry entries, in order: pid and role from the entry, parent_pid
 * and module_hash (lower-case hex) from its record, kind absent (canic
 * 0.35.10 never finds one on the wire). Other fields are ignored. Err is
 * "registry-err" with the registry's message; any other shape is
 * "candid-schema" naming the path.
 */
SF_API int sf_candid_registry_from_value(const sf_candid_value *reply,
                                         sf_registry *out, sf_error *err);
/* Decode + map: the first value of the reply. */
SF_API int sf_candid_registry_from_reply(const void *data, size_t len,
                                         sf_registry *out, sf_error *err);

#ifdef __cplusplus
}
#endif

#endif
