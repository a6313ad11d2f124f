-- One row per user seen in the events, from core_user_day and
-- core_user_identifiers. A missing payment counts as one value in n_payments,
-- so a user who sometimes pays and sometimes does not has 2.
CREATE TABLE core_users AS
WITH identifiers AS (
    SELECT user_id,
           MIN(first_ts)          AS first_seen_ts,
           MAX(last_ts)           AS last_seen_ts,
           SUM(kind = 'ip')       AS n_ips,
           SUM(kind = 'device')   AS n_devices,
           SUM(kind = 'payment')  AS n_payments
    FROM core_user_identifiers
    GROUP BY user_id
),
activity AS (
    SELECT user_id, SUM(n_events) AS n_events, SUM(n_chat) AS n_chat,
           SUM(n_blocked) AS n_blocked, SUM(n_warned) AS n_warned
    FROM core_user_day
    GROUP BY user_id
)
SELECT a.user_id, i.first_seen_ts, i.last_seen_ts, a.n_events, a.n_chat, a.n_blocked,
       a.n_warned, i.n_ips, i.n_devices, i.n_payments
FROM activity a
JOIN identifiers i ON i.user_id = a.user_id
ORDER BY a.user_id;
