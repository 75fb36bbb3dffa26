//! The frame of every console page: the navigation, the language switch, sign-out,
//! a notice or error from the action before (POST/redirect/GET), and the style sheet.

use maud::{DOCTYPE, Markup, html};

use super::i18n::{K, Lang, t};

/// Which page the navigation marks as current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Today,
    Orders,
    Money,
    Catalog,
    Log,
    None,
}

/// What the previous action said, carried in the query of the redirect after it.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Flash {
    pub notice: Option<String>,
    pub error: Option<String>,
}

/// A whole page. `csrf` is the session's token (the sign-out form needs it); `here`
/// is the page's own path and query (the language switch comes back to it).
pub fn frame(
    lang: Lang,
    title: &str,
    nav: Nav,
    csrf: Option<&str>,
    here: &str,
    flash: &Flash,
    body: Markup,
) -> Markup {
    let link = |to: Nav, href: &str, k: K| {
        html! { a href=(href) class=[(nav == to).then_some("here")] { (t(lang, k)) } }
    };
    let other = match lang {
        Lang::Zh => Lang::En,
        Lang::En => Lang::Zh,
    };
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (t(lang, K::Console)) }
                link rel="stylesheet" href="/console/static/console.css";
            }
            body {
                header {
                    span.brand { (t(lang, K::Console)) }
                    @if csrf.is_some() {
                        (link(Nav::Today, "/console/today", K::Today))
                        (link(Nav::Orders, "/console/orders", K::Orders))
                        (link(Nav::Money, "/console/money", K::Money))
                        (link(Nav::Catalog, "/console/catalog", K::Catalog))
                        (link(Nav::Log, "/console/log", K::Log))
                    }
                    span.right {
                        a #lang-switch href={ "/console/lang?to=" (other.code()) "&back=" (encode(here)) } {
                            (match other { Lang::Zh => "中文", Lang::En => "English" })
                        }
                        @if let Some(csrf) = csrf {
                            form method="post" action="/console/sign-out" {
                                input type="hidden" name="csrf" value=(csrf);
                                button #sign-out type="submit" { (t(lang, K::SignOut)) }
                            }
                        }
                    }
                }
                main {
                    @if let Some(n) = &flash.notice { p.notice #notice { (n) } }
                    @if let Some(e) = &flash.error { p.error #error { (e) } }
                    (body)
                }
            }
        }
    }
}

/// Percent-encodes a query value (everything but unreserved characters).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Fen as yuan with two decimals.
pub fn yuan(fen: u64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}
