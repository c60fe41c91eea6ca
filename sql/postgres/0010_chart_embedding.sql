-- Each read chart's shape embedding beside its strand (docs/vision.md, "Charts like this one"):
-- one row per vis_strand that has one, written in the strand's transaction
-- (lotus_core/vis/store.py). Here a pgvector `vector`, so `lotus vis similar` asks the
-- database for the nearest shapes (`<->`, Euclidean, exact: no approximate index) instead
-- of reading every reading file. Owned by vis (lotus_core/fabric/security.py).
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
    RAISE EXCEPTION 'the pgvector extension is not installed on this PostgreSQL server '
      '(chart_embedding needs it): run scripts/ensure-pgvector.sh';
  END IF;
END $$;
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE chart_embedding (
    strand_id   TEXT PRIMARY KEY REFERENCES vis_strand (id),
    embedding   vector(68) NOT NULL
);
