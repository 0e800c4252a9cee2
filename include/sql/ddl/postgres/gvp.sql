-- GVP Reporting Server: call detail records (PostgreSQL).
-- The Reporting Server publishes no table schema. These two tables model its CDRs on the
-- fields of its CDR reports and web services (/ems-rs/HIST/CDRs/MCP/...): call start and
-- end, IVR profile (app-id), tenant (tenant-id), component (comp-id) and the ASR/TTS
-- speech-resource sessions of each call. Point bds_gvp at a database or view with these
-- names and columns (see docs/sources.md). Times are UTC epoch milliseconds.
-- Both tables are partitioned on their start time, as a Reporting Server database
-- partitioned by day is (primary keys include it; a DEFAULT partition takes any day here,
-- and the benchmark's generator adds one partition per day).

CREATE TABLE GVP_CDR (
    CDR_ID bigint NOT NULL,
    TENANT_ID integer NOT NULL,
    IVR_PROFILE_ID integer,
    COMPONENT_NAME varchar(255) NOT NULL,
    START_TIME_MS bigint NOT NULL,
    END_TIME_MS bigint,
    PRIMARY KEY (CDR_ID, START_TIME_MS)
) PARTITION BY RANGE (START_TIME_MS);
CREATE TABLE GVP_CDR_DEFAULT PARTITION OF GVP_CDR DEFAULT;
CREATE INDEX I_GVP_CDR_TENANT_START ON GVP_CDR (TENANT_ID, START_TIME_MS);

CREATE TABLE GVP_SPEECH_SESSION (
    SPEECH_SESSION_ID bigint NOT NULL,
    CDR_ID bigint NOT NULL,
    RESOURCE_TYPE varchar(8) NOT NULL,
    START_TIME_MS bigint NOT NULL,
    END_TIME_MS bigint,
    PRIMARY KEY (SPEECH_SESSION_ID, START_TIME_MS)
) PARTITION BY RANGE (START_TIME_MS);
CREATE TABLE GVP_SPEECH_SESSION_DEFAULT PARTITION OF GVP_SPEECH_SESSION DEFAULT;
CREATE INDEX I_GVP_SPEECH_SESSION_CDR ON GVP_SPEECH_SESSION (CDR_ID);
