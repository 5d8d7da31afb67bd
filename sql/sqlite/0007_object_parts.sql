-- s3node metadata schema, version 7 (SQLite): where each part of a
-- completed multipart object lies (docs/s3.md, "GetObject by part number").
-- One row per listed part of the completion, by the number it was uploaded
-- under; first_byte is its offset in the object's file.  The rows belong to
-- the file: a copy sharing that file's chunks copies them, and they go with
-- the file when it is deleted.  Objects completed before this version have
-- none (their part boundaries were not kept).
CREATE TABLE object_parts (
    file_id     TEXT    NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    part_number INTEGER NOT NULL CHECK (part_number BETWEEN 1 AND 10000),
    first_byte  INTEGER NOT NULL CHECK (first_byte >= 0),
    size        INTEGER NOT NULL CHECK (size >= 0),
    PRIMARY KEY (file_id, part_number)
) WITHOUT ROWID;

-- ListMultipartUploads pages by (key, upload id): upload ids now begin with
-- their creation time (hex microseconds), so that order is also oldest first.
DROP INDEX multipart_uploads_key_idx;
CREATE INDEX multipart_uploads_key_id_idx ON multipart_uploads (bucket, key, id);
