//! Enrolled agents: the public key each agent registered, and its revocation.
//!
//! Enrolment is first come, first served per agent id: once a key is registered, enrolling the
//! same id again succeeds only with the same key (an agent re-running `enroll`). Anything else
//! would let a leaked site token swap in its own key and impersonate the agent.

use chrono::Utc;
use serde::Serialize;
use sqlx::Row;
use uuid::Uuid;

use super::tokens::Site;
use super::{ts, Store};

/// What an enrolment request came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enrolment {
    /// Registered now.
    New {
        enrolled_at: String,
    },
    /// The same key was already registered for this agent (a re-run): nothing changed.
    Again {
        enrolled_at: String,
    },
    /// Another key holds this agent id.
    OtherKey,
    /// The agent is enrolled at another site.
    OtherSite(String),
    Revoked,
}

/// An enrolled agent as the signature check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentKey {
    pub site_id: i64,
    /// Raw Ed25519 public key.
    pub public_key: [u8; 32],
    pub revoked: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct AgentInfo {
    pub agent_id: String,
    pub site: String,
    pub enrolled_at: String,
    pub revoked_at: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum AgentRevoked {
    Now,
    Already,
    NoSuchAgent,
}

impl Store {
    pub async fn enroll_agent(
        &self,
        site: &Site,
        agent_id: Uuid,
        public_key: &[u8; 32],
    ) -> Result<Enrolment, sqlx::Error> {
        let key = encode_key(public_key);
        let mut w = self.write().await?;
        let existing = sqlx::query(
            "SELECT a.public_key, a.enrolled_at, a.revoked_at, a.site_id, s.name
             FROM agents a JOIN sites s ON s.id = a.site_id WHERE a.agent_id = $1",
        )
        .bind(agent_id.to_string())
        .fetch_optional(&mut *w.tx)
        .await?;
        let outcome = match existing {
            Some(row) => {
                let (stored, enrolled_at, revoked_at, site_id, site_name): (
                    String,
                    String,
                    Option<String>,
                    i64,
                    String,
                ) = (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
                if revoked_at.is_some() {
                    Enrolment::Revoked
                } else if site_id != site.id {
                    Enrolment::OtherSite(site_name)
                } else if stored != key {
                    Enrolment::OtherKey
                } else {
                    Enrolment::Again { enrolled_at }
                }
            }
            None => {
                let enrolled_at = ts(Utc::now());
                sqlx::query(
                    "INSERT INTO agents (agent_id, site_id, public_key, enrolled_at)
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(agent_id.to_string())
                .bind(site.id)
                .bind(&key)
                .bind(&enrolled_at)
                .execute(&mut *w.tx)
                .await?;
                Enrolment::New { enrolled_at }
            }
        };
        w.commit().await?;
        Ok(outcome)
    }

    /// The registered key of an agent, None when it never enrolled.
    pub async fn agent_key(&self, agent_id: Uuid) -> Result<Option<AgentKey>, sqlx::Error> {
        let row =
            sqlx::query("SELECT site_id, public_key, revoked_at FROM agents WHERE agent_id = $1")
                .bind(agent_id.to_string())
                .fetch_optional(self.pool())
                .await?;
        let Some(row) = row else { return Ok(None) };
        let stored: String = row.get(1);
        let public_key = decode_key(&stored).ok_or_else(|| {
            sqlx::Error::Decode(format!("agents.public_key of {agent_id} is not a key").into())
        })?;
        Ok(Some(AgentKey {
            site_id: row.get(0),
            public_key,
            revoked: row.get::<Option<String>, _>(2).is_some(),
        }))
    }

    pub async fn list_agents(&self) -> Result<Vec<AgentInfo>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT a.agent_id, s.name, a.enrolled_at, a.revoked_at
             FROM agents a JOIN sites s ON s.id = a.site_id ORDER BY a.enrolled_at, a.agent_id",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| AgentInfo {
                agent_id: r.get(0),
                site: r.get(1),
                enrolled_at: r.get(2),
                revoked_at: r.get(3),
            })
            .collect())
    }

    pub async fn revoke_agent(&self, agent_id: Uuid) -> Result<AgentRevoked, sqlx::Error> {
        let mut w = self.write().await?;
        let revoked: Option<Option<String>> =
            sqlx::query_scalar("SELECT revoked_at FROM agents WHERE agent_id = $1")
                .bind(agent_id.to_string())
                .fetch_optional(&mut *w.tx)
                .await?;
        let outcome = match revoked {
            None => AgentRevoked::NoSuchAgent,
            Some(Some(_)) => AgentRevoked::Already,
            Some(None) => {
                sqlx::query("UPDATE agents SET revoked_at = $1 WHERE agent_id = $2")
                    .bind(ts(Utc::now()))
                    .bind(agent_id.to_string())
                    .execute(&mut *w.tx)
                    .await?;
                AgentRevoked::Now
            }
        };
        w.commit().await?;
        Ok(outcome)
    }
}

fn encode_key(key: &[u8; 32]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(key)
}

fn decode_key(text: &str) -> Option<[u8; 32]> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?
        .try_into()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, Store, Site) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = Store::open(&url, 2).await.unwrap();
        store.create_token("main").await.unwrap();
        store.create_token("annex").await.unwrap();
        let site = Site {
            id: 1,
            name: "main".into(),
        };
        (dir, store, site)
    }

    #[tokio::test]
    async fn first_key_wins_and_revocation_sticks() {
        let (_dir, store, site) = store().await;
        let annex = Site {
            id: 2,
            name: "annex".into(),
        };
        let id = Uuid::new_v4();
        let (k1, k2) = ([1u8; 32], [2u8; 32]);
        assert!(matches!(
            store.enroll_agent(&site, id, &k1).await.unwrap(),
            Enrolment::New { .. }
        ));
        assert!(matches!(
            store.enroll_agent(&site, id, &k1).await.unwrap(),
            Enrolment::Again { .. }
        ));
        assert_eq!(
            store.enroll_agent(&site, id, &k2).await.unwrap(),
            Enrolment::OtherKey
        );
        assert_eq!(
            store.enroll_agent(&annex, id, &k1).await.unwrap(),
            Enrolment::OtherSite("main".into())
        );
        let key = store.agent_key(id).await.unwrap().unwrap();
        assert_eq!((key.public_key, key.revoked, key.site_id), (k1, false, 1));
        assert_eq!(store.agent_key(Uuid::new_v4()).await.unwrap(), None);

        assert_eq!(store.revoke_agent(id).await.unwrap(), AgentRevoked::Now);
        assert_eq!(store.revoke_agent(id).await.unwrap(), AgentRevoked::Already);
        assert_eq!(
            store.revoke_agent(Uuid::new_v4()).await.unwrap(),
            AgentRevoked::NoSuchAgent
        );
        assert!(store.agent_key(id).await.unwrap().unwrap().revoked);
        assert_eq!(
            store.enroll_agent(&site, id, &k1).await.unwrap(),
            Enrolment::Revoked
        );
        let listed = store.list_agents().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].agent_id, id.to_string());
        assert!(listed[0].revoked_at.is_some());
    }
}
