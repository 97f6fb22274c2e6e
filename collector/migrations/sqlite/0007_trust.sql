-- Cloned agent identities (issue #9): one agent id reporting from two machines (a disk image
-- copied with the agent's state, a VM cloned after enrolment). The documents of the other
-- machine go to their own asset instead of overwriting the first one; each pair is recorded
-- here and listed by GET /api/v1/reports/clones.
--
-- Portable: TEXT uuids and timestamps, ON CONFLICT upserts. PostgreSQL twin in
-- migrations/postgres/0007_trust.sql; change both files together.

CREATE TABLE agent_clones (
    id                INTEGER PRIMARY KEY,
    agent_id          TEXT NOT NULL,
    -- The asset the agent id reported first (the one whose hardware disagrees).
    original_asset_id INTEGER NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    -- The asset the disagreeing document went to.
    clone_asset_id    INTEGER NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    first_seen        TEXT NOT NULL,
    last_seen         TEXT NOT NULL,
    -- Documents of the clone seen so far.
    documents         INTEGER NOT NULL DEFAULT 1,
    UNIQUE (agent_id, original_asset_id, clone_asset_id)
);

CREATE INDEX agent_clones_original ON agent_clones (original_asset_id);
CREATE INDEX agent_clones_clone ON agent_clones (clone_asset_id);
