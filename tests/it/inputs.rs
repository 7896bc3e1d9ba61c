//! Console takeover end to end: a real daemon with an `sacn` and an
//! `artnet` input on loopback, real E1.31 and ArtDmx packets sent to it,
//! and the frames it puts on the wire decoded from its Art-Net output.
//! A source at priority 150 takes the universe over; one at 200 wins; the
//! stream-terminated bit and 2.5 s of silence each hand the universe back
//! through the release fade; `htp` merges per channel; below
//! `min_priority`, from an address not allowed, truncated and oversized
//! packets change nothing; `/api/inputs` shows the sources. A flood of
//! 10,000 packets a second is measured (printed), not timed.

use super::common::{api_base, recv_artdmx, spawn_daemon, Daemon};
use nightscape_core::wire::sacn;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A free UDP port on 127.0.0.1 (bound and released: a daemon binds it next).
pub(crate) fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A site of two RGB fixtures (universes 0 and 1, address 1, linear), its
/// Art-Net output at a test socket, `inputs` appended, and `shows` (name,
/// text) beside it. Returns (site folder, receiver).
pub(crate) fn site(dir: &Path, inputs: &str, shows: &[(&str, &str)]) -> (PathBuf, UdpSocket) {
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    rx.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let fixtures = dir.join("fixtures");
    let shows_dir = dir.join("shows");
    std::fs::create_dir_all(&fixtures).unwrap();
    std::fs::create_dir_all(&shows_dir).unwrap();
    std::fs::write(
        fixtures.join("rgb.toml"),
        "name = \"Test RGB\"\npower_w = 10\nstandby_w = 0\ndimmer_curve = \"linear\"\n\
         [[modes]]\nname = \"3ch\"\nchannels = [\"red\", \"green\", \"blue\"]\n",
    )
    .unwrap();
    std::fs::write(
        shows_dir.join("site.toml"),
        format!(
            "name = \"inputs test\"\nlatitude = 0\nlongitude = 0\ntimezone = \"UTC\"\nfps = 40\n\
             [[outputs]]\nkind = \"artnet\"\ntarget = \"{}\"\nuniverses = \"0-1\"\n\
             [api]\nlisten = \"127.0.0.1:0\"\npublic_read = true\n\
             [[fixtures]]\nname = \"a\"\nprofile = \"rgb\"\nmode = \"3ch\"\nat = [0, 0]\naddress = \"0.1\"\n\
             [[fixtures]]\nname = \"b\"\nprofile = \"rgb\"\nmode = \"3ch\"\nat = [1, 0]\naddress = \"1.1\"\n\
             {inputs}",
            rx.local_addr().unwrap()
        ),
    )
    .unwrap();
    for (name, text) in shows {
        std::fs::write(shows_dir.join(format!("{name}.toml")), text).unwrap();
    }
    std::fs::write(
        shows_dir.join("steady.toml"),
        "name = \"steady\"\nfade_in = \"0s\"\n[[layers]]\ntarget = \"*\"\neffect = \"solid\"\ncolor = \"#404040\"\n",
    )
    .unwrap();
    (shows_dir, rx)
}

pub(crate) fn run(site: &Path, show: &str) -> (Daemon, String) {
    run_with(site, show, &[])
}

pub(crate) fn run_with(site: &Path, show: &str, envs: &[(&str, &str)]) -> (Daemon, String) {
    let state = site.parent().unwrap().join("state");
    let d = spawn_daemon(
        site,
        &["--show", show, "--state", state.to_str().unwrap()],
        envs,
    );
    let base = api_base(&state);
    (d, base)
}

/// Wait until universe `u` on the wire satisfies `want`; the time it took.
pub(crate) fn until(
    rx: &UdpSocket,
    u: u16,
    within: Duration,
    want: impl Fn(&[u8]) -> bool,
) -> Option<Duration> {
    let t0 = Instant::now();
    while t0.elapsed() < within {
        if let Some((pu, _, d)) = recv_artdmx(rx) {
            if pu == u && want(&d) {
                return Some(t0.elapsed());
            }
        }
    }
    None
}

/// The latest frame of universe `u` (draining what queued before).
fn latest(rx: &UdpSocket, u: u16) -> Vec<u8> {
    let mut last = None;
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(120) || last.is_none() {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "no frame of universe {u}"
        );
        if let Some((pu, _, d)) = recv_artdmx(rx) {
            if pu == u {
                last = Some(d);
            }
        }
    }
    last.unwrap()
}

struct Source {
    cid: [u8; 16],
    name: &'static str,
    priority: u8,
    seq: u8,
    tx: UdpSocket,
    to: String,
}

impl Source {
    fn new(cid: u8, name: &'static str, priority: u8, port: u16) -> Source {
        Source {
            cid: [cid; 16],
            name,
            priority,
            seq: 0,
            tx: UdpSocket::bind("127.0.0.1:0").unwrap(),
            to: format!("127.0.0.1:{port}"),
        }
    }

    fn send(&mut self, universe: u16, slots: &[u8], terminated: bool) {
        let mut buf = [0u8; sacn::DATA_PACKET_LEN];
        let n = sacn::encode_data(
            &sacn::DataPacket {
                cid: self.cid,
                source_name: self.name,
                priority: self.priority,
                sync_address: 0,
                sequence: self.seq,
                preview: false,
                stream_terminated: terminated,
                universe,
                start_code: 0,
                slots,
            },
            &mut buf,
        );
        self.seq = self.seq.wrapping_add(1);
        self.tx.send_to(&buf[..n], &self.to).unwrap();
    }
}

fn get_json(url: &str) -> serde_json::Value {
    ureq::get(url)
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap()
}

#[test]
fn sacn_takeover_priority_termination_timeout_and_release() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (site, rx) = site(
        dir.path(),
        &format!(
            "[[inputs]]\nkind = \"sacn\"\nname = \"guest-desk\"\nlisten = \"127.0.0.1:{port}\"\n\
             universes = \"1-2\"\nto = 0\nmin_priority = 100\nrelease = \"1s\"\n"
        ),
        &[],
    );
    let (_d, base) = run(&site, "steady");
    assert!(
        until(&rx, 0, Duration::from_secs(10), |d| d[0] == 0x40).is_some(),
        "the show first"
    );

    // Below min_priority: nothing changes.
    let mut low = Source::new(1, "low", 50, port);
    for _ in 0..5 {
        low.send(1, &[250, 250, 250], false);
    }
    assert_eq!(&latest(&rx, 0)[..3], &[0x40, 0x40, 0x40]);

    // Priority 150 takes over universe 1 → site 0; measured each time.
    let mut desk = Source::new(2, "desk", 150, port);
    let mut lat = Vec::new();
    for (k, level) in [200u8, 10, 201, 11, 202, 12, 203].iter().enumerate() {
        // At a random phase of the frame period (the frame just received
        // says where the loop is; sending right after it would always wait
        // for the render after next).
        let phase = (k as u64 * 3_571_000) % 25_000_000;
        std::thread::sleep(Duration::from_nanos(phase));
        let t0 = Instant::now();
        desk.send(1, &[*level, 0, 99], false);
        let seen = until(&rx, 0, Duration::from_secs(2), |d| d[0] == *level);
        lat.push(
            seen.map(|_| t0.elapsed())
                .expect("the console's level on the wire"),
        );
    }
    lat.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "sACN takeover input→wire latency over {} changes: p50 {:.1} ms, max {:.1} ms",
        lat.len(),
        ms(lat[lat.len() / 2]),
        ms(lat[lat.len() - 1])
    );
    assert!(lat[lat.len() / 2] <= Duration::from_millis(100), "{lat:?}");
    // Takeover: the whole universe is the console's (slots past its data are 0).
    let f = latest(&rx, 0);
    assert_eq!(&f[..4], &[203, 0, 99, 0]);
    // Site universe 1 (sACN 2) has no source: the show.
    assert_eq!(&latest(&rx, 1)[..3], &[0x40, 0x40, 0x40]);

    // A second source at 200 wins.
    let mut boss = Source::new(3, "boss", 200, port);
    boss.send(1, &[7, 7, 7], false);
    assert!(until(&rx, 0, Duration::from_secs(1), |d| d[..3] == [7, 7, 7]).is_some());
    // The 150 keeps sending and still loses.
    desk.send(1, &[203, 0, 99], false);
    assert_eq!(&latest(&rx, 0)[..3], &[7, 7, 7]);

    let v = get_json(&format!("{base}/api/inputs"));
    let u = &v["universes"][0];
    assert_eq!(u["universe"], 0);
    assert_eq!(u["input"], "guest-desk");
    assert_eq!(u["state"], "console");
    assert_eq!(u["sources"][0]["name"], "boss");
    assert_eq!(u["sources"][0]["winning"], true);
    assert_eq!(u["sources"][1]["priority"], 150);
    assert_eq!(v["inputs"][0]["state"], "listening");
    assert!(v["inputs"][0]["refused"].as_u64().unwrap() >= 5, "{v}");

    // The 200 terminates its stream: the 150 is back at once.
    boss.send(1, &[7, 7, 7], true);
    assert!(until(&rx, 0, Duration::from_secs(1), |d| d[..3] == [203, 0, 99]).is_some());
    // The 150 terminates too: the show fades back over `release` (1 s).
    desk.send(1, &[203, 0, 99], true);
    let mid = until(&rx, 0, Duration::from_secs(1), |d| {
        d[0] < 190 && d[0] > 0x50
    });
    assert!(mid.is_some(), "a fade, not a jump");
    assert!(until(&rx, 0, Duration::from_secs(3), |d| d[..3]
        == [0x40, 0x40, 0x40])
    .is_some());

    // Silence: the source is lost 2.5 s after its last packet, then the fade.
    desk.send(1, &[180, 180, 180], false);
    assert!(until(&rx, 0, Duration::from_secs(1), |d| d[0] == 180).is_some());
    let t0 = Instant::now();
    assert!(
        until(&rx, 0, Duration::from_secs(2), |d| d[0] != 180).is_none(),
        "held while the source may still send"
    );
    let back = until(&rx, 0, Duration::from_secs(5), |d| {
        d[..3] == [0x40, 0x40, 0x40]
    })
    .unwrap();
    let _ = back;
    let total = t0.elapsed();
    println!(
        "silence → show back after {:.2} s (2.5 s timeout + 1 s release)",
        total.as_secs_f64()
    );
    assert!(
        total >= Duration::from_millis(3000) && total < Duration::from_millis(5000),
        "{total:?}"
    );
}

#[test]
fn htp_merges_per_channel_and_artnet_in_takes_over() {
    let dir = tempfile::tempdir().unwrap();
    let (sp, ap) = (free_port(), free_port());
    let (site, rx) = site(
        dir.path(),
        &format!(
            "[[inputs]]\nkind = \"sacn\"\nlisten = \"127.0.0.1:{sp}\"\nuniverses = 1\nto = 0\nmode = \"htp\"\nrelease = \"0s\"\n\
             [[inputs]]\nkind = \"artnet\"\nlisten = \"127.0.0.1:{ap}\"\nuniverses = 5\nto = 1\nrelease = \"0s\"\n"
        ),
        &[],
    );
    let (_d, _base) = run(&site, "steady");
    assert!(until(&rx, 0, Duration::from_secs(10), |d| d[0] == 0x40).is_some());
    let mut desk = Source::new(9, "desk", 100, sp);
    desk.send(1, &[0x10, 0x90, 0x40], false);
    assert!(
        until(&rx, 0, Duration::from_secs(1), |d| d[..3]
            == [0x40, 0x90, 0x40])
        .is_some(),
        "HTP per channel"
    );
    // Art-Net port-address 5 lands on site universe 1.
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut pkt = Vec::new();
    pkt.extend_from_slice(b"Art-Net\0\x00\x50\x00\x0e\x01\x00\x05\x00\x00\x04");
    pkt.extend_from_slice(&[1, 2, 3, 4]);
    tx.send_to(&pkt, format!("127.0.0.1:{ap}")).unwrap();
    assert!(until(&rx, 1, Duration::from_secs(1), |d| d[..5]
        == [1, 2, 3, 4, 0])
    .is_some());
    // Truncated, oversized and garbage packets change nothing.
    let mut long = pkt.clone();
    long.extend_from_slice(&[0u8; 1000]);
    for bad in [&pkt[..20], &long[..], b"garbage".as_slice(), &[0u8; 0][..]] {
        tx.send_to(bad, format!("127.0.0.1:{ap}")).unwrap();
        desk.tx.send_to(bad, format!("127.0.0.1:{sp}")).unwrap();
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(&latest(&rx, 1)[..5], &[1, 2, 3, 4, 0]);
    assert_eq!(&latest(&rx, 0)[..3], &[0x40, 0x90, 0x40]);
    // Released with no fade: the show at once after termination.
    desk.send(1, &[0x10, 0x90, 0x40], true);
    assert!(until(&rx, 0, Duration::from_secs(1), |d| d[..3]
        == [0x40, 0x40, 0x40])
    .is_some());
}

#[test]
fn a_sender_not_allowed_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sp = free_port();
    let (site, rx) = site(
        dir.path(),
        &format!("[[inputs]]\nkind = \"sacn\"\nlisten = \"127.0.0.1:{sp}\"\nuniverses = 1\nto = 0\nallow = [\"10.0.4.0/24\"]\n"),
        &[],
    );
    let (_d, base) = run(&site, "steady");
    assert!(until(&rx, 0, Duration::from_secs(10), |d| d[0] == 0x40).is_some());
    let mut desk = Source::new(9, "desk", 100, sp);
    for _ in 0..10 {
        desk.send(1, &[0xff, 0xff, 0xff], false);
    }
    assert!(until(&rx, 0, Duration::from_millis(500), |d| d[0] == 0xff).is_none());
    let v = get_json(&format!("{base}/api/inputs"));
    assert_eq!(v["inputs"][0]["not_allowed"], 10, "{v}");
}

/// 10,000 packets a second for two seconds at the sACN input while the
/// show plays: what the wire's frame rate was. Printed, not asserted
/// beyond "frames kept coming".
#[test]
fn flood_of_ten_thousand_packets_a_second_is_measured() {
    let dir = tempfile::tempdir().unwrap();
    let sp = free_port();
    let (site, rx) = site(
        dir.path(),
        &format!("[[inputs]]\nkind = \"sacn\"\nlisten = \"127.0.0.1:{sp}\"\nuniverses = \"1-2\"\nto = 0\n"),
        &[],
    );
    let (_d, _base) = run(&site, "steady");
    assert!(until(&rx, 0, Duration::from_secs(10), |d| d[0] == 0x40).is_some());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s2 = stop.clone();
    let flood = std::thread::spawn(move || {
        let mut src = Source::new(4, "flood", 120, sp);
        let garbage = UdpSocket::bind("127.0.0.1:0").unwrap();
        let t0 = Instant::now();
        let mut sent = 0u64;
        while !s2.load(std::sync::atomic::Ordering::Relaxed) {
            // Half valid data, half truncated packets.
            if sent % 2 == 0 {
                src.send(1 + (sent / 2 % 2) as u16, &[(sent % 256) as u8; 512], false);
            } else {
                garbage
                    .send_to(&[0x00, 0x10, 0, 0, 1, 2, 3], &src.to)
                    .unwrap();
            }
            sent += 1;
            let due = t0 + Duration::from_secs_f64(sent as f64 / 10_000.0);
            if let Some(w) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(w);
            }
        }
        (sent, t0.elapsed())
    });
    let t0 = Instant::now();
    let mut frames = 0u64;
    let mut last = Instant::now();
    let mut max_gap = Duration::ZERO;
    while t0.elapsed() < Duration::from_secs(2) {
        if let Some((1, _, _)) = recv_artdmx(&rx) {
            frames += 1;
            max_gap = max_gap.max(last.elapsed());
            last = Instant::now();
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (sent, took) = flood.join().unwrap();
    let fps = frames as f64 / t0.elapsed().as_secs_f64();
    println!(
        "flood: {:.0} packets/s at the sACN input for {:.1} s; the wire kept {fps:.1} fps (max gap {:.1} ms)",
        sent as f64 / took.as_secs_f64(),
        took.as_secs_f64(),
        max_gap.as_secs_f64() * 1000.0
    );
    assert!(frames > 20, "frames kept going out under the flood");
}

/// What still applies on top of a console: a master scales its intensity
/// channels, and an emergency blackout beats it (the console's universe is
/// `suppressed` while the emergency stands).
#[test]
fn a_master_scales_the_console_and_an_emergency_beats_it() {
    let dir = tempfile::tempdir().unwrap();
    let sp = free_port();
    let (site, rx) = site(
        dir.path(),
        &format!(
            "[[inputs]]\nkind = \"sacn\"\nlisten = \"127.0.0.1:{sp}\"\nuniverses = 1\nto = 0\n"
        ),
        &[],
    );
    let p = site.join("site.toml");
    let text = std::fs::read_to_string(&p).unwrap().replace(
        "public_read = true\n",
        "public_read = true\ntokens = [{ name = \"op\", role = \"operator\", env = \"NS_TEST_OP\" }]\n",
    );
    std::fs::write(&p, text).unwrap();
    let (_d, base) = run_with(
        &site,
        "steady",
        &[("NS_TEST_OP", "op-secret-token-0123456789")],
    );
    assert!(until(&rx, 0, Duration::from_secs(10), |d| d[0] == 0x40).is_some());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s2 = stop.clone();
    // The console keeps sending at 40 Hz throughout.
    let desk = std::thread::spawn(move || {
        let mut desk = Source::new(5, "desk", 150, sp);
        while !s2.load(std::sync::atomic::Ordering::Relaxed) {
            desk.send(1, &[200, 100, 50, 77], false);
            std::thread::sleep(Duration::from_millis(25));
        }
    });
    assert!(until(&rx, 0, Duration::from_secs(2), |d| d[..4]
        == [200, 100, 50, 77])
    .is_some());
    let post = |path: &str, body: serde_json::Value| {
        ureq::post(format!("{base}{path}"))
            .header("Authorization", "Bearer op-secret-token-0123456789")
            .send_json(body)
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(
        post("/api/master", serde_json::json!({ "level": 0.5 })),
        200
    );
    // The fixture's colour channels are halved; slot 4 (no fixture) is not.
    assert!(
        until(&rx, 0, Duration::from_secs(5), |d| d[..4]
            == [100, 50, 25, 77])
        .is_some(),
        "the master scales the console's intensity"
    );
    assert_eq!(
        post("/api/master", serde_json::json!({ "level": 1.0 })),
        200
    );
    let s = post(
        "/api/overrides",
        serde_json::json!({ "target": "*", "blackout": true, "priority": "emergency" }),
    );
    assert_eq!(s, 201);
    assert!(
        until(&rx, 0, Duration::from_secs(5), |d| d[..4] == [0, 0, 0, 0]).is_some(),
        "the emergency blackout beats the console"
    );
    let v = get_json(&format!("{base}/api/inputs"));
    assert_eq!(v["universes"][0]["state"], "suppressed", "{v}");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    desk.join().unwrap();
}
