//! A YAML document as a tree of located nodes.
//!
//! Owns: turning YAML text into [`Node`]s that remember where they came from
//! (line and column), resolving anchors and aliases, and rejecting duplicate keys.
//! Must never: interpret what a value means — that is `decode`'s job — or read
//! the environment.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A position in the configuration file, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Mark {
    pub line: usize,
    pub col: usize,
}

impl Mark {
    fn from_marker(m: Marker) -> Self {
        // yaml-rust2 counts lines from 1 and columns from 0.
        Mark { line: m.line(), col: m.col() + 1 }
    }
}

/// How a scalar was written; quoted scalars are always strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Quoted,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `~`, `null`, or nothing at all.
    Null,
    Scalar(String, Style),
    Seq(Vec<Node>),
    /// Keys in file order, each with the position of the key itself.
    Map(Vec<(Key, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: String,
    pub mark: Mark,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub mark: Mark,
}

impl Node {
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Scalar(..) => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// A syntax or structure problem found while reading the YAML itself.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlError {
    pub mark: Mark,
    pub message: String,
    pub hint: Option<String>,
}

/// The most nodes a document may expand to, aliases included. A real
/// configuration has a few hundred (a fleet of 2,000 brokers about 20,000);
/// a "billion laughs" file of 1 KB would expand to billions and exhaust memory.
pub const MAX_NODES: usize = 1_000_000;

/// The deepest nesting of lists and mappings accepted (a configuration needs about 6).
pub const MAX_DEPTH: usize = 64;

/// Parses one YAML document. An empty file is `Null`.
///
/// Duplicate keys are reported (all of them) rather than silently keeping the
/// last one, because an operator who writes `port:` twice meant one of them.
/// Alias expansion is bounded by [`MAX_NODES`] and nesting by [`MAX_DEPTH`]:
/// no input can make the daemon (or a reload) run out of memory or stack.
pub fn parse(text: &str) -> Result<Node, Vec<YamlError>> {
    let mut builder = Builder { last: within(text, Mark { line: usize::MAX, col: 1 }), ..Builder::default() };
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, true) {
        return Err(vec![YamlError {
            mark: within(text, Mark::from_marker(*e.marker())),
            message: format!("YAML syntax error: {}", e.info()),
            hint: Some("check the indentation and quoting on this line and the one before it".into()),
        }]);
    }
    if let Some(e) = builder.too_big.take() {
        return Err(vec![e]);
    }
    if builder.documents > 1 {
        builder.errors.push(YamlError {
            mark: builder.second_document.unwrap_or_default(),
            message: "the file holds more than one YAML document".into(),
            hint: Some("keep the whole configuration in a single document (remove the `---` separator)".into()),
        });
    }
    if !builder.errors.is_empty() {
        return Err(builder.errors);
    }
    Ok(builder.root.unwrap_or(Node { value: Value::Null, mark: Mark { line: 1, col: 1 } }))
}

/// `mark` moved onto the text: the parser puts "the end of the input" of a
/// file without a final line break on a line after the last one, which no
/// editor shows. That is the end of the last line.
fn within(text: &str, mark: Mark) -> Mark {
    let text = text.replace("\r\n", "\n");
    let lines: Vec<&str> = text.split(['\n', '\r']).collect();
    if mark.line <= lines.len() {
        return mark;
    }
    let last = lines.last().copied().unwrap_or_default();
    Mark { line: lines.len().max(1), col: last.chars().count() + 1 }
}

enum Frame {
    Seq(Mark, usize, Vec<Node>),
    /// Entries so far, the key waiting for its value, and the names that came
    /// from a merge key (`<<`), which an explicit key may override.
    Map(Mark, usize, Vec<(Key, Node)>, Option<Key>, Vec<String>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Node>,
    /// Each anchor's node and how many nodes it expands to.
    anchors: HashMap<usize, (Node, usize)>,
    /// Nodes built so far, every alias counted at its full size.
    nodes: usize,
    /// Set once the document is too large or too deep; nothing more is built.
    too_big: Option<YamlError>,
    errors: Vec<YamlError>,
    documents: usize,
    second_document: Option<Mark>,
    /// The end of the text's last line: no mark goes past it.
    last: Mark,
}

impl Builder {
    /// Counts `size` more nodes; false (and the error recorded once) past the bound.
    fn within_bounds(&mut self, size: usize, mark: Mark) -> bool {
        if self.too_big.is_some() {
            return false;
        }
        self.nodes = self.nodes.saturating_add(size);
        if self.nodes > MAX_NODES {
            self.too_big = Some(YamlError {
                mark,
                message: format!(
                    "the document expands to more than {MAX_NODES} values (aliases counted at their full size)"
                ),
                hint: Some(
                    "an alias (`*name`) copies its anchor each time it is used: a file that nests aliases of aliases grows exponentially (\"billion laughs\"); write the values out or use fewer levels of aliases".into(),
                ),
            });
            return false;
        }
        true
    }

    fn push_node(&mut self, node: Node, anchor: usize) {
        if self.too_big.is_some() {
            return;
        }
        if anchor > 0 {
            let size = size_of(&node);
            self.anchors.insert(anchor, (node.clone(), size));
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq(_, _, items)) => items.push(node),
            Some(Frame::Map(_, _, entries, pending, merged)) => match pending.take() {
                None => {
                    let name = match &node.value {
                        Value::Scalar(s, _) => s.clone(),
                        Value::Null => String::new(),
                        _ => {
                            self.errors.push(YamlError {
                                mark: node.mark,
                                message: format!("a mapping key must be a plain name, found {}", node.kind()),
                                hint: None,
                            });
                            String::new()
                        }
                    };
                    if let Some((first, _)) = entries.iter().find(|(k, _)| k.name == name && !merged.contains(&name)) {
                        self.errors.push(YamlError {
                            mark: node.mark,
                            message: format!("duplicate key `{name}` (first defined at line {})", first.mark.line),
                            hint: Some("remove one of the two; YAML would silently keep only the last".into()),
                        });
                    }
                    *pending = Some(Key { name, mark: node.mark });
                }
                Some(key) => {
                    // Merge keys (`<<: *base`) are expanded here so every later
                    // stage sees plain mappings.
                    if key.name == "<<" {
                        merged.extend(merge_into(entries, node));
                    } else if let Some(i) = merged.iter().position(|m| *m == key.name) {
                        // An explicit key overrides the merged one.
                        merged.remove(i);
                        if let Some(entry) = entries.iter_mut().find(|(k, _)| k.name == key.name) {
                            *entry = (key, node);
                        }
                    } else if !entries.iter().any(|(k, _)| k.name == key.name) {
                        entries.push((key, node));
                    }
                }
            },
        }
    }
}

/// `<<: *defaults` copies the keys the mapping does not already set; returns their names.
fn merge_into(entries: &mut Vec<(Key, Node)>, node: Node) -> Vec<String> {
    let mut added = Vec::new();
    let sources = match node.value {
        Value::Map(m) => vec![m],
        Value::Seq(items) => items
            .into_iter()
            .filter_map(|n| match n.value {
                Value::Map(m) => Some(m),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    for source in sources {
        for (k, v) in source {
            if !entries.iter().any(|(e, _)| e.name == k.name) {
                added.push(k.name.clone());
                entries.push((k, v));
            }
        }
    }
    added
}

/// How many nodes `node` is, itself included.
fn size_of(node: &Node) -> usize {
    1 + match &node.value {
        Value::Null | Value::Scalar(..) => 0,
        Value::Seq(items) => items.iter().map(size_of).sum(),
        Value::Map(entries) => entries.iter().map(|(_, v)| 1 + size_of(v)).sum(),
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, marker: Marker) {
        let mark = Mark::from_marker(marker);
        let mark = if mark.line > self.last.line { self.last } else { mark };
        if self.too_big.is_some() {
            return;
        }
        match ev {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents == 2 {
                    self.second_document = Some(mark);
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let value = match style {
                    TScalarStyle::Plain if tag.is_none() && is_null(&text) => Value::Null,
                    TScalarStyle::Plain if tag.is_none() => Value::Scalar(text, Style::Plain),
                    _ => Value::Scalar(text, Style::Quoted),
                };
                if self.within_bounds(1, mark) {
                    self.push_node(Node { value, mark }, anchor);
                }
            }
            Event::SequenceStart(..) | Event::MappingStart(..) if self.stack.len() >= MAX_DEPTH => {
                self.too_big = Some(YamlError {
                    mark,
                    message: format!("lists and mappings are nested more than {MAX_DEPTH} levels deep"),
                    hint: Some("a configuration needs a few levels; check the brackets and indentation here".into()),
                });
            }
            Event::SequenceStart(anchor, _) => {
                if self.within_bounds(1, mark) {
                    self.stack.push(Frame::Seq(mark, anchor, Vec::new()))
                }
            }
            Event::MappingStart(anchor, _) => {
                if self.within_bounds(1, mark) {
                    self.stack.push(Frame::Map(mark, anchor, Vec::new(), None, Vec::new()))
                }
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq(m, anchor, items)) = self.stack.pop() {
                    self.push_node(Node { value: Value::Seq(items), mark: m }, anchor);
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map(m, anchor, entries, _, _)) = self.stack.pop() {
                    self.push_node(Node { value: Value::Map(entries), mark: m }, anchor);
                }
            }
            Event::Alias(id) => match self.anchors.get(&id).map(|(_, size)| *size) {
                Some(size) => {
                    // Counted before it is copied: the copy is what exhausts memory.
                    if self.within_bounds(size, mark) {
                        let mut node = self.anchors[&id].0.clone();
                        node.mark = mark;
                        self.push_node(node, 0);
                    }
                }
                None => self.errors.push(YamlError {
                    mark,
                    message: "alias refers to an unknown anchor".into(),
                    hint: Some("define the anchor (`&name`) before using it (`*name`)".into()),
                }),
            },
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
    }
}

fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// An unquoted scalar as JSON: a boolean, an integer, a number, else a string.
pub fn plain_scalar(text: &str) -> serde_json::Value {
    if let Ok(b) = text.parse::<bool>() {
        serde_json::Value::Bool(b)
    } else if let Ok(i) = text.parse::<i64>() {
        i.into()
    } else if let Some(n) = text.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
        serde_json::Value::Number(n)
    } else {
        serde_json::Value::String(text.to_string())
    }
}

/// The tree as plain JSON data (no `${VAR}` expansion): for files that are
/// not the configuration, such as a plugin's manifest.
pub fn to_json(node: &Node) -> serde_json::Value {
    match &node.value {
        Value::Null => serde_json::Value::Null,
        Value::Scalar(text, Style::Quoted) => serde_json::Value::String(text.clone()),
        Value::Scalar(text, Style::Plain) => plain_scalar(text),
        Value::Seq(items) => serde_json::Value::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => {
            serde_json::Value::Object(entries.iter().map(|(k, v)| (k.name.clone(), to_json(v))).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by `config::fuzz_tests`: the end of a file without a final line
    /// break was reported on a line the file does not have.
    #[test]
    fn a_syntax_error_at_the_end_of_the_input_is_on_the_last_line() {
        let e = parse("&anchor[0").unwrap_err();
        assert_eq!(e[0].mark, Mark { line: 1, col: 10 }, "{}", e[0].message);
        let e = parse("a: [1,\nb: 2").unwrap_err();
        assert_eq!(e[0].mark.line, 2, "{}", e[0].message);
        // A node at the very end (a lone tag) is on the last line too.
        assert_eq!(parse("!").unwrap().mark, Mark { line: 1, col: 2 });
    }

    #[test]
    fn nodes_remember_their_position() {
        let node = parse("a:\n  b: 1\n  c: [x, 'y']\n").unwrap();
        let Value::Map(entries) = &node.value else { panic!("not a map") };
        assert_eq!(entries[0].0.name, "a");
        assert_eq!(entries[0].0.mark, Mark { line: 1, col: 1 });
        let Value::Map(inner) = &entries[0].1.value else { panic!("not a map") };
        assert_eq!(inner[0].0.mark, Mark { line: 2, col: 3 });
        assert_eq!(inner[0].1.mark, Mark { line: 2, col: 6 });
        let Value::Seq(items) = &inner[1].1.value else { panic!("not a seq") };
        assert_eq!(items[1].value, Value::Scalar("y".into(), Style::Quoted));
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let errors = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].mark, Mark { line: 3, col: 1 });
        assert!(errors[0].message.contains("duplicate key `a` (first defined at line 1)"));
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let node = parse("base: &b {port: 1, host: h}\nn:\n  <<: *b\n  port: 2\n").unwrap();
        let Value::Map(entries) = &node.value else { panic!() };
        let Value::Map(n) = &entries[1].1.value else { panic!() };
        let names: Vec<_> = n.iter().map(|(k, v)| (k.name.as_str(), v.value.clone())).collect();
        assert_eq!(
            names,
            vec![("port", Value::Scalar("2".into(), Style::Plain)), ("host", Value::Scalar("h".into(), Style::Plain)),]
        );
    }

    #[test]
    fn syntax_errors_are_located() {
        let errors = parse("a:\n  b: [1, 2\nc: 3\n").unwrap_err();
        assert!(errors[0].message.starts_with("YAML syntax error"), "{errors:?}");
        assert!(errors[0].mark.line >= 2);
    }

    #[test]
    fn an_alias_bomb_is_a_located_error_not_an_exhausted_memory() {
        // "Billion laughs": nine levels of ten aliases each, 10^9 values.
        let mut text =
            String::from("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
        let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
        for w in names.windows(2) {
            let refs = vec![format!("*{}", w[0]); 10].join(",");
            text += &format!("{}: &{} [{refs}]\n", w[1], w[1]);
        }
        assert!(text.len() < 1024, "the bomb is small: {} bytes", text.len());
        let started = std::time::Instant::now();
        let errors = parse(&text).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].message.contains("expands to more than 1000000 values"), "{errors:?}");
        assert!(errors[0].mark.line >= 5, "located at the alias that crossed the bound: {errors:?}");
        assert!(errors[0].hint.as_deref().unwrap_or("").contains("billion laughs"));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn deep_nesting_is_a_located_error() {
        let text = format!("a: {}1{}\n", "[".repeat(200), "]".repeat(200));
        let errors = parse(&text).unwrap_err();
        assert!(errors[0].message.contains("nested more than 64 levels"), "{errors:?}");
        assert_eq!(errors[0].mark.line, 1);
    }

    #[test]
    fn empty_document_is_null() {
        assert_eq!(parse("").unwrap().value, Value::Null);
        assert_eq!(parse("# only a comment\n").unwrap().value, Value::Null);
    }
}
