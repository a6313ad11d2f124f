-- One row per (UTC day, user) with activity; the model's and the queue's grain.
-- n_blocked and n_warned count every event type.
CREATE TABLE core_user_day AS
SELECT
    substr(ts, 1, 10)          AS day,
    user_id,
    COUNT(*)                   AS n_events,
    SUM(event_type = 'chat')   AS n_chat,
    SUM(tokens_in)             AS tokens_in_sum,
    SUM(tokens_out)            AS tokens_out_sum,
    AVG(latency_ms)            AS latency_ms_avg,
    SUM(blocked)               AS n_blocked,
    SUM(warned)                AS n_warned,
    COUNT(DISTINCT ip)         AS n_ips,
    COUNT(DISTINCT device_id)  AS n_devices,
    MAX(is_abuse_gt)           AS is_abuse_gt
FROM raw_events
GROUP BY day, user_id
ORDER BY day, user_id;
