#!/usr/bin/env python3
"""A persistent handle across a whole-cluster restart (driven by
crates/holdfast/tests/restart.rs; docs/restarts.md):

    restart.py open STATE     DH2Q persistent with an RH lease + WRITE + an
                              exclusive lock on bytes 0..LOCK_BYTES, and a
                              write of stream STREAM; writes STATE (JSON),
                              prints READY, then holds the connection until
                              a line arrives on stdin and exits without
                              CLOSE or LOGOFF (the cluster stops meanwhile).
    restart.py reclaim STATE  after a planned stop: same ClientGuid, DH2C
                              reclaims the same FileId, the bytes and the
                              stream read back;
                              a second client's lock on the range is
                              refused until the reclaimed handle unlocks it.
    restart.py conflict STATE while the handle is disconnected: another
                              client's conflicting open is refused with
                              STATUS_FILE_NOT_AVAILABLE.
    restart.py gone STATE     after a power loss: DH2C of the old FileId is
                              STATUS_OBJECT_NAME_NOT_FOUND, as MS-SMB2
                              3.3.5.9.12 says for a handle the server does
                              not have; the file opens again (plain and
                              persistent) and its bytes read back.

Connections are retried for up to RECONNECT_S seconds while the cluster
comes back. Environment as for test_persistent.py.
"""

import json
import sys
import uuid

from smbprotocol.create_contexts import CreateContextName, SMB2CreateContextRequest, SMB2CreateRequestLeaseV2, SMB2CreateResponseLeaseV2
from smbprotocol.open import CreateDisposition, FilePipePrinterAccessMask, ImpersonationLevel, CreateOptions, LockFlags, Open, RequestedOplockLevel, ShareAccess, SMB2LockElement

from failover import connect_retrying
from test_persistent import DATA, DurableHandleFlags, check, connect, create, dh2c, dh2q, durable_v2, status_of

STATUS_OBJECT_NAME_NOT_FOUND = 0xC0000034
STATUS_FILE_LOCK_CONFLICT = 0xC0000054
STATUS_FILE_NOT_AVAILABLE = 0xC0000467
LOCK_BYTES = 100
# An alternate data stream written beside the file's data (as a browser's
# Zone.Identifier): it must come back with the file, as its data does.
STREAM = ":Zone.Identifier"
STREAM_DATA = b"[ZoneTransfer]\r\nZoneId=3\r\n"


def lock(f, flags):
    e = SMB2LockElement()
    e["offset"] = 0
    e["length"] = LOCK_BYTES
    e["flags"] = flags
    f.lock([e])


def open_for_lock(tree, name):
    """A second client's open that sharing allows beside the first one."""
    f = Open(tree, name)
    f.create(
        ImpersonationLevel.Impersonation,
        FilePipePrinterAccessMask.FILE_READ_DATA,
        0,
        ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE | ShareAccess.FILE_SHARE_DELETE,
        CreateDisposition.FILE_OPEN,
        CreateOptions.FILE_NON_DIRECTORY_FILE,
    )
    return f


LEASE_RH = 0x1 | 0x2


def lease_rh(key):
    """A v2 lease request for Read and Handle caching under `key`."""
    req = SMB2CreateRequestLeaseV2()
    req["lease_key"] = key
    req["lease_state"] = LEASE_RH
    req["parent_lease_key"] = b"\0" * 16
    req["epoch"] = b"\0\0"
    ctx = SMB2CreateContextRequest()
    ctx["buffer_name"] = CreateContextName.SMB2_CREATE_REQUEST_LEASE_V2
    ctx["buffer_data"] = req
    return ctx


def lease_state(resp):
    leases = [r for r in resp if isinstance(r, SMB2CreateResponseLeaseV2)]
    return leases[0]["lease_state"].get_value() if leases else 0


def open_write_lock(state):
    client_guid, create_guid, key = uuid.uuid4(), uuid.uuid4(), uuid.uuid4().bytes
    name = f"restart-{uuid.uuid4().hex[:8]}.bin"
    conn, _, tree = connect(client_guid)
    f, resp = create(tree, name, [dh2q(create_guid), lease_rh(key)], oplock=RequestedOplockLevel.SMB2_OPLOCK_LEVEL_LEASE)
    d = durable_v2(resp)
    check(len(d) == 1 and d[0]["flags"].get_value() & DurableHandleFlags.SMB2_DHANDLE_FLAG_PERSISTENT, "persistent handle granted")
    check(lease_state(resp) == LEASE_RH, f"an RH lease granted (state 0x{lease_state(resp):x})")
    check(f.write(DATA, 0) == len(DATA), f"wrote {len(DATA)} bytes")
    lock(f, LockFlags.SMB2_LOCKFLAG_EXCLUSIVE_LOCK | LockFlags.SMB2_LOCKFLAG_FAIL_IMMEDIATELY)
    s, _ = create(tree, name + STREAM, [])
    check(s.write(STREAM_DATA, 0) == len(STREAM_DATA), f"wrote {len(STREAM_DATA)} bytes to stream {STREAM}")
    s.close()
    st = {"client_guid": str(client_guid), "create_guid": str(create_guid), "file_id": f.file_id.hex(), "name": name, "lease_key": key.hex()}
    with open(state, "w") as out:
        json.dump(st, out)
    return conn


def dh2c_with_lease(tree, st):
    """DH2C of the handle in `st`, with its lease key, as a client that held a lease reconnects."""
    ctxs = [dh2c(bytes.fromhex(st["file_id"]), uuid.UUID(st["create_guid"])), lease_rh(bytes.fromhex(st["lease_key"]))]
    return create(tree, st["name"], ctxs, disposition=CreateDisposition.FILE_OPEN, oplock=RequestedOplockLevel.SMB2_OPLOCK_LEVEL_LEASE)


def reclaim(st):
    conn, _, tree = connect_retrying(uuid.UUID(st["client_guid"]))
    f, resp = dh2c_with_lease(tree, st)
    check(f.file_id[:8] == bytes.fromhex(st["file_id"])[:8], "DH2C reclaimed the same FileId.Persistent")
    check(lease_state(resp) == LEASE_RH, f"the RH lease came back with the handle (state 0x{lease_state(resp):x})")
    check(f.read(0, len(DATA)) == DATA, "the bytes written before the stop are read back")
    check_stream(tree, st["name"])
    conn2, _, tree2 = connect_retrying(uuid.uuid4())
    g = open_for_lock(tree2, st["name"])
    # A read, not a lock: a second client's lock request would break the
    # first client's lease, and smbprotocol cannot take a lease break.
    s = status_of(lambda: g.read(0, LOCK_BYTES))
    check(s == STATUS_FILE_LOCK_CONFLICT, f"the byte-range lock is held: a second client's read of the range conflicts (status 0x{s:08x})")
    lock(f, LockFlags.SMB2_LOCKFLAG_UNLOCK)
    s = status_of(lambda: g.read(0, LOCK_BYTES))
    check(s == 0, f"once the reclaimed handle unlocks, the second client reads the range (status 0x{s:08x})")
    g.close()
    conn2.disconnect()
    f.close()
    conn.disconnect()


def check_stream(tree, name):
    s, _ = create(tree, name + STREAM, [], disposition=CreateDisposition.FILE_OPEN)
    check(s.read(0, len(STREAM_DATA)) == STREAM_DATA, f"stream {STREAM} reads back as written")
    s.close()


def conflict(st):
    """While the handle is disconnected (its host died), another client's
    conflicting open is refused, once the service answers again."""
    conn, _, tree = connect_retrying(uuid.uuid4())
    s = status_of(lambda: create(tree, st["name"], [], disposition=CreateDisposition.FILE_OPEN, share=ShareAccess.FILE_SHARE_READ))
    check(s == STATUS_FILE_NOT_AVAILABLE, f"a conflicting open of the disconnected handle's file is STATUS_FILE_NOT_AVAILABLE (got 0x{s:08x})")
    conn.disconnect()


def gone(st):
    conn, _, tree = connect_retrying(uuid.UUID(st["client_guid"]))
    s = status_of(lambda: dh2c_with_lease(tree, st))
    check(s == STATUS_OBJECT_NAME_NOT_FOUND, f"DH2C of a handle lost with the RAM is STATUS_OBJECT_NAME_NOT_FOUND (got 0x{s:08x})")
    f, _ = create(tree, st["name"], [], disposition=CreateDisposition.FILE_OPEN)
    check(f.read(0, len(DATA)) == DATA, "the file's bytes survived the power loss")
    f.close()
    check_stream(tree, st["name"])
    g, resp = create(tree, st["name"], [dh2q(uuid.uuid4())], disposition=CreateDisposition.FILE_OPEN)
    d = durable_v2(resp)
    check(len(d) == 1 and d[0]["flags"].get_value() & DurableHandleFlags.SMB2_DHANDLE_FLAG_PERSISTENT, "a new persistent open is granted after the reset")
    check(g.file_id[:8] != bytes.fromhex(st["file_id"])[:8], "the new handle's FileId is not the lost one's")
    g.close()
    conn.disconnect()


def silent(state):
    """A client that is using its connection when the serving host dies
    without a word: after the stdin line (the host was just killed) it
    reads at once, waits for its TCP to notice (a reset: from a tickle ACK,
    or at the next retransmission once the address moved), reconnects and
    reclaims. Prints NOTICED and RECLAIMED with wall-clock Unix ms."""
    import time

    conn = open_write_lock(state)
    with open(state) as inp:
        st = json.load(inp)
    print("READY", flush=True)
    sys.stdin.readline()
    fid = bytes.fromhex(st["file_id"])
    try:
        # Any request on the connection will do: an echo.
        conn.echo(timeout=120)
    except Exception as e:  # reset, or closed
        print(f"noticed: {type(e).__name__}: {e}", flush=True)
    noticed = time.time()
    print(f"NOTICED {noticed * 1000:.1f}", flush=True)
    c2, f = reclaim_quick(st)
    print(f"RECLAIMED {time.time() * 1000:.1f}", flush=True)
    check(f.file_id[:8] == fid[:8], "the same FileId after the silent death")
    f.close()
    c2.disconnect()


def reclaim_quick(st):
    conn, _, tree = connect_retrying(uuid.UUID(st["client_guid"]), retry_s=0.02, quiet=True)
    f, _ = dh2c_with_lease(tree, st)
    check(f.read(0, len(DATA)) == DATA, "the bytes written before the death are read back")
    return conn, f


def main():
    phase, state = sys.argv[1], sys.argv[2]
    if phase == "silent":
        silent(state)
        print("PASS", flush=True)
    elif phase == "open":
        conn = open_write_lock(state)
        print("READY", flush=True)
        sys.stdin.readline()
        try:
            conn.disconnect(close=False)
        except Exception:  # the server side is long gone
            pass
    else:
        with open(state) as inp:
            st = json.load(inp)
        {"reclaim": reclaim, "gone": gone, "conflict": conflict}[phase](st)
        print("PASS", flush=True)


if __name__ == "__main__":
    main()
