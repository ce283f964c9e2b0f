//! Per-step overhead of `exec::run_step` against plain `bash -c true`
//! (the target: 1,000 steps of `true` within 1.25× of 1,000 `bash -c true`).
//!
//! cargo run --release --example exec_overhead [-- STEPS]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use runsheet::exec::{run_step, Capture, Interrupt, OutputSink, ShellState, StepRun, StreamKind};
use runsheet::secrets::Redactor;

struct Discard;

impl OutputSink for Discard {
    fn output(&mut self, _: StreamKind, _: &[u8]) {}
}

fn main() {
    let steps: u32 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let base: BTreeMap<String, String> = std::env::vars().collect();
    let redactor = Redactor::new(base.iter().map(|(k, v)| (k.as_str(), v.as_str())), &[]);
    let interrupt = Interrupt::new();

    let plain = time(steps, || {
        let status = std::process::Command::new("bash")
            .args(["-c", "true"])
            .status()
            .expect("bash runs");
        assert!(status.success());
    });

    // `true` cannot change the shell state, so bash skips saving it; `cd .`
    // can, so bash saves it as after any step that might.
    for (program, script) in [("bash", "true"), ("bash", "cd ."), ("sh", "true")] {
        let mut state = ShellState {
            cwd: std::env::current_dir().expect("cwd"),
            ..ShellState::default()
        };
        let stepped = time(steps, || {
            let req = StepRun {
                program,
                script,
                state: &state,
                base_env: &base,
                cwd_override: None,
                timeout: None,
                interactive: false,
                capture: Capture::Combined,
                redactor: &redactor,
                owner: None,
            };
            let out = run_step(&req, &mut Discard, &interrupt).expect("step runs");
            assert_eq!(out.exit_code, Some(0));
            state = out.state;
        });
        println!(
            "{program:>4} {script:<6}: run_step {:>6.3} ms/step   bash -c true {:>6.3} ms/step   ratio {:.2}",
            ms(stepped, steps),
            ms(plain, steps),
            stepped.as_secs_f64() / plain.as_secs_f64()
        );
    }
}

/// Wall time; CPU time (runsheet and its children) goes to stderr, being
/// steadier than wall time on a busy machine.
fn time(n: u32, mut f: impl FnMut()) -> Duration {
    let cpu_before = cpu();
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    let wall = start.elapsed();
    let cpu_ms = (cpu() - cpu_before).as_secs_f64() * 1000.0 / f64::from(n);
    eprintln!("  cpu {cpu_ms:.3} ms/step");
    wall
}

fn cpu() -> Duration {
    let mut total = Duration::ZERO;
    for who in [libc::RUSAGE_SELF, libc::RUSAGE_CHILDREN] {
        // SAFETY: getrusage fills the struct we own.
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(who, &mut u) };
        for t in [u.ru_utime, u.ru_stime] {
            total += Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
        }
    }
    total
}

fn ms(d: Duration, n: u32) -> f64 {
    d.as_secs_f64() * 1000.0 / f64::from(n)
}
