"""The storage node role: chunks on local disk, served over gRPC."""
