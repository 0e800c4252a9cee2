-- Configuration objects as Interaction Concentrator records them (SQLite): exactly
-- the tables and columns bds reads. Names follow the Interaction Concentrator physical
-- data model; Info Mart's GIDB_GC_* copies have the same columns. *_TS columns are UTC
-- epoch seconds; DELETED_TS is NULL while the object exists. Object state (enabled or
-- disabled) is not read: a disabled object's mailbox still counts.

CREATE TABLE GC_ENDPOINT (
    ID INTEGER PRIMARY KEY,
    TENANTID INTEGER NOT NULL,
    CREATED_TS INTEGER NOT NULL,
    DELETED_TS INTEGER
);

CREATE TABLE GC_LOGIN (
    ID INTEGER PRIMARY KEY,
    TENANTID INTEGER NOT NULL,
    CREATED_TS INTEGER NOT NULL,
    DELETED_TS INTEGER
);

CREATE TABLE GC_GROUP (
    ID INTEGER PRIMARY KEY,
    TENANTID INTEGER NOT NULL,
    TYPE INTEGER NOT NULL,
    CREATED_TS INTEGER NOT NULL,
    DELETED_TS INTEGER
);

CREATE TABLE GC_ANNEX (
    ID INTEGER PRIMARY KEY,
    CFGOBJECTID INTEGER NOT NULL,
    CFGOBJECTTYPE INTEGER NOT NULL,
    SECTIONNAME TEXT NOT NULL,
    KEYNAME TEXT NOT NULL,
    VALUE TEXT,
    TENANTID INTEGER NOT NULL,
    CREATED_TS INTEGER NOT NULL,
    DELETED_TS INTEGER
);
CREATE INDEX I_GC_ANNEX_TENANT_KEY ON GC_ANNEX (TENANTID, KEYNAME, SECTIONNAME);
