-- suspicious_prompting: accounts that repeatedly try to get around the rules.
--
-- Evasion-style prompts mention "bypass", "evade" or "break the rules"; two or
-- more of them, or two or more blocked chats, flag the account. Three or more
-- of either is high severity.
WITH chats AS (
    SELECT user_id, ts, blocked,
           -- LIKE ignores ASCII case already; lower() per row would triple the cost.
           (prompt LIKE '%bypass%' OR prompt LIKE '%evade%'
            OR prompt LIKE '%break the rules%') AS evasive
    -- NOT INDEXED: one sequential scan and a sort beat walking the user_id
    -- index, which fetches every row from the table at random (2x slower).
    FROM raw_events NOT INDEXED
    WHERE event_type = 'chat'
),
per_user AS (
    SELECT user_id,
           SUM(evasive) AS n_evasive,
           SUM(blocked) AS n_blocked,
           MIN(CASE WHEN evasive OR blocked THEN ts END) AS first_ts,
           MAX(CASE WHEN evasive OR blocked THEN ts END) AS last_ts
    FROM chats
    GROUP BY user_id
)
SELECT
    user_id,
    'suspicious_prompting' AS detection,
    CASE WHEN n_evasive >= 3 OR n_blocked >= 3 THEN 'high' ELSE 'medium' END AS severity,
    n_evasive || ' evasion-style prompts, ' || n_blocked || ' blocked chats' AS evidence,
    first_ts,
    last_ts,
    '' AS related
FROM per_user
WHERE n_evasive >= 2 OR n_blocked >= 2
ORDER BY user_id;
