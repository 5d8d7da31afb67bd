-- s3node metadata schema, version 8 (PostgreSQL): small objects stored inline.
-- A completed file whose whole content is a few KiB may keep its bytes in
-- its own row (inline_data) instead of chunks on the storage nodes: such a
-- file has no chunk rows, so a read costs one metadata query and no node
-- round trip.  NULL for every other file (chunked, empty by chunks, or not
-- completed); a copy of an inline file copies the bytes, and they go with
-- the row when the file is deleted.  Adding a nullable column without a
-- default rewrites no row.
ALTER TABLE files ADD COLUMN inline_data bytea;
