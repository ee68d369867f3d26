-- A registry's version: 1 when created, one more on every change, whoever makes it (the API,
-- config-file apply, promote, psql). Clients send the version they read back with an edit
-- (REST `If-Match`, GraphQL `ifVersion`) and get 412 PRECONDITION_FAILED when someone changed the
-- registry since, instead of silently replacing that change. A counter, not updated_at: two edits
-- within one millisecond would share a timestamp. An UPDATE that changes nothing keeps it.

ALTER TABLE "registry" ADD COLUMN "version" INTEGER NOT NULL DEFAULT 1;

CREATE FUNCTION ferry_bump_registry_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.version := OLD.version + 1;
  RETURN NEW;
END;
$$;

CREATE TRIGGER registry_version BEFORE UPDATE ON registry FOR EACH ROW
  WHEN (OLD.* IS DISTINCT FROM NEW.*)
  EXECUTE FUNCTION ferry_bump_registry_version();
