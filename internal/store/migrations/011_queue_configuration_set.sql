-- Configuration sets at delivery (issue 13). Owned by package queue.
--
-- configuration_set is the name of the set the message was sent with ('' for
-- none); tls_required is 1 when that set's TlsPolicy is REQUIRE: the entry is
-- delivered only over a TLS session (../shared/spec/ses.md §1.8). The set's
-- MaxDeliverySeconds is already in deadline_ms. Copied onto each entry at
-- acceptance, so a later change to the set does not alter mail in flight.
ALTER TABLE queue ADD COLUMN configuration_set TEXT NOT NULL DEFAULT '';
ALTER TABLE queue ADD COLUMN tls_required INTEGER NOT NULL DEFAULT 0;
