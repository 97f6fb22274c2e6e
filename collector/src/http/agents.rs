//! Agent identities on the wire: `POST /api/v1/agents/enroll`, the signature check every
//! document endpoint runs once the document's agent id is known, and
//! `GET /api/v1/reports/clones` (agent ids reporting from two machines, see
//! [`crate::store::clones`]).
//!
//! A signature covers [`signed_message`]: a domain tag, the agent id and the SHA-256 of the
//! exact body bytes sent (compressed, as on the wire). No timestamp: a replayed document is
//! already a no-op (document ids are unique) and an old one cannot roll facts back (stale
//! observations are ignored), so a freshness window would only refuse the PCs whose clocks are
//! wrong, which hospitals have plenty of.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use ed25519_dalek::{Signature, VerifyingKey};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::AppState;
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::store::agents::Enrolment;
use crate::store::clones::ClonesReport;

/// The agent id a signed request speaks for.
pub const AGENT_HEADER: &str = "x-parc-agent";
/// `ed25519=<base64 of the 64-byte signature>`.
pub const SIGNATURE_HEADER: &str = "x-parc-signature";
const SCHEME: &str = "ed25519=";
/// Bounds the enrolment body: it holds two short strings.
const MAX_ENROL_BYTES: usize = 4096;

/// What the agent signs for `body`. The agent builds the same bytes (its own copy of this
/// function is tested against the same vector).
pub fn signed_message(agent_id: Uuid, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(64 + 36 + 32);
    m.extend_from_slice(b"parc-document-signature-v1\0");
    m.extend_from_slice(agent_id.hyphenated().to_string().as_bytes());
    m.push(0);
    m.extend_from_slice(&Sha256::digest(body));
    m
}

/// Why a signature is not acceptable; the message is sent to the agent.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing {SIGNATURE_HEADER} header (ed25519=<base64>)")]
    Missing,
    #[error("{SIGNATURE_HEADER} must be ed25519=<base64 of 64 bytes>")]
    Malformed,
    #[error("the signature does not verify with the agent's enrolled key")]
    Invalid,
}

/// Checks `headers`' signature of `body` by `agent_id` with `key` (pure, table-tested).
pub fn verify(
    headers: &HeaderMap,
    agent_id: Uuid,
    key: &[u8; 32],
    body: &[u8],
) -> Result<(), SignatureError> {
    let value = headers
        .get(SIGNATURE_HEADER)
        .ok_or(SignatureError::Missing)?;
    let encoded = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().strip_prefix(SCHEME))
        .ok_or(SignatureError::Malformed)?;
    let bytes: [u8; 64] = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(SignatureError::Malformed)?;
    let key = VerifyingKey::from_bytes(key).map_err(|_| SignatureError::Invalid)?;
    key.verify_strict(
        &signed_message(agent_id, body),
        &Signature::from_bytes(&bytes),
    )
    .map_err(|_| SignatureError::Invalid)
}

/// The hook of every document endpoint, run after the token and the document are checked and
/// before anything is written: an enrolled agent's documents must be signed by its key; a
/// revoked agent is refused; an agent that never enrolled passes unless enrolment is required.
pub async fn check_document(
    state: &AppState,
    headers: &HeaderMap,
    agent_id: Uuid,
    body: &[u8],
) -> Result<(), ApiError> {
    if let Some(claimed) = headers.get(AGENT_HEADER) {
        let same = claimed
            .to_str()
            .ok()
            .and_then(|v| Uuid::parse_str(v.trim()).ok())
            == Some(agent_id);
        if !same {
            return Err(ApiError::Unauthorized(format!(
                "{AGENT_HEADER} does not match the document's agent id {agent_id}"
            )));
        }
    }
    match state.store.agent_key(agent_id).await? {
        Some(key) if key.revoked => Err(ApiError::Unauthorized(format!(
            "agent {agent_id} is revoked"
        ))),
        Some(key) => verify(headers, agent_id, &key.public_key, body).map_err(|e| {
            tracing::warn!(%agent_id, reason = %e, "document refused: bad agent signature");
            ApiError::Unauthorized(format!("agent {agent_id} is enrolled: {e}"))
        }),
        None if state.require_enrolment => Err(ApiError::Unauthorized(format!(
            "agent {agent_id} is not enrolled and this collector requires enrolment \
             (run parc-agent enroll)"
        ))),
        None => Ok(()),
    }
}

/// `GET /api/v1/reports/clones`: viewer and up, pairs whose two assets the caller may read.
pub async fn clones(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<ClonesReport>, ApiError> {
    let scope = principal.scope(Role::Viewer);
    Ok(Json(state.store.report_clones(&scope).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrolRequest {
    agent_id: Uuid,
    /// Raw 32-byte Ed25519 public key, base64.
    public_key: String,
}

/// `POST /api/v1/agents/enroll`: site token, JSON `{agent_id, public_key}`, signed by that key
/// (proof that the agent holds it). 201 when enrolled, 200 when already enrolled with this
/// key, 409 when the id is held by another key or site, 401 when revoked.
#[tracing::instrument(skip_all, fields(site, agent_id))]
pub async fn enroll(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let site = super::ingest::authenticate(&state, &headers).await?;
    tracing::Span::current().record("site", site.name.as_str());
    if body.len() > MAX_ENROL_BYTES {
        return Err(ApiError::BadRequest(format!(
            "enrolment body larger than {MAX_ENROL_BYTES} bytes"
        )));
    }
    let request: EnrolRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!(
            "enrolment body must be {{\"agent_id\": UUID, \"public_key\": base64}}: {e}"
        ))
    })?;
    tracing::Span::current().record("agent_id", request.agent_id.to_string());
    let public_key: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(request.public_key.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .filter(|k: &[u8; 32]| VerifyingKey::from_bytes(k).is_ok())
        .ok_or_else(|| {
            ApiError::BadRequest("public_key must be a base64 Ed25519 public key (32 bytes)".into())
        })?;
    verify(&headers, request.agent_id, &public_key, &body).map_err(|e| {
        ApiError::Unauthorized(format!(
            "enrolment must be signed by the key it registers: {e}"
        ))
    })?;
    let agent_id = request.agent_id;
    let conflict = |message: String| {
        (
            StatusCode::CONFLICT,
            Json(json!({"error": "conflict", "message": message})),
        )
            .into_response()
    };
    let response = match state
        .store
        .enroll_agent(&site, agent_id, &public_key)
        .await?
    {
        Enrolment::New { enrolled_at } => {
            tracing::info!("agent enrolled");
            (
                StatusCode::CREATED,
                Json(json!({"agent_id": agent_id, "site": site.name, "enrolled_at": enrolled_at})),
            )
                .into_response()
        }
        Enrolment::Again { enrolled_at } => (
            StatusCode::OK,
            Json(json!({"agent_id": agent_id, "site": site.name, "enrolled_at": enrolled_at})),
        )
            .into_response(),
        Enrolment::OtherKey => {
            tracing::warn!("enrolment refused: the agent id is enrolled with another key");
            conflict(format!(
                "agent {agent_id} is already enrolled with another key; if this machine was \
                 reinstalled, an admin revokes the old identity and the agent gets a new id"
            ))
        }
        Enrolment::OtherSite(other) => conflict(format!(
            "agent {agent_id} is enrolled at site {other:?}, not {:?}",
            site.name
        )),
        Enrolment::Revoked => {
            return Err(ApiError::Unauthorized(format!(
                "agent {agent_id} is revoked"
            )))
        }
    };
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn signed(key: &SigningKey, agent_id: Uuid, body: &[u8]) -> HeaderMap {
        let sig = key.sign(&signed_message(agent_id, body));
        let mut h = HeaderMap::new();
        let value = format!(
            "{SCHEME}{}",
            base64::engine::general_purpose::STANDARD.encode(sig.to_bytes())
        );
        h.insert(SIGNATURE_HEADER, value.parse().unwrap());
        h
    }

    #[test]
    fn message_vector() {
        // The agent's delivery tests check the same bytes.
        let id = Uuid::parse_str("0b6c4a52-55a3-4c0e-9f3e-1d2f1c9b8a70").unwrap();
        let mut expected = b"parc-document-signature-v1\0".to_vec();
        expected.extend_from_slice(b"0b6c4a52-55a3-4c0e-9f3e-1d2f1c9b8a70\0");
        // SHA-256("body")
        expected.extend_from_slice(
            &hex::decode("230d8358dc8e8890b4c58deeb62912ee2f20357ae92a5cc861b98e68fe31acb5")
                .unwrap(),
        );
        assert_eq!(signed_message(id, b"body"), expected);
    }

    #[test]
    fn signatures() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let public = key.verifying_key().to_bytes();
        let other = SigningKey::from_bytes(&[8u8; 32]);
        let id = Uuid::new_v4();
        let body = b"gzip bytes".as_slice();
        let mut garbled = HeaderMap::new();
        garbled.insert(SIGNATURE_HEADER, "ed25519=!!!".parse().unwrap());
        let mut wrong_scheme = signed(&key, id, body);
        let v = wrong_scheme[SIGNATURE_HEADER]
            .to_str()
            .unwrap()
            .replace("ed25519", "rsa");
        wrong_scheme.insert(SIGNATURE_HEADER, v.parse().unwrap());
        type Case<'a> = (
            &'a str,
            HeaderMap,
            Uuid,
            &'a [u8],
            Result<(), SignatureError>,
        );
        let cases: Vec<Case> = vec![
            ("good", signed(&key, id, body), id, body, Ok(())),
            (
                "none",
                HeaderMap::new(),
                id,
                body,
                Err(SignatureError::Missing),
            ),
            ("garbled", garbled, id, body, Err(SignatureError::Malformed)),
            (
                "scheme",
                wrong_scheme,
                id,
                body,
                Err(SignatureError::Malformed),
            ),
            (
                "other key",
                signed(&other, id, body),
                id,
                body,
                Err(SignatureError::Invalid),
            ),
            (
                "other body",
                signed(&key, id, body),
                id,
                b"gzip bytez",
                Err(SignatureError::Invalid),
            ),
            (
                "other agent",
                signed(&key, Uuid::new_v4(), body),
                id,
                body,
                Err(SignatureError::Invalid),
            ),
        ];
        for (name, headers, agent, bytes, expected) in cases {
            assert_eq!(verify(&headers, agent, &public, bytes), expected, "{name}");
        }
    }
}
