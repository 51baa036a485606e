-- A finding's search vector in three parts, so that an import stems the parts its findings
-- share once: the same plugin reported on 200 hosts has one title and description, and
-- stemming that description 200 times was most of an import's stemming. The vector is
-- the same as before (`||` shifts the positions of what follows it), so stored vectors stay.
CREATE FUNCTION ingest_finding_search_head(title text, cve text[])
RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT setweight(to_tsvector('simple'::regconfig, coalesce(title, '')), 'A')
        || setweight(to_tsvector('simple'::regconfig, array_to_string(cve, ' ')), 'A')
$$;

CREATE FUNCTION ingest_finding_search_tail(description text)
RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT setweight(to_tsvector('english'::regconfig, coalesce(left(description, 1000), '')), 'C')
$$;

CREATE FUNCTION ingest_finding_search_of(head tsvector, asset_key text, tail tsvector)
RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT head || setweight(to_tsvector('simple'::regconfig, coalesce(asset_key, '')), 'B') || tail
$$;

CREATE OR REPLACE FUNCTION ingest_finding_search(title text, cve text[], asset_key text, description text)
RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ingest_finding_search_of(
        ingest_finding_search_head(title, cve), asset_key, ingest_finding_search_tail(description)
    )
$$;
