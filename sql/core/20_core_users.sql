-- One row per user seen in the events. A missing payment counts as one value
-- in n_payments, so a user who sometimes pays and sometimes does not has 2.
CREATE TABLE core_users AS
SELECT
    user_id,
    MIN(ts)                                   AS first_seen_ts,
    MAX(ts)                                   AS last_seen_ts,
    COUNT(*)                                  AS n_events,
    SUM(event_type = 'chat')                  AS n_chat,
    SUM(blocked)                              AS n_blocked,
    SUM(warned)                               AS n_warned,
    COUNT(DISTINCT ip)                        AS n_ips,
    COUNT(DISTINCT device_id)                 AS n_devices,
    COUNT(DISTINCT COALESCE(payment_id, '')) AS n_payments
FROM raw_events
GROUP BY user_id
ORDER BY user_id;
