-- One row per UTC day: the monitoring stage's input.
CREATE TABLE core_day_metrics AS
SELECT
    substr(ts, 1, 10)          AS day,
    COUNT(*)                   AS n_events,
    SUM(event_type = 'chat')   AS n_chat,
    COUNT(DISTINCT user_id)    AS n_active_users,
    SUM(blocked)               AS n_blocked,
    SUM(warned)                AS n_warned,
    AVG(latency_ms)            AS latency_ms_avg
FROM raw_events
GROUP BY day
ORDER BY day;
