//! Demangling of Rust (legacy and v0) and C++ (Itanium) symbol names in
//! pyroscope.ebpf's four modes (see [`Demangle`]).

use std::borrow::Cow;

use cpp_demangle::{DemangleOptions, Symbol};

use crate::config::Demangle;

/// `name` as `mode` shows it. Names that are not mangled, or that fail to
/// demangle, come back unchanged.
///
/// ```
/// use pcp_profile::{demangle::demangle, Demangle};
/// // Rust legacy, then v0: always demangled; the hash only in full mode.
/// let legacy = "_ZN4hot34spin17h0123456789abcdefE";
/// assert_eq!(demangle(legacy, Demangle::None), "hot3::spin");
/// assert_eq!(demangle(legacy, Demangle::Full), "hot3::spin::h0123456789abcdef");
/// assert_eq!(demangle("_RNvCs1234_7mycrate4main", Demangle::Simplified), "mycrate::main");
/// // C++.
/// let cpp = "_ZN2ns3HotIiE4spinEi";
/// assert_eq!(demangle(cpp, Demangle::None), cpp);
/// assert_eq!(demangle(cpp, Demangle::Simplified), "ns::Hot::spin");
/// assert_eq!(demangle(cpp, Demangle::Templates), "ns::Hot<int>::spin");
/// assert_eq!(demangle(cpp, Demangle::Full), "ns::Hot<int>::spin(int)");
/// assert_eq!(demangle("hot_spin", Demangle::Full), "hot_spin");
/// ```
pub fn demangle(name: &str, mode: Demangle) -> Cow<'_, str> {
    if let Ok(d) = rustc_demangle::try_demangle(name) {
        return Cow::Owned(match mode {
            Demangle::Full => format!("{d}"),
            _ => format!("{d:#}"),
        });
    }
    if mode == Demangle::None || !name.starts_with("_Z") {
        return Cow::Borrowed(name);
    }
    let Ok(sym) = Symbol::new(name) else {
        return Cow::Borrowed(name);
    };
    let opts = match mode {
        Demangle::Full => DemangleOptions::new(),
        _ => DemangleOptions::new().no_params().no_return_type(),
    };
    match sym.demangle(&opts) {
        Ok(s) if mode == Demangle::Simplified => Cow::Owned(strip_template_args(&s)),
        Ok(s) => Cow::Owned(s),
        Err(_) => Cow::Borrowed(name),
    }
}

/// Removes `<...>` template argument lists, keeping the `<` and `>` that
/// are part of operator names (`operator<<`, `operator->`).
fn strip_template_args(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut depth = 0usize;
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if depth == 0 && rest.starts_with("operator") {
            // Copy the operator's name and its symbol characters verbatim.
            let after = &rest["operator".len()..];
            let sym_len = after
                .find(|c: char| {
                    !matches!(
                        c,
                        '<' | '>'
                            | '='
                            | '-'
                            | '!'
                            | '+'
                            | '*'
                            | '/'
                            | '%'
                            | '&'
                            | '|'
                            | '^'
                            | '~'
                            | '['
                            | ']'
                            | '('
                            | ')'
                            | ','
                    )
                })
                .unwrap_or(after.len());
            // `operator()` and `operator[]` end at their closing bracket.
            let sym_len = if after.starts_with("()") || after.starts_with("[]") {
                2
            } else {
                sym_len
            };
            out.push_str(&rest[..("operator".len() + sym_len)]);
            rest = &after[sym_len..];
            continue;
        }
        match c {
            '<' => depth += 1,
            '>' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simplified_mode_strips_nested_templates_but_not_operators() {
        assert_eq!(
            strip_template_args("std::vector<std::pair<int, long>>::push_back"),
            "std::vector::push_back"
        );
        assert_eq!(
            strip_template_args("ns::Foo<int>::operator<<"),
            "ns::Foo::operator<<"
        );
        assert_eq!(strip_template_args("a::operator->"), "a::operator->");
        assert_eq!(strip_template_args("a<b>::operator()"), "a::operator()");
    }

    #[test]
    fn broken_names_come_back_unchanged() {
        for n in ["_Z", "_ZN3fooE_garbage<<", "_R", "", "_ZZZZ"] {
            let _ = demangle(n, Demangle::Full);
        }
        assert_eq!(demangle("_Zx", Demangle::Full), "_Zx");
    }
}
