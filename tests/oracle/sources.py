"""A world as the source tables bds reads: Info Mart, the GVP Reporting Server and
Interaction Concentrator's configuration records, with the keys each source derives (15-minute
DATE_TIME keys, GUIDs, object types), as rows for ``bds.demo.load``."""

from __future__ import annotations

from tests.oracle.world import KINDS, SWITCHES, TENANT_KEYS, World

FUTURE_KEY = 2_147_482_800  # the DATE_TIME key Info Mart gives the tentative end of an open fact
MEDIA = {"VOICE": 1, "CHAT": 2, "EMAIL": 3}
OBJECT_TYPES = {"DN": 2, "AGENT_LOGIN": 15, "AGENT_GROUP": 5, "DN_GROUP": 17}  # Configuration Server's CfgObjectType


def key(ts: int) -> int:
    """Info Mart's DATE_TIME key: the UTC epoch second of the 15-minute interval ``ts`` falls in."""
    return ts - ts % 900


def tables(world: World) -> dict[str, list[dict]]:
    switch_ids = {name: i for i, name in enumerate(sorted({*SWITCHES, *(login.switch for login in world.logins)}), 1)}
    gim = {
        "TENANT": [{"TENANT_KEY": k, "TENANT_CFG_DBID": dbid} for dbid, k in TENANT_KEYS.items()],
        "MEDIA_TYPE": [{"MEDIA_TYPE_KEY": k, "MEDIA_NAME_CODE": name} for name, k in MEDIA.items()],
        "INTERACTION_TYPE": [
            {"INTERACTION_TYPE_KEY": i, "INTERACTION_TYPE_CODE": t, "INTERACTION_SUBTYPE_CODE": s}
            for i, (t, s) in enumerate(KINDS, 1)
        ],
        "RESOURCE_": [
            {
                "RESOURCE_KEY": r.key,
                "TENANT_KEY": TENANT_KEYS[r.tenant],
                "RESOURCE_TYPE_CODE": r.kind,
                "RESOURCE_CFG_DBID": r.dbid,
            }
            for r in world.resources
        ],
        "SM_RES_SESSION_FACT": [
            {
                "SM_RES_SESSION_FACT_KEY": s.key,
                "START_DATE_TIME_KEY": key(s.start),
                "END_DATE_TIME_KEY": FUTURE_KEY if s.active or s.end is None else key(s.end),
                "TENANT_KEY": TENANT_KEYS[s.tenant],
                "MEDIA_TYPE_KEY": MEDIA[s.media],
                "RESOURCE_KEY": s.resource,
                "START_TS": s.start,
                "END_TS": s.end,
                "ACTIVE_FLAG": int(s.active),
            }
            for s in world.sessions
        ],
        "INTERACTION_RESOURCE_FACT": [
            {
                "INTERACTION_RESOURCE_ID": h.key,
                "INTERACTION_ID": h.key,
                "START_DATE_TIME_KEY": key(h.start),
                "TENANT_KEY": TENANT_KEYS[h.tenant],
                "MEDIA_TYPE_KEY": MEDIA[h.media],
                "INTERACTION_TYPE_KEY": KINDS.index(h.kind) + 1,
                "RESOURCE_KEY": h.resource,
                "START_TS": h.start,
            }
            for h in world.handled
        ],
        "INTERACTION_FACT": [
            {
                "INTERACTION_ID": b.key,
                "TENANT_KEY": TENANT_KEYS[b.tenant],
                "MEDIA_SERVER_IXN_GUID": f"G-{b.key}",
                "START_DATE_TIME_KEY": key(b.start_ms // 1000),
            }
            for b in world.bots
        ],
        "SDR_BOTS_FACT": [
            {
                "SESSION_ID": f"S-{b.key}",
                "START_DATE_TIME_KEY": key(start_ms // 1000),
                "SEQUENCE_ID": n,
                "INTERACTION_ID": f"G-{b.key}",
                "MEDIA_TYPE_KEY": MEDIA[b.media],
                "START_TS_MS": start_ms,
                "DURATION_MS": duration_ms,
            }
            for b in world.bots
            for n, (start_ms, duration_ms) in enumerate(b.bots)
        ],
        "GIDB_GC_SWITCH": [{"ID": i, "NAME": name} for name, i in switch_ids.items()],
        "GIDB_GC_LOGIN": [{"ID": g.key, "TENANTID": g.tenant, "SWITCHID": switch_ids[g.switch]} for g in world.logins],
        "GIDB_GCX_LOGIN_INFO": [
            {"ID": g.key, "LOGINID": g.key, "AGENTID": g.person, "CREATED_TS": g.created, "DELETED_TS": g.deleted}
            for g in world.logins
        ],
    }
    speech = [(c, s) for c in world.calls for s in c.speech]
    gvp = {
        "GVP_CDR": [
            {
                "CDR_ID": c.key,
                "TENANT_ID": c.tenant,
                "IVR_PROFILE_ID": 1,
                "COMPONENT_NAME": c.component,
                "START_TIME_MS": c.start_ms,
                "END_TIME_MS": c.end_ms,
            }
            for c in world.calls
        ],
        "GVP_SPEECH_SESSION": [
            {"SPEECH_SESSION_ID": i, "CDR_ID": c.key, "RESOURCE_TYPE": kind, "START_TIME_MS": s, "END_TIME_MS": e}
            for i, (c, (kind, s, e)) in enumerate(speech, 1)
        ],
    }
    kinds = {"DN": "GC_ENDPOINT", "AGENT_LOGIN": "GC_LOGIN", "AGENT_GROUP": "GC_GROUP", "DN_GROUP": "GC_GROUP"}
    cme: dict[str, list[dict]] = {"GC_ENDPOINT": [], "GC_LOGIN": [], "GC_GROUP": [], "GC_ANNEX": []}
    for o in world.objects:
        row = {"ID": o.key, "TENANTID": o.tenant, "CREATED_TS": o.created, "DELETED_TS": o.deleted}
        if kinds[o.kind] == "GC_GROUP":
            row["TYPE"] = 1 if o.kind == "AGENT_GROUP" else 3
        cme[kinds[o.kind]].append(row)
    cme["GC_ANNEX"] = [
        {
            "ID": a.key,
            "CFGOBJECTID": a.owner.key,
            "CFGOBJECTTYPE": OBJECT_TYPES[a.owner.kind],
            "SECTIONNAME": a.section,
            "KEYNAME": a.name,
            "VALUE": a.value,
            "TENANTID": a.owner.tenant,
            "CREATED_TS": a.created,
            "DELETED_TS": a.deleted,
        }
        for a in world.options
    ]
    return gim | gvp | cme
