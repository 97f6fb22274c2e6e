-- An asset's installed software as one row: the sorted list as JSON (issue #7, the storm
-- benchmark). As one row per package, a first inventory of 800 packages cost 3.5-4.7 ms of
-- the write lock to insert (statement parsing, 6,400 bound values), and a changed list 5-7 ms
-- to read back for the difference; as one row it is one value written or read. Software is
-- read one asset at a time (asset page, exports, history); a search across assets, when it
-- comes, will need its own index.
--
-- PostgreSQL twin in migrations/postgres/0008_software_lists.sql; change both together.

CREATE TABLE asset_software (
    asset_id INTEGER PRIMARY KEY REFERENCES assets(id) ON DELETE CASCADE,
    -- JSON array of [name, version, arch, publisher, size_bytes, install_date, source].
    list     TEXT NOT NULL
);

INSERT INTO asset_software (asset_id, list)
SELECT asset_id,
       json_group_array(json_array(name, version, arch, publisher, size_bytes, install_date,
           source))
FROM (SELECT * FROM software ORDER BY asset_id, id)
GROUP BY asset_id;

DROP TABLE software;
