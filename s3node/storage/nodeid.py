"""A storage node's stable id, saved in its data dir."""

from __future__ import annotations

import uuid
from pathlib import Path

from s3node.config import parse_node_id

NODE_ID_FILE = "node_id"


def load_or_create_node_id(data_dir: Path) -> str:
    """
    Return the node id saved in ``data_dir``, creating the folder and a new
    random id on first use.
    """
    path = data_dir / NODE_ID_FILE
    try:
        return parse_node_id(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    node_id = "node-" + uuid.uuid4().hex[:12]
    tmp = path.with_suffix(".tmp")
    tmp.write_text(node_id + "\n", encoding="ascii")
    tmp.replace(path)
    return node_id
