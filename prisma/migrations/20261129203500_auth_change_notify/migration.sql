-- Credential changes are announced on the `ferry_events` channel (payload {"type":"auth"}) so
-- every Ferry process can keep authenticated API tokens and sessions in memory and still honour
-- a revocation, logout, role change, disabled or deleted user at once (lib/auth/cache.ts).
--
-- Triggers rather than a NOTIFY in each write path: every way the rows change (the API, the CLI,
-- another version of Ferry, an operator's psql) invalidates the caches. The notification is sent
-- at commit, so no process can see it before the change is visible. Bookkeeping-only updates
-- (last used/seen/login times, updated_at) do not notify: they change nobody's rights and happen
-- once a minute per credential. Identical notifications in one transaction are delivered once,
-- so a bulk delete is one event.

CREATE FUNCTION ferry_notify_auth_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('ferry_events', '{"type":"auth"}');
  RETURN NULL;
END;
$$;

CREATE TRIGGER api_token_auth_update AFTER UPDATE ON api_token FOR EACH ROW
  WHEN ((to_jsonb(OLD) - 'last_used_at') IS DISTINCT FROM (to_jsonb(NEW) - 'last_used_at'))
  EXECUTE FUNCTION ferry_notify_auth_change();
CREATE TRIGGER api_token_auth_delete AFTER DELETE ON api_token FOR EACH ROW
  EXECUTE FUNCTION ferry_notify_auth_change();

CREATE TRIGGER user_account_auth_update AFTER UPDATE ON user_account FOR EACH ROW
  WHEN ((to_jsonb(OLD) - 'last_login_at' - 'updated_at') IS DISTINCT FROM (to_jsonb(NEW) - 'last_login_at' - 'updated_at'))
  EXECUTE FUNCTION ferry_notify_auth_change();
CREATE TRIGGER user_account_auth_delete AFTER DELETE ON user_account FOR EACH ROW
  EXECUTE FUNCTION ferry_notify_auth_change();

CREATE TRIGGER user_session_auth_update AFTER UPDATE ON user_session FOR EACH ROW
  WHEN ((to_jsonb(OLD) - 'last_seen_at') IS DISTINCT FROM (to_jsonb(NEW) - 'last_seen_at'))
  EXECUTE FUNCTION ferry_notify_auth_change();
CREATE TRIGGER user_session_auth_delete AFTER DELETE ON user_session FOR EACH ROW
  EXECUTE FUNCTION ferry_notify_auth_change();
