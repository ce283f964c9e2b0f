use runsheet::exec::*;
use runsheet::secrets::Redactor;
use std::collections::BTreeMap;
struct D;
impl OutputSink for D {
    fn output(&mut self, _: StreamKind, b: &[u8]) {
        eprint!("{}", String::from_utf8_lossy(b));
    }
}
fn main() {
    let base: BTreeMap<String, String> = std::env::vars().collect();
    let r = Redactor::default();
    let mut state = ShellState {
        cwd: "/tmp".into(),
        ..Default::default()
    };
    for script in ["x=1; f() { :; }", "p=$(tr '\\0' '\\n' < /proc/$$/environ | sed -n 's/^BASH_ENV=//p'); cp $p /tmp/prof/prelude.bash"] {
        let req = StepRun { program: "bash", script, state: &state, base_env: &base, cwd_override: None, timeout: None, interactive: false, capture: Capture::Combined, redactor: &r };
        let out = run_step(&req, &mut D, &Interrupt::new()).unwrap();
        state = out.state;
    }
}
