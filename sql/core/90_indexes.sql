-- Indexes, built last: after the bulk insert (cheaper than maintaining them row
-- by row) and after the core tables, whose GROUP BYs would otherwise walk an
-- index and fetch every row at random instead of scanning and sorting.
CREATE INDEX raw_events_ts ON raw_events (ts);
CREATE INDEX raw_events_user ON raw_events (user_id, ts);
CREATE INDEX raw_events_ip ON raw_events (ip);
CREATE INDEX raw_events_device ON raw_events (device_id);
CREATE INDEX reports_reported ON reports (reported_user_id);
CREATE INDEX enforcements_user ON enforcements (user_id);
CREATE INDEX core_user_identifiers_value ON core_user_identifiers (kind, value, user_id);
CREATE INDEX core_user_identifiers_user ON core_user_identifiers (user_id, kind);
CREATE UNIQUE INDEX core_users_user ON core_users (user_id);
