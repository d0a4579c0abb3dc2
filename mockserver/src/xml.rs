//! XML in and out: escaping and CDATA for the documents the service writes, and a tiny
//! bounded DOM (built on quick-xml events) for the documents clients send.

use quick_xml::Reader;
use quick_xml::events::Event;

/// Deepest element nesting accepted in a request document.
pub const MAX_DEPTH: usize = 64;
/// Most elements accepted in a request document.
pub const MAX_ELEMENTS: usize = 100_000;

/// Escapes text for an XML element or attribute value.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all are replaced.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Wraps text in CDATA sections (splitting any `]]>` inside the text).
pub fn cdata(s: &str) -> String {
    format!("<![CDATA[{}]]>", s.replace("]]>", "]]]]><![CDATA[>"))
}

/// `<name>escaped text</name>`.
pub fn elem(name: &str, text: &str) -> String {
    format!("<{name}>{}</{name}>", escape(text))
}

/// A request document that is not well-formed or too large.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed XML: {0}")]
pub struct XmlError(pub String);

/// An element of a parsed document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// Local name (namespace prefix dropped).
    pub name: String,
    /// Attributes (local name, unescaped value).
    pub attrs: Vec<(String, String)>,
    /// Child elements in order.
    pub children: Vec<Element>,
    /// Concatenated text and CDATA directly inside this element.
    pub text: String,
}

impl Element {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The text of the first child named `name`.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    /// An attribute value.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn local(name: &str) -> String {
    match name.rsplit_once(':') {
        Some((_, l)) => l.to_string(),
        None => name.to_string(),
    }
}

fn predefined(name: &str) -> Option<char> {
    Some(match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        "apos" => '\'',
        _ => return None,
    })
}

/// Parses a document into its root element. Rejects unbalanced tags, more than one root,
/// nesting deeper than [`MAX_DEPTH`] and more than [`MAX_ELEMENTS`] elements.
pub fn parse(doc: &str) -> Result<Element, XmlError> {
    let mut reader = Reader::from_str(doc);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    let err = |m: String| XmlError(m);
    loop {
        let ev = reader
            .read_event()
            .map_err(|e| err(format!("at byte {}: {e}", reader.buffer_position())))?;
        match ev {
            Event::Start(e) | Event::Empty(e) if root.is_some() => {
                let _ = e;
                return Err(err("content after the root element".into()));
            }
            Event::Start(e) => {
                count += 1;
                if stack.len() >= MAX_DEPTH || count > MAX_ELEMENTS {
                    return Err(err("document too deep or too large".into()));
                }
                stack.push(start_element(&e)?);
            }
            Event::Empty(e) => {
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(err("document too large".into()));
                }
                let el = start_element(&e)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::End(e) => {
                let name = local(e.name().as_ref());
                let el = stack
                    .pop()
                    .ok_or_else(|| err(format!("unexpected end tag </{name}>")))?;
                if el.name != name {
                    return Err(err(format!(
                        "end tag </{name}> does not match <{}>",
                        el.name
                    )));
                }
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Text(t) => {
                let text = t.xml10_content();
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&text),
                    None if text.trim().is_empty() => {}
                    None => return Err(err("text outside the root element".into())),
                }
            }
            Event::CData(t) => {
                let text = t.into_inner().into_owned();
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&text),
                    None => return Err(err("CDATA outside the root element".into())),
                }
            }
            Event::GeneralRef(r) => {
                let c = if r.is_char_ref() {
                    r.resolve_char_ref()
                        .map_err(|e| err(format!("bad character reference: {e}")))?
                } else {
                    predefined(&r.xml10_content())
                };
                let c = c.ok_or_else(|| err("unknown entity reference".into()))?;
                match stack.last_mut() {
                    Some(el) => el.text.push(c),
                    None => return Err(err("reference outside the root element".into())),
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(err("unexpected end of document (unclosed element)".into()));
    }
    root.ok_or_else(|| err("empty document".into()))
}

fn start_element(e: &quick_xml::events::BytesStart<'_>) -> Result<Element, XmlError> {
    let mut el = Element {
        name: local(e.name().as_ref()),
        ..Default::default()
    };
    for a in e.attributes() {
        let a = a.map_err(|e| XmlError(format!("bad attribute: {e}")))?;
        let raw = a.value.to_string();
        let value = quick_xml::escape::unescape(&raw)
            .map_err(|e| XmlError(format!("bad attribute value: {e}")))?
            .into_owned();
        el.attrs.push((local(a.key.as_ref()), value));
    }
    Ok(el)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_instance_document() {
        let doc = r#"<?xml version="1.0" encoding="utf-8"?>
<Instance><Job><Priority>9</Priority>
  <Tasks><SQL><Name>SQLCreateTableTask</Name>
    <Config><Property><Name>settings</Name><Value>{"a": "b &amp; c"}</Value></Property></Config>
    <Query><![CDATA[CREATE TABLE p.`t` (a bigint);]]></Query>
  </SQL></Tasks></Job></Instance>"#;
        let root = parse(doc).unwrap();
        assert_eq!(root.name, "Instance");
        let sql = root
            .child("Job")
            .and_then(|j| j.child("Tasks"))
            .and_then(|t| t.child("SQL"))
            .unwrap();
        assert_eq!(sql.child_text("Name"), Some("SQLCreateTableTask"));
        assert_eq!(
            sql.child_text("Query"),
            Some("CREATE TABLE p.`t` (a bigint);")
        );
        let v = sql
            .child("Config")
            .and_then(|c| c.child("Property"))
            .and_then(|p| p.child_text("Value"));
        assert_eq!(v, Some(r#"{"a": "b & c"}"#));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "<a>",
            "<a></b>",
            "<a/><b/>",
            "text",
            "<a>&bogus;</a>",
            "</a>",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(parse(&deep).is_err());
    }

    #[test]
    fn escaping() {
        assert_eq!(escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
        assert_eq!(cdata("x]]>y"), "<![CDATA[x]]]]><![CDATA[>y]]>");
        let round = parse(&format!("<a>{}</a>", cdata("x]]>y"))).unwrap();
        assert_eq!(round.text, "x]]>y");
    }
}
