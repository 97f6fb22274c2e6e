//! The web UI in a real browser: Debian's headless `chromium`, driven through `chromedriver`
//! (WebDriver, with fantoccini), against the real collector on 127.0.0.1 with its own SQLite
//! file. Organisation and users are made through the API as an admin would; a real agent
//! inventory of this machine gives one complete asset; bulk SQL adds the many.
//!
//! Pages announce that they have drawn what they fetched with `body[data-rendered=<page>]`
//! and the `parc-rendered` performance mark; the tests wait on the first and time the second.
//!
//! Without chromedriver the tests say so and pass, unless `CI` is set (scripts/test.sh
//! installs `chromium` and `chromium-driver`, so CI always runs them).
//!
//! Network: the browser talks to the collector on loopback; the sweep started from the UI is
//! run by an agent allowed 127.0.0.0/30 only, on 127.0.0.1/32.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use fantoccini::{Client, ClientBuilder, Locator};
use parc_tests::{agent, agent_bin, http, wait_for, Collector};
use serde_json::{json, Value};

/// The first admin's password, given to the collector by [`Collector::start`].
const ADMIN_PASSWORD: &str = parc_tests::ADMIN_PASSWORD;
const PASSWORD: &str = "correct horse battery";
/// The render budget of issue #8 for the dashboard and the asset list at 50,000 assets, held
/// only when `PARC_UI_RENDER_BUDGET_MS` asks for it (the benchmark run of docs/benchmarks.md):
/// wall times in a test suite measure the machine's load as much as the UI (348 ms for a page
/// that takes ~170 ms on an idle machine, with a build running beside it).
fn render_budget_ms() -> Option<f64> {
    std::env::var("PARC_UI_RENDER_BUDGET_MS").ok()?.parse().ok()
}

/// One browser at a time: they share two cores with the collector, and the timing test must
/// not be measured under another test's load.
static BROWSER: Mutex<()> = Mutex::new(());

// ---- chromedriver and the browser

struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Starts chromedriver on a loopback port, or None (test skipped) when it is not installed
/// outside CI.
fn chromedriver() -> Option<Driver> {
    let installed = Command::new("chromedriver")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromedriver is not installed (scripts/test.sh installs chromium-driver)"
        );
        eprintln!("skipped: chromedriver not installed (apt-get install chromium chromium-driver)");
        return None;
    }
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let ready = wait_for(Duration::from_secs(30), || {
        let r = http().get(format!("{}/status", driver.url)).send().ok()?;
        let v: Value = r.json().ok()?;
        v["value"]["ready"].as_bool().filter(|r| *r)
    });
    assert!(ready.is_some(), "chromedriver never became ready");
    Some(driver)
}

/// A headless chromium with the given preferred language and window size.
async fn browser(driver: &Driver, lang: &str, (width, height): (u32, u32)) -> Result<Client> {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-extensions", "--disable-background-networking",
                format!("--window-size={width},{height}"), format!("--lang={lang}"),
            ],
            "prefs": {"intl.accept_languages": lang},
        }),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .context("open a chromium session through chromedriver")?;
    Ok(client)
}

/// Forgets which page was drawn, before an action that draws one, so that [`rendered`]
/// waits for the new drawing rather than seeing the previous page's.
async fn forget(b: &Client) -> Result<()> {
    b.execute("document.body.dataset.rendered = ''", vec![])
        .await?;
    Ok(())
}

/// Opens `url` (a navigation, or only a hash change) and waits until `page` is drawn.
async fn go(b: &Client, url: &str, page: &str) -> Result<()> {
    // The same URL again is no navigation and no hash change: the page stays drawn as it is.
    if b.current_url().await?.as_str() == url {
        return rendered(b, page).await;
    }
    let _ = forget(b).await;
    b.goto(url).await?;
    rendered(b, page).await
}

/// Clicks `css` and waits until `page` is drawn.
async fn click_to(b: &Client, css: &str, page: &str) -> Result<()> {
    forget(b).await?;
    b.find(Locator::Css(css)).await?.click().await?;
    rendered(b, page).await
}

/// Waits until the page has drawn `page` (see the module docs).
async fn rendered(b: &Client, page: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = b
            .execute("return document.body.dataset.rendered || ''", vec![])
            .await?;
        if now.as_str() == Some(page) {
            return Ok(());
        }
        if Instant::now() > deadline {
            let text = b.find(Locator::Css("main")).await?.text().await?;
            bail!("page {page:?} never rendered (now {now}); main: {text}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Loads `url` afresh (not a hash change) and returns the milliseconds from navigation start
/// to the page's "parc-rendered" mark.
async fn timed_load(b: &Client, url: &str, page: &str) -> Result<f64> {
    b.goto("about:blank").await?;
    b.goto(url).await?;
    rendered(b, page).await?;
    let ms = b
        .execute(
            "return performance.getEntriesByName('parc-rendered').pop().startTime",
            vec![],
        )
        .await?;
    ms.as_f64().context("no parc-rendered mark")
}

async fn text(b: &Client, css: &str) -> Result<String> {
    Ok(b.find(Locator::Css(css)).await?.text().await?)
}

async fn fill(b: &Client, css: &str, value: &str) -> Result<()> {
    let input = b.find(Locator::Css(css)).await?;
    input.clear().await?;
    input.send_keys(value).await?;
    Ok(())
}

async fn log_in(b: &Client, base: &str, login: &str, password: &str) -> Result<()> {
    go(b, &format!("{base}/#/login"), "login").await?;
    fill(b, "#login", login).await?;
    fill(b, "#password", password).await?;
    click_to(b, "#login-form button[type=submit]", "dashboard").await
}

// ---- the API, as the test's own client (session cookie + CSRF header)

struct Api {
    base: String,
    cookie: String,
}

impl Api {
    fn login(base: &str, login: &str, password: &str) -> Result<Api> {
        let r = http()
            .post(format!("{base}/api/v1/session"))
            .json(&json!({"login": login, "password": password}))
            .send()?;
        if !r.status().is_success() {
            bail!("login {login}: {}: {}", r.status(), r.text()?);
        }
        let cookie = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("parc_session="))
            .and_then(|v| v.split(';').next())
            .context("no parc_session cookie")?
            .to_string();
        Ok(Api {
            base: base.to_string(),
            cookie,
        })
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let mut req = http()
            .request(method.parse()?, format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("x-requested-with", "parc");
        if let Some(body) = body {
            req = req.json(&body);
        }
        let r = req.send()?;
        let status = r.status();
        let text = r.text()?;
        if !status.is_success() {
            bail!("{method} {path}: {status}: {text}");
        }
        Ok(if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)?
        })
    }

    fn get(&self, path: &str) -> Result<Value> {
        self.call("GET", path, None)
    }

    fn post(&self, path: &str, body: Value) -> Result<Value> {
        self.call("POST", path, Some(body))
    }
}

// ---- fixtures

struct Fleet {
    dir: tempfile::TempDir,
    collector: Collector,
    admin: Api,
    north_site: i64,
    south_site: i64,
    subnet: i64,
    north_token: String,
    /// This machine's asset (a real agent inventory), in North.
    pc: i64,
    pc_name: String,
    /// An asset of South only.
    secret: i64,
}

fn sql(database_url: &str, script: &str) -> Result<()> {
    let path = database_url.trim_start_matches("sqlite://");
    let out = Command::new("sqlite3")
        .arg(path)
        .arg(script)
        .output()
        .context("run sqlite3")?;
    if !out.status.success() {
        bail!("sqlite3: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// `count` assets in `site`, of several kinds and OS versions, a fifth of them sweep-only
/// (no facts), seen over the last 40 days; in one statement.
fn bulk_assets(database_url: &str, site: i64, prefix: &str, count: u32) -> Result<()> {
    sql(
        database_url,
        &format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count})
             INSERT INTO assets (site_id, kind, name, name_key, serial, manufacturer, model, os,
                 facts, facts_observed_at, match_rule, first_seen, last_seen)
             SELECT {site},
                 CASE i % 10 WHEN 0 THEN 'printer' WHEN 1 THEN 'network' ELSE 'computer' END,
                 printf('{prefix}-%05d', i), printf('{prefix}-%05d', i), printf('SN{prefix}%07d', i),
                 CASE i % 3 WHEN 0 THEN 'Dell Inc.' WHEN 1 THEN 'HP' ELSE 'Lenovo' END,
                 'Model ' || (i % 7),
                 CASE WHEN i % 5 = 0 THEN NULL ELSE 'Windows 11 ' || (22000 + i % 6) END,
                 CASE WHEN i % 5 = 0 THEN NULL ELSE '{{}}' END,
                 CASE WHEN i % 5 = 0 THEN NULL
                      ELSE strftime('%Y-%m-%dT%H:%M:%S.000000Z', 'now', '-' || (i % 12) || ' days') END,
                 'bulk',
                 strftime('%Y-%m-%dT%H:%M:%S.000000Z', 'now', '-' || (i % 20) || ' days'),
                 strftime('%Y-%m-%dT%H:%M:%S.000000Z', 'now', '-' || (i % 40) || ' days')
             FROM n;"
        ),
    )
}

fn ok(out: std::process::Output) -> std::process::Output {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Two entities (North, South) with a site each, a subnet of loopback in North, a technician
/// and a viewer of North, this machine's real inventory in North, `bulk` more assets in each.
fn fleet(bulk: u32) -> Result<Fleet> {
    let dir = tempfile::tempdir()?;
    let collector = Collector::start(dir.path())?;
    let admin = Api::login(&collector.url, "admin", ADMIN_PASSWORD)?;
    let north = admin.post("/api/v1/entities", json!({"name": "North"}))?["id"]
        .as_i64()
        .context("entity id")?;
    let south = admin.post("/api/v1/entities", json!({"name": "South"}))?["id"]
        .as_i64()
        .context("entity id")?;
    let north_site = admin.post(
        "/api/v1/sites",
        json!({"name": "north-hospital", "entity_id": north}),
    )?["id"]
        .as_i64()
        .context("site id")?;
    let south_site = admin.post(
        "/api/v1/sites",
        json!({"name": "south-clinic", "entity_id": south}),
    )?["id"]
        .as_i64()
        .context("site id")?;
    let subnet = admin.post(
        "/api/v1/subnets",
        json!({"cidr": "127.0.0.0/30", "site_id": north_site, "name": "loopback"}),
    )?["id"]
        .as_i64()
        .context("subnet id")?;
    for (login, role) in [("tech", "technician"), ("viewer", "viewer")] {
        admin.post(
            "/api/v1/users",
            json!({"login": login, "display_name": login, "password": PASSWORD,
                   "roles": [{"entity_id": north, "role": role}]}),
        )?;
    }
    let north_token = admin.post(&format!("/api/v1/sites/{north_site}/tokens"), json!({}))?
        ["token"]
        .as_str()
        .context("token")?
        .to_string();

    let state = dir.path().join("agent");
    ok(agent(
        &state,
        &["--server", &collector.url, "--token", &north_token, "push"],
    )?);
    let list = admin.get("/api/v1/assets")?;
    let pc = &list["items"][0];
    let pc_id = pc["id"].as_i64().context("pushed asset")?;
    let pc_name = pc["name"]
        .as_str()
        .context("pushed asset name")?
        .to_string();

    sql(
        &collector.database_url,
        &format!(
            "INSERT INTO assets (site_id, kind, name, name_key, match_rule, first_seen, last_seen)
             VALUES ({south_site}, 'computer', 'south-secret-pc', 'south-secret-pc', 'bulk',
                     strftime('%Y-%m-%dT%H:%M:%S.000000Z', 'now'),
                     strftime('%Y-%m-%dT%H:%M:%S.000000Z', 'now'));"
        ),
    )?;
    let secret = admin.get("/api/v1/assets?q=south-secret-pc")?["items"][0]["id"]
        .as_i64()
        .context("south asset")?;
    if bulk > 0 {
        bulk_assets(&collector.database_url, north_site, "n", bulk)?;
        bulk_assets(&collector.database_url, south_site, "s", bulk)?;
    }
    Ok(Fleet {
        dir,
        collector,
        admin,
        north_site,
        south_site,
        subnet,
        north_token,
        pc: pc_id,
        pc_name,
        secret,
    })
}

fn block_on<F: std::future::Future<Output = Result<()>>>(f: F) -> Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(f)
}

// ---- tests

#[test]
fn technician_logs_in_reads_the_dashboard_searches_and_edits_an_asset() {
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(driver) = chromedriver() else { return };
    let f = fleet(200).unwrap();
    let base = f.collector.url.clone();
    let tech = Api::login(&base, "tech", PASSWORD).unwrap();
    let dashboard = tech.get("/api/v1/dashboard").unwrap();

    block_on(async {
        let b = browser(&driver, "en-US", (1366, 768)).await?;
        // A wrong password is refused on the page, and nothing else is shown.
        go(&b, &format!("{base}/#/assets"), "login").await?;
        fill(&b, "#login", "tech").await?;
        fill(&b, "#password", "not the password").await?;
        b.find(Locator::Css("#login-form button[type=submit]"))
            .await?
            .click()
            .await?;
        let refused = wait_text(&b, "#login-form .error", "Wrong login").await;
        assert!(refused.is_ok(), "{refused:?}");
        fill(&b, "#password", PASSWORD).await?;
        click_to(&b, "#login-form button[type=submit]", "assets").await?;
        // Back where the login interrupted: the page asked for first.
        assert!(b.current_url().await?.as_str().ends_with("#/assets"));
        go(&b, &format!("{base}/#/"), "dashboard").await?;

        // Every figure as the API gives it to this user, and it links to a list of as many.
        for key in [
            "total",
            "agents_reporting",
            "agents_silent",
            "new_this_week",
            "unmanaged",
            "stale",
        ] {
            let tile = b.find(Locator::Css(&format!("#fig-{key}"))).await?;
            let shown = tile.attr("data-value").await?;
            assert_eq!(
                shown.as_deref(),
                Some(dashboard["counts"][key].to_string().as_str()),
                "{key}"
            );
        }
        // North only: 201 assets (the bulk and this machine), nothing of South.
        assert_eq!(dashboard["counts"]["total"], 201);
        let sites = text(&b, "#by-site").await?;
        assert!(sites.contains("north-hospital") && !sites.contains("south-clinic"));
        click_to(&b, "#fig-unmanaged", "assets").await?;
        let total = b
            .find(Locator::Css("#total"))
            .await?
            .attr("data-total")
            .await?;
        assert_eq!(
            total.as_deref(),
            Some(dashboard["counts"]["unmanaged"].to_string().as_str())
        );

        // Search by name, open the asset.
        go(&b, &format!("{base}/#/assets"), "assets").await?;
        fill(&b, "#search", &f.pc_name).await?;
        click_to(&b, "#filters button[type=submit]", "assets").await?;
        assert!(b.current_url().await?.as_str().contains("q="));
        let rows = b.find_all(Locator::Css("#assets tbody tr")).await?;
        assert_eq!(rows.len(), 1, "one asset is named {}", f.pc_name);
        forget(&b).await?;
        b.find(Locator::LinkText(&f.pc_name)).await?.click().await?;
        rendered(&b, "asset").await?;
        assert!(text(&b, "#asset-name").await?.contains(&f.pc_name));
        // A real inventory: interfaces and software are listed; the software search filters.
        assert!(!b.find_all(Locator::Css("#nics tbody tr")).await?.is_empty());
        let all = b.find_all(Locator::Css("#software tbody tr")).await?.len();
        fill(&b, "#software-search", "zzzz-no-such-package").await?;
        let none = b.find_all(Locator::Css("#software tbody tr")).await?.len();
        assert_eq!(none, 0, "of {all} packages");

        // The technician edits a manual field; the API has it, locked, with who did it.
        fill(&b, "#m-asset_tag", "HOSP-0042").await?;
        b.find(Locator::Css("#manual-save")).await?.click().await?;
        wait_text(&b, "#manual-status", "Saved").await?;
        b.close().await?;
        Ok(())
    })
    .unwrap();
    let detail = f.admin.get(&format!("/api/v1/assets/{}", f.pc)).unwrap();
    assert_eq!(detail["manual"]["asset_tag"], "HOSP-0042", "{detail}");
    let history = f
        .admin
        .get(&format!("/api/v1/assets/{}/history", f.pc))
        .unwrap();
    assert!(
        history["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["new"] == "HOSP-0042"),
        "{history}"
    );
}

#[test]
fn a_viewer_of_one_entity_sees_none_of_the_other_and_cannot_edit() {
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(driver) = chromedriver() else { return };
    let f = fleet(20).unwrap();
    let base = f.collector.url.clone();
    block_on(async {
        let b = browser(&driver, "en-US", (820, 1180)).await?;
        log_in(&b, &base, "viewer", PASSWORD).await?;
        let total = b
            .find(Locator::Css("#fig-total"))
            .await?
            .attr("data-value")
            .await?;
        assert_eq!(total.as_deref(), Some("21"), "North's assets only");

        go(&b, &format!("{base}/#/assets?q=south"), "assets").await?;
        assert_eq!(
            b.find(Locator::Css("#total"))
                .await?
                .attr("data-total")
                .await?
                .as_deref(),
            Some("0")
        );
        // South's asset by its id: not found, as if it did not exist.
        go(&b, &format!("{base}/#/assets/{}", f.secret), "asset").await?;
        let main = text(&b, "main").await?;
        assert!(
            b.find(Locator::Css("#asset-name")).await.is_err() && !main.contains("south-secret-pc"),
            "{main}"
        );
        assert!(b.find(Locator::Css("main .error")).await.is_ok(), "{main}");
        // North's asset: shown, without the edit form.
        go(&b, &format!("{base}/#/assets/{}", f.pc), "asset").await?;
        assert!(text(&b, "#asset-name").await?.contains(&f.pc_name));
        assert!(b.find(Locator::Css("#manual-form")).await.is_err());
        b.close().await?;
        Ok(())
    })
    .unwrap();
    // What the viewer was refused, the admin sees.
    assert_eq!(
        f.admin.get("/api/v1/dashboard").unwrap()["counts"]["total"],
        42
    );
    let _ = (f.north_site, f.south_site);
}

#[test]
fn the_ui_speaks_french_and_keeps_the_choice() {
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(driver) = chromedriver() else { return };
    let f = fleet(0).unwrap();
    let base = f.collector.url.clone();
    block_on(async {
        // A French browser gets French at once.
        let b = browser(&driver, "fr-FR", (1366, 768)).await?;
        go(&b, &format!("{base}/#/login"), "login").await?;
        assert_eq!(text(&b, "label[for=password]").await?, "Mot de passe");
        log_in(&b, &base, "tech", PASSWORD).await?;
        assert_eq!(text(&b, "#nav a.active").await?, "Tableau de bord");
        assert!(text(&b, "#fig-unmanaged").await?.contains("non gérés"));
        // Switched to English, kept across a reload.
        b.find(Locator::Css("#lang option[value=en]"))
            .await?
            .click()
            .await?;
        wait_text(&b, "#nav a.active", "Dashboard").await?;
        forget(&b).await?;
        b.refresh().await?;
        rendered(&b, "dashboard").await?;
        assert_eq!(text(&b, "#nav a.active").await?, "Dashboard");
        b.close().await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_sweep_started_from_the_network_view_shows_what_answered() {
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(driver) = chromedriver() else { return };
    let f = fleet(0).unwrap();
    let base = f.collector.url.clone();
    // The site's agent in service mode, allowed loopback only, asking for jobs every second.
    let state = f.dir.path().join("service");
    let config = parc_tests::service_config(
        &state,
        &base,
        &f.north_token,
        "[sweep]\nscopes = [\"127.0.0.0/30\"]\njob_poll_seconds = 1\n",
    )
    .unwrap();
    let service = Command::new(agent_bin())
        .args(["--config", config.to_str().unwrap(), "run"])
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    let _service = KillOnDrop(service);

    block_on(async {
        let b = browser(&driver, "en-US", (1366, 768)).await?;
        log_in(&b, &base, "tech", PASSWORD).await?;
        go(&b, &format!("{base}/#/network/{}", f.subnet), "network").await?;
        fill(&b, "#sweep-targets", "127.0.0.1/32").await?;
        b.find(Locator::Css("#sweep-start")).await?.click().await?;
        // The page polls the job; the agent claims it within a second or two of its poll.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let state = match b.find(Locator::Css("#sweep-state")).await {
                Ok(e) => e.attr("data-state").await?,
                Err(_) => None,
            };
            match state.as_deref() {
                Some("done") => break,
                Some("failed") | Some("expired") => {
                    bail!("sweep {}", text(&b, "#sweep-job").await?)
                }
                _ if Instant::now() > deadline => {
                    bail!("sweep never finished: {}", text(&b, "main").await?)
                }
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
        let host = b
            .find(Locator::Css("#sweep-job tr[data-address='127.0.0.1']"))
            .await?
            .text()
            .await?;
        assert!(host.contains("127.0.0.1"), "{host}");
        b.close().await?;
        Ok(())
    })
    .unwrap();
    let sweeps = f
        .admin
        .get(&format!("/api/v1/sweeps?subnet={}", f.subnet))
        .unwrap();
    assert!(
        sweeps["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["state"] == "done" && s["targets"] == json!(["127.0.0.1/32"])),
        "{sweeps}"
    );
}

#[test]
fn dashboard_and_asset_list_render_fast_with_fifty_thousand_assets() {
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(driver) = chromedriver() else { return };
    let f = fleet(25_000).unwrap();
    let base = f.collector.url.clone();
    assert_eq!(
        f.admin.get("/api/v1/dashboard").unwrap()["counts"]["total"],
        50_002
    );
    block_on(async {
        let b = browser(&driver, "en-US", (1366, 768)).await?;
        log_in(&b, &base, "admin", ADMIN_PASSWORD).await?;
        // The first load of each page warms the caches (files, SQLite pages); the best of the
        // next three is what a user sees on a working collector.
        for (url, page) in [
            (format!("{base}/#/"), "dashboard"),
            (format!("{base}/#/assets"), "assets"),
            (
                format!("{base}/#/assets?sort=-last_seen&kind=computer"),
                "assets",
            ),
        ] {
            timed_load(&b, &url, page).await?;
            let mut times = Vec::new();
            for _ in 0..3 {
                times.push(timed_load(&b, &url, page).await?);
            }
            let best = times.iter().cloned().fold(f64::INFINITY, f64::min);
            println!("render at 50,000 assets: {url}: {times:.0?} ms, best {best:.0} ms");
            if let Some(budget) = render_budget_ms() {
                assert!(
                    best < budget,
                    "{url} rendered in {best:.0} ms (budget {budget} ms)"
                );
            }
        }
        // Only one page of rows is in the page.
        assert_eq!(
            b.find_all(Locator::Css("#assets tbody tr")).await?.len(),
            50
        );
        b.close().await?;
        Ok(())
    })
    .unwrap();
}

// ---- small helpers

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_text(b: &Client, css: &str, needle: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(e) = b.find(Locator::Css(css)).await {
            if e.text().await.is_ok_and(|t| t.contains(needle)) {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("{css} never showed {needle:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Not a test: `scripts/screenshots.sh` runs it to picture every page at desktop and tablet
/// widths into `$PARC_SCREENSHOTS` (demo data: the fleet above, with a sweep of 127.0.0.1).
#[test]
#[ignore = "run by scripts/screenshots.sh"]
fn screenshots() {
    let out = std::path::PathBuf::from(
        std::env::var_os("PARC_SCREENSHOTS").expect("PARC_SCREENSHOTS: where to write"),
    );
    std::fs::create_dir_all(&out).unwrap();
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let driver = chromedriver().expect("chromedriver");
    let f = fleet(400).unwrap();
    let base = f.collector.url.clone();
    let state = f.dir.path().join("service");
    let config = parc_tests::service_config(
        &state,
        &base,
        &f.north_token,
        "[sweep]\nscopes = [\"127.0.0.0/30\"]\njob_poll_seconds = 1\n",
    )
    .unwrap();
    let _service = KillOnDrop(
        Command::new(agent_bin())
            .args(["--config", config.to_str().unwrap(), "run"])
            .env("RUST_LOG", "warn")
            .spawn()
            .unwrap(),
    );
    let tech = Api::login(&base, "tech", PASSWORD).unwrap();
    let job = tech
        .post(
            "/api/v1/sweeps",
            json!({"site_id": f.north_site, "targets": ["127.0.0.1/32"]}),
        )
        .unwrap();
    let done = wait_for(Duration::from_secs(120), || {
        let j = tech.get(&format!("/api/v1/sweeps/{}", job["id"])).ok()?;
        (j["state"] == "done").then_some(())
    });
    assert!(done.is_some(), "the demo sweep never finished");

    block_on(async {
        for (size, (w, h)) in [("desktop", (1366, 768)), ("tablet", (820, 1180))] {
            let b = browser(&driver, "en-US", (w, h)).await?;
            go(&b, &format!("{base}/#/login"), "login").await?;
            std::fs::write(out.join(format!("login-{size}.png")), b.screenshot().await?)?;
            log_in(&b, &base, "tech", PASSWORD).await?;
            for (name, path, page) in [
                ("dashboard", "#/".to_string(), "dashboard"),
                ("assets", "#/assets?sort=-last_seen".to_string(), "assets"),
                ("asset", format!("#/assets/{}", f.pc), "asset"),
                ("network", "#/network".to_string(), "network"),
                ("subnet", format!("#/network/{}", f.subnet), "network"),
            ] {
                go(&b, &format!("{base}/{path}"), page).await?;
                std::fs::write(
                    out.join(format!("{name}-{size}.png")),
                    b.screenshot().await?,
                )?;
            }
            b.close().await?;
        }
        Ok(())
    })
    .unwrap();
}
