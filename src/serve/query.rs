//! The queue's query string: filters, sort and page, parsed strictly.
//!
//! Every filtered view is a link (`/queue?priority=P1&route=ban-evasion`),
//! and the same parameters ride along as hidden fields of the "next" and
//! "save and next" forms. A value the workbench does not know, a parameter
//! given twice or a parameter it does not take is a 400 naming the parameter
//! and what it accepts: a silently ignored filter shows the wrong cases.

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

use super::data::Workbench;
use super::review::name_problems;
use super::routing::LABELS;

pub const PRIORITIES: [&str; 4] = ["P1", "P2", "P3", "P4"];
pub const STATUSES: [&str; 6] = [
    "open",
    "reviewed",
    "changed",
    "overdue",
    "claimed",
    "unclaimed",
];
pub const SORTS: [&str; 4] = ["priority", "score", "age", "sla"];
/// The parameters the queue takes, in the order links write them.
pub const PARAMS: [&str; 8] = [
    "priority",
    "action",
    "detection",
    "route",
    "assignee",
    "status",
    "sort",
    "page",
];

/// A parsed queue query; empty strings mean "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueQuery {
    pub priority: String,
    pub action: String,
    pub detection: String,
    pub route: String,
    pub assignee: String,
    pub status: String,
    /// One of [`SORTS`]; empty is `priority`.
    pub sort: String,
    /// 1-based; 0 when not given (the first page).
    pub page: usize,
}

/// A query the workbench refuses, with the parameter at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    pub param: String,
    pub message: String,
}

impl QueueQuery {
    /// Parses `pairs`, ignoring the names in `other` (a form's own fields).
    pub fn parse(
        pairs: &[(String, String)],
        wb: &Workbench,
        other: &[&str],
    ) -> Result<QueueQuery, QueryError> {
        let mut q = QueueQuery::default();
        let mut seen: Vec<&str> = Vec::new();
        for (name, value) in pairs {
            if other.contains(&name.as_str()) {
                continue;
            }
            let Some(param) = PARAMS.iter().find(|p| **p == name) else {
                return Err(QueryError {
                    param: name.clone(),
                    message: format!(
                        "unknown parameter `{name}`; the queue takes {}",
                        PARAMS.join(", ")
                    ),
                });
            };
            if seen.contains(param) {
                return Err(QueryError {
                    param: name.clone(),
                    message: format!("`{name}` is given more than once; give it once"),
                });
            }
            seen.push(param);
            if value.is_empty() {
                continue;
            }
            let one_of = |allowed: &[String]| -> Result<String, QueryError> {
                if allowed.iter().any(|a| a == value) {
                    Ok(value.clone())
                } else {
                    Err(QueryError {
                        param: name.clone(),
                        message: format!(
                            "`{name}={value}` is not a known value; {name} must be one of {} (or empty for any)",
                            allowed.join(", ")
                        ),
                    })
                }
            };
            let owned = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
            match *param {
                "priority" => q.priority = one_of(&owned(&PRIORITIES))?,
                "action" => {
                    q.action = one_of(&wb.choices(|c| vec![c.recommended_action.as_str()]))?
                }
                "detection" => {
                    q.detection =
                        one_of(&wb.choices(|c| c.detections.iter().map(String::as_str).collect()))?
                }
                "route" => q.route = one_of(&owned(&LABELS))?,
                "status" => q.status = one_of(&owned(&STATUSES))?,
                "sort" => q.sort = one_of(&owned(&SORTS))?,
                "assignee" => {
                    if let Some(problem) = name_problems("assignee", value).into_iter().next() {
                        return Err(QueryError {
                            param: name.clone(),
                            message: format!("`assignee`: {problem}"),
                        });
                    }
                    q.assignee = value.trim().to_string();
                }
                "page" => {
                    q.page = value
                        .parse()
                        .ok()
                        .filter(|&n| n >= 1)
                        .ok_or_else(|| QueryError {
                            param: name.clone(),
                            message: format!(
                                "`page={value}` is not a page number; page must be 1 or more"
                            ),
                        })?
                }
                _ => unreachable!("every name of PARAMS is handled"),
            }
        }
        Ok(q)
    }

    /// The non-empty parameters, page excluded, in [`PARAMS`] order.
    pub fn filter_pairs(&self) -> Vec<(&'static str, String)> {
        [
            ("priority", &self.priority),
            ("action", &self.action),
            ("detection", &self.detection),
            ("route", &self.route),
            ("assignee", &self.assignee),
            ("status", &self.status),
            ("sort", &self.sort),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k, v.clone()))
        .collect()
    }

    /// `?a=b&c=d` for these filters and `page` (none when empty).
    pub fn link(&self, page: usize) -> String {
        let mut pairs = self.filter_pairs();
        if page > 1 {
            pairs.push(("page", page.to_string()));
        }
        query_string(&pairs)
    }

    /// The same query with one parameter changed (for facet links).
    pub fn with(&self, param: &str, value: &str) -> QueueQuery {
        let mut q = self.clone();
        let slot = match param {
            "priority" => &mut q.priority,
            "action" => &mut q.action,
            "detection" => &mut q.detection,
            "route" => &mut q.route,
            "assignee" => &mut q.assignee,
            "status" => &mut q.status,
            _ => &mut q.sort,
        };
        *slot = value.to_string();
        q.page = 0;
        q
    }
}

/// `?k=v&...`, percent-encoded, or "" for no pairs.
pub fn query_string(pairs: &[(&str, String)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, NON_ALPHANUMERIC)))
        .collect();
    format!("?{}", parts.join("&"))
}
