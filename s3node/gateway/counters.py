"""
The names of the cluster-wide counters the gateways keep in the metadata
database (:meth:`~s3node.interfaces.MetadataStore.add_counters`), so that
every gateway's ``GET /cluster`` shows the same totals, across restarts and
lease handovers.
"""

from __future__ import annotations

__all__ = ["COUNTERS"]

#: copies repair wrote (one per chunk per target node)
COPIES_MADE = "repair_copies"
#: bytes of those copies
COPY_BYTES = "repair_bytes"
#: repair tries that failed (each is retried later)
FAILURES = "repair_failures"
#: replicas repair dropped once the chunk had its R copies where they belong
REPLICAS_DROPPED = "repair_replicas_dropped"
#: replicas found corrupt by a read (a download, or repair reading a source)
CORRUPT_BY_READ = "corrupt_found_by_read"
#: replicas found corrupt by a node's scrubber (reported through its quarantine)
CORRUPT_BY_SCRUB = "corrupt_found_by_scrub"

#: every counter, in the order ``GET /cluster`` lists them
COUNTERS = (COPIES_MADE, COPY_BYTES, FAILURES, REPLICAS_DROPPED, CORRUPT_BY_READ,
            CORRUPT_BY_SCRUB)
