-- A long finding description is kept out of line but no longer compressed. Compressing
-- it (pglz: the embedded PostgreSQL is built without lz4) cost an import about as much
-- as the table's eight indexes together, since scanners repeat a plugin's description
-- on every host it reports. The log keeps its copy compressed; this table is a read
-- model, rebuilt from the log, and trades some disk for faster imports (a 40 MB Nessus
-- file: 55 MB of findings instead of 37 MB). Rows written before this stay as they are.
ALTER TABLE ingest_findings ALTER COLUMN description SET STORAGE EXTERNAL;
