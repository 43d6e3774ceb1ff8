#!/usr/bin/env python3
"""Writes in flight through a whole-cluster crash (driven by
crates/holdfast/tests/restart.rs; docs/durability.md):

    crash.py open STATE    writes files crash-NNN.bin of CHUNKS chunks of
                           CHUNK_BYTES, each chunk a pattern of its own;
                           FLUSHes the first FLUSHED files and records
                           their names in STATE, prints READY, then goes
                           on writing new files (plain writes, no FLUSH)
                           until the cluster dies under it.
    crash.py check STATE   after the restart: every flushed file reads back
                           whole; every file's every block holds either
                           the bytes written there or zeros (never bytes
                           that were not written to it).

Environment as for test_persistent.py.
"""

import json
import sys
import uuid

from smbprotocol.open import CreateDisposition

from failover import connect_retrying
from test_persistent import check, connect, create

CHUNK_BYTES = 65536
CHUNKS = 8
FLUSHED = 3
BLOCK = 4096
FILES_MAX = 400


def name(k):
    return f"crash-{k:03}.bin"


def chunk(k, i):
    """File k's chunk i: distinct per file and chunk."""
    return bytes(((k * 31 + i * 7 + j) ^ (j >> 9)) & 0xFF for j in range(CHUNK_BYTES))


def write_file(tree, k, flush):
    f, _ = create(tree, name(k), [])
    for i in range(CHUNKS):
        f.write(chunk(k, i), i * CHUNK_BYTES)
    if flush:
        f.flush()
    f.close()


def main():
    phase, state = sys.argv[1], sys.argv[2]
    if phase == "open":
        conn, _, tree = connect(uuid.uuid4())
        for k in range(FLUSHED):
            write_file(tree, k, flush=True)
        with open(state, "w") as out:
            json.dump({"flushed": [name(k) for k in range(FLUSHED)]}, out)
        print("READY", flush=True)
        try:
            for k in range(FLUSHED, FILES_MAX):
                write_file(tree, k, flush=False)
        except Exception as e:  # the cluster died under the writes
            print(f"writes stopped: {type(e).__name__}", flush=True)
    elif phase == "check":
        with open(state) as inp:
            st = json.load(inp)
        conn, _, tree = connect_retrying(uuid.uuid4())
        seen = 0
        for k in range(FILES_MAX):
            try:
                f, _ = create(tree, name(k), [], disposition=CreateDisposition.FILE_OPEN)
            except Exception:
                continue
            seen += 1
            size = f.end_of_file
            data = f.read(0, size) if size else b""
            if name(k) in st["flushed"]:
                want = b"".join(chunk(k, i) for i in range(CHUNKS))
                check(data == want, f"flushed file {name(k)} reads back whole")
            for at in range(0, len(data), BLOCK):
                got = data[at:at + BLOCK]
                i, off = divmod(at, CHUNK_BYTES)
                want = chunk(k, i)[off:off + len(got)]
                if got != want and got != bytes(len(got)):
                    check(False, f"{name(k)} block at {at} holds bytes never written there")
            f.close()
        check(seen >= FLUSHED, f"{seen} files came back; every block written or zero")
        print("PASS", flush=True)
    else:
        sys.exit(f"unknown phase {phase}")


if __name__ == "__main__":
    main()
