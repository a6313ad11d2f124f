//! `StrongLinks`: which accounts are linked by more than a coincidence.
//!
//! `entity_resolution` links every pair of accounts that share a device, a
//! payment token or a limited-fanout IP: the notebook's rule, kept as is in
//! its exports. Most of those links are weak. Device ids and payment tokens
//! collide between strangers (benign accounts draw them from pools), and an
//! IP is a pool shared by whole neighbourhoods, so at the default size 1,475
//! of 1,500 accounts fall into one component and "linked" says nothing.
//!
//! A link is **strong** when two accounts share a device *and* a second
//! identifier of another kind with it: the same IP or the same payment token.
//! That is one setup (a machine on a network, a card on a machine) used by
//! both accounts; strangers match on both only when two independent small
//! chances coincide. Strong components are the union-find over strong links
//! only; cases use them for the `linked_accounts` tag and the component term
//! of the score.
//!
//! Linear: each account's (device, other identifier) setups are grouped by
//! key, and every group is unioned member to member, never pair by pair.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use super::entity_resolution::UnionFind;
use crate::execute::open_read_only;
use crate::StageResult;

/// Strong components over a population of accounts.
#[derive(Debug, Default)]
pub struct StrongLinks {
    /// Account -> (component id, component size).
    of: HashMap<String, (usize, usize)>,
}

impl StrongLinks {
    /// From `core_user_identifiers` (and `users`, so that every account has a
    /// component id numbered in sorted user order, as entity resolution does).
    pub fn read(db: &Path) -> StageResult<StrongLinks> {
        let conn = open_read_only(db)?;
        let mut population: BTreeSet<String> = BTreeSet::new();
        let mut stmt = conn
            .prepare("SELECT user_id FROM users UNION SELECT user_id FROM core_user_identifiers")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            if let Some(u) = r.get::<_, Option<String>>(0)? {
                population.insert(u);
            }
        }
        // (device, kind, value) -> accounts with that setup.
        let mut setups: Vec<((String, String, String), String)> = Vec::new();
        let mut stmt = conn.prepare(
            "SELECT d.user_id, d.value, o.kind, o.value
             FROM core_user_identifiers d
             JOIN core_user_identifiers o ON o.user_id = d.user_id
             WHERE d.kind = 'device' AND d.value IS NOT NULL
               AND o.kind IN ('ip', 'payment') AND o.value IS NOT NULL",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            setups.push(((r.get(1)?, r.get(2)?, r.get(3)?), r.get(0)?));
        }
        Ok(StrongLinks::new(population, setups))
    }

    /// From the population and each account's setups.
    pub fn new(
        population: BTreeSet<String>,
        mut setups: Vec<((String, String, String), String)>,
    ) -> StrongLinks {
        let users: Vec<String> = population.into_iter().collect();
        let index: HashMap<&str, usize> = users
            .iter()
            .enumerate()
            .map(|(i, u)| (u.as_str(), i))
            .collect();
        setups.sort_unstable();
        let mut uf = UnionFind::new(users.len());
        for group in setups.chunk_by(|a, b| a.0 == b.0) {
            let members: Vec<usize> = group
                .iter()
                .filter_map(|(_, u)| index.get(u.as_str()).copied())
                .collect();
            for pair in members.windows(2) {
                uf.union(pair[0], pair[1]);
            }
        }
        let mut ids: HashMap<usize, usize> = HashMap::new();
        let mut sizes: HashMap<usize, usize> = HashMap::new();
        let roots: Vec<usize> = (0..users.len()).map(|i| uf.find(i)).collect();
        for root in &roots {
            let next = ids.len();
            ids.entry(*root).or_insert(next);
            *sizes.entry(*root).or_default() += 1;
        }
        let of = users
            .into_iter()
            .zip(roots)
            .map(|(u, root)| (u, (ids[&root], sizes[&root])))
            .collect();
        StrongLinks { of }
    }

    /// (component id, size) of an account; an unknown account is alone.
    pub fn component(&self, user: &str) -> Option<(usize, usize)> {
        self.of.get(user).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(
        device: &str,
        kind: &str,
        value: &str,
        user: &str,
    ) -> ((String, String, String), String) {
        ((device.into(), kind.into(), value.into()), user.into())
    }

    /// A device shared with the same IP or payment links; a device alone, or
    /// an IP or payment alone, does not.
    #[test]
    fn strong_needs_a_device_and_one_more_identifier() {
        let population: BTreeSet<String> =
            ["a", "b", "c", "d", "e", "f", "g"].map(String::from).into();
        let links = StrongLinks::new(
            population,
            vec![
                // a and b: same device, same IP -> strong.
                setup("d1", "ip", "i1", "a"),
                setup("d1", "ip", "i1", "b"),
                // b and c: same device, same payment -> strong.
                setup("d2", "payment", "p1", "b"),
                setup("d2", "payment", "p1", "c"),
                // d and e: same device, different IPs -> weak.
                setup("d3", "ip", "i2", "d"),
                setup("d3", "ip", "i3", "e"),
                // f and g: same IP on different devices -> weak.
                setup("d4", "ip", "i4", "f"),
                setup("d5", "ip", "i4", "g"),
            ],
        );
        let c = |u| links.component(u).unwrap();
        assert_eq!((c("a"), c("b"), c("c")), ((0, 3), (0, 3), (0, 3)));
        assert_eq!((c("d"), c("e")), ((1, 1), (2, 1)));
        assert_eq!((c("f"), c("g")), ((3, 1), (4, 1)));
        assert_eq!(links.component("zz"), None);
    }
}
