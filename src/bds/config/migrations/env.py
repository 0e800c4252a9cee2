"""Alembic environment of the configuration store: run on the connection the store hands over
(``bds.config.store.Store.migrate``), inside its transaction, with a version table of its own."""

from alembic import context

from bds.config.store import VERSION_TABLE, metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
