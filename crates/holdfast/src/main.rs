//! `holdfast`: the command-line interface and the daemons it starts.
//! The contract (commands, flags, JSON keys) is in `../shared/DESIGN.md`
//! and the README; scripts depend on it.

mod bench;
mod cluster_dir;
mod cmd_cluster;
mod cmd_debug;
mod cmd_demo;
mod cmd_object;
mod cmd_service;
mod cmd_smb;
mod cmd_status;
mod cmd_up;
mod local;
mod procs;
mod smb_story;
mod volumes;
mod progress;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

const DEFAULT_DIR: &str = "holdfast-data";

#[derive(Parser)]
#[command(name = "holdfast", version, about = "Holdfast: replicated in-memory block objects for continuously available SMB")]
struct Cli {
    /// Cluster directory: addresses, TLS credentials and node data.
    /// [default: holdfast-data]
    #[arg(long, global = true, env = "HOLDFAST_DIR")]
    dir: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write a new cluster's configuration and credentials into --dir.
    Init {
        #[command(flatten)]
        init: InitArgs,
        #[command(flatten)]
        smb: SmbArgs,
    },
    /// Start a local cluster in the foreground; Ctrl-C or SIGTERM stops it
    /// (a planned stop: handle tables are parked and come back at the next
    /// `up`). On an existing --dir it starts that cluster again.
    Up(UpArgs),
    /// The whole cluster: a planned stop that keeps persistent handles.
    #[command(subcommand)]
    Cluster(cmd_cluster::ClusterCmd),
    /// SMB services: where each runs, and planned moves.
    #[command(subcommand)]
    Service(cmd_service::ServiceCmd),
    /// Run one node daemon (started by `up`; it starts the SMB services
    /// placed on its host).
    Node {
        #[arg(long)]
        config: PathBuf,
    },
    /// Run one SMB service daemon (started by the node daemon that the
    /// directory places the service on).
    Smbd {
        #[arg(long)]
        config: PathBuf,
    },
    /// SMB users (DIR/smb-users, NT hashes only).
    #[command(subcommand)]
    User(cmd_smb::UserCmd),
    /// Show nodes, objects and services.
    Status {
        #[arg(long)]
        json: bool,
        /// Refresh until Ctrl-C, with a progress bar per rebuild (plain
        /// lines when stdout is not a terminal; one JSON line per refresh
        /// with --json).
        #[arg(long)]
        watch: bool,
        /// Refresh interval for --watch, in milliseconds.
        #[arg(long, default_value_t = 500, requires = "watch", value_parser = clap::value_parser!(u64).range(1..))]
        interval_ms: u64,
    },
    /// Create, write, read, list and move objects.
    #[command(subcommand)]
    Object(cmd_object::ObjectCmd),
    /// Share volumes of the cluster config.
    #[command(subcommand)]
    Volume(VolumeCmd),
    /// Check a share volume's file system (or with --handles its handle
    /// table), through the cluster or as an image file.
    Fsck {
        /// Volume name from the cluster config.
        volume: Option<String>,
        /// Check an image file instead of a live volume.
        #[arg(long, conflicts_with = "volume")]
        image: Option<PathBuf>,
        /// Check the handle table instead of the file system.
        #[arg(long)]
        handles: bool,
    },
    /// Narrated demonstrations on a temporary cluster.
    #[command(subcommand)]
    Demo(cmd_demo::DemoCmd),
    /// Benchmarks; each measures its own baseline in the same run.
    #[command(subcommand)]
    Bench(bench::BenchCmd),
    /// Fault injection on clusters started with `init --fault-injection` (tests).
    #[command(subcommand, hide = true)]
    Debug(cmd_debug::DebugCmd),
}

#[derive(Subcommand)]
enum VolumeCmd {
    /// Create and format every volume of the cluster config that does not
    /// exist yet, and define its SMB services in the directory (`up` does
    /// this at start).
    Ensure,
}

#[derive(Args, Clone)]
pub struct InitArgs {
    /// Nodes of a local cluster, on 127.0.0.1 from --base-port + 1.
    #[arg(long, default_value_t = 3)]
    nodes: u32,
    #[arg(long, default_value_t = 7100)]
    base_port: u16,
    /// A node of a cluster on real hosts, ID=IP:PORT (repeat for each host;
    /// replaces --nodes and --base-port). See the README, "Real hosts".
    #[arg(long = "node", value_name = "ID=IP:PORT")]
    node_addrs: Vec<String>,
    /// Memory budget for in-memory components on each node.
    #[arg(long, default_value = "4GiB")]
    memory: String,
    /// Let clients inject faults (partitions). Tests only.
    #[arg(long, hide = true)]
    fault_injection: bool,
    /// Replace a component whose host stays down this long (milliseconds).
    #[arg(long, default_value_t = 3_600_000)]
    repair_delay_ms: u64,
    /// Size of the default share's volume (a persistent object).
    #[arg(long, default_value = "1GiB")]
    volume_size: String,
    /// Size of the default share's handle table (an in-memory object on
    /// every host; one 4 KiB slot per persistent handle).
    #[arg(long, default_value = "16MiB")]
    handle_size: String,
    /// Failure detection and directory timing, written to every node.toml.
    #[command(flatten)]
    timing: TimingArgs,
}

/// How fast a dead host is noticed (docs/services.md, "Failover timing").
/// The defaults suit a shared machine; the tuned set (heartbeat 50,
/// peer-down 250, election 150..300) halves the failover time.
#[derive(Args, Clone, Copy)]
pub struct TimingArgs {
    /// Peer ping period (milliseconds).
    #[arg(long, default_value_t = 100)]
    pub heartbeat_ms: u64,
    /// A peer not heard from for this long is down (milliseconds; at least
    /// twice --heartbeat-ms).
    #[arg(long, default_value_t = 600)]
    pub peer_down_ms: u64,
    /// Directory (Raft) election timeout range (milliseconds).
    #[arg(long, default_value_t = 400)]
    pub election_timeout_min_ms: u64,
    #[arg(long, default_value_t = 800)]
    pub election_timeout_max_ms: u64,
}

impl TimingArgs {
    pub const DEFAULT: TimingArgs = TimingArgs { heartbeat_ms: 100, peer_down_ms: 600, election_timeout_min_ms: 400, election_timeout_max_ms: 800 };
    /// The documented tuned set (`bench failover --tuned`).
    pub const TUNED: TimingArgs = TimingArgs { heartbeat_ms: 50, peer_down_ms: 250, election_timeout_min_ms: 150, election_timeout_max_ms: 300 };
}

/// The default SMB service that `init` (and `up` on a new --dir) writes.
#[derive(Args, Clone)]
pub struct SmbArgs {
    /// Port of the default share's SMB service (the service `share` on
    /// 127.0.0.1:PORT).
    #[arg(long, default_value_t = 4445, value_parser = clap::value_parser!(u16).range(1..))]
    pub smb_port: u16,
    /// Define no SMB service (smbd is then started by hand).
    #[arg(long, conflicts_with_all = ["smb_port", "address_hook"])]
    pub no_smb_service: bool,
    /// Address takeover hook, run as `HOOK add|remove IP SERVICE` where a
    /// service starts or stops (docs/services.md). Default: none on
    /// loopback; the shipped `holdfast-addr` (written into --dir) when a
    /// service address is not on loopback.
    #[arg(long)]
    pub address_hook: Option<String>,
    /// The SMB service of a share on a real network, NAME=IP:PORT (NAME is
    /// the share it serves; replaces the default 127.0.0.1:--smb-port).
    #[arg(long = "service", value_name = "NAME=IP:PORT", conflicts_with = "no_smb_service")]
    pub services: Vec<String>,
}

impl SmbArgs {
    pub fn port(&self) -> Option<u16> {
        (!self.no_smb_service).then_some(self.smb_port)
    }
}

#[derive(Args, Clone)]
pub struct UpArgs {
    #[command(flatten)]
    init: InitArgs,
    #[command(flatten)]
    smb: SmbArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let dir = cli.dir.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_DIR));
    let r = match cli.cmd {
        Cmd::Node { config } => run_node(&config),
        Cmd::Smbd { config } => cmd_smb::smbd(&config),
        Cmd::User(c) => cmd_smb::user(&dir, c),
        Cmd::Init { init, smb } => cluster_dir::init_with_service(&dir, &init, &smb).map(|_| ()),
        Cmd::Service(c) => local::block_on(cmd_service::run(&dir, c)),
        Cmd::Up(a) => cmd_up::up(&dir, &a),
        Cmd::Cluster(c) => local::block_on(cmd_cluster::run(&dir, c)),
        Cmd::Status { json, watch, interval_ms } => local::block_on(cmd_status::status(&dir, json, watch, interval_ms)),
        Cmd::Object(c) => local::block_on(cmd_object::run(&dir, c)),
        Cmd::Volume(VolumeCmd::Ensure) => local::block_on(async {
            let info = holdfast_client::ClusterInfo::load(&dir).map_err(|e| anyhow::anyhow!(e))?;
            let client = std::sync::Arc::new(holdfast_client::Client::from_cluster(&info));
            volumes::ensure_volumes(&client, &info).await
        }),
        Cmd::Fsck { volume, image, handles } => local::block_on(volumes::fsck(&dir, volume.as_deref(), image.as_deref(), handles)),
        Cmd::Debug(c) => local::block_on(cmd_debug::run(&dir, c)),
        // Benchmarks start a temporary cluster unless told which to use.
        Cmd::Bench(b) => bench::run(cli.dir.as_deref(), b),
        Cmd::Demo(c) => cmd_demo::run(cli.dir.as_deref(), c),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_node(config: &std::path::Path) -> anyhow::Result<()> {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,openraft=warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false).init();
    let cfg = holdfast_node::NodeConfig::load(config)?;
    holdfast_node::run(cfg)?;
    Ok(())
}
