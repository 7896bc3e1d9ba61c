//! `nightscape run`: load the site, open the outputs, start the frame loop
//! thread, and stop it cleanly on Ctrl-C or SIGTERM.

use super::{parse_time_arg, TimeArg};
use crate::clock::Clock;
use crate::daemon::{self, Shared};
use crate::{api, output, store};
use anyhow::Result;
use clap::Args;
use std::path::Path;
use std::sync::atomic::Ordering;

#[derive(Args, Debug)]
pub(crate) struct RunArgs {
    /// Play this show instead of the schedule.
    #[arg(long)]
    pub show: Option<String>,
    /// When --show started: RFC 3339 or site time (default: with --clock,
    /// one minute before it, as `render --show` does; else start-up, so a
    /// live start fades in).
    #[arg(long, value_parser = parse_time_arg)]
    pub since: Option<TimeArg>,
    /// Run on a simulated clock starting at this instant: RFC 3339, or site
    /// time as "YYYY-MM-DD HH:MM[:SS]" or "HH:MM" (today).
    #[arg(long, value_parser = parse_time_arg)]
    pub clock: Option<TimeArg>,
    /// Speed of the simulated clock (60 = a minute per second, 0 = frozen).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Runtime state folder (overrides, audit log, energy, sACN CID);
    /// default: `state_dir` in site.toml, else ./var.
    #[arg(long)]
    pub state: Option<std::path::PathBuf>,
    /// Dry run: render and serve the page and API, but open no output and
    /// send nothing to any node.
    #[arg(long)]
    pub no_output: bool,
    /// Which of the site's `[[nodes]]` this controller is: send only its
    /// outputs, serve the API at its address, join the fleet under its name.
    #[arg(long)]
    pub node: Option<String>,
    /// Serve the operator API here (wins over `[api] listen` and the node's `api`).
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
}

impl Default for RunArgs {
    /// `nightscape` with no command: the same as `nightscape run`.
    fn default() -> Self {
        RunArgs {
            show: None,
            since: None,
            clock: None,
            speed: 1.0,
            state: None,
            no_output: false,
            node: None,
            listen: None,
        }
    }
}

pub async fn run(site: &Path, args: RunArgs) -> Result<i32> {
    let Some(plan) = Plan::decide(site, args).await else {
        return Ok(1);
    };
    let Some(mut daemon) = Daemon::start(plan).await? else {
        return Ok(1);
    };
    daemon.until_stopped().await;
    Ok(daemon.shutdown().await)
}

/// What `run` decided before opening anything: the configuration, which
/// node this is, the clock, the program, the API's settings, the state
/// folder (locked) and the API's socket (bound). Every refusal here costs
/// nothing: no output has opened and no frame was sent.
struct Plan {
    folder: std::path::PathBuf,
    args: RunArgs,
    cfg: crate::config::Config,
    node: Option<nightscape_core::site::fleet::NodeSpec>,
    standby: Option<crate::fleet::standby::Plan>,
    clock: Clock,
    skips: daemon::Skips,
    program: Box<dyn daemon::Program>,
    api_cfg: api::ApiConfig,
    state_dir: std::path::PathBuf,
    lock: daemon::lock::StateLock,
    listener: Option<tokio::net::TcpListener>,
}

impl Plan {
    /// `None`: the reason was printed; exit with status 1.
    async fn decide(site: &Path, args: RunArgs) -> Option<Plan> {
        let mut cfg = super::load_or_report(site)?;
        let node = match (&args.node, cfg.site.nodes.is_empty()) {
            (None, true) => None,
            (None, false) => {
                let names: Vec<&str> = cfg.site.nodes.iter().map(|n| n.name.as_str()).collect();
                eprintln!(
                    "this site has nodes ({}): say which controller this is with --node NAME",
                    names.join(", ")
                );
                return None;
            }
            (Some(n), _) => match cfg.site.node(n) {
                Some(spec) => Some(spec.clone()),
                None => {
                    let names: Vec<&str> = cfg.site.nodes.iter().map(|n| n.name.as_str()).collect();
                    eprintln!(
                        "--node {n}: the site has no such node{}",
                        if names.is_empty() {
                            " (it declares no [[nodes]])".to_string()
                        } else {
                            format!(" (it has: {})", names.join(", "))
                        }
                    );
                    return None;
                }
            },
        };
        // Standbys (docs/fleet.md): decided from every node's outputs, before
        // this node keeps only its own.
        let standby = node
            .as_ref()
            .map(|n| crate::fleet::standby::Plan::new(&cfg.site, &n.name));
        if let Some(n) = &node {
            cfg.site.retain_node_outputs(&n.name);
        }
        for w in cfg.warnings.warnings() {
            tracing::warn!("{w}");
        }
        if !(args.speed.is_finite() && args.speed >= 0.0) {
            eprintln!("--speed must be 0 or more");
            return None;
        }
        let tz = cfg.site.timezone;
        let (clock_start, since) = match (
            super::resolve_opt(&args.clock, "--clock", tz),
            super::resolve_opt(&args.since, "--since", tz),
        ) {
            (Ok(c), Ok(s)) => (c, s),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("{e}");
                return None;
            }
        };
        let clock = match clock_start {
            Some(start) => Clock::simulated(start, args.speed),
            None => Clock::System,
        };
        // On a simulated clock the designer looks at a moment: start the show a
        // minute before it, as `render --show` does, so a frozen clock does not
        // sit at the first frame of the fade-in.
        let since = since.unwrap_or_else(|| match clock_start {
            Some(start) => start - chrono::Duration::minutes(1),
            None => clock.now(),
        });
        let skips = daemon::Skips::default();
        let program =
            match super::program_with_skips(&cfg, args.show.as_deref(), since, skips.clone()) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("{e}");
                    return None;
                }
            };
        let mut api_cfg = match api::ApiConfig::from_site(&cfg.site) {
            Ok((c, warnings)) => {
                for w in warnings.warnings() {
                    tracing::warn!("{w}");
                }
                c
            }
            Err(d) => {
                eprint!("{d}");
                return None;
            }
        };
        if let Some(listen) = args.listen.or(node.as_ref().and_then(|n| n.api)) {
            api_cfg.listen = listen;
        }
        if api_cfg.enabled {
            log_sign_in(&api_cfg);
        }
        let state_dir = api_cfg.state_dir(args.state.as_deref());
        // One daemon per state folder, decided before any output opens.
        let lock = match daemon::lock::lock_state(&state_dir) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("{e}");
                tracing::error!("{e}");
                return None;
            }
        };
        // The API's address before any output opens: a daemon that cannot
        // serve its page must not run on, or a browser at that address reaches
        // whoever holds it (often another daemon) and steers the wrong lights.
        let listener = if api_cfg.enabled {
            match api::listen::bind(api_cfg.listen).await {
                Ok(l) => Some(l),
                Err(e) => {
                    eprintln!("{e}");
                    tracing::error!("{e}");
                    return None;
                }
            }
        } else {
            None
        };
        Some(Plan {
            folder: site.to_path_buf(),
            args,
            cfg,
            node,
            standby,
            clock,
            skips,
            program,
            api_cfg,
            state_dir,
            lock,
            listener,
        })
    }
}

/// A running daemon: it owns every thread and task it started, and
/// [`Daemon::shutdown`] stops them in order, so nothing outlives it and
/// nothing is left half-stopped.
struct Daemon {
    shared: Shared,
    frame_thread: std::thread::JoinHandle<()>,
    watcher: std::thread::JoinHandle<()>,
    fleet: Option<crate::fleet::Fleet>,
    rollout: Option<crate::rollout::Rollout>,
    api: Option<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    )>,
    care: std::sync::Arc<crate::rdm::care::DeviceCare>,
    inputs: std::sync::Arc<crate::inputs::Inputs>,
    /// Alarm watchers and the alarm webhook: they only read, so they are
    /// aborted last.
    background: Vec<tokio::task::JoinHandle<()>>,
    /// Held to the end: ArtPoll answers (dropped after the last frame) and
    /// the state folder's lock (released last, so a restart waits for us).
    _artpoll: Option<output::artpoll::ArtPollService>,
    _lock: daemon::lock::StateLock,
}

impl Daemon {
    /// Open the outputs and start everything: operator state, energy,
    /// alarms, fleet, rollouts, device care, show control, the frame loop,
    /// the API and the site watcher. `Ok(None)`: the reason was printed;
    /// exit with status 1.
    async fn start(plan: Plan) -> Result<Option<Daemon>> {
        let Plan {
            folder,
            args,
            cfg,
            node,
            standby,
            clock,
            skips,
            program,
            api_cfg,
            state_dir,
            lock,
            listener,
        } = plan;
        // Descriptors: raise the soft limit, then keep the API's connections
        // within it so a flood cannot starve outputs, SQLite or hot reload.
        let nofile = daemon::fds::raise_nofile();
        if let Some((before, after)) = nofile {
            if after > before {
                tracing::debug!(before, after, "open-file limit raised");
            }
        }
        let (mut outputs, warnings) = if args.no_output {
            tracing::info!("dry run (--no-output): no output is opened, nothing is sent");
            (Vec::new(), Vec::new())
        } else {
            let (mut outputs, mut warnings) = output::open_all(&cfg.site, &state_dir);
            if let Some(p) = &standby {
                warnings.extend(p.wrap(&mut outputs, &state_dir));
            }
            (outputs, warnings)
        };
        let _artpoll = start_artpoll(
            &cfg.site,
            node.as_ref().map(|n| n.name.as_str()),
            &mut outputs,
        );
        for w in warnings {
            tracing::warn!("{w}");
        }
        for o in &outputs {
            let h = o.health();
            tracing::info!(kind = %h.kind, target = %h.target, universes = %nightscape_core::site::format_universes(&h.universes), "output open");
        }
        tracing::info!(site = %cfg.site.name, fps = cfg.site.fps, playing = %args.show.as_deref().unwrap_or("the schedule"), state = %state_dir.display(), "running");
        let mut shared = Shared::new(cfg, clock);
        shared.skips = skips;
        if let Some(n) = &node {
            tracing::info!(node = %n.name, "running as one node of the site's fleet");
            shared = shared.with_node(&n.name);
        }

        // Simulated time stays simulated: a run on `--clock` meters into a
        // record of its own, never the state folder's real one.
        let simulated = matches!(clock, Clock::Simulated { .. });
        let energy_dir = crate::energy::record_dir(&state_dir, simulated);
        if simulated {
            tracing::info!(
                record = %energy_dir.display(),
                "simulated clock: energy is recorded apart from the real record (`nightscape energy --simulated` reports it)"
            );
        }
        // Operator state comes back before the first frame. A broken store costs
        // the API, never the lights.
        let api_state = match store::Store::open(&state_dir) {
            Ok(store) => match api::ApiState::start(shared.clone(), store, &api_cfg).await {
                Ok(s) => {
                    let mut limits = (*s.limits).clone();
                    if let Some((_, soft)) = nofile {
                        let budget = daemon::fds::connection_budget(soft, limits.max_connections);
                        if budget < limits.max_connections {
                            tracing::warn!(
                                "the open-file limit ({soft}) allows the API {budget} connections, not the {} configured: raise LimitNOFILE",
                                limits.max_connections
                            );
                        }
                        limits.max_connections = budget;
                    }
                    Some(s.with_limits(limits).with_energy(&energy_dir))
                }
                Err(e) => {
                    tracing::error!("operator state: {e}; running without the API");
                    None
                }
            },
            Err(e) => {
                tracing::error!("{e}; running without the API");
                None
            }
        };
        let energy = crate::energy::EnergyHook::open(&energy_dir, clock.speed());
        let live = energy.live();
        let power: std::sync::Arc<dyn Fn() -> Option<f64> + Send + Sync> =
            std::sync::Arc::new(move || {
                let l = live.lock().ok()?;
                l.at.map(|_| l.site_w)
            });
        let alarms = std::sync::Arc::new(crate::alarms::Alarms::default());
        let mut background = vec![crate::tasks::spawn(crate::alarms::watch_local(
            shared.clone(),
            alarms.clone(),
        ))];
        let fleet_spec = shared.config().site.fleet.clone();
        if let Some(url) = fleet_spec.as_ref().and_then(|f| f.webhook.clone()) {
            background.push(crate::tasks::spawn(crate::alarms::webhook(
                url,
                alarms.clone(),
            )));
        }
        let mut fleet = None;
        // A fleet node whose clock is not synchronised holds the schedule
        // (docs/fleet.md); the fleet task decides, this hook holds.
        let clock_hold = crate::fleet::clock::Hold::default();
        if let (Some(spec), Some(n), Some(state)) = (fleet_spec, &node, &api_state) {
            let opts = crate::fleet::FleetOptions {
                node: n.name.clone(),
                spec,
                folder: folder.clone(),
                state_dir: Some(state_dir.clone()),
                power: Some(power.clone()),
                alarms: alarms.clone(),
                standby: standby
                    .as_ref()
                    .map(|p| p.gates.clone())
                    .unwrap_or_default(),
                hold: clock_hold.clone(),
            };
            match crate::fleet::Fleet::start(shared.clone(), state.control.clone(), opts).await {
                Ok(f) => fleet = Some(f),
                Err(e) => {
                    eprintln!("{e}");
                    return Ok(None);
                }
            }
        } else if shared.config().site.fleet.is_some() && api_state.is_none() {
            tracing::error!("fleet: the operator state store is unavailable, so this node cannot take part in the fleet's commands");
        }
        // Site rollouts (`fleet push` / `rollback`): a node of a fleet stores
        // and switches to pushed site versions.
        let rollout = match (shared.config().site.fleet.clone(), &node) {
            (Some(spec), Some(n)) => {
                let opts = crate::rollout::RolloutOptions {
                    node: n.name.clone(),
                    spec,
                    state_dir: state_dir.clone(),
                    folder: folder.clone(),
                    alarms: alarms.clone(),
                    checker: std::env::current_exe().unwrap_or_else(|_| "nightscape".into()),
                };
                match crate::rollout::Rollout::start(shared.clone(), opts) {
                    Ok(r) => Some(r),
                    Err(e) => {
                        eprintln!("{e}");
                        return Ok(None);
                    }
                }
            }
            _ => None,
        };
        // Device care: the outputs with `rdm = true` asked for their fixtures
        // (never in a dry run, which sends nothing to any node).
        let rdm_on = !args.no_output && shared.config().site.outputs.iter().any(|o| o.rdm);
        let care = crate::rdm::care::DeviceCare::start(
            shared.clone(),
            alarms.clone(),
            api_state.as_ref().map(|s| s.control.store().clone()),
            _artpoll.as_ref().filter(|_| rdm_on).map(|a| a.rdm_tap()),
            rdm_on,
        );
        // The fleet carries this node's devices and faults to its peers.
        if let Some(f) = &fleet {
            f.publish_devices(care.clone());
        }
        let api_state = api_state.map(|s| {
            let p = power.clone();
            let s = s
                .with_power(move || p())
                .with_alarms(alarms.clone())
                .with_devices(care.clone());
            match &fleet {
                Some(f) => s.with_fleet(f.view.clone()),
                None => s,
            }
        });
        // Show control (issue 26): OSC and UDP inputs, triggers, events out.
        let api_state = match api_state {
            Some(s) => {
                let sc = crate::triggers::start_for_site(
                    shared.clone(),
                    s.control.clone(),
                    Some(alarms.clone()),
                )
                .await;
                Some(s.with_triggers(sc))
            }
            None => None,
        };
        // Consoles and timecode (issue 26): sockets on their own threads, the
        // merge in the frame loop before the energy hook reviews the frame.
        let inputs = crate::inputs::Inputs::start_following(&shared);
        let mut hooks: Vec<Box<dyn daemon::FrameHook>> =
            vec![Box::new(inputs.hook()), Box::new(energy)];
        if let Some(s) = &api_state {
            hooks.push(Box::new(s.frame_hook()));
        }
        if fleet.is_some() {
            hooks.push(Box::new(clock_hold.hook()));
        }
        let loop_shared = shared.clone();
        let frame_thread = std::thread::Builder::new()
            .name("frame-loop".into())
            .spawn(move || daemon::frame_loop(program, outputs, hooks, loop_shared))?;

        let mut api = None;
        if let (Some(state), Some(listener)) = (&api_state, listener) {
            // With `listen = "127.0.0.1:0"` the kernel picks the port: log the
            // real address and leave it in the state folder (`api.addr`) for
            // scripts and tests to find.
            let bound = listener.local_addr().unwrap_or(api_cfg.listen);
            tracing::info!(listen = %bound, "operator API and page");
            if let Err(e) = std::fs::write(state_dir.join("api.addr"), format!("{bound}\n")) {
                tracing::warn!("cannot write {}: {e}", state_dir.join("api.addr").display());
            }
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let serve = api::serve(listener, state.clone(), async {
                let _ = rx.await;
            });
            let task = crate::tasks::spawn(async move {
                if let Err(e) = serve.await {
                    tracing::error!("operator API stopped: {e}");
                }
            });
            api = Some((tx, task));
        }

        let watch_shared = shared.clone();
        let watcher = std::thread::Builder::new()
            .name("site-watch".into())
            .spawn(move || {
                daemon::reload::watch(folder, watch_shared, std::time::Duration::from_secs(1))
            })?;
        Ok(Some(Daemon {
            shared,
            frame_thread,
            watcher,
            fleet,
            rollout,
            api,
            care,
            inputs,
            background,
            _artpoll,
            _lock: lock,
        }))
    }

    /// Until a signal, or at once if the frame loop died (its panic is
    /// contained and logged; the exit code tells systemd to restart us).
    async fn until_stopped(&mut self) {
        let loop_ended = async {
            while !self.frame_thread.is_finished() {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        };
        tokio::select! {
            _ = wait_for_shutdown() => tracing::info!("shutting down"),
            _ = loop_ended => tracing::error!("the frame loop ended; shutting down"),
        }
    }

    /// Stop in order and give the exit status. The fleet first, so the
    /// other nodes hear this one leave while its lights still follow them;
    /// then rollouts and the API, so no command lands after the last frame;
    /// then the frame loop and what feeds it (device care, inputs), the site
    /// watcher, and last the tasks that only read.
    async fn shutdown(self) -> i32 {
        if let Some(f) = &self.fleet {
            f.shutdown(std::time::Duration::from_secs(1)).await;
        }
        if let Some(r) = &self.rollout {
            r.shutdown().await;
        }
        if let Some((tx, task)) = self.api {
            let _ = tx.send(());
            let _ = task.await;
        }
        self.shared.stop.store(true, Ordering::Relaxed);
        self.care.stop();
        let joined = self.frame_thread.join();
        self.inputs.stop();
        let _ = self.watcher.join();
        for t in &self.background {
            t.abort();
        }
        if joined.is_err() || self.shared.failed.load(Ordering::Relaxed) {
            tracing::error!("exiting with status 1: the frame loop failed");
            return 1;
        }
        0
    }
}

/// Tell the operator, first thing, how to sign in to the page: which
/// environment variable (or file) each token reads and whether it is set.
/// Only names and states are logged, never a secret.
fn log_sign_in(cfg: &api::ApiConfig) {
    use api::config::TokenSource;
    if cfg.tokens.is_empty() {
        tracing::warn!(
            "the operator page has no tokens to sign in with: add to [api] in site.toml e.g. tokens = [{{ name = \"operator\", role = \"operator\", env = \"NIGHTSCAPE_OPERATOR_TOKEN\" }}]"
        );
        return;
    }
    for t in &cfg.tokens {
        match &t.source {
            TokenSource::Env(var) => {
                let set = std::env::var(var).is_ok_and(|v| !v.trim().is_empty());
                tracing::info!(
                    "sign-in token `{}` ({}): environment variable {var} {}",
                    t.name,
                    t.role.name(),
                    if set {
                        "is set"
                    } else {
                        "is NOT set: export it (a long random secret) to sign in with this role"
                    }
                );
            }
            TokenSource::File(path) => tracing::info!(
                "sign-in token `{}` ({}): read from the file {}",
                t.name,
                t.role.name(),
                path.display()
            ),
        }
    }
}

/// Answer ArtPoll and poll the Art-Net outputs' nodes, when the site has
/// Art-Net outputs. A port that cannot be had costs this service only.
fn start_artpoll(
    site: &nightscape_core::site::Site,
    node: Option<&str>,
    outputs: &mut [Box<dyn output::Output>],
) -> Option<output::artpoll::ArtPollService> {
    let mut targets = Vec::new();
    let mut port_addresses = Vec::new();
    for o in outputs.iter() {
        if let Some((t, wire)) = o.artnet_target() {
            targets.push(t);
            port_addresses.extend(wire);
        }
    }
    if targets.is_empty() {
        return None;
    }
    let a = &site.artnet;
    let settings = output::artpoll::ArtPollSettings {
        listen: a.listen,
        poll_every: std::time::Duration::from_secs_f64(a.poll_every),
        answer: a.answer,
        targets,
        port_addresses,
        short_name: "nightscape".into(),
        long_name: match node {
            Some(n) => format!("nightscape {} ({n})", site.name),
            None => format!("nightscape {}", site.name),
        },
    };
    match output::artpoll::ArtPollService::start(settings) {
        Ok(svc) => {
            for o in outputs.iter_mut() {
                o.watch_nodes(&svc.watch);
            }
            // Say where it really listens: with every output on this
            // machine it binds nothing (a local receiver keeps the port).
            if svc.listening.is_empty() {
                tracing::info!("Art-Net: not answering ArtPoll (every Art-Net output is on this machine, whose receivers keep port 6454)");
            } else {
                tracing::info!(listen = ?svc.listening, poll_every = a.poll_every, "Art-Net: answering ArtPoll and polling the nodes");
            }
            Some(svc)
        }
        Err(e) => {
            tracing::warn!(
                "Art-Net service unavailable: cannot listen on {} ({e}); ArtPoll goes unanswered and nodes are not polled. Frames are not affected",
                a.listen
            );
            None
        }
    }
}

async fn wait_for_shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
