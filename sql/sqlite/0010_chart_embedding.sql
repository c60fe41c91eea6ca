-- Each read chart's shape embedding beside its strand (docs/vision.md, "Charts like this one"):
-- one row per vis_strand that has one, written in the strand's transaction
-- (lotus_core/vis/store.py). Here 68 float32 values, little-endian (the embedded default
-- searches them exactly in numpy; PostgreSQL keeps a pgvector `vector`, 0010 there).
CREATE TABLE chart_embedding (
    strand_id   TEXT PRIMARY KEY NOT NULL REFERENCES vis_strand (id),
    embedding   BLOB NOT NULL CHECK (length(embedding) = 272)
);
