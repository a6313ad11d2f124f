-- velocity_spike: young accounts with a burst of activity.
--
-- A burst is 10 or more events in one clock hour; the account is young when
-- the burst comes within 7 days of its creation. Benign accounts average a
-- few events a day, so a burst this dense right after signup stands out.
-- 20 or more events in an hour is high severity.
WITH hourly AS (
    SELECT user_id, substr(ts, 1, 13) AS hour, COUNT(*) AS n_events,
           MIN(ts) AS first_ts, MAX(ts) AS last_ts
    FROM raw_events
    GROUP BY user_id, hour
    HAVING COUNT(*) >= 10
),
young AS (
    SELECT h.*, julianday(h.first_ts) - julianday(u.created_ts) AS age_days
    FROM hourly h
    JOIN users u ON u.user_id = h.user_id
    WHERE julianday(h.first_ts) - julianday(u.created_ts) BETWEEN 0 AND 7
)
SELECT
    user_id,
    'velocity_spike' AS detection,
    CASE WHEN MAX(n_events) >= 20 THEN 'high' ELSE 'medium' END AS severity,
    'peak of ' || MAX(n_events) || ' events in one hour, ' || printf('%.1f', MIN(age_days)) || ' days after signup' AS evidence,
    MIN(first_ts) AS first_ts,
    MAX(last_ts) AS last_ts,
    '' AS related
FROM young
GROUP BY user_id
ORDER BY user_id;
