//! Helpers shared by the integration tests: a copy of the demo site in a
//! temporary folder, with the Art-Net target pointed at a test socket.

#![allow(dead_code)]

pub mod fleet;
pub mod json_schema;
pub(crate) mod webdriver;

use std::path::{Path, PathBuf};

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Copy the demo site (shows/ and fixtures/) into `dir`; returns the site
/// folder. Its API listens on 127.0.0.1 port 0 (the kernel picks; the
/// daemon writes the address to `<state>/api.addr`), so no test daemon
/// needs 127.0.0.1:8080.
pub fn demo_site_in(dir: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    copy_dir(&root.join("shows"), &dir.join("shows"));
    copy_dir(&root.join("fixtures"), &dir.join("fixtures"));
    let site = dir.join("shows");
    let p = site.join("site.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains("listen = \"127.0.0.1:8080\""));
    std::fs::write(
        &p,
        text.replace("listen = \"127.0.0.1:8080\"", "listen = \"127.0.0.1:0\""),
    )
    .unwrap();
    site
}

/// The base URL of a daemon's API (`http://127.0.0.1:PORT`), read from the
/// `api.addr` file it writes into its state folder once it listens.
pub fn api_base(state: &Path) -> String {
    let file = state.join("api.addr");
    let mut addr = String::new();
    wait_for(
        &format!("the daemon to write {}", file.display()),
        std::time::Duration::from_secs(20),
        || {
            addr = std::fs::read_to_string(&file).unwrap_or_default();
            addr.ends_with('\n')
        },
    );
    format!("http://{}", addr.trim())
}

/// Point every Art-Net output of the site at `target`.
pub fn retarget(site: &Path, target: &str) {
    let p = site.join("site.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    let text = text.replace("target = \"127.0.0.1\"", &format!("target = \"{target}\""));
    std::fs::write(p, text).unwrap();
}

/// The site's frame rate: its one top-level `fps = N` line (the demo's
/// 40) set to `fps`. A debug daemon idles at about 90 ms of CPU a second,
/// 60 of them drawing and sending frames that a test about commands, the
/// console or rollouts never reads; at 10 fps it idles at about 28. The
/// safety check samples shows at its own rate, so `check` finds the same
/// at any fps. Not for a test that times frames, latency or clock offsets:
/// those come out about a frame wide.
pub fn set_fps(site: &Path, fps: u32) {
    let p = site.join("site.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    let mut found = 0;
    let text: String = text
        .split_inclusive('\n')
        .map(|line| {
            if line.starts_with("fps = ") {
                found += 1;
                format!("fps = {fps}\n")
            } else {
                line.to_string()
            }
        })
        .collect();
    assert_eq!(found, 1, "the site's one fps line");
    std::fs::write(p, text).unwrap();
}

/// Make the site's safety check render 5 s of each show (the least
/// `[safety] seconds` allows) instead of 60: for a test that asks `check`
/// about something else. The demo as shipped passes the full minute in
/// check_bad_input::binary_check_on_the_demo_exits_0_with_an_ok_line (a
/// debug `check` of it: 2.1 s of CPU, 0.6 s with 5).
pub fn short_safety_check(site: &Path) {
    let p = site.join("site.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(p, format!("{text}\n[safety]\nseconds = 5\n")).unwrap();
}

/// A daemon process killed when dropped.
pub struct Daemon(pub std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start `nightscape run --site SITE ARGS...` with output silenced.
pub fn spawn_daemon(site: &Path, args: &[&str], envs: &[(&str, &str)]) -> Daemon {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nightscape"));
    cmd.args(["run", "--site"]).arg(site).args(args);
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    Daemon(cmd.spawn().expect("start the daemon"))
}

/// A UDP socket on 127.0.0.1 for Art-Net, and the site retargeted to it.
pub fn artnet_receiver(site: &Path) -> std::net::UdpSocket {
    let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    rx.set_read_timeout(Some(std::time::Duration::from_millis(200)))
        .unwrap();
    retarget(site, &rx.local_addr().unwrap().to_string());
    rx
}

/// Decoded ArtDmx packets: (port address, sequence, data).
pub fn recv_artdmx(rx: &std::net::UdpSocket) -> Option<(u16, u8, Vec<u8>)> {
    let mut buf = [0u8; 1024];
    let (n, _) = rx.recv_from(&mut buf).ok()?;
    match artnet_protocol::ArtCommand::from_buffer(&buf[..n]) {
        Ok(artnet_protocol::ArtCommand::Output(o)) => Some((
            u16::from(o.port_address),
            o.sequence,
            o.data.as_ref().to_vec(),
        )),
        _ => None,
    }
}

/// Collect one complete frame (every universe in `universes`) that arrives
/// after `skip` packets, within `timeout`.
pub fn collect_frame(
    rx: &std::net::UdpSocket,
    universes: &[u16],
    timeout: std::time::Duration,
) -> Option<std::collections::BTreeMap<u16, Vec<u8>>> {
    let deadline = std::time::Instant::now() + timeout;
    let mut frame = std::collections::BTreeMap::new();
    while std::time::Instant::now() < deadline {
        if let Some((u, _, d)) = recv_artdmx(rx) {
            frame.insert(u, d);
            if universes.iter().all(|u| frame.contains_key(u)) {
                return Some(frame);
            }
        }
    }
    None
}

/// Drain packets already queued (frames from before a change).
pub fn drain(rx: &std::net::UdpSocket, for_how_long: std::time::Duration) {
    let until = std::time::Instant::now() + for_how_long;
    while std::time::Instant::now() < until {
        let _ = recv_artdmx(rx);
    }
}

/// The frame `nightscape render --at AT` prints for the site (the schedule
/// in charge), as universe → 512 values.
pub fn cli_render(site: &Path, at: &str) -> std::collections::BTreeMap<u16, Vec<u8>> {
    cli_render_args(site, &["--at", at]).1
}

/// `nightscape render --site SITE ARGS --format json`: what it printed and
/// the universes in it.
pub fn cli_render_args(
    site: &Path,
    args: &[&str],
) -> (Vec<u8>, std::collections::BTreeMap<u16, Vec<u8>>) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .args(["render", "--site"])
        .arg(site)
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let frame = json["universes"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.parse().unwrap(),
                v.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap() as u8)
                    .collect(),
            )
        })
        .collect();
    (out.stdout, frame)
}

/// The demo site's daemon playing `show` since `since` with its clock
/// frozen at `at`: one whole frame of its 15 universes off the wire.
pub fn frozen_demo_frame(
    show: &str,
    since: &str,
    at: &str,
) -> std::collections::BTreeMap<u16, Vec<u8>> {
    let tmp = tempfile::tempdir().unwrap();
    let site = demo_site_in(tmp.path());
    let rx = artnet_receiver(&site);
    let state = tmp.path().join("var");
    let _daemon = spawn_daemon(
        &site,
        &[
            "--show",
            show,
            "--since",
            since,
            "--clock",
            at,
            "--speed",
            "0",
            "--state",
            state.to_str().unwrap(),
        ],
        &[],
    );
    let universes: Vec<u16> = (0..15).collect();
    // The first frame may be from before the clock was frozen: take a later one.
    let mut frames = Vec::new();
    wait_until(std::time::Duration::from_secs(15), || {
        frames.extend(collect_frame(
            &rx,
            &universes,
            std::time::Duration::from_secs(5),
        ));
        frames.len() >= 3
    });
    frames.pop().expect("no frame from the daemon")
}

/// A `nightscape monitor` the test started, on a port of its own.
pub struct RunningMonitor {
    pub child: std::process::Child,
    pub addr: std::net::SocketAddr,
    /// Everything it writes to stderr after its first line.
    pub stderr: std::thread::JoinHandle<String>,
}

/// Start `nightscape monitor --listen 127.0.0.1:0 --format json --seconds
/// SECONDS` with `extra` arguments; its address is read from its first
/// line, and its stderr is kept being read so it never writes into a
/// closed pipe.
pub fn start_monitor(seconds: &str, extra: &[&str]) -> RunningMonitor {
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .args(["monitor", "--listen", "127.0.0.1:0", "--format", "json"])
        .args(["--seconds", seconds])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line: {line}"))
        .parse()
        .unwrap();
    let stderr = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest);
        rest
    });
    RunningMonitor {
        child,
        addr,
        stderr,
    }
}

/// A test that cannot run here because `why` (a tool or a peer is
/// missing): under CI (`CI=true`), where `.ci/run` installs every tool the
/// tests need, that is a failure; elsewhere the test is skipped, loudly.
/// Returns so the caller can `return` early.
pub fn skip_unless_ci(name: &str, why: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{name}: cannot run in CI: {why}");
    }
    eprintln!("\n*** SKIPPED {name}: {why} ***\n");
}

/// Poll `f` every 20 ms until it holds or `limit` passes: how long it took,
/// or `None` (the caller's assertion says what it waited for). Tests wait
/// for observable events with an upper bound instead of sleeping.
pub fn wait_until(
    limit: std::time::Duration,
    f: impl FnMut() -> bool,
) -> Option<std::time::Duration> {
    wait_until_every(limit, std::time::Duration::from_millis(20), f)
}

/// [`wait_until`], asking every `every`: for a condition that costs the
/// process asked (a debug daemon's API answer is about a millisecond of
/// its CPU).
pub fn wait_until_every(
    limit: std::time::Duration,
    every: std::time::Duration,
    mut f: impl FnMut() -> bool,
) -> Option<std::time::Duration> {
    let t0 = std::time::Instant::now();
    loop {
        if f() {
            return Some(t0.elapsed());
        }
        if t0.elapsed() >= limit {
            return None;
        }
        std::thread::sleep(every);
    }
}

/// [`wait_until`] for a condition the test cannot go on without: fails the
/// test naming `what` when `limit` passes.
pub fn wait_for(
    what: &str,
    limit: std::time::Duration,
    f: impl FnMut() -> bool,
) -> std::time::Duration {
    wait_until(limit, f).unwrap_or_else(|| panic!("timed out after {limit:?} waiting for {what}"))
}

/// A free loopback TCP port (bound, read, released: for a peer such as
/// chromedriver or mosquitto that must be told its port; our own daemons
/// take port 0 and say where they listen).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Run a command to its end, but never for longer than `limit`: a child
/// that hangs (a broker gone, a node that never answers) is killed and
/// the test fails with what it printed, instead of holding CI for ever.
pub fn output_within(
    cmd: &mut std::process::Command,
    limit: std::time::Duration,
) -> std::process::Output {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the command");
    // Drained on threads: a child blocked on a full pipe would never end.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        b
    });
    let err = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        b
    });
    let mut status = None;
    wait_until(limit, || {
        status = child.try_wait().expect("wait for the command");
        status.is_some()
    });
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        let (o, e) = (out.join().unwrap(), err.join().unwrap());
        panic!(
            "{cmd:?} still running after {limit:?}; killed. It printed:\n{}{}",
            String::from_utf8_lossy(&o),
            String::from_utf8_lossy(&e)
        );
    };
    std::process::Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// Wait for `child` to end, for at most `limit`: its exit status. A child
/// still running then is killed and the test fails naming `what` (a daemon
/// that ignores SIGTERM, a command that hangs on a hostile file).
pub fn exits_within(
    child: &mut std::process::Child,
    limit: std::time::Duration,
    what: &str,
) -> std::process::ExitStatus {
    let mut status = None;
    wait_until(limit, || {
        status = child.try_wait().expect("wait for the child");
        status.is_some()
    });
    status.unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{what}: still running after {limit:?}; killed")
    })
}

/// Send the daemon SIGTERM (its orderly shutdown) and wait for it to end,
/// for at most `limit`: its exit status.
pub fn sigterm(d: &mut Daemon, limit: std::time::Duration) -> std::process::ExitStatus {
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &d.0.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -TERM {} failed", d.0.id());
    exits_within(&mut d.0, limit, "the daemon after SIGTERM")
}

/// An HTTP client for the daemon's API that hands back 4xx/5xx answers as
/// answers (the tests assert on them), bounded by `timeout` per request.
pub fn http_agent(timeout: std::time::Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}
