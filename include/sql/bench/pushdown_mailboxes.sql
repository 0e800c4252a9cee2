-- Pushdown reference for voicemail_boxes, entirely in SQL. Follows "WITH dataset AS (the
-- cme/voicemail_boxes query)". The peak number of mailboxes configured at once during the
-- day; only a positive whole mailbox number makes a box; still configured = until the day's end.
, boxes AS (
    SELECT GREATEST(start_ts, :day_start) AS s, LEAST(COALESCE(end_ts, :day_end), :day_end) AS e
    FROM dataset
    WHERE TRIM(mailbox) ~ '^0*[1-9][0-9]*$'
),
events AS (
    SELECT s AS t, 1 AS delta FROM boxes WHERE e > s
    UNION ALL
    SELECT e, -1 FROM boxes WHERE e > s
),
running AS (
    SELECT SUM(delta) OVER (ORDER BY t, delta ROWS UNBOUNDED PRECEDING) AS n FROM events
)
SELECT 'voicemail_boxes' AS metric, 'GLOBAL' AS region, COALESCE(MAX(n), 0) AS concurrent, NULL AS enabled FROM running
