-- Asset lifecycle, manual fields, explainable merges, merge/split/undo (issue #7).
--
-- Portable like 0001: plain ALTER TABLE ADD COLUMN, INTEGER ids, TEXT timestamps, JSON as TEXT.

-- in_use, in_stock, in_repair or retired; only people change it.
ALTER TABLE assets ADD COLUMN state TEXT NOT NULL DEFAULT 'in_use';
-- When the state took effect (as the user says); NULL: since the asset was first seen.
ALTER TABLE assets ADD COLUMN state_since TEXT;
-- Manual fields. NULL means "not set"; a set value is locked: no document ever writes these
-- columns, and the detail shows where automatic sources disagree with them. department_id and
-- location_id name rows of 0004's referentials; no REFERENCES because SQLite cannot add a
-- foreign key column to an existing table with foreign keys on (the store checks them).
ALTER TABLE assets ADD COLUMN asset_tag TEXT;
ALTER TABLE assets ADD COLUMN owner TEXT;
ALTER TABLE assets ADD COLUMN department_id INTEGER;
ALTER TABLE assets ADD COLUMN location_id INTEGER;
ALTER TABLE assets ADD COLUMN notes TEXT;
CREATE INDEX assets_last_seen ON assets(last_seen);

-- Who made a change by hand (login, copied: history outlives users); NULL for documents.
ALTER TABLE history ADD COLUMN actor TEXT;

-- Why a source is on its asset: the keys that matched, with their values, as a JSON array of
-- {"key": "serial", "value": "..."} (empty for a source that created the asset), and the
-- identity keys the source last reported (JSON object: name, serial, uuid, macs, addresses),
-- which is what a split needs to tell which MACs and addresses go with which source.
ALTER TABLE sources ADD COLUMN matched_keys TEXT;
ALTER TABLE sources ADD COLUMN reported_keys TEXT;
CREATE INDEX sources_kind_last_seen ON sources(kind, last_seen);

-- Merges and splits an admin made. asset_id is the asset kept (merge) or split; other_asset_id
-- the one merged into it (deleted) or created by the split. snapshot holds every row of both
-- assets as they were before, which is what undo writes back.
CREATE TABLE operations (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL,
    asset_id        INTEGER NOT NULL,
    other_asset_id  INTEGER NOT NULL,
    actor_id        INTEGER,
    actor_login     TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    snapshot        TEXT NOT NULL,
    undone_at       TEXT,
    undone_by       TEXT
);
CREATE INDEX operations_asset ON operations(asset_id);
CREATE INDEX operations_other_asset ON operations(other_asset_id);

-- Pairs of assets that automatic merges must keep apart (written by a split). asset_a < asset_b.
CREATE TABLE never_merge (
    asset_a         INTEGER NOT NULL,
    asset_b         INTEGER NOT NULL,
    operation_id    INTEGER,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (asset_a, asset_b)
);
CREATE INDEX never_merge_b ON never_merge(asset_b);
