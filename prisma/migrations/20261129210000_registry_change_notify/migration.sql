-- Registry changes are announced on the `ferry_events` channel (payload {"type":"registry"}) so
-- every Ferry process can keep its list of registries in memory (lib/mirror/services.ts) and
-- still see a registry created, edited, disabled or deleted at once: the list is read by every
-- /v2 pull. A trigger rather than a NOTIFY in each write path, as for credentials
-- (20261129203500_auth_change_notify): the API, config-file apply, promote, the CLI and psql all
-- announce. Sent at commit; one event per statement.

CREATE FUNCTION ferry_notify_registry_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('ferry_events', '{"type":"registry"}');
  RETURN NULL;
END;
$$;

CREATE TRIGGER registry_change AFTER INSERT OR UPDATE OR DELETE ON registry FOR EACH STATEMENT
  EXECUTE FUNCTION ferry_notify_registry_change();
