//! The access-control matrix: every route of `endpoints()` × every kind of caller × an object
//! of the caller's own entity (A) and of another entity (B), over real HTTP against a real
//! collector (`parc_collector::serve` on a loopback socket) and a real database (SQLite, or
//! PostgreSQL with `PARC_TEST_POSTGRES=1`).
//!
//! [`ROWS`] holds one row per route: method, path, the object it targets and the access rule
//! (the minimum role and where it must be held). The expected answer of each case comes from
//! that rule and the caller's effective roles, written out by hand in [`callers`]:
//!
//! - allowed: 2xx (a row may name another status reached only after the access checks, such
//!   as 409 for deleting an entity that still owns sites);
//! - below the role: 403;
//! - an object of an entity the caller cannot read: 404 (422 when the object is named in the
//!   body, as the handlers answer for a missing referenced record);
//! - lists: 200, the A marker present and the B marker ("zzsud") absent unless the caller's
//!   group-wide role covers the list;
//! - routes for agents (site tokens): 401 for every user credential.
//!
//! A route without a row fails the test, so a new route cannot be added untested. Write
//! routes act on fresh objects made for each case, so that one case cannot change another's.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use parc_collector::auth::bootstrap::system;
use parc_collector::auth::{password, Role};
use parc_collector::http::{endpoints, AppState};
use parc_collector::store::org::{parse_cidr, RefKind};
use parc_collector::store::users::NewUser;
use parc_collector::store::Store;
use parc_shared::{
    DiscoveredHost, Discovery, Document, DocumentHeader, Inventory, ProbeMethod, SourceKind,
};
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use Role::{Admin, Technician, Viewer};

/// Every user of the test has this password (hashed once).
const PASSWORD: &str = "correct horse battery staple";
/// In every name of entity A's records, and of entity B's: what list checks look for.
const MARK_A: &str = "zznord";
const MARK_B: &str = "zzsud";
/// Fresh assets per entity for merges, splits and undos (two per case, from two agents).
const POOL: usize = 80;

// ---------------------------------------------------------------------------------------
// The table.

/// What a route acts on; the case prepares a fresh or shared one in the entity under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// Nothing of an entity: the case runs once per caller.
    Nothing,
    /// The entity's computer (an agent inventory, old enough to be stale and silent).
    Asset,
    /// Two fresh assets: the path's and the body's `from`.
    MergePair,
    /// A fresh asset made of two merged ones; the body moves one source out.
    Merged,
    /// The operation of a fresh merge.
    Operation,
    /// The entity's site (path or body).
    Site,
    /// A fresh site, to delete.
    FreshSite,
    /// The entity itself (path or body).
    Entity,
    /// The entity's subnet.
    Subnet,
    /// A fresh subnet, to delete.
    FreshSubnet,
    /// The entity's queued sweep job.
    SweepJob,
    /// A fresh agent token of the entity's site.
    SiteToken,
    /// A freshly enrolled agent of the entity's site.
    Agent,
    /// A fresh user with the viewer role in the entity.
    User,
    /// A fresh API token of a fresh user of the entity.
    UserToken,
    /// A fresh department or location (group-wide: once per caller).
    Department,
    Location,
    /// The caller's own session, fresh (signing out must not end the caller's other cases).
    OwnSession,
}

impl Target {
    fn per_entity(self) -> bool {
        !matches!(
            self,
            Target::Nothing | Target::Department | Target::Location | Target::OwnSession
        )
    }
}

/// Which lists' entries the caller sees: (A's, B's).
type Visible = fn(&Caller) -> (bool, bool);

/// The access rule of a route.
#[derive(Clone, Copy)]
enum Need {
    /// Anyone, signed in or not.
    Public,
    /// Site tokens only: user credentials are 401.
    Agent,
    /// Any signed-in user.
    Signed,
    /// A group-wide role or any API token.
    Metrics,
    /// A group-wide role; no entity involved.
    Group(Role),
    /// This role in the object's entity; an entity the caller cannot read hides the object.
    In(Role),
    /// The object is hidden as for `In`, but changing it needs this group-wide role.
    GroupIn(Role),
    /// 403 without an admin role somewhere, then as `In`.
    AdminThenIn(Role),
    /// A user: visible to admins of the user's entity, changed by group admins only.
    UserAdmin,
    /// Another user's API token: group admins only, hidden from everyone else.
    GroupAdminOnly,
    /// A list: 403 without the role somewhere (None: anyone signed in); then what is visible.
    /// `None` for lists whose test data cannot be made here (their status is still checked).
    List(Option<Role>, Option<Visible>),
}

struct Row {
    method: &'static str,
    /// As in `endpoints()`.
    path: &'static str,
    query: &'static str,
    target: Target,
    need: Need,
    /// The answer for an object of an entity the caller cannot read.
    hidden: u16,
    /// The answer when allowed, if not 2xx.
    allowed: Option<u16>,
    body: fn(&Obj, u32) -> Option<Value>,
}

fn none(_: &Obj, _: u32) -> Option<Value> {
    None
}

/// Assets, reports and most lists: entity A's callers see A, group-wide readers see B too.
fn scoped(c: &Caller) -> (bool, bool) {
    (true, c.group.is_some())
}

/// Users and the audit log: entity admins their entities, group admins everything.
fn admins(c: &Caller) -> (bool, bool) {
    (true, c.group >= Some(Admin))
}

/// API tokens: one's own (logins of A's users carry A's marker), group admins all.
fn own_tokens(c: &Caller) -> (bool, bool) {
    let all = c.group >= Some(Admin);
    (all || c.login.contains(MARK_A), all)
}

const fn row(method: &'static str, path: &'static str, target: Target, need: Need) -> Row {
    Row {
        method,
        path,
        query: "",
        target,
        need,
        hidden: 404,
        allowed: None,
        body: none,
    }
}

const fn list(path: &'static str, gate: Option<Role>, visible: Option<Visible>) -> Row {
    row("GET", path, Target::Nothing, Need::List(gate, visible))
}

impl Row {
    const fn body(mut self, body: fn(&Obj, u32) -> Option<Value>) -> Row {
        self.body = body;
        self
    }
    const fn query(mut self, query: &'static str) -> Row {
        self.query = query;
        self
    }
    const fn hidden(mut self, status: u16) -> Row {
        self.hidden = status;
        self
    }
    const fn allowed(mut self, status: u16) -> Row {
        self.allowed = Some(status);
        self
    }
}

use Need::*;
use Target as T;

const ROWS: &[Row] = &[
    // Public: the UI, health, the API description, signing in.
    row("GET", "/", T::Nothing, Public),
    row("GET", "/ui/{version}/{file}", T::Nothing, Public),
    row("GET", "/healthz", T::Nothing, Public),
    row("GET", "/api/v1/openapi.json", T::Nothing, Public),
    row("POST", "/api/v1/session", T::Nothing, Public)
        .body(|_, _| Some(json!({"login": "viewer.zznord", "password": PASSWORD}))),
    row("GET", "/metrics", T::Nothing, Metrics),
    // Agents' routes take site tokens, never a user's credentials.
    row("POST", "/api/v1/inventories", T::Nothing, Agent).body(|_, _| Some(json!({}))),
    row("POST", "/api/v1/discoveries", T::Nothing, Agent).body(|_, _| Some(json!({}))),
    row("POST", "/api/v1/snmp", T::Nothing, Agent).body(|_, _| Some(json!({}))),
    row("POST", "/api/v1/agents/enroll", T::Nothing, Agent).body(|_, _| Some(json!({}))),
    row("POST", "/api/v1/agents/jobs/claim", T::Nothing, Agent)
        .body(|_, _| Some(json!({"agent_id": Uuid::nil()}))),
    row("POST", "/api/v1/agents/jobs/{id}/fail", T::SweepJob, Agent)
        .body(|_, _| Some(json!({"agent_id": Uuid::nil(), "error": "x"}))),
    // Assets.
    list("/api/v1/dashboard", None, Some(scoped)),
    list("/api/v1/assets", None, Some(scoped)).query("?per_page=500"),
    list("/api/v1/assets/export", None, Some(scoped)).query("?format=json"),
    row("GET", "/api/v1/assets/{id}", T::Asset, In(Viewer)),
    row("GET", "/api/v1/assets/{id}/history", T::Asset, In(Viewer)),
    row("GET", "/api/v1/assets/{id}/glpi", T::Asset, In(Viewer)),
    row("PATCH", "/api/v1/assets/{id}", T::Asset, In(Technician))
        .body(|_, n| Some(json!({"notes": format!("note {n}")}))),
    row("POST", "/api/v1/assets/{id}/merge", T::MergePair, In(Admin))
        .body(|o, _| Some(json!({"from": o.other}))),
    row("POST", "/api/v1/assets/{id}/split", T::Merged, In(Admin))
        .body(|o, _| Some(json!({"sources": [o.other]}))),
    row(
        "POST",
        "/api/v1/operations/{id}/undo",
        T::Operation,
        In(Admin),
    ),
    // Reports.
    list("/api/v1/reports/unmanaged", None, Some(scoped)),
    list("/api/v1/reports/silent-agents", None, Some(scoped)),
    list("/api/v1/reports/stale", None, Some(scoped)),
    // Clones need two machines sharing an agent id; only the status is checked here.
    list("/api/v1/reports/clones", None, None),
    // Sweeps and the network view.
    row("POST", "/api/v1/sweeps", T::Site, In(Technician))
        .body(|o, _| Some(json!({"site_id": o.site, "targets": [o.cidr]}))),
    list("/api/v1/sweeps", None, Some(scoped)),
    row("GET", "/api/v1/sweeps/{id}", T::SweepJob, In(Viewer)),
    row("GET", "/api/v1/subnets/{id}/devices", T::Subnet, In(Viewer)),
    // Sessions, users, API tokens.
    row("DELETE", "/api/v1/session", T::OwnSession, Signed),
    row("GET", "/api/v1/me", T::Nothing, Signed),
    list("/api/v1/users", Some(Admin), Some(admins)),
    row("POST", "/api/v1/users", T::Entity, AdminThenIn(Admin))
        .hidden(422)
        .body(|o, n| {
            Some(json!({
                "login": format!("new{n}.{}", o.mark),
                "password": PASSWORD,
                "roles": [{"entity_id": o.entity, "role": "viewer"}],
            }))
        }),
    row("PATCH", "/api/v1/users/{id}", T::User, UserAdmin)
        .body(|o, n| Some(json!({"display_name": format!("renamed {n} {}", o.mark)}))),
    row(
        "PUT",
        "/api/v1/users/{id}/roles",
        T::User,
        AdminThenIn(Admin),
    )
    .hidden(422)
    .body(|o, _| Some(json!({"entity_id": o.entity, "role": "technician"}))),
    list("/api/v1/api-tokens", None, Some(own_tokens)),
    row("POST", "/api/v1/api-tokens", T::Nothing, Signed)
        .body(|_, n| Some(json!({"name": format!("t{n}"), "role": "viewer"}))),
    row(
        "DELETE",
        "/api/v1/api-tokens/{id}",
        T::UserToken,
        GroupAdminOnly,
    ),
    // The organisation.
    list("/api/v1/entities", None, Some(scoped)),
    row("POST", "/api/v1/entities", T::Nothing, Group(Admin))
        .body(|_, n| Some(json!({"name": format!("entity {n}")}))),
    row("PATCH", "/api/v1/entities/{id}", T::Entity, GroupIn(Admin))
        .body(|o, n| Some(json!({"name": format!("CH {} {n}", o.mark)}))),
    // Both entities own sites: the refusal comes after the access checks.
    row("DELETE", "/api/v1/entities/{id}", T::Entity, GroupIn(Admin)).allowed(409),
    list("/api/v1/sites", None, Some(scoped)),
    row("POST", "/api/v1/sites", T::Entity, In(Admin))
        .hidden(422)
        .body(|o, n| Some(json!({"name": format!("site-{}-{n}", o.mark), "entity_id": o.entity}))),
    row("PATCH", "/api/v1/sites/{id}", T::Site, In(Admin))
        .body(|o, n| Some(json!({"name": format!("site-{}-{n}", o.mark)}))),
    row("DELETE", "/api/v1/sites/{id}", T::FreshSite, In(Admin)),
    row("POST", "/api/v1/sites/{id}/tokens", T::Site, In(Admin)),
    row("DELETE", "/api/v1/tokens/{id}", T::SiteToken, In(Admin)),
    row("POST", "/api/v1/agents/{id}/revoke", T::Agent, In(Admin)),
    list("/api/v1/subnets", None, Some(scoped)),
    row("POST", "/api/v1/subnets", T::Site, In(Admin))
        .hidden(422)
        .body(|o, n| {
            Some(json!({
                "cidr": format!("10.{}.{}.0/24", n / 256, n % 256),
                "site_id": o.site,
                "name": format!("net-{}-{n}", o.mark),
            }))
        }),
    row("DELETE", "/api/v1/subnets/{id}", T::FreshSubnet, In(Admin)),
    // Group-wide referentials.
    row("GET", "/api/v1/departments", T::Nothing, Signed),
    row("POST", "/api/v1/departments", T::Nothing, Group(Admin))
        .body(|_, n| Some(json!({"name": format!("department {n}")}))),
    row(
        "PATCH",
        "/api/v1/departments/{id}",
        T::Department,
        Group(Admin),
    )
    .body(|_, n| Some(json!({"name": format!("department {n}")}))),
    row(
        "DELETE",
        "/api/v1/departments/{id}",
        T::Department,
        Group(Admin),
    ),
    row("GET", "/api/v1/locations", T::Nothing, Signed),
    row("POST", "/api/v1/locations", T::Nothing, Group(Admin))
        .body(|_, n| Some(json!({"name": format!("location {n}")}))),
    row("PATCH", "/api/v1/locations/{id}", T::Location, Group(Admin))
        .body(|_, n| Some(json!({"name": format!("location {n}")}))),
    row(
        "DELETE",
        "/api/v1/locations/{id}",
        T::Location,
        Group(Admin),
    ),
    list("/api/v1/audit", Some(Admin), Some(admins)),
];

// ---------------------------------------------------------------------------------------
// Callers.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    /// An API token with this role (it caps the user's).
    Token(Role),
    /// A browser session (cookie and the CSRF header).
    Session,
}

/// A kind of caller, with its effective roles written out (not computed by the code under
/// test): `group` holds everywhere, `in_a` in entity A (at least `group`).
#[derive(Debug, Clone)]
struct Caller {
    name: &'static str,
    login: &'static str,
    via: Via,
    group: Option<Role>,
    in_a: Option<Role>,
}

impl Caller {
    /// The role in force for an object of entity A (`true`) or B.
    fn role(&self, in_a: bool) -> Option<Role> {
        if in_a {
            self.in_a
        } else {
            self.group
        }
    }
    fn admin_somewhere(&self) -> bool {
        self.in_a >= Some(Admin)
    }
}

/// A user: login, group-wide role, role in A, role in B.
type UserRow = (&'static str, Option<Role>, Option<Role>, Option<Role>);

const USERS: &[UserRow] = &[
    ("viewer.zznord", None, Some(Viewer), None),
    ("tech.zznord", None, Some(Technician), None),
    ("admin.zznord", None, Some(Admin), None),
    ("mixed.zznord", Some(Viewer), Some(Admin), None),
    ("gviewer", Some(Viewer), None, None),
    ("gtech", Some(Technician), None, None),
    ("gadmin", Some(Admin), None, None),
    ("viewer.zzsud", None, None, Some(Viewer)),
];

fn callers() -> Vec<Caller> {
    let c = |name, login, via, group, in_a| Caller {
        name,
        login,
        via,
        group,
        in_a,
    };
    use Via::*;
    vec![
        c(
            "viewer of A",
            "viewer.zznord",
            Token(Viewer),
            None,
            Some(Viewer),
        ),
        c(
            "technician of A",
            "tech.zznord",
            Token(Technician),
            None,
            Some(Technician),
        ),
        c(
            "admin of A",
            "admin.zznord",
            Token(Admin),
            None,
            Some(Admin),
        ),
        c(
            "admin of A, viewer token",
            "admin.zznord",
            Token(Viewer),
            None,
            Some(Viewer),
        ),
        c(
            "admin of A, technician token",
            "admin.zznord",
            Token(Technician),
            None,
            Some(Technician),
        ),
        c(
            "group viewer, admin of A",
            "mixed.zznord",
            Token(Admin),
            Some(Viewer),
            Some(Admin),
        ),
        c(
            "group viewer",
            "gviewer",
            Token(Viewer),
            Some(Viewer),
            Some(Viewer),
        ),
        c(
            "group technician",
            "gtech",
            Token(Technician),
            Some(Technician),
            Some(Technician),
        ),
        c(
            "group admin",
            "gadmin",
            Token(Admin),
            Some(Admin),
            Some(Admin),
        ),
        c(
            "group admin, viewer token",
            "gadmin",
            Token(Viewer),
            Some(Viewer),
            Some(Viewer),
        ),
        c(
            "group admin, technician token",
            "gadmin",
            Token(Technician),
            Some(Technician),
            Some(Technician),
        ),
        c(
            "viewer of A, session",
            "viewer.zznord",
            Session,
            None,
            Some(Viewer),
        ),
        c(
            "admin of A, session",
            "admin.zznord",
            Session,
            None,
            Some(Admin),
        ),
        c(
            "group admin, session",
            "gadmin",
            Session,
            Some(Admin),
            Some(Admin),
        ),
    ]
}

// ---------------------------------------------------------------------------------------
// Expectations.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Allowed(Option<u16>),
    Forbidden,
    Hidden(u16),
    Unauthorized,
    /// 200 and these markers present (A's, B's).
    Listed(Option<(bool, bool)>),
}

/// `in_a`: None when the row has no entity, else whether the object is A's.
fn expect(row: &Row, c: &Caller, in_a: Option<bool>) -> Expect {
    let allowed = Expect::Allowed(row.allowed);
    let hidden = Expect::Hidden(row.hidden);
    let gate = |ok: bool| if ok { allowed } else { Expect::Forbidden };
    let role = in_a.map(|a| c.role(a));
    match row.need {
        Public | Signed => allowed,
        Agent => Expect::Unauthorized,
        Metrics => gate(c.group.is_some() || matches!(c.via, Via::Token(_))),
        Group(need) => gate(c.group >= Some(need)),
        In(need) => match role.expect("an entity row") {
            None => hidden,
            Some(r) => gate(r >= need),
        },
        GroupIn(need) => match role.expect("an entity row") {
            None => hidden,
            Some(_) => gate(c.group >= Some(need)),
        },
        AdminThenIn(need) => {
            if !c.admin_somewhere() {
                return Expect::Forbidden;
            }
            match role.expect("an entity row") {
                None => hidden,
                Some(r) => gate(r >= need),
            }
        }
        UserAdmin => {
            if c.group >= Some(Admin) {
                allowed
            } else if role.expect("an entity row") >= Some(Admin) {
                Expect::Forbidden
            } else {
                hidden
            }
        }
        GroupAdminOnly => {
            if c.group >= Some(Admin) {
                allowed
            } else {
                hidden
            }
        }
        List(gate_role, visible) => {
            let open = match gate_role {
                None => true,
                Some(r) => c.in_a >= Some(r),
            };
            if open {
                Expect::Listed(visible.map(|v| v(c)))
            } else {
                Expect::Forbidden
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The collector and its data.

/// What one case acts on.
#[derive(Debug, Clone, Default)]
struct Obj {
    /// The id in the path.
    id: String,
    entity: i64,
    site: i64,
    /// A CIDR inside the site's subnet.
    cidr: String,
    /// The second asset of a merge, or the source a split moves.
    other: i64,
    mark: &'static str,
    /// A session cookie to use instead of the caller's.
    cookie: Option<String>,
}

/// One entity's shared records and its pool of fresh assets.
struct Side {
    mark: &'static str,
    entity: i64,
    site: i64,
    site_token: String,
    subnet: i64,
    cidr: &'static str,
    asset: i64,
    sweep_job: i64,
    /// Fresh assets from two agents, taken in pairs (one of each).
    pool: Vec<(i64, i64)>,
}

struct Env {
    _dir: tempfile::TempDir,
    store: Store,
    base: String,
    http: reqwest::Client,
    a: Side,
    b: Side,
    users: BTreeMap<&'static str, i64>,
    /// Caller name → API token or session cookie.
    credentials: BTreeMap<&'static str, String>,
    ui_path: String,
    counter: u32,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

fn sweep(agent: Uuid, hosts: Vec<(String, String)>) -> Document<Discovery> {
    let now = Utc::now();
    Document {
        header: DocumentHeader::new(agent, SourceKind::Sweep, now),
        body: Discovery {
            targets: vec!["198.18.0.0/15".into()],
            addresses_probed: hosts.len() as u64,
            started_at: now,
            finished_at: now,
            hosts: hosts
                .into_iter()
                .map(|(ip, name)| DiscoveredHost {
                    ip,
                    name: Some(name),
                    methods: vec![ProbeMethod::IcmpEcho],
                    ..Default::default()
                })
                .collect(),
            job_id: None,
        },
    }
}

/// A computer last observed 40 days ago: stale, and its agent silent.
fn inventory(agent: Uuid, hostname: &str) -> Document<Inventory> {
    let mut inv = Inventory::default();
    inv.host.hostname = hostname.into();
    inv.os.family = "linux".into();
    inv.os.name = Some("Debian GNU/Linux".into());
    Document {
        header: DocumentHeader::new(
            agent,
            SourceKind::AgentInventory,
            Utc::now() - Duration::days(40),
        ),
        body: inv,
    }
}

impl Env {
    async fn post_document<T: serde::Serialize>(&self, path: &str, token: &str, doc: &T) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(doc)
            .send()
            .await
            .unwrap();
        let status = r.status();
        assert!(
            status.is_success(),
            "{path}: {status} {}",
            r.text().await.unwrap()
        );
    }

    async fn asset_id(&self, name: &str) -> i64 {
        let page = self
            .store
            .list_assets(&parc_collector::store::assets::AssetFilter {
                q: Some(name.into()),
                page: 1,
                per_page: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        let found: Vec<i64> = page
            .items
            .iter()
            .filter(|a| a.name.as_deref() == Some(name))
            .map(|a| a.id)
            .collect();
        assert_eq!(found.len(), 1, "one asset named {name}");
        found[0]
    }

    async fn sign_in(&self, login: &str) -> String {
        let r = self
            .http
            .post(format!("{}/api/v1/session", self.base))
            .json(&json!({"login": login, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "sign in {login}");
        let cookie = r.headers()["set-cookie"].to_str().unwrap();
        cookie.split(';').next().unwrap().to_string()
    }

    fn side(&self, in_a: bool) -> &Side {
        if in_a {
            &self.a
        } else {
            &self.b
        }
    }

    fn next(&mut self) -> u32 {
        self.counter += 1;
        self.counter
    }

    /// Makes (or picks) what a case of `target` acts on in entity A or B.
    async fn prepare(&mut self, target: Target, in_a: Option<bool>, caller: &Caller) -> Obj {
        let sys = system();
        let n = self.next();
        let side = in_a.map(|a| self.side(a));
        let mut obj = Obj::default();
        if let Some(s) = side {
            obj.entity = s.entity;
            obj.site = s.site;
            obj.cidr = s.cidr.to_string();
            obj.mark = s.mark;
        }
        let id: String = match target {
            T::Nothing => String::new(),
            T::Asset => side.unwrap().asset.to_string(),
            T::Site => side.unwrap().site.to_string(),
            T::Entity => side.unwrap().entity.to_string(),
            T::Subnet => side.unwrap().subnet.to_string(),
            T::SweepJob => side.unwrap().sweep_job.to_string(),
            T::MergePair | T::Merged | T::Operation => {
                let side = if in_a.unwrap() {
                    &mut self.a
                } else {
                    &mut self.b
                };
                let (x, y) = side.pool.pop().expect("POOL is large enough");
                let entity = side.entity;
                if target == T::MergePair {
                    obj.other = y;
                    x.to_string()
                } else {
                    let op = self
                        .store
                        .merge_assets(x, y, entity, &sys, Utc::now())
                        .await
                        .unwrap();
                    if target == T::Operation {
                        op.operation_id.to_string()
                    } else {
                        let detail = self.store.asset_detail(x).await.unwrap().unwrap();
                        let sources = detail["sources"].as_array().unwrap();
                        assert_eq!(sources.len(), 2, "{detail}");
                        obj.other = sources[1]["id"].as_i64().unwrap();
                        x.to_string()
                    }
                }
            }
            T::FreshSite => {
                let site = self
                    .store
                    .create_site(&sys, &format!("site-{}-{n}", obj.mark), obj.entity)
                    .await
                    .unwrap();
                site.id.to_string()
            }
            T::FreshSubnet => {
                let cidr = parse_cidr(&format!("172.{}.{}.0/24", 16 + n / 256, n % 256)).unwrap();
                let subnet = self
                    .store
                    .create_subnet(
                        &sys,
                        &cidr,
                        obj.site,
                        Some(&format!("net-{}-{n}", obj.mark)),
                    )
                    .await
                    .unwrap();
                subnet.id.to_string()
            }
            T::SiteToken => {
                let site = self.store.site(obj.site).await.unwrap().unwrap();
                let (id, _) = self.store.create_site_token(&sys, &site).await.unwrap();
                id.to_string()
            }
            T::Agent => {
                let site = self
                    .store
                    .authenticate(&side.unwrap().site_token)
                    .await
                    .unwrap()
                    .unwrap();
                let agent = Uuid::new_v4();
                self.store
                    .enroll_agent(&site, agent, &[n as u8; 32])
                    .await
                    .unwrap();
                agent.to_string()
            }
            T::User | T::UserToken => {
                let user = self
                    .store
                    .create_user(
                        &sys,
                        &NewUser {
                            login: format!("u{n}.{}", obj.mark),
                            display_name: format!("u{n}"),
                            password_hash: "!".into(),
                            roles: vec![(Some(obj.entity), Viewer)],
                        },
                    )
                    .await
                    .unwrap();
                if target == T::User {
                    user.id.to_string()
                } else {
                    let (info, _) = self
                        .store
                        .create_api_token(&sys, user.id, "t", Viewer, None)
                        .await
                        .unwrap();
                    info.id.to_string()
                }
            }
            T::Department | T::Location => {
                let kind = if target == T::Department {
                    RefKind::Department
                } else {
                    RefKind::Location
                };
                let r = self
                    .store
                    .save_referential(&sys, kind, None, &format!("ref {n}"), None)
                    .await
                    .unwrap()
                    .unwrap();
                r.id.to_string()
            }
            T::OwnSession => {
                if caller.via == Via::Session {
                    obj.cookie = Some(self.sign_in(caller.login).await);
                }
                String::new()
            }
        };
        obj.id = id;
        obj
    }

    async fn call(&self, row: &Row, caller: &Caller, obj: &Obj, n: u32) -> (u16, String) {
        let path = row
            .path
            .replace("{id}", &obj.id)
            .replace("/ui/{version}/{file}", &self.ui_path);
        let url = format!("{}{path}{}", self.base, row.query);
        let method = reqwest::Method::from_bytes(row.method.as_bytes()).unwrap();
        let mut req = self.http.request(method, url);
        let credential = &self.credentials[caller.name];
        req = match caller.via {
            Via::Token(_) => req.bearer_auth(credential),
            Via::Session => req
                .header("cookie", obj.cookie.as_ref().unwrap_or(credential))
                .header("x-requested-with", "parc"),
        };
        if let Some(body) = (row.body)(obj, n) {
            req = req.json(&body);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.text().await.unwrap_or_default())
    }
}

async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let url = parc_collector::testing::database_url(dir.path());
    let store = Store::open(&url, 4).await.unwrap();
    let sys = system();
    store
        .rename_entity(&sys, 1, &format!("CH {MARK_A}"))
        .await
        .unwrap();
    let entity_b = store
        .create_entity(&sys, &format!("CH {MARK_B}"))
        .await
        .unwrap()
        .id;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let state = AppState::new(store.clone(), 4 << 20);
    tokio::spawn(parc_collector::serve(listener, state, async {
        let _ = stopped.await;
    }));
    let mut env = Env {
        _dir: dir,
        store: store.clone(),
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
        a: side_placeholder(MARK_A, 1),
        b: side_placeholder(MARK_B, entity_b),
        users: BTreeMap::new(),
        credentials: BTreeMap::new(),
        ui_path: String::new(),
        counter: 0,
        stop: Some(stop),
    };
    for (in_a, cidr) in [(true, "198.18.0.0/24"), (false, "198.18.1.0/24")] {
        let (mark, entity) = {
            let s = env.side(in_a);
            (s.mark, s.entity)
        };
        let site = store
            .create_site(&sys, &format!("site-{mark}"), entity)
            .await
            .unwrap();
        let (_, site_token) = store.create_site_token(&sys, &site).await.unwrap();
        let subnet = store
            .create_subnet(
                &sys,
                &parse_cidr(cidr).unwrap(),
                site.id,
                Some(&format!("net-{mark}")),
            )
            .await
            .unwrap();
        // The shared computer, and discovered devices (unmanaged) in two pools.
        let prefix = if in_a { "198.18.0" } else { "198.18.1" };
        env.post_document(
            "/api/v1/inventories",
            &site_token,
            &inventory(Uuid::new_v4(), &format!("pc-{mark}")),
        )
        .await;
        let mut pools = Vec::new();
        for half in 0..2 {
            let hosts: Vec<(String, String)> = (0..POOL)
                .map(|i| {
                    let k = half * POOL + i + 1;
                    (format!("{prefix}.{k}"), format!("dev-{mark}-{k}"))
                })
                .collect();
            env.post_document(
                "/api/v1/discoveries",
                &site_token,
                &sweep(Uuid::new_v4(), hosts),
            )
            .await;
            let mut ids = Vec::new();
            for i in 0..POOL {
                ids.push(
                    env.asset_id(&format!("dev-{mark}-{}", half * POOL + i + 1))
                        .await,
                );
            }
            pools.push(ids);
        }
        let asset = env.asset_id(&format!("pc-{mark}")).await;
        let site_subnets = store.site_subnets(site.id).await.unwrap().unwrap();
        let sweep_job = store
            .create_sweep_job(&sys, &site_subnets, &[format!("{prefix}.0/28")])
            .await
            .unwrap();
        let side = if in_a { &mut env.a } else { &mut env.b };
        side.site = site.id;
        side.site_token = site_token;
        side.subnet = subnet.id;
        side.cidr = if in_a {
            "198.18.0.0/28"
        } else {
            "198.18.1.0/28"
        };
        side.asset = asset;
        side.sweep_job = sweep_job;
        side.pool = pools[0]
            .iter()
            .copied()
            .zip(pools[1].iter().copied())
            .collect();
    }

    let hash = password::hash(PASSWORD);
    for (login, group, in_a, in_b) in USERS {
        let mut roles = Vec::new();
        roles.extend(group.map(|r| (None, r)));
        roles.extend(in_a.map(|r| (Some(env.a.entity), r)));
        roles.extend(in_b.map(|r| (Some(env.b.entity), r)));
        let user = store
            .create_user(
                &sys,
                &NewUser {
                    login: login.to_string(),
                    display_name: login.to_string(),
                    password_hash: hash.clone(),
                    roles,
                },
            )
            .await
            .unwrap();
        env.users.insert(login, user.id);
        // Every user has a token, so that the tokens list has entries of both entities.
        store
            .create_api_token(&sys, user.id, "own", Viewer, None)
            .await
            .unwrap();
    }
    for c in callers() {
        let credential = match c.via {
            Via::Token(role) => {
                let (_, t) = store
                    .create_api_token(&sys, env.users[c.login], c.name, role, None)
                    .await
                    .unwrap();
                t
            }
            Via::Session => env.sign_in(c.login).await,
        };
        env.credentials.insert(c.name, credential);
    }
    // A real file of the UI: the page names its own modules.
    let page = env.http.get(format!("{}/", env.base)).send().await.unwrap();
    let page = page.text().await.unwrap();
    let start = page.find("/ui/").expect("the page links its files");
    let end = start + page[start..].find('"').unwrap();
    env.ui_path = page[start..end].to_string();
    env
}

fn side_placeholder(mark: &'static str, entity: i64) -> Side {
    Side {
        mark,
        entity,
        site: 0,
        site_token: String::new(),
        subnet: 0,
        cidr: "",
        asset: 0,
        sweep_job: 0,
        pool: Vec::new(),
    }
}

fn matches(expected: Expect, status: u16, body: &str) -> Result<(), String> {
    let ok = match expected {
        Expect::Allowed(None) => (200..300).contains(&status),
        Expect::Allowed(Some(s)) => status == s,
        Expect::Forbidden => status == 403,
        Expect::Hidden(s) => status == s,
        Expect::Unauthorized => status == 401,
        Expect::Listed(markers) => {
            if status != 200 {
                false
            } else if let Some((a, b)) = markers {
                if body.contains(MARK_A) != a || body.contains(MARK_B) != b {
                    return Err(format!(
                        "200 but markers (A {}, B {}) where (A {a}, B {b}) were expected",
                        body.contains(MARK_A),
                        body.contains(MARK_B)
                    ));
                }
                true
            } else {
                true
            }
        }
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{status}, expected {expected:?}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_for_every_role_across_two_entities() {
    // Every route has a row, and every row a route: a new route cannot go untested.
    let mut missing = Vec::new();
    for ep in endpoints() {
        if !ROWS
            .iter()
            .any(|r| r.method == ep.method.as_str() && r.path == ep.path)
        {
            missing.push(format!("{} {}", ep.method, ep.path));
        }
    }
    assert!(
        missing.is_empty(),
        "routes without a row in the access matrix: {missing:?}"
    );
    let eps: Vec<(String, &str)> = endpoints()
        .iter()
        .map(|e| (e.method.to_string(), e.path))
        .collect();
    for r in ROWS {
        assert!(
            eps.iter().any(|(m, p)| m == r.method && *p == r.path),
            "row {} {} has no route",
            r.method,
            r.path
        );
        assert_eq!(
            ROWS.iter()
                .filter(|o| o.method == r.method && o.path == r.path)
                .count(),
            1,
            "{} {} has one row",
            r.method,
            r.path
        );
    }

    let mut e = env().await;
    let callers = callers();
    let mut failures = Vec::new();
    let mut cases = 0;
    let mut seen: BTreeMap<&str, u32> = BTreeMap::new();
    for row in ROWS {
        let sides: &[Option<bool>] = if row.target.per_entity() {
            &[Some(true), Some(false)]
        } else {
            &[None]
        };
        for caller in &callers {
            for in_a in sides {
                let obj = e.prepare(row.target, *in_a, caller).await;
                let n = e.next();
                let (status, body) = e.call(row, caller, &obj, n).await;
                let expected = expect(row, caller, *in_a);
                cases += 1;
                *seen.entry(row.path).or_default() += 1;
                if let Err(why) = matches(expected, status, &body) {
                    let object = match in_a {
                        None => "",
                        Some(true) => " (object of A)",
                        Some(false) => " (object of B)",
                    };
                    let excerpt: String = body.chars().take(200).collect();
                    failures.push(format!(
                        "{} {}{object} as {}: {why}: {excerpt}",
                        row.method, row.path, caller.name
                    ));
                }
            }
        }
    }
    if let Some(stop) = e.stop.take() {
        let _ = stop.send(());
    }
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Each route ran for every caller, on both entities where it has objects.
    assert_eq!(seen.len(), {
        let mut paths: Vec<&str> = ROWS.iter().map(|r| r.path).collect();
        paths.sort();
        paths.dedup();
        paths.len()
    });
    assert!(cases >= ROWS.len() * callers.len());
}

/// The rule table itself, on cases worked out by hand: a wrong `expect` would make the matrix
/// test the wrong thing.
#[test]
fn expectations_follow_the_rules() {
    let all = callers();
    let by = |name: &str| all.iter().find(|c| c.name == name).unwrap().clone();
    let find = |method: &str, path: &str| {
        ROWS.iter()
            .find(|r| r.method == method && r.path == path)
            .unwrap()
    };
    let patch_asset = find("PATCH", "/api/v1/assets/{id}");
    let merge = find("POST", "/api/v1/assets/{id}/merge");
    let users = find("GET", "/api/v1/users");
    let create_user = find("POST", "/api/v1/users");
    let table: &[(&Row, &str, Option<bool>, Expect)] = &[
        (patch_asset, "viewer of A", Some(true), Expect::Forbidden),
        (
            patch_asset,
            "technician of A",
            Some(true),
            Expect::Allowed(None),
        ),
        (
            patch_asset,
            "technician of A",
            Some(false),
            Expect::Hidden(404),
        ),
        (
            patch_asset,
            "admin of A, viewer token",
            Some(true),
            Expect::Forbidden,
        ),
        (
            patch_asset,
            "group viewer, admin of A",
            Some(false),
            Expect::Forbidden,
        ),
        (
            patch_asset,
            "group technician",
            Some(false),
            Expect::Allowed(None),
        ),
        (
            merge,
            "group admin, technician token",
            Some(false),
            Expect::Forbidden,
        ),
        (merge, "admin of A", Some(true), Expect::Allowed(None)),
        (users, "technician of A", None, Expect::Forbidden),
        (
            users,
            "admin of A",
            None,
            Expect::Listed(Some((true, false))),
        ),
        (
            users,
            "group admin",
            None,
            Expect::Listed(Some((true, true))),
        ),
        (create_user, "viewer of A", Some(false), Expect::Forbidden),
        (create_user, "admin of A", Some(false), Expect::Hidden(422)),
    ];
    for (row, who, in_a, expected) in table {
        assert_eq!(
            expect(row, &by(who), *in_a),
            *expected,
            "{} {} as {who}",
            row.method,
            row.path
        );
    }
}
