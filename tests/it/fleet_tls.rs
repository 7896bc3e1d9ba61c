//! The fleet over TLS with a login: a real mosquitto with a TLS listener
//! (a CA and a broker certificate made here with rcgen) and a password
//! file (`mosquitto_passwd`), anonymous clients refused. Two daemons whose
//! site names the CA (`[fleet] ca_file`) and the credential variables
//! exchange an override over it (decoded from B's wire); a third node
//! with a wrong password is not hung: its API answers, `/api/fleet` says
//! why, and the alarm `broker_refused` names the variables to check;
//! `fleet status` with the wrong password fails at once saying so.
//!
//! Skipped (with a message) when mosquitto or mosquitto_passwd is not
//! installed. Every wait is bounded.

use crate::common;
use crate::common::fleet::{
    agent, fleet_site, get, mosquitto, poll_until, state_dir, wait_for_dmx, Broker, AT, NODES,
    OPERATOR,
};
use crate::common::free_port;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const USER: &str = "lamps";
const PASSWORD: &str = "correct horse battery staple";

/// A CA, and a certificate for `localhost`/127.0.0.1 signed by it (PEM):
/// (ca, server cert, server key).
fn certificates() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "nightscape test city CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let mut server =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    server
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let server_key = KeyPair::generate().unwrap();
    let server_cert = server.signed_by(&server_key, &ca_cert, &ca_key).unwrap();
    (ca_cert.pem(), server_cert.pem(), server_key.serialize_pem())
}

/// mosquitto with a TLS listener on `port` (certificates made here) and a
/// password file holding USER, anonymous clients refused.
fn start_broker(bin: &Path, dir: &Path, port: u16) -> Broker {
    let (ca, cert, key) = certificates();
    std::fs::write(dir.join("ca.pem"), ca).unwrap();
    std::fs::write(dir.join("server.pem"), cert).unwrap();
    std::fs::write(dir.join("server.key"), key).unwrap();
    let passwd = dir.join("passwd");
    let out = Command::new("mosquitto_passwd")
        .args(["-b", "-c"])
        .arg(&passwd)
        .args([USER, PASSWORD])
        .output()
        .expect("run mosquitto_passwd");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let conf = dir.join("mosquitto-tls.conf");
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\ncafile {d}/ca.pem\ncertfile {d}/server.pem\nkeyfile {d}/server.key\nallow_anonymous false\npassword_file {d}/passwd\npersistence false\n",
            d = dir.display()
        ),
    )
    .unwrap();
    Broker::with_conf(bin, &conf, port)
}

fn start(site: &Path, state: &Path, node: &str, password: &str) -> common::Daemon {
    common::spawn_daemon(
        site,
        &[
            "--node",
            node,
            "--clock",
            AT,
            "--speed",
            "0",
            "--state",
            state.to_str().unwrap(),
        ],
        &[
            ("NIGHTSCAPE_OPERATOR_TOKEN", OPERATOR),
            ("NS_MQTT_USER", USER),
            ("NS_MQTT_PASSWORD", password),
            ("RUST_LOG", "warn"),
        ],
    )
}

fn fleet(agent: &ureq::Agent, state: &Path) -> Option<Value> {
    get(agent, &format!("{}/api/fleet", common::api_base(state)))
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn fleet_over_tls_with_a_password_and_a_wrong_one() {
    let Some(bin) = mosquitto() else {
        common::skip_unless_ci(
            "fleet_over_tls_with_a_password_and_a_wrong_one",
            "mosquitto is not installed (apt-get install mosquitto)",
        );
        return;
    };
    if Command::new("mosquitto_passwd")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_err()
    {
        common::skip_unless_ci(
            "fleet_over_tls_with_a_password_and_a_wrong_one",
            "mosquitto_passwd is not installed (apt-get install mosquitto)",
        );
        return;
    }
    let port = free_port();
    let f = fleet_site(port);
    // B's wire is read for the override, not for its frame rate: 10
    // frames a second, not the demo's 40, for a quarter of each node's
    // idle CPU (the override's time to the wire, about two frames, is
    // printed with the rate).
    common::set_fps(&f.site, 10);
    let _broker = start_broker(&bin, f.tmp.path(), port);
    // The site names the CA (a file in the site folder) and the variables.
    std::fs::create_dir_all(f.site.join("certs")).unwrap();
    std::fs::copy(f.tmp.path().join("ca.pem"), f.site.join("certs/ca.pem")).unwrap();
    let p = f.site.join("site.toml");
    let text = std::fs::read_to_string(&p).unwrap().replace(
        &format!("broker = \"mqtt://127.0.0.1:{port}\"\n"),
        &format!(
            "broker = \"mqtts://localhost:{port}\"\nca_file = \"certs/ca.pem\"\nusername_env = \"NS_MQTT_USER\"\npassword_env = \"NS_MQTT_PASSWORD\"\n"
        ),
    );
    assert!(text.contains("mqtts://"));
    // `check` is asked about the TLS settings here, not the shows.
    std::fs::write(&p, text).unwrap();
    common::short_safety_check(&f.site);
    let check = Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .args(["check", "--site"])
        .arg(&f.site)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );

    let agent = agent();
    let (sa, sb, sc) = (state_dir(&f, 0), state_dir(&f, 1), state_dir(&f, 2));
    let _a = start(&f.site, &sa, NODES[0], PASSWORD);
    let _b = start(&f.site, &sb, NODES[1], PASSWORD);
    for s in [&sa, &sb] {
        assert!(
            poll_until(Duration::from_secs(30), || fleet(&agent, s)
                .is_some_and(|v| v["connected"] == json!(true)))
            .is_some(),
            "a node did not connect over TLS: {:?}",
            fleet(&agent, s)
        );
    }
    // An override posted to A reaches B's wire through the TLS broker.
    let (u, off) = f.crown;
    common::drain(&f.rx[1], Duration::from_millis(50));
    let r = agent
        .post(format!("{}/api/overrides", common::api_base(&sa)))
        .header("Authorization", format!("Bearer {OPERATOR}"))
        .send_json(json!({"target": "tower-crown", "color": "#0000ff", "fade": 0, "ttl": "1h"}))
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let took = wait_for_dmx(&f.rx[1], u, off, &[0, 0, 255], Duration::from_secs(10))
        .expect("the override made on A never reached B's wire over TLS");
    eprintln!("override A -> B's wire over mqtts with a login: {took:?} (10 fps)");

    // A wrong password: the daemon runs on, says why, raises the alarm.
    let t0 = Instant::now();
    let _c = start(&f.site, &sc, NODES[2], "wrong password");
    let mut last = None;
    assert!(
        poll_until(Duration::from_secs(15), || {
            last = fleet(&agent, &sc);
            last.as_ref().is_some_and(|v| {
                v["connected"] == json!(false)
                    && v["last_error"]
                        .as_str()
                        .is_some_and(|e| e.contains("refused this node's login"))
            })
        })
        .is_some(),
        "{last:?}"
    );
    let alarms_url = format!("{}/api/alarms", common::api_base(&sc));
    let mut alarms = None;
    assert!(
        poll_until(Duration::from_secs(10), || {
            alarms = get(&agent, &alarms_url);
            alarms.as_ref().is_some_and(|a| {
                a["active"].as_array().unwrap().iter().any(|x| {
                    x["kind"] == json!("broker_refused")
                        && x["message"].as_str().unwrap().contains("NS_MQTT_PASSWORD")
                })
            })
        })
        .is_some(),
        "{alarms:?}"
    );
    // Not a network gap.
    assert!(!alarms.unwrap()["active"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["kind"] == json!("broker_gap")));
    eprintln!(
        "wrong password: broker_refused raised {:?} after start",
        t0.elapsed()
    );

    // `fleet status` with the wrong password fails at once, saying why.
    let t0 = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .args(["fleet", "status", "--site"])
        .arg(&f.site)
        .env("NS_MQTT_USER", USER)
        .env("NS_MQTT_PASSWORD", "nope")
        .output()
        .unwrap();
    let err =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("refused this node's login"), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    // With the right one it lists the two nodes.
    let out = Command::new(env!("CARGO_BIN_EXE_nightscape"))
        .args(["fleet", "status", "--format", "json", "--site"])
        .arg(&f.site)
        .env("NS_MQTT_USER", USER)
        .env("NS_MQTT_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("\"a\"") && text.contains("\"b\""), "{text}");
}
