"""
The credentials the benches send to s3node's REST API.

A gateway or standalone started with :func:`support.processes.start_twistd`
gets the test suite's admin key (``--admin-key-file``), whose header is
:data:`ADMIN`.  A bench that runs other checkouts (which may predate access
keys, and so ``--admin-key-file``) starts standalone without it and reads the
key standalone saved on its first start instead (:func:`data_dir_auth`).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.auth import BASIC, basic

from s3node.s3server.keys import CREDENTIALS_FILE, read_credentials

__all__ = ["ADMIN", "data_dir_auth"]

#: the ``Authorization`` value of the suite's admin key
ADMIN = BASIC


def data_dir_auth(data_dir: Path) -> str | None:
    """
    The ``Authorization`` value (HTTP Basic) of the admin key standalone
    wrote to ``data_dir/s3-credentials`` on its first start; ``None`` when
    there is no such file (a checkout from before access keys).
    """
    try:
        text = (data_dir / CREDENTIALS_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return basic(*read_credentials(text))
