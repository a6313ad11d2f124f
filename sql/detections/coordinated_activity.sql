-- coordinated_activity: the same content posted by many accounts on one day.
--
-- Content is the chat prompt, lowercased and trimmed. It is coordinated when
-- 5 or more accounts post it on the same UTC day but it is not ubiquitous
-- (fewer than 5% of that day's active users: generic requests everyone makes
-- are not a campaign). 10 or more accounts is high severity.
--
-- Each distinct (day, content) gets a number first, so the counting below
-- sorts numbers, not prompts: at 5 M events that sort of 3 M chats was most
-- of the query's time. Chats are matched to their number by the prompt as
-- posted: prompts repeat, so lower(trim()) runs once per distinct (day,
-- prompt), not once per chat.
WITH posts AS MATERIALIZED (
    SELECT DISTINCT substr(ts, 1, 10) AS day, prompt
    FROM raw_events
    WHERE event_type = 'chat' AND prompt <> ''
),
contents AS MATERIALIZED (
    SELECT day, content, row_number() OVER () AS id
    FROM (SELECT DISTINCT day, lower(trim(prompt)) AS content FROM posts)
),
post_contents AS MATERIALIZED (
    SELECT p.day, p.prompt, k.id
    FROM posts p
    JOIN contents k ON k.day = p.day AND k.content = lower(trim(p.prompt))
),
-- CROSS JOIN fixes the join order: scan the events once and look each chat
-- up in the small post_contents table.
chats AS MATERIALIZED (
    SELECT e.user_id, e.ts, k.id
    FROM raw_events e
    CROSS JOIN post_contents k ON k.day = substr(e.ts, 1, 10) AND k.prompt = e.prompt
    WHERE e.event_type = 'chat' AND e.prompt <> ''
),
daily AS (
    SELECT id, COUNT(DISTINCT user_id) AS n_accounts
    FROM chats
    GROUP BY id
),
-- The few (day, content) pairs that are campaigns.
campaigns AS MATERIALIZED (
    SELECT k.id, k.day, k.content, d.n_accounts
    FROM daily d
    JOIN contents k ON k.id = d.id
    JOIN core_day_metrics m ON m.day = k.day
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
FROM chats c
CROSS JOIN campaigns k ON k.id = c.id
GROUP BY c.user_id
ORDER BY c.user_id;
