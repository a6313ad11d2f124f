//! The linked-accounts graph of a case page, as server-rendered SVG.
//!
//! The case's user sits in the middle; each shared identifier (device, IP,
//! payment token) is a node on an inner ring, and the accounts that share it
//! sit on an outer ring around it. Large groups are cut to a few nodes with a
//! "+N more" count, so a 1,000-account device pool stays readable.

use maud::{html, Markup};
use std::collections::BTreeMap;
use std::f64::consts::TAU;

use super::data::Link;

/// Identifiers drawn, and accounts drawn per identifier.
const MAX_KEYS: usize = 10;
const MAX_ACCOUNTS_PER_KEY: usize = 6;
const SIZE: f64 = 640.0;

/// An identifier and the accounts linked through it.
struct Group<'a> {
    edge_type: &'a str,
    key: &'a str,
    accounts: Vec<&'a str>,
}

/// `case_of` gives the case id of an account that has a case, for a link;
/// `strong` whether the user's link to an account is strong (drawn solid
/// and thick; weak links dashed and faint).
pub fn linked_accounts(
    user_id: &str,
    links: &[Link],
    case_of: impl Fn(&str) -> Option<String>,
    strong: impl Fn(&str) -> bool,
) -> Markup {
    let mut by_key: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    for l in links {
        by_key
            .entry((l.edge_type.as_str(), l.edge_key.as_str()))
            .or_default()
            .push(l.other.as_str());
    }
    let mut groups: Vec<Group> = by_key
        .into_iter()
        .map(|((edge_type, key), mut accounts)| {
            accounts.sort_unstable();
            accounts.dedup();
            Group {
                edge_type,
                key,
                accounts,
            }
        })
        .collect();
    // The most shared identifiers first; ties in key order.
    groups.sort_by_key(|g| std::cmp::Reverse(g.accounts.len()));
    let hidden_keys = groups.len().saturating_sub(MAX_KEYS);
    groups.truncate(MAX_KEYS);
    let c = SIZE / 2.0;
    let (inner, outer) = (SIZE * 0.2, SIZE * 0.4);
    html! {
        svg class="graph" xmlns="http://www.w3.org/2000/svg" viewBox={"0 0 " (SIZE) " " (SIZE)}
            role="img" aria-label={"Accounts linked to " (user_id)} {
            @if groups.is_empty() {
                text x=(c) y=(c + 40.0) text-anchor="middle" class="muted" { "no shared identifiers" }
            }
            @for (g, group) in groups.iter().enumerate() {
                @let angle = TAU * g as f64 / groups.len() as f64;
                @let (kx, ky) = (c + inner * angle.cos(), c + inner * angle.sin());
                line x1=(c) y1=(c) x2=(fmt(kx)) y2=(fmt(ky)) class={"edge " (group.edge_type)} {}
                @let shown = group.accounts.len().min(MAX_ACCOUNTS_PER_KEY);
                @for (a, account) in group.accounts.iter().take(shown).enumerate() {
                    @let spread = TAU / groups.len() as f64 * 0.8;
                    @let offset = if shown > 1 { spread * (a as f64 / (shown - 1) as f64 - 0.5) } else { 0.0 };
                    @let (ax, ay) = (c + outer * (angle + offset).cos(), c + outer * (angle + offset).sin());
                    @let strength = if strong(account) { "strong" } else { "weak" };
                    line x1=(fmt(kx)) y1=(fmt(ky)) x2=(fmt(ax)) y2=(fmt(ay)) class={"edge " (group.edge_type) " " (strength)} data-strength=(strength) {}
                    @if let Some(case_id) = case_of(account) {
                        a href={"/cases/" (case_id)} {
                            circle cx=(fmt(ax)) cy=(fmt(ay)) r="9" class="account flagged" {}
                            text x=(fmt(ax)) y=(fmt(ay + 22.0)) text-anchor="middle" { (account) }
                        }
                    } @else {
                        circle cx=(fmt(ax)) cy=(fmt(ay)) r="9" class="account" {}
                        text x=(fmt(ax)) y=(fmt(ay + 22.0)) text-anchor="middle" { (account) }
                    }
                }
                a href=(entity_href(group.edge_type, group.key)) {
                    rect x=(fmt(kx - 7.0)) y=(fmt(ky - 7.0)) width="14" height="14" class={"key " (group.edge_type)} {}
                    text x=(fmt(kx)) y=(fmt(ky - 12.0)) text-anchor="middle" class="key-label" {
                        (group.key)
                        @if group.accounts.len() > shown { " (+" (group.accounts.len() - shown) " more)" }
                    }
                }
            }
            circle cx=(c) cy=(c) r="14" class="account self" {}
            text x=(c) y=(c + 30.0) text-anchor="middle" class="self-label" { (user_id) }
            @if hidden_keys > 0 {
                text x="8" y=(SIZE - 8.0) class="muted" { "+" (hidden_keys) " more shared identifiers" }
            }
        }
    }
}

/// Coordinates with two decimals: the same page gives the same bytes.
fn fmt(x: f64) -> String {
    format!("{x:.2}")
}

/// The entity page of a shared identifier, from its edge type
/// (`shared_device` -> `/entities/device/<id>`), the id percent-encoded.
pub fn entity_href(edge_type: &str, key: &str) -> String {
    let kind = edge_type.strip_prefix("shared_").unwrap_or(edge_type);
    format!(
        "/entities/{kind}/{}",
        percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(edge_type: &str, key: &str, other: &str) -> Link {
        Link {
            edge_type: edge_type.into(),
            edge_key: key.into(),
            other: other.into(),
        }
    }

    /// Identifiers, linked accounts and overflow counts are drawn; text is escaped.
    #[test]
    fn draws_groups_and_escapes() {
        let mut links: Vec<Link> = (0..9)
            .map(|i| link("shared_device", "dev_1", &format!("u_{i:05}")))
            .collect();
        links.push(link("shared_ip", "<script>", "u_00042"));
        let svg = linked_accounts(
            "u_99999",
            &links,
            |u| (u == "u_00000").then(|| "case_u_00000".to_string()),
            |_| false,
        )
        .into_string();
        assert!(svg.contains("dev_1 (+3 more)"), "{svg}");
        assert!(svg.contains("href=\"/cases/case_u_00000\""));
        assert!(svg.contains("&lt;script&gt;") && !svg.contains("<script>"));
        assert_eq!(svg.matches("class=\"account").count(), 6 + 1 + 1);
    }

    /// Strong links are drawn solid and thick, weak ones dashed: each
    /// account's line carries its strength.
    #[test]
    fn strong_and_weak_links_are_drawn_differently() {
        let links = vec![
            link("shared_device", "dev_1", "u_00001"),
            link("shared_device", "dev_1", "u_00002"),
        ];
        let svg = linked_accounts("u_99999", &links, |_| None, |u| u == "u_00001").into_string();
        assert_eq!(svg.matches("data-strength=\"strong\"").count(), 1, "{svg}");
        assert_eq!(svg.matches("data-strength=\"weak\"").count(), 1, "{svg}");
        assert!(svg.contains("class=\"edge shared_device strong\""), "{svg}");
        assert!(svg.contains("class=\"edge shared_device weak\""), "{svg}");
    }
}
