-- Sweeps started from the web UI (issue #8): a technician asks for a sweep of targets inside a
-- site's subnets; an agent of that site claims the job, sweeps, and answers with a discovery
-- document carrying the job id (or with the reason it could not).
--
-- Portable like 0001: INTEGER ids, TEXT timestamps, JSON as TEXT written and read by the
-- collector only (no JSON functions in SQL).

CREATE TABLE sweep_jobs (
    id                 INTEGER PRIMARY KEY,
    site_id            INTEGER NOT NULL REFERENCES sites(id),
    -- JSON array of the targets as typed ("10.1.2.0/24", "10.1.2.5-9", "10.1.2.7").
    targets            TEXT NOT NULL,
    requested_by       INTEGER REFERENCES users(id) ON DELETE SET NULL,
    -- Copied, like the audit log's: the list must still say who asked once the user is gone.
    requested_by_login TEXT NOT NULL,
    requested_at       TEXT NOT NULL,
    -- queued -> running (claimed) -> done | failed; queued -> expired when no agent of the site
    -- claims it in time. A queued job past its time reads as expired before anything writes it.
    state              TEXT NOT NULL,
    -- The agent id (UUID) that claimed it.
    claimed_by         TEXT,
    started_at         TEXT,
    finished_at        TEXT,
    error              TEXT,
    -- The discovery document that answered it.
    document_id        TEXT,
    hosts_found        INTEGER
);
-- The claim: the oldest queued job of a site.
CREATE INDEX sweep_jobs_site_state ON sweep_jobs(site_id, state, id);

-- What a job's sweep found, host by host, with the asset each host was merged into. Kept for
-- jobs only: a scheduled sweep's hosts are the assets' sweep facts.
CREATE TABLE sweep_job_hosts (
    job_id      INTEGER NOT NULL REFERENCES sweep_jobs(id) ON DELETE CASCADE,
    address     TEXT NOT NULL,
    mac         TEXT,
    vendor      TEXT,
    name        TEXT,
    -- JSON arrays: how it answered (strongest first), open TCP ports.
    methods     TEXT NOT NULL,
    open_ports  TEXT NOT NULL,
    rtt_us      INTEGER,
    asset_id    INTEGER REFERENCES assets(id) ON DELETE SET NULL,
    PRIMARY KEY (job_id, address)
);

-- What every sweep document covered, so that the network view can list the sweeps of one
-- subnet, scheduled ones included: JSON array of targets, and the job it answered.
ALTER TABLE documents ADD COLUMN targets TEXT;
ALTER TABLE documents ADD COLUMN job_id INTEGER;
