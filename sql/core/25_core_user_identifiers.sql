-- Every (user, identifier) pair: the devices, IPs and payment tokens each user
-- used, with when. Detections and entity resolution link accounts through it
-- instead of rescanning raw_events. Not part of the SPEC's exports; a helper
-- table of this database.
CREATE TABLE core_user_identifiers AS
SELECT user_id, 'device' AS kind, device_id AS value, MIN(ts) AS first_ts, MAX(ts) AS last_ts
FROM raw_events GROUP BY user_id, device_id
UNION ALL
SELECT user_id, 'ip', ip, MIN(ts), MAX(ts)
FROM raw_events GROUP BY user_id, ip
UNION ALL
SELECT user_id, 'payment', payment_id, MIN(ts), MAX(ts)
FROM raw_events WHERE payment_id IS NOT NULL GROUP BY user_id, payment_id;

CREATE INDEX core_user_identifiers_value ON core_user_identifiers (kind, value, user_id);
CREATE INDEX core_user_identifiers_user ON core_user_identifiers (user_id, kind);
CREATE UNIQUE INDEX core_users_user ON core_users (user_id);
