//! Any bytes as a runbook: parsing, rendering every diagnostic, the outline
//! and the dry-run plan must never panic, and every diagnostic must point at
//! a real line. `cargo +nightly fuzz run parse` (see book/src/troubleshooting.md).
#![no_main]

use libfuzzer_sys::fuzz_target;
use runsheet::parse::parse;
use runsheet::report::Palette;
use runsheet::source::Source;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let source = Source::new("fuzz.md", text);
    let parsed = parse(&source);
    for d in &parsed.diagnostics {
        assert!(d.span.start <= d.span.end && d.span.end <= source.text.len());
        assert!(source.text.is_char_boundary(d.span.start));
        assert!(source.text.is_char_boundary(d.span.end));
        assert!(d.line >= 1 && d.line <= source.line_count());
    }
    let _ = runsheet::report::diag::render(&Palette::plain(), &source, &parsed.diagnostics);
    let _ = runsheet::report::outline::outline(&Palette::plain(), &parsed.runbook);
    let _ = runsheet::plan::plan(&parsed.runbook, &Default::default());
});
