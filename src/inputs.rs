//! Inputs (SPEC §1.1): of a runbook's inputs, the ones the planned steps need,
//! the ones the environment or `--env` already supplies, and the ones someone
//! must still give. Pure; asking a person is `report::prompt`'s part.

use std::collections::BTreeMap;
use std::fmt;

use crate::model::{Input, Runbook};
use crate::plan::Plan;

/// The environment inputs are looked up in: the one steps start from (the
/// process's, then the front matter's `env`, then `--env`).
pub fn supplied_env(
    runbook: &Runbook,
    process: &BTreeMap<String, String>,
    cli: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut env = process.clone();
    env.extend(runbook.front.env.clone());
    env.extend(cli.clone());
    env
}

/// The inputs the planned steps need that `env` does not supply, in the
/// runbook's order. An input declared under `inputs:` is needed by every run;
/// a placeholder's only when its step is planned.
pub fn unsupplied<'a>(
    runbook: &'a Runbook,
    plan: &Plan,
    env: &BTreeMap<String, String>,
) -> Vec<&'a Input> {
    let planned: Vec<&str> = plan
        .step_indices()
        .map(|i| runbook.steps[i].id.as_str())
        .collect();
    runbook
        .front
        .inputs
        .iter()
        .filter(|input| {
            input.steps.is_empty() || input.steps.iter().any(|s| planned.contains(&s.as_str()))
        })
        .filter(|input| !env.contains_key(&input.name))
        .collect()
}

/// What the inputs nobody supplied become when nobody can be asked: their
/// defaults, or the ones without a default as an error.
pub fn without_asking(
    runbook: &Runbook,
    inputs: &[&Input],
) -> Result<BTreeMap<String, String>, MissingInputs> {
    let missing: Vec<Input> = inputs
        .iter()
        .filter(|i| i.default.is_none())
        .map(|i| (*i).clone())
        .collect();
    if !missing.is_empty() {
        return Err(MissingInputs {
            runbook: runbook.path.display().to_string(),
            inputs: missing,
        });
    }
    Ok(inputs
        .iter()
        .filter_map(|i| Some((i.name.clone(), i.default.clone()?)))
        .collect())
}

/// Inputs without a value or a default, and nobody at a terminal to ask
/// (exit 2: nothing was run).
#[derive(Debug, Clone, PartialEq)]
pub struct MissingInputs {
    pub runbook: String,
    pub inputs: Vec<Input>,
}

impl fmt::Display for MissingInputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let noun = if self.inputs.len() == 1 {
            "an input"
        } else {
            "inputs"
        };
        writeln!(
            f,
            "{} needs {noun} that nobody supplied; nothing was run:",
            self.runbook
        )?;
        for input in &self.inputs {
            write!(f, "  {} (line {})", input.name, input.line)?;
            if let Some(d) = &input.description {
                write!(f, ": {d}")?;
            }
            writeln!(f)?;
        }
        write!(
            f,
            "supply each with --env NAME=VALUE or in the environment, or run it in a terminal to be asked"
        )
    }
}

impl std::error::Error for MissingInputs {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{plan, Selection};
    use crate::source::Source;

    fn runbook(text: &str) -> Runbook {
        crate::parse::parse(&Source::new("rb.md", text)).runbook
    }

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const RB: &str = "---\ninputs:\n  USER: { description: your login, default: me }\n  API_TOKEN: { secret: true }\n---\n# Deploy\n\n```sh {#login}\nexport REGION=\"\"\necho $USER $REGION\n```\n\n```sh {#other}\necho hi\n```\n";

    #[test]
    fn the_inputs_a_run_needs_that_nobody_supplied() {
        let rb = runbook(RB);
        let names = |inputs: Vec<&Input>| inputs.iter().map(|i| i.name.clone()).collect::<Vec<_>>();
        let all = plan(&rb, &Selection::default()).unwrap();
        assert_eq!(
            names(unsupplied(&rb, &all, &env(&[]))),
            ["USER", "API_TOKEN", "REGION"]
        );
        assert_eq!(
            names(unsupplied(
                &rb,
                &all,
                &env(&[("API_TOKEN", "t0ken"), ("REGION", "")])
            )),
            ["USER"]
        );
        // A placeholder counts only when its step runs.
        let other = Selection {
            steps: vec!["other".into()],
            ..Selection::default()
        };
        let p = plan(&rb, &other).unwrap();
        assert_eq!(names(unsupplied(&rb, &p, &env(&[]))), ["USER", "API_TOKEN"]);
    }

    #[test]
    fn front_matter_env_and_cli_supply_inputs_too() {
        let rb = runbook("---\nenv: { A: x }\ninputs: [A, B, C]\n---\n");
        let env = supplied_env(&rb, &env(&[("PATH", "/bin")]), &env(&[("B", "y")]));
        let p = plan(&rb, &Selection::default()).unwrap();
        let left: Vec<&str> = unsupplied(&rb, &p, &env)
            .iter()
            .map(|i| i.name.as_str())
            .collect();
        assert_eq!(left, ["C"]);
    }

    #[test]
    fn without_a_terminal_defaults_fill_in_and_the_rest_is_an_error_naming_each() {
        let rb = runbook(RB);
        let p = plan(&rb, &Selection::default()).unwrap();
        let needed = unsupplied(&rb, &p, &env(&[]));
        let err = without_asking(&rb, &needed).unwrap_err();
        assert_eq!(
            err.to_string(),
            "rb.md needs inputs that nobody supplied; nothing was run:\n  API_TOKEN (line 4)\n  REGION (line 9)\nsupply each with --env NAME=VALUE or in the environment, or run it in a terminal to be asked"
        );
        let needed = unsupplied(&rb, &p, &env(&[("API_TOKEN", "x"), ("REGION", "eu")]));
        assert_eq!(
            without_asking(&rb, &needed).unwrap(),
            env(&[("USER", "me")])
        );
    }
}
