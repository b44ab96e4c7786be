"""What the server does with files that user code wrote or uploaded: read and pack trees it
does not follow links out of (``_paths``), and unpack archives within limits (``_archives``).

User code can plant symlinks, FIFOs and devices in every directory it may write (``/opt/ml``
of a job or worker, a notebook's files) and hand cove archives built to escape or to explode.
The server reads such places only through this package.
"""

from __future__ import annotations

from cove.untrusted._archives import (
    ArchiveLimits,
    ArchiveRefused,
    check_zip,
    extract_tar,
    extract_zip,
)
from cove.untrusted._paths import (
    PackedTree,
    Unsafe,
    ensure_directory,
    move_beneath,
    open_beneath,
    pack_tree,
    read_capped,
    write_beneath,
)

__all__ = ["ArchiveLimits", "ArchiveRefused", "PackedTree", "Unsafe", "check_zip",
           "ensure_directory", "extract_tar", "extract_zip", "move_beneath", "open_beneath",
           "pack_tree", "read_capped", "write_beneath"]
