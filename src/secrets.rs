//! Secret masking (SPEC §5): values of secret-looking variables, and of the ones
//! named with `redact:` / `--redact`, become `***` in everything runsheet prints
//! or writes.

/// Name fragments that mark a variable as secret, matched case-insensitively.
const SECRET_MARKERS: &[&str] = &[
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "API_KEY",
    "PRIVATE_KEY",
    "CREDENTIAL",
];

/// Shorter values are left alone: masking `1` or `yes` would garble all output.
pub const MIN_SECRET_LEN: usize = 4;

pub const MASK: &str = "***";

pub fn is_secret_name(name: &str, extra: &[String]) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_MARKERS.iter().any(|m| upper.contains(m)) || extra.iter().any(|e| e == name)
}

/// The secret values of one run, longest first so that a secret containing
/// another is masked whole.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    values: Vec<String>,
}

impl Redactor {
    /// Collects the secret values among `vars`; `extra` are names from `redact:`
    /// and `--redact`.
    pub fn new<'a>(vars: impl IntoIterator<Item = (&'a str, &'a str)>, extra: &[String]) -> Self {
        let mut values: Vec<String> = vars
            .into_iter()
            .filter(|(k, v)| v.len() >= MIN_SECRET_LEN && is_secret_name(k, extra))
            .map(|(_, v)| v.to_string())
            .collect();
        values.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        values.dedup();
        Redactor { values }
    }

    /// Adds values learnt during a run (a step that exported a new secret).
    pub fn add(&mut self, value: &str) {
        if value.len() >= MIN_SECRET_LEN && !self.values.iter().any(|v| v == value) {
            self.values.push(value.to_string());
            self.values
                .sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        }
    }

    pub fn values(&self) -> &[String] {
        &self.values
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Length of the longest secret: a streaming masker holds back this many
    /// bytes minus one so a secret split across two reads is still caught.
    pub fn longest(&self) -> usize {
        self.values.first().map_or(0, String::len)
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for v in &self.values {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), MASK);
            }
        }
        out
    }

    pub fn redact_bytes(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = bytes.to_vec();
        for v in &self.values {
            out = replace_bytes(&out, v.as_bytes(), MASK.as_bytes());
        }
        out
    }
}

fn replace_bytes(hay: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    if needle.is_empty() || hay.len() < needle.len() {
        return hay.to_vec();
    }
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_secret_names_and_extra_names() {
        let r = Redactor::new(
            [
                ("GITHUB_TOKEN", "ghp_abcdef"),
                ("db_password", "hunter22"),
                ("PLAIN", "visible"),
                ("VAULT", "s3cr3t!"),
                ("MY_SECRET", "abc"),
            ],
            &["VAULT".to_string()],
        );
        let out = r.redact("t=ghp_abcdef p=hunter22 v=s3cr3t! x=visible abc");
        assert_eq!(out, "t=*** p=*** v=*** x=visible abc");
        assert_eq!(r.redact_bytes(b"xhunter22y"), b"x***y");
    }
}
