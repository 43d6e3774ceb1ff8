//! `holdfast`: the command-line interface and the daemons it starts.
//! The contract (commands, flags, JSON keys) is in `../shared/DESIGN.md`
//! and the README; scripts depend on it.

mod bench;
mod cluster_dir;
mod cmd_debug;
mod cmd_object;
mod cmd_status;
mod cmd_up;
mod local;
mod procs;
mod progress;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

const DEFAULT_DIR: &str = "holdfast-data";

#[derive(Parser)]
#[command(name = "holdfast", version, about = "Holdfast: replicated in-memory block objects for continuously available SMB")]
struct Cli {
    /// Cluster directory: addresses, secret and node data.
    /// [default: holdfast-data]
    #[arg(long, global = true, env = "HOLDFAST_DIR")]
    dir: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write a new cluster's configuration and secret into --dir.
    Init(InitArgs),
    /// Start a local cluster in the foreground; Ctrl-C or SIGTERM stops it.
    Up(UpArgs),
    /// Run one node daemon (started by `up`).
    Node {
        #[arg(long)]
        config: PathBuf,
    },
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
    /// Benchmarks; each measures its own baseline in the same run.
    #[command(subcommand)]
    Bench(bench::BenchCmd),
    /// Fault injection on clusters started with `init --fault-injection` (tests).
    #[command(subcommand, hide = true)]
    Debug(cmd_debug::DebugCmd),
}

#[derive(Args, Clone)]
pub struct InitArgs {
    #[arg(long, default_value_t = 3)]
    nodes: u32,
    #[arg(long, default_value_t = 7100)]
    base_port: u16,
    /// Memory budget for in-memory components on each node.
    #[arg(long, default_value = "4GiB")]
    memory: String,
    /// Let clients inject faults (partitions). Tests only.
    #[arg(long, hide = true)]
    fault_injection: bool,
    /// Replace a component whose host stays down this long (milliseconds).
    #[arg(long, default_value_t = 3_600_000)]
    repair_delay_ms: u64,
}

#[derive(Args, Clone)]
pub struct UpArgs {
    #[command(flatten)]
    init: InitArgs,
    /// Port for the SMB service of the default share (used once SMB lands).
    #[arg(long, default_value_t = 4445)]
    smb_port: u16,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let dir = cli.dir.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_DIR));
    let r = match cli.cmd {
        Cmd::Node { config } => run_node(&config),
        Cmd::Init(a) => cluster_dir::init(&dir, &a).map(|_| ()),
        Cmd::Up(a) => cmd_up::up(&dir, &a),
        Cmd::Status { json, watch, interval_ms } => local::block_on(cmd_status::status(&dir, json, watch, interval_ms)),
        Cmd::Object(c) => local::block_on(cmd_object::run(&dir, c)),
        Cmd::Debug(c) => local::block_on(cmd_debug::run(&dir, c)),
        // Benchmarks start a temporary cluster unless told which to use.
        Cmd::Bench(b) => bench::run(cli.dir.as_deref(), b),
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
