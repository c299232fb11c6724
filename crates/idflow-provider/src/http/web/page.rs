//! Renders the verification page and the link-error page in a language:
//! `{{name}}` in `assets/verify.html` and `assets/message.html` becomes the
//! HTML-escaped message `name` of [`Messages`] (with `{client}` filled in),
//! or one of the page's own values (`lang`, the language links, the
//! messages as JSON for the script, the upload limit).

use std::fmt::Write as _;
use std::sync::LazyLock;

use serde_json::{Map, Value};

use super::lang::Lang;
use super::messages::Messages;

const PAGE: &str = include_str!("../../../assets/verify.html");
const MESSAGE: &str = include_str!("../../../assets/message.html");

/// Each language's table as a JSON object (serialized once).
static TABLES: LazyLock<[Map<String, Value>; 3]> = LazyLock::new(|| Lang::ALL.map(table));

fn table(lang: Lang) -> Map<String, Value> {
    match serde_json::to_value(Messages::of(lang)) {
        Ok(Value::Object(map)) => map,
        // A struct of strings always serializes to an object.
        _ => Map::new(),
    }
}

fn messages(lang: Lang) -> &'static Map<String, Value> {
    let index = Lang::ALL.iter().position(|l| *l == lang).unwrap_or(0);
    &TABLES[index]
}

/// The language's messages with `{client}` filled in.
fn messages_for(lang: Lang, client: &str) -> Map<String, Value> {
    messages(lang)
        .iter()
        .map(|(name, text)| {
            let text = text
                .as_str()
                .unwrap_or_default()
                .replace("{client}", client);
            (name.clone(), Value::String(text))
        })
        .collect()
}

fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

/// JSON that can sit inside a `<script type="application/json">` element:
/// no `<`, `>` or `&` that could close it or start a comment.
fn json_for_script(value: &Map<String, Value>) -> String {
    serde_json::to_string(value)
        .unwrap_or_else(|_| "{}".to_owned())
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// `template` with each `{{name}}` replaced by `fill(name)` (already HTML);
/// a name `fill` does not know becomes empty (the tests render every
/// template in every language and find none).
fn render(template: &str, fill: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(template.len() * 2);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        out.push_str(&fill(after[..end].trim()).unwrap_or_default());
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// The endonym of a language, for the language switcher.
fn endonym(lang: Lang) -> &'static str {
    match lang {
        Lang::Es => "Español",
        Lang::Pt => "Português",
        Lang::En => "English",
    }
}

/// Links to the same page in each language (`?token=..&lang=..`), the
/// current one marked.
fn language_links(current: Lang, token: &str) -> String {
    let mut links = String::new();
    for lang in Lang::ALL {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("token", token)
            .append_pair("lang", lang.code())
            .finish();
        let current = if lang == current {
            r#" aria-current="page""#
        } else {
            ""
        };
        let _ = write!(
            links,
            r#"<a href="?{}" lang="{code}" hreflang="{code}"{current}>{}</a>"#,
            escape_html(&query),
            endonym(lang),
            code = lang.code(),
        );
    }
    links
}

/// What the verification page shows besides its messages.
#[derive(Debug)]
pub(crate) struct PageContext<'a> {
    pub(crate) lang: Lang,
    /// The name of the client that asked for the check.
    pub(crate) client: &'a str,
    /// The token, for the language links.
    pub(crate) token: &'a str,
    /// The largest photo the provider accepts.
    pub(crate) max_upload_bytes: usize,
}

/// The verification page.
pub(crate) fn verification_page(context: &PageContext<'_>) -> String {
    let messages = messages_for(context.lang, context.client);
    render(PAGE, |name| match name {
        "lang" => Some(context.lang.code().to_owned()),
        "language_links" => Some(language_links(context.lang, context.token)),
        "messages_json" => Some(json_for_script(&messages)),
        "max_upload_bytes" => Some(context.max_upload_bytes.to_string()),
        name => messages.get(name)?.as_str().map(escape_html),
    })
}

/// Why a link cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkProblem {
    Incomplete,
    Invalid,
    Expired,
    Used,
    Unavailable,
}

impl LinkProblem {
    #[cfg(test)]
    const ALL: [Self; 5] = [
        Self::Incomplete,
        Self::Invalid,
        Self::Expired,
        Self::Used,
        Self::Unavailable,
    ];

    fn title_and_text(self, messages: &Messages) -> (&'static str, &'static str) {
        match self {
            Self::Incomplete => (
                messages.link_incomplete_title,
                messages.link_incomplete_text,
            ),
            Self::Invalid => (messages.link_invalid_title, messages.link_invalid_text),
            Self::Expired => (messages.link_expired_title, messages.link_expired_text),
            Self::Used => (messages.link_used_title, messages.link_used_text),
            Self::Unavailable => (messages.unavailable_title, messages.unavailable_text),
        }
    }
}

/// The page saying why a link cannot be used.
pub(crate) fn link_problem_page(lang: Lang, problem: LinkProblem) -> String {
    let messages = Messages::of(lang);
    let (title, text) = problem.title_and_text(messages);
    let table = self::messages(lang);
    render(MESSAGE, |name| match name {
        "lang" => Some(lang.code().to_owned()),
        "title" => Some(escape_html(title)),
        "message" => Some(escape_html(text)),
        name => table.get(name)?.as_str().map(escape_html),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    /// Every `{{name}}` of a template has a value, in every language.
    fn assert_all_filled(template: &str, lang: Lang) {
        let names: Vec<&str> = template
            .split("{{")
            .skip(1)
            .filter_map(|rest| rest.split_once("}}").map(|(name, _)| name.trim()))
            .collect();
        assert!(!names.is_empty());
        let context = PageContext {
            lang,
            client: "Banco",
            token: "t",
            max_upload_bytes: 1,
        };
        let messages = messages_for(lang, "Banco");
        for name in names {
            let known = matches!(
                name,
                "lang"
                    | "language_links"
                    | "messages_json"
                    | "max_upload_bytes"
                    | "title"
                    | "message"
            ) || messages.contains_key(name);
            assert!(known, "{{{{{name}}}}} has no value in {lang:?}");
        }
        let page = verification_page(&context);
        assert!(!page.contains("{{"), "{page}");
        assert!(!page.contains("{client}"), "{page}");
    }

    #[test]
    fn every_placeholder_has_a_value_in_every_language() {
        for lang in Lang::ALL {
            assert_all_filled(PAGE, lang);
            assert_all_filled(MESSAGE, lang);
            for problem in LinkProblem::ALL {
                let page = link_problem_page(lang, problem);
                assert!(!page.contains("{{"), "{page}");
                assert!(page.contains(&format!(r#"<html lang="{}">"#, lang.code())));
            }
        }
    }

    #[test]
    fn the_page_is_in_its_language_with_the_client_escaped() {
        let context = PageContext {
            lang: Lang::Es,
            client: "Banco <Andino> & Cía",
            token: "a.b\"c&d",
            max_upload_bytes: 10,
        };
        let page = verification_page(&context);
        assert!(page.contains(r#"<html lang="es">"#));
        assert!(page.contains("Verifica tu identidad"));
        assert!(page.contains("Banco &lt;Andino&gt; &amp; Cía te pide"));
        // In the script's JSON the client's name cannot close the element.
        assert!(page.contains(r"Banco \u003cAndino\u003e \u0026 Cía te pide"));
        assert!(!page.contains("<Andino>"));
        // The language links keep the token, encoded.
        assert!(
            page.contains(r#"href="?token=a.b%22c%26d&amp;lang=pt""#),
            "{page}"
        );
        assert!(page.contains(r#"hreflang="es" aria-current="page""#));
    }

    #[test]
    fn every_language_has_different_words() {
        for name in messages(Lang::En).keys() {
            let [es, pt, en] = Lang::ALL.map(|lang| messages(lang)[name].as_str().unwrap());
            assert!(!en.is_empty(), "{name}");
            // The same word in two languages is allowed (Idioma), not a
            // copied English sentence.
            if en.contains(' ') {
                assert!(es != en && pt != en, "{name} is not translated: {en}");
            }
        }
    }
}
