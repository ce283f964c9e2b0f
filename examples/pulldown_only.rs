//! pulldown-cmark alone over a file, with runsheet's options: the floor for
//! time and memory that runsheet's parser cannot go under.
//! `benches/hostile-input.sh` runs it next to `runsheet lint`.

use pulldown_cmark::{Options, Parser};

fn main() {
    let path = std::env::args().nth(1).expect("usage: pulldown_only FILE");
    let text = std::fs::read_to_string(path).expect("a UTF-8 file");
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_GFM;
    let events = Parser::new_ext(&text, options).into_offset_iter().count();
    println!("{events} events");
}
