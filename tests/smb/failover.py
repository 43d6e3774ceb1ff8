#!/usr/bin/env python3
"""A persistent handle across the failover of the host that served it
(driven by crates/holdfast/tests/smb_persistent.rs):

    failover.py open STATE     DH2Q persistent + WRITE on SMB_PORT, then
                               BULK_WRITES more plain writes (no
                               WRITE_THROUGH, no FLUSH: each acknowledged
                               from the RAM of every copy), writes
                               STATE (JSON), prints READY, then holds the
                               connection until a line arrives on stdin
                               (the test kills the serving host meanwhile)
                               and exits without CLOSE or LOGOFF.
    failover.py reclaim STATE  connects to SMB_PORT (the survivor's smbd)
                               with the same ClientGuid, DH2C, reads back
                               every acknowledged byte.
                               The connection and tree connect are retried
                               for up to RECONNECT_S seconds, as a client
                               does while a service moves (the address may
                               not answer yet, or still be the old
                               instance, whose share is gone).

    failover.py bench STATE    (holdfast bench failover) as `open`, then on
                               the stdin line `drop` drops the connection
                               itself, on `go` (the serving host was just
                               killed) drops it too; then reclaims at once
                               (connect retried every RETRY_S) and prints
                               `RECLAIMED T0_MS T1_MS`: wall-clock Unix
                               milliseconds of the drop and of the bytes
                               read back after DH2C.

Environment as for test_persistent.py.
"""

import json
import sys
import time
import uuid

from smbprotocol.open import CreateDisposition

from test_persistent import DATA, DurableHandleFlags, check, connect, create, dh2c, dh2q, durable_v2


RECONNECT_S = 30
RETRY_S = 0.2
# Plain writes after DATA, none flushed: the owner is killed before any
# FLUSH, so they survive only as RAM copies on the survivors.
BULK_WRITES = 48
BULK_BYTES = 65536


def bulk(i):
    """Write i's bytes: distinct per write, so a lost or misplaced one shows."""
    return bytes(((i * 131 + j * 7) ^ (j >> 8)) & 0xFF for j in range(BULK_BYTES))


def connect_retrying(client_guid, retry_s=RETRY_S, quiet=False):
    deadline = time.monotonic() + RECONNECT_S
    while True:
        try:
            return connect(client_guid)
        except Exception as e:  # refused, reset, or the share not served yet
            if time.monotonic() >= deadline:
                raise
            if not quiet:
                print(f"reconnect: {type(e).__name__}: {e}; retrying", flush=True)
            time.sleep(retry_s)


def open_and_write(state, bulk_writes=0):
    client_guid, create_guid = uuid.uuid4(), uuid.uuid4()
    name = f"failover-{uuid.uuid4().hex[:8]}.bin"
    conn, _, tree = connect(client_guid)
    f, resp = create(tree, name, [dh2q(create_guid)])
    d = durable_v2(resp)
    check(len(d) == 1 and d[0]["flags"].get_value() & DurableHandleFlags.SMB2_DHANDLE_FLAG_PERSISTENT, "persistent handle granted")
    check(f.write(DATA, 0) == len(DATA), f"wrote {len(DATA)} bytes")
    for i in range(bulk_writes):
        if f.write(bulk(i), len(DATA) + i * BULK_BYTES) != BULK_BYTES:
            check(False, f"plain write {i} acknowledged")
    if bulk_writes:
        check(True, f"{bulk_writes} plain writes of {BULK_BYTES} bytes acknowledged, none flushed")
    st = {"client_guid": str(client_guid), "create_guid": str(create_guid), "file_id": f.file_id.hex(), "name": name, "bulk_writes": bulk_writes}
    with open(state, "w") as out:
        json.dump(st, out)
    return conn, st


def reclaim(st, retry_s=RETRY_S, quiet=False):
    conn, _, tree = connect_retrying(uuid.UUID(st["client_guid"]), retry_s, quiet)
    f, _ = create(tree, st["name"], [dh2c(bytes.fromhex(st["file_id"]), uuid.UUID(st["create_guid"]))], disposition=CreateDisposition.FILE_OPEN)
    check(f.file_id[:8] == bytes.fromhex(st["file_id"])[:8], "DH2C reclaimed the same FileId.Persistent")
    check(f.read(0, len(DATA)) == DATA, "the bytes written before are read back")
    n = st.get("bulk_writes", 0)
    for i in range(n):
        if f.read(len(DATA) + i * BULK_BYTES, BULK_BYTES) != bulk(i):
            check(False, f"plain write {i} of {n} (never flushed) is read back")
    if n:
        check(True, f"all {n} plain writes (never flushed) are read back")
    return conn, f


def main():
    phase, state = sys.argv[1], sys.argv[2]
    if phase == "open":
        conn, _ = open_and_write(state, BULK_WRITES)
        print("READY", flush=True)
        sys.stdin.readline()
        # The host is gone: drop the socket without CLOSE or LOGOFF.
        conn.disconnect(close=False)
    elif phase == "reclaim":
        with open(state) as inp:
            st = json.load(inp)
        conn, f = reclaim(st)
        f.close()
        conn.disconnect()
        print("PASS", flush=True)
    elif phase == "bench":
        conn, st = open_and_write(state)
        print("READY", flush=True)
        sys.stdin.readline()
        t0 = time.time()
        conn.disconnect(close=False)
        conn, f = reclaim(st, retry_s=0.02, quiet=True)
        t1 = time.time()
        f.close()
        conn.disconnect()
        print(f"RECLAIMED {t0 * 1000:.1f} {t1 * 1000:.1f}", flush=True)
    else:
        sys.exit(f"unknown phase {phase}")


if __name__ == "__main__":
    main()
