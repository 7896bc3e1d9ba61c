//! The operator console in a real browser: headless Chromium driven over
//! WebDriver (chromedriver on a port the test owns) against `nightscape
//! run` with its API on 127.0.0.1:0 with the demo site on a simulated clock and Art-Net
//! to a test socket. Runs when `NIGHTSCAPE_BROWSER_TESTS=1` (CI sets it and
//! installs `chromium` and `chromium-driver`); otherwise each test says it
//! was skipped and why. `cargo test browser` selects them all.
//!
//! Screenshots land in `target/screenshots/`. Every wait is bounded; the
//! browser tests take turns (one Chromium at a time on a shared machine).

use crate::common;
use fantoccini::actions::{InputSource, MouseActions, PointerAction, MOUSE_BUTTON_LEFT};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const AT: &str = "2026-12-31T20:00:00+08:00";
const OPERATOR: &str = "operator-secret-for-browser-tests";
const VIEWER: &str = "viewer-secret-for-browser-tests";

/// One browser test at a time: each starts a daemon and a Chromium.
static TURN: Mutex<()> = Mutex::new(());

fn enabled(name: &str) -> bool {
    if std::env::var("NIGHTSCAPE_BROWSER_TESTS").as_deref() != Ok("1") {
        eprintln!("skipped: {name}: set NIGHTSCAPE_BROWSER_TESTS=1 to run the browser tests (needs chromium and chromium-driver)");
        return false;
    }
    for tool in ["chromium", "chromedriver"] {
        if which(tool).is_none() {
            eprintln!("skipped: {name}: `{tool}` is not installed (apt-get install chromium chromium-driver)");
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into()
}

/// Poll `f` every 100 ms until it returns Some, for at most `limit`.
async fn until<T, F, Fut>(limit: Duration, what: &str, mut f: F) -> T
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
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(r) = agent.get(format!("{base}/healthz")).call() {
            if r.status().as_u16() == 200 {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the daemon's API did not come up at {base}");
}

fn get_json(base: &str, path: &str) -> Value {
    agent()
        .get(format!("{base}{path}"))
        .header("Authorization", format!("Bearer {OPERATOR}"))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap()
}

/// chromedriver on a port of ours, killed when dropped.
struct Driver {
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

async fn browser(width: u32, height: u32) -> (Driver, Client) {
    let port = free_port();
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
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&url)
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
fn browser_map_draws_every_fixture_colours_change_and_screenshots() {
    if !enabled("browser_map_draws_every_fixture_colours_change_and_screenshots") {
        return;
    }
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
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
fn browser_operator_scene_blackout_confirmation_and_emergency_banner() {
    if !enabled("browser_operator_scene_blackout_confirmation_and_emergency_banner") {
        return;
    }
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let s = demo_site();
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
        let hold = MouseActions::new("mouse".into())
            .then(PointerAction::MoveToElement {
                element: btn,
                duration: None,
                x: 0.0,
                y: 0.0,
            })
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_LEFT,
            })
            .then(PointerAction::Pause {
                duration: Duration::from_millis(2600),
            })
            .then(PointerAction::Up {
                button: MOUSE_BUTTON_LEFT,
            });
        c.perform_actions(hold).await.unwrap();
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
fn browser_viewer_sees_no_controls() {
    if !enabled("browser_viewer_sees_no_controls") {
        return;
    }
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
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

#[test]
fn browser_connection_banner_when_the_daemon_dies_and_clears_on_restart() {
    if !enabled("browser_connection_banner_when_the_daemon_dies_and_clears_on_restart") {
        return;
    }
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let s = demo_site();
    let mut d = start_daemon(&s, "1");
    runtime().block_on(async {
        let (_driver, c) = browser(1366, 768).await;
        open(&c, &d).await;
        assert!(!displayed(&c, "#banner-conn").await);
        let addr = d.base.trim_start_matches("http://").to_string();
        let _ = d.child.kill();
        let _ = d.child.wait();
        let killed = Instant::now();
        until(Duration::from_secs(10), "the connection banner", || async {
            displayed(&c, "#banner-conn").await.then_some(())
        })
        .await;
        let took = killed.elapsed();
        // The page notices the live stream ending at once; 3 s is the
        // promise to operators (the heartbeat check alone gives 2.5 s).
        assert!(took < Duration::from_secs(3), "banner after {took:?}");
        // Same address again: the page reconnects by itself.
        set_listen(&s.site, &addr);
        d = start_daemon(&s, "1");
        until(Duration::from_secs(30), "the banner to clear", || async {
            (!displayed(&c, "#banner-conn").await).then_some(())
        })
        .await;
        c.close().await.unwrap();
        eprintln!("connection banner shown {took:?} after the daemon was killed");
    });
    drop(d);
}

#[test]
fn browser_preview_scrubber_changes_the_map_not_the_artnet_output() {
    if !enabled("browser_preview_scrubber_changes_the_map_not_the_artnet_output") {
        return;
    }
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
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
