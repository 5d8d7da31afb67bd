"""
The pure core of s3node: chunk ids, checksums, chunking, byte ranges and
placement math.

Nothing here does I/O or imports Twisted or gRPC (a test enforces it), so
every function is usable from any thread and testable without a reactor.
"""
