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
