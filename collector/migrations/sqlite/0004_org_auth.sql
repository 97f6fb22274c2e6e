-- Organisation and access (issue #7): entities own sites, subnets place devices in sites,
-- shared referentials (departments, locations), people (users, roles, sessions, API tokens)
-- and the audit log of admin actions.
--
-- Portable like 0001: INTEGER ids, TEXT timestamps, no SQLite-only functions. Secrets are never
-- stored: sessions and API tokens by SHA-256, passwords as argon2id PHC strings.

CREATE TABLE entities (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL
);
-- Owns every site that existed before entities did, and sites created by the token CLI.
INSERT INTO entities (id, name, created_at) VALUES (1, 'Default', '1970-01-01T00:00:00.000000Z');

-- No REFERENCES here: SQLite refuses to add a foreign key column with a non-NULL default while
-- foreign keys are on. The store checks the entity when it creates or moves a site and refuses
-- to delete an entity that still owns sites.
ALTER TABLE sites ADD COLUMN entity_id INTEGER NOT NULL DEFAULT 1;
CREATE INDEX sites_entity ON sites(entity_id);

-- Which site a discovered address belongs to. Overlaps are refused within an entity (checked by
-- the store); two establishments may well use the same private range.
CREATE TABLE subnets (
    id          INTEGER PRIMARY KEY,
    cidr        TEXT NOT NULL,
    site_id     INTEGER NOT NULL REFERENCES sites(id),
    name        TEXT,
    created_at  TEXT NOT NULL
);
CREATE INDEX subnets_site ON subnets(site_id);

-- Group-wide referentials.
CREATE TABLE departments (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL
);
CREATE TABLE locations (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    -- Where it is, when it is in one site (a building, a floor); NULL for group-wide places.
    site_id     INTEGER REFERENCES sites(id),
    created_at  TEXT NOT NULL
);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    login         TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    -- argon2id, PHC string format (salt and parameters included).
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    -- A disabled user's sessions and API tokens stop working at once.
    disabled_at   TEXT
);

-- entity_id NULL: a group-wide role, valid in every entity. role: viewer, technician, admin.
CREATE TABLE user_roles (
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    entity_id   INTEGER REFERENCES entities(id) ON DELETE CASCADE,
    role        TEXT NOT NULL
);
-- One role per user and entity, the group-wide one included (NULLs are distinct in UNIQUE).
CREATE UNIQUE INDEX user_roles_one ON user_roles(user_id, COALESCE(entity_id, 0));

CREATE TABLE sessions (
    id          INTEGER PRIMARY KEY,
    hash        TEXT NOT NULL UNIQUE,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    -- Idle expiry runs from here; refreshed at most once a minute.
    last_used   TEXT NOT NULL,
    -- Absolute limit, whatever the activity.
    expires_at  TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE api_tokens (
    id          INTEGER PRIMARY KEY,
    hash        TEXT NOT NULL UNIQUE,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    -- The most the token may do, whatever its user's roles: viewer, technician or admin.
    role        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT,
    revoked_at  TEXT,
    last_used   TEXT
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);

-- Admin actions. actor_login is copied: the log must outlive renamed or deleted users.
CREATE TABLE audit (
    id          INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    actor_id    INTEGER,
    actor_login TEXT NOT NULL,
    action      TEXT NOT NULL,
    entity_id   INTEGER,
    target      TEXT NOT NULL,
    -- JSON object.
    details     TEXT NOT NULL
);
CREATE INDEX audit_at ON audit(at);
CREATE INDEX audit_entity ON audit(entity_id, at);
