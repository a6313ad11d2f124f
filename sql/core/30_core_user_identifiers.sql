-- Every (user, identifier) pair: the devices, IPs and payment tokens each user
-- used, with when. Detections, entity resolution and core_users read it
-- instead of rescanning raw_events. A payment of NULL (no token) is kept as
-- its own row, so core_users can count it as a value; linking queries skip it.
-- One pass over raw_events, grouped by every identifier at once; the three
-- kinds then come from that small table.
CREATE TEMP TABLE user_combos AS
SELECT user_id, device_id, ip, payment_id, MIN(ts) AS first_ts, MAX(ts) AS last_ts
FROM raw_events
GROUP BY user_id, device_id, ip, payment_id;

CREATE TABLE core_user_identifiers AS
SELECT user_id, 'device' AS kind, device_id AS value, MIN(first_ts) AS first_ts, MAX(last_ts) AS last_ts
FROM user_combos GROUP BY user_id, device_id
UNION ALL
SELECT user_id, 'ip', ip, MIN(first_ts), MAX(last_ts)
FROM user_combos GROUP BY user_id, ip
UNION ALL
SELECT user_id, 'payment', payment_id, MIN(first_ts), MAX(last_ts)
FROM user_combos GROUP BY user_id, payment_id;

DROP TABLE user_combos;
