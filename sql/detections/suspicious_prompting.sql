-- suspicious_prompting: accounts that repeatedly try to get around the rules.
--
-- Evasion-style prompts mention "bypass", "evade" or "break the rules"; two or
-- more of them flag the account. So do blocked chats on two or more distinct
-- days: blocks that all fall on one day say more about that day than about
-- the account (a moderation filter that misfires for a day blocks benign
-- chats in bulk; see the incident day of the synthetic world), while a
-- repeat offender is blocked again and again. Three or more evasion-style
-- prompts, or blocks on three or more days, is high severity.
WITH chats AS (
    SELECT user_id, ts, blocked, substr(ts, 1, 10) AS day,
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
           COUNT(DISTINCT CASE WHEN blocked THEN day END) AS n_block_days,
           MIN(CASE WHEN evasive OR blocked THEN ts END) AS first_ts,
           MAX(CASE WHEN evasive OR blocked THEN ts END) AS last_ts
    -- Only flagged chats can count towards a hit: the others add nothing to
    -- any aggregate, and dropping them before the sort leaves 7% of the rows
    -- to group (3.0 s -> 0.7 s at 5 M events, the same rows out).
    FROM chats
    WHERE evasive OR blocked
    GROUP BY user_id
)
SELECT
    user_id,
    'suspicious_prompting' AS detection,
    CASE WHEN n_evasive >= 3 OR n_block_days >= 3 THEN 'high' ELSE 'medium' END AS severity,
    n_evasive || ' evasion-style prompts, ' || n_blocked || ' blocked chats on '
        || n_block_days || ' day(s)' AS evidence,
    first_ts,
    last_ts,
    '' AS related
FROM per_user
WHERE n_evasive >= 2 OR n_block_days >= 2
ORDER BY user_id;
