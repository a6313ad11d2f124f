//! `entity_resolution`: link accounts that share infrastructure, and group
//! them into components.
//!
//! Edges (user_a < user_b, unique): `shared_device` and `shared_payment`
//! between every pair of users sharing a device or payment token, and
//! `shared_ip` between every pair sharing an IP used by `entity.ip_min_users`
//! to `entity.ip_max_users` users. Components: union-find over every user of
//! the users table; ids are numbered in sorted user order (the smallest
//! user's component is 0, the next new component 1, ...).
//!
//! The star rule: a device or payment group larger than `entity.max_group` is
//! written as a star, every member linked to the group's smallest user_id,
//! instead of all n(n-1)/2 pairs. Stars connect exactly the same users, so
//! components are unchanged, and one device shared by thousands of accounts
//! cannot blow up memory or the edge file.

use std::collections::{BTreeMap, HashMap};

use super::table::write_csv;
use crate::execute::{open_read_only, Builtin, ParamProblem, StageContext, StageParams};
use crate::StageResult;

pub struct EntityResolution;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_group: usize,
    pub ip_min_users: usize,
    pub ip_max_users: usize,
}

impl Limits {
    fn from_params(p: &StageParams) -> Result<Limits, ParamProblem> {
        let ip_min_users = p.int("entity.ip_min_users", 2, 2..=i64::MAX)?;
        let ip_max_users = p.int("entity.ip_max_users", 30, 2..=i64::MAX)?;
        // A window no IP fits would drop every shared_ip edge without a word.
        if ip_max_users < ip_min_users {
            return Err(ParamProblem {
                key: "entity.ip_max_users".into(),
                value: ip_max_users.to_string(),
                expected: format!("an integer >= entity.ip_min_users, which is {ip_min_users}"),
                is_wrong_type: false,
            });
        }
        Ok(Limits {
            max_group: p.int("entity.max_group", 1000, 2..=i64::MAX)? as usize,
            ip_min_users: ip_min_users as usize,
            ip_max_users: ip_max_users as usize,
        })
    }
}

/// (user_a, user_b, edge_type, edge_key)
pub type Edge = (String, String, &'static str, String);

/// Edges for groups of users sharing a key. `groups` maps key -> sorted users.
pub fn group_edges(
    groups: &BTreeMap<String, Vec<String>>,
    edge_type: &'static str,
    min: usize,
    max: Option<usize>,
    star_above: Option<usize>,
    into: &mut Vec<Edge>,
) {
    for (key, users) in groups {
        if users.len() < min || max.is_some_and(|m| users.len() > m) {
            continue;
        }
        if star_above.is_some_and(|s| users.len() > s) {
            for u in &users[1..] {
                into.push((users[0].clone(), u.clone(), edge_type, key.clone()));
            }
            continue;
        }
        for (i, a) in users.iter().enumerate() {
            for b in &users[i + 1..] {
                into.push((a.clone(), b.clone(), edge_type, key.clone()));
            }
        }
    }
}

/// Union-find with path halving.
pub struct UnionFind {
    parent: Vec<usize>,
}

impl UnionFind {
    pub fn new(n: usize) -> UnionFind {
        UnionFind {
            parent: (0..n).collect(),
        }
    }

    pub fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    pub fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.parent[ra.max(rb)] = ra.min(rb);
        }
    }
}

/// Component ids for sorted, unique `users`, numbered in user order: the
/// smallest user's component is 0, and each user whose component has not been
/// numbered yet opens the next id. Edges naming a user outside `users` are
/// ignored (the users table is the population).
pub fn components(users: &[String], edges: &[Edge]) -> Vec<usize> {
    let index = |u: &str| users.binary_search_by(|x| x.as_str().cmp(u)).ok();
    let mut uf = UnionFind::new(users.len());
    for (a, b, _, _) in edges {
        if let (Some(i), Some(j)) = (index(a), index(b)) {
            uf.union(i, j);
        }
    }
    let mut ids: HashMap<usize, usize> = HashMap::new();
    (0..users.len())
        .map(|i| {
            let root = uf.find(i);
            let next = ids.len();
            *ids.entry(root).or_insert(next)
        })
        .collect()
}

impl Builtin for EntityResolution {
    fn name(&self) -> &'static str {
        "entity_resolution"
    }

    fn version(&self) -> &'static str {
        "1"
    }

    fn outs(&self) -> &'static [&'static str] {
        &[
            "entity_resolution_edges.csv",
            "entity_resolution_components.csv",
        ]
    }

    fn validate(&self, params: &StageParams) -> Result<(), ParamProblem> {
        Limits::from_params(params).map(|_| ())
    }

    fn run(&self, ctx: &StageContext) -> StageResult<()> {
        let limits = Limits::from_params(&ctx.params)?;
        let conn = open_read_only(&ctx.dep("sqlite.db")?)?;
        let groups = |sql: &str| -> StageResult<BTreeMap<String, Vec<String>>> {
            let mut stmt = conn.prepare(sql)?;
            let mut rows = stmt.query([])?;
            let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
            while let Some(r) = rows.next()? {
                groups.entry(r.get(0)?).or_default().push(r.get(1)?);
            }
            Ok(groups)
        };
        // Identifiers per user were grouped once, in load; a NULL payment is no token.
        let by_kind = |kind: &str| {
            format!(
                "SELECT value, user_id FROM core_user_identifiers
                 WHERE kind = '{kind}' AND value IS NOT NULL ORDER BY value, user_id"
            )
        };
        let devices = groups(&by_kind("device"))?;
        let payments = groups(&by_kind("payment"))?;
        let ips = groups(&by_kind("ip"))?;
        let mut edges = Vec::new();
        group_edges(
            &devices,
            "shared_device",
            2,
            None,
            Some(limits.max_group),
            &mut edges,
        );
        group_edges(
            &payments,
            "shared_payment",
            2,
            None,
            Some(limits.max_group),
            &mut edges,
        );
        group_edges(
            &ips,
            "shared_ip",
            limits.ip_min_users,
            Some(limits.ip_max_users),
            None,
            &mut edges,
        );
        edges.sort();
        edges.dedup();

        // Every account of the users table, plus any that only appear in events.
        let mut users: Vec<String> = conn
            .prepare(
                "SELECT user_id FROM users WHERE user_id IS NOT NULL
                 UNION SELECT user_id FROM core_users WHERE user_id IS NOT NULL",
            )?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        users.sort();
        users.dedup();
        let ids = components(&users, &edges);

        write_csv(
            &ctx.out("entity_resolution_edges.csv"),
            &["user_a", "user_b", "edge_type", "edge_key"],
            edges
                .iter()
                .map(|(a, b, t, k)| [a.as_str(), b.as_str(), t, k.as_str()]),
        )?;
        write_csv(
            &ctx.out("entity_resolution_components.csv"),
            &["user_id", "component_id"],
            users
                .iter()
                .zip(&ids)
                .map(|(u, c)| [u.clone(), c.to_string()]),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IP window no group fits is refused, naming the other bound; an
    /// empty one is not (ip_min_users = ip_max_users keeps one size).
    #[test]
    fn ip_window_must_hold_a_size() {
        let limits = |yaml: &str| {
            Limits::from_params(&StageParams::new(serde_yaml::from_str(yaml).unwrap()))
        };
        let problem = limits("entity: {ip_min_users: 40}").unwrap_err();
        assert_eq!(problem.key, "entity.ip_max_users");
        assert!(
            problem
                .expected
                .contains("entity.ip_min_users, which is 40"),
            "{}",
            problem.expected
        );
        assert!(limits("entity: {ip_min_users: 7, ip_max_users: 7}").is_ok());
    }

    fn users(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("u{i}")).collect()
    }

    /// Six users, two linked groups and two singletons: known components.
    #[test]
    fn six_user_graph() {
        let mut devices = BTreeMap::new();
        devices.insert("d1".to_string(), vec!["u0".to_string(), "u1".to_string()]);
        devices.insert("d2".to_string(), vec!["u1".to_string(), "u2".to_string()]);
        devices.insert("d3".to_string(), vec!["u4".to_string()]);
        let mut ips = BTreeMap::new();
        ips.insert("ip".to_string(), vec!["u3".to_string(), "u5".to_string()]);
        let mut edges = Vec::new();
        group_edges(&devices, "shared_device", 2, None, Some(1000), &mut edges);
        group_edges(&ips, "shared_ip", 2, Some(30), None, &mut edges);
        assert_eq!(edges.len(), 3);
        assert_eq!(components(&users(6), &edges), [0, 0, 0, 1, 2, 1]);
    }

    /// One device shared by 5000 users becomes a 4999-edge star with the same component.
    #[test]
    fn star_rule_bounds_edges() {
        let members = users(5000);
        let mut sorted = members.clone();
        sorted.sort();
        let mut devices = BTreeMap::new();
        devices.insert("dev".to_string(), sorted.clone());
        let mut edges = Vec::new();
        group_edges(&devices, "shared_device", 2, None, Some(1000), &mut edges);
        assert_eq!(edges.len(), 4999);
        assert!(edges.iter().all(|e| e.0 == sorted[0]));
        assert!(components(&sorted, &edges).iter().all(|c| *c == 0));
        // The star connects exactly what all pairs would: same components.
        let mut groups = BTreeMap::new();
        groups.insert("d1".to_string(), users(5));
        groups.insert("d2".to_string(), vec!["u4".to_string(), "u7".to_string()]);
        let (mut star, mut pairs) = (Vec::new(), Vec::new());
        group_edges(&groups, "shared_device", 2, None, Some(3), &mut star);
        group_edges(&groups, "shared_device", 2, None, Some(1000), &mut pairs);
        assert_eq!((star.len(), pairs.len()), (5, 11));
        assert_eq!(components(&users(9), &star), components(&users(9), &pairs));
    }

    /// The stage on a small database: edges of every type, sorted and unique;
    /// a NULL payment links nobody; a user without events is its own component.
    #[test]
    fn runs_on_a_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("sqlite.db");
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "CREATE TABLE users (user_id TEXT);
             INSERT INTO users VALUES ('u_a'), ('u_b'), ('u_c'), ('u_d'), ('u_e'), ('u_f');
             CREATE TABLE core_users (user_id TEXT);
             INSERT INTO core_users VALUES ('u_a'), ('u_b'), ('u_c'), ('u_d'), ('u_e');
             CREATE TABLE core_user_identifiers (user_id TEXT, kind TEXT, value TEXT);
             INSERT INTO core_user_identifiers VALUES
               ('u_b', 'device', 'd1'), ('u_a', 'device', 'd1'), ('u_a', 'ip', 'i1'),
               ('u_b', 'ip', 'i1'), ('u_c', 'payment', 'p1'), ('u_d', 'payment', 'p1'),
               ('u_c', 'payment', NULL), ('u_e', 'payment', NULL), ('u_e', 'ip', 'i2');",
        )
        .unwrap();
        drop(conn);
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let ctx = StageContext {
            stage: "entity_resolution".into(),
            root: dir.path().to_path_buf(),
            params: StageParams::default(),
            deps: vec![db],
            wanted: vec![],
            out_dir: out.clone(),
        };
        EntityResolution.run(&ctx).unwrap();
        let read = |name: &str| std::fs::read_to_string(out.join(name)).unwrap();
        assert_eq!(
            read("entity_resolution_edges.csv"),
            "user_a,user_b,edge_type,edge_key\n\
             u_a,u_b,shared_device,d1\n\
             u_a,u_b,shared_ip,i1\n\
             u_c,u_d,shared_payment,p1\n"
        );
        assert_eq!(
            read("entity_resolution_components.csv"),
            "user_id,component_id\nu_a,0\nu_b,0\nu_c,1\nu_d,1\nu_e,2\nu_f,3\n"
        );
    }

    /// IP groups outside the fanout limits give no edges.
    #[test]
    fn ip_fanout_limits() {
        let mut ips = BTreeMap::new();
        ips.insert("big".to_string(), users(31));
        ips.insert("one".to_string(), users(1));
        let mut edges = Vec::new();
        group_edges(&ips, "shared_ip", 2, Some(30), None, &mut edges);
        assert!(edges.is_empty());
    }
}
