-- shared_device: accounts that use a device another account also uses.
--
-- A device used by 2 to 50 accounts links them; larger groups (kiosks, shared
-- emulators) say little about any one account and are left out. Three or more
-- accounts on one device is high severity.
WITH user_device AS MATERIALIZED (
    SELECT value AS device_id, user_id, first_ts, last_ts
    FROM core_user_identifiers
    WHERE kind = 'device'
),
shared AS (
    SELECT device_id, COUNT(*) AS n_users
    FROM user_device
    GROUP BY device_id
    HAVING COUNT(*) BETWEEN 2 AND 50
),
related AS (
    SELECT a.device_id, a.user_id, group_concat(b.user_id, ';' ORDER BY b.user_id) AS others
    FROM user_device a
    JOIN shared s ON s.device_id = a.device_id
    JOIN user_device b ON b.device_id = a.device_id AND b.user_id <> a.user_id
    GROUP BY a.device_id, a.user_id
)
SELECT
    ud.user_id,
    'shared_device' AS detection,
    CASE WHEN s.n_users >= 3 THEN 'high' ELSE 'medium' END AS severity,
    'device ' || ud.device_id || ' used by ' || s.n_users || ' accounts' AS evidence,
    ud.first_ts,
    ud.last_ts,
    r.others AS related
FROM user_device ud
JOIN shared s ON s.device_id = ud.device_id
JOIN related r ON r.device_id = ud.device_id AND r.user_id = ud.user_id
ORDER BY ud.user_id, ud.device_id;
