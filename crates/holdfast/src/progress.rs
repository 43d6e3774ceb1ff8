//! Progress display for one rebuild (`holdfast object rebuild`): an
//! indicatif bar with bytes, rate and ETA on a terminal, plain lines
//! otherwise. The bar and the plain line look like those of
//! `holdfast status --watch`.

use std::time::{Duration, Instant};

use holdfast_wire::control::ResyncView;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The rebuild bar of `status --watch`.
pub fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("  {prefix} [{bar:30.cyan/blue}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}")
        .expect("valid template")
        .progress_chars("=> ")
}

/// Before there are bytes to count: a spinner with what is awaited.
fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {prefix}: {msg}").expect("valid template")
}

pub fn mib(n: f64) -> f64 {
    n / (1u64 << 20) as f64
}

/// Seconds left at the average rate so far, if there is one.
pub fn eta_secs(r: &ResyncView) -> Option<u64> {
    let left = r.total_bytes.saturating_sub(r.done_bytes);
    if left == 0 {
        Some(0)
    } else if r.rate_bytes_per_s.is_finite() && r.rate_bytes_per_s > 0.0 {
        Some((left as f64 / r.rate_bytes_per_s).ceil() as u64)
    } else {
        None
    }
}

/// `resyncing 42% (430.1 MiB of 1024.0 MiB, 215.0 MiB/s, ETA 3s)`
pub fn plain_progress(r: &ResyncView) -> String {
    let pct = if r.total_bytes == 0 { 100 } else { (r.done_bytes as u128 * 100 / r.total_bytes as u128).min(100) };
    let eta = eta_secs(r).map_or_else(|| "?".to_string(), |s| format!("{s}s"));
    format!(
        "resyncing {pct}% ({:.1} MiB of {:.1} MiB, {:.1} MiB/s, ETA {eta})",
        mib(r.done_bytes as f64),
        mib(r.total_bytes as f64),
        mib(r.rate_bytes_per_s.max(0.0))
    )
}

/// Plain progress lines come at most this often.
const PLAIN_EVERY: Duration = Duration::from_secs(1);

/// One rebuild being waited for, labelled `object NAME -> node N`.
pub struct RebuildProgress {
    label: String,
    out: Out,
}

enum Out {
    Bar {
        pb: ProgressBar,
        /// Counting bytes (bar style) rather than waiting (spinner).
        counting: bool,
    },
    Plain {
        last_line: Option<String>,
        last_progress: Option<Instant>,
    },
}

impl RebuildProgress {
    /// A bar when `tty`, plain lines on stdout otherwise.
    pub fn new(label: String, tty: bool) -> RebuildProgress {
        let out = if tty {
            let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stdout());
            pb.set_style(spinner_style());
            pb.set_prefix(label.clone());
            pb.set_message("looking up the component...");
            pb.enable_steady_tick(Duration::from_millis(120));
            Out::Bar { pb, counting: false }
        } else {
            Out::Plain { last_line: None, last_progress: None }
        };
        RebuildProgress { label, out }
    }

    /// Bytes copied so far, as the owner reports them.
    pub fn progress(&mut self, r: &ResyncView) {
        match &mut self.out {
            Out::Bar { pb, counting } => {
                let msg = format!("(avg {:.1} MiB/s)", mib(r.rate_bytes_per_s.max(0.0)));
                if !*counting || r.done_bytes < pb.position() {
                    // First bytes, or the owner started the copy again:
                    // rate and ETA count from here.
                    pb.set_message(msg);
                    pb.set_length(r.total_bytes);
                    pb.set_position(r.done_bytes);
                    pb.set_style(bar_style());
                    pb.tick();
                    pb.reset_eta();
                    *counting = true;
                } else {
                    pb.set_length(r.total_bytes);
                    pb.set_position(r.done_bytes);
                    pb.set_message(msg);
                }
            }
            Out::Plain { last_line, last_progress } => {
                if last_progress.is_some_and(|t| t.elapsed() < PLAIN_EVERY) {
                    return;
                }
                *last_progress = Some(Instant::now());
                let line = format!("{}: {}", self.label, plain_progress(r));
                println!("{line}");
                *last_line = Some(line);
            }
        }
    }

    /// No bytes are being counted: say what is awaited. `keep_bar` keeps a
    /// bar already drawn (the copy is over and the directory has yet to
    /// say ACTIVE), rather than going back to the spinner.
    pub fn waiting(&mut self, what: &str, keep_bar: bool) {
        match &mut self.out {
            Out::Bar { pb, counting } => {
                if *counting && keep_bar {
                    return;
                }
                pb.set_message(what.to_string());
                if *counting {
                    pb.set_style(spinner_style());
                    *counting = false;
                }
            }
            Out::Plain { last_line, last_progress } => {
                let line = format!("{}: {what}", self.label);
                if last_line.as_deref() != Some(line.as_str()) {
                    println!("{line}");
                    *last_line = Some(line);
                    *last_progress = None;
                }
            }
        }
    }

    /// A message that must not garble the bar (errors while waiting).
    pub fn note(&self, msg: &str) {
        match &self.out {
            Out::Bar { pb, .. } => pb.println(msg),
            Out::Plain { .. } => eprintln!("{msg}"),
        }
    }

    /// The component is ACTIVE again.
    pub fn finish(&self) {
        if let Out::Bar { pb, counting } = &self.out {
            if *counting {
                if let Some(len) = pb.length() {
                    pb.set_position(len);
                }
            }
            pb.finish_with_message("ACTIVE");
        }
    }

    /// Gave up: leave the last picture on screen.
    pub fn abandon(&self) {
        if let Out::Bar { pb, .. } = &self.out {
            pb.abandon();
        }
    }
}
