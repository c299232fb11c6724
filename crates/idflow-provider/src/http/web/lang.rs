//! The page's language: Spanish, Portuguese or English, from the `lang`
//! query parameter when it names one of them, else from `Accept-Language`
//! (RFC 9110 §12.5.4: the highest q-value wins, the first of equals, `q=0`
//! means "not this one"), else English.
//!
//! Only the primary subtag matters: `es-CO` and `es-419` are Spanish,
//! `pt-BR` and `pt-PT` Portuguese. `*` names no language in particular and
//! leaves the default.

/// A language of the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lang {
    Es,
    Pt,
    En,
}

impl Lang {
    /// Every language, in the order the language switcher shows them.
    pub(crate) const ALL: [Self; 3] = [Self::Es, Self::Pt, Self::En];

    /// When nothing names a language the page has.
    pub(crate) const DEFAULT: Self = Self::En;

    /// The BCP 47 tag (`<html lang>`, `Content-Language`, `?lang=`).
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::Es => "es",
            Self::Pt => "pt",
            Self::En => "en",
        }
    }

    /// The language of a tag (`es`, `es-CO`, `PT-br`), if the page has it.
    pub(crate) fn from_tag(tag: &str) -> Option<Self> {
        let primary = tag.trim().split(['-', '_']).next()?;
        Self::ALL
            .into_iter()
            .find(|lang| primary.eq_ignore_ascii_case(lang.code()))
    }

    /// The page's language for a `lang` parameter and an `Accept-Language`
    /// header (either may be absent or name nothing the page has).
    pub(crate) fn negotiate(lang_param: Option<&str>, accept_language: Option<&str>) -> Self {
        lang_param
            .and_then(Self::from_tag)
            .or_else(|| accept_language.and_then(preferred))
            .unwrap_or(Self::DEFAULT)
    }
}

/// The most preferred language of an `Accept-Language` value that the page
/// has; ranges with a malformed weight are ignored.
fn preferred(header: &str) -> Option<Lang> {
    let mut best: Option<(u16, Lang)> = None;
    for item in header.split(',') {
        let mut parts = item.split(';');
        let range = parts.next().unwrap_or_default().trim();
        let Some(weight) = weight(parts) else {
            continue;
        };
        let Some(lang) = Lang::from_tag(range) else {
            continue;
        };
        if weight > 0 && best.is_none_or(|(best_weight, _)| weight > best_weight) {
            best = Some((weight, lang));
        }
    }
    best.map(|(_, lang)| lang)
}

/// The q-value of a range's parameters in thousandths (1000 when absent),
/// or `None` when it is malformed.
fn weight<'a>(params: impl Iterator<Item = &'a str>) -> Option<u16> {
    let mut weight = 1000;
    for param in params {
        let (name, value) = param.split_once('=')?;
        if name.trim().eq_ignore_ascii_case("q") {
            weight = qvalue(value.trim())?;
        }
    }
    Some(weight)
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in thousandths.
fn qvalue(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths: u16 = format!("{fraction:0<3}").parse().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_headers_choose_the_language() {
        // (Accept-Language, the page's language)
        let cases = [
            (None, Lang::En),
            (Some(""), Lang::En),
            (Some("es"), Lang::Es),
            (Some("es-CO"), Lang::Es),
            (Some("es-419,es;q=0.9"), Lang::Es),
            (Some("ES-co"), Lang::Es),
            (Some("pt-BR"), Lang::Pt),
            (Some("pt-PT,pt;q=0.9,en;q=0.8"), Lang::Pt),
            (Some("en-US,en;q=0.9"), Lang::En),
            // q-values, not order, decide.
            (Some("en;q=0.5, es-CO;q=0.9"), Lang::Es),
            (Some("en;q=0.1,pt-BR;q=0.8,es;q=0.7"), Lang::Pt),
            (Some("es;q=0.8, pt;q=0.800"), Lang::Es),
            (Some("en, es"), Lang::En),
            // Languages the page lacks are skipped, not a reason for English.
            (Some("fr-FR,fr;q=0.9,pt;q=0.5"), Lang::Pt),
            (Some("de, zh-CN;q=0.9, es-MX;q=0.1"), Lang::Es),
            (Some("fr-FR"), Lang::En),
            (Some("*"), Lang::En),
            (Some("fr, *;q=0.5"), Lang::En),
            // q=0 refuses a language.
            (Some("es;q=0, pt;q=0.2"), Lang::Pt),
            (Some("es;q=0.000"), Lang::En),
            // Malformed weights drop their range only.
            (Some("es;q=2, pt;q=0.5"), Lang::Pt),
            (Some("es;q=abc, en;q=0.3"), Lang::En),
            (Some("es;q=0.1234, pt;q=0.1"), Lang::Pt),
            (Some("es;q, pt"), Lang::Pt),
            (Some("pt ; Q=0.9 , es;q=0.95"), Lang::Es),
            (Some(",,;,es-CO;q=1.0"), Lang::Es),
            (Some("spanish"), Lang::En),
        ];
        for (header, expected) in cases {
            assert_eq!(Lang::negotiate(None, header), expected, "{header:?}");
        }
    }

    #[test]
    fn the_lang_parameter_overrides_the_header() {
        // (lang parameter, Accept-Language, the page's language)
        let cases = [
            (Some("pt"), Some("es-CO"), Lang::Pt),
            (Some("es"), None, Lang::Es),
            (Some("pt-BR"), Some("en"), Lang::Pt),
            (Some("EN"), Some("es"), Lang::En),
            // A language the page lacks (or nonsense) leaves the header to decide.
            (Some("fr"), Some("es-CO"), Lang::Es),
            (Some("<script>"), Some("pt"), Lang::Pt),
            (Some(""), None, Lang::En),
        ];
        for (param, header, expected) in cases {
            assert_eq!(
                Lang::negotiate(param, header),
                expected,
                "{param:?} {header:?}"
            );
        }
    }
}
