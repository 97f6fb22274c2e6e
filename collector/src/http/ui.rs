//! The web UI: static files of `collector/ui/` embedded at build time (see `build.rs`), served
//! at `/` (the page) and `/ui/{version}/{file}` (its modules, styles and dictionaries).
//!
//! Caching: `version` is a hash of every UI file, so a file's URL changes whenever any file
//! does; under the current version files are cached for a year (`immutable`). ES modules import
//! each other by relative URL, so they all carry the version of the page that loaded them. The
//! page itself is revalidated on every load through its ETag. A request for an older version
//! still gets the current file, uncached, rather than a broken page during an upgrade.
//!
//! Every response carries a strict Content-Security-Policy: scripts, styles and requests only
//! from the collector itself, no inline script or style, no framing.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

include!(concat!(env!("OUT_DIR"), "/ui_files.rs"));

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
    form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Placeholder in `index.html` replaced by the UI version.
const VERSION_MARK: &str = "__UI_VERSION__";

struct Asset {
    body: Vec<u8>,
    etag: HeaderValue,
    content_type: &'static str,
}

struct Ui {
    version: String,
    files: HashMap<String, Arc<Asset>>,
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}

fn etag(bytes: &[u8]) -> HeaderValue {
    let digest = hex::encode(Sha256::digest(bytes));
    HeaderValue::from_str(&format!("\"{}\"", &digest[..20])).expect("hex is a valid header")
}

/// Builds the served form of the UI from its files.
fn build<N: AsRef<str>, B: AsRef<[u8]>>(source: &[(N, B)]) -> Ui {
    let mut all = Sha256::new();
    for (name, bytes) in source {
        let (name, bytes) = (name.as_ref(), bytes.as_ref());
        all.update(name.as_bytes());
        all.update((bytes.len() as u64).to_le_bytes());
        all.update(bytes);
    }
    let version = hex::encode(all.finalize())[..12].to_string();
    let files = source
        .iter()
        .map(|(name, bytes)| {
            let (name, bytes) = (name.as_ref(), bytes.as_ref());
            let body = if name == "index.html" {
                String::from_utf8_lossy(bytes)
                    .replace(VERSION_MARK, &version)
                    .into_bytes()
            } else {
                bytes.to_vec()
            };
            let asset = Asset {
                etag: etag(&body),
                content_type: content_type(name),
                body,
            };
            (name.to_string(), Arc::new(asset))
        })
        .collect();
    Ui { version, files }
}

/// The UI as served: the embedded files, or in debug builds with `PARC_UI_DIR` set, the files
/// of that directory read again on every request (so a page edit needs no rebuild).
fn ui() -> Arc<Ui> {
    static EMBEDDED: OnceLock<Arc<Ui>> = OnceLock::new();
    if cfg!(debug_assertions) {
        if let Some(dir) = std::env::var_os("PARC_UI_DIR") {
            let files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| {
                    let name = e.file_name().into_string().ok()?;
                    Some((name, std::fs::read(e.path()).ok()?))
                })
                .collect();
            let mut files = files;
            files.sort();
            return Arc::new(build(&files));
        }
    }
    EMBEDDED.get_or_init(|| Arc::new(build(UI_FILES))).clone()
}

/// The UI version currently served (a hash of its files).
pub fn version() -> String {
    ui().version.clone()
}

fn respond(asset: &Asset, cache: &'static str, request: &HeaderMap) -> Response {
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .is_some_and(|tags| tags.as_bytes() == asset.etag.as_bytes());
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        (header::ETAG, asset.etag.clone()),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    ];
    if fresh {
        (StatusCode::NOT_MODIFIED, headers).into_response()
    } else {
        (headers, asset.body.clone()).into_response()
    }
}

/// `GET /`: the page, revalidated on every load.
pub async fn index(request: HeaderMap) -> Response {
    let ui = ui();
    let asset = ui
        .files
        .get("index.html")
        .expect("ui/index.html is embedded");
    respond(asset, "no-cache", &request)
}

/// `GET /ui/{version}/{file}`.
pub async fn file(
    Path((version, name)): Path<(String, String)>,
    request: HeaderMap,
) -> Result<Response, ApiError> {
    let ui = ui();
    let asset = ui
        .files
        .get(&name)
        .filter(|_| name != "index.html")
        .ok_or_else(|| ApiError::NotFound(format!("no UI file {name:?}")))?;
    let cache = if version == ui.version {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    Ok(respond(asset, cache, &request))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_by_extension() {
        for (name, ty) in [
            ("app.js", "text/javascript; charset=utf-8"),
            ("style.css", "text/css; charset=utf-8"),
            ("fr.json", "application/json"),
            ("index.html", "text/html; charset=utf-8"),
            ("logo.svg", "image/svg+xml"),
            ("README", "application/octet-stream"),
        ] {
            assert_eq!(content_type(name), ty, "{name}");
        }
    }

    #[test]
    fn the_page_loads_modules_of_its_own_version() {
        let page = String::from_utf8(build(UI_FILES).files["index.html"].body.clone()).unwrap();
        assert!(!page.contains(VERSION_MARK));
        assert!(
            page.contains(&format!("/ui/{}/app.js", version())),
            "{page}"
        );
        // No inline script: the CSP would block it.
        assert!(!page.contains("<script>") && !page.contains("onclick"));
    }
}
