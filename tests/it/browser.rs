//! The operator console in a real browser: headless Chromium driven over
//! WebDriver (chromedriver on a port the test owns) against `nightscape
//! run` with its API on 127.0.0.1:0 with the demo site on a simulated clock and Art-Net
//! to a test socket. The slow tier (`cargo test --features slow-tests
//! browser` selects them all; `.ci/run` runs them and installs `chromium`
//! and `chromium-driver`): a missing tool fails under `CI=true` and is
//! skipped loudly elsewhere.
//!
//! Screenshots land in `target/screenshots/`. Every wait is bounded and
//! waits for what the page shows, not for a fixed time (fixed pauses are
//! left only before screenshots and before checking that something did
//! NOT happen). Two browser tests run at a time: one at a time held up to
//! three of CI's four test threads behind one Chromium; two keep both
//! cores busy without four Chromiums contending for them.

use crate::common;
use crate::common::webdriver::{Client, Locator};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const AT: &str = "2026-12-31T20:00:00+08:00";
const OPERATOR: &str = "operator-secret-for-browser-tests";
const VIEWER: &str = "viewer-secret-for-browser-tests";
const ADMIN: &str = "admin-secret-for-browser-tests";

/// Browser tests running at once (each starts a daemon and a Chromium).
const AT_ONCE: usize = 2;

/// How many browser tests are running, and a signal when one ends.
static RUNNING: (std::sync::Mutex<usize>, std::sync::Condvar) =
    (std::sync::Mutex::new(0), std::sync::Condvar::new());

/// A browser test's turn (one of [`AT_ONCE`]), given back when dropped.
struct Turn;

fn turn() -> Turn {
    let (count, freed) = &RUNNING;
    let mut n = count.lock().unwrap_or_else(|p| p.into_inner());
    while *n >= AT_ONCE {
        n = freed.wait(n).unwrap_or_else(|p| p.into_inner());
    }
    *n += 1;
    Turn
}

impl Drop for Turn {
    fn drop(&mut self) {
        let (count, freed) = &RUNNING;
        *count.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
        freed.notify_one();
    }
}

pub(crate) fn enabled(name: &str) -> bool {
    for tool in ["chromium", "chromedriver"] {
        if which(tool).is_none() {
            crate::common::skip_unless_ci(
                name,
                &format!("`{tool}` is not installed (apt-get install chromium chromium-driver)"),
            );
            return false;
        }
    }
    true
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(tool))
            .find(|f| f.is_file())
    })
}

fn agent() -> ureq::Agent {
    common::http_agent(Duration::from_secs(5))
}

/// Poll `f` every 100 ms until it returns Some, for at most `limit`.
pub(crate) async fn until<T, F, Fut>(limit: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A daemon whose API listens on 127.0.0.1:0; its address is read from its log.
struct Daemon {
    child: Child,
    base: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Site {
    _tmp: tempfile::TempDir,
    site: PathBuf,
    state: PathBuf,
    artnet: std::net::UdpSocket,
}

fn demo_site() -> Site {
    let tmp = tempfile::tempdir().unwrap();
    let site = common::demo_site_in(tmp.path());
    // 10 frames a second, not the demo's 40: the page's live stream sends
    // at most 10 a second anyway, so the map changes as often as before,
    // and no test here times frames; a debug daemon's frame loop at 40 was
    // about 7 % of a browser test's CPU (perf, status strip test).
    common::set_fps(&site, 10);
    let artnet = common::artnet_receiver(&site);
    Site {
        state: tmp.path().join("var"),
        _tmp: tmp,
        site,
        artnet,
    }
}

fn set_listen(site: &Path, listen: &str) {
    let p = site.join("site.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    let start = text.find("listen = \"").unwrap() + "listen = \"".len();
    let end = start + text[start..].find('"').unwrap();
    let text = format!("{}{listen}{}", &text[..start], &text[end..]);
    std::fs::write(p, text).unwrap();
}

fn start_daemon(s: &Site, speed: &str) -> Daemon {
    start_daemon_at(s, AT, speed)
}

fn start_daemon_at(s: &Site, clock: &str, speed: &str) -> Daemon {
    // The daemon writes where its API listens into its state folder.
    let _ = std::fs::remove_file(s.state.join("api.addr"));
    let child = Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .args(["run", "--site"])
        .arg(&s.site)
        .arg("--state")
        .arg(&s.state)
        .args(["--clock", clock, "--speed", speed])
        .env("NIGHTSCAPE_OPERATOR_TOKEN", OPERATOR)
        .env("NIGHTSCAPE_VIEWER_TOKEN", VIEWER)
        .env("NIGHTSCAPE_ADMIN_TOKEN", ADMIN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the daemon");
    let d = Daemon {
        child,
        base: common::api_base(&s.state),
    };
    wait_healthy(&d.base);
    d
}

fn wait_healthy(base: &str) {
    let agent = agent();
    common::wait_for(
        &format!("the daemon's API to come up at {base}"),
        Duration::from_secs(30),
        || {
            agent
                .get(format!("{base}/healthz"))
                .call()
                .is_ok_and(|r| r.status().as_u16() == 200)
        },
    );
}

fn get_json(base: &str, path: &str) -> Value {
    get_json_as(base, path, OPERATOR)
}

fn get_json_as(base: &str, path: &str, token: &str) -> Value {
    agent()
        .get(format!("{base}{path}"))
        .header("Authorization", format!("Bearer {token}"))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap()
}

/// chromedriver on a port of ours, killed when dropped.
pub(crate) struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) async fn browser(width: u32, height: u32) -> (Driver, Client) {
    let port = common::free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let profile = tempfile::tempdir().unwrap();
    let driver = Driver {
        child,
        port,
        _profile: profile,
    };
    let url = format!("http://127.0.0.1:{}", driver.port);
    until(Duration::from_secs(30), "chromedriver to listen", || {
        let url = url.clone();
        async move {
            agent()
                .get(format!("{url}/status"))
                .call()
                .ok()
                .filter(|r| r.status().as_u16() == 200)
        }
    })
    .await;
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": which("chromium").unwrap(),
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--lang=en-US",
                format!("--user-data-dir={}", driver._profile.path().display()),
                format!("--window-size={width},{height}"),
            ],
        }),
    );
    let client = Client::connect(&url, caps)
        .await
        .expect("start a Chromium session");
    (driver, client)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Size the window so the page's viewport is `w`×`h` (the window's own
/// frame differs between Chromium builds).
async fn set_viewport(c: &Client, w: u32, h: u32) {
    c.set_window_size(w, h).await.unwrap();
    let inner = js(c, "return [window.innerWidth, window.innerHeight];").await;
    let (iw, ih) = (
        inner[0].as_u64().unwrap() as u32,
        inner[1].as_u64().unwrap() as u32,
    );
    c.set_window_size(w + w.saturating_sub(iw), h + h.saturating_sub(ih))
        .await
        .unwrap();
}

async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.unwrap()
}

/// The fill colour the map shows per fixture name (the first cell), from the
/// drawn SVG elements: `data-color` is the emitted colour, empty until known.
async fn map_colors(c: &Client) -> Vec<(String, String)> {
    let v = js(
        c,
        "return [...document.querySelectorAll('#map g.fxg')].map(g => [g.dataset.fixture, g.querySelector('circle').getAttribute('data-color') || '']);",
    )
    .await;
    serde_json::from_value(v).unwrap()
}

async fn displayed(c: &Client, css: &str) -> bool {
    match c.find(Locator::Css(css)).await {
        Ok(e) => e.is_displayed().await.unwrap_or(false),
        Err(_) => false,
    }
}

async fn screenshot(c: &Client, name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = c.screenshot().await.unwrap();
    std::fs::write(dir.join(name), png).unwrap();
}

async fn open(c: &Client, d: &Daemon) -> usize {
    set_viewport(c, 1366, 768).await;
    c.goto(&format!("{}/", d.base)).await.unwrap();
    let n = get_json(&d.base, "/api/site")["fixtures"]
        .as_array()
        .unwrap()
        .len();
    assert!(n > 0);
    // Every fixture drawn, and coloured by the live stream.
    until(
        Duration::from_secs(20),
        "the map to be drawn and coloured",
        || async {
            let colors = map_colors(c).await;
            (colors.len() == n && colors.iter().all(|(_, col)| col.starts_with('#'))).then_some(())
        },
    )
    .await;
    n
}

async fn sign_in(c: &Client, token: &str) {
    c.find(Locator::Id("sign-in"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.find(Locator::Id("token"))
        .await
        .unwrap()
        .send_keys(token)
        .await
        .unwrap();
    c.find(Locator::Id("signin-ok"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(
        Duration::from_secs(10),
        "the page to show who signed in",
        || async {
            let who = c.find(Locator::Id("who")).await.ok()?.text().await.ok()?;
            (!who.is_empty() && !who.contains("public")).then_some(())
        },
    )
    .await;
}

fn is_reddish(hex: &str) -> bool {
    let v = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0) as f32;
    hex.len() == 7 && v(1) > 40.0 && v(5) < 0.15 * v(1)
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn browser_map_draws_every_fixture_colours_change_and_screenshots() {
    if !enabled("browser_map_draws_every_fixture_colours_change_and_screenshots") {
        return;
    }
    let _turn = turn();
    let s = demo_site();
    // A show night at 19:35: the nightly show's swell travels up the avenue.
    let d = start_daemon_at(&s, "2026-12-31T19:35:00+08:00", "1");
    runtime().block_on(async {
        let (_driver, c) = browser(1366, 768).await;
        let n = open(&c, &d).await;
        // One drawn element per fixture, named after it.
        let names: Vec<String> = get_json(&d.base, "/api/site")["fixtures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_string())
            .collect();
        let drawn: Vec<String> = map_colors(&c).await.into_iter().map(|x| x.0).collect();
        assert_eq!(drawn, names, "one map element per fixture, in patch order");
        assert_eq!(n, names.len());
        // Pixel fixtures are drawn as their cells.
        let crown_cells = js(&c, "return document.querySelectorAll('#map g[data-fixture=\"tower-crown\"] circle.cell').length;").await;
        assert_eq!(crown_cells, json!(60));
        // The daylight preview's rainbow moves: colours change over time.
        let before = map_colors(&c).await;
        until(Duration::from_secs(15), "the map colours to change", || async {
            (map_colors(&c).await != before).then_some(())
        })
        .await;
        // Zone labels for every group, scale bar and north arrow.
        let labels = js(&c, "return [...document.querySelectorAll('#map .zone-label')].map(e => e.textContent).sort();").await;
        assert_eq!(labels, json!(["arcade", "avenue", "bridge", "facade", "searchlights", "square", "trees"]));
        assert!(displayed(&c, "#map .scale").await && displayed(&c, "#map .north").await);
        // A failed command says what WebDriver answered.
        let err = c.find(Locator::Id("no-such-id")).await.err().expect("no element");
        assert!(err.to_string().contains("no such element"), "{err}");
        screenshot(&c, "console-1366x768.png").await;
        // Zoom in on the square with the wheel: the map scales, fixtures stay drawn.
        c.find(Locator::Id("zoom-in")).await.unwrap().click().await.unwrap();
        c.find(Locator::Id("zoom-fit")).await.unwrap().click().await.unwrap();
        set_viewport(&c, 390, 844).await;
        until(Duration::from_secs(5), "the phone layout", || async {
            let w = js(&c, "return document.getElementById('map').getBoundingClientRect().width;").await;
            (w.as_f64().unwrap_or(1000.0) < 400.0).then_some(())
        })
        .await;
        c.find(Locator::Id("zoom-fit")).await.unwrap().click().await.unwrap();
        assert_eq!(map_colors(&c).await.len(), n);
        screenshot(&c, "console-390x844.png").await;
        // Every button is a touch target of at least 40 px.
        let small = js(&c, "return [...document.querySelectorAll('button')].filter(b => b.offsetParent && (b.getBoundingClientRect().height < 40 || b.getBoundingClientRect().width < 40)).map(b => b.id || b.textContent);").await;
        assert_eq!(small, json!([]), "buttons smaller than 40 px");
        c.close().await.unwrap();
    });
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn browser_operator_scene_blackout_confirmation_and_emergency_banner() {
    if !enabled("browser_operator_scene_blackout_confirmation_and_emergency_banner") {
        return;
    }
    let _turn = turn();
    let s = demo_site();
    // The festival animates the avenue from its trigger to the end of the
    // test: at 5 frames a second the live stream and the map's repaints
    // are half those at 10 (8.3 core-seconds instead of 9.3, three runs
    // each); what the test reads is the colours, not how often they change.
    common::set_fps(&s.site, 5);
    let d = start_daemon(&s, "1");
    runtime().block_on(async {
        let (_driver, c) = browser(1366, 768).await;
        open(&c, &d).await;
        assert!(
            !displayed(&c, "#emergency").await,
            "controls before sign-in"
        );
        sign_in(&c, OPERATOR).await;
        let who = c
            .find(Locator::Id("who"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            who.contains("control-room") && who.contains("operator"),
            "{who}"
        );
        c.find(Locator::Css("[data-tab=control]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();

        // A scene: the API shows it and the avenue turns red and gold.
        let avenue = |cols: &[(String, String)]| -> usize {
            cols.iter()
                .filter(|(n, col)| n.starts_with("avenue-poles") && is_reddish(col))
                .count()
        };
        let before = avenue(&map_colors(&c).await);
        c.find(Locator::Css(
            "#scene-buttons button[data-show=spring-festival]",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
        until(
            Duration::from_secs(10),
            "/api/status to show the scene",
            || async {
                let st = get_json(&d.base, "/api/status");
                st["scenes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|x| x["show"] == "spring-festival")
                    .then_some(())
            },
        )
        .await;
        until(
            Duration::from_secs(20),
            "the map to show the festival",
            || async { (avenue(&map_colors(&c).await) > before + 10).then_some(()) },
        )
        .await;
        screenshot(&c, "console-operator-1366x768.png").await;

        // Blackout asks first, naming what goes dark; cancel leaves it lit.
        let lit = |cols: &[(String, String)]| {
            cols.iter()
                .filter(|(n, col)| n.starts_with("square") && col != "#000000")
                .count()
        };
        let lit_before = lit(&map_colors(&c).await);
        assert!(lit_before > 0);
        c.find(Locator::Id("group"))
            .await
            .unwrap()
            .select_by_value("square")
            .await
            .unwrap();
        c.find(Locator::Id("blackout"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        assert!(displayed(&c, "#confirm").await, "no confirmation");
        let title = c
            .find(Locator::Id("confirm-title"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(title.contains("square"), "{title}");
        let ok = c
            .find(Locator::Id("confirm-ok"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(ok.contains("square"), "{ok}");
        c.find(Locator::Id("confirm-cancel"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        assert!(!displayed(&c, "#confirm").await);
        tokio::time::sleep(Duration::from_millis(1500)).await; // let a wrong request land, if any
        assert_eq!(get_json(&d.base, "/api/overrides"), json!([]));
        assert_eq!(lit(&map_colors(&c).await), lit_before);

        // Emergency: hold for two seconds; the banner says so.
        assert!(!displayed(&c, "#banner-emergency").await);
        let btn = c.find(Locator::Id("emergency")).await.unwrap();
        c.hold(&btn, Duration::from_millis(2600)).await.unwrap();
        until(Duration::from_secs(10), "the emergency banner", || async {
            displayed(&c, "#banner-emergency").await.then_some(())
        })
        .await;
        let st = get_json(&d.base, "/api/status");
        assert_eq!(st["emergency"], json!(true), "{st}");
        let banner = c
            .find(Locator::Id("banner-emergency"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(banner.contains("square"), "{banner}");
        // The banner is on every view.
        c.find(Locator::Css("[data-tab=health]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        assert!(displayed(&c, "#banner-emergency").await);
        screenshot(&c, "console-emergency-1366x768.png").await;
        c.close().await.unwrap();
    });
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn browser_viewer_sees_no_controls() {
    if !enabled("browser_viewer_sees_no_controls") {
        return;
    }
    let _turn = turn();
    let s = demo_site();
    let d = start_daemon(&s, "1");
    runtime().block_on(async {
        let (_driver, c) = browser(1366, 768).await;
        open(&c, &d).await;
        sign_in(&c, VIEWER).await;
        let who = c.find(Locator::Id("who")).await.unwrap().text().await.unwrap();
        assert!(who.contains("city-dashboard") && who.contains("viewer"), "{who}");
        let shown = js(&c, "return [...document.querySelectorAll('[data-control], #blackout, #emergency, #scene-buttons button, #apply-level, #release-all, #set-master')].filter(e => e.offsetParent !== null).map(e => e.id || e.textContent);").await;
        assert_eq!(shown, json!([]), "controls shown to a viewer");
        assert!(displayed(&c, "#sign-out").await);
        c.find(Locator::Id("sign-out")).await.unwrap().click().await.unwrap();
        until(Duration::from_secs(5), "signed out", || async {
            displayed(&c, "#sign-in").await.then_some(())
        })
        .await;
        c.close().await.unwrap();
    });
}

/// The live values a lost daemon leaves stale.
const LIVE: &str =
    "['clock', 'fps-chip', 'nownext', 'outputs', 'power-text', 'map-wrap', 'status-strip']";

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn browser_daemon_gone_says_so_greys_live_values_disables_controls_and_recovers() {
    if !enabled("browser_daemon_gone_says_so_greys_live_values_disables_controls_and_recovers") {
        return;
    }
    let _turn = turn();
    let s = demo_site();
    // A fixed free port, so the restarted daemon is found where the page looks.
    let port = common::free_port();
    set_listen(&s.site, &format!("127.0.0.1:{port}"));
    let mut d = start_daemon(&s, "1");
    runtime().block_on(async {
        let (_driver, c) = browser(1366, 768).await;
        open(&c, &d).await;
        sign_in(&c, OPERATOR).await;
        c.find(Locator::Css("[data-tab=control]")).await.unwrap().click().await.unwrap();
        assert!(!displayed(&c, "#banner-conn").await);
        // A failed action before the loss is a stale error the page must drop later.
        js(&c, "say('Failed to fetch', 'err');").await;
        let _ = d.child.kill();
        let _ = d.child.wait();
        let killed = Instant::now();
        until(Duration::from_secs(10), "the connection banner", || async {
            displayed(&c, "#banner-conn").await.then_some(())
        })
        .await;
        let took = killed.elapsed();
        assert!(took < Duration::from_secs(3), "banner after {took:?}");
        let banner = c.find(Locator::Id("banner-conn")).await.unwrap().text().await.unwrap();
        assert!(banner.contains("lost the daemon") && banner.contains("cannot know what the lights show"), "{banner}");
        assert!(!banner.contains("keep running"), "{banner}");
        assert!(banner.contains(" s ago)"), "how long ago: {banner}");
        // Every live value greyed and marked with the time of the last update.
        let stale = js(&c, &format!("return {LIVE}.map(id => {{ const e = document.getElementById(id); return [id, e.getAttribute('data-stale') || '', getComputedStyle(id === 'map-wrap' ? document.getElementById('map') : e).opacity]; }});")).await;
        for v in stale.as_array().unwrap() {
            let (id, mark, opacity) = (v[0].as_str().unwrap(), v[1].as_str().unwrap(), v[2].as_str().unwrap());
            assert!(mark.starts_with("stale · last update ") && mark.len() >= "stale · last update 00:00:00".len(), "{id}: {mark:?}");
            assert!(opacity.parse::<f64>().unwrap() < 0.6, "{id} not greyed: {opacity}");
        }
        screenshot(&c, "console-daemon-gone-1366x768.png").await;
        // Controls off: every control of the Control view and the strip.
        let enabled_controls = js(&c, "return [...document.querySelectorAll('#tab-control button, #tab-control input, #tab-control select, #status-strip button, #entries button')].filter(e => !e.matches(':disabled')).map(e => e.id || e.textContent);").await;
        assert_eq!(enabled_controls, json!([]), "controls left on without a daemon");
        // An action tried anyway says what failed, in words, in the page's language.
        js(&c, "act('POST', '/api/master', { level: '50%' }, tt('what_master', { l: '50 %' }));").await;
        let msg = c.find(Locator::Id("msg")).await.unwrap().text().await.unwrap();
        assert_eq!(msg, "Grand master at 50 % failed: the console has lost the daemon, so nothing was sent");
        c.find(Locator::Id("lang")).await.unwrap().click().await.unwrap();
        // The message still up says it again in the new language.
        let msg = c.find(Locator::Id("msg")).await.unwrap().text().await.unwrap();
        assert_eq!(msg, "总亮度设为 50 %失败：控制台已与控制程序失去连接，未发送任何内容");
        let banner = c.find(Locator::Id("banner-conn")).await.unwrap().text().await.unwrap();
        assert!(banner.contains("无法得知灯光"), "{banner}");
        let mark = js(&c, "return document.getElementById('clock').getAttribute('data-stale');").await;
        assert!(mark.as_str().unwrap().starts_with("已过期"), "{mark}");
        screenshot(&c, "console-daemon-gone-zh-1366x768.png").await;
        // And on a phone, in both languages, while the daemon is still gone.
        set_viewport(&c, 390, 844).await;
        screenshot(&c, "console-daemon-gone-zh-390x844.png").await;
        c.find(Locator::Id("lang")).await.unwrap().click().await.unwrap();
        screenshot(&c, "console-daemon-gone-390x844.png").await;
        set_viewport(&c, 1366, 768).await;
        // Back on the same port: the page reconnects by itself and every
        // view loads again.
        d = start_daemon(&s, "1");
        until(Duration::from_secs(30), "the banner to clear", || async {
            (!displayed(&c, "#banner-conn").await).then_some(())
        })
        .await;
        until(Duration::from_secs(10), "fresh values", || async {
            let left = js(&c, &format!("return {LIVE}.filter(id => document.getElementById(id).hasAttribute('data-stale'));")).await;
            let off = js(&c, "return [...document.querySelectorAll('#set-master, #scene-buttons button, #status-strip button')].filter(e => e.matches(':disabled')).length;").await;
            (left == json!([]) && off == json!(0)).then_some(())
        })
        .await;
        assert!(!displayed(&c, "#msg.err").await, "a stale error is still shown");
        let views = js(&c, "return [...document.querySelectorAll('.tab')].filter(e => e.offsetParent !== null).map(e => e.id);").await;
        assert_eq!(views, json!(["tab-control"]), "one view after the reconnect");
        c.close().await.unwrap();
        eprintln!("connection banner shown {took:?} after the daemon was killed");
    });
    drop(d);
}

/// The tab panes on screen.
async fn views(c: &Client) -> Value {
    js(c, "return [...document.querySelectorAll('.tab')].filter(e => e.offsetParent !== null).map(e => e.id);").await
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn browser_one_view_at_a_time() {
    if !enabled("browser_one_view_at_a_time") {
        return;
    }
    let _turn = turn();
    let s = demo_site();
    let d = start_daemon(&s, "1");
    runtime().block_on(async {
        let (_driver, c) = browser(1366, 768).await;
        open(&c, &d).await;
        assert_eq!(views(&c).await, json!(["tab-tonight"]));
        // Signing in as an operator used to show Control under Tonight.
        sign_in(&c, OPERATOR).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(views(&c).await, json!(["tab-tonight"]), "after signing in");
        for tab in ["control", "health", "energy", "tonight", "control"] {
            c.find(Locator::Css(&format!("[data-tab={tab}]")))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            assert_eq!(
                views(&c).await,
                json!([format!("tab-{tab}")]),
                "after choosing {tab}"
            );
        }
        // A language switch and a fresh status re-render the controls.
        c.find(Locator::Css("[data-tab=health]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        c.find(Locator::Id("lang"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        js(&c, "renderControls();").await;
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_eq!(views(&c).await, json!(["tab-health"]));
        c.close().await.unwrap();
    });
}

fn post_json(base: &str, path: &str, body: Value) -> Value {
    let mut r = agent()
        .post(format!("{base}{path}"))
        .header("Authorization", format!("Bearer {OPERATOR}"))
        .send_json(body)
        .unwrap();
    let code = r.status().as_u16();
    let v: Value = r.body_mut().read_json().unwrap_or(Value::Null);
    assert!(code < 300, "POST {path}: {code} {v}");
    v
}

async fn strip(c: &Client) -> Value {
    js(c, "return [...document.querySelectorAll('#strip-items .item')].map(e => [e.dataset.strip || '', e.tagName, e.textContent]);").await
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn browser_status_strip_shows_a_master_at_half_on_every_view_to_every_role() {
    if !enabled("browser_status_strip_shows_a_master_at_half_on_every_view_to_every_role") {
        return;
    }
    let _turn = turn();
    let s = demo_site();
    // The festival on the trees animates for the whole test: at 5 frames
    // a second the live stream and the map's repaints are half those at 10
    // (8.2 core-seconds instead of 9.2, three runs each); the strip it
    // checks is text.
    common::set_fps(&s.site, 5);
    let d = start_daemon(&s, "1");
    post_json(&d.base, "/api/master", json!({ "level": "50%" }));
    post_json(
        &d.base,
        "/api/master",
        json!({ "level": "70%", "target": "avenue" }),
    );
    post_json(
        &d.base,
        "/api/overrides",
        json!({ "target": "square", "level": "40%", "ttl": "1h" }),
    );
    post_json(
        &d.base,
        "/api/scenes/spring-festival/trigger",
        json!({ "duration": "30m", "target": "trees" }),
    );
    let tonight = get_json(&d.base, "/api/tonight");
    let entry = tonight["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["show"] == "nightly")
        .unwrap()["entry"]
        .clone();
    post_json(&d.base, "/api/skips", json!({ "entry": entry }));
    runtime().block_on(async {
        let (_driver, c) = browser(1366, 768).await;
        open(&c, &d).await;
        // Public: every item there, none a button (no role may change them).
        let want = |v: &Value, key: &str, text: &str, tag: &str| {
            let found = v.as_array().unwrap().iter().find(|i| i[0] == key).unwrap_or_else(|| panic!("no {key} in {v}"));
            assert!(found[2].as_str().unwrap().contains(text), "{key}: {found}");
            assert_eq!(found[1], tag, "{key}: {found}");
        };
        let items = until(Duration::from_secs(10), "the strip", || async {
            let v = strip(&c).await;
            (v.as_array().unwrap().len() >= 5).then_some(v)
        })
        .await;
        want(&items, "master:*", "GRAND MASTER 50 %", "SPAN");
        want(&items, "master:avenue", "Master avenue 70 %", "SPAN");
        want(&items, "overrides", "Overrides in force: 1", "SPAN");
        want(&items, "skipped", "Skipped tonight: nightly", "BUTTON");
        assert!(items.as_array().unwrap().iter().any(|i| i[0].as_str().unwrap().starts_with("scene:")), "{items}");
        // A master at 50 % cannot be missed: the strip itself turns amber and
        // the item is large, on every view.
        for tab in ["tonight", "health", "energy"] {
            c.find(Locator::Css(&format!("[data-tab={tab}]"))).await.unwrap().click().await.unwrap();
            assert!(displayed(&c, "#status-strip.alert [data-strip='master:*']").await, "not on {tab}");
        }
        let size = js(&c, "return parseFloat(getComputedStyle(document.querySelector(\"[data-strip='master:*']\")).fontSize) / parseFloat(getComputedStyle(document.body).fontSize);").await;
        assert!(size.as_f64().unwrap() > 1.1, "{size}");
        screenshot(&c, "console-strip-public-1366x768.png").await;
        // A viewer: the same, and still no control behind it.
        sign_in(&c, VIEWER).await;
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let items = strip(&c).await;
        want(&items, "master:*", "GRAND MASTER 50 %", "SPAN");
        want(&items, "overrides", "Overrides in force", "SPAN");
        c.find(Locator::Id("sign-out")).await.unwrap().click().await.unwrap();
        // An operator: one tap to the control that changes it.
        sign_in(&c, OPERATOR).await;
        let items = until(Duration::from_secs(5), "the operator's strip", || async {
            let v = strip(&c).await;
            v.as_array().unwrap().iter().any(|i| i[0] == "master:*" && i[1] == "BUTTON").then_some(v)
        })
        .await;
        want(&items, "master:avenue", "avenue", "BUTTON");
        want(&items, "overrides", "Overrides in force", "BUTTON");
        c.find(Locator::Css("[data-strip='master:*']")).await.unwrap().click().await.unwrap();
        assert_eq!(views(&c).await, json!(["tab-control"]));
        assert_eq!(js(&c, "return document.activeElement.id;").await, json!("master"));
        assert_eq!(js(&c, "return document.getElementById('master').value;").await, json!("50"));
        c.find(Locator::Css("[data-tab=health]")).await.unwrap().click().await.unwrap();
        c.find(Locator::Css("[data-strip='master:avenue']")).await.unwrap().click().await.unwrap();
        assert_eq!(js(&c, "return [document.activeElement.id, document.getElementById('group').value, document.getElementById('zone-master').value];").await, json!(["zone-master", "avenue", "70"]));
        screenshot(&c, "console-strip-operator-1366x768.png").await;
        for (w, h) in [(1920, 1080), (390, 844)] {
            set_viewport(&c, w, h).await;
            until(Duration::from_secs(5), "the strip at the new size", || async {
                displayed(&c, "[data-strip='master:*']").await.then_some(())
            })
            .await;
            screenshot(&c, &format!("console-strip-operator-{w}x{h}.png")).await;
            // Scrolled to the bottom of the page (a phone), the strip is still on screen.
            let top = js(&c, "window.scrollTo(0, document.body.scrollHeight); const r = document.getElementById('status-strip').getBoundingClientRect(); return [r.top, r.bottom, window.innerHeight];").await;
            let (t, b) = (top[0].as_f64().unwrap(), top[1].as_f64().unwrap());
            assert!(t >= -0.5 && b <= top[2].as_f64().unwrap() && b > t, "{w}x{h}: strip at {top}");
            screenshot(&c, &format!("console-strip-operator-{w}x{h}-scrolled.png")).await;
            js(&c, "window.scrollTo(0, 0);").await;
        }
        c.find(Locator::Id("lang")).await.unwrap().click().await.unwrap();
        let items = until(Duration::from_secs(10), "the strip in Chinese", || async {
            let v = strip(&c).await;
            v.to_string().contains("总亮度").then_some(v)
        })
        .await;
        want(&items, "master:*", "总亮度 50 %", "BUTTON");
        screenshot(&c, "console-strip-operator-zh-390x844.png").await;
        set_viewport(&c, 1366, 768).await;
        screenshot(&c, "console-strip-operator-zh-1366x768.png").await;
        c.close().await.unwrap();
    });
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn browser_release_all_does_what_its_dialog_says() {
    if !enabled("browser_release_all_does_what_its_dialog_says") {
        return;
    }
    let _turn = turn();
    let s = demo_site();
    let d = start_daemon(&s, "1");
    post_json(
        &d.base,
        "/api/overrides",
        json!({ "target": "square", "level": "40%", "ttl": "1h" }),
    );
    post_json(
        &d.base,
        "/api/overrides",
        json!({ "target": "bridge", "blackout": true, "priority": "emergency" }),
    );
    post_json(
        &d.base,
        "/api/scenes/spring-festival/trigger",
        json!({ "duration": "30m" }),
    );
    runtime().block_on(async {
        let (_driver, c) = browser(1366, 768).await;
        open(&c, &d).await;
        sign_in(&c, OPERATOR).await;
        c.find(Locator::Css("[data-tab=control]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        until(Duration::from_secs(5), "the release button", || async {
            displayed(&c, "#release-all").await.then_some(())
        })
        .await;
        c.find(Locator::Id("release-all"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let text = c
            .find(Locator::Id("confirm-text"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let title = c
            .find(Locator::Id("confirm-title"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(title, "Release all 2 overrides?");
        // What DELETE /api/overrides does: every override, emergencies
        // included; no scene.
        assert!(text.contains("including 1 EMERGENCY override"), "{text}");
        assert!(
            text.contains("Scenes are not released: 1 keep playing"),
            "{text}"
        );
        assert!(!text.contains("scenes show again"), "{text}");
        screenshot(&c, "console-release-all-1366x768.png").await;
        c.find(Locator::Id("confirm-ok"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        until(
            Duration::from_secs(10),
            "the overrides to be released",
            || async {
                (get_json(&d.base, "/api/status")["overrides_in_force"] == json!(0)).then_some(())
            },
        )
        .await;
        let st = get_json(&d.base, "/api/status");
        assert_eq!(st["scenes"].as_array().unwrap().len(), 1, "{st}");
        let audit = get_json_as(&d.base, "/api/audit?limit=5", ADMIN);
        assert!(
            audit.to_string().contains("override.release_all"),
            "{audit}"
        );
        // Scenes have their own way, which says what it does.
        until(Duration::from_secs(5), "the stop-scenes button", || async {
            displayed(&c, "#stop-scenes").await.then_some(())
        })
        .await;
        c.find(Locator::Id("stop-scenes"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let title = c
            .find(Locator::Id("confirm-title"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(title, "Stop all 1 scenes?");
        c.find(Locator::Id("confirm-ok"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        until(Duration::from_secs(10), "the scene to stop", || async {
            get_json(&d.base, "/api/status")["scenes"]
                .as_array()
                .unwrap()
                .iter()
                .all(|x| x["state"] == "releasing" || x["released_at"] != Value::Null)
                .then_some(())
        })
        .await;
        c.close().await.unwrap();
    });
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn browser_now_says_which_show_is_on_top_where() {
    if !enabled("browser_now_says_which_show_is_on_top_where") {
        return;
    }
    let _turn = turn();
    let s = demo_site();
    let d = start_daemon(&s, "1");
    post_json(
        &d.base,
        "/api/scenes/spring-festival/trigger",
        json!({ "duration": "30m", "target": "trees" }),
    );
    runtime().block_on(async {
        let (_driver, c) = browser(1366, 768).await;
        open(&c, &d).await;
        let now = until(Duration::from_secs(10), "Now per show", || async {
            let v = js(&c, "return [...document.querySelectorAll('#nownext .now-list li')].map(li => [li.dataset.show || '', li.dataset.source || '', li.querySelector('.where').textContent]);").await;
            v.as_array().unwrap().iter().any(|x| x[0] == "spring-festival").then_some(v)
        })
        .await;
        let rows = now.as_array().unwrap();
        let festival = rows.iter().find(|x| x[0] == "spring-festival").unwrap();
        assert_eq!(festival[1], "scene", "{now}");
        assert_eq!(festival[2], "trees", "{now}");
        let evening = rows.iter().find(|x| x[0] == "static-evening").unwrap();
        assert!(!evening[2].as_str().unwrap().contains("trees"), "{now}");
        assert!(evening[2].as_str().unwrap().contains("avenue"), "{now}");
        screenshot(&c, "console-now-1366x768.png").await;
        c.close().await.unwrap();
    });
}

/// Pairs of overlapping text boxes, and boxes outside their SVG, in `svg`.
async fn text_collisions(c: &Client, svg: &str) -> Value {
    js(c, &format!(r#"
        const svg = document.getElementById('{svg}'), box = svg.getBoundingClientRect();
        const r = [...svg.querySelectorAll('text')].map(e => [e.textContent, e.getBoundingClientRect()]);
        const bad = [];
        for (const [t, b] of r) if (b.left < box.left - 0.5 || b.right > box.right + 0.5 || b.top < box.top - 0.5 || b.bottom > box.bottom + 0.5) bad.push('outside: ' + t);
        for (let i = 0; i < r.length; i++) for (let j = i + 1; j < r.length; j++) {{
            const a = r[i][1], b = r[j][1];
            if (a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5) bad.push(r[i][0] + ' / ' + r[j][0]);
        }}
        return [r.length, bad];"#)).await
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn browser_timeline_and_energy_labels_never_collide_or_get_cut() {
    if !enabled("browser_timeline_and_energy_labels_never_collide_or_get_cut") {
        return;
    }
    let _turn = turn();
    let s = demo_site();
    let d = start_daemon(&s, "1");
    runtime().block_on(async {
        let (_driver, c) = browser(1366, 768).await;
        open(&c, &d).await;
        for lang in ["en", "zh"] {
            for (w, h) in [(1366, 768), (1920, 1080), (390, 844)] {
                set_viewport(&c, w, h).await;
                js(&c, "window.dispatchEvent(new Event('resize'));").await;
                c.find(Locator::Css("[data-tab=tonight]"))
                    .await
                    .unwrap()
                    .click()
                    .await
                    .unwrap();
                let tl = until(Duration::from_secs(5), "the timeline's labels", || async {
                    let tl = text_collisions(&c, "timeline").await;
                    (tl[0].as_u64().unwrap() >= 6).then_some(tl)
                })
                .await;
                assert_eq!(tl[1], json!([]), "timeline {lang} {w}x{h}");
                c.find(Locator::Css("[data-tab=energy]"))
                    .await
                    .unwrap()
                    .click()
                    .await
                    .unwrap();
                let ec = until(Duration::from_secs(10), "the energy chart", || async {
                    let v = text_collisions(&c, "energy-chart").await;
                    (v[0].as_u64().unwrap() >= 4).then_some(v)
                })
                .await;
                assert_eq!(ec[1], json!([]), "energy chart {lang} {w}x{h}");
                screenshot(&c, &format!("console-energy-{lang}-{w}x{h}.png")).await;
                c.find(Locator::Css("[data-tab=health]"))
                    .await
                    .unwrap()
                    .click()
                    .await
                    .unwrap();
                screenshot(&c, &format!("console-health-{lang}-{w}x{h}.png")).await;
            }
            c.find(Locator::Id("lang"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
        }
        c.close().await.unwrap();
    });
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn browser_without_a_token_the_page_says_how_to_get_one() {
    if !enabled("browser_without_a_token_the_page_says_how_to_get_one") {
        return;
    }
    let _turn = turn();
    let s = demo_site();
    let p = s.site.join("site.toml");
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("public_read = true", "public_read = false");
    std::fs::write(&p, text).unwrap();
    let d = start_daemon(&s, "1");
    runtime().block_on(async {
        let (_driver, c) = browser(1366, 768).await;
        set_viewport(&c, 1366, 768).await;
        c.goto(&format!("{}/", d.base)).await.unwrap();
        until(Duration::from_secs(10), "the token explanation", || async {
            displayed(&c, "#need-token").await.then_some(())
        })
        .await;
        let text = c.find(Locator::Id("need-token")).await.unwrap().text().await.unwrap();
        for want in ["needs an API token", "[api]", "tokens = [", "env = \"NIGHTSCAPE_OPERATOR_TOKEN\"", "public_read = true", "nightscape run"] {
            assert!(text.contains(want), "{want}: {text}");
        }
        assert!(!displayed(&c, "#map-panel").await);
        let icon = js(&c, "const l = document.querySelector('link[rel=icon]'); return l ? l.href.slice(0, 19) : '';").await;
        assert_eq!(icon, json!("data:image/svg+xml,"));
        screenshot(&c, "console-need-token-1366x768.png").await;
        set_viewport(&c, 390, 844).await;
        screenshot(&c, "console-need-token-390x844.png").await;
        c.find(Locator::Id("lang")).await.unwrap().click().await.unwrap();
        let text = c.find(Locator::Id("need-token")).await.unwrap().text().await.unwrap();
        assert!(text.contains("需要 API 令牌"), "{text}");
        screenshot(&c, "console-need-token-zh-390x844.png").await;
        set_viewport(&c, 1366, 768).await;
        // Signing in from there gives the console.
        c.find(Locator::Id("need-token-sign-in")).await.unwrap().click().await.unwrap();
        c.find(Locator::Id("token")).await.unwrap().send_keys(VIEWER).await.unwrap();
        c.find(Locator::Id("signin-ok")).await.unwrap().click().await.unwrap();
        until(Duration::from_secs(20), "the map", || async {
            (!displayed(&c, "#need-token").await && map_colors(&c).await.iter().filter(|x| x.1.starts_with('#')).count() > 100).then_some(())
        })
        .await;
        c.close().await.unwrap();
    });
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn browser_preview_scrubber_changes_the_map_not_the_artnet_output() {
    if !enabled("browser_preview_scrubber_changes_the_map_not_the_artnet_output") {
        return;
    }
    let _turn = turn();
    let s = demo_site();
    // A frozen clock: the live output is one frame, over and over.
    let d = start_daemon(&s, "0");
    let universes: Vec<u16> = (0..15).collect();
    runtime().block_on(async {
        let (_driver, c) = browser(1366, 768).await;
        open(&c, &d).await;
        common::drain(&s.artnet, Duration::from_millis(300));
        let live = common::collect_frame(&s.artnet, &universes, Duration::from_secs(10))
            .expect("Art-Net frames");
        let before = map_colors(&c).await;
        // 23:45: curfew-capped warm white instead of the evening look.
        js(&c, "const s = document.getElementById('scrubber'); s.value = 705; s.dispatchEvent(new Event('input'));").await;
        until(Duration::from_secs(15), "the preview on the map", || async {
            let now = map_colors(&c).await;
            (displayed(&c, "#preview-badge").await && now != before).then_some(())
        })
        .await;
        let badge = c.find(Locator::Id("preview-badge")).await.unwrap().text().await.unwrap();
        assert!(badge.contains("23:45"), "{badge}");
        // Meanwhile the wire still carries the live frame, unchanged.
        common::drain(&s.artnet, Duration::from_millis(300));
        let after = common::collect_frame(&s.artnet, &universes, Duration::from_secs(10))
            .expect("Art-Net frames");
        assert_eq!(after, live, "the preview changed the live output");
        // And the preview matches what `nightscape render` computes.
        let pv = get_json(&d.base, "/api/preview?at=2026-12-31%2023:45");
        assert_eq!(pv["at"], json!("2026-12-31T23:45:00+08:00"));
        screenshot(&c, "console-preview-1366x768.png").await;
        c.find(Locator::Id("preview-live")).await.unwrap().click().await.unwrap();
        until(Duration::from_secs(10), "back to live", || async {
            (map_colors(&c).await == before).then_some(())
        })
        .await;
        c.close().await.unwrap();
    });
}

async fn confirm_text(c: &Client) -> String {
    until(
        Duration::from_secs(5),
        "the confirmation dialog",
        || async { displayed(c, "#confirm").await.then_some(()) },
    )
    .await;
    let title = c
        .find(Locator::Id("confirm-title"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let text = c
        .find(Locator::Id("confirm-text"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    format!("{title}\n{text}")
}

/// Issue 23: an operator forces tonight's mode from the Tonight view
/// through a dialog that names the night and the mode before and after;
/// the API then says it is forced, the view and the status strip say by
/// whom, and Undo (which confirms too) puts the rules' mode back. Skipping
/// an entry confirms, naming it and the night.
#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn browser_force_tonights_mode_confirms_shows_who_and_undoes() {
    if !enabled("browser_force_tonights_mode_confirms_shows_who_and_undoes") {
        return;
    }
    let _turn = turn();
    let s = demo_site();
    let d = start_daemon(&s, "1");
    // New Year's Eve 2026 is a show night by the demo's rules.
    let before = get_json(&d.base, "/api/tonight/mode");
    assert_eq!(before["mode"], "show-night", "{before}");
    assert_eq!(before["forced"], false, "{before}");
    runtime().block_on(async {
        let (_driver, c) = browser(1366, 768).await;
        open(&c, &d).await;
        // Nobody signed in: the mode, and no control to force it.
        until(Duration::from_secs(10), "the mode line", || async {
            displayed(&c, "#tonight-mode [data-mode='show-night']").await.then_some(())
        })
        .await;
        assert!(!displayed(&c, "#force-mode").await);
        sign_in(&c, OPERATOR).await;
        until(Duration::from_secs(10), "the force control", || async {
            displayed(&c, "#force-mode").await.then_some(())
        })
        .await;
        // Skip asks first, naming the entry and the night; cancel sends nothing.
        c.find(Locator::Css("#entries li[data-entry] button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let said = confirm_text(&c).await;
        assert!(said.contains("2026-12-31") && said.contains("Skip "), "{said}");
        c.find(Locator::Id("confirm-cancel")).await.unwrap().click().await.unwrap();
        assert_eq!(get_json(&d.base, "/api/skips"), json!([]));
        // Force festival: the dialog names what changes.
        js(&c, "const s = document.getElementById('force-mode-pick'); s.value = 'festival';").await;
        c.find(Locator::Id("force-mode")).await.unwrap().click().await.unwrap();
        let said = confirm_text(&c).await;
        assert!(
            said.contains("Tonight (2026-12-31) plays in festival instead of show-night"),
            "{said}"
        );
        c.find(Locator::Id("confirm-ok")).await.unwrap().click().await.unwrap();
        let api = until(Duration::from_secs(10), "the API to say festival is forced", || async {
            let v = get_json(&d.base, "/api/tonight/mode");
            (v["forced"] == true).then_some(v)
        })
        .await;
        assert_eq!(api["mode"], "festival", "{api}");
        assert_eq!(api["forced_nights"][0]["author"], "control-room", "{api}");
        assert_eq!(api["forced_nights"][0]["rules_mode"], "show-night", "{api}");
        let shown = until(Duration::from_secs(10), "the page to say the mode is forced", || async {
            let v = js(&c, "const e = document.querySelector('#tonight-mode .forced-mode'); const s = document.querySelector(\"[data-strip='forced']\"); return e && s ? [e.textContent, s.textContent] : null;").await;
            (!v.is_null()).then_some(v)
        })
        .await;
        assert_eq!(shown, json!(["mode forced: festival (by control-room)", "mode forced: festival (by control-room)"]));
        // The night's plan follows: /api/tonight plays festival.
        until(Duration::from_secs(10), "/api/tonight in festival", || async {
            (get_json(&d.base, "/api/tonight")["mode"] == "festival").then_some(())
        })
        .await;
        screenshot(&c, "console-forced-mode-1366x768.png").await;
        set_viewport(&c, 390, 844).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        js(&c, "document.getElementById('tonight-mode').scrollIntoView({ block: 'center' });").await;
        screenshot(&c, "console-forced-mode-390x844.png").await;
        c.find(Locator::Id("lang")).await.unwrap().click().await.unwrap();
        until(Duration::from_secs(10), "the forced mode in Chinese", || async {
            let v = js(&c, "const e = document.querySelector('#tonight-mode .forced-mode'); return e ? e.textContent : '';").await;
            v.as_str().unwrap().contains("模式已强制").then_some(())
        })
        .await;
        js(&c, "document.getElementById('tonight-mode').scrollIntoView({ block: 'center' });").await;
        screenshot(&c, "console-forced-mode-zh-390x844.png").await;
        set_viewport(&c, 1366, 768).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        screenshot(&c, "console-forced-mode-zh-1366x768.png").await;
        c.find(Locator::Id("lang")).await.unwrap().click().await.unwrap();
        // Undo confirms too, naming the mode the rules give back.
        c.find(Locator::Id("unforce-mode")).await.unwrap().click().await.unwrap();
        let said = confirm_text(&c).await;
        assert!(said.contains("2026-12-31") && said.contains("show-night") && said.contains("festival"), "{said}");
        c.find(Locator::Id("confirm-ok")).await.unwrap().click().await.unwrap();
        until(Duration::from_secs(10), "the API to say nothing is forced", || async {
            let v = get_json(&d.base, "/api/tonight/mode");
            (v["forced"] == false && v["mode"] == "show-night").then_some(())
        })
        .await;
        until(Duration::from_secs(10), "the page to drop the forced mode", || async {
            let v = js(&c, "return !document.querySelector('#tonight-mode .forced-mode') && !document.querySelector(\"[data-strip='forced']\");").await;
            (v == json!(true)).then_some(())
        })
        .await;
        c.close().await.unwrap();
    });
}
