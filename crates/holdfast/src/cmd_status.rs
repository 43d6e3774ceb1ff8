//! `holdfast status [--json] [--watch [--interval-ms N]]`.

use crate::progress::{mib, plain_progress};
use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use holdfast_client::{Client, ClusterInfo};
use holdfast_types::{ComponentState, NodeId, ObjectId, ObjectState};
use holdfast_wire::control::{ResyncView, StatusView};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::local::human_bytes;

pub async fn status(dir: &Path, json: bool, watch: bool, interval_ms: u64) -> anyhow::Result<()> {
    let info = ClusterInfo::load(dir).map_err(|e| anyhow::anyhow!(e))?;
    let client = Client::from_cluster(&info);
    if watch {
        return watch_status(&client, json, Duration::from_millis(interval_ms.max(1))).await;
    }
    let s = client.status().await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        print_status(&s);
    }
    Ok(())
}

fn print_status(s: &StatusView) {
    match s.leader {
        Some(l) => println!("directory leader: node {l} (term {}, applied index {}, answered by node {})", s.term, s.applied_index, s.node),
        None => println!("directory leader: none (answered by node {})", s.node),
    }
    println!();
    println!("{:<6} {:<22} {:<6} REGISTERED", "NODE", "ADDR", "STATE");
    for n in &s.nodes {
        println!("{:<6} {:<22} {:<6} {}", n.id, n.addr, n.state, if n.registered { "yes" } else { "no" });
    }
    println!();
    if s.objects.is_empty() {
        println!("no objects");
    } else {
        println!("{:<20} {:<10} {:>8} {:>6} {:>6} {:<9} COMPONENTS", "OBJECT", "KIND", "SIZE", "OWNER", "EPOCH", "STATE");
        for o in &s.objects {
            let comps: Vec<String> = o
                .components
                .iter()
                .map(|c| {
                    if c.progress < 1.0 && c.state.as_str() == "resyncing" {
                        format!("{}:{}({:.0}%)", c.node, c.state.as_str(), c.progress * 100.0)
                    } else {
                        format!("{}:{}", c.node, c.state.as_str())
                    }
                })
                .collect();
            println!(
                "{:<20} {:<10} {:>8} {:>6} {:>6} {:<9} {}",
                o.name,
                o.kind.as_str(),
                human_bytes(o.size),
                o.owner,
                o.epoch,
                o.state.as_str(),
                comps.join(" ")
            );
        }
    }
    print_restarts(s);
    println!();
    if s.services.is_empty() {
        println!("no services");
    }
    for sv in &s.services {
        println!("service {} at {} on node {}", sv.name, sv.addr, sv.node);
    }
}

/// Handle tables parked by a planned stop, and resets after whole-cluster
/// restarts (docs/restarts.md): the operator sees that handles came back,
/// or that they were lost and how many.
fn print_restarts(s: &StatusView) {
    if let Some(st) = &s.stopping {
        println!("planned stop under way since {} (log index {})", unix_ms_utc(st.at_unix_ms), st.index);
    }
    for o in &s.objects {
        if let Some(p) = &o.table.parked {
            println!("{}: handle table parked on its volume at {}: {} record(s)", o.name, unix_ms_utc(p.at_unix_ms), p.records);
        }
        for r in &o.table.resets {
            let what = match (r.restored_from, r.records_lost) {
                (Some(_), _) => format!("restored from the image parked at the planned stop: {} record(s)", r.records_restored),
                (None, Some(n)) => format!(
                    "reset EMPTY after every RAM copy was lost: {n} handle record(s) lost (as counted at {})",
                    r.census_at_unix_ms.map_or_else(|| "?".to_string(), unix_ms_utc)
                ),
                (None, None) => "reset EMPTY after every RAM copy was lost: number of handle records lost unknown (never counted)".to_string(),
            };
            println!("{}: incarnation {} at {}: {what}", o.name, r.incarnation, unix_ms_utc(r.at_unix_ms));
        }
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC` of a unix time in milliseconds.
fn unix_ms_utc(ms: u64) -> String {
    let secs = (ms / 1000) as i64;
    chrono::DateTime::from_timestamp(secs, 0).map_or_else(|| format!("{ms} ms"), |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
}

/// How `--watch` shows each refresh.
enum Output {
    /// One compact JSON `StatusView` per line.
    Json,
    /// Plain, scriptable lines (stdout is not a terminal).
    Plain,
    /// A summary line and a progress bar per rebuild, redrawn in place.
    Bars(Bars),
}

/// `holdfast status --watch`: refreshes every `interval` until Ctrl-C.
/// Errors reaching the cluster are printed once per refresh and the watch
/// goes on (a node may be down during a failover).
async fn watch_status(client: &Client, json: bool, interval: Duration) -> anyhow::Result<()> {
    let mut out = if json {
        Output::Json
    } else if std::io::stdout().is_terminal() {
        Output::Bars(Bars::new())
    } else {
        Output::Plain
    };
    // Object names by id, kept across refreshes so rebuilds stay labelled
    // while the status request fails.
    let mut names: HashMap<ObjectId, String> = HashMap::new();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let step = async {
            tick.tick().await;
            refresh(client, &mut out, &mut names).await
        };
        tokio::select! {
            biased;
            r = &mut ctrl_c => {
                r?;
                break;
            }
            r = step => match r {
                Ok(()) => {}
                // The reader went away (`| head`): nothing left to show.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => break,
                Err(e) => return Err(e.into()),
            },
        }
    }
    if let Output::Bars(b) = &mut out {
        b.stop();
    }
    Ok(())
}

/// One refresh: fetch the status and the rebuilds, show them.
async fn refresh(client: &Client, out: &mut Output, names: &mut HashMap<ObjectId, String>) -> std::io::Result<()> {
    let status = client.status().await;
    if let Output::Json = out {
        return match status {
            Ok(s) => {
                let line = serde_json::to_string(&s).map_err(std::io::Error::other)?;
                let mut o = std::io::stdout().lock();
                writeln!(o, "{line}")?;
                o.flush()
            }
            Err(e) => writeln!(std::io::stderr(), "error: {e}"),
        };
    }
    let status = match status {
        Ok(s) => {
            names.extend(s.objects.iter().map(|o| (o.id, o.name.clone())));
            Some(s)
        }
        Err(e) => {
            out.error(&format!("error: {e}"));
            None
        }
    };
    let mut resyncs = client.resyncs().await;
    resyncs.sort_by_key(|r| (r.object, r.node));
    let label = |object: ObjectId, node: NodeId| {
        let name = names.get(&object).cloned().unwrap_or_else(|| format!("#{object}"));
        format!("object {name} -> node {node}")
    };
    match out {
        Output::Json => Ok(()),
        Output::Plain => {
            let mut o = std::io::stdout().lock();
            if let Some(s) = &status {
                writeln!(o, "{}", summary(s))?;
            }
            for r in &resyncs {
                writeln!(o, "{}: {}", label(r.object, r.node), plain_progress(r))?;
            }
            o.flush()
        }
        Output::Bars(b) => {
            b.update(status.as_ref(), &resyncs, &label);
            Ok(())
        }
    }
}

impl Output {
    fn error(&self, msg: &str) {
        match self {
            // Above the bars, which are redrawn underneath.
            Output::Bars(b) => b.println(msg),
            _ => eprintln!("{msg}"),
        }
    }
}

/// `leader: node 1 (term 2) | nodes 3/3 up | objects 1 healthy, 0 degraded, 0 lost`
fn summary(s: &StatusView) -> String {
    let leader = match s.leader {
        Some(l) => format!("node {l} (term {})", s.term),
        None => "none".to_string(),
    };
    let up = s.nodes.iter().filter(|n| n.state == "up").count();
    let count = |st: ObjectState| s.objects.iter().filter(|o| o.state == st).count();
    format!(
        "leader: {leader} | nodes {up}/{} up | objects {} healthy, {} degraded, {} lost",
        s.nodes.len(),
        count(ObjectState::Healthy),
        count(ObjectState::Degraded),
        count(ObjectState::Lost)
    )
}

/// The terminal view: a summary line over one bar per rebuild.
struct Bars {
    multi: MultiProgress,
    summary: ProgressBar,
    style: ProgressStyle,
    active: BTreeMap<(ObjectId, NodeId), ProgressBar>,
}

impl Bars {
    fn new() -> Bars {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout());
        let summary = multi.add(ProgressBar::new_spinner());
        summary.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("valid template"));
        summary.set_message("connecting...");
        summary.enable_steady_tick(Duration::from_millis(120));
        let style = ProgressStyle::with_template(
            "  {prefix} [{bar:30.cyan/blue}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}",
        )
        .expect("valid template")
        .progress_chars("=> ");
        Bars { multi, summary, style, active: BTreeMap::new() }
    }

    fn println(&self, msg: &str) {
        // Only fails when the draw target is hidden; nothing to do then.
        let _ = self.multi.println(msg);
    }

    fn update(&mut self, status: Option<&StatusView>, resyncs: &[ResyncView], label: &dyn Fn(ObjectId, NodeId) -> String) {
        if let Some(s) = status {
            self.summary.set_message(summary(s));
        }
        for r in resyncs {
            let key = (r.object, r.node);
            let msg = format!("(avg {:.1} MiB/s)", mib(r.rate_bytes_per_s.max(0.0)));
            if let Some(pb) = self.active.get(&key) {
                pb.set_length(r.total_bytes);
                pb.set_position(r.done_bytes);
                pb.set_message(msg);
                continue;
            }
            let pb = self.multi.add(ProgressBar::new(r.total_bytes));
            pb.set_style(self.style.clone());
            pb.set_prefix(label(r.object, r.node));
            pb.set_message(msg);
            pb.set_position(r.done_bytes);
            // Start rate and ETA from here: the bytes copied before the
            // watch began are not a burst of speed.
            pb.tick();
            pb.reset_eta();
            self.active.insert(key, pb);
        }
        // A rebuild that left the list is over, but only the directory says
        // how: decide once a status answers. A component still resyncing
        // there is a rebuild whose owner did not answer (or is restarting
        // it after a failover): keep its bar.
        let Some(s) = status else { return };
        let gone: Vec<_> = self.active.keys().filter(|k| !resyncs.iter().any(|r| (r.object, r.node) == **k)).copied().collect();
        for key in gone {
            let state = s
                .objects
                .iter()
                .find(|o| o.id == key.0)
                .and_then(|o| o.components.iter().find(|c| c.node == key.1))
                .map(|c| c.state);
            match state {
                Some(ComponentState::Resyncing) => {}
                Some(ComponentState::Active) => {
                    if let Some(pb) = self.active.remove(&key) {
                        if let Some(len) = pb.length() {
                            pb.set_position(len);
                        }
                        pb.finish_with_message("ACTIVE");
                    }
                }
                other => {
                    if let Some(pb) = self.active.remove(&key) {
                        let what = other.map_or("GONE".to_string(), |st| st.as_str().to_uppercase());
                        pb.abandon_with_message(what);
                    }
                }
            }
        }
    }

    /// Leaves the last picture on screen.
    fn stop(&mut self) {
        for pb in std::mem::take(&mut self.active).into_values() {
            pb.abandon();
        }
        self.summary.finish();
    }
}
