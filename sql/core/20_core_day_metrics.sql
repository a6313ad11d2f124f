-- One row per UTC day: the monitoring stage's input. Derived from
-- core_user_day (one row per active user and day) rather than by another
-- pass over raw_events: at millions of events every pass is a big sort.
CREATE TABLE core_day_metrics AS
SELECT
    day,
    SUM(n_events)                                   AS n_events,
    SUM(n_chat)                                     AS n_chat,
    COUNT(*)                                        AS n_active_users,
    SUM(n_blocked)                                  AS n_blocked,
    SUM(n_warned)                                   AS n_warned,
    SUM(latency_ms_avg * n_events) / SUM(n_events) AS latency_ms_avg
FROM core_user_day
GROUP BY day
ORDER BY day;
