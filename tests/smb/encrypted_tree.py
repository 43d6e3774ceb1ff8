#!/usr/bin/env python3
"""A request in the clear on a tree whose share requires encryption
(driven by crates/holdfast/tests/smb_authz.rs, docs/smb-server.md): the
tree connects with SMB2_SHAREFLAG_ENCRYPT_DATA set, a CREATE sent
unencrypted on it is refused with STATUS_ACCESS_DENIED (as Samba refuses
it), and the same CREATE sent encrypted opens. Prints one line per step;
exits 0 only when all three hold.

Environment as for test_persistent.py (SMB_SHARE names the share).
"""

import sys

from smbprotocol.exceptions import SMBResponseException
from smbprotocol.open import CreateDisposition, CreateOptions, FilePipePrinterAccessMask, ImpersonationLevel, Open, ShareAccess

from test_persistent import connect

ACCESS_DENIED = 0xC0000022


def open_root(tree):
    f = Open(tree, "")
    f.create(
        ImpersonationLevel.Impersonation,
        FilePipePrinterAccessMask.FILE_READ_ATTRIBUTES,
        0,
        ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE,
        CreateDisposition.FILE_OPEN,
        CreateOptions.FILE_DIRECTORY_FILE,
    )
    f.close()


def main():
    import uuid

    _, sess, tree = connect(uuid.uuid4())
    print(f"share flags ask for encryption: {tree.encrypt_data}; session encrypts all: {sess.encrypt_data}")
    ok = bool(tree.encrypt_data) and not sess.encrypt_data
    # What a client that ignores the share flag sends.
    tree.encrypt_data = False
    try:
        open_root(tree)
        print("unencrypted CREATE: opened")
        ok = False
    except SMBResponseException as e:
        print(f"unencrypted CREATE: status {e.status:#x}")
        ok = ok and e.status == ACCESS_DENIED
    tree.encrypt_data = True
    open_root(tree)
    print("encrypted CREATE: opened")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
