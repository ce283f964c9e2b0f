//! Front matter `requires:` — the programs a runbook needs on `PATH`.

use std::ffi::OsStr;
use std::path::Path;

/// The programs in `requires` that cannot be found: a name with a `/` is a path
/// (relative to `base`), any other name is looked up in `path_var` like a shell does.
pub fn missing(requires: &[String], path_var: Option<&OsStr>, base: &Path) -> Vec<String> {
    requires
        .iter()
        .filter(|p| !found(p, path_var, base))
        .cloned()
        .collect()
}

fn found(program: &str, path_var: Option<&OsStr>, base: &Path) -> bool {
    if program.contains('/') {
        return executable(&base.join(program));
    }
    path_var
        .map(|p| std::env::split_paths(p).any(|dir| executable(&dir.join(program))))
        .unwrap_or(false)
}

fn executable(path: &Path) -> bool {
    let Ok(meta) = path.metadata() else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_programs_on_path_and_by_relative_path() {
        let path = std::env::var_os("PATH");
        let want = vec![
            "sh".to_string(),
            "surely-not-a-program-xyz".to_string(),
            "./nope".to_string(),
        ];
        assert_eq!(
            missing(&want, path.as_deref(), Path::new(".")),
            ["surely-not-a-program-xyz", "./nope"]
        );
        assert_eq!(missing(&want[..1], None, Path::new(".")), ["sh"]);
    }
}
