//! A small XML tree reader and writer on top of quick-xml, enough for the REST service's
//! documents (no namespaces, no DTDs).
//!
//! Reading builds an [`XmlElement`] tree: element names are local names (a namespace prefix
//! is dropped), text and CDATA are concatenated and entity references resolved. Depth is
//! limited to [`MAX_DEPTH`]; the tree's size is bounded by the input's.

use quick_xml::Reader;
use quick_xml::events::Event;

/// Deepest element nesting accepted.
pub const MAX_DEPTH: usize = 64;

/// An XML document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed XML: {0}")]
pub struct XmlError(pub String);

/// One element: name, attributes, child elements and its own text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XmlElement {
    /// Local name.
    pub name: String,
    /// Attributes in document order (local names, unescaped values).
    pub attrs: Vec<(String, String)>,
    /// Child elements in document order.
    pub children: Vec<XmlElement>,
    /// Concatenated text and CDATA directly inside this element (not trimmed).
    pub text: String,
}

impl XmlElement {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&XmlElement> {
        self.children.iter().find(|c| c.name == name)
    }

    /// All children named `name`.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a XmlElement> {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The trimmed text of the first child named `name`.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim())
    }

    /// The trimmed text of the first child named `name`, `None` when absent or empty.
    pub fn child_text_nonempty(&self, name: &str) -> Option<String> {
        self.child_text(name)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
    }

    /// The value of attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn err(e: impl std::fmt::Display) -> XmlError {
    XmlError(e.to_string())
}

/// Parses a document and returns its root element.
pub fn parse_document(body: &[u8]) -> Result<XmlElement, XmlError> {
    let text = std::str::from_utf8(body).map_err(|e| err(format!("not UTF-8: {e}")))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<XmlElement> = Vec::new();
    let mut root: Option<XmlElement> = None;
    loop {
        let event = reader.read_event().map_err(err)?;
        match event {
            Event::Start(e) | Event::Empty(e) if root.is_some() => {
                let _ = e;
                return Err(err("content after the root element"));
            }
            Event::Start(e) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(err(format!("nesting deeper than {MAX_DEPTH}")));
                }
                stack.push(start_element(&e)?);
            }
            Event::Empty(e) => {
                let el = start_element(&e)?;
                close(&mut stack, &mut root, el);
            }
            Event::End(_) => {
                let el = stack.pop().ok_or_else(|| err("unexpected end tag"))?;
                close(&mut stack, &mut root, el);
            }
            Event::Text(t) => {
                let s = t.xml10_content();
                match stack.last_mut() {
                    Some(top) => top.text.push_str(&s),
                    None if s.trim().is_empty() => {}
                    None => return Err(err("text outside the root element")),
                }
            }
            Event::CData(c) => {
                let s = c.xml10_content();
                match stack.last_mut() {
                    Some(top) => top.text.push_str(&s),
                    None => return Err(err("CDATA outside the root element")),
                }
            }
            Event::GeneralRef(r) => {
                let resolved: String = match r.resolve_char_ref().map_err(err)? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.xml10_content();
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| err(format!("unknown entity `&{name};`")))?
                            .to_string()
                    }
                };
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&resolved);
                }
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(err("unclosed element at end of document"));
    }
    root.ok_or_else(|| err("no root element"))
}

fn close(stack: &mut [XmlElement], root: &mut Option<XmlElement>, el: XmlElement) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None => *root = Some(el),
    }
}

fn start_element(e: &quick_xml::events::BytesStart<'_>) -> Result<XmlElement, XmlError> {
    let name = e.local_name().as_ref().to_string();
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(err)?;
        let key = a.key.local_name().as_ref().to_string();
        let value = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(err)?
            .into_owned();
        attrs.push((key, value));
    }
    Ok(XmlElement {
        name,
        attrs,
        children: Vec::new(),
        text: String::new(),
    })
}

/// Escapes text for element content or attribute values (`& < > ' "`).
pub fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

/// A minimal XML writer producing compact documents.
#[derive(Debug, Default)]
pub struct XmlWriter {
    out: String,
    open: Vec<String>,
}

impl XmlWriter {
    /// A writer that starts with `<?xml version="1.0" encoding="UTF-8"?>`.
    pub fn with_declaration() -> Self {
        Self {
            out: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n".to_string(),
            open: Vec::new(),
        }
    }

    /// Opens `<name>`.
    pub fn open(&mut self, name: &str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        self.open.push(name.to_string());
        self
    }

    /// Opens `<name a="v" …>`.
    pub fn open_with_attrs(&mut self, name: &str, attrs: &[(&str, &str)]) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.push_attrs(attrs);
        self.out.push('>');
        self.open.push(name.to_string());
        self
    }

    fn push_attrs(&mut self, attrs: &[(&str, &str)]) {
        for (k, v) in attrs {
            self.out.push(' ');
            self.out.push_str(k);
            self.out.push_str("=\"");
            self.out.push_str(&escape(v));
            self.out.push('"');
        }
    }

    /// Writes a CDATA section into the current element, splitting any `]]>` in the text.
    pub fn cdata(&mut self, text: &str) -> &mut Self {
        self.out.push_str("<![CDATA[");
        self.out.push_str(&text.replace("]]>", "]]]]><![CDATA[>"));
        self.out.push_str("]]>");
        self
    }

    /// Closes the innermost open element (no-op when none is open).
    pub fn close(&mut self) -> &mut Self {
        if let Some(name) = self.open.pop() {
            self.out.push_str("</");
            self.out.push_str(&name);
            self.out.push('>');
        }
        self
    }

    /// Writes `<name>escaped text</name>` (`<name/>` for empty text).
    pub fn text_element(&mut self, name: &str, text: &str) -> &mut Self {
        if text.is_empty() {
            self.out.push('<');
            self.out.push_str(name);
            self.out.push_str("/>");
        } else {
            self.out.push('<');
            self.out.push_str(name);
            self.out.push('>');
            self.out.push_str(&escape(text));
            self.out.push_str("</");
            self.out.push_str(name);
            self.out.push('>');
        }
        self
    }

    /// Writes `<name><![CDATA[text]]></name>`, splitting any `]]>` in the text.
    pub fn cdata_element(&mut self, name: &str, text: &str) -> &mut Self {
        self.open(name).cdata(text).close()
    }

    /// Writes `<name a="v" …/>`.
    pub fn empty_element(&mut self, name: &str, attrs: &[(&str, &str)]) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.push_attrs(attrs);
        self.out.push_str("/>");
        self
    }

    /// Closes every open element and returns the document.
    pub fn finish(mut self) -> String {
        while !self.open.is_empty() {
            self.close();
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_tree() {
        let doc = br#"<?xml version="1.0"?>
<Partitions><Marker/><Partition><Column Name="ds" Value="a&amp;b"/>
<CreationTime> 17 </CreationTime><Schema><![CDATA[{"x":"]]"}]]></Schema>
<T>a &lt; b &#x41;</T></Partition></Partitions>"#;
        let root = parse_document(doc).unwrap();
        assert_eq!(root.name, "Partitions");
        assert_eq!(root.child_text("Marker"), Some(""));
        let p = root.child("Partition").unwrap();
        assert_eq!(p.child("Column").unwrap().attr("Value"), Some("a&b"));
        assert_eq!(p.child_text("CreationTime"), Some("17"));
        assert_eq!(p.child_text("Schema"), Some(r#"{"x":"]]"}"#));
        assert_eq!(p.child_text("T"), Some("a < b A"));
    }

    #[test]
    fn rejects_broken_documents() {
        for bad in [
            &b"<a><b></a>"[..],
            b"<a>",
            b"",
            b"text",
            b"<a/><b/>",
            b"<a>&nope;</a>",
            b"\xff\xfe",
        ] {
            assert!(
                parse_document(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
        assert!(parse_document(deep.as_bytes()).is_err());
    }

    #[test]
    fn writer_round_trips() {
        let mut w = XmlWriter::with_declaration();
        w.open("Root")
            .text_element("A", "x < y & 'z'")
            .text_element("Empty", "")
            .cdata_element("C", "a]]>b")
            .empty_element("Column", &[("Name", "d\"s"), ("Value", "<1>")]);
        let doc = w.finish();
        let root = parse_document(doc.as_bytes()).unwrap();
        assert_eq!(root.child_text("A"), Some("x < y & 'z'"));
        assert_eq!(root.child_text("Empty"), Some(""));
        assert_eq!(root.child_text("C"), Some("a]]>b"));
        let c = root.child("Column").unwrap();
        assert_eq!(c.attr("Name"), Some("d\"s"));
        assert_eq!(c.attr("Value"), Some("<1>"));
    }
}
