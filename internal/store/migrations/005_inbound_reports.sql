-- What the bounce parsers made of each message received at the return path
-- (issue 4). Every message is kept: kind is bounce, delay, complaint,
-- autoreply or not-bounce; state says whether it was tied to a message
-- Petrel sent (attributed), could not be (unattributed: kept and counted,
-- never dropped), or needed no event (ignored). report is the parsed report
-- as JSON (bounce.Report); digest (SHA-256 of the body) spots a message a
-- remote MTA delivered twice, so it does not produce its events twice.
ALTER TABLE inbound_messages ADD COLUMN kind TEXT NOT NULL DEFAULT '';
ALTER TABLE inbound_messages ADD COLUMN state TEXT NOT NULL DEFAULT '';
ALTER TABLE inbound_messages ADD COLUMN account TEXT NOT NULL DEFAULT '';
ALTER TABLE inbound_messages ADD COLUMN report TEXT NOT NULL DEFAULT '';
ALTER TABLE inbound_messages ADD COLUMN digest TEXT NOT NULL DEFAULT '';
CREATE INDEX inbound_messages_state ON inbound_messages (state, id);
CREATE INDEX inbound_messages_digest ON inbound_messages (digest);
