#!/usr/bin/env python3
"""What smbclient cannot show of a read-only share (driven by
crates/holdfast/tests/smb_authz.rs, docs/smb-server.md): the TREE_CONNECT
response's MaximalAccess holds no write bit, and a file opened to read
(which CREATE allows) cannot have its times changed by SET_INFO
FileBasicInformation, which looks at no access of the open: the share
refuses it with STATUS_ACCESS_DENIED. Prints one line per step; exits 0
only when both hold.

Environment as for test_persistent.py (SMB_SHARE names the read-only
share, SMB_FILE an existing file on it).
"""

import os
import sys
import uuid

from smbprotocol.exceptions import SMBResponseException
from smbprotocol.file_info import FileBasicInformation
from smbprotocol.open import (
    CreateDisposition,
    CreateOptions,
    FilePipePrinterAccessMask,
    ImpersonationLevel,
    Open,
    ShareAccess,
    SMB2SetInfoRequest,
)
from smbprotocol.file_info import InfoType
from smbprotocol.tree import SMB2TreeConnectRequest, SMB2TreeConnectResponse

from test_persistent import HOST, SHARE, connect

ACCESS_DENIED = 0xC0000022
# FILE_WRITE_DATA, FILE_APPEND_DATA, FILE_WRITE_EA, FILE_WRITE_ATTRIBUTES,
# FILE_DELETE_CHILD, DELETE, WRITE_DAC, WRITE_OWNER.
WRITE_BITS = 0x2 | 0x4 | 0x10 | 0x100 | 0x40 | 0x10000 | 0x40000 | 0x80000


def maximal_access(conn, sess):
    """A second TREE_CONNECT to the share, for the response's field."""
    req = SMB2TreeConnectRequest()
    req["buffer"] = rf"\\{HOST}\{SHARE}".encode("utf-16-le")
    resp = SMB2TreeConnectResponse()
    resp.unpack(conn.receive(conn.send(req, sid=sess.session_id))["data"].get_value())
    return resp["maximal_access"].get_value()


def main():
    conn, sess, tree = connect(uuid.uuid4())
    ok = True
    access = maximal_access(conn, sess)
    print(f"MaximalAccess {access:#x}")
    ok = ok and access & WRITE_BITS == 0 and access & 0x1 != 0
    f = Open(tree, os.environ["SMB_FILE"])
    f.create(
        ImpersonationLevel.Impersonation,
        FilePipePrinterAccessMask.FILE_READ_DATA | FilePipePrinterAccessMask.FILE_READ_ATTRIBUTES,
        0,
        ShareAccess.FILE_SHARE_READ,
        CreateDisposition.FILE_OPEN,
        CreateOptions.FILE_NON_DIRECTORY_FILE,
    )
    print("opened to read")
    basic = FileBasicInformation()
    basic["last_write_time"] = 116444736000000000  # 1970-01-01
    req = SMB2SetInfoRequest()
    req["info_type"] = InfoType.SMB2_0_INFO_FILE
    req["file_info_class"] = FileBasicInformation.INFO_CLASS
    req["file_id"] = f.file_id
    req["buffer"] = basic
    try:
        conn.receive(conn.send(req, sid=sess.session_id, tid=tree.tree_connect_id))
        print("SET_INFO FileBasicInformation: done")
        ok = False
    except SMBResponseException as e:
        print(f"SET_INFO FileBasicInformation: status {e.status:#x}")
        ok = ok and e.status == ACCESS_DENIED
    f.close()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
