"""``twistd s3node-faults``: s3node with the fault scenario's hooks (tests only)."""

from twisted.application.service import ServiceMaker

s3node_faults = ServiceMaker(
    "s3node-faults",
    "s3node_fault_hooks",
    "s3node with fault hooks for the fault-injection scenario (tests only)",
    "s3node-faults",
)
