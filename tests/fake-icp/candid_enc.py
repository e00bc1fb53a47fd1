"""A small Candid binary encoder, written from the IDL spec independently
of core/candid.c, so the fake icp's registry replies (and the test
vectors made with it) cross-check the C decoder.

Types are tuples: ("nat",), ("text",), ("principal",), ("opt", T),
("vec", T), ("blob",) for vec nat8, ("record", [(name_or_id, T), ...]),
("variant", [(name_or_id, T), ...]). Values: int, str, bytes, None/value
for opt, list for vec, dict for record (by name or id), (name, value) for
variant; principals are given as text.
"""
import base64
import struct
import zlib

PRIM = {
    "null": -1, "bool": -2, "nat": -3, "int": -4, "nat8": -5, "nat16": -6,
    "nat32": -7, "nat64": -8, "int8": -9, "int16": -10, "int32": -11,
    "int64": -12, "float32": -13, "float64": -14, "text": -15,
    "reserved": -16, "empty": -17, "principal": -24,
}


def idl_hash(name):
    h = 0
    for b in name.encode():
        h = (h * 223 + b) % (1 << 32)
    return h


def field_id(key):
    return key if isinstance(key, int) else idl_hash(key)


def leb(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def sleb(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if (n == 0 and not b & 0x40) or (n == -1 and b & 0x40):
            out.append(b)
            return bytes(out)
        out.append(b | 0x80)


def principal_bytes(text):
    s = text.replace("-", "").upper()
    s += "=" * (-len(s) % 8)
    raw = base64.b32decode(s)
    crc, data = raw[:4], raw[4:]
    if struct.pack(">I", zlib.crc32(data) & 0xFFFFFFFF) != crc:
        raise ValueError("bad principal checksum: " + text)
    return data


def principal_text(data):
    raw = struct.pack(">I", zlib.crc32(data) & 0xFFFFFFFF) + data
    s = base64.b32encode(raw).decode().lower().rstrip("=")
    return "-".join(s[i:i + 5] for i in range(0, len(s), 5))


class Encoder:
    def __init__(self):
        self.table = []
        self.index = {}

    def ref(self, t):
        """The type reference of t: an opcode, or a table index."""
        kind = t[0]
        if kind in PRIM:
            return sleb(PRIM[kind])
        if kind == "blob":
            t = ("vec", ("nat8",))
        key = repr(t)
        if key not in self.index:
            slot = len(self.table)
            self.index[key] = slot
            self.table.append(None)
            if t[0] == "opt":
                body = sleb(-18) + self.ref(t[1])
            elif t[0] == "vec":
                body = sleb(-19) + self.ref(t[1])
            elif t[0] in ("record", "variant"):
                fields = sorted(t[1], key=lambda f: field_id(f[0]))
                body = sleb(-20 if t[0] == "record" else -21) + leb(len(fields))
                for name, ft in fields:
                    body += leb(field_id(name)) + self.ref(ft)
            else:
                raise ValueError("unknown type " + repr(t))
            self.table[slot] = body
        return leb(self.index[key])

    def value(self, t, v):
        kind = t[0]
        if kind in ("null", "reserved"):
            return b""
        if kind == "bool":
            return b"\x01" if v else b"\x00"
        if kind == "nat":
            return leb(v)
        if kind == "int":
            return sleb(v)
        fixed = {"nat8": "<B", "nat16": "<H", "nat32": "<I", "nat64": "<Q",
                 "int8": "<b", "int16": "<h", "int32": "<i", "int64": "<q",
                 "float32": "<f", "float64": "<d"}
        if kind in fixed:
            return struct.pack(fixed[kind], v)
        if kind == "text":
            b = v.encode()
            return leb(len(b)) + b
        if kind == "principal":
            b = principal_bytes(v)
            return b"\x01" + leb(len(b)) + b
        if kind == "blob":
            return leb(len(v)) + bytes(v)
        if kind == "opt":
            return b"\x00" if v is None else b"\x01" + self.value(t[1], v)
        if kind == "vec":
            return leb(len(v)) + b"".join(self.value(t[1], x) for x in v)
        if kind == "record":
            fields = sorted(t[1], key=lambda f: field_id(f[0]))
            return b"".join(self.value(ft, v[name]) for name, ft in fields)
        if kind == "variant":
            fields = sorted(t[1], key=lambda f: field_id(f[0]))
            name, inner = v
            for i, (fname, ft) in enumerate(fields):
                if fname == name:
                    return leb(i) + self.value(ft, inner)
            raise ValueError("no case " + name)
        raise ValueError("cannot encode " + repr(t))


def encode(types, values):
    e = Encoder()
    refs = [e.ref(t) for t in types]
    body = b"".join(e.value(t, v) for t, v in zip(types, values))
    return (b"DIDL" + leb(len(e.table)) + b"".join(e.table) + leb(len(refs))
            + b"".join(refs) + body)


# canic_subnet_registry's reply type.
REGISTRY_RECORD = ("record", [
    ("pid", ("principal",)), ("role", ("text",)),
    ("parent_pid", ("opt", ("principal",))),
    ("module_hash", ("opt", ("blob",))), ("created_at", ("nat64",)),
])
REGISTRY_ENTRY = ("record", [
    ("pid", ("principal",)), ("role", ("text",)), ("record", REGISTRY_RECORD),
])
REGISTRY_ERROR = ("record", [
    ("code", ("variant", [("NotFound", ("null",)), ("Internal", ("null",)),
                          ("Unauthorized", ("null",))])),
    ("message", ("text",)),
])
REGISTRY_REPLY = ("variant", [("Ok", ("vec", REGISTRY_ENTRY)),
                              ("Err", REGISTRY_ERROR)])


def registry_reply(entries):
    """entries: dicts with pid, role, parent_pid (or None), module_hash
    (hex or None), created_at."""
    rows = []
    for e in entries:
        mh = e.get("module_hash")
        rows.append({
            "pid": e["pid"], "role": e["role"],
            "record": {
                "pid": e["pid"], "role": e["role"],
                "parent_pid": e.get("parent_pid"),
                "module_hash": None if mh is None else bytes.fromhex(mh),
                "created_at": e.get("created_at", 0),
            },
        })
    return encode([REGISTRY_REPLY], [("Ok", rows)])


def registry_error(message):
    return encode([REGISTRY_REPLY],
                  [("Err", {"code": ("Internal", None), "message": message})])
