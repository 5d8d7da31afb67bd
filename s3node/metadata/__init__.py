"""The metadata store: files, chunks, replicas and storage nodes."""
