-- Pushdown reference for the GVP port metrics, entirely in SQL. Follows "WITH dataset AS (the
-- gvp/media_sessions query)". Parameters: the dataset's, as_of, placements (JSON list of
-- {"name": component, "region": code or null}; "" is the default location).
-- Milliseconds widen to whole seconds (start down, end up); per resource and region, the
-- peak of sessions active in one second: a running sum over start and end events, ends first.
, placement AS (
    SELECT name, region FROM json_to_recordset(CAST(:placements AS json)) AS p (name text, region text)
),
placed AS (
    SELECT CASE d.resource WHEN 'ASR' THEN 'gvp_asr_ports' ELSE 'gvp_tts_ports' END AS metric,
           CASE WHEN p.name IS NOT NULL THEN p.region ELSE def.region END AS region,
           GREATEST(FLOOR(d.start_ms / 1000.0), :day_start) AS s,
           LEAST(COALESCE(CEIL(d.end_ms / 1000.0), :as_of), :day_end) AS e
    FROM dataset d
    LEFT JOIN placement p ON p.name = COALESCE(d.component, '')
    LEFT JOIN placement def ON def.name = ''
),
events AS (
    SELECT metric, region, s AS t, 1 AS delta FROM placed WHERE e > s AND region IS NOT NULL
    UNION ALL
    SELECT metric, region, e, -1 FROM placed WHERE e > s AND region IS NOT NULL
),
running AS (
    SELECT metric, region, SUM(delta) OVER (PARTITION BY metric, region ORDER BY t, delta ROWS UNBOUNDED PRECEDING) AS n
    FROM events
)
SELECT metric, region, MAX(n) AS concurrent, NULL AS enabled FROM running GROUP BY metric, region
