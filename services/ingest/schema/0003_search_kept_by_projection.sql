-- The search vector becomes a plain column that the inventory projection keeps: a
-- generated column is stemmed again on every update and always by the backend that
-- writes the row. The projection stems only when a finding's searched text changes, and
-- an import has a chunk's vectors stemmed on a second connection while the first one
-- appends its events (see services/ingest/search_vectors.py). Existing values stay.
ALTER TABLE ingest_findings ALTER COLUMN search DROP EXPRESSION;
