-- coordinated_activity: the same content posted by many accounts on one day.
--
-- Content is the chat prompt, lowercased and trimmed. It is coordinated when
-- 5 or more accounts post it on the same UTC day but it is not ubiquitous
-- (fewer than 5% of that day's active users: generic requests everyone makes
-- are not a campaign). 10 or more accounts is high severity.
WITH chats AS MATERIALIZED (
    SELECT user_id, ts, substr(ts, 1, 10) AS day, lower(trim(prompt)) AS content
    FROM raw_events
    WHERE event_type = 'chat' AND prompt <> ''
),
daily AS (
    SELECT day, content, COUNT(DISTINCT user_id) AS n_accounts
    FROM chats
    GROUP BY day, content
),
-- The few (day, content) pairs that are campaigns, materialized so the join
-- below can look them up with a small automatic index.
campaigns AS MATERIALIZED (
    SELECT d.day, d.content, d.n_accounts
    FROM daily d
    JOIN core_day_metrics m ON m.day = d.day
    WHERE d.n_accounts >= 5 AND d.n_accounts < 0.05 * m.n_active_users
)
SELECT
    c.user_id,
    'coordinated_activity' AS detection,
    CASE WHEN MAX(k.n_accounts) >= 10 THEN 'high' ELSE 'medium' END AS severity,
    'posted content shared by up to ' || MAX(k.n_accounts) || ' accounts a day, on ' || COUNT(DISTINCT k.day) || ' day(s): "' || substr(MIN(k.content), 1, 60) || '"' AS evidence,
    MIN(c.ts) AS first_ts,
    MAX(c.ts) AS last_ts,
    '' AS related
-- CROSS JOIN fixes the join order: scan the chats once and look each up in
-- the small campaigns table, rather than index all chats by content.
FROM chats c
CROSS JOIN campaigns k ON k.day = c.day AND k.content = c.content
GROUP BY c.user_id
ORDER BY c.user_id;
