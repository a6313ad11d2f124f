//! `KbnSum`: SQLite's `SUM()` of floating-point values, bit for bit.
//!
//! Since 3.43 SQLite sums doubles with Kahan-Babuska-Neumaier compensation
//! (`sumStep`/`sumFinalize` in sqlite3.c). core_day_metrics' latency average
//! is such a sum, and the Rust twin of its SQL must give the same bits, so
//! this is a transcription of that code for the all-REAL case: the values are
//! added in the order SQLite's sorter feeds them (core_user_day order), and a
//! non-finite error term is dropped as SQLite drops it.

#[derive(Default)]
pub struct KbnSum {
    sum: f64,
    err: f64,
}

impl KbnSum {
    pub fn add(&mut self, r: f64) {
        let s = self.sum;
        let t = s + r;
        if s.abs() > r.abs() {
            self.err += (s - t) + r;
        } else {
            self.err += (r - t) + s;
        }
        self.sum = t;
    }

    pub fn value(&self) -> f64 {
        if self.err.is_finite() {
            self.sum + self.err
        } else {
            self.sum
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    /// Matches SQLite's SUM over REAL values where naive summation does not.
    #[test]
    fn matches_sqlite_sum() {
        let values = [1e16, 1.0, -1e16, 3.3, 0.1, 0.2, 1e-3, 123456.789];
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (x REAL)").unwrap();
        for v in values {
            conn.execute("INSERT INTO t VALUES (?)", [v]).unwrap();
        }
        let sqlite: f64 = conn
            .query_row("SELECT SUM(x) FROM t", [], |r| r.get(0))
            .unwrap();
        let mut sum = KbnSum::default();
        values.iter().for_each(|&v| sum.add(v));
        assert_eq!(sum.value().to_bits(), sqlite.to_bits());
        assert_ne!(values.iter().sum::<f64>().to_bits(), sqlite.to_bits());
    }
}
