#!/usr/bin/env python3
"""Persistent handles against `holdfast smbd`, with a client we did not
write (smbprotocol, low-level API):

1. CREATE with DH2Q (persistent) on the CA share: the persistent flag is
   granted; WRITE some bytes.
2. The TCP connection drops without LOGOFF or CLOSE.
3. While the handle is disconnected, another client's conflicting open
   gets STATUS_FILE_NOT_AVAILABLE.
4. A new connection with the same ClientGuid, a new session and tree, and
   CREATE with DH2C (same FileId and CreateGuid) reclaims the handle; a
   READ returns the bytes written; CLOSE.
5. A DH2Q replay without the replay flag is STATUS_DUPLICATE_OBJECTID;
   with SMB2_FLAGS_REPLAY_OPERATION it answers with the existing open, on
   the same connection and, after a drop, on a new one.
6. DH2Q without the persistent flag: durable (not persistent) with a batch
   oplock asked, nothing without.
7. A disconnected handle with a 1 s timeout expires: the file opens again
   and DH2C finds nothing.
8. SESSION_SETUP with PreviousSessionId tears down the old session while
   its connection is still up: its persistent open becomes disconnected and
   the new session reclaims it with DH2C (without PreviousSessionId, DH2C
   of a handle still connected elsewhere is STATUS_FILE_NOT_AVAILABLE).
9. Durable v1: DHnQ with a batch oplock, a drop, DHnC, read back.

Environment: SMB_HOST (127.0.0.1), SMB_PORT (4445), SMB_USER, SMB_PASSWORD,
SMB_SHARE (share); SMB_USER2 and SMB_PASSWORD2 (optional) for a second user,
who must not be able to reclaim the first user's handle. Exits non-zero on the first failed check.
"""

import os
import sys
import time
import uuid

import smbprotocol.connection as smbconn
import smbprotocol.session as smbsession
from smbprotocol.connection import Connection, Dialects
from smbprotocol.header import SMB2HeaderRequest, Smb2Flags
from smbprotocol.create_contexts import (
    CreateContextName,
    DurableHandleFlags,
    SMB2CreateContextRequest,
    SMB2CreateDurableHandleReconnect,
    SMB2CreateDurableHandleReconnectV2,
    SMB2CreateDurableHandleRequest,
    SMB2CreateDurableHandleResponse,
    SMB2CreateDurableHandleRequestV2,
    SMB2CreateDurableHandleResponseV2,
)
from smbprotocol.exceptions import SMBResponseException
from smbprotocol.open import (
    CreateDisposition,
    CreateOptions,
    FilePipePrinterAccessMask,
    ImpersonationLevel,
    Open,
    RequestedOplockLevel,
    ShareAccess,
)
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect

HOST = os.environ.get("SMB_HOST", "127.0.0.1")
PORT = int(os.environ.get("SMB_PORT", "4445"))
USER = os.environ["SMB_USER"]
PASSWORD = os.environ["SMB_PASSWORD"]
SHARE = os.environ.get("SMB_SHARE", "share")

STATUS_FILE_NOT_AVAILABLE = 0xC0000467
STATUS_DUPLICATE_OBJECTID = 0xC000022A

DATA = b"persistent handles survive a dropped connection\n" * 100
TIMEOUT_MS = 30000


def check(cond, what):
    if not cond:
        print(f"FAIL: {what}", flush=True)
        sys.exit(1)
    print(f"ok: {what}", flush=True)


def connect(client_guid, previous_session_id=0, user=None, password=None):
    conn = Connection(client_guid, HOST, PORT)
    conn.connect(Dialects.SMB_3_1_1)
    sess = Session(conn, user or USER, password or PASSWORD, require_encryption=False)
    if previous_session_id:

        class WithPrevious(smbsession.SMB2SessionSetupRequest):
            def __init__(self):
                super().__init__()
                self["previous_session_id"] = previous_session_id

        saved = smbsession.SMB2SessionSetupRequest
        smbsession.SMB2SessionSetupRequest = WithPrevious
        try:
            sess.connect()
        finally:
            smbsession.SMB2SessionSetupRequest = saved
    else:
        sess.connect()
    tree = TreeConnect(sess, rf"\\{HOST}\{SHARE}")
    tree.connect()
    return conn, sess, tree


def dh2q(create_guid, timeout=TIMEOUT_MS, persistent=True):
    req = SMB2CreateDurableHandleRequestV2()
    req["timeout"] = timeout
    req["flags"] = DurableHandleFlags.SMB2_DHANDLE_FLAG_PERSISTENT if persistent else 0
    req["create_guid"] = create_guid
    ctx = SMB2CreateContextRequest()
    ctx["buffer_name"] = CreateContextName.SMB2_CREATE_DURABLE_HANDLE_REQUEST_V2
    ctx["buffer_data"] = req
    return ctx


def dh2c(file_id, create_guid):
    req = SMB2CreateDurableHandleReconnectV2()
    req["file_id"] = file_id
    req["create_guid"] = create_guid
    req["flags"] = DurableHandleFlags.SMB2_DHANDLE_FLAG_PERSISTENT
    ctx = SMB2CreateContextRequest()
    ctx["buffer_name"] = CreateContextName.SMB2_CREATE_DURABLE_HANDLE_RECONNECT_V2
    ctx["buffer_data"] = req
    return ctx


ACCESS = FilePipePrinterAccessMask.GENERIC_READ | FilePipePrinterAccessMask.GENERIC_WRITE | FilePipePrinterAccessMask.DELETE


def create(
    tree,
    name,
    contexts,
    disposition=CreateDisposition.FILE_OVERWRITE_IF,
    share=ShareAccess.FILE_SHARE_READ,
    oplock=RequestedOplockLevel.SMB2_OPLOCK_LEVEL_NONE,
):
    f = Open(tree, name)
    resp = f.create(
        ImpersonationLevel.Impersonation,
        ACCESS,
        0,
        share,
        disposition,
        CreateOptions.FILE_NON_DIRECTORY_FILE,
        create_contexts=contexts,
        oplock_level=oplock,
    )
    return f, resp or []


class ReplayHeader(SMB2HeaderRequest):
    """A request header with SMB2_FLAGS_REPLAY_OPERATION set."""

    def __init__(self):
        super().__init__()
        self["flags"].set_flag(Smb2Flags.SMB2_FLAGS_REPLAY_OPERATIONS)


def replayed(fn):
    """Runs fn with every request header carrying the replay flag."""
    saved = smbconn.SMB2HeaderRequest
    smbconn.SMB2HeaderRequest = ReplayHeader
    try:
        return fn()
    finally:
        smbconn.SMB2HeaderRequest = saved


def durable_v2(resp):
    return [r for r in resp if isinstance(r, SMB2CreateDurableHandleResponseV2)]


def status_of(fn):
    try:
        fn()
    except SMBResponseException as e:
        return e.status
    return 0


def main():
    client_guid = uuid.uuid4()
    create_guid = uuid.uuid4()
    name = f"persistent-{uuid.uuid4().hex[:8]}.bin"

    # 1. persistent open and write
    conn, sess, tree = connect(client_guid)
    check(tree.is_ca_share, "the share is continuously available (TREE_CONNECT CA capability)")
    f, resp = create(tree, name, [dh2q(create_guid)])
    granted = [r for r in resp if isinstance(r, SMB2CreateDurableHandleResponseV2)]
    check(len(granted) == 1, f"DH2Q answered with a durable v2 response context ({resp!r})")
    flags = granted[0]["flags"].get_value()
    check(flags & DurableHandleFlags.SMB2_DHANDLE_FLAG_PERSISTENT, f"persistent flag granted (flags {flags:#x})")
    timeout = granted[0]["timeout"].get_value()
    check(0 < timeout <= TIMEOUT_MS, f"timeout {timeout} ms is within the {TIMEOUT_MS} ms asked")
    file_id = f.file_id
    check(f.write(DATA, 0) == len(DATA), f"wrote {len(DATA)} bytes")

    # 5. the same CreateGuid again, without the replay flag
    st = status_of(lambda: create(tree, name, [dh2q(create_guid)], disposition=CreateDisposition.FILE_OPEN))
    check(st == STATUS_DUPLICATE_OBJECTID, f"a second DH2Q with the same CreateGuid: {st:#x} is STATUS_DUPLICATE_OBJECTID")

    # 2. drop the TCP connection: no CLOSE, no LOGOFF
    conn.disconnect(close=False)

    # 3. a conflicting open while the handle is disconnected
    other_conn, _, other_tree = connect(uuid.uuid4())
    st = 0
    for _ in range(20):
        st = status_of(lambda: create(other_tree, name, None, disposition=CreateDisposition.FILE_OPEN, share=0))
        if st == STATUS_FILE_NOT_AVAILABLE:
            break

        time.sleep(0.1)
    check(st == STATUS_FILE_NOT_AVAILABLE, f"a conflicting open of the disconnected file: {st:#x} is STATUS_FILE_NOT_AVAILABLE")
    other_conn.disconnect()

    # 3b. another user cannot reclaim it, even with the same ClientGuid
    if os.environ.get("SMB_USER2"):
        u2_conn, _, u2_tree = connect(client_guid, user=os.environ["SMB_USER2"], password=os.environ["SMB_PASSWORD2"])
        st = status_of(lambda: create(u2_tree, name, [dh2c(file_id, create_guid)], disposition=CreateDisposition.FILE_OPEN))
        check(st == 0xC0000034, f"DH2C by another user: {st:#x} is STATUS_OBJECT_NAME_NOT_FOUND")
        u2_conn.disconnect()

    # 4. reconnect with the same ClientGuid and reclaim with DH2C
    conn2, sess2, tree2 = connect(client_guid)
    f2, resp2 = create(tree2, name, [dh2c(file_id, create_guid)], disposition=CreateDisposition.FILE_OPEN)
    check(f2.file_id[:8] == file_id[:8], "DH2C reclaimed the same FileId.Persistent")
    check(not durable_v2(resp2), "the DH2C response carries no durable response context")
    back = f2.read(0, len(DATA))
    check(back == DATA, f"read back the {len(DATA)} bytes written before the drop")
    f2.close()

    # after CLOSE the handle is gone: DH2C fails, and the file opens normally
    st = status_of(lambda: create(tree2, name, [dh2c(file_id, create_guid)], disposition=CreateDisposition.FILE_OPEN))
    check(st != 0, f"DH2C after CLOSE fails ({st:#x})")
    f3, _ = create(tree2, name, None, disposition=CreateDisposition.FILE_OPEN, share=0)
    f3.close()

    # 5b. replay with the flag, on the same connection: the same open
    replay_guid = uuid.uuid4()
    rname = f"replay-{uuid.uuid4().hex[:8]}.bin"
    g, _ = create(tree2, rname, [dh2q(replay_guid)])
    g2, resp = replayed(lambda: create(tree2, rname, [dh2q(replay_guid)]))
    check(g2.file_id == g.file_id, "a replayed DH2Q CREATE answers with the existing open (same FileId)")
    check(len(durable_v2(resp)) == 1, "the replayed CREATE carries the durable v2 response")
    conn2.disconnect(close=False)

    # 5c. replay after the connection dropped: the open is reclaimed
    conn3, _, tree3 = connect(client_guid)
    g3, _ = replayed(lambda: create(tree3, rname, [dh2q(replay_guid)]))
    check(g3.file_id[:8] == g.file_id[:8], "a replayed DH2Q CREATE on a new connection reclaims the open")
    g3.close()

    # 6. durable v2 without persistence
    n6 = f"durable-{uuid.uuid4().hex[:8]}.bin"
    h, resp = create(tree3, n6, [dh2q(uuid.uuid4(), persistent=False)], oplock=RequestedOplockLevel.SMB2_OPLOCK_LEVEL_BATCH)
    d = durable_v2(resp)
    check(len(d) == 1 and d[0]["flags"].get_value() == 0, "DH2Q without the persistent flag and a batch oplock: durable, not persistent")
    h.close()
    h, resp = create(tree3, n6, [dh2q(uuid.uuid4(), persistent=False)])
    check(not durable_v2(resp), "DH2Q without the persistent flag and no oplock or lease: not durable")
    h.close()

    # 7. expiry of a disconnected handle
    n7 = f"expire-{uuid.uuid4().hex[:8]}.bin"
    eguid = uuid.uuid4()
    e, resp = create(tree3, n7, [dh2q(eguid, timeout=1000)])
    check(durable_v2(resp)[0]["timeout"].get_value() == 1000, "a 1000 ms timeout is granted as asked")
    efid = e.file_id
    conn3.disconnect(close=False)
    time.sleep(3)
    conn4, _, tree4 = connect(client_guid)
    st = status_of(lambda: create(tree4, n7, [dh2c(efid, eguid)], disposition=CreateDisposition.FILE_OPEN))
    check(st == 0xC0000034, f"DH2C after the timeout: {st:#x} is STATUS_OBJECT_NAME_NOT_FOUND")
    e2, _ = create(tree4, n7, None, disposition=CreateDisposition.FILE_OPEN, share=0)
    check(True, "the expired handle no longer blocks a conflicting open")
    e2.close()

    # 8. PreviousSessionId, the old connection still up
    n8 = f"previous-{uuid.uuid4().hex[:8]}.bin"
    pguid = uuid.uuid4()
    p, _ = create(tree4, n8, [dh2q(pguid)])
    p.write(DATA, 0)
    pfid = p.file_id
    old_session = tree4.session.session_id
    conn6, _, tree6 = connect(client_guid)
    st = status_of(lambda: create(tree6, n8, [dh2c(pfid, pguid)], disposition=CreateDisposition.FILE_OPEN))
    check(st == STATUS_FILE_NOT_AVAILABLE, f"DH2C of a handle still connected elsewhere: {st:#x} is STATUS_FILE_NOT_AVAILABLE")
    conn6.disconnect()
    conn5, _, tree5 = connect(client_guid, previous_session_id=old_session)
    p2, _ = create(tree5, n8, [dh2c(pfid, pguid)], disposition=CreateDisposition.FILE_OPEN)
    check(p2.read(0, len(DATA)) == DATA, "after PreviousSessionId the new session reclaims the open and reads it")
    p2.close()
    conn5.disconnect()
    conn4.disconnect(close=False)

    # 9. durable v1
    conn7, _, tree7 = connect(client_guid)
    n9 = f"v1-{uuid.uuid4().hex[:8]}.bin"
    q = SMB2CreateContextRequest()
    q["buffer_name"] = CreateContextName.SMB2_CREATE_DURABLE_HANDLE_REQUEST
    q["buffer_data"] = SMB2CreateDurableHandleRequest()
    v, resp = create(tree7, n9, [q], oplock=RequestedOplockLevel.SMB2_OPLOCK_LEVEL_BATCH)
    check(any(isinstance(r, SMB2CreateDurableHandleResponse) for r in resp), "DHnQ with a batch oplock: durable v1 granted")
    v.write(DATA, 0)
    vfid = v.file_id
    conn7.disconnect(close=False)
    conn8, _, tree8 = connect(client_guid)
    rc = SMB2CreateDurableHandleReconnect()
    rc["data"] = vfid
    c = SMB2CreateContextRequest()
    c["buffer_name"] = CreateContextName.SMB2_CREATE_DURABLE_HANDLE_RECONNECT
    c["buffer_data"] = rc
    v2, _ = create(tree8, n9, [c], disposition=CreateDisposition.FILE_OPEN, oplock=RequestedOplockLevel.SMB2_OPLOCK_LEVEL_BATCH)
    check(v2.read(0, len(DATA)) == DATA, "DHnC reclaimed the durable v1 open and read it back")
    v2.close()
    conn8.disconnect()
    print("PASS", flush=True)


if __name__ == "__main__":
    main()
