-- shared_infrastructure: accounts that share a payment token with another
-- account and use the same device as that account.
--
-- A payment token alone is a weak link here: tokens are drawn from a pool
-- smaller than the paying population, so strangers share one by chance
-- (about 600 pairs at the default size, 60,000 at 150,000 users). A shared
-- IP does not corroborate it either: a benign IP is shared by a handful of
-- accounts at the default size and by hundreds at scale (so "limited
-- fanout" depends on the population, and a card plus an IP still matched
-- 4 to 8 strangers per 1,500 users). The same card on the same device is
-- one operator's kit: a chance match needs two independent coincidences,
-- whatever the population.
WITH payment AS MATERIALIZED (
    SELECT user_id, value AS payment_id FROM core_user_identifiers
    WHERE kind = 'payment' AND value IS NOT NULL
),
device AS MATERIALIZED (
    SELECT user_id, value AS device_id FROM core_user_identifiers WHERE kind = 'device'
),
-- Pairs of accounts on the same payment token and the same device.
pairs AS MATERIALIZED (
    SELECT DISTINCT a.user_id, b.user_id AS other, a.payment_id, da.device_id
    FROM payment a
    JOIN payment b ON b.payment_id = a.payment_id AND b.user_id <> a.user_id
    JOIN device da ON da.user_id = a.user_id
    JOIN device db ON db.user_id = b.user_id AND db.device_id = da.device_id
),
linked AS (
    SELECT user_id,
           COUNT(DISTINCT other) AS n_linked,
           MIN(payment_id) AS payment_id,
           MIN(device_id) AS device_id,
           group_concat(DISTINCT other) AS others
    FROM (SELECT * FROM pairs ORDER BY user_id, other)
    GROUP BY user_id
),
span AS (
    SELECT user_id, first_seen_ts AS first_ts, last_seen_ts AS last_ts
    FROM core_users
    WHERE user_id IN (SELECT user_id FROM linked)
)
SELECT
    l.user_id,
    'shared_infrastructure' AS detection,
    'high' AS severity,
    'shares payment ' || l.payment_id || ' and device ' || l.device_id || ' with ' || l.n_linked || ' account(s)' AS evidence,
    s.first_ts,
    s.last_ts,
    replace(l.others, ',', ';') AS related
FROM linked l
JOIN span s ON s.user_id = l.user_id
ORDER BY l.user_id;
