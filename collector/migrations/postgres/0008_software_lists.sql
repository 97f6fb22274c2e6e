-- An asset's installed software as one row: the sorted list as JSON. See the SQLite twin,
-- migrations/sqlite/0008_software_lists.sql, for why; change both together.

CREATE TABLE asset_software (
    asset_id BIGINT PRIMARY KEY REFERENCES assets(id) ON DELETE CASCADE,
    -- JSON array of [name, version, arch, publisher, size_bytes, install_date, source].
    list     TEXT NOT NULL
);

INSERT INTO asset_software (asset_id, list)
SELECT asset_id,
       CAST(json_agg(json_build_array(name, version, arch, publisher, size_bytes,
           install_date, source) ORDER BY id) AS TEXT)
FROM software
GROUP BY asset_id;

DROP TABLE software;

-- A list is ~100 kB of text; pglz, the default TOAST compression, took 2.5 ms of server CPU to
-- store one (pg_stat_statements, first storm). lz4 is several times faster; a server built
-- without it stores the lists uncompressed rather than fail here.
DO $$
BEGIN
    ALTER TABLE asset_software ALTER COLUMN list SET COMPRESSION lz4;
EXCEPTION WHEN OTHERS THEN
    ALTER TABLE asset_software ALTER COLUMN list SET STORAGE EXTERNAL;
END
$$;
