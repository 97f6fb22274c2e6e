-- An agent's asset is found by `kind = 'agent_inventory' AND agent_id = $1`. With an index on
-- agent_id alone, PostgreSQL's planner, before any statistics on a new table (a first storm
-- starts from an empty one, and autovacuum had not analysed it by its end), combined it with
-- sources_kind_last_seen, which reads every agent's row: each document's lookup grew with the
-- fleet (7.8 million index fetches for a storm of 2,907 agents). One index on both columns
-- answers it alone, whatever the statistics.
DROP INDEX sources_agent;
CREATE INDEX sources_agent ON sources(agent_id, kind);
