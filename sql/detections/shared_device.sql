-- shared_device: accounts that share a device with another account that also
-- reaches it from the same IP address.
--
-- A device id alone is a weak link here: benign accounts draw their device
-- from a large pool, so strangers collide by chance (at the default 1,500
-- users about 600 accounts share a device id with someone, and at 150,000
-- users 61,000 do). Two accounts on the same device *and* the same network
-- address are one setup used twice: strangers match on both only when two
-- independent small chances coincide. The setup is the pair (device, IP)
-- across the account's identifiers; one used by 2 to 50 accounts links them
-- (larger groups, kiosks or emulator farms, say little about any one
-- account). Three or more accounts on one setup is high severity.
WITH device AS MATERIALIZED (
    SELECT user_id, value AS device_id, first_ts, last_ts
    FROM core_user_identifiers
    WHERE kind = 'device'
),
ip AS MATERIALIZED (
    SELECT user_id, value AS ip
    FROM core_user_identifiers
    WHERE kind = 'ip'
),
-- Every (device, IP) setup of each account.
setup AS MATERIALIZED (
    SELECT d.device_id, i.ip, d.user_id, d.first_ts, d.last_ts
    FROM device d
    JOIN ip i ON i.user_id = d.user_id
),
shared AS MATERIALIZED (
    SELECT device_id, ip, COUNT(*) AS n_users
    FROM setup
    GROUP BY device_id, ip
    HAVING COUNT(*) BETWEEN 2 AND 50
),
-- Each account's other accounts on a shared setup.
linked AS (
    SELECT a.user_id, b.user_id AS other, s.device_id, s.ip, s.n_users,
           a.first_ts, a.last_ts
    FROM setup a
    JOIN shared s ON s.device_id = a.device_id AND s.ip = a.ip
    JOIN setup b ON b.device_id = a.device_id AND b.ip = a.ip AND b.user_id <> a.user_id
),
per_user AS (
    SELECT user_id,
           MAX(n_users) AS n_users,
           MIN(device_id || ' from IP ' || ip) AS setup,
           MIN(first_ts) AS first_ts,
           MAX(last_ts) AS last_ts,
           group_concat(DISTINCT other) AS others
    FROM (SELECT * FROM linked ORDER BY user_id, other)
    GROUP BY user_id
)
SELECT
    user_id,
    'shared_device' AS detection,
    CASE WHEN n_users >= 3 THEN 'high' ELSE 'medium' END AS severity,
    'device ' || setup || ' used by ' || n_users || ' accounts' AS evidence,
    first_ts,
    last_ts,
    replace(others, ',', ';') AS related
FROM per_user
ORDER BY user_id;
