//! In-place rewrites of a runbook (`lint --fix`, `check --update`): replace given
//! byte spans, leaving every other byte of the file as it was.

use crate::source::Span;

/// One replacement of `span` in the original text by `text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub span: Span,
    pub text: String,
}

/// Applies non-overlapping edits to `original`. Edits may come in any order;
/// overlapping ones are a bug in the caller and are refused.
pub fn apply(original: &str, edits: &[Edit]) -> Result<String, String> {
    let mut sorted: Vec<&Edit> = edits.iter().collect();
    sorted.sort_by_key(|e| (e.span.start, e.span.end));
    let mut out = String::with_capacity(original.len());
    let mut pos = 0;
    for e in sorted {
        if e.span.start < pos || e.span.end > original.len() || e.span.start > e.span.end {
            return Err(format!(
                "overlapping or out-of-range edit at byte {}",
                e.span.start
            ));
        }
        out.push_str(&original[pos..e.span.start]);
        out.push_str(&e.text);
        pos = e.span.end;
    }
    out.push_str(&original[pos..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_edits_in_any_order_and_keeps_the_rest() {
        let text = "aaa bbb ccc";
        let edits = [
            Edit {
                span: Span::new(8, 11),
                text: "C".into(),
            },
            Edit {
                span: Span::new(0, 3),
                text: "A".into(),
            },
        ];
        assert_eq!(apply(text, &edits).unwrap(), "A bbb C");
        let overlap = [
            Edit {
                span: Span::new(0, 5),
                text: String::new(),
            },
            Edit {
                span: Span::new(4, 6),
                text: String::new(),
            },
        ];
        assert!(apply(text, &overlap).is_err());
    }
}
