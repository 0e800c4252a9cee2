-- Configuration objects as Interaction Concentrator records them (PostgreSQL): exactly
-- the tables and columns bds reads. Names follow the Interaction Concentrator physical
-- data model; Info Mart's GIDB_GC_* copies have the same columns. *_TS columns are UTC
-- epoch seconds; DELETED_TS is NULL while the object exists. Object state (enabled or
-- disabled) is not read: a disabled object's mailbox still counts.

CREATE TABLE GC_ENDPOINT (
    ID integer PRIMARY KEY,
    TENANTID integer NOT NULL,
    CREATED_TS integer NOT NULL,
    DELETED_TS integer
);

CREATE TABLE GC_LOGIN (
    ID integer PRIMARY KEY,
    TENANTID integer NOT NULL,
    CREATED_TS integer NOT NULL,
    DELETED_TS integer
);

CREATE TABLE GC_GROUP (
    ID integer PRIMARY KEY,
    TENANTID integer NOT NULL,
    TYPE integer NOT NULL,
    CREATED_TS integer NOT NULL,
    DELETED_TS integer
);

CREATE TABLE GC_ANNEX (
    ID integer PRIMARY KEY,
    CFGOBJECTID integer NOT NULL,
    CFGOBJECTTYPE smallint NOT NULL,
    SECTIONNAME varchar(255) NOT NULL,
    KEYNAME varchar(255) NOT NULL,
    VALUE varchar(255),
    TENANTID integer NOT NULL,
    CREATED_TS integer NOT NULL,
    DELETED_TS integer
);
CREATE INDEX I_GC_ANNEX_TENANT_KEY ON GC_ANNEX (TENANTID, KEYNAME, SECTIONNAME);
