"""The publishing portal: accounts, roles, uploads, background ingest jobs, review (report,
diff, passport), publish and rollback, in the browser (``/publish/``) and for scripts (token
API and OGC API - Features Part 4 on editable collections)."""
