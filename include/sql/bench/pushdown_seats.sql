-- Pushdown reference for the seat metrics, entirely in SQL. Follows "WITH dataset AS (the
-- gim/agent_sessions query)"; the benchmark puts the two together.
-- Parameters: those of the dataset, as_of (where open sessions end), placements (JSON list
-- of {"name": switch, "region": code or null}; name "" is the default location).
-- Per metric and region: enabled = distinct agents active in the day; concurrent = the peak
-- of distinct agents in one second: each agent's sessions are merged into islands first
-- (gaps and islands), then a running sum over start (+1) and end (-1) events, ends first.
, metrics (metric, media, handled_chat, handled_callback, handled_outbound) AS (
    VALUES ('seats_inbound_voice', 'VOICE', NULL, NULL, NULL),
           ('seats_chat', 'CHAT', 1, NULL, NULL),
           ('seats_callback', 'VOICE', NULL, 1, NULL),
           ('seats_outbound', 'VOICE', NULL, NULL, 1),
           ('seats_workspace', NULL, NULL, NULL, NULL)
),
placement AS (
    SELECT name, region FROM json_to_recordset(CAST(:placements AS json)) AS p (name text, region text)
),
placed AS (
    SELECT m.metric,
           CASE WHEN p.name IS NOT NULL THEN p.region ELSE def.region END AS region,
           d.agent,
           GREATEST(d.start_ts, :day_start) AS s,
           LEAST(COALESCE(d.end_ts, :as_of), :day_end) AS e
    FROM dataset d
    JOIN metrics m
      ON (m.media IS NULL OR d.media = m.media)
     AND (m.handled_chat IS NULL OR d.handled_chat = m.handled_chat)
     AND (m.handled_callback IS NULL OR d.handled_callback = m.handled_callback)
     AND (m.handled_outbound IS NULL OR d.handled_outbound = m.handled_outbound)
    LEFT JOIN placement p ON p.name = COALESCE(d.switch, '')
    LEFT JOIN placement def ON def.name = ''
),
active AS (
    SELECT * FROM placed WHERE e > s AND region IS NOT NULL
),
reach AS (
    SELECT *, MAX(e) OVER (PARTITION BY metric, region, agent ORDER BY s, e
                           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS previous_reach
    FROM active
),
islands AS (
    SELECT metric, region, agent, s, e,
           SUM(CASE WHEN previous_reach IS NULL OR s > previous_reach THEN 1 ELSE 0 END)
               OVER (PARTITION BY metric, region, agent ORDER BY s, e ROWS UNBOUNDED PRECEDING) AS island
    FROM reach
),
merged AS (
    SELECT metric, region, MIN(s) AS s, MAX(e) AS e FROM islands GROUP BY metric, region, agent, island
),
events AS (
    SELECT metric, region, s AS t, 1 AS delta FROM merged
    UNION ALL
    SELECT metric, region, e, -1 FROM merged
),
running AS (
    SELECT metric, region, SUM(delta) OVER (PARTITION BY metric, region ORDER BY t, delta ROWS UNBOUNDED PRECEDING) AS n
    FROM events
),
peaks AS (
    SELECT metric, region, MAX(n) AS concurrent FROM running GROUP BY metric, region
),
enabled AS (
    SELECT metric, region, COUNT(DISTINCT agent) AS enabled FROM active GROUP BY metric, region
)
SELECT e.metric, e.region, p.concurrent, e.enabled
FROM enabled e JOIN peaks p ON p.metric = e.metric AND p.region = e.region
