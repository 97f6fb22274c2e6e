-- Parc CMDB schema, first version.
--
-- Portable on purpose (SQLite now, PostgreSQL later): INTEGER ids, TEXT timestamps in RFC 3339
-- UTC with a fixed number of fraction digits (so they sort as text), no SQLite-only functions.

CREATE TABLE sites (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL
);

-- Only the SHA-256 of a token is kept: a copy of the database does not let anyone post documents.
CREATE TABLE tokens (
    id          INTEGER PRIMARY KEY,
    site_id     INTEGER NOT NULL REFERENCES sites(id),
    hash        TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);

CREATE TABLE assets (
    id              INTEGER PRIMARY KEY,
    site_id         INTEGER NOT NULL REFERENCES sites(id),
    kind            TEXT NOT NULL,
    name            TEXT,
    -- Short name, lower-cased: what the hostname rule compares.
    name_key        TEXT,
    -- Raw identifiers as reported, junk included (admins want to see them).
    serial          TEXT,
    uuid            TEXT,
    -- Identifiers usable for matching (NULL when absent or junk), normalised.
    serial_key      TEXT,
    uuid_key        TEXT,
    machine_id      TEXT,
    manufacturer    TEXT,
    model           TEXT,
    os              TEXT,
    -- Latest inventory (software excluded, it has its own table) as JSON; NULL for assets only
    -- seen by sweeps.
    facts           TEXT,
    facts_observed_at TEXT,
    -- SHA-256 of the software rows: an unchanged list (the usual case) is not even loaded.
    software_digest TEXT,
    -- What the latest sweep saw of the host (vendor, ports, methods), as JSON.
    sweep_facts     TEXT,
    match_rule      TEXT NOT NULL,
    first_seen      TEXT NOT NULL,
    last_seen       TEXT NOT NULL
);
CREATE INDEX assets_serial_key ON assets(serial_key);
CREATE INDEX assets_uuid_key ON assets(uuid_key);
CREATE INDEX assets_site_name_key ON assets(site_id, name_key);
CREATE INDEX assets_kind ON assets(kind);

-- source: 'inventory' rows are replaced by each inventory; 'sweep' rows are only added.
CREATE TABLE asset_macs (
    asset_id    INTEGER NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    mac         TEXT NOT NULL,
    source      TEXT NOT NULL,
    PRIMARY KEY (asset_id, mac)
);
CREATE INDEX asset_macs_mac ON asset_macs(mac);

CREATE TABLE asset_addresses (
    asset_id    INTEGER NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    address     TEXT NOT NULL,
    source      TEXT NOT NULL,
    PRIMARY KEY (asset_id, address)
);
CREATE INDEX asset_addresses_address ON asset_addresses(address);

CREATE TABLE software (
    id          INTEGER PRIMARY KEY,
    asset_id    INTEGER NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    version     TEXT,
    arch        TEXT,
    publisher   TEXT,
    size_bytes  INTEGER,
    install_date TEXT,
    source      TEXT NOT NULL
);
-- No index on name yet: every PC shares most package names, so such an index takes one
-- random page write per package on a PC's first inventory (measured: 6 ms per 1,500 packages
-- on an empty table, 55 ms at 400 PCs). Add it with the feature that searches software.
CREATE INDEX software_asset ON software(asset_id);

-- Who reported an asset, how it matched, and when.
CREATE TABLE sources (
    id              INTEGER PRIMARY KEY,
    asset_id        INTEGER NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    agent_id        TEXT NOT NULL,
    first_seen      TEXT NOT NULL,
    last_seen       TEXT NOT NULL,
    last_document_id TEXT NOT NULL,
    rule            TEXT NOT NULL,
    UNIQUE (asset_id, kind, agent_id)
);
CREATE INDEX sources_agent ON sources(agent_id);

-- Every accepted document, so that a replay is recognised and changes nothing.
CREATE TABLE documents (
    document_id TEXT PRIMARY KEY,
    agent_id    TEXT NOT NULL,
    source      TEXT NOT NULL,
    site_id     INTEGER NOT NULL REFERENCES sites(id),
    observed_at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    -- Inventory: the asset it merged into and how. NULL for sweeps.
    asset_id    INTEGER REFERENCES assets(id) ON DELETE SET NULL,
    rule        TEXT,
    -- Sweep: how many hosts it carried.
    hosts       INTEGER
);

CREATE TABLE history (
    id          INTEGER PRIMARY KEY,
    asset_id    INTEGER NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    field       TEXT NOT NULL,
    old_value   TEXT,
    new_value   TEXT,
    changed_at  TEXT NOT NULL,
    source      TEXT NOT NULL,
    document_id TEXT
);
CREATE INDEX history_asset ON history(asset_id, id);
