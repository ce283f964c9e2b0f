use std::time::Instant;
fn main() {
    let n = 300;
    let t = Instant::now();
    for _ in 0..n {
        let d = tempfile::Builder::new()
            .prefix("runsheet-")
            .tempdir()
            .unwrap();
        std::fs::write(d.path().join("x"), "hello").unwrap();
    }
    println!(
        "tempdir {:.3}ms",
        t.elapsed().as_secs_f64() * 1000.0 / n as f64
    );
    let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    let t = Instant::now();
    for _ in 0..n {
        duct::cmd("bash", ["-c", "true"])
            .full_env(&env)
            .unchecked()
            .stdin_null()
            .run()
            .unwrap();
    }
    println!(
        "duct {:.3}ms",
        t.elapsed().as_secs_f64() * 1000.0 / n as f64
    );
    let t = Instant::now();
    for _ in 0..n {
        duct::cmd("bash", ["-c", "true"])
            .full_env(&env)
            .unchecked()
            .stdin_null()
            .before_spawn(|c| {
                use std::os::unix::process::CommandExt;
                c.process_group(0);
                Ok(())
            })
            .run()
            .unwrap();
    }
    println!(
        "duct pg {:.3}ms",
        t.elapsed().as_secs_f64() * 1000.0 / n as f64
    );
    let t = Instant::now();
    for _ in 0..n {
        std::process::Command::new("bash")
            .args(["-c", "true"])
            .status()
            .unwrap();
    }
    println!("std {:.3}ms", t.elapsed().as_secs_f64() * 1000.0 / n as f64);
    let t = Instant::now();
    for _ in 0..n {
        std::process::Command::new("bash")
            .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", "true"])
            .env("BASH_ENV", "/tmp/prof/pre.sh")
            .status()
            .unwrap();
    }
    println!(
        "std+prelude {:.3}ms",
        t.elapsed().as_secs_f64() * 1000.0 / n as f64
    );
    let t = Instant::now();
    for _ in 0..n {
        std::thread::spawn(|| ()).join().unwrap();
    }
    println!(
        "thread {:.3}ms",
        t.elapsed().as_secs_f64() * 1000.0 / n as f64
    );
}
