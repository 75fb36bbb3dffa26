//! The flat XML of API v2: `<xml><k><![CDATA[v]]></k>…</xml>` in both directions.
//!
//! Parsing is deliberately strict because notify bodies come from the internet:
//! no DOCTYPE or entity declarations (WeChat's 2018 XXE advisory), no nesting
//! below the fields, one expected root, a size limit, no duplicate fields (a
//! duplicate would let the verifier and the reader see different values).

use quick_xml::Reader;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;

use super::{Fields, WxPayError};

/// Bodies above this size are refused before parsing. Real v2 bodies are ~1–2 KiB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Serialises `fields` as a request body, every value in CDATA.
pub fn to_xml(fields: &Fields) -> String {
    to_flat(fields, "xml")
}

/// Serialises `fields` under the root `<root_name>` (`root` for refund `req_info`).
pub fn to_flat(fields: &Fields, root_name: &str) -> String {
    let mut out = format!("<{root_name}>");
    for (k, v) in fields {
        out.push('<');
        out.push_str(k);
        out.push_str("><![CDATA[");
        // A CDATA section cannot contain "]]>"; split it across two sections.
        out.push_str(&v.replace("]]>", "]]]]><![CDATA[>"));
        out.push_str("]]></");
        out.push_str(k);
        out.push('>');
    }
    out.push_str("</");
    out.push_str(root_name);
    out.push('>');
    out
}

/// Parses a `<xml>…</xml>` body (responses, notifies) into a flat map.
pub fn parse_xml(body: &str) -> Result<Fields, WxPayError> {
    parse_flat(body, "xml")
}

fn malformed(e: impl std::fmt::Display) -> WxPayError {
    WxPayError::Malformed(e.to_string())
}

/// Parses a flat document whose root is `<root_name>` (`xml`, or `root` for a
/// decrypted refund `req_info`).
pub fn parse_flat(body: &str, root_name: &str) -> Result<Fields, WxPayError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(WxPayError::TooLarge {
            size: body.len(),
            limit: MAX_BODY_BYTES,
        });
    }
    let mut reader = Reader::from_str(body);
    reader.config_mut().check_end_names = true;
    let mut fields = Fields::new();
    let mut seen_root = false;
    let mut root_closed = false;
    // The field being read (depth 2) and its accumulated text.
    let mut current: Option<(String, String)> = None;
    loop {
        let event = reader.read_event().map_err(malformed)?;
        match event {
            Event::DocType(_) => return Err(WxPayError::DoctypeRefused),
            Event::Decl(_) | Event::Comment(_) => {}
            Event::PI(_) => return Err(WxPayError::Malformed("processing instruction".into())),
            Event::Start(_) | Event::Empty(_) if root_closed => {
                return Err(WxPayError::Malformed(
                    "content after the root element".into(),
                ));
            }
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if !seen_root {
                    if name != root_name {
                        return Err(WxPayError::WrongRoot {
                            expected: root_name.into(),
                            found: name,
                        });
                    }
                    seen_root = true;
                } else if current.is_some() {
                    return Err(WxPayError::TooDeep(name));
                } else {
                    current = Some((name, String::new()));
                }
            }
            Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if !seen_root {
                    if name != root_name {
                        return Err(WxPayError::WrongRoot {
                            expected: root_name.into(),
                            found: name,
                        });
                    }
                    seen_root = true;
                    root_closed = true;
                } else if current.is_some() {
                    return Err(WxPayError::TooDeep(name));
                } else {
                    insert(&mut fields, name, String::new())?;
                }
            }
            Event::End(_) => match current.take() {
                Some((name, value)) => insert(&mut fields, name, value)?,
                None => root_closed = true,
            },
            Event::Text(t) => {
                let text = t.decode().map_err(malformed)?;
                push_text(&mut current, &text)?;
            }
            Event::CData(t) => {
                let text = t.decode().map_err(malformed)?;
                match current.as_mut() {
                    Some((_, value)) => value.push_str(&text),
                    None => return Err(WxPayError::Malformed("CDATA outside a field".into())),
                }
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(malformed)? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode().map_err(malformed)?;
                        resolve_predefined_entity(&name)
                            .ok_or_else(|| WxPayError::UnknownEntity(name.clone().into_owned()))?
                            .to_owned()
                    }
                };
                match current.as_mut() {
                    Some((_, value)) => value.push_str(&resolved),
                    None => return Err(WxPayError::Malformed("text outside a field".into())),
                }
            }
            Event::Eof => break,
        }
    }
    if !seen_root || !root_closed {
        return Err(WxPayError::Malformed(format!(
            "missing or unclosed <{root_name}> root"
        )));
    }
    Ok(fields)
}

/// Text inside a field is kept verbatim; outside, only whitespace is allowed.
fn push_text(current: &mut Option<(String, String)>, text: &str) -> Result<(), WxPayError> {
    match current.as_mut() {
        Some((_, value)) => {
            value.push_str(text);
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err(WxPayError::Malformed("text outside a field".into())),
    }
}

fn insert(fields: &mut Fields, name: String, value: String) -> Result<(), WxPayError> {
    if fields.contains_key(&name) {
        return Err(WxPayError::DuplicateField(name));
    }
    fields.insert(name, value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdata_plain_and_escaped_text() {
        let f = parse_xml(
            "<?xml version=\"1.0\"?>\n<xml>\n  <a><![CDATA[x<y]]></a>\n  <b>plain</b>\n  <c>a &amp; b &#x4E2D;&lt;</c><d/></xml>",
        )
        .expect("valid");
        assert_eq!(f["a"], "x<y");
        assert_eq!(f["b"], "plain");
        assert_eq!(f["c"], "a & b 中<");
        assert_eq!(f["d"], "");
    }

    #[test]
    fn round_trips_through_to_xml() {
        let mut f = Fields::new();
        f.insert("body".into(), "腾讯 ]]> & <tag>".into());
        f.insert("total_fee".into(), "1".into());
        assert_eq!(parse_xml(&to_xml(&f)), Ok(f));
    }

    #[test]
    fn refuses_xxe_and_doctype() {
        let xxe = "<?xml version=\"1.0\"?><!DOCTYPE xml [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><xml><a>&x;</a></xml>";
        assert_eq!(parse_xml(xxe), Err(WxPayError::DoctypeRefused));
        assert_eq!(
            parse_xml("<xml><a>&x;</a></xml>"),
            Err(WxPayError::UnknownEntity("x".into()))
        );
    }

    #[test]
    fn refuses_nesting_wrong_root_duplicates_size_and_garbage() {
        assert_eq!(
            parse_xml("<xml><a><b>1</b></a></xml>"),
            Err(WxPayError::TooDeep("b".into()))
        );
        assert!(matches!(
            parse_xml("<root><a>1</a></root>"),
            Err(WxPayError::WrongRoot { .. })
        ));
        assert_eq!(
            parse_flat("<root><a>1</a></root>", "root").map(|f| f["a"].clone()),
            Ok("1".into())
        );
        assert_eq!(
            parse_xml("<xml><a>1</a><a>2</a></xml>"),
            Err(WxPayError::DuplicateField("a".into()))
        );
        let big = format!("<xml><a>{}</a></xml>", "x".repeat(MAX_BODY_BYTES));
        assert!(matches!(parse_xml(&big), Err(WxPayError::TooLarge { .. })));
        for bad in [
            "",
            "not xml",
            "<xml><a>1</b></xml>",
            "<xml><a>1</a>",
            "<xml>text</xml>",
            "<xml/><xml/>",
        ] {
            assert!(parse_xml(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
