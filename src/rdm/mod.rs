//! RDM over Art-Net: ask a node for its table of devices (ArtTodRequest →
//! ArtTodData, every block) on one universe, then GET each device's
//! identity, addressing, hours, lamp, status and sensors with ArtRdm.
//!
//! Plain std UDP with bounded timeouts, one request in flight at a time
//! (a node forwards each ArtRdm onto a DMX line that carries one RDM
//! transaction at a time anyway; pacing more would only make it queue or
//! drop). A NACK means "this device does not support that": the field is
//! left out, not an error. ACK_TIMER is honoured (wait, ask again; at most
//! [`MAX_TIMER_RETRIES`] times, each wait capped), ACK_OVERFLOW parts are
//! joined (at most [`MAX_OVERFLOW_PARTS`]).
//!
//! Sockets: replies come both unicast (ArtRdm, to our address) and as
//! broadcast (ArtTodData, to the subnet's broadcast address). A socket
//! bound to one interface address does not receive the broadcasts on
//! Linux, so when `listen` names a specific address a second socket on the
//! wildcard address and the same port listens too (both SO_REUSEADDR).
//! Packets not from the target node are ignored.

use nightscape_core::wire::artnet::{
    encode_artrdm, encode_tod_request, parse_artrdm, parse_tod_data, TOD_NAK,
};
use nightscape_core::wire::rdm::{
    self, pid, CommandClass, DeviceInfo, LampState, Message, NackReason, Response,
    SensorDefinition, SensorValue, StatusMessage, Uid,
};
use serde::Serialize;
use socket2::{Domain, Protocol, Socket, Type};
use std::collections::BTreeSet;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// How many times one GET follows ACK_TIMER before giving up.
pub const MAX_TIMER_RETRIES: u32 = 3;
/// Longest single ACK_TIMER wait honoured.
pub const MAX_TIMER_WAIT: Duration = Duration::from_secs(2);
/// Most ACK_OVERFLOW parts joined for one GET.
pub const MAX_OVERFLOW_PARTS: usize = 8;
/// Our controller UID: manufacturer 0x7ff0 is in E1.20's range for
/// prototypes and experiments, so it collides with no product.
pub const CONTROLLER_MANUFACTURER: u16 = 0x7ff0;

/// Why a discovery could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum RdmClientError {
    #[error("cannot listen on {addr} for Art-Net RDM replies: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error("cannot send to {target}: {source}")]
    Send {
        target: SocketAddr,
        source: io::Error,
    },
    #[error("socket error: {0}")]
    Socket(io::Error),
}

/// What a discovery found on one universe.
#[derive(Debug, Clone, Serialize)]
pub struct Discovery {
    /// False when the node never sent a table of devices for the universe.
    pub tod_received: bool,
    /// The node answered TodNak: it does not do RDM on that universe.
    pub tod_nak: bool,
    pub devices: Vec<Device>,
}

/// One responder, with every field it supports (a NACKed or unanswered
/// GET leaves its field out).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Device {
    pub uid: Uid,
    /// The Art-Net Port-Address the device was found on.
    pub universe: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub software: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_id: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_category: Option<u16>,
    /// DMX start address (1..=512); absent for a device without a footprint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dmx_address: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub footprint: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub personality: Option<Personality>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lamp_hours: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lamp_state: Option<LampState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_hours: Option<u32>,
    pub sensors: Vec<Sensor>,
    pub status: Vec<Status>,
    /// GETs that got no usable answer (no reply, a malformed one), by PID
    /// name: the device is there but this reading is unknown.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unanswered: Vec<&'static str>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Personality {
    pub current: u8,
    pub count: u8,
}

#[derive(Debug, Clone, Serialize)]
pub struct Sensor {
    pub number: u8,
    pub name: String,
    /// E1.20 sensor type code (0 temperature, 1 voltage, 2 current, ...).
    pub kind: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<i16>,
    pub unit: String,
    pub normal: [i16; 2],
    pub range: [i16; 2],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lowest: Option<i16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub highest: Option<i16>,
}

impl Sensor {
    /// Outside the range its definition calls normal.
    pub fn out_of_range(&self) -> bool {
        self.value
            .is_some_and(|v| v < self.normal[0] || v > self.normal[1])
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub severity: &'static str,
    pub message_id: u16,
    pub sub_device: u16,
    pub data: [i16; 2],
}

/// Settings of one discovery.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where to listen (and send from). Port 6454 is where nodes answer.
    pub listen: SocketAddr,
    /// The node (or a broadcast address) to ask.
    pub target: SocketAddr,
    /// Art-Net 15-bit Port-Address.
    pub universe: u16,
    /// How long to wait for the table of devices.
    pub tod_timeout: Duration,
    /// How long to wait for each RDM reply (one retry after it).
    pub request_timeout: Duration,
}

/// Outcome of one GET.
enum Got {
    Data(Vec<u8>),
    Nack(NackReason),
    NoReply,
}

struct Client {
    socks: Vec<UdpSocket>,
    target: SocketAddr,
    universe: u16,
    me: Uid,
    tn: u8,
    request_timeout: Duration,
    out: Vec<u8>,
    msg: Vec<u8>,
    rx: Vec<u8>,
}

fn bind_shared(addr: SocketAddr) -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    s.set_broadcast(true)?;
    s.bind(&addr.into())?;
    Ok(s.into())
}

fn quiet(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
            | io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionRefused
    )
}

impl Client {
    fn open(o: &Options) -> Result<Client, RdmClientError> {
        let bind = |addr| bind_shared(addr).map_err(|source| RdmClientError::Bind { addr, source });
        let mut socks = vec![bind(o.listen)?];
        if !o.listen.ip().is_unspecified() {
            // Broadcast replies (ArtTodData) reach only a wildcard socket.
            let any = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), o.listen.port());
            if let Ok(s) = bind_shared(any) {
                socks.push(s);
            }
        }
        // Device part of our UID: the process ID, so two controllers on one
        // network can tell their replies apart.
        let me = Uid::new(CONTROLLER_MANUFACTURER, std::process::id());
        Ok(Client {
            socks,
            target: o.target,
            universe: o.universe,
            me,
            tn: 0,
            request_timeout: o.request_timeout,
            out: Vec::with_capacity(64),
            msg: Vec::with_capacity(rdm::MAX_MESSAGE_LEN),
            rx: vec![0u8; 1500],
        })
    }

    fn send(&self, bytes: &[u8]) -> Result<(), RdmClientError> {
        self.socks[0]
            .send_to(bytes, self.target)
            .map(|_| ())
            .map_err(|source| RdmClientError::Send {
                target: self.target,
                source,
            })
    }

    /// Wait up to `until` for one packet from the target on any socket;
    /// returns its length in `self.rx`.
    fn recv(&mut self, until: Instant) -> Result<Option<usize>, RdmClientError> {
        let from_target = |from: SocketAddr, target: SocketAddr| {
            // A broadcast target accepts anyone; a unicast one only itself.
            match (from.ip(), target.ip()) {
                (IpAddr::V4(f), IpAddr::V4(t)) => {
                    t.is_broadcast() || t.octets()[3] == 255 || f == t
                }
                (f, t) => f == t,
            }
        };
        loop {
            let now = Instant::now();
            if now >= until {
                return Ok(None);
            }
            let slice = ((until - now) / self.socks.len() as u32)
                .clamp(Duration::from_millis(1), Duration::from_millis(20));
            for s in &self.socks {
                s.set_read_timeout(Some(slice))
                    .map_err(RdmClientError::Socket)?;
                match s.recv_from(&mut self.rx) {
                    Ok((n, from)) if from_target(from, self.target) => return Ok(Some(n)),
                    Ok(_) => {}
                    Err(e) if quiet(&e) => {}
                    Err(e) => return Err(RdmClientError::Socket(e)),
                }
            }
        }
    }

    /// ArtTodRequest, then ArtTodData blocks until the table is complete
    /// (or the timeout). Asked again halfway through in case a packet was
    /// lost.
    fn table(&mut self, timeout: Duration) -> Result<(bool, bool, Vec<Uid>), RdmClientError> {
        let mut req = Vec::new();
        encode_tod_request(&[self.universe], &mut req);
        self.send(&req)?;
        let start = Instant::now();
        let deadline = start + timeout;
        let mut reask = Some(start + timeout / 2);
        let mut uids = BTreeSet::new();
        let (mut got, mut nak) = (false, false);
        loop {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            if reask.is_some_and(|t| now >= t) {
                reask = None;
                self.send(&req)?;
            }
            let until = reask.unwrap_or(deadline).min(deadline);
            let Some(n) = self.recv(until)? else {
                continue;
            };
            let Ok(t) = parse_tod_data(&self.rx[..n]) else {
                continue;
            };
            if t.port_address != self.universe {
                continue;
            }
            got = true;
            if t.command_response == TOD_NAK {
                nak = true;
                break;
            }
            uids.extend(t.uids.iter().copied());
            if uids.len() >= usize::from(t.uid_total) && (t.uid_total > 0 || reask.is_none()) {
                break;
            }
        }
        Ok((got, nak, uids.into_iter().collect()))
    }

    /// One RDM transaction: send, wait for the matching reply (one resend
    /// after a timeout).
    fn transact(
        &mut self,
        dest: Uid,
        class: CommandClass,
        pidv: u16,
        data: &[u8],
    ) -> Result<Option<Vec<u8>>, RdmClientError> {
        self.tn = self.tn.wrapping_add(1);
        let tn = self.tn;
        let m = Message::request(dest, self.me, tn, class, pidv, data);
        if rdm::encode(&m, &mut self.msg).is_err() {
            return Ok(None);
        }
        encode_artrdm(self.universe, &self.msg, &mut self.out);
        for _attempt in 0..2 {
            let out = std::mem::take(&mut self.out);
            let sent = self.send(&out);
            self.out = out;
            sent?;
            let until = Instant::now() + self.request_timeout;
            while let Some(n) = self.recv(until)? {
                let Ok((pa, body)) = parse_artrdm(&self.rx[..n]) else {
                    continue;
                };
                if pa != self.universe {
                    continue;
                }
                let Ok(r) = rdm::decode(body) else { continue };
                if r.src == dest
                    && r.dest == self.me
                    && r.transaction == tn
                    && r.pid == pidv
                    && r.class == class.response()
                {
                    return Ok(Some(body.to_vec()));
                }
            }
        }
        Ok(None)
    }

    /// GET with ACK_TIMER and ACK_OVERFLOW handled.
    fn get(&mut self, dest: Uid, pidv: u16, data: &[u8]) -> Result<Got, RdmClientError> {
        let mut joined = Vec::new();
        let mut timers = 0;
        let mut parts = 0;
        loop {
            let Some(raw) = self.transact(dest, CommandClass::Get, pidv, data)? else {
                return Ok(Got::NoReply);
            };
            let Ok(m) = rdm::decode(&raw) else {
                return Ok(Got::NoReply);
            };
            match m.response() {
                Ok(Response::Ack(d)) => {
                    joined.extend_from_slice(d);
                    return Ok(Got::Data(joined));
                }
                Ok(Response::AckOverflow(d)) => {
                    joined.extend_from_slice(d);
                    parts += 1;
                    if parts >= MAX_OVERFLOW_PARTS {
                        return Ok(Got::Data(joined));
                    }
                }
                Ok(Response::AckTimer { tenths }) => {
                    timers += 1;
                    if timers > MAX_TIMER_RETRIES {
                        return Ok(Got::NoReply);
                    }
                    let wait = Duration::from_millis(u64::from(tenths) * 100).min(MAX_TIMER_WAIT);
                    std::thread::sleep(wait);
                }
                Ok(Response::Nack(r)) => return Ok(Got::Nack(r)),
                Err(_) => return Ok(Got::NoReply),
            }
        }
    }
}

fn pid_name(p: u16) -> &'static str {
    match p {
        pid::DEVICE_INFO => "DEVICE_INFO",
        pid::DEVICE_MODEL_DESCRIPTION => "DEVICE_MODEL_DESCRIPTION",
        pid::MANUFACTURER_LABEL => "MANUFACTURER_LABEL",
        pid::DEVICE_LABEL => "DEVICE_LABEL",
        pid::SOFTWARE_VERSION_LABEL => "SOFTWARE_VERSION_LABEL",
        pid::DMX_PERSONALITY => "DMX_PERSONALITY",
        pid::DMX_START_ADDRESS => "DMX_START_ADDRESS",
        pid::LAMP_HOURS => "LAMP_HOURS",
        pid::LAMP_STATE => "LAMP_STATE",
        pid::DEVICE_HOURS => "DEVICE_HOURS",
        pid::STATUS_MESSAGES => "STATUS_MESSAGES",
        pid::SENSOR_DEFINITION => "SENSOR_DEFINITION",
        pid::SENSOR_VALUE => "SENSOR_VALUE",
        _ => "other",
    }
}

/// GET one PID: the data of an ACK; a NACK is "not supported" (`None`);
/// no usable answer is `None` and recorded in `unanswered`.
fn fetch(
    c: &mut Client,
    d: &mut Device,
    p: u16,
    pd: &[u8],
) -> Result<Option<Vec<u8>>, RdmClientError> {
    Ok(match c.get(d.uid, p, pd)? {
        Got::Data(v) => Some(v),
        // Not supported: the field is simply absent.
        Got::Nack(NackReason::UnknownPid | NackReason::UnsupportedCommandClass) => None,
        // Supported but refused now (hardware fault, busy, ...): worth
        // showing as an unknown reading.
        Got::Nack(_) | Got::NoReply => {
            d.unanswered.push(pid_name(p));
            None
        }
    })
}

fn text(c: &mut Client, d: &mut Device, p: u16) -> Result<Option<String>, RdmClientError> {
    Ok(fetch(c, d, p, &[])?.map(|v| rdm::parse_text(&v)))
}

/// Read everything nightscape keeps about one device.
fn read_device(c: &mut Client, uid: Uid) -> Result<Device, RdmClientError> {
    let mut d = Device {
        uid,
        universe: c.universe,
        ..Device::default()
    };
    let mut sensor_count = 0;
    if let Some(v) = fetch(c, &mut d, pid::DEVICE_INFO, &[])? {
        match DeviceInfo::parse(&v) {
            Ok(info) => {
                d.model_id = Some(info.model_id);
                d.product_category = Some(info.product_category);
                d.footprint = Some(info.footprint);
                if (1..=512).contains(&info.start_address) {
                    d.dmx_address = Some(info.start_address);
                }
                if info.personality_count > 0 {
                    d.personality = Some(Personality {
                        current: info.personality,
                        count: info.personality_count,
                    });
                }
                sensor_count = info.sensor_count;
            }
            Err(_) => d.unanswered.push("DEVICE_INFO"),
        }
    }
    d.model = text(c, &mut d, pid::DEVICE_MODEL_DESCRIPTION)?;
    d.manufacturer = text(c, &mut d, pid::MANUFACTURER_LABEL)?;
    d.label = text(c, &mut d, pid::DEVICE_LABEL)?;
    d.software = text(c, &mut d, pid::SOFTWARE_VERSION_LABEL)?;
    if let Some(v) = fetch(c, &mut d, pid::DMX_START_ADDRESS, &[])? {
        if let Ok(a) = rdm::parse_start_address(&v) {
            d.dmx_address = (1..=512).contains(&a).then_some(a);
        }
    }
    if let Some(v) = fetch(c, &mut d, pid::DMX_PERSONALITY, &[])? {
        if let Ok((current, count)) = rdm::parse_personality(&v) {
            d.personality = Some(Personality { current, count });
        }
    }
    if let Some(v) = fetch(c, &mut d, pid::LAMP_HOURS, &[])? {
        d.lamp_hours = rdm::parse_u32(pid::LAMP_HOURS, &v).ok();
    }
    if let Some(v) = fetch(c, &mut d, pid::LAMP_STATE, &[])? {
        d.lamp_state = LampState::parse(&v).ok();
    }
    if let Some(v) = fetch(c, &mut d, pid::DEVICE_HOURS, &[])? {
        d.device_hours = rdm::parse_u32(pid::DEVICE_HOURS, &v).ok();
    }
    if let Some(v) = fetch(
        c,
        &mut d,
        pid::STATUS_MESSAGES,
        &[rdm::status_type::ADVISORY],
    )? {
        if let Ok(list) = StatusMessage::parse_list(&v) {
            d.status = list
                .iter()
                .map(|s| Status {
                    severity: s.severity(),
                    message_id: s.message_id,
                    sub_device: s.sub_device,
                    data: [s.data1, s.data2],
                })
                .collect();
        }
    }
    for n in 0..sensor_count {
        let Some(v) = fetch(c, &mut d, pid::SENSOR_DEFINITION, &[n])? else {
            continue;
        };
        let Ok(def) = SensorDefinition::parse(&v) else {
            continue;
        };
        let mut s = Sensor {
            number: n,
            name: def.description.clone(),
            kind: def.kind,
            value: None,
            unit: def.unit_symbol(),
            normal: [def.normal.0, def.normal.1],
            range: [def.range.0, def.range.1],
            lowest: None,
            highest: None,
        };
        if let Some(v) = fetch(c, &mut d, pid::SENSOR_VALUE, &[n])? {
            if let Ok(val) = SensorValue::parse(&v) {
                s.value = Some(val.present);
                // Lowest/highest are only meaningful when recorded.
                if def.recorded_support & 0x02 != 0 {
                    s.lowest = Some(val.lowest);
                    s.highest = Some(val.highest);
                }
            }
        }
        d.sensors.push(s);
    }
    Ok(d)
}

/// Run one discovery: table of devices, then every device's readings.
pub fn discover(o: &Options) -> Result<Discovery, RdmClientError> {
    let mut c = Client::open(o)?;
    let (tod_received, tod_nak, uids) = c.table(o.tod_timeout)?;
    let mut devices = Vec::with_capacity(uids.len());
    for uid in uids {
        devices.push(read_device(&mut c, uid)?);
    }
    Ok(Discovery {
        tod_received,
        tod_nak,
        devices,
    })
}
