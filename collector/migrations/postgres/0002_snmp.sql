-- PostgreSQL twin of migrations/sqlite/0002_snmp.sql: same tables and columns, BIGINT identity ids and
-- BIGINT integers (the Any driver reads every integer as i64). Change both files together.
--
-- SNMP facts (issue #5): what network gear, printers and UPSes say about themselves, where
-- each PC is plugged in, and which devices are cabled to which.
--
-- Portable like 0001: plain ALTER TABLE ADD COLUMN, BIGINT ids, TEXT timestamps.

-- Firmware as identified from SNMP (switch OS version, printer firmware).
ALTER TABLE assets ADD COLUMN firmware TEXT;
-- Latest SNMP record of the asset without its bulky tables (forwarding table and ARP entries
-- are counted, not copied: they live in asset_ports and asset_macs), as JSON.
ALTER TABLE assets ADD COLUMN snmp_facts TEXT;
-- Observation time of snmp_facts: an SNMP document delivered late must not roll them back.
ALTER TABLE assets ADD COLUMN snmp_observed_at TEXT;

-- Where an asset is plugged in, from a switch's forwarding table. One row per asset: a PC is
-- at one place at a time. A switch's report replaces the rows it produced before.
CREATE TABLE asset_ports (
    asset_id        BIGINT PRIMARY KEY REFERENCES assets(id) ON DELETE CASCADE,
    switch_asset_id BIGINT NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    port            TEXT NOT NULL,
    if_index        BIGINT,
    vlan            BIGINT,
    -- The MAC the switch learnt on the port.
    mac             TEXT NOT NULL,
    seen_at         TEXT NOT NULL,
    document_id     TEXT NOT NULL
);
CREATE INDEX asset_ports_switch ON asset_ports(switch_asset_id);

-- LLDP/CDP neighbours resolved to assets. Replaced per device on each report; neighbours that
-- could not be resolved stay in the device's snmp_facts.
CREATE TABLE asset_links (
    asset_id          BIGINT NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    port              TEXT NOT NULL,
    neighbor_asset_id BIGINT NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    -- 'lldp' or 'cdp'.
    protocol          TEXT NOT NULL,
    remote_port       TEXT,
    seen_at           TEXT NOT NULL,
    document_id       TEXT NOT NULL,
    PRIMARY KEY (asset_id, port, neighbor_asset_id)
);
CREATE INDEX asset_links_neighbor ON asset_links(neighbor_asset_id);
