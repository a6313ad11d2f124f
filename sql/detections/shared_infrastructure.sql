-- shared_infrastructure: accounts that share both an IP with limited fanout
-- and a payment token with another account.
--
-- An IP used by 2 to 30 accounts is specific enough to link them (a carrier
-- NAT or a campus is not); a shared payment token on top makes the link
-- strong. Either alone is common among benign users.
WITH user_ip AS MATERIALIZED (
    SELECT value AS ip, user_id FROM core_user_identifiers WHERE kind = 'ip'
),
limited_ip AS (
    SELECT ip FROM user_ip GROUP BY ip HAVING COUNT(*) BETWEEN 2 AND 30
),
user_payment AS MATERIALIZED (
    SELECT value AS payment_id, user_id FROM core_user_identifiers
    WHERE kind = 'payment' AND value IS NOT NULL
),
pairs AS MATERIALIZED (
    SELECT DISTINCT a.user_id, b.user_id AS other, a.ip, pa.payment_id
    FROM user_ip a
    JOIN limited_ip l ON l.ip = a.ip
    JOIN user_ip b ON b.ip = a.ip AND b.user_id <> a.user_id
    JOIN user_payment pa ON pa.user_id = a.user_id
    JOIN user_payment pb ON pb.user_id = b.user_id AND pb.payment_id = pa.payment_id
),
linked AS (
    SELECT user_id,
           COUNT(DISTINCT other) AS n_linked,
           MIN(ip) AS ip,
           MIN(payment_id) AS payment_id,
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
    'shares IP ' || l.ip || ' and payment ' || l.payment_id || ' with ' || l.n_linked || ' account(s)' AS evidence,
    s.first_ts,
    s.last_ts,
    replace(l.others, ',', ';') AS related
FROM linked l
JOIN span s ON s.user_id = l.user_id
ORDER BY l.user_id;
