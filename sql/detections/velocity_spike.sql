-- velocity_spike: young accounts with a burst of activity.
--
-- A burst is 10 or more events within two hours (a sliding window from each
-- event, so a burst that straddles clock hours still counts; clock hours
-- missed bursts of 20 events split over three of them); the account is
-- young when the burst comes within 7 days of its creation. Benign accounts
-- average a few events a day (about 0.2 in two hours), so a burst this
-- dense right after signup stands out. 20 or more is high severity.
--
-- Only accounts whose activity starts within 7 days of their creation can
-- burst while young, so the events of the others are never read: the
-- windows run over a few accounts' events, found through the
-- (user_id, ts) index.
WITH young_users AS MATERIALIZED (
    SELECT u.user_id, u.created_ts
    FROM users u
    JOIN core_users c ON c.user_id = u.user_id
    WHERE julianday(c.first_seen_ts) - julianday(u.created_ts) <= 7
),
young_events AS (
    SELECT r.user_id, r.ts, CAST(strftime('%s', r.ts) AS INTEGER) AS t, y.created_ts
    FROM young_users y
    JOIN raw_events r ON r.user_id = y.user_id
    WHERE julianday(r.ts) - julianday(y.created_ts) BETWEEN 0 AND 7
),
-- Events in the two hours starting at each event.
windows AS (
    SELECT user_id, ts AS first_ts, created_ts,
           COUNT(*) OVER burst AS n_events,
           MAX(ts) OVER burst AS last_ts
    FROM young_events
    WINDOW burst AS (PARTITION BY user_id ORDER BY t RANGE BETWEEN CURRENT ROW AND 7199 FOLLOWING)
),
bursts AS (
    SELECT *, julianday(first_ts) - julianday(created_ts) AS age_days
    FROM windows
    WHERE n_events >= 10
)
SELECT
    user_id,
    'velocity_spike' AS detection,
    CASE WHEN MAX(n_events) >= 20 THEN 'high' ELSE 'medium' END AS severity,
    'peak of ' || MAX(n_events) || ' events within two hours, ' || printf('%.1f', MIN(age_days)) || ' days after signup' AS evidence,
    MIN(first_ts) AS first_ts,
    MAX(last_ts) AS last_ts,
    '' AS related
FROM bursts
GROUP BY user_id
ORDER BY user_id;
