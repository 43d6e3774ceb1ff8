//! `holdfast-sim`: run seeds of the deterministic simulation.
//!
//! `cargo run -p holdfast-sim --release -- --seeds 200` runs seeds 1..=200;
//! `--seed S` replays one. A failing seed prints the command that replays it.

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use holdfast_sim::{run_seed, SimOptions};

#[derive(Parser)]
struct Args {
    /// Run seeds start..start+seeds.
    #[arg(long, default_value_t = 20)]
    seeds: u64,
    #[arg(long, default_value_t = 1)]
    start: u64,
    /// Replay exactly this seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Cluster size: 3 or 5.
    #[arg(long, default_value_t = 3)]
    nodes: u32,
    #[arg(long, default_value_t = 12)]
    fault_secs: u64,
    /// Break the durability rule on purpose, to see the oracle catch it.
    #[arg(long)]
    break_durability: bool,
    /// Serve without a valid lease (to show the oracle catches it).
    #[arg(long)]
    break_lease: bool,
    /// Components accept commands of any epoch (fencing broken on purpose).
    #[arg(long)]
    break_fencing: bool,
    /// Acknowledge a write some ACTIVE component missed without committing
    /// it ABSENT (durability broken on purpose).
    #[arg(long)]
    break_absent_commit: bool,
    /// Commit a rebuilt component ACTIVE before the owner counts it (the
    /// promotion race put back on purpose).
    #[arg(long)]
    break_promotion: bool,
    /// Crash hosts during rebuilds and two at once (see SimOptions).
    #[arg(long)]
    harsh_crashes: bool,
    /// Keep going after a failing seed.
    #[arg(long)]
    keep_going: bool,
    /// Node logs to stderr (use with --seed).
    #[arg(long)]
    verbose: bool,
}

/// Log lines carry simulated time: wall-clock stamps from a run that takes one
/// real second cannot be matched against the fault schedule.
struct SimClock;

impl tracing_subscriber::fmt::time::FormatTime for SimClock {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        match turmoil::sim_elapsed() {
            Some(t) => write!(w, "{:>9.3}s", t.as_secs_f64()),
            None => write!(w, "    (setup)"),
        }
    }
}

fn main() -> ExitCode {
    let a = Args::parse();
    if a.nodes != 3 && a.nodes != 5 {
        eprintln!("error: --nodes must be 3 or 5");
        return ExitCode::FAILURE;
    }
    if a.verbose {
        tracing_subscriber::fmt().with_ansi(false).with_timer(SimClock).with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn"))).with_writer(std::io::stderr).init();
    }
    let seeds: Vec<u64> = match a.seed {
        Some(s) => vec![s],
        None => (a.start..a.start + a.seeds).collect(),
    };
    let (mut passed, mut failed) = (0u64, 0u64);
    let t = Instant::now();
    for seed in seeds {
        let opts = SimOptions {
            seed,
            nodes: a.nodes,
            fault_secs: a.fault_secs,
            break_durability: a.break_durability,
            break_lease: a.break_lease,
            break_fencing: a.break_fencing,
            break_absent_commit: a.break_absent_commit,
            break_promotion: a.break_promotion,
            verbose: a.verbose,
            harsh_crashes: a.harsh_crashes,
            ..SimOptions::new(seed)
        };
        let started = Instant::now();
        match run_seed(&opts) {
            Ok(r) => {
                passed += 1;
                println!(
                    "seed {seed}: ok ({} acked writes ({} in the fault phase, up to {} versions a slot, {} of {} writers busy at its end), {} reads checked, {} faults{}, {:.0} s simulated in {:.1} s)",
                    r.acked_writes,
                    r.acked_in_fault_phase,
                    r.versions_max,
                    r.writers_busy_at_fault_end,
                    r.writers,
                    r.reads_checked,
                    r.faults.len(),
                    if r.lost { ", object LOST honestly" } else { "" },
                    r.sim_secs,
                    started.elapsed().as_secs_f64()
                );
            }
            Err(e) => {
                failed += 1;
                println!("seed {seed}: FAILED\n{e}");
                println!("replay: {}", opts.replay_command());
                if !a.keep_going {
                    break;
                }
            }
        }
    }
    println!("{} seeds in {:.0} s", passed + failed, t.elapsed().as_secs_f64());
    println!("simulation: {passed} passed, {failed} failed");
    if failed > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
