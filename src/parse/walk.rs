//! The walk over pulldown-cmark's events that builds the [`Runbook`]. Every
//! position comes from `into_offset_iter()` ranges (shifted past the front
//! matter); the text is never searched again.

use rustc_hash::FxHashMap;
use std::ops::Range;
use std::sync::Arc;

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};
use sha2::{Digest, Sha256};

use crate::diag::{Diagnostic, Severity};
use crate::model::{
    Block, BlockRole, Check, FrontMatter, Input, Section, Similarity, Step, StepKind, StepOptions,
    Todo,
};
use crate::source::{Source, Span};

use super::attrs::{self, Problem, Style};
use super::console::parse_console;
use super::dialect::{self, Dialect, Expect, Runs};
use super::hidden::{find_checks, Hidden};
use super::pieces;
use super::slug::Slugger;
use super::todo::todo_text;
use super::UnfencedCommand;

/// Languages whose blocks are steps without `run`.
pub(crate) const SHELL_LANGS: &[&str] = &["sh", "bash", "shell", "zsh", "console"];

/// A shell transcript with `$ ` prompts: `console`, and the names other
/// highlighters give it (Prism's `shell-session`, GitHub's `ShellSession`).
pub(crate) fn is_transcript(lang: &str) -> bool {
    lang == "console"
        || [
            "shell-session",
            "sh-session",
            "shellsession",
            "bash-session",
        ]
        .iter()
        .any(|alias| lang.eq_ignore_ascii_case(alias))
}

/// A language whose blocks the shell runs.
pub(crate) fn is_shell_lang(lang: &str) -> bool {
    SHELL_LANGS.contains(&lang) || is_transcript(lang)
}

/// A shell block written as a transcript: its first line starts with a `$ `
/// prompt, which no shell script does (`$` alone is no command).
fn prompted(code: &str) -> bool {
    code.lines()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| l.trim_start() == "$" || l.trim_start().starts_with("$ "))
}

pub(crate) fn options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_GFM
}

/// What a check or an output block after it would attach to.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Attach {
    Nothing,
    Step {
        index: usize,
        has_output: bool,
    },
    /// An empty step: a missing step, so its checks have nothing to check yet.
    Empty,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum InlineKind {
    Paragraph,
    Item,
    Cell,
    Heading(u8),
}

/// The text of a paragraph, list item, table cell or heading as it is read.
#[derive(Debug)]
struct Inline {
    kind: InlineKind,
    range: Range<usize>,
    text: String,
    /// Inline code content, when the element is nothing but one code span.
    code: Option<String>,
    /// Anything besides one code span was seen.
    mixed: bool,
}

#[derive(Debug)]
struct CodeBlock {
    range: Range<usize>,
    info: Option<String>,
    text: String,
    /// The info string read and the text joined already (see
    /// `pieces::Fenced`): the block's text events are not added again.
    prepared: Option<(attrs::Info, pieces::Ahead)>,
}

#[derive(Debug, Default)]
struct Html {
    text: String,
    /// (offset in `text`, offset in the source) of each piece, for spans.
    pieces: Vec<(usize, usize)>,
}

pub(crate) struct Walker<'a> {
    source: &'a Source,
    /// The body as the CommonMark parser reads it, when MkDocs containers
    /// were rewritten for it (same length; see `mkdocs`).
    pub(crate) parse_body: Option<String>,
    /// Docusaurus tab items not shown first (see `tabs`): their code blocks
    /// are alternatives, never steps.
    pub(crate) unshown_tabs: Vec<Range<usize>>,
    front: FrontMatter,
    base: usize,
    pub(crate) diagnostics: Vec<Diagnostic>,
    /// False: warnings are not recorded (nobody will read them).
    pub(crate) keep_warnings: bool,
    /// Compute each step's hash (`lint` needs none).
    pub(crate) hashes: bool,
    /// Bytes per piece when a large body is parsed in pieces (`pieces`).
    pub(crate) piece: usize,
    sections: Vec<Section>,
    stack: Vec<(u8, usize)>,
    slugger: Slugger,
    steps: Vec<Step>,
    /// The span of each step's id attribute; empty for a default id.
    id_spans: Vec<Range<usize>>,
    todos: Vec<Todo>,
    blocks: Vec<Block>,
    /// Steps so far in each section, by index in `sections`; a section
    /// with an empty id counts with the steps before any heading, in
    /// `unsectioned_steps`, as both get default ids from the same prefix.
    step_counts: Vec<usize>,
    unsectioned_steps: usize,
    attach: Attach,
    inline: Vec<Inline>,
    code: Option<CodeBlock>,
    html: Option<Html>,
    unfenced: Vec<UnfencedCommand>,
    dialect: Dialect,
    /// An Innovation Engine comment waiting for the block it describes.
    expect: Option<Expect>,
    /// Every step id so far, and for a name taken twice the next suffix to
    /// try: looking both up in `steps` made 4,000 Runme cells of one name
    /// take 15 s. Built on the first id derived from a Runme name, the only
    /// reader: hashing every id of a runbook that has none showed in the
    /// profile of `list`. std's keyed hash, because the names come from the
    /// runbook, which may be anyone's pull request.
    ids: Option<std::collections::HashSet<String>>,
    next_suffix: std::collections::HashMap<String, usize>,
    /// Where each input stands in `front.inputs`, for the steps that ask.
    input_at: std::collections::HashMap<String, usize>,
    /// The last offset `line` was asked for, and its line.
    line_at: std::cell::Cell<(usize, usize)>,
    /// Buffers of texts read and dropped, kept for the next: a string
    /// grown afresh for every paragraph, block and comment showed as
    /// allocation and page faults in the profile of `list`.
    spare_text: Vec<String>,
    code_buf: String,
    spare_html: Html,
    /// Fenced code blocks the parsing thread prepared, in the order they
    /// start (see `pieces::Fenced`).
    fenced: std::collections::VecDeque<pieces::Fenced>,
    options: SharedOptions,
}

/// The last two distinct step options made, for the next step whose
/// options are the same to share (see `Step::options`).
#[derive(Default)]
struct SharedOptions {
    recent: [Option<Arc<StepOptions>>; 2],
}

impl SharedOptions {
    fn share(&mut self, options: StepOptions) -> Arc<StepOptions> {
        match self
            .recent
            .iter()
            .position(|r| r.as_deref() == Some(&options))
        {
            Some(i) => self.recent.swap(0, i),
            None => {
                self.recent.swap(0, 1);
                self.recent[0] = Some(Arc::new(options));
            }
        }
        self.recent[0].clone().unwrap_or_default()
    }
}

/// What the walk found.
pub(crate) struct Walked {
    /// The front matter with what the body added: inputs its placeholders ask
    /// for, Innovation Engine's scenario variables.
    pub(crate) front: FrontMatter,
    pub(crate) sections: Vec<Section>,
    pub(crate) steps: Vec<Step>,
    pub(crate) todos: Vec<Todo>,
    pub(crate) blocks: Vec<Block>,
    pub(crate) diagnostics: Vec<Diagnostic>,
    pub(crate) unfenced: Vec<UnfencedCommand>,
}

impl<'a> Walker<'a> {
    pub(crate) fn new(
        source: &'a Source,
        front: FrontMatter,
        base: usize,
        dialect: Dialect,
    ) -> Self {
        // The first of a name wins, as a search from the front would find.
        let input_at = front
            .inputs
            .iter()
            .enumerate()
            .rev()
            .map(|(i, input)| (input.name.clone(), i))
            .collect();
        Walker {
            source,
            parse_body: None,
            unshown_tabs: Vec::new(),
            front,
            base,
            diagnostics: Vec::new(),
            keep_warnings: true,
            hashes: true,
            piece: pieces::PIECE,
            sections: Vec::new(),
            stack: Vec::new(),
            slugger: Slugger::default(),
            steps: Vec::new(),
            id_spans: Vec::new(),
            todos: Vec::new(),
            blocks: Vec::new(),
            step_counts: Vec::new(),
            unsectioned_steps: 0,
            attach: Attach::Nothing,
            inline: Vec::new(),
            code: None,
            html: None,
            unfenced: Vec::new(),
            dialect,
            expect: None,
            ids: None,
            next_suffix: Default::default(),
            input_at,
            line_at: std::cell::Cell::new((0, 1)),
            spare_text: Vec::new(),
            code_buf: String::new(),
            spare_html: Html::default(),
            fenced: std::collections::VecDeque::new(),
            options: SharedOptions::default(),
        }
    }

    /// 1-based line of a byte offset. The walk asks in document order, so
    /// counting the line breaks since the last answer is cheaper than a
    /// binary search over every line start (it showed in the profile).
    fn line(&self, offset: usize) -> usize {
        let (at, line) = self.line_at.get();
        if offset < at || offset > self.source.text.len() {
            return self.source.line(offset);
        }
        let line =
            line + memchr::memchr_iter(b'\n', &self.source.text.as_bytes()[at..offset]).count();
        self.line_at.set((offset, line));
        line
    }

    /// Records a problem; its span is absolute.
    pub(crate) fn diag(&mut self, severity: Severity, problem: Problem) {
        if severity == Severity::Warning && !self.keep_warnings {
            return;
        }
        let (line, column) = self.source.line_col(problem.span.start);
        self.diagnostics.push(Diagnostic {
            severity,
            path: self.source.path.clone(),
            span: problem.span.into(),
            line,
            column,
            code: problem.code,
            message: problem.message,
            help: problem.help,
        });
    }

    fn error(
        &mut self,
        span: Range<usize>,
        code: &'static str,
        message: String,
        help: Option<String>,
    ) {
        let p = Problem {
            span,
            code,
            message,
            help,
        };
        self.diag(Severity::Error, p);
    }

    fn warn(
        &mut self,
        span: Range<usize>,
        code: &'static str,
        message: String,
        help: Option<String>,
    ) {
        let p = Problem {
            span,
            code,
            message,
            help,
        };
        self.diag(Severity::Warning, p);
    }

    pub(crate) fn walk(mut self) -> Walked {
        let rewritten = self.parse_body.take();
        let source = self.source;
        let body = rewritten.as_deref().unwrap_or(&source.text[self.base..]);
        let cuts = pieces::cuts(body, self.piece);
        if !cuts.is_empty() {
            self.reserve(body);
        }
        if cuts.is_empty() || !self.walk_pieces(body, &cuts) {
            for (event, range) in Parser::new_ext(body, options()).into_offset_iter() {
                self.event(event, range.start + self.base..range.end + self.base);
            }
        }
        self.check_ids();
        if self.hashes {
            hash_steps(&mut self.steps);
        }
        Walked {
            front: self.front,
            sections: self.sections,
            steps: self.steps,
            todos: self.todos,
            blocks: self.blocks,
            diagnostics: self.diagnostics,
            unfenced: self.unfenced,
        }
    }

    /// Walks the events of `body` parsed in pieces on a second thread; false,
    /// having read nothing, when no thread could be started.
    fn walk_pieces(&mut self, body: &str, cuts: &[usize]) -> bool {
        // One piece ahead: enough to keep both threads busy. Read lists go
        // back to be filled again, so that memory is freed by the thread
        // that took it (glibc's arenas lock for a stranger's free).
        let (to, from) = std::sync::mpsc::sync_channel(1);
        let (back, spare) = std::sync::mpsc::channel();
        std::thread::scope(|scope| {
            let parser = std::thread::Builder::new()
                .spawn_scoped(scope, move || pieces::parse(body, cuts, &to, &spare));
            if parser.is_err() {
                return false;
            }
            for mut piece in from {
                self.fenced.extend(piece.fenced.drain(..));
                for (event, range) in piece.events.drain(..) {
                    self.event(event, range.start + self.base..range.end + self.base);
                }
                let _ = back.send(piece);
            }
            true
        })
    }

    /// Room for the blocks, steps and sections a large body may hold, from
    /// a count of fences and headings: grown by doubling instead, each list
    /// was built three times over, and an allocator that keeps freed memory
    /// a while held every copy. Only a hint: fence lines inside a longer
    /// fence count too, and room refused is simply not taken.
    fn reserve(&mut self, body: &str) {
        let count = |needle: &[u8]| memchr::memmem::find_iter(body.as_bytes(), needle).count();
        let fences = (count(b"\n```") + count(b"\n~~~")) / 2;
        let _ = self.blocks.try_reserve_exact(fences);
        let _ = self.steps.try_reserve_exact(fences);
        let _ = self.id_spans.try_reserve_exact(fences);
        let headings = count(b"\n#");
        let _ = self.sections.try_reserve_exact(headings);
        let _ = self.step_counts.try_reserve_exact(headings);
    }

    fn event(&mut self, event: Event<'_>, range: Range<usize>) {
        match event {
            Event::Start(tag) => self.start(tag, range),
            Event::End(tag) => self.end(tag),
            Event::Text(t) => {
                if let Some(code) = &mut self.code {
                    if code.prepared.is_none() {
                        code.text.push_str(&t);
                    }
                } else {
                    self.inline_text(&t, !t.trim().is_empty());
                }
            }
            Event::Code(t) => {
                if let Some(top) = self.inline.last_mut() {
                    top.code = if top.code.is_none() && !top.mixed && top.text.trim().is_empty() {
                        Some(t.to_string())
                    } else {
                        top.mixed = true;
                        None
                    };
                    top.text.push_str(&t);
                }
            }
            Event::SoftBreak | Event::HardBreak => self.inline_text(" ", true),
            Event::Html(h) => {
                if let Some(html) = &mut self.html {
                    html.pieces.push((html.text.len(), range.start));
                    html.text.push_str(&h);
                }
            }
            Event::InlineHtml(h) => {
                self.mark_mixed();
                let html = Html {
                    text: h.to_string(),
                    pieces: vec![(0, range.start)],
                };
                self.hidden_checks(&html, false);
            }
            Event::FootnoteReference(_) | Event::TaskListMarker(_) | Event::Rule => {
                self.mark_mixed()
            }
            Event::InlineMath(t) | Event::DisplayMath(t) => self.inline_text(&t, true),
        }
    }

    fn inline_text(&mut self, text: &str, mixed: bool) {
        if let Some(top) = self.inline.last_mut() {
            top.text.push_str(text);
            if mixed {
                top.mixed = true;
                top.code = None;
            }
        }
    }

    fn mark_mixed(&mut self) {
        if let Some(top) = self.inline.last_mut() {
            top.mixed = true;
            top.code = None;
        }
    }

    fn open_inline(&mut self, kind: InlineKind, range: Range<usize>) {
        self.inline.push(Inline {
            kind,
            range,
            text: self.spare_text.pop().unwrap_or_default(),
            code: None,
            mixed: false,
        });
    }

    fn start(&mut self, tag: Tag<'_>, range: Range<usize>) {
        match tag {
            Tag::Heading { level, .. } => self.open_inline(InlineKind::Heading(level as u8), range),
            Tag::Paragraph => self.open_inline(InlineKind::Paragraph, range),
            Tag::Item => self.open_inline(InlineKind::Item, range),
            Tag::TableCell => self.open_inline(InlineKind::Cell, range),
            Tag::CodeBlock(kind) => {
                let info = match kind {
                    CodeBlockKind::Fenced(info) => Some(info.to_string()),
                    CodeBlockKind::Indented => None,
                };
                let fenced = info.as_ref().and_then(|_| self.fenced.pop_front());
                let (text, prepared) = match fenced {
                    Some(f) => (f.text, Some((f.info, f.ahead))),
                    None => (std::mem::take(&mut self.code_buf), None),
                };
                self.code = Some(CodeBlock {
                    range,
                    info,
                    text,
                    prepared,
                });
            }
            Tag::HtmlBlock => self.html = Some(std::mem::take(&mut self.spare_html)),
            // Emphasis, links, images: a code span inside them is not a command.
            _ => self.mark_mixed(),
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Heading(_) | TagEnd::Paragraph | TagEnd::Item | TagEnd::TableCell => {
                if let Some(inline) = self.inline.pop() {
                    self.close_inline(inline);
                }
            }
            TagEnd::CodeBlock => {
                if let Some(mut code) = self.code.take() {
                    if code.prepared.is_some() {
                        return self.code_block(code);
                    }
                    // The block keeps a copy of exactly its size; the buffer
                    // the text grew in serves the next block.
                    let mut grown = std::mem::take(&mut code.text);
                    code.text = grown.as_str().to_owned();
                    self.code_block(code);
                    grown.clear();
                    self.code_buf = grown;
                }
            }
            TagEnd::HtmlBlock => {
                if let Some(mut html) = self.html.take() {
                    self.hidden_checks(&html, true);
                    html.text.clear();
                    html.pieces.clear();
                    self.spare_html = html;
                }
            }
            _ => {}
        }
    }

    fn current_section(&self) -> Option<String> {
        self.stack.last().map(|&(_, i)| self.sections[i].id.clone())
    }

    fn close_inline(&mut self, inline: Inline) {
        if let InlineKind::Heading(level) = inline.kind {
            self.heading(level, &inline);
        }
        if let Some(text) = todo_text(&inline.text) {
            self.todo(inline.range.clone(), text);
        }
        if inline.kind == InlineKind::Paragraph && !inline.mixed {
            if let Some(command) = inline.code {
                self.unfenced_command(inline.range, command);
            }
        }
        let mut text = inline.text;
        text.clear();
        self.spare_text.push(text);
    }

    fn heading(&mut self, level: u8, inline: &Inline) {
        let title = super::todo::collapse_spaces(&inline.text);
        let id = self.slugger.slug(&title);
        while self.stack.last().is_some_and(|&(l, _)| l >= level) {
            self.stack.pop();
        }
        let parent = self.current_section();
        let line = self.line(inline.range.start);
        self.sections.push(Section {
            id,
            title,
            level,
            line,
            parent,
            span: trim_newline(&self.source.text, inline.range.clone()).into(),
        });
        self.stack.push((level, self.sections.len() - 1));
        self.step_counts.push(0);
    }

    fn todo(&mut self, range: Range<usize>, text: String) {
        let range = trim_newline(&self.source.text, range);
        let section = self.current_section();
        // The message is built only for someone to read it.
        if self.keep_warnings {
            self.warn(
                range.clone(),
                "todo",
                format!("missing step{}: {text}", in_section(section.as_deref())),
                Some("write the step, or leave the TODO to keep it on the list".into()),
            );
        }
        self.todos.push(Todo {
            section,
            line: self.line(range.start),
            text,
            span: range.into(),
        });
    }

    /// Warns of each `<placeholder>` the shell would read as redirections.
    fn placeholders(
        &mut self,
        code: &str,
        kind: &StepKind,
        fence_line: usize,
        ahead: Option<(bool, Vec<super::placeholder::Placeholder>)>,
    ) {
        let transcript = match kind {
            StepKind::Shell { .. } => false,
            StepKind::Console { .. } => true,
            StepKind::Interpreter { .. } => return,
        };
        let found = match ahead {
            Some((read_as, found)) if read_as == transcript => found,
            _ => super::placeholder::find(code, transcript),
        };
        if found.is_empty() {
            return;
        }
        let lines: Vec<&str> = code.lines().collect();
        for p in found {
            let n = fence_line + 1 + p.line;
            let (start, end) = (self.source.line_start(n), self.source.line_end(n));
            let file_line = self.source.text[start..end].trim_end_matches('\r');
            // The code line is the file's line less its container prefix.
            let Some(prefix) = file_line.len().checked_sub(lines[p.line].len()) else {
                continue;
            };
            let word = &lines[p.line][p.range.clone()];
            self.warn(
                start + prefix + p.range.start..start + prefix + p.range.end,
                "placeholder",
                format!(
                    "`{word}` looks like a placeholder: the shell reads `<` and `>` as \
                     redirections, so this step fails or touches a file named `{}`",
                    &word[1..word.len() - 1]
                ),
                Some(
                    "put the value in, or a variable: `$NAME`, with `export NAME=\"\"` \
                     above it to ask whoever runs the step"
                        .into(),
                ),
            );
        }
    }

    /// Only `lint` reads these, with the warnings: a walk without warnings
    /// (`load`) leaves them out.
    fn unfenced_command(&mut self, range: Range<usize>, command: String) {
        if !self.keep_warnings {
            return;
        }
        let range = trim_newline(&self.source.text, range);
        let line = self.line(range.start);
        self.warn(
            range.clone(),
            "command-outside-fence",
            format!(
                "`{command}` looks like a command but is not in a code block, so it never runs"
            ),
            Some("put it in a ```sh block (`runsheet lint --fix` does this)".into()),
        );
        self.unfenced.push(UnfencedCommand {
            span: range.into(),
            line,
            command,
        });
    }

    fn hidden_checks(&mut self, html: &Html, block: bool) {
        // Pieces come in text order: a binary search keeps a block of
        // 100,000 lines of checks linear.
        let to_source = |off: usize| {
            let k = html.pieces.partition_point(|(t, _)| *t <= off);
            let piece = k.checked_sub(1).map(|k| html.pieces[k]);
            piece.map_or(off, |(t, s)| s + (off - t))
        };
        let to_span = |span: Range<usize>| {
            let span = to_source(span.start)..to_source(span.end).max(to_source(span.start));
            span.start.min(self.source.text.len())..span.end.min(self.source.text.len())
        };
        for (span, found) in find_checks(&html.text) {
            let span = to_span(span);
            let hidden = match found {
                Ok(h) => h,
                Err(mut p) => {
                    p.span = span;
                    self.diag(Severity::Error, p);
                    continue;
                }
            };
            let line = self.line(span.start);
            let check = match hidden {
                Hidden::Contains(text) => Check::Contains { line, text },
                Hidden::NotContains(text) => Check::NotContains { line, text },
                Hidden::Matches(regex) => Check::Matches { line, regex },
            };
            match self.attach {
                Attach::Step { index, .. } => push_exact(&mut self.steps[index].checks, check),
                Attach::Empty => {}
                Attach::Nothing => self.error(
                    span,
                    "check-without-step",
                    "this check comes before any step, so there is nothing to check".into(),
                    Some("move it after the code block whose output it checks".into()),
                ),
            }
        }
        // Innovation Engine reads its comments only from HTML blocks.
        if block {
            self.ie_comments(html, &to_span);
        }
    }

    /// `<!-- expected_similarity=... -->` waits for the block it describes;
    /// a `variables` block in a comment sets the scenario's variables.
    fn ie_comments(&mut self, html: &Html, to_span: &dyn Fn(Range<usize>) -> Range<usize>) {
        for (span, found) in dialect::ie_comments(&html.text) {
            let span = to_span(span);
            match found {
                Ok(_) if self.attach == Attach::Nothing => self.warn(
                    span,
                    "expectation-without-step",
                    "this expected output comes before any step, so Innovation Engine and runsheet ignore it".into(),
                    Some("move it after the code block whose output it describes".into()),
                ),
                Ok(expect) => {
                    if let Expect::Regex(regex) = &expect {
                        if let Err(e) = regex::Regex::new(regex) {
                            let why = e.to_string();
                            let why = why.lines().last().unwrap_or("").trim().to_string();
                            self.warn(
                                span,
                                "bad-regex",
                                format!("`{regex}` is not a valid regex, so this check always fails"),
                                Some(why),
                            );
                        }
                    }
                    self.expect = Some(expect);
                }
                Err(mut p) => {
                    p.span = span;
                    self.diag(Severity::Warning, p);
                }
            }
        }
        for (name, value) in dialect::ie_variables(&html.text) {
            self.front.env.entry(name).or_insert(value);
        }
    }

    fn code_block(&mut self, mut code: CodeBlock) {
        let prepared = code.prepared.take();
        let Some(info) = code.info else {
            return; // Indented code blocks are never steps, nor `blocks`.
        };
        let range = code.range;
        let text = &self.source.text;
        let line = self.line(range.start);
        let fence = Fence::read(text, range.clone());
        let info_at = fence.info_offset(text, &info);
        if !fence.closed {
            let open_line = range.start..fence.first_line_end;
            self.error(
                open_line,
                "unterminated-fence",
                "this code block is never closed".into(),
                Some(format!(
                    "add a closing fence ({}) where the block should end",
                    fence.closing()
                )),
            );
        }
        let (mut parsed, ahead) =
            prepared.unwrap_or_else(|| (attrs::parse_info(&info), pieces::Ahead::default()));
        let role = if super::tabs::is_unshown(&self.unshown_tabs, range.start) {
            // Another tab's alternative: never a step.
            BlockRole::Other
        } else {
            self.role(
                &code.text,
                &mut parsed,
                ahead,
                line,
                range.clone(),
                info_at,
                &fence,
            )
        };
        crate::heap::push(
            &mut self.blocks,
            Block {
                line,
                info,
                lang: parsed.lang,
                code: code.text,
                role,
                span: range.into(),
            },
        );
    }

    /// What a fenced block is, outside a hidden tab: a step, the output
    /// a step or a comment expects, or another block.
    #[allow(clippy::too_many_arguments)]
    fn role(
        &mut self,
        text: &str,
        parsed: &mut attrs::Info,
        ahead: pieces::Ahead,
        line: usize,
        range: Range<usize>,
        info_at: Option<usize>,
        fence: &Fence,
    ) -> BlockRole {
        let runs = self.dialect.runs(&parsed.lang);
        let is_step = !parsed.lang.is_empty()
            && (runs.is_some()
                || parsed.attrs.iter().any(|a| {
                    a.key == "run"
                        || parsed.style == Style::Runme
                            && a.key == "interpreter"
                            && a.value.as_deref().is_some_and(|v| !v.trim().is_empty())
                }));
        let shift = |r: Range<usize>| match info_at {
            Some(at) => at + r.start..at + r.end,
            None => range.start..fence.first_line_end,
        };
        for mut w in parsed.warnings.clone() {
            w.span = shift(w.span);
            self.diag(Severity::Warning, w);
        }
        if is_step {
            self.step(text, parsed, ahead, runs, line, range.clone(), &shift)
        } else if let Some(expect) = self.expect.take() {
            self.expected_output(text, &parsed.lang, expect, line, fence.content);
            BlockRole::Output
        } else if parsed.lang == "output" && self.dialect.output_blocks_check() {
            self.output_block(text, parsed, line, fence.content, range.clone(), &shift);
            BlockRole::Output
        } else {
            if parsed.style != Style::Runme {
                self.attrs_without_step(parsed, &shift);
            }
            BlockRole::Other
        }
    }

    /// The block after an Innovation Engine comment: an expected output of
    /// the step before it, whatever its language.
    fn expected_output(
        &mut self,
        code: &str,
        lang: &str,
        expect: Expect,
        line: usize,
        content_span: Span,
    ) {
        let Attach::Step { index, .. } = self.attach else {
            return;
        };
        let want = match expect {
            Expect::Score(min) => Similarity::Score { min },
            Expect::Regex(regex) => Similarity::Regex { regex },
        };
        push_exact(
            &mut self.steps[index].checks,
            Check::Similar {
                line,
                expected: code.to_string(),
                want,
                json: lang.eq_ignore_ascii_case("json"),
                content_span,
            },
        );
    }

    /// `python {#x timeout=5m}` without `run` is not a step: probably a
    /// forgotten `run`. Attributes that are not runsheet's (`{.class}`) belong
    /// to other tools and are left alone.
    fn attrs_without_step(
        &mut self,
        parsed: &attrs::Info,
        shift: &dyn Fn(Range<usize>) -> Range<usize>,
    ) {
        let ours = |a: &attrs::Attr| attrs::STEP_KEYS.contains(&a.key.as_str());
        let (Some(first), Some(last)) = (parsed.attrs.first(), parsed.attrs.last()) else {
            return;
        };
        if parsed.lang.is_empty() || !parsed.attrs.iter().all(ours) {
            return;
        }
        let lang = &parsed.lang;
        self.warn(
            shift(first.span.start..last.span.end),
            "not-a-step",
            format!("`{lang}` blocks are not steps, so these attributes do nothing"),
            Some(format!("add `run` to run it: `{lang} {{run ...}}`")),
        );
    }

    fn report(&mut self, problems: Vec<Problem>, shift: &dyn Fn(Range<usize>) -> Range<usize>) {
        for mut p in problems {
            p.span = shift(p.span);
            self.diag(Severity::Error, p);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        code: &str,
        parsed: &mut attrs::Info,
        ahead: pieces::Ahead,
        runs: Option<Runs>,
        line: usize,
        range: Range<usize>,
        shift: &dyn Fn(Range<usize>) -> Range<usize>,
    ) -> BlockRole {
        let mut warnings = Vec::new();
        let mut problems = parsed.problems.clone();
        let mut sa = if parsed.style == Style::Runme {
            dialect::runme_step_attrs(
                &parsed.attrs,
                self.front.cwd.as_deref(),
                &mut problems,
                &mut warnings,
            )
        } else {
            attrs::step_attrs(&parsed.attrs, &mut problems)
        };
        // Runme gives every cell the terminal unless told otherwise.
        sa.options.stdin |= sa.stdin || self.dialect.runme && parsed.style != Style::Runme;
        self.report(problems, shift);
        for mut w in warnings {
            w.span = shift(w.span);
            self.diag(Severity::Warning, w);
        }
        if code.trim().is_empty() {
            let range = trim_newline(&self.source.text, range);
            let section = self.current_section();
            self.warn(
                range.clone(),
                "empty-step",
                format!(
                    "this code block is empty: a missing step{}",
                    in_section(section.as_deref())
                ),
                Some("write the command(s) it should run".into()),
            );
            self.todos.push(Todo {
                section,
                line,
                text: "empty step".into(),
                span: range.into(),
            });
            self.attach = Attach::Empty;
            return BlockRole::Other;
        }
        let lang = parsed.lang.as_str();
        let kind = self.step_kind(code, parsed, &sa, runs, line, shift);
        self.placeholders(code, &kind, line, ahead.placeholders);
        let section = self.current_section();
        let n = match self.stack.last() {
            Some(&(_, i)) if !self.sections[i].id.is_empty() => &mut self.step_counts[i],
            _ => &mut self.unsectioned_steps,
        };
        *n += 1;
        let n = *n;
        let (id, id_span) = match sa.id.take() {
            Some((id, span)) if sa.derived_id => (self.unique_id(id), shift(span)),
            Some((id, span)) => (id, shift(span)),
            None => {
                let prefix = section
                    .as_deref()
                    .filter(|s| !s.is_empty())
                    .unwrap_or("step");
                (format!("{prefix}-{n}"), range.start..range.start)
            }
        };
        if let StepKind::Shell { .. } = kind {
            let asks = self.dialect.asks(sa.prompt_env);
            let prepared = dialect::script(code, self.dialect.runme, asks);
            sa.options.script = prepared.script;
            for ask in prepared.asks {
                self.ask(ask.name, ask.default, line + 1 + ask.line, &id);
            }
        }
        // The step takes the attributes' strings: nothing reads them after.
        let attrs = crate::model::Attrs::from_pairs(
            parsed
                .attrs
                .drain(..)
                .map(|a| (a.key, a.value.unwrap_or_default())),
        );
        if let Some(ids) = &mut self.ids {
            ids.insert(id.clone());
        }
        crate::heap::push(
            &mut self.steps,
            Step {
                id,
                section,
                line,
                lang: lang.to_string(),
                code: code.to_string(),
                attrs,
                kind,
                options: self.options.share(sa.options),
                checks: Vec::new(),
                span: range.into(),
                // Filled in after the walk (`hash_steps`).
                hash: String::new(),
            },
        );
        self.id_spans.push(id_span);
        self.attach = Attach::Step {
            index: self.steps.len() - 1,
            has_output: false,
        };
        BlockRole::Step
    }

    /// A Runme name another cell already took gets `-2`, `-3`, ...: Runme
    /// tells such cells apart too.
    fn unique_id(&mut self, id: String) -> String {
        let steps = &self.steps;
        let ids = self
            .ids
            .get_or_insert_with(|| steps.iter().map(|s| s.id.clone()).collect());
        if !ids.contains(&id) {
            return id;
        }
        // Ids are only ever added, so a suffix tried once stays taken.
        let n = self.next_suffix.entry(id.clone()).or_insert(2);
        loop {
            let candidate = format!("{id}-{n}");
            *n += 1;
            if !ids.contains(&candidate) {
                return candidate;
            }
        }
    }

    /// The input a step's placeholder asks for, merged with one of the same
    /// name declared earlier.
    fn ask(&mut self, name: String, default: Option<String>, line: usize, step: &str) {
        let inputs = &mut self.front.inputs;
        match self.input_at.get(&name).map(|&i| &mut inputs[i]) {
            // A declared input is the whole runbook's already.
            Some(input) if input.steps.is_empty() => {}
            // Steps ask in order, so only the last can be this one: looking
            // through them all was quadratic in the steps that ask.
            Some(input) => {
                if input.steps.last().is_none_or(|s| s != step) {
                    input.steps.push(step.to_string());
                }
            }
            None => {
                let mut input = Input::new(name, line);
                input.secret = crate::secrets::is_secret_name(&input.name, &self.front.redact);
                input.default = default;
                input.steps.push(step.to_string());
                self.input_at.insert(input.name.clone(), inputs.len());
                inputs.push(input);
            }
        }
    }

    /// How the step runs: its language, `run`, a dialect's interpreter, and
    /// the front matter's `shell`.
    fn step_kind(
        &mut self,
        code: &str,
        parsed: &attrs::Info,
        sa: &attrs::StepAttrs,
        runs: Option<Runs>,
        line: usize,
        shift: &dyn Fn(Range<usize>) -> Range<usize>,
    ) -> StepKind {
        let lang = parsed.lang.as_str();
        let shell = self.front.shell.clone().unwrap_or_else(|| "bash".into());
        let shell_for = |lang: &str| match lang {
            "zsh" => "zsh".to_string(),
            _ => shell.clone(),
        };
        match &sa.run {
            Some(Some(program)) => StepKind::Interpreter {
                program: program.clone(),
            },
            Some(None) if is_shell_lang(lang) && !is_transcript(lang) => StepKind::Shell {
                program: shell_for(lang),
            },
            Some(None) if !is_transcript(lang) => match interpreter(lang) {
                Some(program) => StepKind::Interpreter {
                    program: program.into(),
                },
                None => {
                    let span = parsed
                        .attrs
                        .iter()
                        .find(|a| a.key == "run")
                        .map_or(0..0, |a| a.span.clone());
                    self.error(
                        shift(span),
                        "unknown-interpreter",
                        format!("runsheet does not know which program runs `{lang}` blocks"),
                        Some(format!(
                            "name it: `run=PROGRAM`, e.g. `{lang} {{run={lang}}}`"
                        )),
                    );
                    StepKind::Interpreter {
                        program: lang.into(),
                    }
                }
            },
            _ if sa.interpreter.is_some() => {
                let program = sa.interpreter.clone().unwrap_or_default();
                if dialect::is_shell(&program) {
                    StepKind::Shell { program }
                } else {
                    StepKind::Interpreter { program }
                }
            }
            // `$ ` prompts in a `bash` block are a transcript too: the author
            // shows the commands, and `$` would fail as a command.
            _ if is_transcript(lang)
                || (SHELL_LANGS.contains(&lang)
                    && self.dialect.prompts_make_transcripts()
                    && prompted(code)) =>
            {
                let (mut commands, problems) = parse_console(code, line + 1, self.source);
                commands.shrink_to_fit();
                if commands.is_empty() {
                    // No `$ ` prompt anywhere: docs sites write plain commands
                    // in `console` blocks for the highlighting.
                    return StepKind::Shell {
                        program: shell_for(lang),
                    };
                }
                for (severity, p) in problems {
                    self.diag(severity, p);
                }
                StepKind::Console {
                    program: shell_for(lang),
                    commands,
                }
            }
            _ => match runs {
                Some(Runs::Shell(Some(program))) => StepKind::Shell { program },
                Some(Runs::Program(program)) => StepKind::Interpreter { program },
                _ => StepKind::Shell {
                    program: shell_for(lang),
                },
            },
        }
    }

    fn output_block(
        &mut self,
        code: &str,
        parsed: &attrs::Info,
        line: usize,
        content_span: Span,
        range: Range<usize>,
        shift: &dyn Fn(Range<usize>) -> Range<usize>,
    ) {
        let mut problems = parsed.problems.clone();
        let (mode, stream) = attrs::output_attrs(&parsed.attrs, &mut problems);
        self.report(problems, shift);
        let fence_line = trim_newline(&self.source.text, range.start..range.end);
        let fence_line = fence_line.start
            ..self.source.text[fence_line.clone()]
                .find('\n')
                .map_or(fence_line.end, |i| fence_line.start + i);
        match self.attach {
            Attach::Nothing => self.error(
                fence_line,
                "output-without-step",
                "this `output` block has no step before it".into(),
                Some("put it after the code block whose output it shows".into()),
            ),
            Attach::Empty => {}
            Attach::Step {
                has_output: true, ..
            } => self.warn(
                fence_line,
                "second-output",
                "only the first `output` block after a step is checked".into(),
                Some("merge the blocks, or use `match=contains`".into()),
            ),
            Attach::Step { index, .. } => {
                push_exact(
                    &mut self.steps[index].checks,
                    Check::Output {
                        line,
                        expected: code.to_string(),
                        mode,
                        stream,
                        content_span,
                    },
                );
                self.attach = Attach::Step {
                    index,
                    has_output: true,
                };
            }
        }
    }

    /// Ids are unique in a runbook; the later of two is the one reported.
    fn check_ids(&mut self) {
        let mut seen: FxHashMap<&str, usize> =
            FxHashMap::with_capacity_and_hasher(self.steps.len(), Default::default());
        let mut dups = Vec::new();
        for (i, step) in self.steps.iter().enumerate() {
            match seen.get(step.id.as_str()) {
                Some(&first) => dups.push((i, first)),
                None => {
                    seen.insert(&step.id, step.line);
                }
            }
        }
        for (i, first_line) in dups {
            let step = &self.steps[i];
            let mut span = self.id_spans[i].clone();
            if span.is_empty() {
                span = trim_newline(&self.source.text, step.span.range());
                span.end = self.source.text[span.clone()]
                    .find('\n')
                    .map_or(span.end, |n| span.start + n);
            }
            let message = format!(
                "step id `{}` is already used by the step at line {first_line}",
                step.id
            );
            self.error(
                span,
                "duplicate-id",
                message,
                Some("give one of them its own id, like `{#another-name}`".into()),
            );
        }
    }
}

/// A `Vec` grows to four at its first push: on a large runbook the unused
/// room of the steps' checks was several megabytes, held while the whole
/// CommonMark tree is.
fn push_exact<T>(list: &mut Vec<T>, item: T) {
    list.reserve_exact(1);
    list.push(item);
}

/// ` in `id``, naming a section in a message.
fn in_section(section: Option<&str>) -> String {
    section.map_or(String::new(), |id| format!(" in `{id}`"))
}

/// The interpreter for a language named in a block run with a bare `run`.
pub(crate) fn interpreter(lang: &str) -> Option<&'static str> {
    Some(match lang {
        "python" | "python3" | "py" => "python3",
        "node" | "js" | "javascript" => "node",
        "ruby" | "rb" => "ruby",
        "perl" | "pl" => "perl",
        _ => return None,
    })
}

/// Each step's hash; on two threads for a runbook with thousands of steps,
/// where hashing was a tenth of the walk's own work.
fn hash_steps(steps: &mut [Step]) {
    const ON_ONE_THREAD: usize = 4096;
    fn hash_all(steps: &mut [Step]) {
        let mut options_json = OptionsJson::default();
        for step in steps {
            step.hash = step_hash(&step.kind, &step.code, options_json.get(&step.options));
        }
    }
    if steps.len() < ON_ONE_THREAD {
        return hash_all(steps);
    }
    let (first, second) = steps.split_at_mut(steps.len() / 2);
    let shared = std::thread::scope(|scope| {
        let helper = std::thread::Builder::new().spawn_scoped(scope, || hash_all(second));
        hash_all(first);
        helper.is_ok()
    });
    if !shared {
        hash_all(second);
    }
}

/// Stable: depends on what runs and how, not on where the step stands.
fn step_hash(kind: &StepKind, code: &str, options_json: &[u8]) -> String {
    let (tag, program) = match kind {
        StepKind::Shell { program } => ("shell", program),
        StepKind::Console { program, .. } => ("console", program),
        StepKind::Interpreter { program } => ("interpreter", program),
    };
    let mut h = Sha256::new();
    for part in [tag, program.as_str(), code] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.update(options_json);
    hex(&h.finalize())
}

/// Step options as the step hash reads them (compact JSON), for the last two
/// distinct options seen: most steps share their options with another
/// (defaults, or the same few attributes), and serialising them per step
/// showed in the profile of `list`.
#[derive(Default)]
struct OptionsJson {
    recent: [Option<(Arc<StepOptions>, Vec<u8>)>; 2],
}

impl OptionsJson {
    fn get(&mut self, options: &Arc<StepOptions>) -> &[u8] {
        let hit = self.recent.iter().position(|r| {
            r.as_ref()
                .is_some_and(|(o, _)| Arc::ptr_eq(o, options) || o == options)
        });
        match hit {
            Some(i) => self.recent.swap(0, i),
            None => {
                let json = serde_json::to_vec(options).unwrap_or_default();
                self.recent.swap(0, 1);
                self.recent[0] = Some((options.clone(), json));
            }
        }
        self.recent[0].as_ref().map_or(&[], |(_, json)| json)
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    // A digest per step: `format!` per byte showed in the profile of `list`.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

fn trim_newline(text: &str, range: Range<usize>) -> Range<usize> {
    let slice = &text[range.clone()];
    let trimmed = slice.trim_end_matches(['\n', '\r']);
    range.start..range.start + trimmed.len()
}

/// The shape of a fenced block as it stands in the source.
pub(crate) struct Fence {
    start: usize,
    /// The fence character and how many open the block (at least three).
    marker: (char, usize),
    first_line_end: usize,
    pub(crate) closed: bool,
    /// Between the fences: whole source lines, container prefixes included.
    content: Span,
}

impl Fence {
    pub(crate) fn read(text: &str, range: Range<usize>) -> Fence {
        let block = &text[range.clone()];
        let first_end = block.find('\n');
        let first_line = &block[..first_end.unwrap_or(block.len())];
        let opening = first_line.trim_start();
        let ch = opening.chars().next().unwrap_or('`');
        let count = opening.chars().take_while(|&c| c == ch).count();
        let marker = (ch, count.max(3));
        let first_line_end = range.start + first_line.len();
        let Some(first_end) = first_end else {
            return Fence {
                start: range.start,
                marker,
                first_line_end,
                closed: false,
                content: Span::new(range.end, range.end),
            };
        };
        let content_start = range.start + first_end + 1;
        let rest = &block[first_end + 1..];
        let last_start = rest
            .trim_end_matches(['\n', '\r'])
            .rfind('\n')
            .map_or(0, |i| i + 1);
        let last = rest[last_start..].trim_start_matches(|c: char| c.is_whitespace() || c == '>');
        let last = last.trim_end();
        let closed = !rest.ends_with('\n')
            && last.len() >= count
            && !last.is_empty()
            && last.chars().all(|c| c == ch);
        let content_end = if closed {
            content_start + last_start
        } else {
            range.end
        };
        Fence {
            start: range.start,
            marker,
            first_line_end,
            closed,
            content: Span::new(content_start, content_end.max(content_start)),
        }
    }

    /// The closing fence to suggest; a long one is described, since a
    /// runbook may open a block with a 50 MB line of backticks.
    fn closing(&self) -> String {
        match self.marker {
            (ch, n) if n > 10 => format!("{n} or more `{ch}` on a line"),
            (ch, n) => std::iter::repeat_n(ch, n).collect(),
        }
    }

    /// Where the info string starts in the source, when it stands there as
    /// pulldown-cmark reports it (escapes would make the two differ).
    fn info_offset(&self, text: &str, info: &str) -> Option<usize> {
        let line = &text[self.start..self.first_line_end];
        let lead = line.len() - line.trim_start().len();
        let ch = self.marker.0;
        let rest = line[lead..].trim_start_matches(ch);
        let pad = rest.len() - rest.trim_start().len();
        let at = self.first_line_end - rest.len() + pad;
        (rest.trim() == info.trim()).then_some(at)
    }
}
