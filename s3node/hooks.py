"""
The pluggy markers of s3node's hooks (project name ``"s3node"``).

A plugin marks its hook functions with :data:`hookimpl`; the specs in
:mod:`s3node.hookspecs` are marked with :data:`hookspec`.  Both are also
exported from :mod:`s3node.plugins`, which plugin authors import.
"""

import pluggy

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec"]

#: the pluggy project name and the entry-point group plugins register under
PROJECT_NAME = "s3node"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
