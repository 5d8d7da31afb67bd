-- s3node metadata schema, version 5: the verified x-amz-checksum-* of each
-- S3 multipart part ("<header name> <base64 value>", NULL when the part was
-- uploaded without one or copied from a range), from which completion makes
-- the object's COMPOSITE or FULL_OBJECT checksum (docs/s3.md).
ALTER TABLE multipart_parts ADD COLUMN checksum TEXT
    CHECK (checksum IS NULL OR length(checksum) BETWEEN 20 AND 120);
