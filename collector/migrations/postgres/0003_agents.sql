-- PostgreSQL twin of migrations/sqlite/0003_agents.sql: same tables and columns, BIGINT identity ids and
-- BIGINT integers (the Any driver reads every integer as i64). Change both files together.
--
-- Enrolled agent identities (issue #9): an agent registers an Ed25519 public key once, with a
-- site token; from then on every document claiming its agent_id must be signed by that key, so a
-- leaked site token alone cannot write over the agent's asset.
--
-- Portable like 0001: TEXT uuids and timestamps, no SQLite-only functions.

CREATE TABLE agents (
    -- As in documents: the agent's UUID in its hyphenated lower-case form.
    agent_id    TEXT PRIMARY KEY,
    site_id     BIGINT NOT NULL REFERENCES sites(id),
    -- Raw 32-byte Ed25519 public key, base64 (standard alphabet, padded).
    public_key  TEXT NOT NULL,
    enrolled_at TEXT NOT NULL,
    -- Set once by an admin; a revoked agent's documents and re-enrolments are refused.
    revoked_at  TEXT
);
