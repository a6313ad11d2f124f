-- Indexes, built after the bulk insert (much faster than maintaining them row by row).
CREATE INDEX raw_events_ts ON raw_events (ts);
CREATE INDEX raw_events_user ON raw_events (user_id, ts);
CREATE INDEX raw_events_ip ON raw_events (ip);
CREATE INDEX raw_events_device ON raw_events (device_id);
CREATE INDEX reports_reported ON reports (reported_user_id);
CREATE INDEX enforcements_user ON enforcements (user_id);
