//! A node whose clock is not synchronised holds the schedule (issue 28),
//! with real daemons, a real mosquitto and Art-Net decoded on loopback.
//! B and C both send the tower crown's universe at the same frozen
//! instant. C's clock state comes from the file `<state>/clock.sync` (the
//! injectable source) which says `unsynced`: C plays the site's
//! `unsynced_show` instead of the schedule (other bytes than B), raises
//! `clock_unsynced`, and says so in `/api/status` (`clock_sync`). An
//! operator override still reaches C's wire. The file then says `synced`:
//! C joins the schedule (the same bytes as B) and the alarm clears.
//!
//! Skipped (with a message) when `mosquitto` is not installed. Every wait
//! is bounded.

use crate::common;
use crate::common::fleet::{
    agent, base, connected, fleet_site, get, mosquitto, recv_universe, start_node, state_dir,
    Broker, OPERATOR,
};
use crate::common::{free_port, wait_until};
use serde_json::json;
use std::time::Duration;

fn alarm_kinds(agent: &ureq::Agent, base: &str) -> Vec<String> {
    get(agent, &format!("{base}/api/alarms"))
        .and_then(|a| a["active"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|a| a["kind"].as_str().map(str::to_string))
        .collect()
}

#[test]
#[cfg_attr(not(feature = "slow-tests"), ignore = "slow tier")]
fn fleet_unsynced_clock_holds_the_schedule_until_trusted() {
    let Some(bin) = mosquitto() else {
        common::skip_unless_ci(
            "fleet_unsynced_clock_holds_the_schedule_until_trusted",
            "mosquitto is not installed (apt-get install mosquitto)",
        );
        return;
    };
    let port = free_port();
    let f = fleet_site(port);
    let p = f.site.join("site.toml");
    let text = std::fs::read_to_string(&p).unwrap().replace(
        "status_every = \"0.5s\"\n",
        "status_every = \"0.5s\"\nunsynced_show = \"curfew-white\"\n",
    );
    assert!(text.contains("unsynced_show"));
    std::fs::write(&p, text).unwrap();
    let sync_file = state_dir(&f, 2).join("clock.sync");
    std::fs::create_dir_all(state_dir(&f, 2)).unwrap();
    std::fs::write(&sync_file, "unsynced\n").unwrap();

    let _broker = Broker::start(&bin, f.tmp.path(), port);
    let agent = agent();
    let _b = start_node(&f, 1);
    let _c = start_node(&f, 2);
    for i in [1, 2] {
        assert!(wait_until(Duration::from_secs(30), || connected(&agent, &f, i)).is_some());
    }
    let c = base(&f, 2);
    let (u, _) = f.crown;
    // C says it holds, and why.
    let mut st = None;
    assert!(
        wait_until(Duration::from_secs(10), || {
            st = get(&agent, &format!("{c}/api/status"));
            st.as_ref()
                .is_some_and(|s| s["clock_sync"]["holding"] == json!(true))
        })
        .is_some(),
        "{st:?}"
    );
    let cs = &st.unwrap()["clock_sync"];
    assert_eq!(cs["synced"], json!(false), "{cs}");
    assert_eq!(cs["source"], json!("file"), "{cs}");
    assert_eq!(cs["plays"], json!("curfew-white"), "{cs}");
    assert!(
        wait_until(Duration::from_secs(5), || alarm_kinds(&agent, &c)
            .contains(&"clock_unsynced".to_string()))
        .is_some(),
        "{:?}",
        alarm_kinds(&agent, &c)
    );
    // B plays the schedule, C the unsynced show: other bytes, same instant.
    common::drain(&f.rx[1], Duration::from_millis(50));
    common::drain(&f.rx[2], Duration::from_millis(50));
    let on_b = recv_universe(&f.rx[1], u, Duration::from_secs(3)).unwrap();
    let on_c = recv_universe(&f.rx[2], u, Duration::from_secs(3)).unwrap();
    assert_ne!(
        on_b, on_c,
        "C played the schedule with its clock unsynchronised"
    );
    // B's status says its clock is not held (its state is unknown or synced).
    let sb = get(&agent, &format!("{}/api/status", base(&f, 1))).unwrap();
    assert_eq!(
        sb["clock_sync"]["holding"],
        json!(false),
        "{}",
        sb["clock_sync"]
    );

    // An operator override still plays on the held node.
    let (_, off) = f.crown;
    let r = agent
        .post(format!("{c}/api/overrides"))
        .header("Authorization", format!("Bearer {OPERATOR}"))
        .send_json(json!({"target": "tower-crown", "color": "#00ff00", "fade": 0, "ttl": "1m"}))
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    crate::common::fleet::wait_for_dmx(&f.rx[2], u, off, &[0, 255, 0], Duration::from_secs(5))
        .expect("an override did not reach the held node's wire");
    let r = agent
        .delete(format!("{c}/api/overrides"))
        .header("Authorization", format!("Bearer {OPERATOR}"))
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);

    // The clock is trusted: C joins the schedule, the alarm clears.
    std::fs::write(&sync_file, "synced\n").unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || {
            get(&agent, &format!("{c}/api/status"))
                .is_some_and(|s| s["clock_sync"]["holding"] == json!(false))
                && !alarm_kinds(&agent, &c).contains(&"clock_unsynced".to_string())
        })
        .is_some(),
        "C did not join"
    );
    let same = wait_until(Duration::from_secs(5), || {
        common::drain(&f.rx[1], Duration::from_millis(30));
        common::drain(&f.rx[2], Duration::from_millis(30));
        let b = recv_universe(&f.rx[1], u, Duration::from_secs(2));
        let c = recv_universe(&f.rx[2], u, Duration::from_secs(2));
        b.is_some() && b == c
    })
    .is_some();
    assert!(same, "C does not send B's bytes after joining the schedule");
}
