-- The workbench's two event families, as views over raw_events.
CREATE VIEW login_events AS
SELECT event_id, ts, user_id, ip, device_id, payment_id, surface
FROM raw_events
WHERE event_type IN ('signup', 'login');

CREATE VIEW content_events AS
SELECT event_id, ts, user_id, ip, device_id, surface, product, event_type, prompt,
       blocked, warned
FROM raw_events
WHERE event_type IN ('chat', 'upload');
