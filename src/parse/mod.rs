//! Markdown → [`Runbook`](crate::model::Runbook): the only user of pulldown-cmark.
