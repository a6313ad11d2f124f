-- ban_evasion: active accounts linked to an older banned or suspended account
-- through a device or a payment token.
--
-- The enforced account must have been created before the active one: a new
-- account reusing an enforced account's device or payment is the classic
-- evasion pattern. A link to a ban is high severity, to a suspension medium.
WITH identifiers AS MATERIALIZED (
    SELECT user_id, kind, value FROM core_user_identifiers
    WHERE kind IN ('device', 'payment') AND value IS NOT NULL
),
links AS MATERIALIZED (
    SELECT DISTINCT n.user_id, e.user_id AS enforced_user, e.account_status, n.kind, n.value
    FROM users e
    JOIN identifiers d ON d.user_id = e.user_id
    JOIN identifiers n ON n.kind = d.kind AND n.value = d.value AND n.user_id <> e.user_id
    JOIN users nu ON nu.user_id = n.user_id
    WHERE e.account_status IN ('banned', 'suspended')
      AND nu.account_status = 'active'
      AND nu.created_ts > e.created_ts
),
per_user AS (
    SELECT user_id,
           MAX(account_status = 'banned') AS any_ban,
           COUNT(DISTINCT enforced_user) AS n_enforced,
           MIN(kind || ' ' || value) AS first_link,
           group_concat(DISTINCT enforced_user) AS others
    FROM (SELECT * FROM links ORDER BY user_id, enforced_user)
    GROUP BY user_id
),
span AS (
    SELECT user_id, first_seen_ts AS first_ts, last_seen_ts AS last_ts
    FROM core_users
    WHERE user_id IN (SELECT user_id FROM per_user)
)
SELECT
    p.user_id,
    'ban_evasion' AS detection,
    CASE WHEN p.any_ban THEN 'high' ELSE 'medium' END AS severity,
    'shares ' || p.first_link || ' with ' || p.n_enforced || ' older enforced account(s)' AS evidence,
    s.first_ts,
    s.last_ts,
    replace(p.others, ',', ';') AS related
FROM per_user p
JOIN span s ON s.user_id = p.user_id
ORDER BY p.user_id;
