//! The case page's timeline: which kinds of moment it shows and which page.
//!
//! Its parameters (`tl`, repeatable: the kinds to show; `tlpage`) ride
//! beside the queue's on the case page's address, and are refused with the
//! same 400 page when unknown.

use super::data::Moment;
use super::query::QueryError;

/// Every kind of moment, in the order the filters list them.
pub const KINDS: [&str; 7] = [
    "account",
    "login",
    "content",
    "report",
    "linkage",
    "enforcement",
    "review",
];

/// Moments per timeline page.
pub const PAGE: usize = 200;

/// The case page's parameters that are the timeline's, not the queue's.
pub const PARAMS: [&str; 2] = ["tl", "tlpage"];

/// The timeline filter and page of a case page's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineQuery {
    /// The kinds to show; empty: every kind.
    pub kinds: Vec<String>,
    /// 1-based.
    pub page: usize,
}

impl TimelineQuery {
    pub fn parse(pairs: &[(String, String)]) -> Result<TimelineQuery, QueryError> {
        let mut q = TimelineQuery {
            kinds: Vec::new(),
            page: 1,
        };
        let mut paged = false;
        for (name, value) in pairs {
            match name.as_str() {
                "tl" if value.is_empty() => {}
                "tl" => {
                    if !KINDS.contains(&value.as_str()) {
                        return Err(QueryError {
                            param: name.clone(),
                            message: format!(
                                "`tl={value}` is not a kind of moment; tl must be one of {}",
                                KINDS.join(", ")
                            ),
                        });
                    }
                    if !q.kinds.contains(value) {
                        q.kinds.push(value.clone());
                    }
                }
                "tlpage" => {
                    if paged {
                        return Err(QueryError {
                            param: name.clone(),
                            message: "`tlpage` is given more than once; give it once".into(),
                        });
                    }
                    paged = true;
                    q.page = value
                        .parse()
                        .ok()
                        .filter(|&n| n >= 1)
                        .ok_or_else(|| QueryError {
                            param: name.clone(),
                            message: format!(
                                "`tlpage={value}` is not a page number; tlpage must be 1 or more"
                            ),
                        })?;
                }
                _ => {}
            }
        }
        Ok(q)
    }

    pub fn shows(&self, kind: &str) -> bool {
        self.kinds.is_empty() || self.kinds.iter().any(|k| k == kind)
    }

    /// `&tl=..&tl=..&tlpage=N`, for links that keep the filter.
    pub fn link(&self, page: usize) -> String {
        let mut out = String::new();
        for k in &self.kinds {
            out.push_str("&tl=");
            out.push_str(k);
        }
        out.push_str(&format!("&tlpage={page}"));
        out
    }
}

/// One page of a timeline, after the filter.
pub struct TimelinePage<'a> {
    pub moments: &'a [Moment],
    /// Moments that pass the filter, on every page.
    pub matching: usize,
    /// Moments of each kind, before the filter.
    pub counts: Vec<(&'static str, usize)>,
    pub pages: usize,
}

/// Filters `all` (time-ordered) to `q`'s kinds into `kept` and returns
/// `q`'s page of it.
pub fn page<'a>(all: &[Moment], q: &TimelineQuery, kept: &'a mut Vec<Moment>) -> TimelinePage<'a> {
    let counts = KINDS
        .iter()
        .map(|k| (*k, all.iter().filter(|m| m.kind == *k).count()))
        .collect();
    kept.extend(all.iter().filter(|m| q.shows(m.kind)).cloned());
    let matching = kept.len();
    let pages = matching.div_ceil(PAGE).max(1);
    let start = ((q.page - 1) * PAGE).min(matching);
    let end = (start + PAGE).min(matching);
    TimelinePage {
        moments: &kept[start..end],
        matching,
        counts,
        pages,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn moment(kind: &'static str, ts: usize) -> Moment {
        Moment {
            ts: format!("{ts:05}"),
            kind,
            what: String::new(),
            detail: String::new(),
            flagged: false,
        }
    }

    #[test]
    fn filters_and_pages_without_a_cap() {
        let all: Vec<Moment> = (0..450)
            .map(|i| moment(if i % 3 == 0 { "login" } else { "content" }, i))
            .collect();
        let q = TimelineQuery::parse(&pairs(&[("tl", "content"), ("tlpage", "2")])).unwrap();
        let mut kept = Vec::new();
        let p = page(&all, &q, &mut kept);
        assert_eq!(p.matching, 300);
        assert_eq!(p.pages, 2);
        assert_eq!(p.moments.len(), 100);
        assert!(p.moments.iter().all(|m| m.kind == "content"));
        let q = TimelineQuery::parse(&pairs(&[("tlpage", "3")])).unwrap();
        let mut kept = Vec::new();
        let p = page(&all, &q, &mut kept);
        assert_eq!((p.matching, p.pages, p.moments.len()), (450, 3, 50));
        assert_eq!(p.moments.last().unwrap().ts, "00449");
    }

    #[test]
    fn refuses_unknown_kinds_and_pages() {
        let err = TimelineQuery::parse(&pairs(&[("tl", "<b>")])).unwrap_err();
        assert_eq!(err.param, "tl");
        assert!(err.message.contains("tl must be one of account, login"));
        for bad in ["0", "x"] {
            let err = TimelineQuery::parse(&pairs(&[("tlpage", bad)])).unwrap_err();
            assert_eq!(err.param, "tlpage");
        }
        let err = TimelineQuery::parse(&pairs(&[("tlpage", "1"), ("tlpage", "2")])).unwrap_err();
        assert!(err.message.contains("more than once"));
    }
}
