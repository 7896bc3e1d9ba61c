//! A console that unicasts to the controller, over real UDP: the Art-Net
//! input listens on the wildcard address of the port the daemon's Art-Net
//! service holds on this machine's address (`[artnet] listen`), so Linux
//! delivers the console's unicast to the service's socket (the more
//! specific bind). The service hands ArtDmx and ArtTimeCode on to the
//! input: the console's levels show on the Art-Net wire and the timecode
//! in `/api/inputs`, while ArtPoll is still answered by the service.

use crate::common;
use crate::inputs::{free_port, run, site, until};
use std::net::UdpSocket;
use std::time::Duration;

fn artdmx(port_address: u16, levels: &[u8]) -> Vec<u8> {
    let mut p = b"Art-Net\0\x00\x50\x00\x0e\x01\x00".to_vec();
    p.extend_from_slice(&port_address.to_le_bytes());
    p.extend_from_slice(&(levels.len() as u16).to_be_bytes());
    p.extend_from_slice(levels);
    p
}

/// ArtTimeCode, stream 0, EBU 25 fps.
fn arttimecode(h: u8, m: u8, s: u8, f: u8) -> Vec<u8> {
    let mut p = b"Art-Net\0\x00\x97\x00\x0e\x00\x00".to_vec();
    p.extend_from_slice(&[f, s, m, h, 1]);
    p
}

#[test]
fn unicast_to_the_artnet_services_address_reaches_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (site, rx) = site(
        dir.path(),
        &format!(
            "[[inputs]]\nkind = \"artnet\"\nname = \"desk\"\nlisten = \"0.0.0.0:{port}\"\nuniverses = 5\nto = 1\nrelease = \"0s\"\nallow = [\"127.0.0.1/32\"]\n\
             [artnet]\nlisten = \"127.0.0.1:{port}\"\n"
        ),
        &[],
    );
    let (_d, base) = run(&site, "steady");
    assert!(until(&rx, 1, Duration::from_secs(10), |d| d[0] == 0x40).is_some());
    let console = UdpSocket::bind("127.0.0.1:0").unwrap();
    console
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let to = format!("127.0.0.1:{port}");

    // The service holds 127.0.0.1:port: it answers a unicast ArtPoll.
    let mut poll = b"Art-Net\0\x00\x20\x00\x0e\x00\x00".to_vec();
    poll.truncate(14);
    let mut answered = false;
    for _ in 0..10 {
        console.send_to(&poll, &to).unwrap();
        let mut buf = [0u8; 1024];
        if let Ok((n, _)) = console.recv_from(&mut buf) {
            if n > 10 && buf[8..10] == [0x00, 0x21] {
                answered = true;
                break;
            }
        }
    }
    assert!(answered, "the Art-Net service answers ArtPoll at {to}");

    // The console's ArtDmx, unicast to that address, takes universe 1 over.
    let levels = [9, 8, 7];
    let shown = common::wait_until(Duration::from_secs(10), || {
        console.send_to(&artdmx(5, &levels), &to).unwrap();
        until(&rx, 1, Duration::from_millis(100), |d| d[..3] == levels).is_some()
    });
    assert!(shown.is_some(), "unicast ArtDmx never reached the wire");

    // ArtTimeCode by unicast reaches the timecode follower.
    let seen = common::wait_until(Duration::from_secs(5), || {
        console.send_to(&arttimecode(1, 2, 3, 4), &to).unwrap();
        let v: serde_json::Value = ureq::get(format!("{base}/api/inputs"))
            .call()
            .unwrap()
            .body_mut()
            .read_json()
            .unwrap();
        v["timecode"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["source"] == "artnet" && t["last"] == "01:02:03:04")
    });
    assert!(seen.is_some(), "unicast ArtTimeCode never arrived");

    let v: serde_json::Value = ureq::get(format!("{base}/api/inputs"))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    let desk = &v["inputs"][0];
    assert_eq!(desk["name"], "desk", "{v}");
    assert!(desk["accepted"].as_u64().unwrap() >= 2, "{v}");
}
