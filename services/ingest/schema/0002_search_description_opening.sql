-- Full-text search reads the opening of a finding's description only. Stemming whole
-- descriptions cost more than the rest of an import together (3.6 s of 7 s for 9,800
-- Nessus findings of 4 kB), and the words a user looks a finding up by are in its title,
-- CVEs, asset and first lines. The column is dropped and added again so that every row is
-- computed anew (a stored generated column keeps what the old function made).
ALTER TABLE ingest_findings DROP COLUMN search;

CREATE OR REPLACE FUNCTION ingest_finding_search(title text, cve text[], asset_key text, description text)
RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT setweight(to_tsvector('simple'::regconfig, coalesce(title, '')), 'A')
        || setweight(to_tsvector('simple'::regconfig, array_to_string(cve, ' ')), 'A')
        || setweight(to_tsvector('simple'::regconfig, coalesce(asset_key, '')), 'B')
        || setweight(to_tsvector('english'::regconfig, coalesce(left(description, 1000), '')), 'C')
$$;

ALTER TABLE ingest_findings ADD COLUMN search tsvector GENERATED ALWAYS AS (
    ingest_finding_search(title, cve, asset_key, description)
) STORED;
CREATE INDEX ingest_findings_search_idx ON ingest_findings USING gin (search);
